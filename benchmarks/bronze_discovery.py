"""How bronze finds new Capture files, against a month of history.

    .venv/bin/python -m benchmarks.bronze_discovery --lake /tmp/discovery-lake --days 30

Writes a month of the plant's Capture file tree (4 partitions, a file every 5
minutes: 34,560 files, header-only so the figure is the finding, not the decoding),
then times:

- the bronze loader (the listed hour folders compared with bronze's file manifest,
  the missing files read with a batch read), listing only the recent hour folders
  (`capture_discovery`), with nothing new and with one new window (4 files); and its
  full sweep of the whole tree;
- a batch listing pruned by `modifiedAfter` (binaryFile, path only) finding the
  same 4 files;
- reading every file of the tree, as the old external-table bronze did each build.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from lakehouse.ingestion.capture.format import CapturePath, encode_capture_file
from lakehouse.paths import CAPTURE, Lake
from lakehouse.spark.metastore_lock import metastore_lock

START = datetime(2026, 10, 1, tzinfo=UTC)


def write_tree(lake: Lake, start: datetime, windows: int, partitions: int = 4) -> list[str]:
    """Header-only Capture files through the lake's storage seam; their keys."""
    written = []
    for window in range(windows):
        end = start + timedelta(minutes=5 * (window + 1))
        for partition in range(partitions):
            relative = str(CapturePath("telemetry-ns", "telemetry", str(partition), end))
            key = f"{CAPTURE}/{relative}"
            lake.files.create(key, encode_capture_file([], sync_key=relative))
            written.append(key)
    return written


def timed(label: str, action: Callable[[], object]) -> None:
    t0 = time.monotonic()
    result = action()
    print(f"{label}: {time.monotonic() - t0:.2f} s ({result})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", required=True, help="a folder (or a lake URL)")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    lake = Lake.at(args.lake)
    os.environ.update(lake.env())
    from lakehouse.pipeline.bronze_load import BronzeLoader
    from lakehouse.pipeline.capture_discovery import CAPTURE_GLOB
    from lakehouse.spark.session import spark_session

    windows = args.days * 288
    files = write_tree(lake, START, windows)
    print(f"history: {len(files):,} Capture files ({args.days} days, 4 partitions)", flush=True)
    with metastore_lock(lake.metastore):
        spark = spark_session(lake)
        glob = f"{lake.capture}/{CAPTURE_GLOB}"
        timed("loader, first run over the whole history", lambda: BronzeLoader(spark, lake).load_new_files().files)
        timed("loader, recent hour folders, nothing new", lambda: BronzeLoader(spark, lake).load_new_files().files)
        cutoff = time.time()
        time.sleep(1.1)
        write_tree(lake, START + timedelta(minutes=5 * windows), 1)
        timed("loader, recent hour folders, one new window", lambda: BronzeLoader(spark, lake).load_new_files().files)
        timed(
            "loader, full sweep of the tree, nothing new",
            lambda: BronzeLoader(spark, lake).load_new_files(full_sweep=True).files,
        )
        after = datetime.fromtimestamp(cutoff, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        timed(
            "batch listing with modifiedAfter, one new window",
            lambda: len(
                spark.read.format("binaryFile").option("modifiedAfter", after).load(glob).select("path").collect()
            ),
        )
        timed(
            "reading every file of the tree (the old bronze, each build)",
            lambda: spark.read.format("avro").load(glob).count(),
        )


if __name__ == "__main__":
    main()
