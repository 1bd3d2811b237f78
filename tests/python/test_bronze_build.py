"""End to end on local Spark: Capture files -> `dbt build` -> bronze Delta table."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta

import fastavro
import pytest

from ingestion.capture_format import CAPTURE_SCHEMA, CapturePath, parse_enqueued_time
from lakehouse.paths import Lake
from tests.python.lake_helpers import bronze_keys, capture_records, land_simulation

pytestmark = pytest.mark.spark
HUB = "bronze-e2e"


def _expected_keys(lake: Lake, hub: str) -> list[tuple[int, int]]:
    return sorted((int(CapturePath.parse(p).partition_id), r["SequenceNumber"]) for p, r in capture_records(lake, hub))


def test_spark_avro_reads_writer_files_with_the_capture_schema(lake: Lake, spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, report = land_simulation(lake, hub="spark-avro-read", start=datetime(2026, 1, 5, tzinfo=UTC),
                                duration=timedelta(minutes=10), devices=3)
    path = lake.capture / report.paths[0]
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
        expected = [(r["SequenceNumber"], r["Offset"], r["EnqueuedTimeUtc"], r["Body"]) for r in fastavro.reader(handle)]
    got = [(r.SequenceNumber, r.Offset, r.EnqueuedTimeUtc, bytes(r.Body)) for r in df.collect()]
    assert got == expected and got


def test_azure_format_file_loads_with_the_right_timestamp(lake: Lake, run_dbt) -> None:  # type: ignore[no-untyped-def]
    """A file as Azure writes it (null codec, US-style time), built without our writer."""
    record = {
        "SequenceNumber": 42, "Offset": "4096", "EnqueuedTimeUtc": "11/16/2016 4:44:11 PM",
        "SystemProperties": {"x-opt-enqueued-time": 1479314651000}, "Properties": {},
        "Body": b'{"field1": "value1", "field2": "value2"}',
    }
    buffer = io.BytesIO()
    fastavro.writer(buffer, CAPTURE_SCHEMA, [record], codec="null")
    target = lake.capture / "azurens/azurehub/1/2016/11/16/16/45/00.avro"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    run_dbt("build", "--select", "bronze_capture_events", "--indirect-selection", "cautious")
    from lakehouse.spark_session import spark_session

    row = spark_session().sql(
        "select *, cast(enqueued_at as string) as enqueued_text from bronze.bronze_capture_events where event_hub = 'azurehub'"
    ).collect()
    assert len(row) == 1
    r = row[0]
    assert (r.namespace, r.partition_id, r.sequence_number, r.capture_offset) == ("azurens", 1, 42, "4096")
    assert r.enqueued_time_utc == "11/16/2016 4:44:11 PM"
    assert r.enqueued_text == "2016-11-16 16:44:11"
    assert bytes(r.body) == b'{"field1": "value1", "field2": "value2"}'
    assert r.capture_record_id == "azurens/azurehub/1/42"


def test_bronze_is_incremental_by_file_and_never_duplicates(lake: Lake, spark, run_dbt) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    _, first = land_simulation(lake, hub=HUB, start=start, duration=timedelta(minutes=30))
    assert first.records_written == 20 * 60
    run_dbt("build", "--select", "bronze_capture_events", "--indirect-selection", "cautious")
    keys = bronze_keys(spark, HUB)
    assert keys == _expected_keys(lake, HUB) and len(keys) == first.records_written

    # Build again: nothing new.
    run_dbt("build", "--select", "bronze_capture_events", "--indirect-selection", "cautious")
    assert bronze_keys(spark, HUB) == keys

    # Land a file again (same bytes, new modification time): still nothing new.
    landed = lake.capture / first.paths[3]
    data = landed.read_bytes()
    landed.unlink()
    landed.write_bytes(data)
    os.utime(landed, (landed.stat().st_atime + 60, landed.stat().st_mtime + 60))
    run_dbt("build", "--select", "bronze_capture_events", "--indirect-selection", "cautious")
    assert bronze_keys(spark, HUB) == keys

    # Land more: only the new records are added.
    _, second = land_simulation(lake, hub=HUB, start=start + timedelta(minutes=30), duration=timedelta(minutes=15))
    run_dbt("build", "--select", "bronze_capture_events", "--indirect-selection", "cautious")
    after = bronze_keys(spark, HUB)
    assert len(after) == first.records_written + second.records_written
    assert after == _expected_keys(lake, HUB)
    enqueued = spark.sql(
        f"select min(enqueued_at) as lo, max(enqueued_at) as hi from bronze.bronze_capture_events where event_hub = '{HUB}'"
    ).collect()[0]
    times = [parse_enqueued_time(r["EnqueuedTimeUtc"]) for _, r in capture_records(lake, HUB)]
    assert (enqueued.lo.replace(tzinfo=UTC), enqueued.hi.replace(tzinfo=UTC)) == (min(times), max(times))
