"""sesli.inference."""
