"""The lander: turns a stream of events into Event Hubs Capture files.

It does locally what Event Hubs + Capture do in Azure: route each event to a
partition by its partition key, give it the partition's next sequence number and
offset, and write one Capture file per partition and capture window (time- and
size-based), named for the end of the window.

Landing is resumable and idempotent. A partition's position (last window end,
last sequence number and offset) is read back from the files already landed, so
there is no state besides the files themselves: events at or before a partition's
last landed window end are counted as already landed and skipped, a crashed run
resumes where its files stop, and running the same landing twice writes nothing
new. Rewriting a window with the same records gives the same path and bytes.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tqdm import tqdm

from ingestion.capture_format import CapturePath, CaptureRecord, Codec, decode_capture_file, encode_capture_file
from ingestion.capture_store import CaptureStore
from ingestion.events import Event, utc

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


@dataclass
class LandingReport:
    """What a landing run did."""

    files_written: int = 0
    empty_files_written: int = 0
    records_written: int = 0
    bytes_written: int = 0
    events_already_landed: int = 0
    paths: list[str] = field(default_factory=list)

    def merge(self, other: LandingReport) -> None:
        self.files_written += other.files_written
        self.empty_files_written += other.empty_files_written
        self.records_written += other.records_written
        self.bytes_written += other.bytes_written
        self.events_already_landed += other.events_already_landed
        self.paths.extend(other.paths)


def _floor(t: datetime, seconds: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


class CaptureLander:
    """Writes Capture files for one Event Hub into a CaptureStore."""

    def __init__(self, store: CaptureStore, settings: CaptureSettings | None = None) -> None:
        self.store = store
        self.settings = settings or CaptureSettings()

    def position(self, partition_id: str) -> PartitionPosition:
        """Read a partition's position back from its landed files (newest first)."""
        s = self.settings
        prefix = f"{s.namespace}/{s.event_hub}/{partition_id}/"
        paths = self.store.list_files(prefix)
        if not paths:
            return PartitionPosition()
        position = PartitionPosition(landed_until=CapturePath.parse(paths[-1]).window_end)
        for path in reversed(paths):
            records = decode_capture_file(self.store.read_file(path))
            if records:
                last = records[-1]
                position.next_sequence_number = last["SequenceNumber"] + 1
                position.next_offset = int(last["Offset"]) + len(last["Body"] or b"")
                break
        return position

    def land(
        self,
        events: Iterable[Event],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        progress: bool = False,
    ) -> LandingReport:
        """Land `events` (any order) in windows from `start` to `end`.

        `start`/`end` bound the period the stream covers (e.g. a simulated hour):
        with `write_empty_files` every window of the period gets a file, and the last
        window of each partition closes at `end`, so a later landing continues from
        there. Without them, windows span the events, aligned to the window size.
        """
        by_partition: dict[str, list[Event]] = defaultdict(list)
        for index, event in enumerate(events):
            by_partition[self.settings.partition_for(event.partition_key, index)].append(event)
        partitions = [str(p) for p in range(self.settings.partitions)]
        report = LandingReport()
        bar = tqdm(total=sum(map(len, by_partition.values())), unit="event", desc="landing", disable=not progress)
        for partition_id in partitions:
            partition_events = sorted(by_partition.get(partition_id, []), key=lambda e: utc(e.enqueued_time))
            report.merge(self._land_partition(partition_id, partition_events, start, end))
            bar.update(len(partition_events))
        bar.close()
        log.info(
            "landed %d records in %d files (%d empty), %d bytes; %d events were already landed",
            report.records_written, report.files_written, report.empty_files_written,
            report.bytes_written, report.events_already_landed,
        )
        return report

    def _land_partition(
        self, partition_id: str, events: list[Event], start: datetime | None, end: datetime | None
    ) -> LandingReport:
        report = LandingReport()
        position = self.position(partition_id)
        if position.landed_until is not None:
            fresh = [e for e in events if utc(e.enqueued_time) >= position.landed_until]
            report.events_already_landed = len(events) - len(fresh)
            events = fresh
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
                        system_properties=(
                            {"x-opt-partition-key": event.partition_key} if event.partition_key else {}
                        ),
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
    """Every record of every Capture file under `prefix`: (path, record)."""
    for path in store.list_files(prefix):
        for record in decode_capture_file(store.read_file(path)):
            yield path, record

