"""What is in the lake: row counts and Delta versions of the built tables."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.paths import Lake

# (layer, model) of every table the project builds, in build order.
TABLES: tuple[tuple[str, str], ...] = (("bronze", "bronze_capture_events"),)


@dataclass(frozen=True)
class TableState:
    layer: str
    model: str
    rows: int
    version: int


def table_states(lake: Lake) -> list[TableState]:
    """Rows and Delta version of each built table, read by path (any Delta reader could)."""
    from delta.tables import DeltaTable

    from lakehouse.spark_session import spark_session

    spark = spark_session()
    states = []
    for layer, model in TABLES:
        path = str(lake.table(layer, model))
        if not DeltaTable.isDeltaTable(spark, path):
            continue
        version = DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]
        rows = spark.read.format("delta").load(path).count()
        states.append(TableState(layer, model, rows, version))
    return states
