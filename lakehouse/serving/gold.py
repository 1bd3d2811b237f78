"""Gold, served after a build: the Synapse views' SQL written from the manifest the
build produced and, when Cosmos DB is configured, gold synced to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lakehouse.paths import Lake
from lakehouse.serving.cosmos.connection import CosmosNotConfigured
from lakehouse.serving.cosmos.sync import SyncReport, sync_gold_to_cosmos
from lakehouse.serving.synapse.views import LakeLocationMissing, write_synapse_views


@dataclass(frozen=True)
class GoldServed:
    """What `serve_gold` did: the Synapse views' files written (or why none were: the
    views need a location), and the Cosmos DB sync's report (None: not configured)."""

    synapse_files: list[Path]
    synapse_not_written: str | None
    cosmos: SyncReport | None


def serve_gold(lake: Lake, target: Path) -> GoldServed:
    """Writes `<target>/synapse/*.sql` from `<target>/manifest.json` (the data source at
    the lake's URL on Azure storage, or SYNAPSE_LAKE_URL / SYNAPSE_DATA_SOURCE_LOCATION) and syncs gold to
    Cosmos DB when COSMOS_ENDPOINT is set (`lake.settings`). Raises `CosmosSyncFailed`
    when the sync fails."""
    try:
        files, missing = write_synapse_views(target / "manifest.json", target / "synapse", lake=lake), None
    except LakeLocationMissing as exc:  # a local lake without SYNAPSE_LAKE_URL: the views need a location
        files, missing = [], str(exc)
    try:
        cosmos: SyncReport | None = sync_gold_to_cosmos(lake)
    except CosmosNotConfigured:
        cosmos = None
    return GoldServed(files, missing, cosmos)
