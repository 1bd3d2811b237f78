"""The reference plant through the runner: does a 5-minute cycle cost the same after
6 hours of history as after 3?

    .venv/bin/python -m benchmarks.plant_cycles --lake /tmp/plant-lake

10,000 devices every 30 s with faults on. Lands 3 simulated hours (3.6 M events)
and builds them once; runs 12 consecutive 5-minute cycles through the runner (each
lands 100 k events, loads bronze, `dbt build`s with run-scoped tests); lands and
builds 3 more hours; runs 12 more cycles. Prints seconds per step for every cycle
and the medians, then runs a single hand-written PySpark job that does the same
work as the first build on the same files (parse, quarantine, dedupe, both gold
tables, Delta out) as the baseline, and prints both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.sources.simulator import SimulatorConfig, simulate
from lakehouse.paths import CAPTURE, Lake
from lakehouse.spark.metastore_lock import metastore_lock

START = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
CYCLE = timedelta(minutes=5)


def land(lake: Lake, start: datetime, duration: timedelta, devices: int) -> tuple[int, float]:
    t0 = time.monotonic()
    sim = simulate(SimulatorConfig(start=start, duration=duration, devices=devices))
    report = CaptureLander(LocalCaptureStore(Path(lake.capture)), CaptureSettings(write_empty_files=True)).land(
        sim.events, start=start, end=start + duration
    )
    return report.records_written, time.monotonic() - t0


def run_cycles(lake: Lake, devices: int, cycles: int, label: str) -> list[float]:
    from lakehouse.operations.feeds import SimulatedFeed
    from lakehouse.operations.runner import Runner, RunnerSettings

    feed = SimulatedFeed(lake, devices, CYCLE, realtime=False)
    runner = Runner(lake, RunnerSettings(every=CYCLE, max_cycles=cycles, wait=False), land=feed)
    runner.run_log.ensure()
    totals = []
    for _ in range(cycles):  # one at a time, to print each as it ends
        record = runner.cycle()
        total = sum(v for k, v in record.step_seconds.items() if not k.startswith("build: "))
        totals.append(total)
        steps = "  ".join(f"{k} {v:6.1f}" for k, v in record.step_seconds.items())
        print(
            f"{label} cycle {record.cycle_id:3d}: {record.records_in:7,} records  total {total:6.1f} s  [{steps}]  "
            f"silver +{record.rows_added.get('silver.silver_telemetry', 0):,}  "
            f"files {sum(record.files_per_table.values()):,}",
            flush=True,
        )
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, required=True, help="a fresh folder for the benchmark lake")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=3.0, help="history landed before each set of cycles")
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--history-landed",
        action="store_true",
        help="the first hours are already landed in --lake (by an earlier run): build them",
    )
    args = parser.parse_args()
    lake = Lake.at(args.lake)
    os.environ.update(lake.env())
    from lakehouse.pipeline.lake_build import build_lake
    from lakehouse.spark.session import spark_session

    history = timedelta(hours=args.hours)
    figures: dict[str, float] = {}
    with metastore_lock(lake.metastore):
        if not args.history_landed:
            records, seconds = land(lake, START, history, args.devices)
            print(f"landed {args.hours:g} h: {records:,} Capture records in {seconds:.1f} s", flush=True)
        spark_session(lake)
        t0 = time.monotonic()
        build_lake(lake)
        figures["first build"] = time.monotonic() - t0
        print(f"first build of {args.hours:g} h: {figures['first build']:.1f} s", flush=True)
        after_3h = run_cycles(lake, args.devices, args.cycles, f"after {args.hours:g} h")

        resume = START + history + CYCLE * args.cycles
        records, seconds = land(lake, resume, history, args.devices)
        t0 = time.monotonic()
        build_lake(lake)
        print(
            f"landed {args.hours:g} more h: {records:,} records in {seconds:.1f} s; "
            f"built in {time.monotonic() - t0:.1f} s",
            flush=True,
        )
        after_6h = run_cycles(lake, args.devices, args.cycles, f"after {2 * args.hours:g} h")

    if not args.skip_baseline:
        from benchmarks.full_recompute import full_recompute

        paths = sorted(
            lake.url(key)
            for key in lake.files.walk(CAPTURE)
            if key.endswith(".avro") and _window_end(key) <= START + history
        )
        t0 = time.monotonic()
        rows = full_recompute(spark_session(lake), paths, args.lake / "_baseline")
        figures["baseline"] = time.monotonic() - t0
        print(
            f"hand-written full recompute of the same {args.hours:g} h ({rows:,} records): {figures['baseline']:.1f} s",
            flush=True,
        )

    m3, m6 = statistics.median(after_3h), statistics.median(after_6h)
    print("\n== figures ==")
    print(
        f"median cycle (land to gold) after {args.hours:g} h: {m3:.1f} s; after {2 * args.hours:g} h: {m6:.1f} s; "
        f"ratio {m6 / m3:.2f} (target <= 1.2)"
    )
    if "baseline" in figures:
        print(
            f"first build {figures['first build']:.1f} s vs hand-written job {figures['baseline']:.1f} s: "
            f"ratio {figures['first build'] / figures['baseline']:.2f} (target <= 1.1)"
        )


def _window_end(key: str) -> datetime:
    """The window end of a Capture file by its key (`capture/<relative path>`)."""
    from lakehouse.ingestion.capture.format import CapturePath

    return CapturePath.parse(key.removeprefix(f"{CAPTURE}/")).window_end


if __name__ == "__main__":
    main()
