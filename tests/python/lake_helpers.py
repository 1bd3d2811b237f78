"""Helpers for tests that land data into the shared test lake and read tables back."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta

from lakehouse.ingestion.capture.lander import CaptureSettings, LandingReport, landed_records
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.landing import land_simulation as land
from lakehouse.ingestion.sources.simulator import FaultRates, Simulation, SimulatorConfig
from lakehouse.paths import PROJECT_DIR, Lake

# Every kind of fault at once, at rates a small test lake still reconciles by hand.
FAULTS = FaultRates(
    duplicate=0.03,
    out_of_order=0.03,
    late=0.02,
    malformed_json=0.01,
    missing_field=0.01,
    wrong_type=0.01,
    out_of_range=0.01,
    extra_fields=0.03,
)


def land_simulation(
    lake: Lake,
    *,
    hub: str,
    start: datetime,
    duration: timedelta,
    devices: int = 20,
    faults: FaultRates | None = None,
    seed: int = 7,
    partitions: int = 2,
) -> tuple[Simulation, LandingReport]:
    config = SimulatorConfig(
        start=start,
        duration=duration,
        devices=devices,
        seed=seed,
        faults=faults if faults is not None else FaultRates.none(),
    )
    settings = CaptureSettings(event_hub=hub, partitions=partitions, window_seconds=300, write_empty_files=True)
    landed = land(LocalCaptureStore(lake.capture), config, settings)
    return landed.simulation, landed.report


def capture_records(lake: Lake, hub: str) -> list[tuple[str, dict]]:
    """Every record of the hub's Capture files, read with fastavro (not Spark)."""
    return list(landed_records(LocalCaptureStore(lake.capture), f"telemetry-ns/{hub}/"))


def bronze_keys(spark: object, hub: str) -> list[tuple[int, int]]:
    rows = spark.sql(  # type: ignore[attr-defined]
        f"select partition_id, sequence_number from bronze.bronze_capture_events where event_hub = '{hub}'"
    ).collect()
    return sorted((r.partition_id, r.sequence_number) for r in rows)


def seed_registry() -> dict[str, str]:
    """device_id -> site_id, read from the registry seed's CSV itself."""
    with open(PROJECT_DIR / "seeds" / "device_registry.csv") as handle:
        return {row["device_id"]: row["site_id"] for row in csv.DictReader(handle)}
