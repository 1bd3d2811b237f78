"""The Capture writer's files, read back independently by fastavro."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import fastavro
import pytest

from lakehouse.ingestion.capture.format import (
    CapturePath,
    CaptureRecord,
    decode_capture_file,
    encode_capture_file,
    format_enqueued_time,
    parse_enqueued_time,
)


@pytest.mark.parametrize(
    ("instant", "text"),
    [
        (datetime(2016, 11, 16, 16, 44, 11, tzinfo=UTC), "11/16/2016 4:44:11 PM"),
        (datetime(2026, 1, 2, 0, 5, 9, tzinfo=UTC), "1/2/2026 12:05:09 AM"),
        (datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC), "1/2/2026 12:00:00 PM"),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "12/31/2026 11:59:59 PM"),
    ],
)
def test_enqueued_time_is_azure_us_style_utc(instant: datetime, text: str) -> None:
    assert format_enqueued_time(instant) == text
    assert parse_enqueued_time(text) == instant


def test_enqueued_time_tolerates_iso_and_rejects_garbage() -> None:
    assert parse_enqueued_time("2016-11-16T16:44:11Z") == datetime(2016, 11, 16, 16, 44, 11, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither"):
        parse_enqueued_time("yesterday")


def test_capture_path_layout_round_trips() -> None:
    path = CapturePath("ns", "hub", "3", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert str(path) == "ns/hub/3/2026/01/02/03/04/05.avro"
    assert CapturePath.parse("prefix/" + str(path)) == path
    with pytest.raises(ValueError, match="not an Event Hubs Capture path"):
        CapturePath.parse("ns/hub/3/2026/01/02.avro")


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_written_file_reads_back_with_the_exact_capture_schema(codec: str) -> None:
    records = [
        CaptureRecord(
            0,
            0,
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            b'{"a":1}',
            {"source": "sim", "n": 7},
            {"x-opt-partition-key": "dev-1"},
        ),
        CaptureRecord(1, 7, datetime(2026, 1, 2, 15, 4, 6, tzinfo=UTC), None, {}, {}),
    ]
    data = encode_capture_file(records, codec=codec, sync_key="k")  # type: ignore[arg-type]
    reader = fastavro.reader(io.BytesIO(data))
    assert reader.codec == codec
    schema = json.loads(reader.metadata["avro.schema"])
    assert (schema["name"], schema["namespace"]) == ("EventData", "Microsoft.ServiceBus.Messaging")
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("SequenceNumber", "long"),
        ("Offset", "string"),
        ("EnqueuedTimeUtc", "string"),
        ("SystemProperties", {"type": "map", "values": ["long", "double", "string", "bytes"]}),
        ("Properties", {"type": "map", "values": ["long", "double", "string", "bytes"]}),
        ("Body", ["null", "bytes"]),
    ]
    assert list(reader) == [
        {
            "SequenceNumber": 0,
            "Offset": "0",
            "EnqueuedTimeUtc": "1/2/2026 3:04:05 AM",
            "SystemProperties": {"x-opt-partition-key": "dev-1"},
            "Properties": {"source": "sim", "n": 7},
            "Body": b'{"a":1}',
        },
        {
            "SequenceNumber": 1,
            "Offset": "7",
            "EnqueuedTimeUtc": "1/2/2026 3:04:06 PM",
            "SystemProperties": {},
            "Properties": {},
            "Body": None,
        },
    ]


def test_empty_window_is_a_header_only_avro_file() -> None:
    data = encode_capture_file([], sync_key="empty")
    assert data.startswith(b"Obj\x01")
    assert decode_capture_file(data) == []


def test_same_window_encodes_to_the_same_bytes() -> None:
    record = CaptureRecord(5, 10, datetime(2026, 1, 1, tzinfo=UTC), b"x")
    assert encode_capture_file([record], sync_key="a/b") == encode_capture_file([record], sync_key="a/b")
