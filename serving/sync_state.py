"""Durable sync progress: which Delta version of each table a Cosmos container holds.

One small JSON file, `<lake root>/_serving/cosmos_state.json`, rewritten whole and
atomically (temporary file, fsync, rename, fsync of the folder) after a table's
changes were all written to Cosmos. Entries are keyed by target
(`<account host>/<database>/<container>`), so syncing the same lake to another
account or database starts that target from scratch.

    {"format": 1, "targets": {"acct.documents.azure.com/telemetry/gold_device_metrics_5m":
        {"table": "gold/gold_device_metrics_5m", "delta_table_id": "…", "synced_version": 12,
         "synced_at": "2026-11-22T10:15:00Z"}}}
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

FORMAT = 1
STATE_FILE = Path("_serving") / "cosmos_state.json"


@dataclass(frozen=True)
class SyncedVersion:
    table: str
    delta_table_id: str
    synced_version: int
    synced_at: str


def target_key(endpoint: str, database: str, container: str) -> str:
    return f"{urlsplit(endpoint).netloc}/{database}/{container}"


class SyncState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._targets: dict[str, SyncedVersion] = {}
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"{path}: unknown state format {data.get('format')!r}; expected {FORMAT}")
            self._targets = {key: SyncedVersion(**entry) for key, entry in data["targets"].items()}

    def get(self, key: str) -> SyncedVersion | None:
        return self._targets.get(key)

    def commit(self, key: str, *, table: str, delta_table_id: str, version: int) -> None:
        """Record that `key` holds `version` of the table, and write the file atomically."""
        synced_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._targets[key] = SyncedVersion(table, delta_table_id, version, synced_at)
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": FORMAT, "targets": {k: asdict(v) for k, v in sorted(self._targets.items())}}, indent=2)
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
