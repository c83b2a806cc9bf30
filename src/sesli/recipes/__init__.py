"""End-to-end recipes: several sesli commands in order, each resumable (run the same command again)."""
