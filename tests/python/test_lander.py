"""The lander: routing, windows, sequence numbers, resumption and idempotency."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestion.capture_format import CapturePath, decode_capture_file, parse_enqueued_time
from ingestion.capture_store import LocalCaptureStore
from ingestion.events import Event
from ingestion.lander import CaptureLander, CaptureSettings, landed_records

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _events(n: int, *, every: timedelta = timedelta(seconds=10), keys: int = 3, size: int = 20) -> list[Event]:
    return [
        Event(f"{i:0{size}d}".encode(), f"dev-{i % keys}", T0 + i * every, {"i": i})
        for i in range(n)
    ]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_events_route_by_key_and_number_per_partition(capture_dir: Path) -> None:
    settings = CaptureSettings(partitions=2, window_seconds=60)
    events = _events(30)
    CaptureLander(LocalCaptureStore(capture_dir), settings).land(events)
    got = list(landed_records(LocalCaptureStore(capture_dir)))
    assert len(got) == 30
    by_partition: dict[str, list[dict]] = {}
    for path, record in got:
        partition = CapturePath.parse(path).partition_id
        key = record["SystemProperties"]["x-opt-partition-key"]
        assert partition == str(zlib.crc32(key.encode()) % 2)
        by_partition.setdefault(partition, []).append(record)
    for records in by_partition.values():
        assert [r["SequenceNumber"] for r in records] == list(range(len(records)))
        offsets = [int(r["Offset"]) for r in records]
        assert offsets == [sum(len(r["Body"]) for r in records[:i]) for i in range(len(records))]
        times = [parse_enqueued_time(r["EnqueuedTimeUtc"]) for r in records]
        assert times == sorted(times)


def test_files_are_named_for_the_window_end_and_hold_only_its_events(capture_dir: Path) -> None:
    events = _events(30, keys=1)  # 10:00:00 .. 10:04:50, one partition
    report = CaptureLander(LocalCaptureStore(capture_dir), CaptureSettings(partitions=1, window_seconds=120)).land(events)
    assert report.paths == [
        "telemetry-ns/telemetry/0/2026/11/22/10/02/00.avro",
        "telemetry-ns/telemetry/0/2026/11/22/10/04/00.avro",
        "telemetry-ns/telemetry/0/2026/11/22/10/06/00.avro",
    ]
    for path in report.paths:
        end = CapturePath.parse(path).window_end
        for record in decode_capture_file((capture_dir / path).read_bytes()):
            assert end - timedelta(seconds=120) <= parse_enqueued_time(record["EnqueuedTimeUtc"]) < end


def test_size_limit_closes_files_early_at_whole_seconds(capture_dir: Path) -> None:
    events = _events(20, every=timedelta(seconds=1), keys=1, size=100)
    settings = CaptureSettings(partitions=1, window_seconds=60, max_file_bytes=5 * (100 + 64))
    report = CaptureLander(LocalCaptureStore(capture_dir), settings).land(events)
    sizes = [len(decode_capture_file((capture_dir / p).read_bytes())) for p in report.paths]
    assert sizes == [5, 5, 5, 5]
    assert report.paths[0].endswith("10/00/05.avro") and report.paths[-1].endswith("10/01/00.avro")


def test_empty_windows_get_header_only_files_when_asked(capture_dir: Path) -> None:
    settings = CaptureSettings(partitions=2, window_seconds=60, write_empty_files=True)
    events = [Event(b"x", "dev-0", T0 + timedelta(seconds=5))]
    report = CaptureLander(LocalCaptureStore(capture_dir), settings).land(events, start=T0, end=T0 + timedelta(minutes=3))
    assert report.files_written == 6 and report.empty_files_written == 5 and report.records_written == 1


def test_landing_again_is_idempotent_and_resumes_numbering(capture_dir: Path) -> None:
    store = LocalCaptureStore(capture_dir)
    lander = CaptureLander(store, CaptureSettings(partitions=1, window_seconds=60))
    first, second = _events(12, keys=1), [
        Event(b"later", "dev-0", T0 + timedelta(minutes=2, seconds=i)) for i in range(3)
    ]
    lander.land(first, end=T0 + timedelta(minutes=2))
    before = _files(capture_dir)
    again = lander.land(first, end=T0 + timedelta(minutes=2))
    assert (again.files_written, again.events_already_landed) == (0, 12)
    assert _files(capture_dir) == before
    lander.land(second, end=T0 + timedelta(minutes=3))
    records = [r for _, r in landed_records(store)]
    assert [r["SequenceNumber"] for r in records] == list(range(15))
    assert int(records[12]["Offset"]) == sum(len(e.body or b"") for e in first)


def test_a_crashed_landing_resumes_where_its_files_stop(capture_dir: Path) -> None:
    store = LocalCaptureStore(capture_dir)
    settings = CaptureSettings(partitions=1, window_seconds=60)
    events = _events(30, keys=1)
    CaptureLander(store, settings).land(events, end=T0 + timedelta(minutes=5))
    complete = _files(capture_dir)
    # Crash after the first two windows: remove the later files, then land it all again.
    for path in sorted(complete)[2:]:
        (capture_dir / path).unlink()
    resumed = CaptureLander(store, settings).land(events, end=T0 + timedelta(minutes=5))
    assert resumed.events_already_landed == 12
    assert _files(capture_dir) == complete


def test_no_temporary_files_are_left_behind(capture_dir: Path) -> None:
    CaptureLander(LocalCaptureStore(capture_dir)).land(_events(10))
    assert not [p for p in capture_dir.rglob("*") if p.is_file() and not p.name.endswith(".avro")]


def test_events_after_the_landing_end_are_refused(capture_dir: Path) -> None:
    with pytest.raises(ValueError, match="after the landing end"):
        CaptureLander(LocalCaptureStore(capture_dir)).land(_events(10), end=T0 + timedelta(seconds=30))
