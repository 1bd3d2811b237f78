"""An independent model of silver and gold, in plain Python, from the Capture files.

Written from the data contract (docs/contract.md), not from the project's SQL: the tests compare
what Spark built against what this computes from the same Avro files.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from lakehouse.ingestion.capture.format import CapturePath, parse_enqueued_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RANGES = {"temperature_c": (-50, 150), "humidity_pct": (0, 100), "pressure_hpa": (800, 1100), "battery_pct": (0, 100)}
CONTRACT = {"event_id", "device_id", "site_id", "ts", *RANGES, "status", "schema_version"}


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_ts(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def first_reason(body: bytes | None) -> tuple[str | None, dict[str, Any] | None]:
    """The first contract rule the body breaks (None when valid), and the parsed body."""
    if not body:
        return "empty_body", None
    try:
        doc = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except ValueError:
        return "not_json", None
    if not isinstance(doc, dict):
        return "not_object", None
    reasons: list[str] = []
    for name in ("event_id", "device_id", "ts"):
        if doc.get(name) is None:
            reasons.append(f"missing_{name}")
        elif not isinstance(doc[name], str):
            reasons.append(f"wrong_type:{name}")
    if isinstance(doc.get("ts"), str) and parse_ts(doc["ts"]) is None:
        reasons.append("bad_ts")
    for name, (low, high) in RANGES.items():
        value = doc.get(name)
        if value is None:
            continue
        if not _is_number(value):
            reasons.append(f"wrong_type:{name}")
        elif not low <= value <= high:
            reasons.append(f"out_of_range:{name}")
    for name in ("site_id", "status"):
        if doc.get(name) is not None and not isinstance(doc[name], str):
            reasons.append(f"wrong_type:{name}")
    for name in ("device_id", "site_id"):  # Cosmos DB item ids refuse these
        value = doc.get(name)
        if isinstance(value, str) and (set(value) & set("/\\?#") or len(value.encode()) > 1000):
            reasons.append(f"bad_id:{name}")
    if isinstance(doc.get("status"), str) and doc["status"] not in ("ok", "warn", "error"):
        reasons.append("bad_status")
    version = doc.get("schema_version")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int):
            reasons.append("wrong_type:schema_version")
        elif version != 1:
            reasons.append("bad_schema_version")
    return (reasons[0] if reasons else None), doc


DEDUPE_HORIZON = timedelta(hours=24)  # dbt_project.yml's dedupe_horizon_hours
WATERMARK_DELAY = timedelta(hours=2)  # dbt_project.yml's watermark_delay_minutes


@dataclass
class ExpectedSilver:
    kept: dict[str, dict[str, Any]]  # capture_record_id -> silver row: every row silver holds
    quarantine: dict[str, str]  # capture_record_id -> reason
    duplicates: int
    record_batch: dict[str, int]  # capture_record_id -> landing batch
    # The latest event time among the valid records of every load, duplicates included:
    # what the contract's watermark is taken from (a resend's `ts` counts though silver
    # keeps the earlier send).
    latest_valid_event_time: datetime | None = None

    @property
    def watermark(self) -> datetime | None:
        """The contract's watermark: the latest valid event time seen, minus the delay."""
        return None if self.latest_valid_event_time is None else self.latest_valid_event_time - WATERMARK_DELAY

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        """event_id -> silver row (of an event with rows beyond the horizon, its earliest send's)."""
        rows: dict[str, dict[str, Any]] = {}
        for row in sorted(self.kept.values(), key=lambda r: r["send_order"], reverse=True):
            rows[row["event_id"]] = row
        return rows

    def events_with_several_rows(self) -> set[str]:
        ids = [r["event_id"] for r in self.kept.values()]
        return {i for i in ids if ids.count(i) > 1}


def capture_record_id(path: str, record: dict[str, Any]) -> str:
    """A landed record's key: <namespace>/<event hub>/<partition>/<sequence number>."""
    where = CapturePath.parse(path)
    return f"{where.namespace}/{where.event_hub}/{where.partition_id}/{record['SequenceNumber']}"


def _compared(kept: dict[str, Any], new: dict[str, Any], horizon: timedelta) -> bool:
    """The contract's dedupe horizon: a send is checked against a kept row of its event
    whose event falls in the same hour, or whose send was enqueued within `horizon`."""
    same_hour = kept["event_time"].replace(minute=0, second=0, microsecond=0) == new["event_time"].replace(
        minute=0, second=0, microsecond=0
    )
    return same_hour or abs(kept["send_order"][0] - new["send_order"][0]) <= horizon


def expected_silver(
    records: list[tuple[str, dict[str, Any], int]], registry: dict[str, str], horizon: timedelta = DEDUPE_HORIZON
) -> ExpectedSilver:
    """`records`: (capture path, Avro record, batch number) for every landed record.

    Batches are built in order, each by one incremental run: within a batch the
    earliest send of an event wins; it then replaces the kept rows of its event it is
    compared with (same event hour, or enqueued within `horizon`) if it is earlier
    than all of them, else it is a duplicate. Rows it is not compared with stay. A
    full refresh is one batch of everything."""
    quarantine: dict[str, str] = {}
    valid: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    batches: dict[str, int] = {}
    for path, record, batch in records:
        where = CapturePath.parse(path)
        record_id = capture_record_id(path, record)
        batches[record_id] = batch
        reason, doc = first_reason(record["Body"])
        if reason:
            quarantine[record_id] = reason
            continue
        assert doc is not None
        enqueued = parse_enqueued_time(record["EnqueuedTimeUtc"])
        valid[batch][doc["event_id"]].append(
            {
                "event_id": doc["event_id"],
                "device_id": doc["device_id"],
                "site_id": doc["site_id"] if isinstance(doc.get("site_id"), str) else registry.get(doc["device_id"]),
                "event_time": parse_ts(doc["ts"]),
                **{name: (float(doc[name]) if doc.get(name) is not None else None) for name in RANGES},
                "status": doc.get("status"),
                "extra_fields": {k: v for k, v in doc.items() if k not in CONTRACT} or None,
                "capture_record_id": record_id,
                "batch": batch,
                "send_order": (enqueued, int(where.partition_id), record["SequenceNumber"]),
            }
        )
    kept: dict[str, list[dict[str, Any]]] = defaultdict(list)
    duplicates = 0
    for batch in sorted(valid):
        for event_id, sends in valid[batch].items():
            new = min(sends, key=lambda s: s["send_order"])
            duplicates += len(sends) - 1
            compared = [row for row in kept[event_id] if _compared(row, new, horizon)]
            if any(row["send_order"] <= new["send_order"] for row in compared):
                duplicates += 1
                continue
            duplicates += len(compared)
            kept[event_id] = [row for row in kept[event_id] if row not in compared] + [new]
    rows = {row["capture_record_id"]: row for event_rows in kept.values() for row in event_rows}
    latest = max(
        (send["event_time"] for by_event in valid.values() for sends in by_event.values() for send in sends),
        default=None,
    )
    return ExpectedSilver(rows, quarantine, duplicates, batches, latest)


def window_start(ts: datetime, minutes: int) -> datetime:
    step = timedelta(minutes=minutes)
    return EPOCH + ((ts - EPOCH) // step) * step


def _avg(values: list[float]) -> float | None:
    present = [Fraction(round(v, 6)).limit_denominator(10**6) for v in values if v is not None]
    return float(sum(present) / len(present)) if present else None


def _min(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def watermark(rows: list[dict[str, Any]], delay: timedelta = WATERMARK_DELAY) -> datetime:
    return max(r["event_time"] for r in rows) - delay


def expected_device_metrics(
    rows: list[dict[str, Any]], minutes: int = 5, mark: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Gold per device and window from silver's `rows`; `mark` is the watermark (by
    default the latest of `rows` minus the delay, which is the contract's unless a resend
    silver did not keep carried a later `ts`: ExpectedSilver.watermark)."""
    mark = mark or watermark(rows)
    groups: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["device_id"], window_start(row["event_time"], minutes))].append(row)
    out = {}
    for (device, start), events in groups.items():
        end = start + timedelta(minutes=minutes)
        latest = max(events, key=lambda e: (e["event_time"], e["event_id"]))
        out[f"{device}_{start:%Y%m%dT%H%MZ}"] = {
            "device_id": device,
            "site_id": latest["site_id"],
            "window_start": start,
            "window_end": end,
            "event_count": len(events),
            "temperature_c_avg": _avg([e["temperature_c"] for e in events]),
            "temperature_c_min": _min([e["temperature_c"] for e in events]),
            "temperature_c_max": _max([e["temperature_c"] for e in events]),
            "humidity_pct_avg": _avg([e["humidity_pct"] for e in events]),
            "pressure_hpa_avg": _avg([e["pressure_hpa"] for e in events]),
            "battery_pct_min": _min([e["battery_pct"] for e in events]),
            "last_event_time": max(e["event_time"] for e in events),
            "is_final": end <= mark,
        }
    return out


def expected_site_metrics(
    rows: list[dict[str, Any]], minutes: int = 60, mark: datetime | None = None
) -> dict[str, dict[str, Any]]:
    mark = mark or watermark(rows)
    groups: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["site_id"] is not None:
            groups[(row["site_id"], window_start(row["event_time"], minutes))].append(row)
    out = {}
    for (site, start), events in groups.items():
        end = start + timedelta(minutes=minutes)
        out[f"{site}_{start:%Y%m%dT%H%MZ}"] = {
            "site_id": site,
            "window_start": start,
            "window_end": end,
            "device_count": len({e["device_id"] for e in events}),
            "event_count": len(events),
            "temperature_c_avg": _avg([e["temperature_c"] for e in events]),
            "temperature_c_min": _min([e["temperature_c"] for e in events]),
            "temperature_c_max": _max([e["temperature_c"] for e in events]),
            "humidity_pct_avg": _avg([e["humidity_pct"] for e in events]),
            "is_final": end <= mark,
        }
    return out
