"""Azure Event Hubs Capture files: schema, path layout, timestamps, Avro encoding.

Byte-compatible with what Event Hubs Capture writes: an Avro object container file
of `Microsoft.ServiceBus.Messaging.EventData` records, null or deflate codec, the
enqueued time as Azure's US-style string (`11/16/2016 4:44:11 PM`, UTC), stored at
`{Namespace}/{EventHub}/{PartitionId}/{YYYY}/{MM}/{DD}/{hh}/{mm}/{ss}.avro`.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, Literal, cast

import fastavro

from lakehouse.ingestion.events import PropertyValue, utc

CAPTURE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "EventData",
    "namespace": "Microsoft.ServiceBus.Messaging",
    "fields": [
        {"name": "SequenceNumber", "type": "long"},
        {"name": "Offset", "type": "string"},
        {"name": "EnqueuedTimeUtc", "type": "string"},
        {"name": "SystemProperties", "type": {"type": "map", "values": ["long", "double", "string", "bytes"]}},
        {"name": "Properties", "type": {"type": "map", "values": ["long", "double", "string", "bytes"]}},
        {"name": "Body", "type": ["null", "bytes"]},
    ],
}
Codec = Literal["null", "deflate"]
_PATH_RE = re.compile(
    r"(?P<namespace>[^/]+)/(?P<hub>[^/]+)/(?P<partition>[^/]+)/"
    r"(?P<Y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<H>\d{2})/(?P<M>\d{2})/(?P<S>\d{2})\.avro$"
)


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One EventData record of a Capture file."""

    sequence_number: int
    offset: int | str  # a decimal number from classic hubs; an opaque string from geo-replicated ones
    enqueued_time: datetime
    body: bytes | None
    properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    system_properties: Mapping[str, PropertyValue] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        return {
            "SequenceNumber": self.sequence_number,
            "Offset": str(self.offset),
            "EnqueuedTimeUtc": format_enqueued_time(self.enqueued_time),
            "SystemProperties": dict(self.system_properties),
            "Properties": dict(self.properties),
            "Body": self.body,
        }


@dataclass(frozen=True, slots=True)
class CapturePath:
    """Where a Capture file of one partition and window lives, relative to the capture root."""

    namespace: str
    event_hub: str
    partition_id: str
    window_end: datetime

    def __str__(self) -> str:
        t = utc(self.window_end)
        return f"{self.namespace}/{self.event_hub}/{self.partition_id}/{t:%Y/%m/%d/%H/%M/%S}.avro"

    @classmethod
    def parse(cls, path: str) -> CapturePath:
        match = _PATH_RE.search(path)
        if not match:
            raise ValueError(f"not an Event Hubs Capture path: {path!r}")
        g = match.groupdict()
        end = datetime(int(g["Y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"]), tzinfo=UTC)
        return cls(g["namespace"], g["hub"], g["partition"], end)


def format_enqueued_time(value: datetime) -> str:
    """Azure's `M/d/yyyy h:mm:ss a` form in UTC, e.g. `11/16/2016 4:44:11 PM`."""
    t = utc(value)
    hour12 = t.hour % 12 or 12
    return f"{t.month}/{t.day}/{t.year} {hour12}:{t:%M:%S} {'AM' if t.hour < 12 else 'PM'}"


def parse_enqueued_time(text: str) -> datetime:
    """Parse Azure's US-style string, or ISO-8601 (tolerated), to an aware UTC datetime."""
    try:
        return datetime.strptime(text.strip(), "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(f"EnqueuedTimeUtc {text!r} is neither 'M/d/yyyy h:mm:ss a' nor ISO-8601") from None


def encode_capture_file(records: Iterable[CaptureRecord], *, codec: Codec = "deflate", sync_key: str = "") -> bytes:
    """The bytes of one Capture file. An empty `records` gives a header-only file, as
    Azure writes for empty windows. The sync marker derives from `sync_key` (the
    path), so the same window always encodes to the same bytes."""
    buffer = io.BytesIO()
    marker = hashlib.md5(f"capture-sync:{sync_key}".encode()).digest()
    fastavro.writer(
        buffer,
        CAPTURE_SCHEMA,  # the raw schema keeps `name` + `namespace` in the header, as Azure writes
        (record.to_avro() for record in records),
        codec=codec,
        sync_marker=marker,
    )
    return buffer.getvalue()


def decode_capture_file(data: bytes) -> list[dict[str, Any]]:
    """The records of a Capture file as fastavro reads them (empty for header-only files)."""
    return [cast(dict[str, Any], record) for record in fastavro.reader(io.BytesIO(data))] if data else []


def iter_capture_file(handle: BinaryIO) -> Iterator[dict[str, Any]]:
    """The records of an open Capture file, one block at a time (nothing for an empty file)."""
    if handle.read(1) == b"":
        return
    handle.seek(0)
    yield from (cast(dict[str, Any], record) for record in fastavro.reader(handle))
