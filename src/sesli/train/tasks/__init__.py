"""sesli.train.tasks."""
