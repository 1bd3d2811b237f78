"""Gold rows as Cosmos DB items: JSON values, and `id` = the row's primary key.

Timestamps become ISO-8601 UTC strings with seven fractional digits
(`2026-11-22T10:05:00.0000000Z`), the format Cosmos DB's own date functions use,
so they compare and sort correctly as strings. Non-finite doubles become null.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def to_item(row: dict[str, Any], id_column: str) -> dict[str, Any]:
    item = {column: json_value(value) for column, value in row.items()}
    item["id"] = str(row[id_column])
    return item
