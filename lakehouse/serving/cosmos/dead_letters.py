"""Items Cosmos DB refused, set aside so the sync goes on: `_serving/cosmos_dead_letters.jsonl`
under the lake root (`Lake.cosmos_dead_letters_key`, through the lake's storage seam: a
local folder or Azure storage).

One JSON object per line, appended (the document only grows; move it aside once handled).
Appending is a read of the document (once per sync) and a whole replace (`put`) with the
new lines added: it is small, and the sync's lock keeps other syncs from writing it meanwhile.

    {"at": "2026-11-22T10:15:00Z", "target": "acct.documents.azure.com/telemetry/gold_device_metrics_5m",
     "table": "gold/gold_device_metrics_5m", "versions": "v3..v5", "operation": "upsert",
     "id": "dev/1_20261122T1000Z", "partition_key": "dev/1", "status": null,
     "reason": "the id contains /, which Cosmos DB does not allow in ids (/ \\ ? #)", "item": {...}}

`status` is the service's HTTP status, or null when the item was refused before
sending (its id breaks Cosmos DB's id rule). `item` is the whole item of an upsert
(a delete has only id and partition key). The document is written (durably)
before the sync records the version that contains these items, so a dead letter is never lost
while its version counts as synced. A sync that resends a range after an
interruption does not add a letter again: one equal to the latest letter of the
same target, operation and id (same item) is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lakehouse.serving.cosmos.writer import Rejected, Upsert, operation_id

if TYPE_CHECKING:
    from lakehouse.paths import Lake

log = logging.getLogger(__name__)


class DeadLetters:
    def __init__(self, lake: Lake) -> None:
        from lakehouse.paths import Lake

        self.files = lake.files
        self.key = Lake.cosmos_dead_letters_key
        self.path = lake.url(self.key)  # for messages
        self.count = 0
        self._stored: bytes | None = None  # the document as stored (read at the first letter)
        self._pending: list[str] = []  # lines added since
        self._latest: dict[tuple[str, str, str], bytes] | None = None  # (target, operation, id) -> digest

    @staticmethod
    def _identity(record: dict[str, Any]) -> tuple[tuple[str, str, str], bytes]:
        what = {
            k: record.get(k) for k in ("partition_key", "status", "item")
        }  # not the reason: it may hold a request id
        digest = hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode()).digest()
        return (record["target"], record["operation"], record["id"]), digest

    def _load(self) -> dict[tuple[str, str, str], bytes]:
        try:
            self._stored = self.files.read_bytes(self.key)
        except FileNotFoundError:
            self._stored = b""
        latest: dict[tuple[str, str, str], bytes] = {}
        for line in self._stored.decode("utf-8", errors="replace").splitlines():
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
        self._pending.append(json.dumps(record) + "\n")
        self.count += 1

    def sync(self) -> None:
        """Make what was added durable (before the version holding it is recorded as synced)."""
        if not self._pending:
            return
        stored = self._stored or b""
        if stored and not stored.endswith(b"\n"):
            stored += b"\n"  # a torn last line stays a line of its own
        document = stored + "".join(self._pending).encode("utf-8")
        self.files.put(self.key, document)
        self._stored, self._pending = document, []

    def close(self) -> None:
        """Write what is left (a sync that stopped: its range is resent, and letters equal to these skipped)."""
        try:
            self.sync()
        except Exception as exc:  # noqa: BLE001 - the sync's own error matters more; the range is resent
            log.warning("could not write %d dead letters to %s: %s", len(self._pending), self.path, exc)
