"""Gold-like Delta tables written with delta-rs, and the test's own model of their rows.

`GoldTable` keeps, next to the Delta table, a plain dict of what the table holds
(id -> row) updated by the same operations, so expected Cosmos contents never
come from the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
DAY = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)

DEVICE_METRICS = pa.schema(
    [
        ("metric_id", pa.string()),
        ("device_id", pa.string()),
        ("site_id", pa.string()),
        ("window_start", TS),
        ("window_end", TS),
        ("event_count", pa.int64()),
        ("temperature_c_avg", pa.float64()),
        ("temperature_c_min", pa.float64()),
        ("temperature_c_max", pa.float64()),
        ("humidity_pct_avg", pa.float64()),
        ("pressure_hpa_avg", pa.float64()),
        ("battery_pct_min", pa.float64()),
        ("last_event_time", TS),
        ("is_final", pa.bool_()),
        ("silver_loaded_at", TS),
    ]
)
SITE_METRICS = pa.schema(
    [
        ("metric_id", pa.string()),
        ("site_id", pa.string()),
        ("window_start", TS),
        ("window_end", TS),
        ("device_count", pa.int64()),
        ("event_count", pa.int64()),
        ("temperature_c_avg", pa.float64()),
        ("temperature_c_min", pa.float64()),
        ("temperature_c_max", pa.float64()),
        ("humidity_pct_avg", pa.float64()),
        ("is_final", pa.bool_()),
        ("silver_loaded_at", TS),
    ]
)


def metric_id(key: str, window_start: dt.datetime) -> str:
    return f"{key}_{window_start:%Y%m%dT%H%MZ}"


def device_row(device: int, window: int, *, revision: int = 0, events: int = 10) -> dict[str, Any]:
    """Device metrics of device `device` in the 5-minute window `window` of DAY."""
    device_id = f"dev-{device:05d}"
    start = DAY + dt.timedelta(minutes=5 * window)
    return {
        "metric_id": metric_id(device_id, start),
        "device_id": device_id,
        "site_id": f"site-{device % 7:03d}",
        "window_start": start,
        "window_end": start + dt.timedelta(minutes=5),
        "event_count": events + revision,
        "temperature_c_avg": 20.0 + device % 10 + window / 100 + revision,
        "temperature_c_min": 15.25,
        "temperature_c_max": 25.5 + revision,
        "humidity_pct_avg": None if device % 5 == 0 else 40.0 + window % 10,
        "pressure_hpa_avg": 1013.25,
        "battery_pct_min": 80.0 - revision,
        "last_event_time": start + dt.timedelta(minutes=4, seconds=30, microseconds=123456),
        "is_final": revision > 0,
        "silver_loaded_at": DAY + dt.timedelta(hours=1, seconds=revision),
    }


def site_row(site: int, hour: int, *, revision: int = 0) -> dict[str, Any]:
    site_id = f"site-{site:03d}"
    start = DAY + dt.timedelta(hours=hour)
    return {
        "metric_id": metric_id(site_id, start),
        "site_id": site_id,
        "window_start": start,
        "window_end": start + dt.timedelta(hours=1),
        "device_count": 5 + revision,
        "event_count": 600 + revision,
        "temperature_c_avg": 21.5 + revision,
        "temperature_c_min": 10.0,
        "temperature_c_max": 30.0 + hour,
        "humidity_pct_avg": 45.0,
        "is_final": revision > 0,
        "silver_loaded_at": DAY + dt.timedelta(hours=2),
    }


@dataclass
class GoldTable:
    """A gold-like Delta table with the change feed on, and the rows it should hold: at
    `path`, a local folder, or a delta-rs URI (`az://container/...`) with `storage_options`."""

    path: str | Path
    schema: pa.Schema
    key: str = "metric_id"
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    storage_options: dict[str, str] | None = field(default=None, repr=False)

    def _table(self) -> Any:
        from deltalake import DeltaTable

        return DeltaTable(str(self.path), storage_options=self.storage_options)

    def _arrow(self, rows: Iterable[dict[str, Any]]) -> pa.Table:
        return pa.Table.from_pylist(list(rows), schema=self.schema)

    def create(self, rows: Iterable[dict[str, Any]]) -> None:
        from deltalake import write_deltalake

        rows = list(rows)
        write_deltalake(
            str(self.path),
            self._arrow(rows),
            mode="overwrite",
            configuration={"delta.enableChangeDataFeed": "true"},
            storage_options=self.storage_options,
        )
        self.rows = {r[self.key]: r for r in rows}

    def merge(self, rows: Iterable[dict[str, Any]]) -> None:
        """MERGE on the key (what dbt's incremental merge does): updates and inserts."""
        rows = list(rows)
        (
            self._table()
            .merge(self._arrow(rows), f"s.{self.key} = t.{self.key}", source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        self.rows.update({r[self.key]: r for r in rows})

    def replace_where(self, predicate: str, rows: Iterable[dict[str, Any]], removed: Iterable[str]) -> None:
        """Delete what `predicate` matches and insert `rows`, in one commit."""
        from deltalake import write_deltalake

        rows = list(rows)
        write_deltalake(
            str(self.path),
            self._arrow(rows),
            mode="overwrite",
            predicate=predicate,
            storage_options=self.storage_options,
        )
        for key in removed:
            self.rows.pop(key, None)
        self.rows.update({r[self.key]: r for r in rows})

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        listed = ", ".join(f"'{k}'" for k in keys)
        self._table().delete(f"{self.key} IN ({listed})")
        for key in keys:
            self.rows.pop(key)

    def version(self) -> int:
        return int(self._table().version())


def expected_item(row: dict[str, Any]) -> dict[str, Any]:
    """The Cosmos item a gold row should become (written out here, independently of serving/)."""
    item: dict[str, Any] = {}
    for column, value in row.items():
        item[column] = (
            value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{value.microsecond:06d}0Z"
            if isinstance(value, dt.datetime)
            else value
        )
    item["id"] = row["metric_id"]
    return item


def container_items(settings: Any, container: str) -> dict[str, dict[str, Any]]:
    """Every item of a container read back with the SDK, without Cosmos' system properties."""
    from azure.cosmos import CosmosClient

    tls: dict[str, Any] = {}
    if settings.ca_cert:
        from azure.cosmos.documents import SSLConfiguration

        tls = {"connection_verify": str(settings.ca_cert), "ssl_config": SSLConfiguration()}
    with CosmosClient(settings.endpoint, settings.key, **tls) as client:
        items = client.get_database_client(settings.database).get_container_client(container).read_all_items()
        return {item["id"]: {k: v for k, v in item.items() if not k.startswith("_")} for item in items}
