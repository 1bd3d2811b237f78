"""The run log: one row per runner cycle, a Delta table at `<lake>/ops/run_log/`.

It is a dbt source (`ops.run_log`) with a freshness test, so a stalled runner shows
in `dbt source freshness` and in the docs lineage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lakehouse.paths import Lake
from lakehouse.tables import lake_tables, registry_manifest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RUN_LOG_TABLE = "ops.run_log"
RUN_LOG_COLUMNS = (
    ("cycle_id", "bigint"),
    ("started_at", "timestamp"),
    ("finished_at", "timestamp"),
    ("status", "string"),
    ("records_in", "bigint"),
    ("bronze_load_id", "bigint"),
    ("rows_added", "map<string, bigint>"),
    ("rows_updated", "map<string, bigint>"),
    ("quarantined_records", "bigint"),
    ("bad_files", "bigint"),
    ("step_seconds", "map<string, double>"),
    ("files_per_table", "map<string, bigint>"),
    ("newest_enqueued_at", "timestamp"),
    ("freshness_lag_seconds", "double"),
    ("compacted", "boolean"),
    ("dbt_build_skipped", "boolean"),  # nothing new since the last build: dbt did not run
)


def cycle_tables() -> tuple[str, ...]:
    """The tables a cycle writes, by layer (the registry's lake tables): what the run
    log counts rows and files of."""
    return tuple(table.qualified for table in lake_tables(registry_manifest()))


@dataclass
class CycleRecord:
    """What one cycle did; becomes one run-log row."""

    cycle_id: int
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"
    records_in: int = 0
    bronze_load_id: int | None = None
    rows_added: dict[str, int] = field(default_factory=dict)
    rows_updated: dict[str, int] = field(default_factory=dict)
    quarantined_records: int = 0
    bad_files: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)
    files_per_table: dict[str, int] = field(default_factory=dict)
    newest_enqueued_at: datetime | None = None
    freshness_lag_seconds: float | None = None
    compacted: bool = False
    dbt_build_skipped: bool = False

    def line(self) -> str:
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.step_seconds.items())
        lag = f"{self.freshness_lag_seconds:.0f} s" if self.freshness_lag_seconds is not None else "-"
        return (
            f"cycle {self.cycle_id} {self.status}: {self.records_in:,} records in, "
            f"{self.rows_added.get('silver.silver_telemetry', 0):,} silver rows, "
            f"{self.quarantined_records:,} quarantined; {steps}; freshness lag {lag}"
            + ("; dbt build skipped: nothing new" if self.dbt_build_skipped else "")
        )


class RunLog:
    """Reads and appends the run log of one lake."""

    def __init__(self, spark: SparkSession, lake: Lake) -> None:
        self.spark = spark
        self.lake = lake

    def ensure(self) -> None:
        self.spark.sql("create schema if not exists ops")
        columns = ", ".join(f"{name} {kind}" for name, kind in RUN_LOG_COLUMNS)
        self.spark.sql(
            f"create table if not exists {RUN_LOG_TABLE} ({columns}) using delta "
            f"location '{self.lake.table('ops', 'run_log')}'"
        )

    def last(self) -> dict[str, Any] | None:
        """The newest row (a run log holds one row per cycle: small)."""
        rows = self.spark.sql(f"select * from {RUN_LOG_TABLE} order by cycle_id desc limit 1").collect()
        return rows[0].asDict() if rows else None

    def append(self, record: CycleRecord) -> None:
        row = asdict(record)
        frame = self.spark.createDataFrame(
            [tuple(row[name] for name, _ in RUN_LOG_COLUMNS)],
            ", ".join(f"{name} {kind}" for name, kind in RUN_LOG_COLUMNS),
        )
        # mergeSchema: a run log made before a column was added gets it
        frame.write.format("delta").mode("append").option("mergeSchema", "true").saveAsTable(RUN_LOG_TABLE)


def table_versions(spark: SparkSession, tables: tuple[str, ...]) -> dict[str, int]:
    """Each existing table's current Delta version (-1 when it has no commit yet)."""
    versions = {}
    for table in tables:
        if spark.catalog.tableExists(table):
            versions[table] = spark.sql(f"describe history {table} limit 1").collect()[0]["version"]
    return versions


def rows_written_since(
    spark: SparkSession, versions: dict[str, int], tables: tuple[str, ...]
) -> tuple[dict[str, int], dict[str, int]]:
    """Rows inserted and rows updated per table by the commits after `versions`,
    from each commit's operation metrics (the Delta log, not the data)."""
    added: dict[str, int] = {}
    updated: dict[str, int] = {}
    for table in tables:
        if not spark.catalog.tableExists(table):
            continue
        latest = spark.sql(f"describe history {table} limit 1").collect()[0]["version"]
        since = versions.get(table, -1)
        if latest <= since:
            continue
        for row in spark.sql(f"describe history {table} limit {latest - since}").collect():
            metrics = row["operationMetrics"] or {}
            inserted = metrics.get("numTargetRowsInserted") or (
                metrics.get("numOutputRows")
                if row["operation"] in ("WRITE", "CREATE TABLE AS SELECT", "CREATE OR REPLACE TABLE AS SELECT")
                else None
            )
            added[table] = added.get(table, 0) + int(inserted or 0)
            updated[table] = updated.get(table, 0) + int(metrics.get("numTargetRowsUpdated") or 0)
    return added, updated


def files_per_table(spark: SparkSession, tables: tuple[str, ...]) -> dict[str, int]:
    """Data files in each table's current version (`describe detail`: the Delta log)."""
    return {
        t: int(spark.sql(f"describe detail {t}").collect()[0]["numFiles"])
        for t in tables
        if spark.catalog.tableExists(t)
    }
