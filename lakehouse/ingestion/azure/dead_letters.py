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
fsynced; rewrites (after a partial resend) replace the file atomically. Both hold
a lock (`fcntl.flock` on `.<name>.lock` beside the file), so a `send` appending
while a `resend` rewrites loses no line: the rewrite keeps what was appended
since the resend read the file.

A crash in the middle of an append leaves a torn last line: reading skips it and
logs its line number, the next append starts on a new line, and a rewrite moves
torn lines to `<name>.torn` rather than dropping them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from lakehouse.ingestion.capture.store import DEFAULT_LOCK_TIMEOUT, file_lock
from lakehouse.ingestion.events import Event, PropertyValue

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class TornLine:
    """A line that is not a whole dead letter (a crash in the middle of an append)."""

    line_number: int
    raw: bytes


@dataclass
class DeadLetterScan:
    """What a read found: the letters, the torn lines, and the bytes read (the file's
    size then: whatever lies beyond was appended later)."""

    letters: list[DeadLetter] = field(default_factory=list)
    torn: list[TornLine] = field(default_factory=list)
    size: int = 0


def _encode_letter(letter: DeadLetter) -> bytes:
    at = datetime.fromisoformat(letter.dead_lettered_at)
    return (encode_dead_letter(letter.event, letter.reason, event_hub=letter.event_hub, at=at) + "\n").encode()


class DeadLetterFile:
    """Dead letters in a JSON-lines file at `path` (created on the first append).

    Appends and rewrites wait up to `lock_timeout` seconds for each other."""

    def __init__(self, path: Path, *, event_hub: str | None = None, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = Path(path)
        self.event_hub = event_hub
        self.lock_timeout = lock_timeout

    @property
    def torn_path(self) -> Path:
        """Where rewrites keep torn lines."""
        return self.path.with_name(self.path.name + ".torn")

    def _lock(self, kind: str = "lock") -> Any:
        return file_lock(
            self.path.with_name(f".{self.path.name}.{kind}"),
            timeout=self.lock_timeout,
            what=f"dead-letter file {self.path}",
        )

    @contextmanager
    def resending(self) -> Iterator[None]:
        """One resend at a time per file (appends go on meanwhile)."""
        with self._lock("resend.lock"):
            yield

    def append(self, events: Sequence[Event], reason: str) -> None:
        if not events:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        at = datetime.now(UTC)
        text = "".join(encode_dead_letter(e, reason, event_hub=self.event_hub, at=at) + "\n" for e in events)
        with self._lock(), open(self.path, "a+b") as handle:
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    text = "\n" + text  # the last append was torn: start on a new line
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def scan(self) -> DeadLetterScan:
        """Every dead letter; torn or unreadable lines are skipped and logged with their line numbers."""
        with self._lock():
            return self._scan()

    def _scan(self) -> DeadLetterScan:
        scan = DeadLetterScan()
        if not self.path.exists():
            return scan
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                scan.size += len(raw)
                if not raw.strip():
                    continue
                try:
                    scan.letters.append(decode_dead_letter(raw.decode("utf-8")))
                except (UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error):
                    scan.torn.append(TornLine(number, raw.rstrip(b"\n")))
        for torn in scan.torn:
            log.warning(
                "%s line %d is not a whole dead letter (%d bytes, a crash mid-append?): skipped",
                self.path,
                torn.line_number,
                len(torn.raw),
            )
        return scan

    def read(self) -> list[DeadLetter]:
        return self.scan().letters

    def replace(self, letters: Iterable[DeadLetter]) -> None:
        """Atomically replace the file with `letters` (removing it when there are none).
        Torn lines move to `torn_path`. Lines appended meanwhile are lost: a resend
        uses `rewrite` with the size it read."""
        with self._lock():
            self._rewrite(list(letters), self._scan(), keep_appended=False)

    def rewrite(self, letters: Iterable[DeadLetter], read: DeadLetterScan) -> None:
        """Replace what `read` found with `letters`, keeping every line appended since
        (beyond `read.size`) and moving `read`'s torn lines to `torn_path`."""
        with self._lock():
            self._rewrite(list(letters), read, keep_appended=True)

    def _rewrite(self, letters: list[DeadLetter], read: DeadLetterScan, *, keep_appended: bool) -> None:
        appended = b""
        if keep_appended and self.path.exists():
            with open(self.path, "rb") as handle:
                handle.seek(read.size)
                appended = handle.read()
        if read.torn:
            with open(self.torn_path, "ab") as handle:
                handle.write(b"".join(t.raw + b"\n" for t in read.torn))
                handle.flush()
                os.fsync(handle.fileno())
            log.warning(
                "%s: %d torn lines (line %s) moved to %s",
                self.path,
                len(read.torn),
                ", ".join(str(t.line_number) for t in read.torn),
                self.torn_path,
            )
        content = b"".join(map(_encode_letter, letters)) + appended.lstrip(b"\n")
        if not content:
            self.path.unlink(missing_ok=True)
            return
        temp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        with open(temp, "wb") as handle:
            handle.write(content)
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
