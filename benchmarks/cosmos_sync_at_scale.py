"""Measure the Cosmos sync on realistic data: 500 devices x 1 day of 5-minute windows.

    .venv/bin/python -m benchmarks.cosmos_sync_at_scale [--devices 500] [--concurrency 16]

Writes gold_device_metrics_5m (144,000 rows for 500 devices) and
gold_site_metrics_1h with delta-rs into a scratch lake, starts the local Cosmos
test server, then runs: the first (full) sync, a restatement of one window per
device (~500 rows, a MERGE) and its incremental sync, and a sync with no change.
A benchmark harness, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from lakehouse.paths import Lake
from serving.cosmos_sync import sync_gold_to_cosmos
from tests.python.serving.conftest import settings_for
from tests.python.serving.cosmos_test_server import make_tls_files, running_cosmos_server
from tests.python.serving.gold_data import DEVICE_METRICS, SITE_METRICS, GoldTable, device_row, site_row

WINDOWS_PER_DAY = 24 * 12


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as scratch:
        lake = Lake.from_env(Path(scratch) / "lake")
        t0 = time.monotonic()
        devices = GoldTable(lake.table("gold", "gold_device_metrics_5m"), DEVICE_METRICS)
        devices.create(device_row(d, w) for d in range(args.devices) for w in range(WINDOWS_PER_DAY))
        sites = GoldTable(lake.table("gold", "gold_site_metrics_1h"), SITE_METRICS)
        sites.create(site_row(s, h) for s in range(7) for h in range(24))
        print(f"wrote {len(devices.rows):,} device windows and {len(sites.rows):,} site windows with delta-rs "
              f"in {time.monotonic() - t0:.1f} s")

        with running_cosmos_server(make_tls_files(Path(scratch) / "tls")) as server:
            settings = settings_for(server.endpoint, server.tls, "bench")

            def run(title: str) -> None:
                report = sync_gold_to_cosmos(lake, settings=settings, concurrency=args.concurrency)
                print(f"\n== {title}")
                print("\n".join(report.lines()))

            run("first sync (snapshot)")
            devices.merge(device_row(d, WINDOWS_PER_DAY - 1, revision=1) for d in range(args.devices))
            sites.merge([site_row(0, 23, revision=1)])
            run(f"incremental sync after restating {args.devices + 1} windows")
            run("sync with no change")


if __name__ == "__main__":
    main()
