"""Serving: gold to Cosmos DB (from the Delta change feed) and Synapse serverless SQL views."""
