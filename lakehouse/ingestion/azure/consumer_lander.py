"""A consumer that lands an Event Hub as Capture files, for hubs without Capture.

It reads every partition with an `EventHubConsumerClient`, cuts each partition's
stream into capture windows by the hub's enqueued time (aligned to
`window_seconds`, split early at a whole second when a file would pass
`max_file_bytes`, as the local lander does), and writes each closed window as one
Capture file at `{namespace}/{hub}/{partition}/{Y}/{m}/{d}/{H}/{M}/{S}.avro` with
the hub's own partition id, sequence numbers, offsets and enqueued times.

Never lossy, never duplicated: a partition's checkpoint (in a Blob container, via
`BlobCheckpointStore`) moves to the last event of a window only after that
window's file is durably written, and the files themselves say what is landed.
Whenever a partition is (re)opened - at start, or after the processor closed it
because the callback failed (a checkpoint update, a full disk) - its state is
read back from the store: the last landed window's end and sequence number.
Redelivered events up to that sequence number are skipped (they are in a file,
even if the checkpoint did not move), and an event for a window already written
goes to the next window. Files are create-only: a written file is never replaced.

A window closes when an event of a later window arrives, or, once the partition
is caught up and quiet (the consumer is called with an empty batch after
`max_wait_time`), when the wall clock is `idle_grace` past its end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from azure.eventhub import EventData, EventHubConsumerClient
from azure.eventhub.amqp import AmqpMessageBodyType

from lakehouse.ingestion.capture.format import (
    CapturePath,
    CaptureRecord,
    encode_capture_file,
)
from lakehouse.ingestion.capture.lander import (
    RECORD_OVERHEAD_BYTES,
    CaptureSettings,
    partition_position,
)
from lakehouse.ingestion.capture.store import CaptureStore
from lakehouse.ingestion.events import Event, PropertyValue, utc

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


def capture_properties(raw: Mapping[Any, Any] | None) -> dict[str, PropertyValue]:
    """Event properties as the Capture schema holds them (None values dropped)."""
    return {str(_text(k)): _property_value(v) for k, v in (raw or {}).items() if v is not None}


def event_body(data: EventData) -> bytes | None:
    """The body bytes of a received event (data sections joined); None if it has no data."""
    if data.body_type != AmqpMessageBodyType.DATA:
        return data.body_as_str().encode()
    body = data.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return b"".join(bytes(part) for part in cast(Iterable[bytes], body))


def event_from_event_data(data: EventData) -> Event:
    """The `Event` a received message carries: body, partition key, properties, enqueued time."""
    key = _text(data.partition_key)
    return Event(
        body=event_body(data),
        partition_key=key if isinstance(key, str) else None,
        enqueued_time=utc(data.enqueued_time) if data.enqueued_time else datetime.now(UTC),
        properties=capture_properties(data.properties),
    )


def capture_record_from_event_data(data: EventData) -> CaptureRecord:
    """The Capture record of a received message, with the hub's sequence number,
    offset and enqueued time; system properties as the hub set them."""
    if data.sequence_number is None or data.offset is None or data.enqueued_time is None:
        raise ValueError("a received event needs sequence_number, offset and enqueued_time (the hub sets them)")
    offset = data.offset
    return CaptureRecord(
        sequence_number=int(data.sequence_number),
        offset=int(offset) if offset.isdigit() else offset,  # Capture writes str(offset) either way
        enqueued_time=utc(data.enqueued_time),
        body=event_body(data),
        properties=capture_properties(data.properties),
        system_properties=capture_properties(data.system_properties),
    )


# --------------------------------------------------------------------------- windows


@dataclass
class ClosedWindow:
    """A window ready to be written: its file's records and the event to checkpoint."""

    partition_id: str
    window_end: datetime
    records: list[CaptureRecord]
    last_event: Any  # what the caller checkpoints by: the SDK's EventData, or nothing


@dataclass
class _OpenWindow:
    end: datetime
    records: list[CaptureRecord] = field(default_factory=list)
    last_event: Any = None
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
        self._landed_through: dict[str, int] = {}  # last sequence number already in a file
        self.skipped: dict[str, int] = {}  # redelivered events skipped as already landed
        self._lock = threading.Lock()

    def restore(self, partition_id: str, *, closed_until: datetime | None, landed_through: int | None) -> None:
        """Start a partition afresh from what is landed: the end of its last written
        window and the last sequence number written. Drops any open window (its
        events are not checkpointed, so the hub delivers them again)."""
        with self._lock:
            self._open.pop(partition_id, None)
            self._closed_until.pop(partition_id, None)
            self._landed_through.pop(partition_id, None)
            if closed_until is not None:
                self._closed_until[partition_id] = closed_until
            if landed_through is not None:
                self._landed_through[partition_id] = landed_through

    def _window_end(self, partition_id: str, t: datetime) -> datetime:
        step = self.settings.window_seconds
        floor_from = max(t, self._closed_until.get(partition_id, t))
        return _floor(floor_from, step) + timedelta(seconds=step)

    def landed_through(self, partition_id: str) -> int | None:
        """The last sequence number of the partition known to be in a file (None: not known)."""
        with self._lock:
            return self._landed_through.get(partition_id)

    def add(self, partition_id: str, events: Iterable[EventData]) -> list[ClosedWindow]:
        """Add a partition's received events (in the hub's order); return the windows they close."""
        return self.add_records(partition_id, ((capture_record_from_event_data(data), data) for data in events))

    def add_records(self, partition_id: str, records: Iterable[tuple[CaptureRecord, Any]]) -> list[ClosedWindow]:
        """Add a partition's records, each with the event to checkpoint it by (in the hub's
        order); return the windows they close."""
        closed: list[ClosedWindow] = []
        with self._lock:
            landed_through = self._landed_through.get(partition_id)
            for record, data in records:
                if landed_through is not None and record.sequence_number <= landed_through:
                    self.skipped[partition_id] = self.skipped.get(partition_id, 0) + 1
                    continue  # redelivered after a failure: already in a file
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
        self._closed_until[partition_id] = end
        self._landed_through[partition_id] = window.records[-1].sequence_number
        return ClosedWindow(partition_id, end, window.records, window.last_event)

    def flush_idle(self, partition_id: str, now: datetime | None = None) -> list[ClosedWindow]:
        """Close the partition's open window if the clock is `idle_grace` past its end."""
        now = utc(now or datetime.now(UTC))
        with self._lock:
            current = self._open.get(partition_id)
            if current is not None and now >= current.end + self.idle_grace:
                return [self._close(partition_id, current.end)]
        return []

    def close_open(self, partition_id: str) -> list[ClosedWindow]:
        """Close the partition's open window now, before its end: for a caller that cannot
        keep it open (an Azure Functions batch is checkpointed when the call returns).

        The file is named at the whole second after its last record, and always after
        the partition's previous file, so names stay unique and increasing; the rest of
        the window goes on in later files, as when the size limit splits a window."""
        with self._lock:
            current = self._open.get(partition_id)
            if current is None:
                return []
            after_last = _floor(current.records[-1].enqueued_time, 1) + timedelta(seconds=1)
            previous = self._closed_until.get(partition_id)
            if previous is not None:
                after_last = max(after_last, previous + timedelta(seconds=1))
            return [self._close(partition_id, min(current.end, after_last))]

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

    def __init__(
        self, store: CaptureStore, settings: CaptureSettings, *, idle_grace: timedelta = timedelta(seconds=30)
    ) -> None:
        self.store = store
        self.settings = settings
        self.windower = CaptureWindower(settings, idle_grace=idle_grace)
        self.report = ConsumerReport()
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()  # restoring and forgetting a partition's state
        self._restored: set[str] = set()

    def _restore(self, partition_id: str) -> None:
        """Read the partition's state back from the store, once per opening (the
        first caller does; a concurrent one waits and finds it done)."""
        with self._state_lock:
            if partition_id in self._restored:
                return
            s = self.settings
            position = partition_position(self.store, f"{s.namespace}/{s.event_hub}/{partition_id}/")
            self.windower.restore(
                partition_id, closed_until=position.landed_until, landed_through=position.last_sequence_number
            )
            self._restored.add(partition_id)
        log.info(
            "partition %s: landed through sequence number %s, last window ends %s",
            partition_id,
            position.last_sequence_number,
            position.landed_until,
        )

    def _forget(self, partition_id: str) -> None:
        """Drop a partition's state (open window included): the next batch restores it from the store."""
        with self._state_lock:
            self._restored.discard(partition_id)
            self.windower.restore(partition_id, closed_until=None, landed_through=None)

    def on_partition_initialize(self, partition_context: Any) -> None:
        """The processor opened a partition: its state comes from the store.

        No reset here: the SDK calls this from its load-balancing thread after the
        partition's consumer exists, so the first batch may already be in; the
        reset happens when the partition closes."""
        self._restore(partition_context.partition_id)

    def on_partition_close(self, partition_context: Any, reason: Any) -> None:
        """The processor closed a partition (after a callback error, lost ownership,
        shutdown) and will read again from the checkpoint: drop its open window."""
        self._forget(partition_context.partition_id)
        log.info("partition %s closed (%s): its open window will be read again", partition_context.partition_id, reason)

    def on_event_batch(self, partition_context: Any, events: list[EventData]) -> None:
        """The consumer callback: window the batch, write closed windows, then checkpoint.

        The SDK calls it with an empty list after `max_wait_time` of silence: only
        then (the partition is caught up) are idle windows closed by the clock. While
        a backlog is read, windows close by the events alone, so old windows are
        never cut short because the wall clock is far past them."""
        partition_id = partition_context.partition_id
        self._restore(partition_id)
        closed = self.windower.add(partition_id, events) if events else self.windower.flush_idle(partition_id)
        try:
            for window in closed:
                path = write_capture_window(self.store, self.settings, window)
                with self._lock:
                    self.report.files_written += 1
                    self.report.records_written += len(window.records)
                    self.report.paths.append(path)
                partition_context.update_checkpoint(window.last_event)  # only after the file is durable
                with self._lock:
                    self.report.checkpoints += 1
                log.info(
                    "partition %s: wrote %s (%d records, sequence numbers %d..%d), checkpointed",
                    partition_id,
                    self.store.describe(path),
                    len(window.records),
                    window.records[0].sequence_number,
                    window.records[-1].sequence_number,
                )
        except BaseException:
            # The processor closes the partition and reads again from the checkpoint;
            # the next batch starts from the files, not from this half-done state.
            self._forget(partition_id)
            raise

    def run(
        self,
        client: EventHubConsumerClient,
        *,
        duration: timedelta | None = None,
        starting_position: str = "-1",
        max_wait_time: float = 5.0,
        max_batch_size: int = 300,
    ) -> ConsumerReport:
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
                    on_partition_initialize=self.on_partition_initialize,
                    on_partition_close=self.on_partition_close,
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
        log.info(
            "consumer stopped after %.0f s: %d files, %d records; %d records in open windows will be read again",
            time.monotonic() - t0,
            self.report.files_written,
            self.report.records_written,
            sum(waiting.values()),
        )
        return self.report
