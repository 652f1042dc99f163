"""Models: one interface over every backend."""
