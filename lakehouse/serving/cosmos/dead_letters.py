"""Items Cosmos DB refused, set aside so the sync goes on: `<lake root>/_serving/cosmos_dead_letters.jsonl`.

One JSON object per line, appended (the file only grows; move it aside once handled):

    {"at": "2026-11-22T10:15:00Z", "target": "acct.documents.azure.com/telemetry/gold_device_metrics_5m",
     "table": "gold/gold_device_metrics_5m", "versions": "v3..v5", "operation": "upsert",
     "id": "dev/1_20261122T1000Z", "partition_key": "dev/1", "status": null,
     "reason": "the id contains /, which Cosmos DB does not allow in ids (/ \\ ? #)", "item": {...}}

`status` is the service's HTTP status, or null when the item was refused before
sending (its id breaks Cosmos DB's id rule). `item` is the whole item of an upsert
(a delete has only id and partition key). The file is fsynced before the sync
records the version that contains these items, so a dead letter is never lost
while its version counts as synced. A sync that resends a range after an
interruption does not add a letter again: one equal to the latest letter of the
same target, operation and id (same item) is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from lakehouse.serving.cosmos.writer import Rejected, Upsert, operation_id


class DeadLetters:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: IO[str] | None = None
        self._latest: dict[tuple[str, str, str], bytes] | None = None  # (target, operation, id) -> digest

    @staticmethod
    def _identity(record: dict[str, Any]) -> tuple[tuple[str, str, str], bytes]:
        what = {
            k: record.get(k) for k in ("partition_key", "status", "item")
        }  # not the reason: it may hold a request id
        digest = hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode()).digest()
        return (record["target"], record["operation"], record["id"]), digest

    def _load(self) -> dict[tuple[str, str, str], bytes]:
        latest: dict[tuple[str, str, str], bytes] = {}
        if self.path.exists():
            with self.path.open(encoding="utf-8") as lines:
                for line in lines:
                    try:
                        key, digest = self._identity(json.loads(line))
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue  # a torn last line or a hand edit: not a letter to compare with
                    latest[key] = digest
        return latest

    def add(self, rejected: Rejected, *, target: str, table: str, versions: str, partition_key: str) -> None:
        """Append one refused operation; `partition_key` is the container's partition key field."""
        operation = rejected.operation
        record: dict[str, Any] = {
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "target": target,
            "table": table,
            "versions": versions,
            "operation": "upsert" if isinstance(operation, Upsert) else "delete",
            "id": operation_id(operation),
            "partition_key": (
                operation.item.get(partition_key) if isinstance(operation, Upsert) else operation.partition_key
            ),
            "status": rejected.status,
            "reason": rejected.reason,
        }
        if isinstance(operation, Upsert):
            record["item"] = operation.item
        record = json.loads(json.dumps(record, default=str))  # as it reads back, for the comparison
        if self._latest is None:
            self._latest = self._load()
        key, digest = self._identity(record)
        if self._latest.get(key) == digest:
            return  # already set aside by an earlier (interrupted) run
        self._latest[key] = digest
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps(record) + "\n")
        self.count += 1

    def sync(self) -> None:
        """Make what was added durable (before the version holding it is recorded as synced)."""
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
