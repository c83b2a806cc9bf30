"""sesli.data.sources."""
