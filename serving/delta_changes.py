"""What changed in a Delta table, read with delta-rs (no Spark).

`net_changes` reads the change data feed of a version range and keeps, per key,
only the row's final state at the end of the range: the latest version that
touched the key decides; in that version an insert or update_postimage (the row
as written) wins over a delete (a replace-where or MERGE that deletes and
re-inserts a window in one commit leaves the row present). update_preimage rows
are ignored. So a window restated in several versions is sent once.

`snapshot_batches` streams the rows of one version of the table. It reads through
delta-rs' DataFusion engine, which applies deletion vectors (Spark on Databricks
writes them by default; `DeltaTable.to_pyarrow_dataset()` refuses such tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

CDF_PROPERTY = "delta.enableChangeDataFeed"
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
_LIVE = {"insert": 1, "update_postimage": 1, "delete": 0}


class ChangeFeedUnavailable(RuntimeError):
    """The table's change data feed cannot serve the requested versions."""


@dataclass(frozen=True)
class TableHead:
    version: int
    table_id: str
    change_feed_enabled: bool


@dataclass(frozen=True)
class NetChanges:
    """Final state per key over a version range: rows to upsert, rows whose key is gone."""

    upserts: list[dict[str, Any]]
    deletes: list[dict[str, Any]]
    change_rows_read: int


def is_delta_table(path: Path) -> bool:
    return (path / "_delta_log").is_dir()


def table_head(path: Path) -> TableHead:
    from deltalake import DeltaTable

    table = DeltaTable(str(path))
    metadata = table.metadata()
    enabled = str(metadata.configuration.get(CDF_PROPERTY, "false")).lower() == "true"
    return TableHead(version=table.version(), table_id=metadata.id, change_feed_enabled=enabled)


def net_changes(path: Path, key: str, *, after_version: int, to_version: int) -> NetChanges:
    """Net effect of versions after_version+1 .. to_version, one entry per key."""
    from deltalake import DeltaTable

    if to_version <= after_version:
        return NetChanges([], [], 0)
    try:
        reader = DeltaTable(str(path)).load_cdf(starting_version=after_version + 1, ending_version=to_version)
        changes = pa.table(reader)
    except Exception as exc:  # delta-rs raises its own error types for missing/vacuumed CDC files
        raise ChangeFeedUnavailable(
            f"cannot read the change data feed of {path} for versions {after_version + 1}..{to_version} ({exc}); "
            "if old files were vacuumed or the feed was enabled later, resync it from the snapshot with --full"
        ) from exc
    latest: dict[Any, tuple[int, int, dict[str, Any]]] = {}
    for row in changes.to_pylist():
        rank = _LIVE.get(row["_change_type"])
        if rank is None:  # update_preimage
            continue
        order = (row["_commit_version"], rank)
        current = latest.get(row[key])
        if current is None or order >= current[:2]:
            latest[row[key]] = (*order, {k: v for k, v in row.items() if k not in CDF_COLUMNS})
    upserts = [row for _, rank, row in latest.values() if rank]
    deletes = [row for _, rank, row in latest.values() if not rank]
    return NetChanges(upserts, deletes, changes.num_rows)


def snapshot_batches(path: Path, version: int, *, batch_rows: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    """The rows of `version` of the table, in lists of at most `batch_rows`."""
    from deltalake import DeltaTable, QueryBuilder

    table = DeltaTable(str(path), version=version)
    reader = QueryBuilder().register("snapshot", table).execute("SELECT * FROM snapshot")
    for batch in reader:
        rows = pa.record_batch(batch).to_pylist()
        for start in range(0, len(rows), batch_rows):
            yield rows[start:start + batch_rows]
