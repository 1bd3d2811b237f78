"""Polls the HTTP source and sends what is new to Event Hubs, its cursor kept in a blob.

The Azure Functions timer trigger runs one `forward_poll` per tick. The poller's
state - the API's resume cursor and the ids already sent - lives in one JSON blob
(`PollCursorBlob`), so a restarted or moved instance resumes where the last one
stopped. Each page is sent first and its state saved after (an ETag-conditional
write: two instances polling at once fail the second instead of both moving the
cursor). If a send fails, the cursor stays before that page and the tick raises;
the next tick polls the page again. A crash between a page's send and its cursor
write sends that page once more at the next tick; silver keeps one row per
event_id, so it is counted once.

An event too large for any batch can never be sent: it is written to a dead-letter
blob (`dead-letters/<hub>/...jsonl` in the cursor's container, the dead-letter file
format) and the cursor moves on, so one bad record does not stop the source.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.eventhub import EventHubProducerClient
from azure.storage.blob import ContainerClient

from lakehouse.ingestion.azure.dead_letters import encode_dead_letter
from lakehouse.ingestion.azure.producer import TOO_LARGE, EventHubsProducer, ProducerSettings
from lakehouse.ingestion.events import Event
from lakehouse.ingestion.sources.http import HttpPoller, PollerState, PollStats

log = logging.getLogger(__name__)


class CursorConflict(RuntimeError):
    """Another poll moved the cursor since this one read it."""


class SendFailed(RuntimeError):
    """Event Hubs refused a page after retries; the cursor stays before it."""


class PollCursorBlob:
    """The poller's state in one blob, written only over the version that was read."""

    def __init__(self, container: ContainerClient, name: str) -> None:
        self.container = container
        self.name = name
        self._etag: str | None = None

    def load(self) -> PollerState:
        try:
            download = self.container.download_blob(self.name)
        except ResourceNotFoundError:
            self._etag = None
            return PollerState()
        self._etag = download.properties.etag
        saved = json.loads(download.readall())
        return PollerState(cursor=saved.get("cursor"), seen_ids=list(saved.get("seen_ids", [])))

    def save(self, state: PollerState) -> None:
        data = json.dumps({**asdict(state), "saved_at": datetime.now(UTC).isoformat()}).encode()
        blob = self.container.get_blob_client(self.name)
        try:
            if self._etag is None:
                result = blob.upload_blob(data, overwrite=False)
            else:
                result = blob.upload_blob(
                    data, overwrite=True, etag=self._etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError) as exc:
            raise CursorConflict(
                f"the poll cursor {self.name} was moved by another poll since it was read; this tick stops"
            ) from exc
        except ResourceNotFoundError:
            self.container.create_container()
            result = blob.upload_blob(data, overwrite=False)
        self._etag = result["etag"]


class _TooLargeLetters:
    """The producer's dead-letter sink inside a tick: too-large events go to a blob now;
    events a failed send left over are only held, since the page is polled again."""

    def __init__(self, container: ContainerClient, event_hub: str) -> None:
        self.container = container
        self.event_hub = event_hub
        self.unsent: list[Event] = []
        self.dead_lettered = 0

    def append(self, events: Sequence[Event], reason: str) -> None:
        if TOO_LARGE not in reason:
            self.unsent.extend(events)
            return
        lines = "".join(encode_dead_letter(e, reason, event_hub=self.event_hub) + "\n" for e in events)
        name = f"dead-letters/{self.event_hub}/{datetime.now(UTC):%Y/%m/%d/%H%M%S}-{uuid.uuid4().hex[:8]}.jsonl"
        self.container.upload_blob(name, lines.encode(), overwrite=False)
        self.dead_lettered += len(events)
        log.error("%d events too large to send were dead-lettered to %s", len(events), name)


@dataclass
class ForwardReport:
    pages: int = 0
    events_sent: int = 0
    dead_lettered: int = 0
    duplicates_skipped: int = 0


def forward_poll(
    poller: HttpPoller,
    client: EventHubProducerClient,
    cursor: PollCursorBlob,
    *,
    event_hub: str,
    settings: ProducerSettings | None = None,
) -> ForwardReport:
    """One poll from the saved cursor: each page's new events sent, then the cursor saved."""
    poller.restore(cursor.load())
    letters = _TooLargeLetters(cursor.container, event_hub)
    producer = EventHubsProducer(client, dead_letters=letters, settings=settings)
    stats = PollStats()
    report = ForwardReport()
    for events in poller.poll(stats, handed_off=lambda: cursor.save(poller.state())):
        if events:
            sent = producer.send(events)
            if sent.error:
                raise SendFailed(
                    f"Event Hubs refused a page of {len(events)} events ({sent.error}); "
                    "the cursor stays before it and the next tick sends it again"
                )
            report.events_sent += sent.events_sent
        report.pages += 1
    report.dead_lettered = letters.dead_lettered
    report.duplicates_skipped = stats.duplicates_skipped
    log.info(
        "forwarded %d events from %d pages (%d already sent, %d dead-lettered)",
        report.events_sent,
        report.pages,
        report.duplicates_skipped,
        report.dead_lettered,
    )
    return report
