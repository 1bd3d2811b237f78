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
from lakehouse.pipeline.dbt_runner import BUILD_STATE, DbtFailed
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

    def land(
        self, events: list[Event], start: datetime, end: datetime, batch: int, settings: CaptureSettings = SETTINGS
    ) -> None:
        report = CaptureLander(LocalCaptureStore(self.lake.capture), settings).land(events, start=start, end=end)
        for path in report.paths:
            self.batch_of_path[path] = batch

    def expected(self, *, full_refresh: bool = False) -> ex.ExpectedSilver:
        # Every Capture file in the lake (other tests' hubs too): silver covers them all.
        # Other tests' files count as one batch before this test's (their ids are theirs);
        # a full refresh builds silver from every record at once.
        records = [
            (p, r, 0 if full_refresh else self.batch_of_path.get(p, 0))
            for p, r in landed_records(LocalCaptureStore(self.lake.capture))
        ]
        return ex.expected_silver(records, seed_registry())


def _check_lake(spark: Any, state: LakeState, *, full_refresh: bool = False) -> ex.ExpectedSilver:
    want = state.expected(full_refresh=full_refresh)
    silver = {r["capture_record_id"]: r for r in _table(spark, "silver.silver_telemetry")}
    assert silver.keys() == want.kept.keys()
    columns = ["event_id", "device_id", "site_id", "event_time", *ex.RANGES, "status"]
    _assert_rows_equal(silver, want.kept, columns)
    extras = {k: json.loads(r["extra_fields"]) if r["extra_fields"] else None for k, r in silver.items()}
    assert extras == {k: r["extra_fields"] for k, r in want.kept.items()}
    quarantine = {r["capture_record_id"]: r["reason"] for r in _table(spark, "silver.silver_telemetry_quarantine")}
    assert quarantine == want.quarantine

    counts = reconciliation(spark)
    bronze_total = sum(1 for _ in landed_records(LocalCaptureStore(state.lake.capture)))
    assert counts == {
        "bronze": bronze_total,
        "silver": len(want.kept),
        "quarantine": len(want.quarantine),
        "duplicates": want.duplicates,
    }
    assert counts["bronze"] == counts["silver"] + counts["quarantine"] + counts["duplicates"]

    rows = list(want.kept.values())
    device = {r["metric_id"]: r for r in _table(spark, "gold.gold_device_metrics_5m")}
    _assert_rows_equal(device, ex.expected_device_metrics(rows, mark=want.watermark), GOLD_DEVICE)
    site = {r["metric_id"]: r for r in _table(spark, "gold.gold_site_metrics_1h")}
    _assert_rows_equal(site, ex.expected_site_metrics(rows, mark=want.watermark), GOLD_SITE)
    return want


SILVER_CONSTRAINTS = {
    "event_id_not_null",
    "device_id_not_null",
    "event_time_not_null",
    "temperature_c_range",
    "humidity_pct_range",
    "pressure_hpa_range",
    "battery_pct_range",
    "status_accepted",
    "schema_version_accepted",
}


def _constraints(spark: Any, table: str) -> set[str]:
    """The Delta CHECK constraints of `table`."""
    prefix = "delta.constraints."
    keys = [r["key"] for r in spark.sql(f"show tblproperties {table}").collect()]
    return {key[len(prefix) :] for key in keys if key.startswith(prefix)}


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

    # The contracts' not_null and check constraints are Delta CHECK constraints on the
    # tables (the writes check them). A table without one (built before its contract
    # declared it) gets it on its next build.
    spark.sql("alter table silver.silver_telemetry drop constraint temperature_c_range")
    # As a lake last built by an older project (another build record): dbt runs, nothing is skipped.
    lake.files.delete(BUILD_STATE)

    # Building again with no new files changes no table, and the unchanged
    # registry seed and its snapshot are not reloaded.
    before = _snapshot(spark)
    seed_version = spark.sql("describe history reference.device_registry limit 1").first()["version"]
    assert not run_dbt("build").reference_data_reloaded
    assert _snapshot(spark) == before
    assert spark.sql("describe history reference.device_registry limit 1").first()["version"] == seed_version
    assert _constraints(spark, "silver.silver_telemetry") >= SILVER_CONSTRAINTS
    # Delta refuses a write that breaks one, naming it, and changes nothing.
    with pytest.raises(Exception, match="temperature_c_range"):
        spark.sql("update silver.silver_telemetry set temperature_c = 150.5 where temperature_c is not null")
    with pytest.raises(Exception, match="reason_accepted"):
        spark.sql("update silver.silver_telemetry_quarantine set reason = 'no_such_rule'")
    assert _snapshot(spark) == before

    # A third landing, loaded while the clock stands a day behind the last load's:
    # hand-off is by load id, so its rows still reach silver and gold.
    third = SimulatorConfig(start=second.end, duration=timedelta(minutes=20), devices=12, seed=21, faults=FAULTS)
    state.land(simulate(third).events, third.start, third.end, batch=3)
    last_load = spark.sql("select max(loaded_at) from bronze.bronze_capture_events").first()[0]
    run_dbt("build", loaded_at=last_load - timedelta(days=1))
    _check_lake(spark, state)

    # The full-check mode runs every data test over whole tables.
    run_dbt("test", "--vars", '{"full_check": true}')


def _reading(event_id: str, device: str, ts: datetime, enqueued: datetime, temperature: float = 21.0) -> Event:
    body = {"event_id": event_id, "device_id": device, "ts": iso_utc(ts), "temperature_c": temperature, "status": "ok"}
    return Event(json.dumps(body).encode(), device, enqueued)


def _hub(name: str) -> CaptureSettings:
    return CaptureSettings(event_hub=name, partitions=2, window_seconds=300, write_empty_files=False)


def _land_hub(state: LakeState, hub: str, events: list[Event], batch: int) -> None:
    first = min(e.enqueued_time for e in events)
    start = first.replace(minute=first.minute - first.minute % 5, second=0, microsecond=0)
    state.land(events, start, max(e.enqueued_time for e in events) + timedelta(minutes=5), batch, _hub(hub))


def _gold_rows(spark: Any, table: str, key: str, value: str, day: datetime) -> dict[datetime, int]:
    """window_start -> event_count of `value`'s windows on `day` (other tests' data is on other days)."""
    return {
        r["window_start"]: r["event_count"]
        for r in _table(spark, table)
        if r[key] == value and day <= r["window_start"] < day + timedelta(days=1)
    }


def test_resend_with_another_ts_within_the_horizon_stays_one_row(lake: Lake, spark: Any, run_dbt: Any) -> None:
    """Two resends whose bodies carry another `ts` (another hour), enqueued within the
    dedupe horizon: a later one is a duplicate; an earlier one, loaded after the first
    send, replaces its silver row, and gold moves the event from the old window (here
    left empty, so deleted) to the new one."""
    state = LakeState(lake)
    day = datetime(2026, 2, 20, 10, 0, tzinfo=UTC)
    background = [
        _reading(
            f"rts-bg-10-{i}", "dev-00010", day + timedelta(minutes=5 * i), day + timedelta(minutes=5 * i, seconds=3)
        )
        for i in range(24)
    ] + [
        _reading(
            f"rts-bg-11-{i}", "dev-00011", day + timedelta(minutes=10 * i), day + timedelta(minutes=10 * i, seconds=3)
        )
        for i in range(12)
        if i != 8  # no background event in dev-00011's 11:20 window
    ]
    later_first = _reading("rts-later", "dev-00010", day + timedelta(minutes=7), day + timedelta(minutes=7, seconds=3))
    earlier_second = _reading(
        "rts-earlier", "dev-00011", day + timedelta(minutes=82), day + timedelta(minutes=82, seconds=4), 30.0
    )
    _land_hub(state, "resend-ts-first", [*background, later_first, earlier_second], batch=1)
    run_dbt("build")
    _check_lake(spark, state)
    assert (
        _gold_rows(spark, "gold.gold_device_metrics_5m", "device_id", "dev-00011", day)[day + timedelta(minutes=80)]
        == 1
    )

    # Load 2, another hub: the vendor re-emits rts-later with a corrected ts an hour
    # and more later (enqueued 2 h 23 min after the first send), and the earliest send
    # of rts-earlier (enqueued 70 minutes before the one silver holds) arrives, its
    # body's ts in the hour before.
    later_resend = _reading("rts-later", "dev-00010", day + timedelta(minutes=112), day + timedelta(minutes=150))
    earlier_first = _reading(
        "rts-earlier", "dev-00011", day + timedelta(minutes=12), day + timedelta(minutes=12, seconds=2), 30.0
    )
    _land_hub(state, "resend-ts-second", [earlier_first, later_resend], batch=2)
    run_dbt("build")
    want = _check_lake(spark, state)  # whole silver and gold, against the Python model

    silver = {
        r["event_id"]: r
        for r in _table(spark, "silver.silver_telemetry")
        if r["event_id"] in ("rts-later", "rts-earlier")
    }
    assert len([r for r in _table(spark, "silver.silver_telemetry") if r["event_id"].startswith("rts-")]) == 37
    assert silver["rts-later"]["event_time"] == day + timedelta(minutes=7)  # the first send's
    assert silver["rts-later"]["event_hub"] == "resend-ts-first"
    assert silver["rts-earlier"]["event_time"] == day + timedelta(minutes=12)  # the earliest send's
    assert silver["rts-earlier"]["event_hub"] == "resend-ts-second"
    assert want.duplicates >= 2
    device_11 = _gold_rows(spark, "gold.gold_device_metrics_5m", "device_id", "dev-00011", day)
    assert day + timedelta(minutes=80) not in device_11  # its only event moved out: deleted
    assert device_11[day + timedelta(minutes=10)] == 2  # the background reading and rts-earlier
    assert (
        _gold_rows(spark, "gold.gold_device_metrics_5m", "device_id", "dev-00010", day)[day + timedelta(minutes=5)] == 2
    )
    assert (
        _gold_rows(spark, "gold.gold_device_metrics_5m", "device_id", "dev-00010", day)[day + timedelta(minutes=110)]
        == 1
    )
    site_11 = _gold_rows(spark, "gold.gold_site_metrics_1h", "site_id", "site-11", day)
    assert site_11 == {day: 7, day + timedelta(hours=1): 5}  # rts-earlier counted once, at 10:12
    replaced = [(r["event_id"], r["event_time"]) for r in _table(spark, "silver.int_silver_replaced_sends")]
    assert ("rts-earlier", day + timedelta(minutes=82)) in replaced

    # The full check (every data test over whole tables) finds nothing wrong.
    run_dbt("test", "--vars", '{"full_check": true}')


def test_resend_beyond_the_horizon_is_reported_by_the_full_check(
    lake: Lake, spark: Any, run_dbt: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """A resend with another `ts` enqueued 26 h after the first send (beyond the 24 h
    horizon) becomes a second silver row, as the contract documents; the nightly full
    check fails on it, naming the event, and the repair it names restores one row."""
    state = LakeState(lake)
    day = datetime(2026, 2, 21, 10, 0, tzinfo=UTC)
    first = _reading("rb-1", "dev-00012", day + timedelta(minutes=3), day + timedelta(minutes=3, seconds=2))
    other = _reading("rb-bg-0", "dev-00012", day + timedelta(minutes=4), day + timedelta(minutes=4, seconds=2))
    _land_hub(state, "resend-beyond", [first, other], batch=1)
    run_dbt("build")
    resend = _reading("rb-1", "dev-00012", day + timedelta(hours=4, minutes=40), day + timedelta(hours=26, minutes=3))
    _land_hub(state, "resend-beyond", [resend], batch=2)
    run_dbt("build")  # the run-scoped tests cannot see it
    want = _check_lake(spark, state)
    assert want.events_with_several_rows() == {"rb-1"}

    capfd.readouterr()
    with pytest.raises(DbtFailed):
        run_dbt("test", "--select", "silver_telemetry", "--vars", '{"full_check": true}')
    out = capfd.readouterr().out
    assert "one_row_per_event_id" in out
    assert "rb-1 (2 rows, sends enqueued 26.0 h apart)" in out
    assert "dedupe_horizon_hours = 24" in out
    assert "lakehouse dbt build --full-refresh --select silver_telemetry+ --vars '{full_check: true}'" in out

    # The repair it names: silver, then gold, rebuilt from every validated record, and
    # every test of them over whole tables.
    run_dbt("build", "--full-refresh", "--select", "silver_telemetry+", "--vars", '{"full_check": true}')
    want = _check_lake(spark, state, full_refresh=True)
    assert not want.events_with_several_rows()
