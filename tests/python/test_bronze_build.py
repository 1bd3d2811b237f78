"""End to end on local Spark: Capture files -> the bronze loader -> bronze Delta table."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastavro
import pytest

from lakehouse.ingestion.capture.format import CAPTURE_SCHEMA, CapturePath, parse_enqueued_time
from lakehouse.paths import Lake
from lakehouse.pipeline.bronze_load import BronzeLoader, BronzeLoadReport
from tests.python.lake_helpers import bronze_keys, capture_records, land_simulation

pytestmark = pytest.mark.spark
HUB = "bronze-e2e"


def load_bronze(lake: Lake) -> BronzeLoadReport:
    from lakehouse.spark.session import spark_session

    return BronzeLoader(spark_session(lake), lake).load_new_files()


def _expected_keys(lake: Lake, hub: str) -> list[tuple[int, int]]:
    return sorted((int(CapturePath.parse(p).partition_id), r["SequenceNumber"]) for p, r in capture_records(lake, hub))


def test_spark_avro_reads_writer_files_with_the_capture_schema(lake: Lake, spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, report = land_simulation(
        lake, hub="spark-avro-read", start=datetime(2026, 1, 5, tzinfo=UTC), duration=timedelta(minutes=10), devices=3
    )
    path = Path(lake.capture) / report.paths[0]
    df = spark.read.format("avro").load(str(path))
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        ("SequenceNumber", "bigint"),
        ("Offset", "string"),
        ("EnqueuedTimeUtc", "string"),
        ("SystemProperties", "map<string,struct<member0:bigint,member1:double,member2:string,member3:binary>>"),
        ("Properties", "map<string,struct<member0:bigint,member1:double,member2:string,member3:binary>>"),
        ("Body", "binary"),
    ]
    with open(path, "rb") as handle:
        expected = [
            (r["SequenceNumber"], r["Offset"], r["EnqueuedTimeUtc"], r["Body"]) for r in fastavro.reader(handle)
        ]
    got = [(r.SequenceNumber, r.Offset, r.EnqueuedTimeUtc, bytes(r.Body)) for r in df.collect()]
    assert got == expected and got


def test_azure_format_file_loads_with_the_right_timestamp(lake: Lake, spark) -> None:  # type: ignore[no-untyped-def]
    """A file as Azure writes it (null codec, US-style time), built without our writer."""
    record = {
        "SequenceNumber": 42,
        "Offset": "4096",
        "EnqueuedTimeUtc": "11/16/2016 4:44:11 PM",
        "SystemProperties": {"x-opt-enqueued-time": 1479314651000},
        "Properties": {},
        "Body": b'{"field1": "value1", "field2": "value2"}',
    }
    buffer = io.BytesIO()
    fastavro.writer(buffer, CAPTURE_SCHEMA, [record], codec="null")
    target = Path(lake.capture) / "azurens/azurehub/1/2016/11/16/16/45/00.avro"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    load_bronze(lake)
    from lakehouse.spark.session import spark_session

    row = (
        spark_session(lake)
        .sql(
            "select *, cast(enqueued_at as string) as enqueued_text from bronze.bronze_capture_events "
            "where event_hub = 'azurehub'"
        )
        .collect()
    )
    assert len(row) == 1
    r = row[0]
    assert (r.namespace, r.partition_id, r.sequence_number, r.capture_offset) == ("azurens", 1, 42, "4096")
    assert r.enqueued_time_utc == "11/16/2016 4:44:11 PM"
    assert r.enqueued_text == "2016-11-16 16:44:11"
    assert bytes(r.body) == b'{"field1": "value1", "field2": "value2"}'
    assert r.capture_record_id == "azurens/azurehub/1/42"


def test_bronze_is_incremental_by_file_and_never_duplicates(lake: Lake, spark) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    _, first = land_simulation(lake, hub=HUB, start=start, duration=timedelta(minutes=30))
    assert first.records_written == 20 * 60
    report = load_bronze(lake)
    keys = bronze_keys(spark, HUB)
    assert keys == _expected_keys(lake, HUB) and len(keys) == first.records_written
    assert report.records == first.records_written
    # Good files are decoded by one Avro read; none was checked on its own.
    assert "read" in report.seconds and "check" not in report.seconds
    times = [parse_enqueued_time(r["EnqueuedTimeUtc"]) for _, r in capture_records(lake, HUB)]
    assert report.max_enqueued_at == max(times)

    # Build again: nothing new, seen from the listing alone (the manifest is not read).
    again = load_bronze(lake)
    assert bronze_keys(spark, HUB) == keys
    assert again.files == 0 and "manifest lookup" not in again.seconds

    # Land a file again (same bytes, new modification time): still nothing new.
    landed = Path(lake.capture) / first.paths[3]
    data = landed.read_bytes()
    landed.unlink()
    landed.write_bytes(data)
    os.utime(landed, (landed.stat().st_atime + 60, landed.stat().st_mtime + 60))
    load_bronze(lake)
    assert bronze_keys(spark, HUB) == keys

    # Land more: only the new records are added.
    _, second = land_simulation(lake, hub=HUB, start=start + timedelta(minutes=30), duration=timedelta(minutes=15))
    more = load_bronze(lake)
    assert more.files > 0 and "manifest lookup" in more.seconds
    after = bronze_keys(spark, HUB)
    assert len(after) == first.records_written + second.records_written
    assert after == _expected_keys(lake, HUB)
    enqueued = spark.sql(
        "select min(enqueued_at) as lo, max(enqueued_at) as hi from bronze.bronze_capture_events "
        f"where event_hub = '{HUB}'"
    ).collect()[0]
    times = [parse_enqueued_time(r["EnqueuedTimeUtc"]) for _, r in capture_records(lake, HUB)]
    assert (enqueued.lo.replace(tzinfo=UTC), enqueued.hi.replace(tzinfo=UTC)) == (min(times), max(times))


def test_an_incremental_load_reads_only_the_new_files(lake: Lake, spark) -> None:  # type: ignore[no-untyped-def]
    """Proved by the files themselves, not from timing: after the first load, the first
    files are overwritten in place with garbage of the same size. A load that read them
    would set them aside as corrupt; the second load reads the new files only."""
    hub = "only-new-files"
    start = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    _, first = land_simulation(lake, hub=hub, start=start, duration=timedelta(minutes=15), devices=3)
    load_bronze(lake)
    _, second = land_simulation(
        lake, hub=hub, start=start + timedelta(minutes=15), duration=timedelta(minutes=10), devices=3
    )
    originals = {p: (Path(lake.capture) / p).read_bytes() for p in first.paths}
    for path, data in originals.items():
        (Path(lake.capture) / path).write_bytes(b"\xff" * len(data))
    try:
        report = load_bronze(lake)
    finally:
        for path, data in originals.items():
            (Path(lake.capture) / path).write_bytes(data)
    assert report.bad_files == []
    assert report.files == len(second.paths) and report.rows_added == second.records_written
    assert bronze_keys(spark, hub) == _expected_keys(lake, hub)


def _corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


def test_bad_files_are_set_aside_with_a_reason_and_their_neighbours_load(lake: Lake, spark) -> None:  # type: ignore[no-untyped-def]
    hub = "bad-files"
    _, report = land_simulation(
        lake,
        hub=hub,
        start=datetime(2026, 2, 3, 9, 0, tzinfo=UTC),
        duration=timedelta(minutes=30),
        devices=4,
        partitions=1,
    )
    paths = [p for p in report.paths if (Path(lake.capture) / p).stat().st_size > 1000]
    zero, truncated, corrupt, not_avro, other_schema, *_good = paths
    expected_good = sorted(
        (int(CapturePath.parse(p).partition_id), r["SequenceNumber"])
        for p, r in capture_records(lake, hub)
        if p not in paths[:5]
    )
    (Path(lake.capture) / zero).write_bytes(b"")
    data = (Path(lake.capture) / truncated).read_bytes()
    (Path(lake.capture) / truncated).write_bytes(data[: len(data) * 2 // 3])
    (Path(lake.capture) / corrupt).write_bytes(_corrupt((Path(lake.capture) / corrupt).read_bytes()))
    (Path(lake.capture) / not_avro).write_text("SequenceNumber,Body\n1,hello\n")
    buffer = io.BytesIO()
    fastavro.writer(buffer, {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "long"}]}, [{"x": 1}])
    (Path(lake.capture) / other_schema).write_bytes(buffer.getvalue())

    loaded = load_bronze(lake)

    assert "check" in loaded.seconds  # the one read failed: each file was checked
    reasons = {b.path: (b.problem or "").split(":")[0] for b in loaded.bad_files}
    assert reasons == {
        zero: "zero_bytes",
        truncated: "corrupt",
        corrupt: "corrupt",
        not_avro: "not_avro",
        other_schema: "not_capture_schema",
    }
    for path, reason in reasons.items():
        assert not (Path(lake.capture) / path).exists()
        note = json.loads((Path(lake.bad_capture_files) / (path + ".reason.json")).read_text())
        assert note["path"] == path and note["reason"].startswith(reason)
        assert (Path(lake.bad_capture_files) / path).exists()
    assert bronze_keys(spark, hub) == expected_good and expected_good
    # The next load does not trip on them again.
    assert load_bronze(lake).bad_files == []


def test_a_key_in_two_new_files_is_loaded_once(lake: Lake, spark) -> None:  # type: ignore[no-untyped-def]
    hub = "duplicate-keys"
    _, report = land_simulation(
        lake,
        hub=hub,
        start=datetime(2026, 2, 4, 9, 0, tzinfo=UTC),
        duration=timedelta(minutes=10),
        devices=3,
        partitions=1,
    )
    source = next(p for p in report.paths if (Path(lake.capture) / p).stat().st_size > 1000)
    copy = Path(lake.capture) / f"telemetry-ns/{hub}/0/2026/02/04/09/59/59.avro"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes((Path(lake.capture) / source).read_bytes())  # the same records in a second new file
    copied = sum(1 for _ in fastavro.reader(io.BytesIO(copy.read_bytes())))

    loaded = load_bronze(lake)

    keys = bronze_keys(spark, hub)
    assert len(keys) == len(set(keys)) == report.records_written
    assert loaded.duplicate_keys == copied and loaded.rows_added == report.records_written
    copy.unlink()  # the lake's other tests count Capture records: keep one copy


def test_a_late_file_for_an_old_range_loads_and_replay_restores_without_duplicates(lake: Lake, spark) -> None:  # type: ignore[no-untyped-def]
    hub = "late-and-replay"
    start = datetime(2026, 2, 5, 9, 0, tzinfo=UTC)
    _, report = land_simulation(lake, hub=hub, start=start, duration=timedelta(minutes=20), devices=3, partitions=1)
    load_bronze(lake)
    # A file for an hour already loaded, landing late (Capture of a recovered partition).
    late = Path(lake.capture) / f"telemetry-ns/{hub}/7/2026/02/05/08/05/00.avro"
    late.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "SequenceNumber": 0,
        "Offset": "0",
        "EnqueuedTimeUtc": "2/5/2026 8:04:00 AM",
        "SystemProperties": {},
        "Properties": {},
        "Body": b'{"event_id": "late-1"}',
    }
    buffer = io.BytesIO()
    fastavro.writer(buffer, CAPTURE_SCHEMA, [record])
    late.write_bytes(buffer.getvalue())
    assert load_bronze(lake).rows_added == 1
    expected = _expected_keys(lake, hub)
    assert bronze_keys(spark, hub) == expected

    # Replay a range after a fix: the rows bronze lost come back, once; nothing doubles.
    spark.sql(
        f"delete from bronze.bronze_capture_events where event_hub = '{hub}' and partition_id = 0 "
        "and sequence_number < 5"
    )
    window_ends = (start, start + timedelta(minutes=25))  # the landing's files end 09:05 .. 09:20
    replayed = BronzeLoader(spark, lake).replay(*window_ends, event_hub=hub)
    assert replayed.rows_added == 5 and replayed.files == len(report.paths)
    assert bronze_keys(spark, hub) == expected
    assert BronzeLoader(spark, lake).replay(*window_ends, event_hub=hub).rows_added == 0


def test_a_file_landed_late_in_an_old_hour_folder_loads_at_the_full_sweep(lake: Lake, spark) -> None:  # type: ignore[no-untyped-def]
    """A load lists only the hour folders from 2 h before the newest it listed: a file
    landed later in an older folder waits for the full sweep, which loads it once."""
    hub = "late-old-folder"
    start = datetime(2026, 2, 6, 9, 0, tzinfo=UTC)
    _, report = land_simulation(lake, hub=hub, start=start, duration=timedelta(minutes=20), devices=3, partitions=1)
    load_bronze(lake)
    assert len(bronze_keys(spark, hub)) == report.records_written
    late = Path(lake.capture) / f"telemetry-ns/{hub}/0/2026/02/06/05/05/00.avro"  # four hours before the newest folder
    late.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "SequenceNumber": 10_000,
        "Offset": "0",
        "EnqueuedTimeUtc": "2/6/2026 5:04:00 AM",
        "SystemProperties": {},
        "Properties": {},
        "Body": b'{"event_id": "late-old-folder-1"}',
    }
    buffer = io.BytesIO()
    fastavro.writer(buffer, CAPTURE_SCHEMA, [record])
    late.write_bytes(buffer.getvalue())

    assert load_bronze(lake).files == 0  # not listed
    swept = BronzeLoader(spark, lake).load_new_files(full_sweep=True)
    assert (swept.full_sweep, swept.files, swept.rows_added) == (True, 1, 1)
    assert BronzeLoader(spark, lake).load_new_files(full_sweep=True).files == 0
    assert bronze_keys(spark, hub) == _expected_keys(lake, hub)
