"""sesli.losses."""
