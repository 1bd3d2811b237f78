"""Send any source's events to Azure Event Hubs, keyed by device, without losing any.

- Routing: each event's `partition_key` (the device id) goes with it, so the hub
  keeps a device's events in one partition, in order.
- Batching: the SDK's `EventDataBatch` enforces the hub's size limit; a keyed batch
  holds one partition key only, so events are grouped by key per chunk of the
  stream (`chunk_events`) and each group is packed into as few batches as fit.
- Retries: the SDK's own retry policy (exponential backoff, `retry_total`,
  `retry_backoff_factor`, `retry_backoff_max`) on every connect and send.
- Permanent failure: once a send still fails after its retries, the producer
  stops and writes every event it has not sent (that batch, the rest of the chunk
  and the rest of the stream) to the dead-letter file; `resend_dead_letters`
  sends them later. A failed batch may in fact have reached the hub (the ack was
  lost), so a resend can duplicate events; silver drops duplicates by event_id.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from azure.eventhub import EventData, EventDataBatch, EventHubProducerClient
from azure.eventhub.exceptions import EventHubError
from tqdm import tqdm

from lakehouse.ingestion.azure.dead_letters import (
    DeadLetterFile,
    DeadLetterList,
    DeadLetterSink,
)
from lakehouse.ingestion.events import Event
from lakehouse.paths import Lake

log = logging.getLogger(__name__)
MakeBatch = Callable[[str | None], EventDataBatch]


TOO_LARGE = "is larger than a batch may be"  # the dead-letter reason of an event no batch can hold


@dataclass(frozen=True)
class ProducerSettings:
    """Retries (the SDK's), send timeout and batching of a producer."""

    retry_total: int = 3
    retry_backoff_factor: float = 0.8
    retry_backoff_max: float = 120.0
    send_timeout: float = 60.0
    chunk_events: int = 10_000
    max_batch_bytes: int | None = None  # None: the hub's limit (1 MB on Standard)

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "retry_total": self.retry_total,
            "retry_backoff_factor": self.retry_backoff_factor,
            "retry_backoff_max": self.retry_backoff_max,
            "retry_mode": "exponential",
        }


@dataclass
class SendReport:
    events_sent: int = 0
    batches_sent: int = 0
    bytes_sent: int = 0
    events_dead_lettered: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def events_per_second(self) -> float:
        return self.events_sent / self.seconds if self.seconds else 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_sent / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        text = (
            f"sent {self.events_sent:,} events in {self.batches_sent:,} batches ({self.bytes_sent / 1e6:.2f} MB) "
            f"in {self.seconds:.1f} s: {self.events_per_second:,.0f} events/s, {self.bytes_per_second / 1e3:,.0f} kB/s"
        )
        if self.events_dead_lettered:
            text += f"; {self.events_dead_lettered:,} events dead-lettered"
        if self.error:
            text += f" (stopped: {self.error})"
        return text


def to_event_data(event: Event) -> EventData:
    """The SDK message for `event`: body bytes and application properties. (The hub
    sets its own enqueued time; an empty body is sent for a null one.)"""
    data = EventData(event.body if event.body is not None else b"")
    if event.properties:
        properties: dict[str | bytes, Any] = {}
        properties.update(event.properties)
        data.properties = properties
    return data


@dataclass
class PackedBatch:
    """A full (or final) batch of one partition key and the events in it, in order."""

    batch: EventDataBatch
    partition_key: str | None
    events: list[Event] = field(default_factory=list)


def pack_batches(
    events: Sequence[Event], make_batch: MakeBatch, on_too_large: Callable[[Event, int], None]
) -> Iterator[PackedBatch]:
    """Pack `events` into batches of one partition key each, as full as the batch's
    size limit allows, keeping each key's order. An event too large even for an
    empty batch goes to `on_too_large(event, max_size_in_bytes)`."""
    groups: dict[str | None, list[Event]] = defaultdict(list)
    for event in events:
        groups[event.partition_key].append(event)
    for key, group in groups.items():
        current = PackedBatch(make_batch(key), key)
        for event in group:
            try:
                current.batch.add(to_event_data(event))
            except ValueError:
                if not current.events:
                    on_too_large(event, current.batch.max_size_in_bytes)
                    continue
                yield current
                current = PackedBatch(make_batch(key), key)
                try:
                    current.batch.add(to_event_data(event))
                except ValueError:
                    on_too_large(event, current.batch.max_size_in_bytes)
                    continue
            current.events.append(event)
        if current.events:
            yield current


def _chunks(events: Iterator[Event], size: int) -> Iterator[list[Event]]:
    while chunk := list(islice(events, size)):
        yield chunk


class EventHubsProducer:
    """Sends event streams through an `EventHubProducerClient`, dead-lettering what fails."""

    def __init__(
        self, client: EventHubProducerClient, *, dead_letters: DeadLetterSink, settings: ProducerSettings | None = None
    ) -> None:
        self.client = client
        self.dead_letters = dead_letters
        self.settings = settings or ProducerSettings()

    def _make_batch(self, key: str | None) -> EventDataBatch:
        return self.client.create_batch(partition_key=key, max_size_in_bytes=self.settings.max_batch_bytes)

    def send(
        self, events: Iterable[Event], *, dead_letters: DeadLetterSink | None = None, progress: bool = False
    ) -> SendReport:
        """Send `events` (any iterable, finite); return what happened. Never raises for
        hub errors: what is not sent is in the dead-letter sink and in the report."""
        sink = dead_letters or self.dead_letters
        report = SendReport()
        total = len(events) if isinstance(events, Sequence) else None
        bar = tqdm(total=total, unit="event", desc="send", disable=not progress)
        stream = iter(events)
        t0 = time.monotonic()
        too_large_ids: set[int] = set()

        def too_large(event: Event, limit: int) -> None:
            sink.append([event], f"event of {len(event.body or b'')} bytes {TOO_LARGE} ({limit} bytes)")
            too_large_ids.add(id(event))
            report.events_dead_lettered += 1

        for chunk in _chunks(stream, self.settings.chunk_events):
            sent_in_chunk: set[int] = set()
            try:
                for packed in pack_batches(chunk, self._make_batch, too_large):
                    self.client.send_batch(packed.batch, timeout=self.settings.send_timeout)
                    sent_in_chunk.update(map(id, packed.events))
                    report.events_sent += len(packed.events)
                    report.batches_sent += 1
                    report.bytes_sent += packed.batch.size_in_bytes
                    bar.update(len(packed.events))
            except EventHubError as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                # Oversized events were dead-lettered already: not twice.
                done = sent_in_chunk | too_large_ids
                unsent = [e for e in chunk if id(e) not in done] + list(stream)
                sink.append(unsent, reason)
                report.events_dead_lettered += len(unsent)
                report.error = reason
                log.error(
                    "Event Hubs send failed after retries (%s): %d unsent events dead-lettered", reason, len(unsent)
                )
                break
        bar.close()
        report.seconds = time.monotonic() - t0
        log.info(report.summary())
        return report


@dataclass
class ResendReport:
    letters: int
    sent: int
    kept: int
    send: SendReport


def resend_dead_letters(file: DeadLetterFile, producer: EventHubsProducer, *, progress: bool = False) -> ResendReport:
    """Send a dead-letter file's events again. Sent events leave the file; if none
    could be sent the file is left exactly as it was; if some were, it is replaced
    atomically with the rest (their original reasons kept) plus whatever a
    concurrent `send` appended meanwhile. One resend per file at a time."""
    with file.resending():
        read = file.scan()
        letters = read.letters
        collector = DeadLetterList()
        report = producer.send([letter.event for letter in letters], dead_letters=collector, progress=progress)
        unsent = {id(event) for event, _ in collector.items}
        kept = [letter for letter in letters if id(letter.event) in unsent]
        if len(kept) != len(letters):
            file.rewrite(kept, read)
    log.info(
        "resend %s: %d of %d dead letters sent, %d kept", file.path, len(letters) - len(kept), len(letters), len(kept)
    )
    return ResendReport(len(letters), len(letters) - len(kept), len(kept), report)


def producer_from_env(
    settings: ProducerSettings, lake: Lake, *, hub_name: str | None = None, dead_letter: Path | None = None
) -> tuple[EventHubProducerClient, EventHubsProducer, Path]:
    """A producer for the hub the environment names (see `auth.eventhub_target`), with its
    client (close it, or use it as a context manager) and its dead-letter file: `dead_letter`,
    else the lake's file for the hub. Raises `AzureConfigError` when nothing is configured."""
    from lakehouse.ingestion.azure.auth import eventhub_producer, eventhub_target

    target = eventhub_target(lake.settings.environ, eventhub_name=hub_name)
    path = dead_letter or lake.dead_letter_file(target.eventhub_name)
    client = eventhub_producer(target, **settings.client_kwargs())
    producer = EventHubsProducer(
        client, dead_letters=DeadLetterFile(path, event_hub=target.eventhub_name), settings=settings
    )
    return client, producer, path
