"""What the runner lands each cycle into the lake (its folder or its container): the simulator's next period, or a CSV.

A feed is stateless: where the simulated plant stands is read back from the landed
Capture files (each partition's last window end), as the lander does, so a
restarted runner continues where the files stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakehouse.ingestion.capture.lake_store import capture_store
from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings
from lakehouse.ingestion.sources.simulator import FaultRates, SimulatorConfig, simulate
from lakehouse.paths import Lake


def _floor(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


@dataclass
class SimulatedFeed:
    """Lands the simulated fleet's telemetry from where the landed files stop: up to
    now (rounded down to `every`), or with `realtime=False` one period of `every`
    per call (to replay days of the plant as fast as the machine goes)."""

    lake: Lake
    devices: int
    every: timedelta
    start: datetime | None = None
    realtime: bool = True
    faults: FaultRates = field(default_factory=FaultRates)
    settings: CaptureSettings = field(default_factory=lambda: CaptureSettings(write_empty_files=True))

    def __call__(self) -> int:
        lander = CaptureLander(capture_store(self.lake), self.settings)
        landed = [lander.position(str(p)).landed_until for p in range(self.settings.partitions)]
        begin = max((t for t in landed if t), default=None) or self.start or _floor(datetime.now(UTC), self.every)
        end = _floor(datetime.now(UTC), self.every) if self.realtime else begin + self.every
        if end <= begin:
            return 0
        config = SimulatorConfig(start=begin, duration=end - begin, devices=self.devices, faults=self.faults)
        return lander.land(simulate(config).events, start=begin, end=end).records_written


@dataclass
class CsvFeed:
    """Lands a CSV's rows (the lander skips what it has landed already)."""

    lake: Lake
    csv_file: Path
    timestamp_column: str = "ts"
    device_column: str = "device_id"
    settings: CaptureSettings = field(default_factory=CaptureSettings)

    def __call__(self) -> int:
        from lakehouse.ingestion.sources.csv_replay import replay_csv

        events = list(
            replay_csv(
                self.csv_file, timestamp_column=self.timestamp_column, device_column=self.device_column, speedup=None
            )
        )
        return CaptureLander(capture_store(self.lake), self.settings).land(events).records_written
