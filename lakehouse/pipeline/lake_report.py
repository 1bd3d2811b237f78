"""What is in the lake: row counts, Delta versions and the reconciliation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse.paths import Lake
from lakehouse.tables import lake_tables, registry_manifest


@dataclass(frozen=True)
class TableState:
    layer: str
    model: str
    rows: int
    version: int


def table_states(lake: Lake) -> list[TableState]:
    """Rows and Delta version of each built public table (the registry's), read by path
    (any Delta reader could)."""
    from delta.tables import DeltaTable

    from lakehouse.spark.session import spark_session

    spark = spark_session(lake)
    states = []
    for table in (t for t in lake_tables(registry_manifest()) if t.public):
        layer, model = table.layer, table.name
        path = lake.table(layer, model)
        if not DeltaTable.isDeltaTable(spark, path):
            continue
        version = DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]
        rows = spark.read.format("delta").load(path).count()
        states.append(TableState(layer, model, rows, version))
    return states


def reconciliation(spark: Any) -> dict[str, int]:
    """Bronze records, silver rows, quarantine rows, and duplicates dropped: valid
    bronze records (not quarantined) whose event's kept send is another record."""
    row = spark.sql(
        """
        select
            (select count(*) from bronze.bronze_capture_events) as bronze,
            (select count(*) from silver.silver_telemetry) as silver,
            (select count(*) from silver.silver_telemetry_quarantine) as quarantine,
            (select count(*)
             from bronze.bronze_capture_events as b
             left anti join silver.silver_telemetry_quarantine as q on b.capture_record_id = q.capture_record_id
             left anti join silver.silver_telemetry as s on b.capture_record_id = s.capture_record_id
            ) as duplicates
        """
    ).collect()[0]
    return row.asDict()
