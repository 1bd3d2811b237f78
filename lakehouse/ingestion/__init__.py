"""Getting telemetry in: sources of events, the Capture format and lander, Azure transport."""
