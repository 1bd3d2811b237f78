"""Durable sync progress: which Delta version of each table a Cosmos container holds.

One small JSON file, `<lake root>/_serving/cosmos_state.json`, rewritten whole and
atomically (temporary file, fsync, rename, fsync of the folder) after a table's
changes were all written to Cosmos. Entries are keyed by target
(`<account host>/<database>/<container>`), so syncing the same lake to another
account or database starts that target from scratch.

    {"format": 1, "targets": {"acct.documents.azure.com/telemetry/gold_device_metrics_5m":
        {"table": "gold/gold_device_metrics_5m", "delta_table_id": "…", "synced_version": 12,
         "synced_at": "2026-11-22T10:15:00Z"}}}

One sync at a time: `sync_lock` holds an exclusive lock (flock) on
`cosmos_state.json.lock` for the whole sync; a second sync waits for it up to a
timeout, then fails saying so. And `commit` never records a version lower than
the one on disk for the same Delta table (unless the sync reloads a table that
went back, `reset=True`): it re-reads the file first and keeps other targets'
entries as they are on disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

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
def sync_lock(state_path: Path, *, timeout_s: float, poll_s: float = 0.1) -> Iterator[None]:
    """Hold the sync's exclusive lock; wait at most `timeout_s` for another sync to release it."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise SyncStateError(
                        f"another cosmos-sync is running on this lake (it holds {lock_path}; {holder}); waited "
                        f"{timeout_s:g} s. Run again when it has finished, or raise --lock-timeout"
                    ) from None
                time.sleep(poll_s)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SyncState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._targets = self._read()

    def _read(self) -> dict[str, SyncedVersion]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown state format {data.get('format')!r}; expected {FORMAT}")
            return {key: SyncedVersion(**entry) for key, entry in data["targets"].items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SyncStateError(
                f"{self.path} is not a readable sync state ({type(exc).__name__}: {exc}). It records which Delta "
                f"version each Cosmos container holds. To recover, move it aside (mv {self.path} {self.path}.bad) "
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

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {"format": FORMAT, "targets": {k: asdict(v) for k, v in sorted(self._targets.items())}}, indent=2
        )
        fd, tmp = tempfile.mkstemp(prefix=".cosmos_state.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
