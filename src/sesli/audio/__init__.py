"""sesli.audio."""
