"""A lake works on itself: a copied or moved lake, and a lake whose metastore is new.

Moved or copied. The metastore keeps every table's absolute location. A local lake opened
from a new folder (`cp -r`, a restore from backup), or a metastore that registered the
lake at another root (another folder, another container or account), would still name
the old place, so reads would miss the lake's data and writes would land in the original.
On start, every table whose location lies outside the lake root is pointed at the same
place under the current root (`ALTER TABLE ... SET LOCATION`): `<root>/<layer>/<table>`,
or, for a managed table of an older local lake, the same path from its `_warehouse`. One
that has no Delta table there stops the command with what to do. Every table of the
project, seeds included, is external, so nothing is written to a schema's own folder.

New metastore. The lake's tables are `<root>/<schema>/<table>/` (the schemas are named for
the layers: macros/adapters/generate_schema_name.sql), so the lake describes itself: when the
session starts on a new metastore (a remote lake's local side deleted or on another
machine, a local lake copied without its `_metastore`), every Delta table found there is
registered (`CREATE TABLE <schema>.<table> USING delta LOCATION '<url>'`) before any job
or dbt run, which then finds its tables (dbt's incremental models and snapshots carry on
instead of being rebuilt from nothing).

Locations come back from Spark as `file:/...` (a local lake) or `wasb://...`, `abfss://...`.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from lakehouse.paths import CAPTURE, Lake
from lakehouse.storage.location import LakeLocation, LakeLocationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
DELTA_LOG = "_delta_log"


class LakeMoved(RuntimeError):
    """A table's location is outside the lake root and has no counterpart inside it."""


def normalized(location: str) -> str:
    """A table location as Spark reports it, in the form of `Lake.root` and `Lake.url()`:
    an absolute folder for `file:` and plain paths, else the URL without a trailing slash."""
    parts = urlsplit(location)
    if parts.scheme in ("file", ""):
        return str(Path(unquote(parts.path)))
    try:
        return LakeLocation.parse(location).url
    except LakeLocationError:  # another scheme (hdfs:, dbfs:, s3a:): compared as written
        return location.rstrip("/")


def _under(url: str, root: str) -> bool:
    return url == root or url.startswith(root.rstrip("/") + "/")


def _segments(url: str) -> tuple[str, ...]:
    """The path segments of a normalized location (a URL: inside its container)."""
    path = url if url.startswith("/") else urlsplit(url).path
    return tuple(part for part in PurePosixPath(path).parts if part != "/")


def _counterpart(lake: Lake, url: str) -> str:
    """Where the table at `url` (of a lake at another root) lies under this lake: from the
    location's last `_warehouse` (a managed table of an older local lake) or its last two
    parts, the layer and the table."""
    parts, warehouse = _segments(url), lake.warehouse.name
    if warehouse in parts:
        at = len(parts) - 1 - parts[::-1].index(warehouse)
        return str(lake.warehouse.joinpath(*parts[at + 1 :]))  # local for every lake
    return lake.table(*parts[-2:]) if len(parts) >= 2 else lake.url("/".join(parts))


def _key(lake: Lake, url: str) -> str:
    """The key of a URL under the lake root."""
    return url[len(lake.root) :].strip("/")


def _is_delta_table(lake: Lake, url: str) -> bool:
    """Whether a Delta table's log is at `url` (under the lake root, or a local folder)."""
    if lake.is_local or not _under(url, lake.root):
        return (Path(url) / DELTA_LOG).is_dir()
    found = lake.files.listing(f"{_key(lake, url)}/{DELTA_LOG}")
    return bool(found.files or found.folders)


def _exists(lake: Lake, url: str) -> bool:
    """Whether the counterpart is there: a local folder, or a Delta table on storage."""
    if lake.is_local or not _under(url, lake.root):
        return Path(url).exists()
    return _is_delta_table(lake, url)


def _location(spark: SparkSession, statement: str, key: str) -> str | None:
    for row in spark.sql(statement).collect():
        name, value = row[0], row[1]
        if name == key:
            return str(value)
    return None


def relocate_to_lake_root(spark: SparkSession, lake: Lake) -> list[str]:
    """Point every table registered outside `lake.root` at its counterpart under it;
    returns what was moved. Raises LakeMoved when one has no counterpart. A remote lake's
    tables in its local warehouse (`lake.warehouse`) are its own, not moved."""
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
            if where is None:
                continue
            url = normalized(where)
            if _under(url, lake.root) or _under(url, str(lake.warehouse)):
                continue
            target = _counterpart(lake, url)
            if not _exists(lake, target):
                raise LakeMoved(
                    f"table {qualified} is registered at {where}, outside the lake root {lake.root}, and "
                    f"{target} does not exist. Copy the whole lake (every layer and _warehouse), or "
                    f"drop the table (drop table {qualified}) and rebuild it with `lakehouse dbt build "
                    f"--full-refresh`."
                )
            spark.sql(f"alter table {qualified} set location '{target}'")
            moved.append(f"table {qualified}")
    if moved:
        log.warning("the lake at %s was registered at another root; re-pointed %s", lake.root, ", ".join(moved))
    return moved


def lake_delta_tables(lake: Lake) -> dict[str, str]:
    """Every Delta table in the lake by convention, `<schema>.<table>` -> its URL: the
    folders `<root>/<schema>/<table>/` holding a `_delta_log` (hidden folders skipped)."""
    found: dict[str, str] = {}
    for schema in lake.files.listing("").folders:
        if schema == CAPTURE:
            continue
        for table in lake.files.listing(schema).folders:
            url = lake.url(f"{schema}/{table}")
            if _is_delta_table(lake, url):
                found[f"{schema}.{table}"] = url
    return found


def register_lake_tables(spark: SparkSession, lake: Lake) -> list[str]:
    """Register every Delta table of the lake (`lake_delta_tables`) the metastore does
    not know, at its location; returns the tables registered."""
    registered: list[str] = []
    for qualified, url in sorted(lake_delta_tables(lake).items()):
        schema = qualified.split(".", 1)[0]
        if spark.catalog.tableExists(qualified):
            continue
        spark.sql(f"create schema if not exists {schema}")
        spark.sql(f"create table if not exists {qualified} using delta location '{url}'")
        registered.append(qualified)
    if registered:
        log.warning(
            "the metastore of the lake at %s (%s) was new: registered its tables %s",
            lake.root,
            lake.metastore,
            ", ".join(registered),
        )
    return registered
