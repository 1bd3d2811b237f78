"""The consumer lander: received EventData -> Capture records, windows, checkpoint after write.

Received events are built offline the way the SDK builds them: an AMQP message
with the hub's annotations is encoded to wire bytes and decoded with the public
`EventData.from_bytes`, so types are what a real receive gives (AMQP strings
arrive as bytes, the enqueued time as epoch milliseconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.eventhub import EventData, PartitionContext
from azure.eventhub._pyamqp._encode import encode_payload  # test-only: build wire bytes
from azure.eventhub._pyamqp.message import Message
from azure.eventhub._pyamqp.types import TYPE, VALUE, AMQPTypes
from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore

from ingestion.capture_format import CapturePath, decode_capture_file, format_enqueued_time
from ingestion.eventhubs_lander import (
    CaptureWindower,
    EventHubsCaptureLander,
    capture_record_from_event_data,
    event_from_event_data,
)
from ingestion.lander import CaptureSettings
from tests.python.azure.azurite import Azurite
from tests.python.azure.conftest import blobs, make_store, raw_container

T0 = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)


def received(body: bytes, seq: int, offset: int, enqueued: datetime, key: str | None = "dev-1",
             properties: dict | None = None) -> EventData:
    annotations = {
        b"x-opt-sequence-number": {TYPE: AMQPTypes.long, VALUE: seq},
        b"x-opt-offset": str(offset),
        b"x-opt-enqueued-time": {TYPE: AMQPTypes.timestamp, VALUE: int(enqueued.timestamp() * 1000)},
    }
    if key is not None:
        annotations[b"x-opt-partition-key"] = key
    message = Message(data=[body], message_annotations=annotations, application_properties=properties or {})
    wire = bytearray()
    encode_payload(wire, message)
    return EventData.from_bytes(bytes(wire))


def stream(n: int, *, every: timedelta = timedelta(seconds=20), start: datetime = T0, first_seq: int = 100) -> list[EventData]:
    out, offset = [], 4096
    for i in range(n):
        body = f'{{"event_id":"e{i}"}}'.encode()
        out.append(received(body, first_seq + i, offset, start + i * every, f"dev-{i % 2}", {"source": "sim", "i": i}))
        offset += len(body)
    return out


def test_received_event_maps_to_event_and_capture_record() -> None:
    data = received(b'{"event_id":"a"}', 42, 8192, datetime(2016, 11, 16, 16, 44, 11, tzinfo=UTC), "dev-7",
                    {"source": "simulator", "n": 3, "f": 1.5, "raw": b"\xff\x00"})
    assert isinstance(data.partition_key, bytes)  # what the SDK gives on receive

    event = event_from_event_data(data)
    assert event.body == b'{"event_id":"a"}' and event.partition_key == "dev-7"
    assert event.enqueued_time == datetime(2016, 11, 16, 16, 44, 11, tzinfo=UTC)
    assert event.properties == {"source": "simulator", "n": 3, "f": 1.5, "raw": b"\xff\x00"}

    record = capture_record_from_event_data(data)
    assert (record.sequence_number, record.offset, record.body) == (42, 8192, b'{"event_id":"a"}')
    assert record.system_properties == {
        "x-opt-sequence-number": 42, "x-opt-offset": "8192", "x-opt-enqueued-time": 1479314651000,
        "x-opt-partition-key": "dev-7",
    }
    avro = record.to_avro()
    assert (avro["SequenceNumber"], avro["Offset"], avro["EnqueuedTimeUtc"]) == (42, "8192", "11/16/2016 4:44:11 PM")


def test_windows_close_on_the_next_window_and_on_idle() -> None:
    settings = CaptureSettings(window_seconds=60)
    windower = CaptureWindower(settings, idle_grace=timedelta(seconds=30))
    events = stream(7)  # 09:00:00, :20, :40, 09:01:00, :20, :40, 09:02:00
    closed = windower.add("3", events[:4])
    assert [(w.partition_id, w.window_end) for w in closed] == [("3", T0 + timedelta(minutes=1))]
    assert [r.sequence_number for r in closed[0].records] == [100, 101, 102]
    assert closed[0].last_event is events[2]

    closed = windower.add("3", events[4:6])
    assert closed == [] and windower.open_windows() == {"3": 3}
    assert windower.flush_idle("3", T0 + timedelta(minutes=2, seconds=29)) == []  # within the grace
    [idle] = windower.flush_idle("3", T0 + timedelta(minutes=2, seconds=30))
    assert idle.window_end == T0 + timedelta(minutes=2) and [r.sequence_number for r in idle.records] == [103, 104, 105]

    # An event for the idle-closed window goes to the next window; the closed file is never rewritten.
    late = received(b"late", 106, 9999, T0 + timedelta(minutes=1, seconds=59))
    assert windower.add("3", [late]) == []
    [after] = windower.add("3", [received(b"next", 107, 10003, T0 + timedelta(minutes=3))])
    assert after.window_end == T0 + timedelta(minutes=3) and [r.sequence_number for r in after.records] == [106]


def test_size_limit_splits_a_window_at_a_whole_second() -> None:
    settings = CaptureSettings(window_seconds=300, max_file_bytes=3 * (100 + 64))
    windower = CaptureWindower(settings)
    events = [received(b"x" * 100, i, i * 100, T0 + timedelta(seconds=i)) for i in range(7)]
    closed = windower.add("0", events)
    assert [(w.window_end, len(w.records)) for w in closed] == [
        (T0 + timedelta(seconds=3), 3), (T0 + timedelta(seconds=6), 3)]
    [last] = windower.flush_idle("0", T0 + timedelta(hours=1))
    assert (last.window_end, len(last.records)) == (T0 + timedelta(minutes=5), 1)


def _context(store: BlobCheckpointStore, partition: str) -> PartitionContext:
    return PartitionContext("telemetry-ns.servicebus.windows.net", "consumed", "$Default", partition, store)


def _checkpoints(store: BlobCheckpointStore) -> dict[str, int]:
    return {c["partition_id"]: c["sequence_number"]
            for c in store.list_checkpoints("telemetry-ns.servicebus.windows.net", "consumed", "$Default")}


def test_checkpoint_follows_written_files_and_a_restart_rewrites_the_same_bytes(
        azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    checkpoint_container = f"{container_name}-ckpt"
    raw_container(azurite.port, checkpoint_container).create_container()
    checkpoints = BlobCheckpointStore.from_connection_string(azurite.connection_string, checkpoint_container)
    settings = CaptureSettings(namespace="telemetry-ns", event_hub="consumed", window_seconds=60)
    events = stream(12)  # 4 minutes of one partition: windows end 09:01 .. 09:04

    # Reference: one uninterrupted consumer (own containers).
    raw_container(azurite.port, f"{container_name}-ckref").create_container()
    ref_ckpt = BlobCheckpointStore.from_connection_string(azurite.connection_string, f"{container_name}-ckref")
    ref_lander = EventHubsCaptureLander(make_store(azurite.port, f"{container_name}-ref", tmp_path / "q"), settings,
                                        idle_grace=timedelta(0))
    ref_lander.on_event_batch(_context(ref_ckpt, "1"), events)
    ref_lander.on_event_batch(_context(ref_ckpt, "1"), [])  # idle: closes the last window (its end is long past)
    expected = blobs(azurite.port, f"{container_name}-ref")
    assert len(expected) == 4 and ref_lander.report.checkpoints == 4

    # A consumer that stops in the middle: nothing is checkpointed before a file is written.
    store = make_store(azurite.port, container_name, tmp_path / "q")
    first = EventHubsCaptureLander(store, settings)
    first.on_event_batch(_context(checkpoints, "1"), events[:2])
    assert _checkpoints(checkpoints) == {} and blobs(azurite.port, container_name) == {}
    first.on_event_batch(_context(checkpoints, "1"), events[2:7])  # closes 09:01 and 09:02
    written = blobs(azurite.port, container_name)
    assert sorted(written) == [str(CapturePath("telemetry-ns", "consumed", "1", T0 + timedelta(minutes=m))) for m in (1, 2)]
    last_written = decode_capture_file(written[sorted(written)[-1]])[-1]["SequenceNumber"]
    assert _checkpoints(checkpoints) == {"1": last_written} == {"1": 105}
    # (events 106 of the 09:03 window were received but are not durable: the "crash" loses them.)

    # Restart: the hub redelivers everything after the checkpoint.
    resumed = EventHubsCaptureLander(store, settings, idle_grace=timedelta(0))
    after = [e for e in events if e.sequence_number > _checkpoints(checkpoints)["1"]]
    resumed.on_event_batch(_context(checkpoints, "1"), after)
    resumed.on_event_batch(_context(checkpoints, "1"), [])
    assert blobs(azurite.port, container_name) == expected
    assert _checkpoints(checkpoints) == {"1": events[-1].sequence_number}
    records = [r for p in sorted(expected) for r in decode_capture_file(expected[p])]
    assert [r["SequenceNumber"] for r in records] == [e.sequence_number for e in events]
    assert [r["Offset"] for r in records] == [e.offset for e in events]
    assert [r["EnqueuedTimeUtc"] for r in records] == [format_enqueued_time(e.enqueued_time) for e in events]
    assert [r["Body"] for r in records] == [b"".join(e.body) for e in events]
