"""sesli.export."""
