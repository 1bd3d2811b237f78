"""Gold to Cosmos DB: Delta change feed, item mapping, bulk writes, sync state, dead letters."""
