"""Build timings at scale: one simulated day of a fleet, then a 5-minute batch.

    .venv/bin/python -m benchmarks.build_at_scale --devices 500 --lake /tmp/bench-lake

Prints the wall time of landing, of the first `dbt build`, and of an incremental
`dbt build` after a 5-minute batch, with the reconciliation and gold row counts.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.landing import land_simulation
from lakehouse.ingestion.sources.simulator import SimulatorConfig
from lakehouse.paths import Lake
from lakehouse.spark.metastore_lock import metastore_lock


def _land(lake: Lake, config: SimulatorConfig) -> tuple[int, int, float]:
    t0 = time.monotonic()
    landed = land_simulation(LocalCaptureStore(Path(lake.capture)), config, CaptureSettings(write_empty_files=True))
    return landed.simulation.readings, landed.report.records_written, time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--lake", type=Path, required=True, help="a fresh folder for the benchmark lake")
    args = parser.parse_args()
    lake = Lake.at(args.lake)
    os.environ.update(lake.env())
    from lakehouse.pipeline.lake_build import build_lake
    from lakehouse.pipeline.lake_report import reconciliation, table_states
    from lakehouse.spark.session import spark_session

    start = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    day = SimulatorConfig(start=start, duration=timedelta(hours=args.hours), devices=args.devices)
    batch = SimulatorConfig(start=day.end, duration=timedelta(minutes=5), devices=args.devices)
    with metastore_lock(lake.metastore):
        readings, records, seconds = _land(lake, day)
        print(f"day: {readings:,} readings, {records:,} Capture records landed in {seconds:.1f} s", flush=True)
        t0 = time.monotonic()
        build_lake(lake)
        first = time.monotonic() - t0
        print(f"first dbt build: {first:.1f} s", flush=True)
        counts_day = reconciliation(spark_session(lake))
        readings, records, seconds = _land(lake, batch)
        print(f"5-minute batch: {readings:,} readings, {records:,} records landed in {seconds:.1f} s", flush=True)
        t0 = time.monotonic()
        build_lake(lake)
        incremental = time.monotonic() - t0
        counts = reconciliation(spark_session(lake))
        states = table_states(lake)
    print("\n== figures ==")
    print(
        f"first build (1 day, {args.devices} devices): {first:.1f} s; "
        f"incremental build (5-minute batch): {incremental:.1f} s"
    )
    for label, c in (("after the day", counts_day), ("after the batch", counts)):
        print(
            f"reconciliation {label}: bronze {c['bronze']:,} = silver {c['silver']:,} + quarantine "
            f"{c['quarantine']:,} + duplicates {c['duplicates']:,}"
        )
    for s in states:
        print(f"  {s.layer}.{s.model}: {s.rows:,} rows (Delta version {s.version})")


if __name__ == "__main__":
    main()
