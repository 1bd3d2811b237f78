"""A consumer that lands an Event Hub as Capture files, for hubs without Capture.

It reads every partition with an `EventHubConsumerClient`, cuts each partition's
stream into capture windows by the hub's enqueued time (aligned to
`window_seconds`, split early at a whole second when a file would pass
`max_file_bytes`, as the local lander does), and writes each closed window as one
Capture file at `{namespace}/{hub}/{partition}/{Y}/{m}/{d}/{H}/{M}/{S}.avro` with
the hub's own partition id, sequence numbers, offsets and enqueued times.

At-least-once, never lossy: a partition's checkpoint (in a Blob container, via
`BlobCheckpointStore`) moves to the last event of a window only after that
window's file is durably written. A crash replays from the last checkpoint, i.e.
from the first event of the first unwritten window; rewriting a window gives the
same path and bytes (the file's content is fixed by the hub's sequence numbers).

A window closes when an event of a later window arrives, or, once the partition
is caught up and quiet (the consumer is called with an empty batch after
`max_wait_time`), when the wall clock is `idle_grace` past its end. An event that arrives for a window already
closed that way is put in the next window rather than rewriting a file with
fewer records.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.eventhub import EventData, EventHubConsumerClient
from azure.eventhub.amqp import AmqpMessageBodyType

from ingestion.capture_format import CapturePath, CaptureRecord, encode_capture_file
from ingestion.capture_store import CaptureStore
from ingestion.events import Event, PropertyValue, utc
from ingestion.lander import RECORD_OVERHEAD_BYTES, CaptureSettings

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- mapping


def _text(value: Any) -> Any:
    """AMQP strings arrive as bytes: give text back as str, keep real binary as bytes."""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


def _property_value(value: Any) -> PropertyValue:
    """A value the Capture schema holds (long, double, string, bytes)."""
    value = _text(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | str | bytes):
        return value
    if isinstance(value, datetime):
        return int(utc(value).timestamp() * 1000)
    return str(value)


def _properties(raw: Mapping[Any, Any] | None) -> dict[str, PropertyValue]:
    return {str(_text(k)): _property_value(v) for k, v in (raw or {}).items() if v is not None}


def event_body(data: EventData) -> bytes | None:
    """The body bytes of a received event (data sections joined); None if it has no data."""
    if data.body_type != AmqpMessageBodyType.DATA:
        return data.body_as_str().encode()
    body = data.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return b"".join(bytes(part) for part in body)


def event_from_event_data(data: EventData) -> Event:
    """The `Event` a received message carries: body, partition key, properties, enqueued time."""
    key = _text(data.partition_key)
    return Event(
        body=event_body(data),
        partition_key=key if isinstance(key, str) else None,
        enqueued_time=utc(data.enqueued_time) if data.enqueued_time else datetime.now(UTC),
        properties=_properties(data.properties),
    )


def capture_record_from_event_data(data: EventData) -> CaptureRecord:
    """The Capture record of a received message, with the hub's sequence number,
    offset and enqueued time; system properties as the hub set them."""
    if data.sequence_number is None or data.offset is None or data.enqueued_time is None:
        raise ValueError("a received event needs sequence_number, offset and enqueued_time (the hub sets them)")
    offset = data.offset
    return CaptureRecord(
        sequence_number=int(data.sequence_number),
        offset=int(offset) if offset.isdigit() else offset,  # type: ignore[arg-type]  # to_avro writes str()
        enqueued_time=utc(data.enqueued_time),
        body=event_body(data),
        properties=_properties(data.properties),
        system_properties=_properties(data.system_properties),
    )


# --------------------------------------------------------------------------- windows


@dataclass
class ClosedWindow:
    """A window ready to be written: its file's records and the event to checkpoint."""

    partition_id: str
    window_end: datetime
    records: list[CaptureRecord]
    last_event: EventData


@dataclass
class _OpenWindow:
    end: datetime
    records: list[CaptureRecord] = field(default_factory=list)
    last_event: EventData | None = None
    size: int = 0


def _floor(t: datetime, seconds: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


class CaptureWindower:
    """Cuts each partition's received events into capture windows (no I/O)."""

    def __init__(self, settings: CaptureSettings, *, idle_grace: timedelta = timedelta(seconds=30)) -> None:
        self.settings = settings
        self.idle_grace = idle_grace
        self._open: dict[str, _OpenWindow] = {}
        self._closed_until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def _window_end(self, partition_id: str, t: datetime) -> datetime:
        step = self.settings.window_seconds
        floor_from = max(t, self._closed_until.get(partition_id, t))
        return _floor(floor_from, step) + timedelta(seconds=step)

    def add(self, partition_id: str, events: Iterable[EventData]) -> list[ClosedWindow]:
        """Add a partition's events (in the hub's order); return the windows they close."""
        closed: list[ClosedWindow] = []
        with self._lock:
            for data in events:
                record = capture_record_from_event_data(data)
                t = record.enqueued_time
                current = self._open.get(partition_id)
                if current is not None and t >= current.end:
                    closed.append(self._close(partition_id, current.end))
                    current = None
                if current is None:
                    current = self._open[partition_id] = _OpenWindow(self._window_end(partition_id, t))
                event_size = len(record.body or b"") + RECORD_OVERHEAD_BYTES
                if current.records and current.size + event_size > self.settings.max_file_bytes:
                    second = _floor(t, 1)
                    if second > _floor(current.records[-1].enqueued_time, 1):
                        # The size limit closes the file at this whole second.
                        end = current.end
                        closed.append(self._close(partition_id, second))
                        current = self._open[partition_id] = _OpenWindow(end)
                current.records.append(record)
                current.last_event = data
                current.size += event_size
        return closed

    def _close(self, partition_id: str, end: datetime) -> ClosedWindow:
        window = self._open.pop(partition_id)
        assert window.last_event is not None
        self._closed_until[partition_id] = end
        return ClosedWindow(partition_id, end, window.records, window.last_event)

    def flush_idle(self, partition_id: str, now: datetime | None = None) -> list[ClosedWindow]:
        """Close the partition's open window if the clock is `idle_grace` past its end."""
        now = utc(now or datetime.now(UTC))
        with self._lock:
            current = self._open.get(partition_id)
            if current is not None and now >= current.end + self.idle_grace:
                return [self._close(partition_id, current.end)]
        return []

    def open_windows(self) -> dict[str, int]:
        """Records waiting per partition (not yet written, not checkpointed)."""
        with self._lock:
            return {p: len(w.records) for p, w in self._open.items()}


def write_capture_window(store: CaptureStore, settings: CaptureSettings, window: ClosedWindow) -> str:
    """Encode a closed window as a Capture file at its Capture path; return the path."""
    path = str(CapturePath(settings.namespace, settings.event_hub, window.partition_id, window.window_end))
    store.write_file(path, encode_capture_file(window.records, codec=settings.codec, sync_key=path))
    return path


# --------------------------------------------------------------------------- consumer


@dataclass
class ConsumerReport:
    files_written: int = 0
    records_written: int = 0
    checkpoints: int = 0
    paths: list[str] = field(default_factory=list)


class EventHubsCaptureLander:
    """Receives from a hub and lands Capture files into `store`, checkpointing after each file.

    `settings.namespace` / `settings.event_hub` name the path (use the hub's own
    names so the files look like Capture's); the window and size settings apply.
    """

    def __init__(self, store: CaptureStore, settings: CaptureSettings, *,
                 idle_grace: timedelta = timedelta(seconds=30)) -> None:
        self.store = store
        self.settings = settings
        self.windower = CaptureWindower(settings, idle_grace=idle_grace)
        self.report = ConsumerReport()
        self._lock = threading.Lock()

    def on_event_batch(self, partition_context: Any, events: list[EventData]) -> None:
        """The consumer callback: window the batch, write closed windows, then checkpoint.

        The SDK calls it with an empty list after `max_wait_time` of silence: only
        then (the partition is caught up) are idle windows closed by the clock. While
        a backlog is read, windows close by the events alone, so old windows are
        never cut short because the wall clock is far past them."""
        partition_id = partition_context.partition_id
        if events:
            closed = self.windower.add(partition_id, events)
        else:
            closed = self.windower.flush_idle(partition_id)
        for window in closed:
            path = write_capture_window(self.store, self.settings, window)
            partition_context.update_checkpoint(window.last_event)  # only after the file is durable
            with self._lock:
                self.report.files_written += 1
                self.report.records_written += len(window.records)
                self.report.checkpoints += 1
                self.report.paths.append(path)
            log.info("partition %s: wrote %s (%d records, sequence numbers %d..%d), checkpointed",
                     partition_id, self.store.describe(path), len(window.records),
                     window.records[0].sequence_number, window.records[-1].sequence_number)

    def run(self, client: EventHubConsumerClient, *, duration: timedelta | None = None,
            starting_position: str = "-1", max_wait_time: float = 5.0, max_batch_size: int = 300) -> ConsumerReport:
        """Receive until `duration` has passed (or forever / Ctrl-C). Open windows
        at the end are not written and not checkpointed: the next run reads them again."""
        timer = None
        if duration is not None:
            timer = threading.Timer(duration.total_seconds(), client.close)
            timer.daemon = True
            timer.start()
        t0 = time.monotonic()
        try:
            with client:
                client.receive_batch(
                    on_event_batch=self.on_event_batch,
                    on_error=lambda ctx, exc: log.error("partition %s: %s", getattr(ctx, "partition_id", "?"), exc),
                    starting_position=starting_position,
                    max_wait_time=max_wait_time,
                    max_batch_size=max_batch_size,
                )
        except KeyboardInterrupt:
            log.info("stopped by the user")
        finally:
            if timer is not None:
                timer.cancel()
        waiting = self.windower.open_windows()
        log.info("consumer stopped after %.0f s: %d files, %d records; %d records in open windows will be read again",
                 time.monotonic() - t0, self.report.files_written, self.report.records_written, sum(waiting.values()))
        return self.report
