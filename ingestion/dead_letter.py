"""A local dead-letter file for events a producer could not send: nothing is lost.

One JSON object per line, self-contained so a later `resend` rebuilds the exact
event:

    {"body_b64": "eyJldmVudF9pZCI6...", "partition_key": "dev-00001",
     "properties": {"source": {"type": "string", "value": "simulator"}},
     "enqueued_time": "2026-11-22T10:15:31.482000+00:00",
     "reason": "ConnectError: ...", "dead_lettered_at": "2026-11-22T10:20:00+00:00",
     "event_hub": "telemetry"}

Bodies are base64 (bytes survive exactly, valid JSON or not); property values
keep their type (string, long, double, bytes as base64). Appends are flushed and
fsynced; rewrites (after a partial resend) replace the file atomically.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ingestion.events import Event, PropertyValue


class DeadLetterSink(Protocol):
    """Where a producer puts events it gave up on."""

    def append(self, events: Sequence[Event], reason: str) -> None: ...


@dataclass(frozen=True)
class DeadLetter:
    event: Event
    reason: str
    dead_lettered_at: str
    event_hub: str | None = None


def _encode_property(value: PropertyValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "long", "value": int(value)}
    if isinstance(value, int):
        return {"type": "long", "value": value}
    if isinstance(value, float):
        return {"type": "double", "value": value}
    if isinstance(value, bytes | bytearray):
        return {"type": "bytes", "value": base64.b64encode(bytes(value)).decode()}
    return {"type": "string", "value": str(value)}


def _decode_property(item: Mapping[str, Any]) -> PropertyValue:
    kind, value = item["type"], item["value"]
    if kind == "long":
        return int(value)
    if kind == "double":
        return float(value)
    if kind == "bytes":
        return base64.b64decode(value)
    return str(value)


def encode_dead_letter(event: Event, reason: str, *, event_hub: str | None = None, at: datetime | None = None) -> str:
    """One dead-letter line (without the newline)."""
    return json.dumps(
        {
            "body_b64": None if event.body is None else base64.b64encode(event.body).decode(),
            "partition_key": event.partition_key,
            "properties": {name: _encode_property(value) for name, value in event.properties.items()},
            "enqueued_time": event.enqueued_time.isoformat(),
            "reason": reason,
            "dead_lettered_at": (at or datetime.now(UTC)).isoformat(timespec="seconds"),
            "event_hub": event_hub,
        },
        separators=(",", ":"),
    )


def decode_dead_letter(line: str) -> DeadLetter:
    item = json.loads(line)
    event = Event(
        body=None if item["body_b64"] is None else base64.b64decode(item["body_b64"]),
        partition_key=item["partition_key"],
        enqueued_time=datetime.fromisoformat(item["enqueued_time"]),
        properties={name: _decode_property(value) for name, value in item["properties"].items()},
    )
    return DeadLetter(event, item["reason"], item["dead_lettered_at"], item.get("event_hub"))


class DeadLetterFile:
    """Dead letters in a JSON-lines file at `path` (created on the first append)."""

    def __init__(self, path: Path, *, event_hub: str | None = None) -> None:
        self.path = Path(path)
        self.event_hub = event_hub

    def append(self, events: Sequence[Event], reason: str) -> None:
        if not events:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        at = datetime.now(UTC)
        text = "".join(encode_dead_letter(e, reason, event_hub=self.event_hub, at=at) + "\n" for e in events)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[DeadLetter]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as handle:
            return [decode_dead_letter(line) for line in handle if line.strip()]

    def replace(self, letters: Iterable[DeadLetter]) -> None:
        """Atomically replace the file with `letters` (removing it when there are none)."""
        letters = list(letters)
        if not letters:
            self.path.unlink(missing_ok=True)
            return
        temp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            for letter in letters:
                at = datetime.fromisoformat(letter.dead_lettered_at)
                handle.write(encode_dead_letter(letter.event, letter.reason, event_hub=letter.event_hub, at=at) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)

    def __len__(self) -> int:
        return len(self.read())


class DeadLetterList:
    """Dead letters kept in memory (used by `resend`, which decides what to keep)."""

    def __init__(self) -> None:
        self.items: list[tuple[Event, str]] = []

    def append(self, events: Sequence[Event], reason: str) -> None:
        self.items.extend((e, reason) for e in events)
