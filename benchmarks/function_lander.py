"""The Functions lander (`batch_lander`) at the plant's rate, beside a month of history.

    .venv/bin/python -m benchmarks.function_lander --root /tmp/function-lander-bench

Writes 30 days of one hub's Capture files (4 partitions, a file every 5 minutes,
header and one record each: 34,560 files) into a local store, then times:

- a cold restore of one partition (what a new instance, a redelivery or a moved
  partition costs): listing the hour folders from the batch to now, as the lander
  does, against listing the partition's whole history;
- landing five minutes of the plant (101,000 events, 10,000 devices every 30 s,
  over 4 partitions) delivered as the Event Hubs trigger delivers them, 1,000
  events a call, on one warm instance;
- the same calls delivered again to a new instance (every event already landed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lakehouse.ingestion.azure.batch_lander import BatchLander
from lakehouse.ingestion.capture.format import CapturePath, CaptureRecord, encode_capture_file
from lakehouse.ingestion.capture.lander import CaptureSettings, partition_position
from lakehouse.ingestion.capture.store import LocalCaptureStore

HUB = CaptureSettings(namespace="bench-ns", event_hub="telemetry-http", partitions=4)
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
HISTORY_START = NOW - timedelta(days=30)
EVENTS, BATCH = 101_000, 1_000


@dataclass(frozen=True)
class Delivered:
    """One event as the Functions worker hands it over (the fields the lander reads)."""

    sequence_number: int
    offset: int
    enqueued_time: datetime
    partition_key: str
    body: bytes
    metadata: Mapping[str, Any]

    def get_body(self) -> bytes:
        return self.body


def write_history(store: LocalCaptureStore, until: datetime) -> int:
    """A file every 5 minutes per partition up to `until`; returns the next sequence number."""
    windows = int((until - HISTORY_START) / timedelta(minutes=5))
    for partition in range(HUB.partitions):
        for window in range(windows):
            end = HISTORY_START + timedelta(minutes=5 * (window + 1))
            record = CaptureRecord(window, window * 100, end - timedelta(seconds=1), b"{}")
            path = str(CapturePath(HUB.namespace, HUB.event_hub, str(partition), end))
            store.write_file(path, encode_capture_file([record], sync_key=path))
    return windows


def batches(first_sequence: int, start: datetime) -> list[list[Delivered]]:
    """Five minutes of the plant, per partition in sequence order, cut into calls."""
    per_partition: dict[str, list[Delivered]] = {str(p): [] for p in range(HUB.partitions)}
    for i in range(EVENTS):
        device = f"dev-{i % 10_000:05d}"
        partition = HUB.partition_for(device, i)
        events = per_partition[partition]
        body = json.dumps({"event_id": f"e{i}", "device_id": device, "temperature_c": 21.5}).encode()
        context = {"PartitionContext": {"PartitionId": partition}}
        seq = first_sequence + len(events)
        events.append(Delivered(seq, seq * 100, start + timedelta(seconds=300 * i / EVENTS), device, body, context))
    return [events[i : i + BATCH] for events in per_partition.values() for i in range(0, len(events), BATCH)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="a scratch folder (emptied first)")
    args = parser.parse_args()
    shutil.rmtree(args.root, ignore_errors=True)
    store = LocalCaptureStore(args.root)

    t0 = time.perf_counter()
    next_sequence = write_history(store, NOW - timedelta(minutes=5))
    print(f"history: {len(store.list_files(''))} files over 30 days in {time.perf_counter() - t0:.1f} s")

    prefix = f"{HUB.namespace}/{HUB.event_hub}/0/"
    for label, hours in (("the batch's hours", (NOW - timedelta(hours=1), NOW + timedelta(hours=1))), ("all", None)):
        t0 = time.perf_counter()
        position = partition_position(store, prefix, hours=hours)
        print(
            f"cold restore, listing {label}: {1000 * (time.perf_counter() - t0):.1f} ms "
            f"(landed through sequence number {position.last_sequence_number})"
        )

    calls = batches(next_sequence, NOW)
    for label, lander in (
        ("five minutes of the plant, warm instance", BatchLander(store, HUB)),
        ("the same calls again, new instance (all landed)", BatchLander(store, HUB)),
    ):
        t0 = time.perf_counter()
        written = skipped = files = 0
        for call in calls:
            report = lander.land(call)
            written, skipped, files = (
                written + report.records_written,
                skipped + report.already_landed,
                files + len(report.paths),
            )
        seconds = time.perf_counter() - t0
        print(
            f"{label}: {len(calls)} calls, {written:,} records written in {files} files, {skipped:,} skipped; "
            f"{seconds:.1f} s, {EVENTS / seconds:,.0f} events/s"
        )


if __name__ == "__main__":
    main()
