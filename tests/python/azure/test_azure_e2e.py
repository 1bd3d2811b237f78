"""End to end on local Spark: simulate -> Azurite -> sync -> `dbt build` -> bronze rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse.ingestion.azure.blob_sync import sync_to_lake
from lakehouse.ingestion.capture.format import CapturePath, decode_capture_file
from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings
from lakehouse.ingestion.sources.simulator import FaultRates, SimulatorConfig, simulate
from lakehouse.paths import Lake
from tests.python.azure.azurite import Azurite
from tests.python.azure.conftest import blobs, make_store
from tests.python.lake_helpers import bronze_keys

pytestmark = pytest.mark.spark
HUB = "azure-e2e"
# Cautious: only tests whose parents are all selected (silver's tests also reference bronze).
BUILD_BRONZE = ("build", "--select", "bronze_capture_events", "--indirect-selection", "cautious")


def test_blobs_landed_in_azurite_and_synced_build_into_bronze(
    azurite: Azurite, container_name: str, tmp_path: Path, lake: Lake, spark, run_dbt
) -> None:  # type: ignore[no-untyped-def]
    config = SimulatorConfig(
        start=datetime(2026, 3, 7, 14, 0, tzinfo=UTC), duration=timedelta(minutes=30), devices=20, faults=FaultRates()
    )
    sim = simulate(config)
    settings = CaptureSettings(event_hub=HUB, partitions=2, window_seconds=300, write_empty_files=True)
    store = make_store(azurite.port, container_name, tmp_path / "quarantine")
    report = CaptureLander(store, settings).land(sim.events, start=config.start, end=config.end)
    assert report.records_written == sim.sends

    synced = sync_to_lake(store, Path(lake.capture), f"telemetry-ns/{HUB}/")
    landed = blobs(azurite.port, container_name)
    assert sorted(synced.downloaded) == sorted(landed)

    run_dbt(*BUILD_BRONZE)
    # Expected keys from the blobs themselves, read with fastavro (not from the lake or Spark).
    expected = sorted(
        (int(CapturePath.parse(path).partition_id), record["SequenceNumber"])
        for path, data in landed.items()
        for record in decode_capture_file(data)
    )
    assert len(expected) == sim.sends
    assert bronze_keys(spark, HUB) == expected

    # A second sync finds nothing new (bronze's own tests cover rebuilding without new files).
    assert sync_to_lake(store, Path(lake.capture), f"telemetry-ns/{HUB}/").downloaded == []
