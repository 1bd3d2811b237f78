"""A cycle with nothing new skips `dbt build`, and only then: not after a cycle that
loaded bronze and died before dbt, nor when the reference data changed, nor after
another dbt command wrote tables."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.sources.simulator import FaultRates
from lakehouse.operations.feeds import SimulatedFeed
from lakehouse.operations.runner import Runner, RunnerSettings
from lakehouse.paths import Lake
from lakehouse.pipeline.bronze_load import BronzeLoader
from lakehouse.pipeline.dbt_runner import BUILD_STATE
from lakehouse.pipeline.lake_build import REFERENCE_STATE
from lakehouse.pipeline.run_log import cycle_tables
from lakehouse.tables import lake_tables, registry_manifest
from tests.python.lake_helpers import capture_records

pytestmark = pytest.mark.spark
EVERY = timedelta(minutes=5)
START = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)  # a day of its own on the session lake: one per hub
NO_FAULTS = FaultRates(**{f.name: 0.0 for f in fields(FaultRates)})  # each record a new, valid event


def _feed(lake: Lake, hub: str, start: datetime = START) -> SimulatedFeed:
    return SimulatedFeed(
        lake,
        devices=3,
        every=EVERY,
        start=start,
        realtime=False,
        faults=NO_FAULTS,
        settings=CaptureSettings(event_hub=hub, partitions=2, write_empty_files=True),
    )


def _versions(spark: Any) -> dict[str, int]:
    """Every table of the lake's registry and bronze's file manifest, with its Delta version."""
    tables = [t.qualified for t in lake_tables(registry_manifest())] + ["bronze.bronze_capture_files"]
    return {t: spark.sql(f"describe history {t} limit 1").first()["version"] for t in tables}


def _silver_rows(spark: Any, hub: str) -> int:
    return int(spark.sql(f"select count(*) from silver.silver_telemetry where event_hub = '{hub}'").first()[0])


def _one_cycle(lake: Lake) -> Any:
    return Runner(lake, RunnerSettings(every=EVERY, max_cycles=1, wait=False, compact_every_cycles=10**6)).run()[0]


@pytest.fixture(scope="module")
def built(lake: Lake, spark: Any, run_dbt: Any) -> Lake:
    """The session lake built up to date, with one new hub's records (built by a whole build)."""
    assert _feed(lake, "quiet-first")() > 0
    run_dbt("build")
    assert lake.files.read_json(BUILD_STATE)
    return lake


def test_a_cycle_with_nothing_new_skips_dbt_and_writes_no_table(built: Lake, spark: Any) -> None:
    before = _versions(spark)
    cycle = _one_cycle(built)
    assert cycle.status == "succeeded" and cycle.dbt_build_skipped
    assert "build: dbt build" not in cycle.step_seconds and "build: bronze" in cycle.step_seconds
    assert _versions(spark) == before
    logged = spark.sql("select dbt_build_skipped from ops.run_log order by cycle_id desc limit 1").first()
    assert logged.dbt_build_skipped is True
    assert set(cycle_tables()) <= before.keys()


def test_a_cycle_after_bronze_loaded_and_dbt_did_not_run_still_builds(built: Lake, spark: Any) -> None:
    """As when the process died between bronze and dbt: the next cycle has no new file,
    but silver and gold have not processed bronze's newest load."""
    hub = "quiet-crashed"
    day = START + timedelta(days=1)
    landed = _feed(built, hub, day)()
    assert landed > 0
    assert BronzeLoader(spark, built).load_new_files().rows_added == landed
    assert _silver_rows(spark, hub) == 0
    cycle = _one_cycle(built)
    assert cycle.status == "succeeded" and not cycle.dbt_build_skipped
    assert cycle.rows_added.get("bronze.bronze_capture_events", 0) == 0  # nothing new for bronze
    # No faults: every Capture record of the hub is one valid event, one silver row.
    assert _silver_rows(spark, hub) == len(capture_records(built, hub)) == landed
    gold = spark.sql(
        "select sum(event_count) from gold.gold_device_metrics_5m where window_start >= "
        f"'{day:%Y-%m-%d} 00:00:00' and window_start < '{day + timedelta(days=1):%Y-%m-%d} 00:00:00'"
    ).first()[0]
    assert gold == landed
    assert _one_cycle(built).dbt_build_skipped  # and now it is current


def test_changed_reference_data_still_builds(built: Lake, spark: Any, run_dbt: Any) -> None:
    """The seed files differ from those of the last build (their digest is not the recorded one)."""
    built.files.write_json(REFERENCE_STATE, {"digest": "the digest of other seed files"})
    report = run_dbt("build")
    assert report.dbt_skipped is None and report.reference_data_reloaded
    assert run_dbt("build").dbt_skipped  # the digest recorded again: nothing new now


def test_a_build_that_excludes_the_seed_leaves_the_reference_data_stale(built: Lake, spark: Any, run_dbt: Any) -> None:
    """The user's own --exclude leaves the seed and snapshot out: they were not loaded, so the
    build does not record the seed files as current; the next whole build loads them."""
    stale = {"digest": "the digest of other seed files"}
    built.files.write_json(REFERENCE_STATE, stale)
    run_dbt("build", "--exclude", "resource_type:seed", "resource_type:snapshot")
    assert built.files.read_json(REFERENCE_STATE) == stale
    assert run_dbt("build").reference_data_reloaded
    assert built.files.read_json(REFERENCE_STATE) != stale


def test_another_dbt_command_that_writes_forgets_the_build(built: Lake, spark: Any, run_dbt: Any) -> None:
    """A dbt command that may write tables (here a seed) removes the record first: the
    next whole build runs, whatever the command did."""
    assert built.files.read_json(BUILD_STATE)
    run_dbt("test", "--select", "device_registry")
    assert built.files.read_json(BUILD_STATE)  # a test writes no table
    run_dbt("seed", "--select", "device_registry")
    assert built.files.read_json(BUILD_STATE) is None
