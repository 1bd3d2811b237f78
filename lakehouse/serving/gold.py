"""Gold, served after a build: the Synapse views' SQL written from the manifest the
build produced and, when Cosmos DB is configured, gold synced to it."""

from __future__ import annotations

from pathlib import Path

from lakehouse.paths import Lake
from lakehouse.serving.cosmos.connection import CosmosNotConfigured
from lakehouse.serving.cosmos.sync import sync_gold_to_cosmos
from lakehouse.serving.synapse.views import LakeLocationMissing, write_synapse_views


def serve_gold(lake: Lake, target: Path) -> list[str]:
    """Writes `<target>/synapse/*.sql` from `<target>/manifest.json` (the data source at
    the lake's URL on Azure storage, or SYNAPSE_LAKE_URL / SYNAPSE_DATA_SOURCE_LOCATION) and syncs gold to
    Cosmos DB when COSMOS_ENDPOINT is set. Returns what was done, as lines to print;
    raises `CosmosSyncFailed` when the sync fails."""
    try:
        files = write_synapse_views(target / "manifest.json", target / "synapse", lake=lake)
        notes = [
            f"synapse serverless views: {len(files)} SQL files in {target.name}/synapse/ "
            "(publish with: bin/lakehouse serve synapse-views --publish)"
        ]
    except LakeLocationMissing as exc:  # a local lake without SYNAPSE_LAKE_URL: the views need a location
        notes = [f"synapse serverless views: not written: {exc}"]
    try:
        notes.extend(sync_gold_to_cosmos(lake).lines())
    except CosmosNotConfigured:
        notes.append(
            "cosmos db: not configured, skipped. Set COSMOS_ENDPOINT (and COSMOS_KEY, or use "
            "DefaultAzureCredential) to sync gold. Locally, the Cosmos DB emulator works, or the "
            "SQL-API test server in tests/python/serving/cosmos_test_server.py (COSMOS_CA_CERT for its cert)."
        )
    return notes
