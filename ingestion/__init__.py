"""Ingestion: telemetry sources, the Event Hubs Capture file format and the lander."""
