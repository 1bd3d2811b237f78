"""The lander: turns a stream of events into Event Hubs Capture files.

It does locally what Event Hubs + Capture do in Azure: route each event to a
partition by its partition key, give it the partition's next sequence number and
offset, and write one Capture file per partition and capture window (time- and
size-based), named for the end of the window.

Landing is resumable and idempotent, with no state besides the files: a
partition's position (last window end, last sequence number and offset) is read
back from the files already landed, under a lock per hub (`store.lock`), so two
landings into one hub run one after the other and never number the same
sequence numbers twice. Files are create-only: a landed file is never replaced.

Which events are "already landed" (the events at or after a partition's last
landed window end are always new):

- Stream landings (no `start`, e.g. `replay-csv`, `poll-http`): an older event is
  already landed when the partition's files (from its own window on) hold an
  identical record - same partition key, body and properties, counted, so a
  stream's intentional duplicates stay. Re-running a landing or resuming a
  crashed one writes nothing twice. An older event that is *not* in the files is
  a backfill: Event Hubs would enqueue it now, so it is landed now - enqueued at
  the landing time (at the earliest the partition's last window end), after the
  partition's last file, with the next sequence numbers.
- Period landings (`start` and `end` given: the simulator's "the hub's traffic
  over this period"): the part of the period before a partition's last window
  end is already landed and skipped, so `lakehouse demo` run twice lands only the
  newer telemetry (a re-simulated, overlapping period is not new traffic).
- `skip_landed=True` (`--skip-landed`) applies the period rule to any landing:
  every event before the last window end is skipped; `skip_landed=False` treats a
  period like a stream.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tqdm import tqdm

from lakehouse.ingestion.capture.format import CapturePath, CaptureRecord, Codec, encode_capture_file, iter_capture_file
from lakehouse.ingestion.capture.store import DEFAULT_LOCK_TIMEOUT, CaptureStore
from lakehouse.ingestion.events import Event, utc

log = logging.getLogger(__name__)
RECORD_OVERHEAD_BYTES = 64  # Avro framing per record beside the body, for size-based windows


@dataclass(frozen=True)
class CaptureSettings:
    """An Event Hub with Capture enabled: names, partitions and the capture window."""

    namespace: str = "telemetry-ns"
    event_hub: str = "telemetry"
    partitions: int = 4
    window_seconds: int = 300  # Azure allows 60..900 s
    max_file_bytes: int = 300 * 1024 * 1024  # Azure allows 10..500 MB
    codec: Codec = "deflate"
    write_empty_files: bool = False

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError("partitions must be at least 1")
        if self.window_seconds < 1:
            raise ValueError("window_seconds must be at least 1")
        if self.max_file_bytes < 1:
            raise ValueError("max_file_bytes must be at least 1")

    def partition_for(self, partition_key: str | None, fallback: int) -> str:
        """Stable partition routing: CRC-32 of the key (round-robin without a key)."""
        if partition_key is None:
            return str(fallback % self.partitions)
        return str(zlib.crc32(partition_key.encode()) % self.partitions)


@dataclass
class PartitionPosition:
    """Where a partition's landed files stop."""

    landed_until: datetime | None = None
    next_sequence_number: int = 0
    next_offset: int = 0

    @property
    def last_sequence_number(self) -> int | None:
        """The sequence number of the partition's last landed record (None: no record yet)."""
        return self.next_sequence_number - 1 if self.next_sequence_number else None


def partition_position(
    store: CaptureStore, prefix: str, *, hours: tuple[datetime, datetime] | None = None
) -> PartitionPosition:
    """A partition's position read back from its landed files under `prefix` (newest
    first, each file streamed, so only the last record is kept).

    With `hours` (first, last), only the hour folders from the first's hour to the
    last's are listed, not the partition's whole history: enough when the caller
    knows that every file that matters is named in that span."""
    if hours is None:
        paths = store.list_files(prefix)
    else:
        hour, final_hour = (utc(t).replace(minute=0, second=0, microsecond=0) for t in hours)
        paths = []
        while hour <= final_hour:
            paths += store.list_files(f"{prefix}{hour:%Y/%m/%d/%H}/")
            hour += timedelta(hours=1)
        paths.sort()
    if not paths:
        return PartitionPosition()
    position = PartitionPosition(landed_until=CapturePath.parse(paths[-1]).window_end)
    for path in reversed(paths):
        with store.open_file(path) as handle:
            last = next(iter(deque(iter_capture_file(handle), maxlen=1)), None)
        if last is not None:
            position.next_sequence_number = last["SequenceNumber"] + 1
            position.next_offset = int(last["Offset"]) + len(last["Body"] or b"")
            break
    return position


@dataclass
class LandingReport:
    """What a landing run did."""

    files_written: int = 0
    empty_files_written: int = 0
    records_written: int = 0
    bytes_written: int = 0
    events_already_landed: int = 0
    events_backfilled: int = 0  # older than the partition's files, landed now after them
    paths: list[str] = field(default_factory=list)

    def merge(self, other: LandingReport) -> None:
        self.files_written += other.files_written
        self.empty_files_written += other.empty_files_written
        self.records_written += other.records_written
        self.bytes_written += other.bytes_written
        self.events_already_landed += other.events_already_landed
        self.events_backfilled += other.events_backfilled
        self.paths.extend(other.paths)


def _floor(t: datetime, seconds: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _identity(event: Event) -> Hashable:
    """What makes two events the same message: partition key, body, properties."""
    return event.partition_key, event.body, tuple(sorted(event.properties.items()))


def _record_identity(record: dict[str, Any]) -> Hashable:
    """`_identity` of a landed Capture record."""
    return (
        record["SystemProperties"].get("x-opt-partition-key"),
        record["Body"],
        tuple(sorted(record["Properties"].items())),
    )


class CaptureLander:
    """Writes Capture files for one Event Hub into a CaptureStore.

    `lock_timeout`: how long a landing waits for another landing into the same
    hub to finish before it gives up with `LockTimeout`. `clock`: the time a
    backfill is enqueued at (the wall clock)."""

    def __init__(
        self,
        store: CaptureStore,
        settings: CaptureSettings | None = None,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings or CaptureSettings()
        self.lock_timeout = lock_timeout
        self.clock = clock

    def _prefix(self, partition_id: str) -> str:
        return f"{self.settings.namespace}/{self.settings.event_hub}/{partition_id}/"

    def position(self, partition_id: str) -> PartitionPosition:
        """Read a partition's position back from its landed files (newest first)."""
        return partition_position(self.store, self._prefix(partition_id))

    def land(
        self,
        events: Iterable[Event],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        progress: bool = False,
        skip_landed: bool | None = None,
    ) -> LandingReport:
        """Land `events` (any order) in windows from `start` to `end`, holding the hub's lock.

        `start`/`end` bound the period the stream covers (e.g. a simulated hour):
        with `write_empty_files` every window of the period gets a file, and the last
        window of each partition closes at `end`, so a later landing continues from
        there. Without them, windows span the events, aligned to the window size.
        `skip_landed` (default: only for period landings) skips every event older
        than a partition's files instead of backfilling it (module docstring).
        """
        skip = (start is not None and end is not None) if skip_landed is None else skip_landed
        by_partition: dict[str, list[Event]] = defaultdict(list)
        for index, event in enumerate(events):
            by_partition[self.settings.partition_for(event.partition_key, index)].append(event)
        partitions = [str(p) for p in range(self.settings.partitions)]
        report = LandingReport()
        bar = tqdm(total=sum(map(len, by_partition.values())), unit="event", desc="landing", disable=not progress)
        with self.store.lock(f"{self.settings.namespace}/{self.settings.event_hub}", timeout=self.lock_timeout):
            for partition_id in partitions:
                partition_events = sorted(by_partition.get(partition_id, []), key=lambda e: utc(e.enqueued_time))
                report.merge(self._land_partition(partition_id, partition_events, start, end, skip))
                bar.update(len(partition_events))
        bar.close()
        log.info(
            "landed %d records in %d files (%d empty), %d bytes; %d events were already landed, %d backfilled",
            report.records_written,
            report.files_written,
            report.empty_files_written,
            report.bytes_written,
            report.events_already_landed,
            report.events_backfilled,
        )
        return report

    def _not_yet_landed(self, partition_id: str, older: list[Event]) -> list[Event]:
        """The events of `older` (enqueued before the partition's last window end) that
        no landed record of the partition matches (`_identity`, counted). Files are
        streamed from the first that could hold the earliest of them."""
        wanted = Counter(_identity(e) for e in older)
        earliest = min(utc(e.enqueued_time) for e in older)
        found: Counter[Hashable] = Counter()
        for path in self.store.list_files(self._prefix(partition_id)):
            if CapturePath.parse(path).window_end <= earliest:
                continue  # ends before the earliest event was enqueued: cannot hold any of them
            with self.store.open_file(path) as handle:
                for record in iter_capture_file(handle):
                    key = _record_identity(record)
                    if found[key] < wanted[key]:
                        found[key] += 1
            if found == wanted:
                break
        remaining = []
        for event in older:
            key = _identity(event)
            if found[key]:
                found[key] -= 1
            else:
                remaining.append(event)
        return remaining

    def _land_partition(
        self, partition_id: str, events: list[Event], start: datetime | None, end: datetime | None, skip: bool
    ) -> LandingReport:
        report = LandingReport()
        position = self.position(partition_id)
        if position.landed_until is not None:
            until = position.landed_until
            fresh = [e for e in events if utc(e.enqueued_time) >= until]
            older = [e for e in events if utc(e.enqueued_time) < until]
            backfill = [] if skip or not older else self._not_yet_landed(partition_id, older)
            report.events_already_landed = len(older) - len(backfill)
            if backfill:
                # Event Hubs would enqueue them now: after the partition's last file.
                stamp = max(utc(self.clock()), until)
                backfill = [replace(e, enqueued_time=stamp) for e in backfill]
                report.events_backfilled = len(backfill)
                if end is not None and stamp >= utc(end):
                    end = None  # the backfill lies past the requested end: windows follow the events
                log.info(
                    "partition %s: %d events older than its files (%s) are backfilled at %s",
                    partition_id,
                    len(backfill),
                    until,
                    stamp,
                )
            events = sorted(fresh + backfill, key=lambda e: utc(e.enqueued_time))
        if not events and (start is None or end is None or not self.settings.write_empty_files):
            return report
        begin = position.landed_until or utc(start or events[0].enqueued_time)
        for window_start, window_end, window_events in self._windows(events, begin, end):
            records = []
            for event in window_events:
                records.append(
                    CaptureRecord(
                        sequence_number=position.next_sequence_number,
                        offset=position.next_offset,
                        enqueued_time=event.enqueued_time,
                        body=event.body,
                        properties=event.properties,
                        system_properties=({"x-opt-partition-key": event.partition_key} if event.partition_key else {}),
                    )
                )
                position.next_sequence_number += 1
                position.next_offset += len(event.body or b"")
            if not records and not self.settings.write_empty_files:
                continue
            path = str(CapturePath(self.settings.namespace, self.settings.event_hub, partition_id, window_end))
            data = encode_capture_file(records, codec=self.settings.codec, sync_key=path)
            self.store.write_file(path, data)
            report.files_written += 1
            report.empty_files_written += not records
            report.records_written += len(records)
            report.bytes_written += len(data)
            report.paths.append(path)
            log.debug("wrote %s: %d records [%s, %s)", path, len(records), window_start, window_end)
        return report

    def _windows(
        self, events: list[Event], begin: datetime, end: datetime | None
    ) -> Iterator[tuple[datetime, datetime, list[Event]]]:
        """Capture windows over time-sorted events: aligned to `window_seconds`, split
        at whole seconds when a file would pass `max_file_bytes`, the first starting
        at `begin` (where the partition's landed files stop) and the last closing at
        `end`."""
        s = self.settings
        step = timedelta(seconds=s.window_seconds)
        start = begin
        stop = utc(end) if end is not None else _floor(utc(events[-1].enqueued_time), s.window_seconds) + step
        if events and utc(events[-1].enqueued_time) >= stop:
            raise ValueError(f"event enqueued at {events[-1].enqueued_time} is after the landing end {stop}")
        i = 0
        while start < stop:
            window_end = min(_floor(start, s.window_seconds) + step, stop)
            batch: list[Event] = []
            size = 0
            while i < len(events) and utc(events[i].enqueued_time) < window_end:
                event = events[i]
                event_size = len(event.body or b"") + RECORD_OVERHEAD_BYTES
                second = _floor(utc(event.enqueued_time), 1)
                if batch and size + event_size > s.max_file_bytes and second > _floor(utc(batch[-1].enqueued_time), 1):
                    # The size limit closes the window at this whole second.
                    yield start, second, batch
                    start, batch, size = second, [], 0
                batch.append(event)
                size += event_size
                i += 1
            yield start, window_end, batch
            start = window_end


def landed_records(store: CaptureStore, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """Every record of every Capture file under `prefix`: (path, record), streamed."""
    for path in store.list_files(prefix):
        with store.open_file(path) as handle:
            for record in iter_capture_file(handle):
                yield path, record
