"""Running the lake continuously: the runner's cycle, its feeds and its metrics."""
