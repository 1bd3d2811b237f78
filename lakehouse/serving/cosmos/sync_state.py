"""Durable sync progress: which Delta version of each table a Cosmos container holds.

One small JSON document, `_serving/cosmos_state.json` under the lake root (a local
folder or Azure storage: `Lake.cosmos_state_key` through the lake's storage seam),
rewritten whole after a table's changes were all written to Cosmos: locally a
temporary file, fsync, rename, fsync of the folder; on Blob storage one Put Blob
(readers see the old or the new document). Entries are keyed by target
(`<account host>/<database>/<container>`), so syncing the same lake to another
account or database starts that target from scratch.

    {"format": 1, "targets": {"acct.documents.azure.com/telemetry/gold_device_metrics_5m":
        {"table": "gold/gold_device_metrics_5m", "delta_table_id": "…", "synced_version": 12,
         "synced_at": "2026-11-22T10:15:00Z"}}}

One sync at a time: `sync_lock` holds the lake's lock `Lake.cosmos_lock_key` for the
whole sync (flock on a local lake, a blob lease on Azure storage, renewed while the
sync runs); a second sync waits for it up to a timeout, then fails saying so. And
`commit` never records a version lower than the one stored for the same Delta table
(unless the sync reloads a table that went back, `reset=True`): it re-reads the
document first and keeps other targets' entries as they are stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lakehouse.storage.files import LockBusy

if TYPE_CHECKING:
    from lakehouse.paths import Lake

FORMAT = 1


class SyncStateError(RuntimeError):
    """The state file cannot be used (corrupt, locked by another sync, or would move backwards)."""


@dataclass(frozen=True)
class SyncedVersion:
    table: str
    delta_table_id: str
    synced_version: int
    synced_at: str


def target_key(endpoint: str, database: str, container: str) -> str:
    return f"{urlsplit(endpoint).netloc}/{database}/{container}"


@contextmanager
def sync_lock(lake: Lake, *, timeout_s: float) -> Iterator[None]:
    """Hold the sync's exclusive lock; wait at most `timeout_s` for another sync to release it."""
    from lakehouse.paths import Lake

    try:
        with lake.files.lock(Lake.cosmos_lock_key, timeout=timeout_s, what="the cosmos-sync lock"):
            yield
    except LockBusy as exc:
        raise SyncStateError(
            f"another cosmos-sync is running on this lake ({exc}). Run again when it has finished, "
            "or raise --lock-timeout"
        ) from None


class SyncState:
    def __init__(self, lake: Lake) -> None:
        from lakehouse.paths import Lake

        self.files = lake.files
        self.key = Lake.cosmos_state_key
        self.path = lake.url(self.key)  # for messages: the folder's file, or the blob's URL
        self._targets = self._read()

    def _read(self) -> dict[str, SyncedVersion]:
        try:
            data = self.files.read_json(self.key)
            if data is None:
                return {}
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown state format {data.get('format')!r}; expected {FORMAT}")
            return {key: SyncedVersion(**entry) for key, entry in data["targets"].items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SyncStateError(
                f"{self.path} is not a readable sync state ({type(exc).__name__}: {exc}). It records which Delta "
                f"version each Cosmos container holds. To recover, move it aside ({self._move_aside()}) "
                "and run `lakehouse serve cosmos-sync` again: without state, every container is reloaded from its "
                "table's snapshot (upserts are idempotent, and items no longer in gold are deleted)"
            ) from exc

    def get(self, key: str) -> SyncedVersion | None:
        return self._targets.get(key)

    def commit(self, key: str, *, table: str, delta_table_id: str, version: int, reset: bool = False) -> None:
        """Record that `key` holds `version` of the table, and write the file atomically.

        Refuses to move the same Delta table's version backwards unless `reset`.
        """
        on_disk = self._read()
        current = on_disk.get(key)
        if (
            current is not None
            and not reset
            and current.delta_table_id == delta_table_id
            and version < current.synced_version
        ):
            raise SyncStateError(
                f"{self.path}: refusing to move {key} back from v{current.synced_version} to "
                f"v{version} (another sync recorded a later version)"
            )
        synced_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        on_disk[key] = SyncedVersion(table, delta_table_id, version, synced_at)
        self._targets = on_disk
        self._write()

    def _move_aside(self) -> str:
        if self.files.location.is_local:
            return f"mv {self.path} {self.path}.bad"
        return f"rename or delete the blob {self.path}"

    def _write(self) -> None:
        self.files.put(
            self.key,
            (
                json.dumps(
                    {"format": FORMAT, "targets": {k: asdict(v) for k, v in sorted(self._targets.items())}}, indent=2
                )
                + "\n"
            ).encode(),
        )
