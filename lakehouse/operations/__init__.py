"""Running the lake continuously: the runner's cycle, its feeds, its run log and metrics."""
