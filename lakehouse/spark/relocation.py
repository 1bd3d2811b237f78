"""A lake copied or moved to another folder works on itself, never on the original.

The embedded metastore keeps every schema's and table's absolute location. Opened
from a new folder (`cp -r`, a restore from backup), those still name the old one,
so reads would miss the copy's new data and writes would land in the original. On
start, every table whose location lies outside the lake root is pointed at the
same place under the current root (`ALTER TABLE ... SET LOCATION`); one that has
no counterpart under the root stops the command with what to do. Every table of
the project, seeds included, is external, so nothing is written to a schema's own
(old) folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from lakehouse.paths import Lake

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


class LakeMoved(RuntimeError):
    """A table's location is outside the lake root and has no counterpart inside it."""


def _path(location: str) -> Path:
    parsed = urlparse(location)
    return Path(unquote(parsed.path)) if parsed.scheme in ("file", "") else Path(location)


def _counterpart(lake: Lake, location: Path) -> Path:
    """Where `location` of a lake at another root lies under this lake's root: from its
    last `_warehouse` (a managed table of an older lake) or its last two parts, the
    layer and the table."""
    parts, warehouse = location.parts, lake.warehouse.name
    if warehouse in parts:
        at = len(parts) - 1 - parts[::-1].index(warehouse)
        return lake.root.joinpath(*parts[at:])
    return lake.root.joinpath(*parts[-2:])


def _location(spark: SparkSession, statement: str, key: str) -> str | None:
    for row in spark.sql(statement).collect():
        name, value = row[0], row[1]
        if name == key:
            return str(value)
    return None


def relocate_to_lake_root(spark: SparkSession, lake: Lake) -> list[str]:
    """Point every table registered outside `lake.root` at its counterpart under it;
    returns what was moved. Raises LakeMoved when one has no counterpart."""
    moved: list[str] = []
    for database in spark.catalog.listDatabases():
        name = database.name
        # A schema's own location is never written to: every table has a location under
        # the lake root (and the Hive metastore cannot move a schema).
        for table in spark.sql(f"show tables in {name}").collect():
            if table.isTemporary:
                continue
            qualified = f"{name}.{table.tableName}"
            where = _location(spark, f"describe table extended {qualified}", "Location")
            if where is None or _path(where).is_relative_to(lake.root):
                continue
            target = _counterpart(lake, _path(where))
            if not target.exists():
                raise LakeMoved(
                    f"table {qualified} is registered at {where}, outside the lake root {lake.root}, and "
                    f"{target} does not exist. Copy the whole lake folder (every layer and _warehouse), or "
                    f"drop the table (drop table {qualified}) and rebuild it with `lakehouse dbt build "
                    f"--full-refresh`."
                )
            spark.sql(f"alter table {qualified} set location '{target}'")
            moved.append(f"table {qualified}")
    if moved:
        log.warning("the lake at %s was registered at another folder; re-pointed %s", lake.root, ", ".join(moved))
    return moved
