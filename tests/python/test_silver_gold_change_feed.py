"""The Cosmos sync's delta-rs reads over the gold tables Spark and dbt build.

The serving tests write their gold tables with delta-rs (or unpartitioned with
Spark); this one reads the tables the session's dbt builds made, as they are:
gold_device_metrics_5m is partitioned by a timestamp, so Spark writes folders
such as `window_hour=2026-03-01 06%3A00%3A00` and their paths, URI-encoded, in
the log. For every version, `snapshot_batches` must give what Spark reads at
that version, and `net_changes` over each version alone and over the whole
history must leave exactly the keys Spark's change feed touched: upserted with
their rows at the range's end, or deleted when they are gone. Timestamps are
compared as UTC instants.

It runs after test_silver_gold_build.py (file order) on the lake that test
built; run alone, it lands a small simulation of its own and builds twice.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.paths import Lake
from lakehouse.serving.cosmos.delta_changes import is_delta_table, net_changes, snapshot_batches, table_head
from lakehouse.tables import CosmosContainer, cosmos_containers, registry_manifest
from tests.python.lake_helpers import land_simulation

pytestmark = pytest.mark.spark
HUB = "gold-change-feed"
START = datetime(2026, 3, 5, 6, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LIVE = ("insert", "update_postimage", "delete")


@pytest.fixture(scope="module")
def containers(lake: Lake, run_dbt: Any) -> list[CosmosContainer]:
    specs = cosmos_containers(registry_manifest())
    assert {s.model for s in specs} == {"gold_device_metrics_5m", "gold_site_metrics_1h"}
    if not all(is_delta_table(lake.table(s.layer, s.model)) for s in specs):
        # Run alone: two landings, the second restating windows of the first, so
        # the second build merges into the hour partitions (change data files).
        land_simulation(lake, hub=HUB, start=START, duration=timedelta(hours=3), devices=6)
        run_dbt("build")
        land_simulation(lake, hub=HUB, start=START + timedelta(hours=3), duration=timedelta(minutes=30), devices=6)
        run_dbt("build")
    return specs


def _instant(value: Any) -> Any:
    return EPOCH + timedelta(microseconds=value) if isinstance(value, int) and not isinstance(value, bool) else value


def _spark_rows(spark: Any, frame: Any, key: str) -> dict[Any, dict[str, Any]]:
    """Rows by key; timestamps read as microseconds since the epoch (no session or process time zone)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    stamps = {f.name for f in frame.schema.fields if isinstance(f.dataType, TimestampType)}
    columns = [F.unix_micros(F.col(c)).alias(c) if c in stamps else F.col(c) for c in frame.columns]
    rows = [r.asDict() for r in frame.select(*columns).collect()]
    return {r[key]: {c: _instant(v) if c in stamps else v for c, v in r.items()} for r in rows}


def _spark_snapshot(spark: Any, path: Path, key: str, version: int) -> dict[Any, dict[str, Any]]:
    return _spark_rows(spark, spark.read.format("delta").option("versionAsOf", version).load(str(path)), key)


def _spark_feed(spark: Any, path: Path, key: str, first: int, last: int) -> tuple[set[Any], int]:
    """Keys Spark's change feed shows changed in versions first..last, and its row count."""
    feed = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", first)
        .option("endingVersion", last)
        .load(str(path))
        .select(key, "_change_type")
        .collect()
    )
    return {r[0] for r in feed if r[1] in LIVE}, len(feed)


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    return {c: v.astimezone(UTC) if isinstance(v, datetime) else v for c, v in row.items()}


def _same(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]]) -> list[tuple[Any, str, Any, Any]]:
    def equal(a: Any, b: Any) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
        return bool(a == b) and type(a) is type(b)

    assert got.keys() == want.keys(), (sorted(got.keys() - want.keys())[:5], sorted(want.keys() - got.keys())[:5])
    return [
        (k, c, got[k].get(c), v)
        for k in want
        for c, v in want[k].items()
        if c not in got[k] or not equal(_utc(got[k])[c], v)
    ]


def test_delta_rs_reads_the_spark_built_gold_tables_as_spark_does(
    lake: Lake, spark: Any, containers: list[CosmosContainer]
) -> None:
    compared: dict[str, dict[str, int]] = {}
    for spec in containers:
        path, key = lake.table(spec.layer, spec.model), spec.id_column
        head = table_head(path).version
        assert head >= 2, f"{spec.model}: expected a create and later merges, got version {head}"
        snapshots = {v: _spark_snapshot(spark, path, key, v) for v in range(head + 1)}
        for version, want in snapshots.items():
            got = {r[key]: r for batch in snapshot_batches(path, version) for r in batch}
            assert not _same(got, want)[:10], f"{spec.model} snapshot at version {version}"

        figures = {"versions": head + 1, "snapshot_rows": len(snapshots[head]), "feed_rows": 0, "net_keys": 0}
        ranges = [(v - 1, v) for v in range(head + 1)] + [(-1, head)]
        for after, to in ranges:
            touched, feed_rows = _spark_feed(spark, path, key, after + 1, to)
            changes = net_changes(path, key, after_version=after, to_version=to)
            assert changes.change_rows_read == feed_rows, f"{spec.model} versions {after + 1}..{to}"
            final = snapshots[to]
            want_upserts = {k: final[k] for k in touched if k in final}
            upserts = {r[key]: r for r in changes.upserts}
            assert not _same(upserts, want_upserts)[:10], f"{spec.model} upserts of versions {after + 1}..{to}"
            assert {r[key] for r in changes.deletes} == touched - final.keys(), f"{spec.model} {after + 1}..{to}"
            assert all(r[spec.partition_key] for r in changes.deletes)
            figures["feed_rows"] += feed_rows
            figures["net_keys"] += len(upserts) + len(changes.deletes)
        assert figures["net_keys"] > 0
        compared[spec.model] = figures
    print(compared)  # the figures of the comparison, shown with -s
