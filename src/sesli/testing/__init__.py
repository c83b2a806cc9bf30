"""sesli.testing."""
