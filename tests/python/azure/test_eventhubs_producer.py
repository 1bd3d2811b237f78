"""Event Hubs producer: batch packing (real EventDataBatch), failing fast, dead letters."""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.eventhub import EventDataBatch, EventHubProducerClient
from azure.eventhub.exceptions import EventHubError

from lakehouse.ingestion.azure.dead_letters import DeadLetterFile, encode_dead_letter
from lakehouse.ingestion.azure.producer import (
    EventHubsProducer,
    ProducerSettings,
    pack_batches,
    resend_dead_letters,
    to_event_data,
)
from lakehouse.ingestion.events import Event
from lakehouse.ingestion.sources.simulator import SimulatorConfig, simulate

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def _unreachable_client(retry: ProducerSettings) -> EventHubProducerClient:
    # The emulator flag makes the SDK use plain AMQP on the given port (no TLS).
    conn = (
        f"Endpoint=sb://127.0.0.1:{_closed_port()};SharedAccessKeyName=test;SharedAccessKey=dGVzdA==;"
        "EntityPath=telemetry;UseDevelopmentEmulator=true"
    )
    return EventHubProducerClient.from_connection_string(conn, **retry.client_kwargs())


def _events(n: int) -> list[Event]:
    return [
        Event(
            f'{{"event_id":"e{i}","device_id":"dev-{i % 3}"}}'.encode(),
            f"dev-{i % 3}",
            T0 + timedelta(seconds=i),
            {"source": "test", "i": i},
        )
        for i in range(n)
    ]


def test_batches_hold_one_key_each_keep_order_and_are_full() -> None:
    sim = simulate(SimulatorConfig(start=T0, duration=timedelta(minutes=20), devices=6))
    events = sim.events
    limit = 4096
    too_large: list[Event] = []
    batches = list(
        pack_batches(
            events,
            lambda key: EventDataBatch(max_size_in_bytes=limit, partition_key=key),
            lambda e, _: too_large.append(e),
        )
    )
    assert not too_large
    assert sum(len(b.events) for b in batches) == len(events) == sum(len(b.batch) for b in batches)
    for packed in batches:
        assert {e.partition_key for e in packed.events} == {packed.partition_key}
        assert packed.batch.size_in_bytes <= limit
    by_key: dict[str | None, list[list[Event]]] = {}
    for packed in batches:
        by_key.setdefault(packed.partition_key, []).append(packed.events)
    for key, runs in by_key.items():
        # A key's events keep the stream's order across its batches...
        assert [e for run in runs for e in run] == [e for e in events if e.partition_key == key]
        # ... and every batch but the last is full: the next event does not fit (checked with a fresh batch).
        for run, following in itertools.pairwise(runs):
            probe = EventDataBatch(max_size_in_bytes=limit, partition_key=key)
            for event in run:
                probe.add(to_event_data(event))
            try:
                probe.add(to_event_data(following[0]))
                raise AssertionError("a batch was closed although the next event fitted")
            except ValueError:
                pass
    assert len(batches) < len(events) / 5  # real packing, not one event per batch


def test_an_event_too_large_for_any_batch_is_reported_not_sent() -> None:
    events = [Event(b"x" * 100, "dev-1", T0), Event(b"y" * 5000, "dev-1", T0), Event(b"z" * 100, "dev-1", T0)]
    too_large: list[Event] = []
    batches = list(
        pack_batches(
            events,
            lambda key: EventDataBatch(max_size_in_bytes=1024, partition_key=key),
            lambda e, _: too_large.append(e),
        )
    )
    assert too_large == [events[1]]
    assert [e for b in batches for e in b.events] == [events[0], events[2]]


def test_unreachable_hub_fails_within_seconds_and_dead_letters_everything(tmp_path: Path) -> None:
    settings = ProducerSettings(retry_total=1, retry_backoff_factor=0.05, retry_backoff_max=0.2, send_timeout=5)
    dead = DeadLetterFile(tmp_path / "dead.jsonl", event_hub="telemetry")
    events = _events(250)
    with _unreachable_client(settings) as client:
        t0 = time.monotonic()
        report = EventHubsProducer(client, dead_letters=dead, settings=settings).send(iter(events))
        elapsed = time.monotonic() - t0
    assert elapsed < 10
    assert report.events_sent == 0 and report.events_dead_lettered == 250
    assert report.error and "ConnectError" in report.error
    lines = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert len(lines) == 250
    stored = [json.loads(line) for line in lines]
    assert [s["partition_key"] for s in stored] == [e.partition_key for e in events]
    assert all("Connection refused" in s["reason"] or "ConnectError" in s["reason"] for s in stored)
    assert [e.body for e in (letter.event for letter in dead.read())] == [e.body for e in events]


def test_resending_to_an_unreachable_hub_keeps_the_file_intact(tmp_path: Path) -> None:
    settings = ProducerSettings(retry_total=0, retry_backoff_factor=0.05, send_timeout=5)
    path = tmp_path / "dead.jsonl"
    dead = DeadLetterFile(path, event_hub="telemetry")
    dead.append(_events(40), "ConnectError: first attempt")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with _unreachable_client(settings) as client:
        result = resend_dead_letters(dead, EventHubsProducer(client, dead_letters=dead, settings=settings))
    assert (result.letters, result.sent, result.kept) == (40, 0, 40)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # byte for byte, not appended to


def test_dead_letter_round_trip_preserves_bytes_and_types(tmp_path: Path) -> None:
    events = [
        Event(
            bytes(range(256)),
            "dev-\u00e9",
            datetime(2026, 3, 4, 12, 0, 1, 123456, tzinfo=UTC),
            {"s": "text", "n": 2**40, "f": 1.25, "b": b"\x00\xff"},
        ),
        Event(b'{"truncated":', None, T0, {}),
        Event(None, "dev-2", T0, {"source": "sim"}),
    ]
    dead = DeadLetterFile(tmp_path / "dl" / "dead.jsonl")
    dead.append(events, "test")
    back = [letter.event for letter in dead.read()]
    assert back == events
    assert [type(v) for v in back[0].properties.values()] == [str, int, float, bytes]
    # Rewriting (what a partial resend does) keeps the same content.
    dead.replace(dead.read())
    assert [letter.event for letter in dead.read()] == events


class PartlyReachableHub:
    """An Event Hubs producer client whose first `ok_batches` sends succeed and the
    rest fail, as a hub that goes away in the middle of a resend. Batches are the
    SDK's real `EventDataBatch`; `before_send` runs ahead of each send."""

    def __init__(self, ok_batches: int, before_send) -> None:  # type: ignore[no-untyped-def]
        self.ok_batches, self.before_send, self.sent = ok_batches, before_send, []

    def create_batch(self, partition_key: str | None = None, max_size_in_bytes: int | None = None) -> EventDataBatch:
        return EventDataBatch(max_size_in_bytes=max_size_in_bytes or 1024, partition_key=partition_key)

    def send_batch(self, batch: EventDataBatch, timeout: float | None = None) -> None:
        self.before_send(len(self.sent))
        if len(self.sent) >= self.ok_batches:
            raise EventHubError("hub went away (injected)")
        self.sent.append(batch)


def test_a_send_appending_during_a_resend_loses_no_line(tmp_path: Path) -> None:
    path = tmp_path / "dead.jsonl"
    DeadLetterFile(path, event_hub="telemetry").append(_events(30), "ConnectError: first attempt")
    appended = [Event(f'{{"event_id":"late{i}"}}'.encode(), "dev-9", T0, {"source": "test"}) for i in range(7)]

    def concurrent_send(batches_sent: int) -> None:
        if batches_sent == 0:  # another process dead-letters while the resend is sending
            other = threading.Thread(
                target=DeadLetterFile(path, event_hub="telemetry").append,
                args=(appended, "ConnectError: concurrent send"),
            )
            other.start()
            other.join(10)
            assert not other.is_alive()

    hub = PartlyReachableHub(ok_batches=2, before_send=concurrent_send)
    producer = EventHubsProducer(
        hub, dead_letters=DeadLetterFile(path), settings=ProducerSettings(max_batch_bytes=1024)
    )  # type: ignore[arg-type]
    result = resend_dead_letters(DeadLetterFile(path, event_hub="telemetry"), producer)

    sent = [b"".join(e.body) for batch in hub.sent for e in batch._internal_events]  # what reached the "hub"
    kept = [letter.event.body for letter in DeadLetterFile(path).read()]
    assert result.sent == len(sent) > 0 and result.kept == 30 - len(sent)
    # Every original letter is either sent or still in the file, and every concurrent append is kept: 0 lost, 0 twice.
    assert sorted(sent + kept) == sorted([e.body for e in _events(30)] + [e.body for e in appended])
    assert kept[-7:] == [e.body for e in appended]


def test_a_torn_last_line_is_skipped_reported_and_kept_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "dead.jsonl"
    dead = DeadLetterFile(path, event_hub="telemetry")
    dead.append(_events(2), "ConnectError")
    whole = encode_dead_letter(_events(3)[2], "ConnectError", event_hub="telemetry")
    with open(path, "a") as handle:  # a crash in the middle of the third append
        handle.write(whole[: len(whole) // 2])
    torn = whole[: len(whole) // 2].encode()

    assert [letter.event.body for letter in dead.read()] == [e.body for e in _events(2)]
    assert f"{path} line 3 is not a whole dead letter" in caplog.text
    later = [Event(b'{"event_id":"after"}', "dev-1", T0)]
    dead.append(later, "ConnectError")  # starts on a new line
    scan = dead.scan()
    assert [letter.event.body for letter in scan.letters] == [e.body for e in _events(2)] + [b'{"event_id":"after"}']
    assert [(t.line_number, t.raw) for t in scan.torn] == [(3, torn)]

    dead.replace(scan.letters)  # a rewrite (what a partial resend does) keeps the torn line aside
    assert dead.torn_path.read_bytes() == torn + b"\n"
    assert dead.scan().torn == [] and len(dead.read()) == 3


def test_storage_and_event_hub_targets_do_not_print_their_secrets() -> None:
    from lakehouse.ingestion.azure.auth import eventhub_target, storage_target

    key = "c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw=="  # pragma: allowlist secret
    targets = [
        storage_target(
            {"AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={key}"}
        ),
        storage_target({"AZURE_STORAGE_SAS_URL": f"https://a.blob.core.windows.net/c?sv=2024&sig={key}"}),
        storage_target(
            {"AZURE_STORAGE_ACCOUNT_URL": "https://a.blob.core.windows.net", "AZURE_STORAGE_SAS_TOKEN": f"sig={key}"}
        ),
        eventhub_target(
            {
                "EVENTHUB_CONNECTION_STRING": f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=s;"
                f"SharedAccessKey={key};EntityPath=telemetry"
            }
        ),
    ]
    for target in targets:
        assert key not in repr(target) and key not in str(target)
    assert all(key not in t.describe() for t in targets[:3])  # type: ignore[union-attr]
    assert "a.blob.core.windows.net" in repr(targets[1])  # the rest is still shown
