"""Any source as a sequence of event batches, for a sender: the simulated fleet or a
CSV as one batch, an HTTP endpoint as one batch per page, each page taken only when
the previous one has been sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from lakehouse.ingestion.events import Event
from lakehouse.ingestion.sources.csv_replay import replay_csv
from lakehouse.ingestion.sources.http import HttpPoller, HttpSourceConfig
from lakehouse.ingestion.sources.simulator import SimulatorConfig, simulate


@dataclass(frozen=True)
class CsvSource:
    path: Path
    timestamp_column: str = "ts"
    device_column: str = "device_id"


@dataclass(frozen=True)
class HttpSource:
    config: HttpSourceConfig
    interval: timedelta
    polls: int | None = None


def event_batches(source: SimulatorConfig | CsvSource | HttpSource) -> Iterable[list[Event]]:
    """Raises `CsvReplayError` for a bad CSV (before anything is returned)."""
    if isinstance(source, SimulatorConfig):
        return [simulate(source).events]
    if isinstance(source, CsvSource):
        return [
            list(replay_csv(source.path, timestamp_column=source.timestamp_column, device_column=source.device_column))
        ]
    polls = HttpPoller(source.config).poll_forever(source.interval.total_seconds(), polls=source.polls)
    return (page for poll in polls for page in poll)
