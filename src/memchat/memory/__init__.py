"""Memory: what the model sees each turn beyond the recent messages."""
