"""Serving gold: Cosmos DB for applications, Synapse serverless views for data scientists."""
