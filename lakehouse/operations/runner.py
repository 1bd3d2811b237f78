"""The continuous runner: `lakehouse run --every 5m`.

One Spark session stays warm across cycles. Each cycle: land what is new (the
simulator's next period, or a CSV's rows, locally; on Azure, Capture has already
landed), build (bronze load + `dbt build`), sync Cosmos DB when it is configured,
compact the tables on the runner's schedule, and append one row to the run log
(`ops.run_log`). The same figures go to Azure Monitor through OpenTelemetry when
APPLICATIONINSIGHTS_CONNECTION_STRING is set.

SIGTERM (or SIGINT) stops the runner between steps: the step under way finishes,
the cycle's row is written with status `stopped`, and the process exits 0. A crash
(SIGKILL) loses nothing: landing resumes from the landed files, bronze from its
file manifest, and every model from the load ids it holds.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TypeVar

from lakehouse.operations.metrics import RunnerMetrics
from lakehouse.paths import Lake
from lakehouse.pipeline.capture_manifest import CAPTURE_FILES_TABLE
from lakehouse.pipeline.lake_build import build_lake
from lakehouse.pipeline.run_log import (
    CycleRecord,
    RunLog,
    cycle_tables,
    files_per_table,
    rows_written_since,
    table_versions,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
LandStep = Callable[[], int]  # lands what is new; returns the records landed
SyncStep = Callable[[], object]  # the sync's report is not used


@dataclass(frozen=True)
class RunnerSettings:
    every: timedelta = timedelta(minutes=5)
    compact_every_cycles: int = 12  # hourly at 5-minute cycles
    max_cycles: int | None = None
    wait: bool = True  # False: start the next cycle at once (benchmarks, catching up)


class StopRequested(Exception):
    """SIGTERM arrived; the runner stops between steps."""


class Runner:
    def __init__(
        self,
        lake: Lake,
        settings: RunnerSettings,
        *,
        land: LandStep | None = None,
        sync: SyncStep | None = None,
        metrics: RunnerMetrics | None = None,
    ) -> None:
        from lakehouse.spark.session import spark_session

        self.lake = lake
        self.settings = settings
        self.land = land
        self.sync = sync
        self.metrics = metrics or RunnerMetrics.from_settings(lake.settings)
        self.spark = spark_session(lake)
        self.run_log = RunLog(self.spark, lake)
        self._stop = False

    def request_stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        log.info("signal %s: stopping after the step under way", signum)
        self._stop = True

    def run(self) -> list[CycleRecord]:
        """Run cycles until max_cycles or a stop request; returns their records."""
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.run_log.ensure()
            done: list[CycleRecord] = []
            while not self._stop and (self.settings.max_cycles is None or len(done) < self.settings.max_cycles):
                started = time.monotonic()
                done.append(self.cycle())
                if self.settings.wait and not self._stop:
                    self._sleep(self.settings.every.total_seconds() - (time.monotonic() - started))
            return done
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def cycle(self) -> CycleRecord:
        last = self.run_log.last()
        cycle_id = int(last["cycle_id"]) + 1 if last else 1
        record = CycleRecord(cycle_id=cycle_id, started_at=datetime.now(UTC))
        if last and last["newest_enqueued_at"]:
            record.newest_enqueued_at = last["newest_enqueued_at"].replace(tzinfo=UTC)
        versions = table_versions(self.spark, cycle_tables())
        try:
            if self.land:
                record.records_in = self._step(record, "land", self.land)
            build = self._step(record, "build", lambda: build_lake(self.lake, unit_tests=False))
            bronze = build.bronze
            record.step_seconds.update({f"build: {k}": v for k, v in build.seconds.items()})
            record.bronze_load_id = bronze.load_id
            record.dbt_build_skipped = build.dbt_skipped is not None
            record.bad_files = len(bronze.bad_files)
            if bronze.max_enqueued_at:
                newest = bronze.max_enqueued_at.replace(tzinfo=UTC)
                record.newest_enqueued_at = max(filter(None, (record.newest_enqueued_at, newest)))
            if self.sync:
                self._step(record, "cosmos sync", self.sync)
            if cycle_id % self.settings.compact_every_cycles == 0:
                self._step(record, "compact", self._compact)
                record.compacted = True
            record.status = "succeeded"
        except StopRequested:
            record.status = "stopped"
        except Exception:
            record.status = "failed"
            self._finish(record, versions)
            raise
        self._finish(record, versions)
        return record

    def _step(self, record: CycleRecord, name: str, step: Callable[[], T]) -> T:
        if self._stop:
            raise StopRequested
        t0 = time.monotonic()
        result = step()
        record.step_seconds[name] = time.monotonic() - t0
        return result

    def _compact(self) -> None:
        """OPTIMIZE every table: Delta rewrites only partitions with more than one
        small file, so after the first pass the cost follows the recent writes."""
        for table in (*cycle_tables(), CAPTURE_FILES_TABLE):
            if self.spark.catalog.tableExists(table):
                self.spark.sql(f"optimize {table}")

    def _finish(self, record: CycleRecord, versions: dict[str, int]) -> None:
        # A cycle that landed nothing into bronze, skipped dbt and did not compact wrote no
        # table (the runner holds the lake's lock): no Delta history to read.
        wrote = record.status != "succeeded" or record.bronze_load_id is not None
        if wrote or not record.dbt_build_skipped or record.compacted:
            record.rows_added, record.rows_updated = rows_written_since(self.spark, versions, cycle_tables())
        record.quarantined_records = record.rows_added.get("silver.silver_telemetry_quarantine", 0)
        record.files_per_table = files_per_table(self.spark, cycle_tables())
        record.finished_at = datetime.now(UTC)
        if record.newest_enqueued_at:
            record.freshness_lag_seconds = (record.finished_at - record.newest_enqueued_at).total_seconds()
        self.run_log.append(record)
        self.metrics.record(record)
        log.info("%s", record.line())

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + max(0.0, seconds)
        while not self._stop and time.monotonic() < end:
            time.sleep(min(1.0, end - time.monotonic()))
