"""The consumer lander: received EventData -> Capture records, windows, checkpoint after write.

Received events are built offline the way the SDK builds them: an AMQP message
with the hub's annotations is encoded to wire bytes and decoded with the public
`EventData.from_bytes`, so types are what a real receive gives (AMQP strings
arrive as bytes, the enqueued time as epoch milliseconds).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.eventhub import EventData, EventHubConsumerClient, PartitionContext
from azure.eventhub._pyamqp._encode import encode_payload  # test-only: build wire bytes
from azure.eventhub._pyamqp.message import Message
from azure.eventhub._pyamqp.types import TYPE, VALUE, AMQPTypes
from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore

from lakehouse.ingestion.azure.consumer_lander import (
    CaptureWindower,
    EventHubsCaptureLander,
    capture_record_from_event_data,
    event_from_event_data,
)
from lakehouse.ingestion.capture.format import CapturePath, decode_capture_file, format_enqueued_time
from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.capture.store import CaptureConflictError, LocalCaptureStore
from tests.python.azure.azurite import Azurite
from tests.python.azure.conftest import blobs, make_store, raw_container

T0 = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)


def received(
    body: bytes, seq: int, offset: int, enqueued: datetime, key: str | None = "dev-1", properties: dict | None = None
) -> EventData:
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


def stream(
    n: int, *, every: timedelta = timedelta(seconds=20), start: datetime = T0, first_seq: int = 100
) -> list[EventData]:
    out, offset = [], 4096
    for i in range(n):
        body = f'{{"event_id":"e{i}"}}'.encode()
        out.append(received(body, first_seq + i, offset, start + i * every, f"dev-{i % 2}", {"source": "sim", "i": i}))
        offset += len(body)
    return out


def test_received_event_maps_to_event_and_capture_record() -> None:
    data = received(
        b'{"event_id":"a"}',
        42,
        8192,
        datetime(2016, 11, 16, 16, 44, 11, tzinfo=UTC),
        "dev-7",
        {"source": "simulator", "n": 3, "f": 1.5, "raw": b"\xff\x00"},
    )
    assert isinstance(data.partition_key, bytes)  # what the SDK gives on receive

    event = event_from_event_data(data)
    assert event.body == b'{"event_id":"a"}' and event.partition_key == "dev-7"
    assert event.enqueued_time == datetime(2016, 11, 16, 16, 44, 11, tzinfo=UTC)
    assert event.properties == {"source": "simulator", "n": 3, "f": 1.5, "raw": b"\xff\x00"}

    record = capture_record_from_event_data(data)
    assert (record.sequence_number, record.offset, record.body) == (42, 8192, b'{"event_id":"a"}')
    assert record.system_properties == {
        "x-opt-sequence-number": 42,
        "x-opt-offset": "8192",
        "x-opt-enqueued-time": 1479314651000,
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
        (T0 + timedelta(seconds=3), 3),
        (T0 + timedelta(seconds=6), 3),
    ]
    [last] = windower.flush_idle("0", T0 + timedelta(hours=1))
    assert (last.window_end, len(last.records)) == (T0 + timedelta(minutes=5), 1)


def _context(store: BlobCheckpointStore, partition: str) -> PartitionContext:
    return PartitionContext("telemetry-ns.servicebus.windows.net", "consumed", "$Default", partition, store)


def _checkpoint_store(
    azurite: Azurite, container: str, kind: type[BlobCheckpointStore] = BlobCheckpointStore
) -> BlobCheckpointStore:
    """A checkpoint store in a new container of its own."""
    raw_container(azurite.port, container).create_container()
    return kind.from_connection_string(azurite.connection_string, container)


def _checkpoints(store: BlobCheckpointStore) -> dict[str, int]:
    return {
        c["partition_id"]: c["sequence_number"]
        for c in store.list_checkpoints("telemetry-ns.servicebus.windows.net", "consumed", "$Default")
    }


def test_checkpoint_follows_written_files_and_a_restart_rewrites_the_same_bytes(
    azurite: Azurite, container_name: str, tmp_path: Path
) -> None:
    checkpoints = _checkpoint_store(azurite, f"{container_name}-ckpt")
    settings = CaptureSettings(namespace="telemetry-ns", event_hub="consumed", window_seconds=60)
    events = stream(12)  # 4 minutes of one partition: windows end 09:01 .. 09:04

    # Reference: one uninterrupted consumer (own containers).
    ref_ckpt = _checkpoint_store(azurite, f"{container_name}-ckref")
    ref_lander = EventHubsCaptureLander(
        make_store(azurite.port, f"{container_name}-ref", tmp_path / "q"), settings, idle_grace=timedelta(0)
    )
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
    assert sorted(written) == [
        str(CapturePath("telemetry-ns", "consumed", "1", T0 + timedelta(minutes=m))) for m in (1, 2)
    ]
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


# --------------------------------------------------------------------------- reopen and restart


class InMemoryHubClient(EventHubConsumerClient):
    """The SDK's own `EventHubConsumerClient` and `EventProcessor` (ownership, load
    balancing, checkpoints, closing and reopening partitions after a callback
    error) with only the AMQP link replaced by an in-memory partition log: there is
    no Event Hubs server to run here. Set `partitions` after construction."""

    partitions: dict[str, list[EventData]]

    def get_partition_ids(self) -> list[str]:
        return list(self.partitions)

    def _create_consumer(self, consumer_group, partition_id, event_position, on_event_received, **kwargs):  # type: ignore[no-untyped-def,override]
        return _InMemoryConsumer(
            self.partitions[partition_id],
            event_position,
            kwargs.get("event_position_inclusive", False),
            on_event_received,
        )


class _InMemoryConsumer:
    """A partition link: delivers the log from a position (an offset, "-1" or "@latest")."""

    def __init__(self, log: list[EventData], position: object, inclusive: bool, callback) -> None:  # type: ignore[no-untyped-def]
        self.log, self.callback, self.stop = log, callback, False
        if position == "-1":
            self.next = 0
        elif position == "@latest":
            self.next = len(log)
        else:
            offset = int(str(position))
            self.next = next(
                (i for i, e in enumerate(log) if int(e.offset) > offset or (inclusive and int(e.offset) == offset)),
                len(log),
            )

    def receive(self, batch: bool, max_batch_size: int, max_wait_time: float) -> None:
        if self.next < len(self.log):
            events = self.log[self.next : self.next + max_batch_size]
            self.next += len(events)
            self.callback(events)
        else:
            time.sleep(max_wait_time)
            self.callback([])

    def close(self) -> None:
        pass


class CheckpointStoreFailingOnce(BlobCheckpointStore):
    """The real Blob checkpoint store (on Azurite) whose n-th checkpoint update fails,
    as one does when storage is briefly unreachable."""

    fail_at = 1
    updates = 0

    def update_checkpoint(self, checkpoint, **kwargs):  # type: ignore[no-untyped-def,override]
        self.updates += 1
        if self.updates == self.fail_at:
            raise ServiceRequestError("checkpoint store unreachable (injected)")
        super().update_checkpoint(checkpoint, **kwargs)


def _landed_sequence_numbers(port: int, container: str) -> dict[str, list[int]]:
    """Every landed file's sequence numbers, read back with fastavro from Azurite."""
    return {
        path: [r["SequenceNumber"] for r in decode_capture_file(data)]
        for path, data in sorted(blobs(port, container).items())
    }


def test_a_failed_checkpoint_reopens_the_partition_and_every_sequence_number_lands_once(
    azurite: Azurite, container_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)  # windows long closed
    events = stream(12, start=start)  # sequence numbers 100..111, three per minute
    checkpoints = _checkpoint_store(azurite, f"{container_name}-ckpt", CheckpointStoreFailingOnce)
    conn = (
        "Endpoint=sb://127.0.0.1:9;SharedAccessKeyName=t;SharedAccessKey=dGVzdA==;EntityPath=consumed;"
        "UseDevelopmentEmulator=true"
    )
    client = InMemoryHubClient.from_connection_string(
        conn,
        "$Default",
        checkpoint_store=checkpoints,
        load_balancing_interval=0.2,
        partition_ownership_expiration_interval=30,
    )
    client.partitions = {"0": events}
    settings = CaptureSettings(namespace="telemetry-ns", event_hub="consumed", window_seconds=60)
    lander = EventHubsCaptureLander(
        make_store(azurite.port, container_name, tmp_path / "q"), settings, idle_grace=timedelta(0)
    )
    runner = threading.Thread(target=lander.run, args=(client,), kwargs={"max_wait_time": 0.2, "max_batch_size": 4})
    runner.start()
    deadline = time.monotonic() + 60

    def done() -> bool:
        listed = checkpoints.list_checkpoints(client._address.hostname, "consumed", "$Default")
        return {c["partition_id"]: c["sequence_number"] for c in listed}.get("0") == 111

    while not done() and time.monotonic() < deadline:
        time.sleep(0.2)
    client.close()
    runner.join(30)

    assert done() and not runner.is_alive()
    # The SDK's processor closed the partition after the failed checkpoint and read it again.
    assert "exception is ServiceRequestError('checkpoint store unreachable (injected)')" in caplog.text
    landed = _landed_sequence_numbers(azurite.port, container_name)
    everything = [n for numbers in landed.values() for n in numbers]
    assert sorted(everything) == list(range(100, 112))  # each exactly once: 0 lost, 0 duplicated
    assert everything == sorted(everything)
    ends = [CapturePath.parse(p).window_end for p in landed]
    assert ends == [start + timedelta(minutes=m) for m in (1, 2, 3, 4)]
    assert checkpoints.updates == 4  # the failed one (the first window's file), then one per later window
    assert lander.windower.skipped["0"] >= 3  # 100..102 came again and were already in the first file


def test_a_restarted_consumer_puts_a_late_event_in_the_next_window(
    azurite: Azurite, container_name: str, tmp_path: Path
) -> None:
    checkpoints = _checkpoint_store(azurite, f"{container_name}-ckpt")
    settings = CaptureSettings(namespace="telemetry-ns", event_hub="consumed", window_seconds=60)
    store = make_store(azurite.port, container_name, tmp_path / "q")
    first = EventHubsCaptureLander(store, settings, idle_grace=timedelta(0))
    first.on_event_batch(_context(checkpoints, "2"), stream(3))  # 09:00:00 .. 09:00:40
    first.on_event_batch(_context(checkpoints, "2"), [])  # quiet: 09:01 closes by the clock
    path_0901 = str(CapturePath("telemetry-ns", "consumed", "2", T0 + timedelta(minutes=1)))
    assert _landed_sequence_numbers(azurite.port, container_name) == {path_0901: [100, 101, 102]}

    # A new process; the hub then delivers an event enqueued within the written window.
    restarted = EventHubsCaptureLander(store, settings, idle_grace=timedelta(0))
    late = received(b"late", 103, 9000, T0 + timedelta(seconds=50))
    after = received(b"after", 104, 9004, T0 + timedelta(minutes=2, seconds=10))
    restarted.on_event_batch(_context(checkpoints, "2"), [late, after])
    restarted.on_event_batch(_context(checkpoints, "2"), [])

    landed = _landed_sequence_numbers(azurite.port, container_name)
    assert landed == {
        path_0901: [100, 101, 102],  # unchanged
        str(CapturePath("telemetry-ns", "consumed", "2", T0 + timedelta(minutes=2))): [103],  # the next window
        str(CapturePath("telemetry-ns", "consumed", "2", T0 + timedelta(minutes=3))): [104],
    }
    assert _checkpoints(checkpoints) == {"2": 104}


@pytest.mark.parametrize("where", ["local", "blob"])
def test_capture_files_are_create_only(where: str, azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    store = (
        LocalCaptureStore(tmp_path / "capture")
        if where == "local"
        else make_store(azurite.port, container_name, tmp_path / "q")
    )
    path = "telemetry-ns/consumed/0/2026/03/05/09/01/00.avro"
    store.write_file(path, b"first bytes")
    store.write_file(path, b"first bytes")  # the same bytes again: idempotent
    with pytest.raises(CaptureConflictError, match="different bytes"):
        store.write_file(path, b"other")
    stored = (
        (tmp_path / "capture" / path).read_bytes() if where == "local" else blobs(azurite.port, container_name)[path]
    )
    assert stored == b"first bytes"
    if where == "local":
        assert [p.name for p in (tmp_path / "capture").rglob("*") if p.is_file()] == ["00.avro"]  # no temp files left
