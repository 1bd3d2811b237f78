"""Reading what changed in gold tables with delta-rs, including tables Spark wrote."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from lakehouse.paths import Lake
from lakehouse.serving.cosmos.connection import CosmosSettings
from lakehouse.serving.cosmos.delta_changes import (
    ChangeFeedUnavailable,
    _change_feed_from_log,
    _commits,
    _plain_types,
    net_changes,
    snapshot_batches,
    table_head,
)
from lakehouse.serving.cosmos.sync import CosmosSyncFailed, sync_gold_to_cosmos
from lakehouse.serving.cosmos.sync_state import SyncState, target_key
from tests.python.serving.gold_data import DEVICE_METRICS, GoldTable, container_items, device_row, expected_item


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {r["metric_id"]: r for r in rows}


def test_net_changes_keep_the_final_state_of_each_key(gold_lake: Lake) -> None:
    table = GoldTable(gold_lake.table("gold", "t"), DEVICE_METRICS)
    table.create(device_row(d, w) for d in range(4) for w in range(3))  # v0
    table.merge([device_row(0, 0, revision=1), device_row(9, 0)])  # v1
    table.merge([device_row(0, 0, revision=2)])  # v2
    table.delete([device_row(1, 1)["metric_id"], device_row(9, 0)["metric_id"]])  # v3: incl. a v1 insert
    table.replace_where(
        "device_id = 'dev-00002'",
        [device_row(2, 0, revision=5)],  # v4: 3 out, 1 back
        removed=[device_row(2, w)["metric_id"] for w in range(3)],
    )
    table.merge([device_row(1, 1, revision=7)])  # v5: deleted, back

    changes = net_changes(table.path, "metric_id", after_version=0, to_version=5)

    upserted_keys = {device_row(*k)["metric_id"] for k in [(0, 0), (2, 0), (1, 1)]}
    deleted_keys = {device_row(*k)["metric_id"] for k in [(9, 0), (2, 1), (2, 2)]}
    assert by_key(changes.upserts) == {k: table.rows[k] for k in upserted_keys}
    assert set(by_key(changes.deletes)) == deleted_keys
    assert not any(k.startswith("_") for r in changes.upserts + changes.deletes for k in r)

    later = net_changes(table.path, "metric_id", after_version=3, to_version=4)
    assert {r["metric_id"] for r in later.upserts} == {device_row(2, 0)["metric_id"]}
    assert len(later.deletes) == 2
    assert net_changes(table.path, "metric_id", after_version=5, to_version=5).change_rows_read == 0


def test_snapshot_batches_stream_one_version(gold_lake: Lake) -> None:
    table = GoldTable(gold_lake.table("gold", "t"), DEVICE_METRICS)
    table.create(device_row(d, w) for d in range(5) for w in range(5))
    first = dict(table.rows)
    table.merge([device_row(0, 0, revision=1)])

    batches = list(snapshot_batches(table.path, 0, batch_rows=10))
    assert [len(b) for b in batches] == [10, 10, 5]
    assert by_key([r for b in batches for r in b]) == first
    assert by_key([r for b in snapshot_batches(table.path, 1) for r in b]) == table.rows


def test_a_table_without_a_change_feed_is_refused_with_the_fix(gold_lake: Lake) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    path = gold_lake.table("gold", "gold_device_metrics_5m")
    write_deltalake(str(path), pa.Table.from_pylist([device_row(0, 0)], schema=DEVICE_METRICS))
    write_deltalake(str(path), pa.Table.from_pylist([device_row(0, 1)], schema=DEVICE_METRICS), mode="append")
    head = table_head(path)
    assert not head.change_feed_enabled

    settings = CosmosSettings(endpoint="https://127.0.0.1:9/", key="k")
    SyncState(gold_lake).commit(
        target_key(settings.endpoint, settings.database, "gold_device_metrics_5m"),
        table="gold/gold_device_metrics_5m",
        delta_table_id=head.table_id,
        version=0,
    )
    with pytest.raises(CosmosSyncFailed, match=r"delta.enableChangeDataFeed = true"):
        sync_gold_to_cosmos(gold_lake, settings=settings)


def test_a_vacuumed_change_feed_asks_for_a_full_sync(gold_lake: Lake) -> None:
    table = GoldTable(gold_lake.table("gold", "t"), DEVICE_METRICS)
    table.create([device_row(0, 0), device_row(0, 1)])
    table.merge([device_row(0, 0, revision=1)])
    for cdc_file in (Path(table.path) / "_change_data").iterdir():
        cdc_file.unlink()  # what VACUUM does once the retention period has passed
    with pytest.raises(ChangeFeedUnavailable, match="with --full"):
        net_changes(table.path, "metric_id", after_version=0, to_version=1)


def test_the_log_reader_reads_the_feed_as_delta_rs_does(gold_lake: Lake) -> None:
    """The change feed read from the log (for Spark's timestamp partitions, which delta-rs
    cannot open: test_silver_gold_change_feed.py) equals delta-rs' own, version by version."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    table = GoldTable(gold_lake.table("gold", "t"), DEVICE_METRICS)
    rows = [device_row(d, w) for d in range(3) for w in range(3)]
    write_deltalake(
        str(table.path),
        pa.Table.from_pylist(rows, schema=DEVICE_METRICS),
        partition_by=["device_id"],
        configuration={"delta.enableChangeDataFeed": "true"},
    )  # v0: adds, no cdc files
    table.rows = by_key(rows)
    table.merge([device_row(0, 0, revision=1), device_row(4, 0)])  # v1
    table.delete([device_row(1, 1)["metric_id"]])  # v2
    for mode in ("append", "overwrite"):  # v3, v4
        write_deltalake(str(table.path), pa.Table.from_pylist([device_row(5, 5)], schema=DEVICE_METRICS), mode=mode)

    def feed(batches: Iterable[pa.RecordBatch]) -> list[tuple]:
        table = pa.Table.from_batches([_plain_types(pa.record_batch(b)) for b in batches])
        return sorted(tuple(r.values()) for r in table.drop_columns(["_commit_timestamp"]).to_pylist())

    head = table_head(table.path).version
    for first, last in [*((v, v) for v in range(head + 1)), (0, head)]:
        want = feed(DeltaTable(str(table.path)).load_cdf(starting_version=first, ending_version=last))
        assert want, (first, last)
        assert feed(_change_feed_from_log(table.path, _commits(table.path, first, last), None)) == want
        columns = ["metric_id", "_change_type", "_commit_version"]
        narrow = _change_feed_from_log(table.path, _commits(table.path, first, last), columns)
        got = sorted(tuple(r.values()) for b in narrow for r in b.to_pylist())
        assert got == sorted((r[0], r[-2], r[-1]) for r in want)


def test_a_shallow_clone_under_escaped_partition_folders_reads_its_files(gold_lake: Lake) -> None:
    """A shallow clone's log names the source's files by absolute URI (as Spark's SHALLOW CLONE
    writes them, `file:/...`, or `file:///...`); under timestamp partition folders, whose
    names hold `%3A`, each path is decoded once: the change feed reads the very rows written."""
    import json

    import pyarrow as pa
    from deltalake import write_deltalake

    source = Path(gold_lake.table("gold", "source"))
    rows = [device_row(d, w) for d in range(3) for w in range(2)]
    write_deltalake(
        str(source),
        pa.Table.from_pylist(rows, schema=DEVICE_METRICS),
        partition_by=["window_start"],
        configuration={"delta.enableChangeDataFeed": "true"},
    )
    folders = sorted(p.name for p in source.iterdir() if p.name != "_delta_log")
    assert len(folders) == 2 and all("%3A" in name for name in folders)  # the escaped names, on disk

    clone = Path(gold_lake.table("gold", "clone"))
    (clone / "_delta_log").mkdir(parents=True)
    actions = [json.loads(line) for line in (source / "_delta_log" / f"{0:020d}.json").read_text().splitlines()]
    adds = [a["add"] for a in actions if "add" in a]
    assert len(adds) == 2
    adds[0]["path"] = f"{source.as_uri()}/{adds[0]['path']}"  # file:///...
    adds[1]["path"] = f"file:{source.as_uri().removeprefix('file://')}/{adds[1]['path']}"  # file:/...
    (clone / "_delta_log" / f"{0:020d}.json").write_text("".join(json.dumps(a) + "\n" for a in actions))
    later = [device_row(4, 0)]
    write_deltalake(str(clone), pa.Table.from_pylist(later, schema=DEVICE_METRICS), mode="append")  # v1: relative

    changes = net_changes(clone, "metric_id", after_version=-1, to_version=1)
    assert by_key(changes.upserts) == by_key(rows + later) and changes.deletes == []
    assert by_key(net_changes(clone, "metric_id", after_version=0, to_version=1).upserts) == by_key(later)


@pytest.mark.spark
def test_spark_written_tables_sync_through_delta_rs(spark, tmp_path, cosmos_settings: CosmosSettings) -> None:  # type: ignore[no-untyped-def]
    """What dbt's incremental merge writes (Spark, CDF on, deletion vectors too) syncs exactly."""
    lake = Lake.at(tmp_path / "lake")
    path = lake.table("gold", "gold_device_metrics_5m")
    table = GoldTable(path, DEVICE_METRICS)

    def changes_view(rows: list[dict]) -> str:
        spark.createDataFrame(rows, schema=spark_schema()).createOrReplaceTempView("changes")
        table.rows.update(by_key(rows))
        return "changes"

    # Spark's first Delta commands in a fresh JVM take ~15 s each, so as few as possible.
    spark.sql(
        f"CREATE TABLE delta.`{path}` USING DELTA TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true', "
        f"'delta.enableDeletionVectors' = 'true') AS SELECT * FROM "
        f"{changes_view([device_row(d, w) for d in range(6) for w in range(4)])}"
    )
    sync_gold_to_cosmos(lake, settings=cosmos_settings)  # first sync: the snapshot, read through DataFusion
    source = changes_view([device_row(0, 0, revision=1), device_row(1, 3, revision=1), device_row(7, 0)])
    spark.sql(
        f"MERGE INTO delta.`{path}` t USING {source} s ON t.metric_id = s.metric_id "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )
    spark.sql(f"DELETE FROM delta.`{path}` WHERE metric_id = '{device_row(5, 2)['metric_id']}'")  # a deletion vector
    table.rows.pop(device_row(5, 2)["metric_id"])

    report = sync_gold_to_cosmos(lake, settings=cosmos_settings)

    entry = report.containers[0]
    assert (entry.mode, entry.writes.upserted, entry.writes.deleted) == ("incremental", 3, 1)
    assert container_items(cosmos_settings, "gold_device_metrics_5m") == {
        k: expected_item(r) for k, r in table.rows.items()
    }
    snapshot = by_key([r for b in snapshot_batches(path, table_head(path).version) for r in b])
    assert snapshot == table.rows


def spark_schema() -> object:
    from pyspark.sql import types as T

    kinds = {
        "string": T.StringType(),
        "timestamp[us, tz=UTC]": T.TimestampType(),
        "int64": T.LongType(),
        "double": T.DoubleType(),
        "bool": T.BooleanType(),
    }
    return T.StructType([T.StructField(f.name, kinds[str(f.type)]) for f in DEVICE_METRICS])
