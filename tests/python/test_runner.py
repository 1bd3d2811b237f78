"""The continuous runner on the shared test lake: three short cycles, the run log
and the OpenTelemetry figures checked against the Capture files themselves, then a
SIGTERM that stops it between steps."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from lakehouse.ingestion.capture.format import CapturePath, parse_enqueued_time
from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.sources.simulator import FaultRates
from lakehouse.operations.feeds import SimulatedFeed
from lakehouse.operations.metrics import RunnerMetrics
from lakehouse.operations.runner import Runner, RunnerSettings
from lakehouse.paths import Lake
from lakehouse.pipeline.bronze_load import ensure_bronze_table
from tests.python.lake_helpers import capture_records

pytestmark = pytest.mark.spark
HUB = "runner"
START = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
EVERY = timedelta(minutes=5)
SILVER = "silver.silver_telemetry"
QUARANTINE = "silver.silver_telemetry_quarantine"


def _feed(lake: Lake) -> SimulatedFeed:
    return SimulatedFeed(
        lake,
        devices=4,
        every=EVERY,
        start=START,
        realtime=False,
        faults=FaultRates(),
        settings=CaptureSettings(event_hub=HUB, partitions=2, write_empty_files=True),
    )


def _sums(reader: InMemoryMetricReader) -> dict[str, float]:
    sums: dict[str, float] = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = point.sum  # histograms
                    sums[metric.name] = sums.get(metric.name, 0) + value
    return sums


def test_three_cycles_write_exact_run_log_rows_and_metrics(lake: Lake, spark: Any) -> None:
    reader = InMemoryMetricReader()
    metrics = RunnerMetrics(MeterProvider(metric_readers=[reader]))
    settings = RunnerSettings(every=EVERY, max_cycles=3, wait=False, compact_every_cycles=3)
    # Earlier tests may have loaded bronze without building: the first cycle builds
    # those loads too. Each table's own newest load id says what it had processed.
    ensure_bronze_table(spark, lake)
    since = {
        table: spark.sql(f"select coalesce(max(bronze_load_id), 0) from {table}").first()[0]
        if spark.catalog.tableExists(table)
        else 0
        for table in (SILVER, QUARANTINE)
    }
    records = Runner(lake, settings, land=_feed(lake), metrics=metrics).run()

    # Independently: the hub's Capture records, by the capture window each cycle landed.
    landed = capture_records(lake, HUB)
    per_cycle = [0, 0, 0]
    for path, _ in landed:
        end = CapturePath.parse(path).window_end
        per_cycle[int((end - START - timedelta(seconds=1)) / EVERY)] += 1
    assert [r.status for r in records] == ["succeeded"] * 3
    assert [r.records_in for r in records] == per_cycle and all(per_cycle)
    assert [r.rows_added["bronze.bronze_capture_events"] for r in records] == per_cycle

    rows = spark.sql("select * from ops.run_log order by cycle_id").collect()[-3:]
    assert [r.cycle_id for r in rows] == [r.cycle_id for r in records]
    assert [r.cycle_id for r in rows] == list(range(rows[0].cycle_id, rows[0].cycle_id + 3))
    for row, record in zip(rows, records, strict=True):
        counts = {
            table: spark.sql(
                f"select count(*) from {table} where bronze_load_id > {since[table]}"
                f" and bronze_load_id <= {record.bronze_load_id}"
            ).first()[0]
            for table in (SILVER, QUARANTINE)
        }
        # A silver row of this cycle's loads is a new event, or an earlier send replacing one.
        assert row.rows_added[SILVER] + row.rows_updated.get(SILVER, 0) == counts[SILVER] > 0
        assert row.quarantined_records == counts[QUARANTINE]
        since = dict.fromkeys(since, record.bronze_load_id)
        assert {"land", "build"} <= row.step_seconds.keys()
    for table, files in rows[-1].files_per_table.items():
        assert files == spark.sql(f"describe detail {table}").first()["numFiles"]
    newest = max(parse_enqueued_time(r["EnqueuedTimeUtc"]) for _, r in landed)
    last = rows[-1]
    assert last.newest_enqueued_at.replace(tzinfo=UTC) == newest
    assert last.freshness_lag_seconds == pytest.approx((last.finished_at.replace(tzinfo=UTC) - newest).total_seconds())
    assert last.compacted and "compact" in last.step_seconds

    sums = _sums(reader)
    assert sums["lakehouse.records_in"] == sum(per_cycle)
    assert sums["lakehouse.cycles"] == 3
    assert sums["lakehouse.freshness_lag_seconds"] == pytest.approx(last.freshness_lag_seconds)


def test_sigterm_stops_the_runner_between_steps(lake: Lake, spark: Any) -> None:
    feed = _feed(lake)

    def land_then_terminate() -> int:
        landed = feed()
        os.kill(os.getpid(), signal.SIGTERM)  # arrives during the land step
        return landed

    before = signal.getsignal(signal.SIGTERM)
    records = Runner(lake, RunnerSettings(every=EVERY, max_cycles=5, wait=False), land=land_then_terminate).run()
    assert [r.status for r in records] == ["stopped"]
    assert records[0].records_in > 0 and "build" not in records[0].step_seconds  # the land step finished
    assert signal.getsignal(signal.SIGTERM) == before
    last = spark.sql("select status from ops.run_log order by cycle_id desc limit 1").first()
    assert last.status == "stopped"
    # What it landed is built by the next cycle: nothing lost.
    resumed = Runner(lake, RunnerSettings(every=EVERY, max_cycles=1, wait=False)).run()
    assert resumed[0].rows_added["bronze.bronze_capture_events"] == records[0].records_in
