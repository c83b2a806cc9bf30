"""sesli.modules."""
