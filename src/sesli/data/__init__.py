"""sesli.data."""
