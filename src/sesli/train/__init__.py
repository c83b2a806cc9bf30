"""sesli.train."""
