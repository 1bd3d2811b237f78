"""The lander: routing, windows, sequence numbers, resumption and idempotency."""

from __future__ import annotations

import subprocess
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.ingestion.capture.format import CapturePath, decode_capture_file, parse_enqueued_time
from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings, landed_records
from lakehouse.ingestion.capture.store import LocalCaptureStore, LockTimeout
from lakehouse.ingestion.events import Event
from lakehouse.ingestion.sources.csv_replay import replay_csv
from lakehouse.ingestion.sources.simulator import SimulatorConfig, simulate
from tests.python.concurrency import run_together

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _events(n: int, *, every: timedelta = timedelta(seconds=10), keys: int = 3, size: int = 20) -> list[Event]:
    return [Event(f"{i:0{size}d}".encode(), f"dev-{i % keys}", T0 + i * every, {"i": i}) for i in range(n)]


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
    report = CaptureLander(LocalCaptureStore(capture_dir), CaptureSettings(partitions=1, window_seconds=120)).land(
        events
    )
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
    report = CaptureLander(LocalCaptureStore(capture_dir), settings).land(
        events, start=T0, end=T0 + timedelta(minutes=3)
    )
    assert report.files_written == 6 and report.empty_files_written == 5 and report.records_written == 1


def test_landing_again_is_idempotent_and_resumes_numbering(capture_dir: Path) -> None:
    store = LocalCaptureStore(capture_dir)
    lander = CaptureLander(store, CaptureSettings(partitions=1, window_seconds=60))
    first, second = (
        _events(12, keys=1),
        [Event(b"later", "dev-0", T0 + timedelta(minutes=2, seconds=i)) for i in range(3)],
    )
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


# --------------------------------------------------------------------------- backfills


def _bodies_by_sequence(store: LocalCaptureStore, prefix: str = "") -> list[tuple[str, int, bytes]]:
    """(partition, sequence number, body) of every landed record, read back with fastavro."""
    return [
        (CapturePath.parse(path).partition_id, r["SequenceNumber"], r["Body"])
        for path, r in landed_records(store, prefix)
    ]


def test_a_backfill_lands_after_the_existing_files_with_new_sequence_numbers(capture_dir: Path, tmp_path: Path) -> None:
    store = LocalCaptureStore(capture_dir)
    settings = CaptureSettings(partitions=1, window_seconds=60)
    landed_at = T0 + timedelta(hours=2, seconds=30)
    lander = CaptureLander(store, settings, clock=lambda: landed_at)
    lander.land(_events(12, keys=1), end=T0 + timedelta(minutes=2))  # 10:00 .. 10:02, sequence numbers 0..11
    before = _files(capture_dir)

    # An older CSV (09:00 .. 09:00:40) that was never landed: a backfill.
    csv_file = tmp_path / "older.csv"
    csv_file.write_text(
        "ts,device_id,temperature_c\n" + "".join(f"2026-11-22T09:00:{10 * i:02d}Z,dev-0,{20 + i}\n" for i in range(5))
    )
    backfill = list(replay_csv(csv_file))
    report = lander.land(backfill)
    assert report.records_written == 5
    assert report.paths == ["telemetry-ns/telemetry/0/2026/11/22/12/01/00.avro"]  # the landing time's window
    assert (report.events_backfilled, report.events_already_landed) == (5, 0)
    assert {p: b for p, b in _files(capture_dir).items() if p in before} == before  # older files untouched
    records = [r for _, r in landed_records(store)]
    assert [r["SequenceNumber"] for r in records] == list(range(17))  # each once, numbered after 0..11
    assert [r["Body"] for r in records[12:]] == [e.body for e in backfill]
    assert {parse_enqueued_time(r["EnqueuedTimeUtc"]) for r in records[12:]} == {landed_at.replace(microsecond=0)}

    # Landing the same backfill again writes nothing: those records are landed.
    again = lander.land(backfill)
    assert (again.files_written, again.events_already_landed, again.events_backfilled) == (0, 5, 0)
    assert len(list(landed_records(store))) == 17


def test_skip_landed_keeps_the_old_skip(capture_dir: Path, tmp_path: Path) -> None:
    from lakehouse.cli.main import cli

    lake = tmp_path / "lake"
    now = datetime.now(UTC).replace(microsecond=0)
    newer, older = tmp_path / "newer.csv", tmp_path / "older.csv"
    newer.write_text(
        "ts,device_id\n" + "".join(f"{(now - timedelta(hours=1, seconds=i)).isoformat()},dev-0\n" for i in range(3))
    )
    older.write_text(
        "ts,device_id\n" + "".join(f"{(now - timedelta(hours=3, seconds=i)).isoformat()},dev-0\n" for i in range(4))
    )
    run = ["--lake", str(lake), "replay-csv", "--partitions", "1", "--no-empty-files"]
    assert CliRunner().invoke(cli, [*run, str(newer)], catch_exceptions=False).exit_code == 0
    store = LocalCaptureStore(lake / "capture")
    files = sorted(store.list_files(""))

    skipped = CliRunner().invoke(cli, [*run, "--skip-landed", str(older)], catch_exceptions=False)
    assert skipped.exit_code == 0 and "4 events were already landed and skipped" in skipped.output
    assert sorted(store.list_files("")) == files

    landed = CliRunner().invoke(cli, [*run, str(older)], catch_exceptions=False)
    assert landed.exit_code == 0 and "landed 4 records" in landed.output, landed.output
    assert [n for _, n, _ in _bodies_by_sequence(store)] == list(range(7))
    new_files = sorted(set(store.list_files("")) - set(files))
    assert new_files and min(new_files) > max(files)


def test_a_re_simulated_overlapping_period_lands_only_newer_telemetry(capture_dir: Path) -> None:
    """`lakehouse demo` run twice: the second period overlaps the first (different
    random readings for the overlap); only the part after the landed files lands."""
    store = LocalCaptureStore(capture_dir)
    settings = CaptureSettings(partitions=2, window_seconds=300, write_empty_files=True)
    first = SimulatorConfig(start=T0, duration=timedelta(minutes=30), devices=5)
    second = SimulatorConfig(start=T0 + timedelta(minutes=10), duration=timedelta(minutes=30), devices=5)
    sim1, sim2 = simulate(first), simulate(second)
    CaptureLander(store, settings).land(sim1.events, start=first.start, end=first.end)
    report = CaptureLander(store, settings).land(sim2.events, start=second.start, end=second.end)
    newer = [e for e in sim2.events if e.enqueued_time >= first.end]
    assert report.records_written == len(newer)
    assert report.events_already_landed == len(sim2.events) - len(newer)
    assert sorted(b for _, _, b in _bodies_by_sequence(store)) == sorted(e.body for e in sim1.events + newer)


# --------------------------------------------------------------------------- concurrent landings


class SlowFirstWrite(LocalCaptureStore):
    """The local store, with its first write delayed: both landings read their
    positions before either writes, as two real runs starting together do."""

    def __init__(self, root: Path, delay: float) -> None:
        super().__init__(root)
        self.delay, self.writes = delay, 0

    def write_file(self, path: str, data: bytes) -> None:
        self.writes += 1
        if self.writes == 1:
            time.sleep(self.delay)
        super().write_file(path, data)


def test_two_concurrent_landings_into_one_lake_wait_for_each_other(capture_dir: Path) -> None:
    settings = CaptureSettings(partitions=2, window_seconds=60)
    streams = [
        [Event(f'{{"run":{run},"i":{i}}}'.encode(), f"dev-{i % 3}", T0 + timedelta(seconds=7 * i)) for i in range(40)]
        for run in (1, 2)
    ]
    reports = run_together(
        [
            lambda events=events: CaptureLander(SlowFirstWrite(capture_dir, 0.5), settings, lock_timeout=30).land(
                events
            )
            for events in streams
        ],
        timeout=60,
    )
    landed = _bodies_by_sequence(LocalCaptureStore(capture_dir))
    # Every record exactly once (0 lost, 0 duplicated), sequence numbers unique per partition.
    assert sorted(b for _, _, b in landed) == sorted(e.body for events in streams for e in events)
    for partition in ("0", "1"):
        numbers = [n for p, n, _ in landed if p == partition]
        assert numbers == list(range(len(numbers)))
    assert sum(r.files_written for r in reports) == len(LocalCaptureStore(capture_dir).list_files(""))
    assert not list(capture_dir.rglob(".lock"))  # the lock file goes with its holder


def test_a_second_writer_waits_for_the_lock_then_fails_with_a_clear_error(capture_dir: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from lakehouse.ingestion.capture.store import LocalCaptureStore\n"
            "with LocalCaptureStore(Path(sys.argv[1])).lock('telemetry-ns/telemetry'):\n"
            "    print('locked', flush=True); time.sleep(float(sys.argv[2]))",
            str(capture_dir),
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(LockTimeout, match=rf"locked by another writer \(pid {holder.pid}\) for over 1 s"):
            CaptureLander(LocalCaptureStore(capture_dir), lock_timeout=1).land(_events(5))
        assert 1 <= time.monotonic() - t0 < 5  # waited for the lock, then gave up
        assert list(capture_dir.rglob("*.avro")) == []
        report = CaptureLander(LocalCaptureStore(capture_dir), lock_timeout=30).land(_events(5))  # waits its turn
        assert report.records_written == 5
        assert holder.wait(10) == 0  # it had the lock until it was done
    finally:
        holder.kill()
        holder.wait()
