"""Where events come from: the device simulator, a CSV replay, a third-party HTTP GET endpoint."""
