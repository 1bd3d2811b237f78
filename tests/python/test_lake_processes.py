"""Crashes, stops and moves, as a person would cause them: `lakehouse` processes on a
lake of their own (the embedded metastore admits one process).

SIGKILL during a build (after bronze, during silver), then a rerun in full-check
mode: the reconciliation is exact and gold equals a full recomputation, and the
tables equal an independent Python computation over the same Capture files. SIGTERM
stops the runner between steps with exit code 0; a new version of the project (a
copy of the checkout with one change) then runs a cycle on the same lake while
Capture kept landing, and loses and duplicates nothing. A built lake copied to another
folder lands and builds new data in the copy and leaves the original untouched.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.ingestion.capture.format import CapturePath
from lakehouse.ingestion.capture.lander import CaptureSettings, landed_records
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.landing import land_simulation
from lakehouse.ingestion.sources.simulator import SimulatorConfig
from lakehouse.paths import PROJECT_DIR, Lake
from tests.python import expected_lake as ex
from tests.python.lake_helpers import FAULTS, cli_env, release, seed_registry

pytestmark = pytest.mark.spark
START = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
# dbt's own option, for the builds whose point is not the data tests (they are half a small build).
MODELS_ONLY = ("--exclude-resource-type", "test", "unit_test")


def _lakehouse(lake: Lake, *args: str, checkout: Path = PROJECT_DIR) -> subprocess.Popen[str]:
    """`lakehouse --lake <lake> <args>` as a process, with the code of `checkout` (this one by
    default): its package is the one imported (cwd and PYTHONPATH; not whichever checkout the
    virtualenv's `lakehouse` script was installed from), so its PROJECT_DIR, dbt project and
    profiles are the ones used."""
    return subprocess.Popen(
        [sys.executable, "-c", "from lakehouse.cli.main import main; main()", "--lake", str(lake.root), *args],
        cwd=checkout,
        env=cli_env(checkout),
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
    return Lake.at(tmp_path_factory.mktemp("crash-lake"))


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


def _land(lake: Lake, start: datetime, duration: timedelta, partitions: int = 2) -> None:
    config = SimulatorConfig(start=start, duration=duration, devices=6, seed=3, faults=FAULTS)
    settings = CaptureSettings(partitions=partitions, write_empty_files=True)
    land_simulation(LocalCaptureStore(lake.capture), config, settings)


def _table(spark: Any, lake: Lake, layer: str, model: str) -> list[dict[str, Any]]:
    rows = spark.read.format("delta").load(str(lake.table(layer, model))).collect()
    return [{k: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v for k, v in r.asDict().items()} for r in rows]


def test_sigkill_during_silver_then_a_rerun_loses_and_duplicates_nothing(own_lake: Lake, spark: Any) -> None:
    _land(own_lake, START, timedelta(hours=3))
    build = _lakehouse(own_lake, "dbt", "build", *MODELS_ONLY)  # killed before its tests would run
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
    # What a stopped cycle landed is built by the next cycle: the next test's new version
    # of the runner checks every landed record reaches bronze and gold.


GOLD_YML = Path("models") / "gold" / "_gold__models.yml"


def _column_description(project: Path, model: str, column: str) -> str:
    for node in yaml.safe_load((project / GOLD_YML).read_text())["models"]:
        if node["name"] == model:
            return next(c["description"] for c in node["columns"] if c["name"] == column)
    raise AssertionError(f"{model} is not in {GOLD_YML}")


def _column_comment(spark: Any, lake: Lake, layer: str, model: str, column: str) -> str | None:
    """The column's comment in the Delta log's schema (what persist_docs wrote)."""
    field = spark.read.format("delta").load(str(lake.table(layer, model))).schema[column]
    return field.metadata.get("comment")


def _landed_until(lake: Lake) -> datetime:
    """Where the hub's files stop: the latest capture window end (empty windows included)."""
    files = LocalCaptureStore(lake.capture).list_files("telemetry-ns/telemetry/")
    return max(CapturePath.parse(path).window_end for path in files)


def test_a_new_version_started_after_sigterm_continues_from_the_same_checkpoints(
    own_lake: Lake, spark: Any, tmp_path: Path
) -> None:
    """A rollout: the runner the previous test stopped with SIGTERM (v1, this checkout) is
    followed by a new version of the project (v2: a copy of the checkout whose gold model
    documents a column differently) for one cycle on the same lake, while Capture kept
    landing in between. v2 starts from v1's checkpoints: every landed record is in bronze
    once, silver and gold equal the independent computation, the run log continues."""
    model, column = "gold_device_metrics_5m", "event_count"
    v1_log = sorted(_table(spark, own_lake, "ops", "run_log"), key=lambda r: r["cycle_id"])
    assert v1_log, "the previous test's runner (v1) wrote no run log"
    before = {r["capture_record_id"] for r in _table(spark, own_lake, "bronze", "bronze_capture_events")}
    # Event Hubs Capture keeps landing while no runner runs: ten more minutes after v1's files.
    _land(own_lake, _landed_until(own_lake), timedelta(minutes=10), partitions=4)
    meanwhile = {ex.capture_record_id(p, r) for p, r in landed_records(LocalCaptureStore(own_lake.capture))} - before
    assert meanwhile, "nothing landed between the two versions"

    v2 = release(tmp_path / "v2")
    documented = _column_description(v2, model, column)
    assert _column_comment(spark, own_lake, "gold", model, column) == documented  # v1's comment
    changed = f"{documented} Documented by version 2."
    yml = v2 / GOLD_YML
    assert yml.read_text().count(documented) == 1
    yml.write_text(yml.read_text().replace(documented, changed))
    assert _column_description(v2, model, column) == changed

    runner = _lakehouse(own_lake, "run", "--catch-up", "--devices", "6", "--every", "5m", "--cycles", "1", checkout=v2)
    output = runner.communicate(timeout=900)[0]
    assert runner.returncode == 0, output[-4000:]
    assert "Traceback" not in output

    records = list(landed_records(LocalCaptureStore(own_lake.capture)))
    want = ex.expected_silver([(p, r, 0) for p, r in records], seed_registry())
    landed = sorted(ex.capture_record_id(p, r) for p, r in records)
    bronze = sorted(r["capture_record_id"] for r in _table(spark, own_lake, "bronze", "bronze_capture_events"))
    assert bronze == landed  # every landed record, once: v1's, the ones landed meanwhile, v2's own
    assert set(landed) > before | meanwhile and before.isdisjoint(meanwhile)
    silver = {r["event_id"]: r for r in _table(spark, own_lake, "silver", "silver_telemetry")}
    assert {k: r["capture_record_id"] for k, r in silver.items()} == {
        k: r["capture_record_id"] for k, r in want.rows.items()
    }
    quarantine = [r["capture_record_id"] for r in _table(spark, own_lake, "silver", "silver_telemetry_quarantine")]
    assert sorted(quarantine) == sorted(want.quarantine)
    device = {r["metric_id"]: r["event_count"] for r in _table(spark, own_lake, "gold", model)}
    assert device == {k: r["event_count"] for k, r in ex.expected_device_metrics(list(want.rows.values())).items()}

    log = sorted(_table(spark, own_lake, "ops", "run_log"), key=lambda r: r["cycle_id"])
    assert log[:-1] == v1_log
    assert [r["cycle_id"] for r in log] == list(range(1, len(v1_log) + 2))
    assert log[-1]["status"] == "succeeded"
    assert _column_comment(spark, own_lake, "gold", model, column) == changed  # v2's project ran


def _digest(root: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "metastore_db" not in p.parts and p.suffix != ".lock"
    }


def test_a_lake_copied_to_another_folder_builds_its_own_new_data(own_lake: Lake, spark: Any, tmp_path: Path) -> None:
    """The copy lands and builds new data; the new records reach gold in the copy and the
    original folder stays byte-for-byte unchanged."""
    original = _digest(own_lake.local)
    copy = Lake.at(tmp_path / "copied-lake")
    shutil.copytree(own_lake.local, copy.local)
    _land(copy, START + timedelta(days=1), timedelta(minutes=20))  # after all the original holds

    build = _lakehouse(copy, "dbt", "build", *MODELS_ONLY)  # the data is checked here, independently
    output = build.communicate(timeout=900)[0]
    assert build.returncode == 0, output[-4000:]

    records = list(landed_records(LocalCaptureStore(copy.capture)))
    bronze = {r["capture_record_id"] for r in _table(spark, copy, "bronze", "bronze_capture_events")}
    assert len(bronze) == len(records)
    want = ex.expected_silver([(p, r, 0) for p, r in records], seed_registry())
    device = {r["metric_id"]: r["event_count"] for r in _table(spark, copy, "gold", "gold_device_metrics_5m")}
    assert device == {k: r["event_count"] for k, r in ex.expected_device_metrics(list(want.rows.values())).items()}
    assert any("_20260502T06" in k for k in device)  # windows of the new data
    assert _digest(own_lake.local) == original
