"""End to end on local Spark with simulated faults: two landings, the second with
late events for windows the first made final and resends of old events. After
each build, silver, quarantine and gold equal an independent Python computation
over the same Capture files, and the reconciliation holds exactly."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings, landed_records
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.events import Event, iso_utc
from lakehouse.ingestion.sources.simulator import SimulatorConfig, simulate
from lakehouse.paths import Lake
from lakehouse.pipeline.lake_report import reconciliation
from tests.python import expected_lake as ex
from tests.python.lake_helpers import FAULTS, seed_registry

pytestmark = pytest.mark.spark
HUB = "silver-gold-e2e"
START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
SETTINGS = CaptureSettings(event_hub=HUB, partitions=3, window_seconds=300, write_empty_files=True)
GOLD_DEVICE = [
    "device_id",
    "site_id",
    "window_start",
    "window_end",
    "event_count",
    "temperature_c_avg",
    "temperature_c_min",
    "temperature_c_max",
    "humidity_pct_avg",
    "pressure_hpa_avg",
    "battery_pct_min",
    "last_event_time",
    "is_final",
]
GOLD_SITE = [
    "site_id",
    "window_start",
    "window_end",
    "device_count",
    "event_count",
    "temperature_c_avg",
    "temperature_c_min",
    "temperature_c_max",
    "humidity_pct_avg",
    "is_final",
]


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else value


def _table(spark: Any, name: str) -> list[dict[str, Any]]:
    return [{k: _utc(v) for k, v in row.asDict().items()} for row in spark.table(name).collect()]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _assert_rows_equal(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]], columns: list[str]) -> None:
    assert got.keys() == want.keys()
    bad = [(key, c, got[key][c], want[key][c]) for key in want for c in columns if not _same(got[key][c], want[key][c])]
    assert not bad, bad[:10]


class LakeState:
    """Records landed so far, with the landing batch each came in."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.batch_of_path: dict[str, int] = {}

    def land(self, events: list[Event], start: datetime, end: datetime, batch: int) -> None:
        report = CaptureLander(LocalCaptureStore(self.lake.capture), SETTINGS).land(events, start=start, end=end)
        for path in report.paths:
            self.batch_of_path[path] = batch

    def expected(self) -> ex.ExpectedSilver:
        # Every Capture file in the lake (other tests' hubs too): silver covers them all.
        records = [
            (p, r, self.batch_of_path.get(p, 0)) for p, r in landed_records(LocalCaptureStore(self.lake.capture))
        ]
        return ex.expected_silver(records, seed_registry())


def _check_lake(spark: Any, state: LakeState) -> ex.ExpectedSilver:
    want = state.expected()
    silver = {r["event_id"]: r for r in _table(spark, "silver.silver_telemetry")}
    assert silver.keys() == want.rows.keys()
    columns = ["device_id", "site_id", "event_time", *ex.RANGES, "status", "capture_record_id"]
    _assert_rows_equal(silver, want.rows, columns)
    extras = {k: json.loads(r["extra_fields"]) if r["extra_fields"] else None for k, r in silver.items()}
    assert extras == {k: r["extra_fields"] for k, r in want.rows.items()}
    quarantine = {r["capture_record_id"]: r["reason"] for r in _table(spark, "silver.silver_telemetry_quarantine")}
    assert quarantine == want.quarantine

    counts = reconciliation(spark)
    bronze_total = sum(1 for _ in landed_records(LocalCaptureStore(state.lake.capture)))
    assert counts == {
        "bronze": bronze_total,
        "silver": len(want.rows),
        "quarantine": len(want.quarantine),
        "duplicates": want.duplicates,
    }
    assert counts["bronze"] == counts["silver"] + counts["quarantine"] + counts["duplicates"]

    rows = list(want.rows.values())
    device = {r["metric_id"]: r for r in _table(spark, "gold.gold_device_metrics_5m")}
    _assert_rows_equal(device, ex.expected_device_metrics(rows), GOLD_DEVICE)
    site = {r["metric_id"]: r for r in _table(spark, "gold.gold_site_metrics_1h")}
    _assert_rows_equal(site, ex.expected_site_metrics(rows), GOLD_SITE)
    return want


def _snapshot(spark: Any) -> dict[str, list]:
    tables = [
        "bronze.bronze_capture_events",
        "silver.silver_telemetry",
        "silver.silver_telemetry_quarantine",
        "gold.gold_device_metrics_5m",
        "gold.gold_site_metrics_1h",
        "gold.gold_window_restatements",
    ]
    return {t: sorted(map(str, spark.table(t).collect())) for t in tables}


def test_two_landings_with_late_data_and_resends(lake: Lake, spark: Any, run_dbt: Any) -> None:
    state = LakeState(lake)
    first = SimulatorConfig(start=START, duration=timedelta(hours=3), devices=12, seed=21, faults=FAULTS)
    sim1 = simulate(first)
    state.land(sim1.events, first.start, first.end, batch=1)
    run_dbt("build")
    want1 = _check_lake(spark, state)
    final_before = ex.watermark(list(want1.rows.values()))
    assert final_before >= START + timedelta(minutes=30), "the first landing must make early windows final"

    # Second landing: the next 30 minutes, plus 25 readings a device buffered while
    # offline (event times in windows the first build made final), plus resends
    # of 40 events from the first landing.
    second = SimulatorConfig(start=first.end, duration=timedelta(minutes=30), devices=12, seed=21, faults=FAULTS)
    sim2 = simulate(second)
    arrival = second.start + timedelta(minutes=10)
    late = [
        Event(
            json.dumps(
                {
                    "event_id": f"dev-00003-backfill-{i}",
                    "device_id": "dev-00003",
                    "ts": iso_utc(START + timedelta(minutes=7, seconds=23 * i)),
                    "temperature_c": 20 + i / 10,
                    "humidity_pct": 40.0,
                    "status": "ok",
                }
            ).encode(),
            "dev-00003",
            arrival + timedelta(seconds=i),
        )
        for i in range(25)
    ]
    valid_first = [e for e in sim1.events if ex.first_reason(e.body)[0] is None]
    resends = [
        Event(e.body, e.partition_key, arrival + timedelta(seconds=30 + i)) for i, e in enumerate(valid_first[:40])
    ]
    state.land(sim2.events + late + resends, second.start, second.end, batch=2)
    run_dbt("build")
    want2 = _check_lake(spark, state)
    assert want2.duplicates >= want1.duplicates + 40

    # The late readings restated final windows, and the restatement log says so.
    restated = {
        (r["window_key"], r["window_start"]): r["late_event_count"]
        for r in _table(spark, "gold.gold_window_restatements")
        if r["gold_model"] == "gold_device_metrics_5m" and r["window_key"] == "dev-00003"
    }
    expected: dict[tuple[str, datetime], int] = {}
    for event in late:
        ts = ex.parse_ts(json.loads(event.body or b"")["ts"])
        assert ts is not None
        expected[("dev-00003", ex.window_start(ts, 5))] = expected.get(("dev-00003", ex.window_start(ts, 5)), 0) + 1
    assert restated == expected
    assert all(ws + timedelta(minutes=5) <= final_before for _, ws in expected)

    # Building again with no new files changes no table, and the unchanged
    # registry seed and its snapshot are not reloaded.
    before = _snapshot(spark)
    seed_version = spark.sql("describe history reference.device_registry limit 1").first()["version"]
    assert not run_dbt("build").reference_data_reloaded
    assert _snapshot(spark) == before
    assert spark.sql("describe history reference.device_registry limit 1").first()["version"] == seed_version

    # A third landing, loaded while the clock stands a day behind the last load's:
    # hand-off is by load id, so its rows still reach silver and gold.
    third = SimulatorConfig(start=second.end, duration=timedelta(minutes=20), devices=12, seed=21, faults=FAULTS)
    state.land(simulate(third).events, third.start, third.end, batch=3)
    last_load = spark.sql("select max(loaded_at) from bronze.bronze_capture_events").first()[0]
    run_dbt("build", loaded_at=last_load - timedelta(days=1))
    _check_lake(spark, state)

    # The full-check mode runs every data test over whole tables.
    run_dbt("test", "--vars", '{"full_check": true}')
