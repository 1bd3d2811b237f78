"""Event Hubs Capture files: the Avro format, where they are stored, and the lander that writes them."""
