"""Azure transport: credentials, Blob Storage with retries and quarantine, Event Hubs send and receive."""
