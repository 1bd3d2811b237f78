"""What every source produces and every sink consumes: one telemetry event on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

PropertyValue = int | float | str | bytes


@dataclass(frozen=True, slots=True)
class Event:
    """One message as sent to Event Hubs: an opaque body plus routing and properties.

    `enqueued_time` is when the hub accepts the message (for simulated and replayed
    streams, the simulated arrival time); the event's own time lives in the body.
    """

    body: bytes | None
    partition_key: str | None
    enqueued_time: datetime
    properties: Mapping[str, PropertyValue] = field(default_factory=dict)


def utc(value: datetime) -> datetime:
    """The same instant as an aware UTC datetime (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, as the telemetry contract writes `ts`."""
    return utc(value).strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc(value).microsecond // 1000:03d}Z"
