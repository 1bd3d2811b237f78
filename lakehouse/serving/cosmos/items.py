"""Gold rows as Cosmos DB items: JSON values, and `id` = the row's primary key.

Timestamps become ISO-8601 UTC strings with seven fractional digits
(`2026-11-22T10:05:00.0000000Z`), the format Cosmos DB's own date functions use,
so they compare and sort correctly as strings. Non-finite doubles become null.

`id_problem` applies Cosmos DB's rule for item ids (non-empty, at most 1,023
bytes of UTF-8, none of / \\ ? #) and the Python SDK's (no tab, carriage return
or newline, no trailing space), so an id that would be refused is set aside
without a round trip.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

MAX_ID_BYTES = 1023
FORBIDDEN_ID_CHARACTERS = "/\\?#\t\r\n"


def id_problem(item_id: str) -> str | None:
    """Why Cosmos DB (or its SDK) would refuse `item_id` as an item id, or None if it is acceptable."""
    if not item_id:
        return "the id is empty"
    size = len(item_id.encode("utf-8"))
    if size > MAX_ID_BYTES:
        return f"the id is {size:,} bytes long; Cosmos DB allows at most {MAX_ID_BYTES:,}"
    found = sorted({c for c in item_id if c in FORBIDDEN_ID_CHARACTERS})
    if found:
        shown = " ".join(repr(c)[1:-1] for c in found)
        return f"the id contains {shown}, which Cosmos DB does not allow in ids (/ \\ ? # tab CR LF)"
    if item_id.endswith(" "):
        return "the id ends with a space, which the Cosmos DB SDK refuses"
    return None


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
