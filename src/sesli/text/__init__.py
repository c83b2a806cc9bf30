"""sesli.text."""
