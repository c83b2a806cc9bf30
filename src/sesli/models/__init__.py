"""sesli.models."""
