"""sesli.serve."""
