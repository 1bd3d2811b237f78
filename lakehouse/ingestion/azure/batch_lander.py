"""Lands the batches an Azure Functions Event Hubs trigger delivers as Capture files.

The Functions host reads the hub with a consumer group, calls the function with
one partition's batch of events, and checkpoints after the call returns - or after
its retry policy gives up, so the app's policy never does (`max_retry_count` -1,
azure_functions/function_app.py). So a batch is landed whole within its call: its
events are cut into capture windows as the consumer lander cuts them (aligned to
`window_seconds`, split at a whole second past `max_file_bytes`), and the last
window of the batch is closed at the whole second after its last event instead
of being held open (`CaptureWindower.close_open`). File names keep the Capture
layout and increase within a partition.

At least once in, exactly once landed: before a batch, the partition's state (the
last landed window's end and sequence number) comes from memory when the batch
starts right after what this instance landed, else from the files in the store
(a cold start, a redelivery, a partition that moved between instances) - listing
only the hour folders around the batch's enqueued times, not the history. Events
up to the landed sequence number are skipped; files are create-only, so a write
repeated after a lost answer is accepted when its bytes are the same. A failed
write raises (nothing is checkpointed, the host retries the batch) and drops the
partition's state, so the retry starts from the files.

Every attempt that does not land raises, the last one too: nothing goes to a
quarantine, least of all the instance's own disk (lost at scale-in), and the
quarantine container shares the lake's storage account, so it fails with it. The
partition waits while the hub's retention keeps its events; a new instance (a
restart, a moved partition) gets the batch again from the last checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from lakehouse.ingestion.azure.consumer_lander import CaptureWindower, capture_properties, write_capture_window
from lakehouse.ingestion.capture.format import CaptureRecord
from lakehouse.ingestion.capture.lander import CaptureSettings, partition_position
from lakehouse.ingestion.capture.store import CaptureStore
from lakehouse.ingestion.events import utc

log = logging.getLogger(__name__)
RESTORE_MARGIN = timedelta(hours=1)


class FunctionsEvent(Protocol):
    """What the Functions worker hands over per event (`azure.functions.EventHubEvent`)."""

    @property
    def sequence_number(self) -> int | None: ...

    @property
    def offset(self) -> int | str | None: ...

    @property
    def enqueued_time(self) -> datetime | None: ...

    @property
    def partition_key(self) -> str | None: ...

    @property
    def metadata(self) -> Mapping[str, Any] | None: ...

    def get_body(self) -> bytes: ...


@dataclass
class BatchReport:
    partition_id: str
    events: int = 0
    already_landed: int = 0
    records_written: int = 0
    paths: list[str] = field(default_factory=list)


def partition_of(events: Sequence[FunctionsEvent]) -> str:
    """The partition a batch came from (the trigger's `PartitionContext`)."""
    context = (events[0].metadata or {}).get("PartitionContext") or {}
    partition_id = context.get("PartitionId") if isinstance(context, Mapping) else None
    if partition_id is None:
        raise ValueError("the batch has no PartitionContext.PartitionId (cardinality many is required)")
    return str(partition_id)


def capture_records(events: Sequence[FunctionsEvent]) -> list[CaptureRecord]:
    """The Capture records of a delivered batch, with the hub's numbers and properties."""
    metadata = (events[0].metadata or {}) if events else {}
    properties = metadata.get("PropertiesArray") or [{}] * len(events)
    system = metadata.get("SystemPropertiesArray") or [{}] * len(events)
    records = []
    for event, props, sys_props in zip(events, properties, system, strict=True):
        if event.sequence_number is None or event.offset is None or event.enqueued_time is None:
            raise ValueError("a delivered event needs sequence_number, offset and enqueued_time (the hub sets them)")
        system_properties = capture_properties({k: v for k, v in (sys_props or {}).items() if k.startswith("x-opt-")})
        if event.partition_key:
            system_properties["x-opt-partition-key"] = event.partition_key
        offset = event.offset
        records.append(
            CaptureRecord(
                sequence_number=int(event.sequence_number),
                offset=int(offset) if str(offset).isdigit() else str(offset),
                enqueued_time=utc(event.enqueued_time),
                body=event.get_body(),
                properties=capture_properties(props),
                system_properties=system_properties,
            )
        )
    return records


class BatchLander:
    """Lands delivered batches into `store` (a store that raises when a file cannot be
    written); one per Functions instance (it keeps the partitions' positions between calls)."""

    def __init__(self, store: CaptureStore, settings: CaptureSettings) -> None:
        self.store = store
        self.settings = settings
        self.windower = CaptureWindower(settings)

    def _restore_unless_next(self, partition_id: str, records: Sequence[CaptureRecord]) -> None:
        known = self.windower.landed_through(partition_id)
        if known is not None and records[0].sequence_number == known + 1:
            return  # the batch follows what this instance landed: memory is the truth
        # Only the files that can hold this batch's records: a file is named after its
        # records and no later than their window's end (at most 15 minutes), so the hour
        # folders around the batch's enqueued times, whatever the partition's history.
        first = records[0].enqueued_time - RESTORE_MARGIN
        last = records[-1].enqueued_time + RESTORE_MARGIN
        s = self.settings
        position = partition_position(self.store, f"{s.namespace}/{s.event_hub}/{partition_id}/", hours=(first, last))
        self.windower.restore(
            partition_id, closed_until=position.landed_until, landed_through=position.last_sequence_number
        )
        log.info(
            "partition %s: landed through sequence number %s (read from the store)",
            partition_id,
            position.last_sequence_number,
        )

    def land(self, events: Sequence[FunctionsEvent]) -> BatchReport:
        """Land one partition's batch whole; raise if the landed position cannot be read
        or a file cannot be written (then nothing may be checkpointed)."""
        if not events:
            return BatchReport(partition_id="")
        partition_id = partition_of(events)
        records = sorted(capture_records(events), key=lambda r: r.sequence_number)
        report = BatchReport(partition_id, events=len(records))
        try:
            self._restore_unless_next(partition_id, records)
            skipped_before = self.windower.skipped.get(partition_id, 0)
            windows = self.windower.add_records(partition_id, ((r, None) for r in records))
            windows += self.windower.close_open(partition_id)
            report.already_landed = self.windower.skipped.get(partition_id, 0) - skipped_before
            for window in windows:
                report.paths.append(write_capture_window(self.store, self.settings, window))
                report.records_written += len(window.records)
        except BaseException:
            # The host retries this batch: start it from the files, not from this half-done state.
            self.windower.restore(partition_id, closed_until=None, landed_through=None)
            raise
        log.info(
            "partition %s: %d events, %d already landed, %d records in %d files",
            partition_id,
            report.events,
            report.already_landed,
            report.records_written,
            len(report.paths),
        )
        return report
