"""Capture files bronze must load whatever their modification times, through the CLI:
`lakehouse --lake <lake> load-bronze` processes on a lake of the tests' own.

The landed data comes from a scratch lake (one landing, so sequence numbers run on
across the batches); its files are copied into the tested lake's Capture tree the way
an archive restore, `rsync -a` or `cp -p` leaves them: with their modification times,
here 10 days old. What bronze must hold is computed from the files with fastavro.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.ingestion.capture.format import CapturePath
from lakehouse.ingestion.capture.lander import CaptureSettings, landed_records
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.landing import land_simulation
from lakehouse.ingestion.sources.simulator import SimulatorConfig
from lakehouse.paths import PROJECT_DIR, Lake
from tests.python import expected_lake as ex
from tests.python.lake_helpers import cli_env

pytestmark = pytest.mark.spark
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TEN_DAYS = 10 * 24 * 3600


def _load_bronze(lake: Lake, *args: str) -> str:
    """`lakehouse --lake <lake> load-bronze <args>` as a process; its console output."""
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli.main", "--lake", str(lake.root), "load-bronze", *args],
        cwd=PROJECT_DIR,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _land(scratch: Lake, start: datetime, duration: timedelta) -> list[str]:
    """Land into the scratch lake; the paths of the files this landing wrote."""
    before = set(LocalCaptureStore(scratch.capture).list_files(""))
    config = SimulatorConfig(start=start, duration=duration, devices=4, seed=11)
    land_simulation(LocalCaptureStore(scratch.capture), config, CaptureSettings(partitions=2, write_empty_files=True))
    return sorted(set(LocalCaptureStore(scratch.capture).list_files("")) - before)


def _restore(scratch: Lake, lake: Lake, paths: list[str], *, age: float | None) -> None:
    """Copy files into the lake's Capture tree; `age` (seconds) sets their times that far
    back, as a restore that keeps the originals' times would."""
    for path in paths:
        target = Path(lake.capture) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(scratch.capture) / path, target)
        if age is not None:
            old = time.time() - age
            os.utime(target, (old, old))


def _landed(lake: Lake) -> list[str]:
    return sorted(ex.capture_record_id(p, r) for p, r in landed_records(LocalCaptureStore(lake.capture)))


def _bronze(spark: Any, lake: Lake) -> list[str]:
    """Bronze's record keys, read by path (the session's own lake is another one)."""
    table = spark.read.format("delta").load(str(lake.table("bronze", "bronze_capture_events")))
    return sorted(r.capture_record_id for r in table.select("capture_record_id").collect())


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Lake]:
    """(scratch lake with every landing, tested lake) - both new."""
    return Lake.at(tmp_path_factory.mktemp("landed")), Lake.at(tmp_path_factory.mktemp("restored"))


def test_files_restored_with_old_modification_times_are_loaded(spark: Any, lakes: tuple[Lake, Lake]) -> None:
    scratch, lake = lakes
    old_hours = _land(scratch, START - timedelta(hours=6), timedelta(minutes=20))  # 6 h before: not listed
    first = _land(scratch, START, timedelta(hours=1))
    restored = _land(scratch, START + timedelta(hours=1), timedelta(minutes=20))  # in the listed hour folders
    assert old_hours and first and restored

    _restore(scratch, lake, first, age=None)
    _load_bronze(lake)
    assert _bronze(spark, lake) == _landed(lake)

    _restore(scratch, lake, [*old_hours, *restored], age=TEN_DAYS)
    assert min((Path(lake.capture) / p).stat().st_mtime for p in restored) < time.time() - 9 * 24 * 3600
    output = _load_bronze(lake)
    without_old = sorted(
        ex.capture_record_id(p, r) for p, r in landed_records(LocalCaptureStore(lake.capture)) if p not in old_hours
    )
    assert _bronze(spark, lake) == without_old, output  # the listed hour folders' files, old times or not
    assert f"{len(restored):,} new Capture files" in output

    output = _load_bronze(lake, "--full-sweep")
    assert f"{len(old_hours):,} new Capture files" in output
    assert _bronze(spark, lake) == _landed(lake) == _landed(scratch)  # every landed record, once


def _simulate_crash_between_source_log_and_offset_log(lake: Lake) -> None:
    """What a stream killed after its file source logged a batch but before the offset
    log did leaves (the old loader's batch ids then ran apart): its newest offset and
    commit entries gone. The loader no longer streams locally, so there may be none."""
    checkpoint = Path(lake.checkpoint("bronze_capture_files"))
    for log in ("offsets", "commits"):
        entries = [p for p in (checkpoint / log).glob("*") if p.name.isdigit()]
        if entries:
            newest = max(entries, key=lambda p: int(p.name))
            newest.unlink()
            newest.with_name(f".{newest.name}.crc").unlink(missing_ok=True)


def test_a_bad_file_repaired_and_put_back_is_loaded_and_a_zero_byte_file_is_counted(
    spark: Any, lakes: tuple[Lake, Lake]
) -> None:
    """After the first test: a corrupt file and a zero-byte file are set aside and
    counted (the zero-byte one after a simulated crash of the old stream); the full
    sweep names what is still set aside and the command that loads it; the corrupt
    file, repaired and moved back to its path, is loaded by the next load."""
    scratch, lake = lakes
    landed = _land(scratch, START + timedelta(hours=1, minutes=20), timedelta(minutes=20))
    corrupt = max(landed, key=lambda p: (Path(scratch.capture) / p).stat().st_size)
    _restore(scratch, lake, landed, age=None)
    data = (Path(scratch.capture) / corrupt).read_bytes()
    (Path(lake.capture) / corrupt).write_bytes(data[: len(data) // 2])  # truncated
    where = CapturePath.parse(corrupt)
    zero = str(CapturePath(where.namespace, where.event_hub, where.partition_id, where.window_end.replace(second=59)))
    (Path(lake.capture) / zero).write_bytes(b"")
    _simulate_crash_between_source_log_and_offset_log(lake)

    swept = _load_bronze(lake, "--full-sweep")
    assert "2 bad files set aside" in swept, swept
    assert f"set aside: {corrupt}: corrupt" in swept and f"set aside: {zero}: zero_bytes" in swept
    assert f"lakehouse --lake {lake.root} load-bronze --full-sweep" in swept
    assert f"not loaded: {corrupt}: corrupt" in swept and f"not loaded: {zero}: zero_bytes" in swept
    assert not (Path(lake.capture) / zero).exists()
    note = json.loads((Path(lake.bad_capture_files) / (zero + ".reason.json")).read_text())
    assert (note["path"], note["bytes"]) == (zero, 0)

    (Path(lake.bad_capture_files) / corrupt).unlink()
    (Path(lake.bad_capture_files) / (corrupt + ".reason.json")).unlink()
    shutil.copyfile(Path(scratch.capture) / corrupt, Path(lake.capture) / corrupt)  # repaired, put back at its path
    again = _load_bronze(lake, "--full-sweep")
    originals = landed_records(LocalCaptureStore(scratch.capture))
    repaired = {ex.capture_record_id(p, r) for p, r in originals if p == corrupt}
    assert repaired and repaired <= set(_bronze(spark, lake)), again
    assert _bronze(spark, lake) == _landed(scratch)  # every landed record, once
    # Only the repaired file was new (the rest is in bronze's manifest); the zero-byte one still waits.
    assert "1 new Capture files" in again and "bad files" not in again
    assert f"not loaded: {zero}: zero_bytes" in again and corrupt not in again
