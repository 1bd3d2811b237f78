"""Bronze's load time per batch: one plant cycle (10,000 devices x 5 min, about 100 k
Capture records) or the demo (50 devices x 1 h), split by step.

    .venv/bin/python -m benchmarks.bronze_load --lake /tmp/bronze-bench            # the plant cycle
    .venv/bin/python -m benchmarks.bronze_load --lake /tmp/bronze-demo --devices 50 --minutes 60 --loads 1

Lands `--loads` consecutive batches of `--minutes` into a fresh lake (faults on), and
after each one times `BronzeLoader.load_new_files()` in one warm Spark session; prints
each load's seconds by step (list, manifest lookup, check, merge, record) and the
median of the loads after the first (the first also creates the tables).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.sources.simulator import SimulatorConfig, simulate
from lakehouse.paths import Lake
from lakehouse.spark.metastore_lock import metastore_lock

START = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, required=True, help="a folder that does not exist yet")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    if args.lake.exists():
        parser.error(f"{args.lake} exists: give a new folder")
    lake = Lake.at(args.lake)

    from lakehouse.pipeline.bronze_load import BronzeLoader
    from lakehouse.spark.session import spark_session

    with metastore_lock(lake.metastore):
        t0 = time.monotonic()
        spark = spark_session(lake)
        print(f"spark session: {time.monotonic() - t0:.1f} s", flush=True)
        lander = CaptureLander(LocalCaptureStore(Path(lake.capture)), CaptureSettings(write_empty_files=True))
        totals = []
        for load in range(args.loads):
            start = START + load * timedelta(minutes=args.minutes)
            end = start + timedelta(minutes=args.minutes)
            config = SimulatorConfig(start=start, duration=end - start, devices=args.devices)
            landed = lander.land(simulate(config).events, start=start, end=end)
            t0 = time.monotonic()
            report = BronzeLoader(spark, lake).load_new_files()
            total = time.monotonic() - t0
            totals.append(total)
            steps = "  ".join(f"{k} {v:5.2f}" for k, v in report.seconds.items())
            print(
                f"load {load + 1}: {landed.files_written:,} files, {landed.records_written:,} records landed; "
                f"{report.rows_added:,} rows added, {len(report.bad_files)} bad; {total:6.2f} s  [{steps}]",
                flush=True,
            )
        later = totals[1:] or totals
        print(f"median bronze load ({len(later)} loads): {statistics.median(later):.2f} s", flush=True)


if __name__ == "__main__":
    main()
