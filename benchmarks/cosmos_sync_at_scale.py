"""Measure the Cosmos sync on realistic data: 500 devices x 1 day of 5-minute windows.

    .venv/bin/python -m benchmarks.cosmos_sync_at_scale [--devices 500] [--concurrency 16]

Writes gold_device_metrics_5m (144,000 rows for 500 devices) and
gold_site_metrics_1h with delta-rs into a scratch lake, starts the local Cosmos
test server, then runs: the first (full) sync, a restatement of one window per
device (~500 rows, a MERGE) and its incremental sync, a restatement of the whole
day (every row, one MERGE) and its incremental sync, and a sync with no change.
Each sync is the real CLI (`lakehouse serve cosmos-sync`) in a child process, so
its exit code and its peak resident memory are its own, not the harness's (which
holds the generated rows). The peak is the child's VmHWM, read as it exits:
getrusage's maxrss would count the harness's pages the child shared before exec.
A benchmark harness, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lakehouse.paths import Lake
from lakehouse.serving.cosmos.connection import CosmosSettings
from tests.python.serving.conftest import settings_for
from tests.python.serving.cosmos_test_server import make_tls_files, running_cosmos_server
from tests.python.serving.gold_data import DEVICE_METRICS, SITE_METRICS, GoldTable, device_row, site_row

WINDOWS_PER_DAY = 24 * 12


# The CLI, reporting its peak resident memory (kB) on its last line as it exits.
CHILD = """
import atexit, sys
def peak():
    hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    sys.stdout.write(f"peak-rss-kb {hwm.split()[1]}\\n")
    sys.stdout.flush()
atexit.register(peak)
from lakehouse.cli.main import main
main()
"""


def sync_in_child(lake: Lake, settings: CosmosSettings, concurrency: int) -> tuple[str, int, float]:
    """`lakehouse serve cosmos-sync` in a child process: its output, exit code and peak RSS in MiB."""
    env = {
        **os.environ,
        "COSMOS_ENDPOINT": settings.endpoint,
        "COSMOS_KEY": settings.key or "",
        "COSMOS_DATABASE": settings.database,
        "COSMOS_CA_CERT": str(settings.ca_cert),
    }
    command = [
        sys.executable,
        "-c",
        CHILD,
        "--lake",
        str(lake.root),
        "serve",
        "cosmos-sync",
        "--concurrency",
        str(concurrency),
    ]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    output, _, last = done.stdout.rstrip().rpartition("\n")
    peak_kb = float(last.split()[1]) if last.startswith("peak-rss-kb ") else float("nan")
    return output, done.returncode, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as scratch:
        lake = Lake.at(Path(scratch) / "lake")
        t0 = time.monotonic()
        devices = GoldTable(lake.table("gold", "gold_device_metrics_5m"), DEVICE_METRICS)
        devices.create(device_row(d, w) for d in range(args.devices) for w in range(WINDOWS_PER_DAY))
        sites = GoldTable(lake.table("gold", "gold_site_metrics_1h"), SITE_METRICS)
        sites.create(site_row(s, h) for s in range(7) for h in range(24))
        print(
            f"wrote {len(devices.rows):,} device windows and {len(sites.rows):,} site windows with delta-rs "
            f"in {time.monotonic() - t0:.1f} s"
        )

        with running_cosmos_server(make_tls_files(Path(scratch) / "tls")) as server:
            settings = settings_for(server.endpoint, server.tls, "bench")

            def run(title: str) -> None:
                output, code, peak_mib = sync_in_child(lake, settings, args.concurrency)
                print(f"\n== {title}")
                print(output.rstrip())
                print(f"exit code {code}, peak RSS {peak_mib:,.0f} MiB")
                if code != 0:
                    raise SystemExit(f"the sync exited with {code}")

            run("first sync (snapshot)")
            devices.merge(device_row(d, WINDOWS_PER_DAY - 1, revision=1) for d in range(args.devices))
            sites.merge([site_row(0, 23, revision=1)])
            run(f"incremental sync after restating {args.devices + 1} windows")
            devices.merge(device_row(d, w, revision=2) for d in range(args.devices) for w in range(WINDOWS_PER_DAY))
            run(f"incremental sync after restating the whole day ({len(devices.rows):,} windows, one version)")
            run("sync with no change")


if __name__ == "__main__":
    main()
