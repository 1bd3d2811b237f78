"""Crashes, stops and moves, as a person would cause them: `lakehouse` processes on a
lake of their own (the embedded metastore admits one process).

SIGKILL during a build (after bronze, during silver), then a rerun in full-check
mode: the reconciliation is exact and gold equals a full recomputation, and the
tables equal an independent Python computation over the same Capture files. SIGTERM
stops the runner between steps with exit code 0. A built lake copied to another
folder lands and builds new data in the copy and leaves the original untouched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.ingestion.capture.lander import CaptureSettings, landed_records
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.landing import land_simulation
from lakehouse.ingestion.sources.simulator import SimulatorConfig
from lakehouse.paths import PROJECT_DIR, Lake
from tests.python import expected_lake as ex
from tests.python.lake_helpers import FAULTS, seed_registry

pytestmark = pytest.mark.spark
START = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)


def _env(lake: Lake) -> dict[str, str]:
    return {**os.environ, **lake.env(), "PYTHONUNBUFFERED": "1", "LAKEHOUSE_SPARK_DRIVER_MEMORY": "1g"}


def _lakehouse(lake: Lake, *args: str) -> subprocess.Popen[str]:
    executable = Path(sys.executable).parent / "lakehouse"
    return subprocess.Popen(
        [str(executable), "--lake", str(lake.root), *args],
        cwd=PROJECT_DIR,
        env=_env(lake),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _until(process: subprocess.Popen[str], *needles: str) -> list[str]:
    """Read the process's output until a line holds every one of `needles`."""
    seen = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if all(needle in line for needle in needles):
            return seen
    raise AssertionError(
        f"the process ended (code {process.wait()}) before printing {needles!r}:\n{''.join(seen[-40:])}"
    )


@pytest.fixture(scope="module")
def own_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    return Lake.from_env(tmp_path_factory.mktemp("crash-lake"))


def _assert_quiet(output: str, lake: Lake) -> None:
    """A command's console, not on a terminal: the project's and dbt's lines, without the
    JVM's (Ivy, log4j: they go to the lake's Spark log), py4j's or colour codes."""
    for chatter in (
        ":: loading settings ::",
        "Ivy Default Cache",
        "Closing down clientserver",
        "WARN NativeCodeLoader",
        "\x1b[",
    ):
        assert chatter not in output, f"{chatter!r} reached the console"
    assert "loading settings" in lake.spark_log.read_text()


def _land(lake: Lake, start: datetime, duration: timedelta) -> None:
    config = SimulatorConfig(start=start, duration=duration, devices=6, seed=3, faults=FAULTS)
    land_simulation(LocalCaptureStore(lake.capture), config, CaptureSettings(partitions=2, write_empty_files=True))


def _table(spark: Any, lake: Lake, layer: str, model: str) -> list[dict[str, Any]]:
    rows = spark.read.format("delta").load(str(lake.table(layer, model))).collect()
    return [{k: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v for k, v in r.asDict().items()} for r in rows]


def test_sigkill_during_silver_then_a_rerun_loses_and_duplicates_nothing(own_lake: Lake, spark: Any) -> None:
    _land(own_lake, START, timedelta(hours=3))
    build = _lakehouse(own_lake, "dbt", "build")
    _until(build, "START sql incremental model silver.silver_telemetry")
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=60)
    assert build.returncode == -signal.SIGKILL
    bronze = {r["capture_record_id"] for r in _table(spark, own_lake, "bronze", "bronze_capture_events")}
    records = list(landed_records(LocalCaptureStore(own_lake.capture)))
    assert len(bronze) == len(records), "the killed build had loaded bronze"

    rerun = _lakehouse(own_lake, "dbt", "build", "--vars", "{full_check: true}")
    output = rerun.communicate(timeout=900)[0]
    assert rerun.returncode == 0, output[-4000:]
    assert "reconciles_with_bronze" in output and "matches_full_refresh" in output
    _assert_quiet(output, own_lake)

    want = ex.expected_silver([(p, r, 0) for p, r in records], seed_registry())
    silver = {r["event_id"]: r for r in _table(spark, own_lake, "silver", "silver_telemetry")}
    assert silver.keys() == want.rows.keys()
    assert {k: r["capture_record_id"] for k, r in silver.items()} == {
        k: r["capture_record_id"] for k, r in want.rows.items()
    }
    quarantine = [r["capture_record_id"] for r in _table(spark, own_lake, "silver", "silver_telemetry_quarantine")]
    assert sorted(quarantine) == sorted(want.quarantine)
    device = {r["metric_id"]: r["event_count"] for r in _table(spark, own_lake, "gold", "gold_device_metrics_5m")}
    assert device == {k: r["event_count"] for k, r in ex.expected_device_metrics(list(want.rows.values())).items()}


def test_sigterm_stops_the_runner_between_steps_with_exit_code_0(own_lake: Lake, spark: Any) -> None:
    runner = _lakehouse(own_lake, "run", "--catch-up", "--devices", "6", "--every", "5m", "--cycles", "6")
    _until(runner, "cycle 1 ")  # the first cycle's log line
    runner.send_signal(signal.SIGTERM)
    output = runner.communicate(timeout=600)[0]
    assert runner.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    log = sorted(_table(spark, own_lake, "ops", "run_log"), key=lambda r: r["cycle_id"])
    assert 1 <= len(log) < 6  # it stops after the step under way: at most one more cycle starts
    assert all(r["status"] == "succeeded" for r in log[:-1]) and log[-1]["status"] in ("stopped", "succeeded")
    # What a stopped cycle landed is built by the next build: the next test's build of
    # a copy of this lake checks every landed record reaches bronze and gold.


def _digest(root: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "metastore_db" not in p.parts and p.suffix != ".lock"
    }


def test_a_lake_copied_to_another_folder_builds_its_own_new_data(own_lake: Lake, spark: Any, tmp_path: Path) -> None:
    """The copy lands and builds new data; the new records reach gold in the copy and the
    original folder stays byte-for-byte unchanged. (The copy also holds what the
    stopped runner of the previous test landed and did not build: it reaches gold.)"""
    import shutil

    original = _digest(own_lake.root)
    copy = Lake.from_env(tmp_path / "copied-lake")
    shutil.copytree(own_lake.root, copy.root)
    _land(copy, START + timedelta(days=1), timedelta(minutes=20))  # after all the original holds

    build = _lakehouse(copy, "dbt", "build")
    output = build.communicate(timeout=900)[0]
    assert build.returncode == 0, output[-4000:]

    records = list(landed_records(LocalCaptureStore(copy.capture)))
    bronze = {r["capture_record_id"] for r in _table(spark, copy, "bronze", "bronze_capture_events")}
    assert len(bronze) == len(records)
    want = ex.expected_silver([(p, r, 0) for p, r in records], seed_registry())
    device = {r["metric_id"]: r["event_count"] for r in _table(spark, copy, "gold", "gold_device_metrics_5m")}
    assert device == {k: r["event_count"] for k, r in ex.expected_device_metrics(list(want.rows.values())).items()}
    assert any("_20260502T06" in k for k in device)  # windows of the new data
    assert _digest(own_lake.root) == original
