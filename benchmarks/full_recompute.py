"""The baseline: one hand-written PySpark job that recomputes the lake from Capture
files in a single pass (bronze, parse + contract checks, quarantine, dedupe, both
gold tables, Delta out), with none of dbt's bookkeeping. The plant benchmark times
the project's first build against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lakehouse.ingestion.capture.format import CAPTURE_SCHEMA
from lakehouse.paths import PROJECT_DIR

MEASURES = {"temperature_c": (-50, 150), "humidity_pct": (0, 100), "pressure_hpa": (800, 1100), "battery_pct": (0, 100)}
NUMBER = "({t} in ('TINYINT','SMALLINT','INT','BIGINT','FLOAT','DOUBLE') or {t} like 'DECIMAL%')"


def _reasons_sql() -> str:
    rules = [
        "case when body is null or length(body) = 0 then 'empty_body' end",
        "case when length(body) > 0 and fields is null then 'not_json' end",
    ]
    for name in ("event_id", "device_id", "ts"):
        rules.append(
            f"case when fields is not null and coalesce(schema_of_variant(fields['{name}']) = 'VOID', true) "
            f"then 'missing_{name}' end"
        )
        rules.append(
            f"case when schema_of_variant(fields['{name}']) not in ('STRING', 'VOID') then 'wrong_type:{name}' end"
        )
    rules.append("case when schema_of_variant(fields['ts']) = 'STRING' and event_time is null then 'bad_ts' end")
    for name, (low, high) in MEASURES.items():
        kind = f"schema_of_variant(fields['{name}'])"
        rules.append(f"case when {kind} != 'VOID' and not {NUMBER.format(t=kind)} then 'wrong_type:{name}' end")
        rules.append(
            f"case when {NUMBER.format(t=kind)} and not {name} between {low} and {high} then 'out_of_range:{name}' end"
        )
    rules.append("case when status not in ('ok', 'warn', 'error') then 'bad_status' end")
    return "filter(array(" + ", ".join(rules) + "), r -> r is not null)"


def full_recompute(spark: Any, paths: list[str], out: Path) -> int:
    """Recompute everything from `paths` into Delta folders under `out`; returns the record count."""
    from pyspark.sql import functions as F

    raw = spark.read.format("avro").option("avroSchema", json.dumps(CAPTURE_SCHEMA)).load(paths)
    bronze = raw.select(
        F.col("_metadata.file_path").alias("capture_file_path"),
        "SequenceNumber",
        "Offset",
        "EnqueuedTimeUtc",
        "SystemProperties",
        "Properties",
        "Body",
        F.regexp_extract(
            F.col("_metadata.file_path"), r"/([^/]+)/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{2}[.]avro$", 1
        )
        .cast("int")
        .alias("partition_id"),
        F.expr("coalesce(to_timestamp(EnqueuedTimeUtc, 'M/d/yyyy h:mm:ss a'), to_timestamp(EnqueuedTimeUtc))").alias(
            "enqueued_at"
        ),
    )
    bronze.write.format("delta").mode("overwrite").save(str(out / "bronze"))
    spark.read.format("delta").load(str(out / "bronze")).createOrReplaceTempView("baseline_bronze")
    spark.read.option("header", True).csv(str(PROJECT_DIR / "seeds" / "device_registry.csv")).createOrReplaceTempView(
        "baseline_registry"
    )
    measures = ", ".join(f"try_variant_get(fields['{m}'], '$', 'double') as {m}" for m in MEASURES)
    spark.sql(f"""
        select *, {_reasons_sql()} as reasons
        from (
            select *,
                try_variant_get(fields['event_id'], '$', 'string') as event_id,
                try_variant_get(fields['device_id'], '$', 'string') as device_id,
                try_variant_get(fields['site_id'], '$', 'string') as body_site_id,
                to_timestamp(try_variant_get(fields['ts'], '$', 'string')) as event_time,
                try_variant_get(fields['status'], '$', 'string') as status,
                {measures}
            from (select *, from_json(cast(Body as string), 'map<string, variant>') as fields from baseline_bronze)
        )
    """).drop("fields").cache().createOrReplaceTempView("baseline_parsed")  # parsed once, read twice
    spark.sql("select * from baseline_parsed where size(reasons) > 0").write.format("delta").mode("overwrite").save(
        str(out / "quarantine")
    )
    spark.sql("""
        select p.* except (rank, body_site_id, Body, SystemProperties, Properties, reasons),
               coalesce(p.body_site_id, r.site_id) as site_id
        from (
            select *,
                   row_number() over (partition by event_id order by enqueued_at, partition_id, SequenceNumber) as rank
            from baseline_parsed where size(reasons) = 0
        ) as p
        left join baseline_registry as r on p.device_id = r.device_id
        where rank = 1
    """).write.format("delta").mode("overwrite").save(str(out / "silver"))
    spark.read.format("delta").load(str(out / "silver")).createOrReplaceTempView("baseline_silver")
    watermark = "(select max(event_time) - interval 2 hours from baseline_silver)"
    for name, key, minutes in (("gold_device", "device_id", 5), ("gold_site", "site_id", 60)):
        window = f"timestamp_seconds((unix_micros(event_time) div {minutes * 60_000_000}) * {minutes * 60})"
        spark.sql(f"""
            select {key}, {window} as window_start, count(*) as event_count, count(distinct device_id) as devices,
                   cast(avg(cast(temperature_c as decimal(18, 6))) as double) as temperature_c_avg,
                   min(temperature_c) as temperature_c_min, max(temperature_c) as temperature_c_max,
                   cast(avg(cast(humidity_pct as decimal(18, 6))) as double) as humidity_pct_avg,
                   max(event_time) as last_event_time,
                   {window} + make_dt_interval(0, 0, {minutes}, 0) <= {watermark} as is_final
            from baseline_silver where {key} is not null group by {key}, {window}
        """).write.format("delta").mode("overwrite").save(str(out / name))
    return int(spark.read.format("delta").load(str(out / "bronze")).count())
