"""Run dbt in this process, against this repository's project and profile.

In-process means one Spark session (dbt-spark's session method reuses the one a
Python job already started) and one holder of the Derby metastore.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.spark.session import refuse_other_lake

log = logging.getLogger(__name__)


# What the last whole `dbt build` of the lake processed (lake_build writes it after the
# build succeeded); any dbt command that may write tables removes it first.
BUILD_STATE = Lake.state_key("dbt_build.json")
# dbt commands that write no table: they leave BUILD_STATE as it is.
READ_ONLY_COMMANDS = frozenset(
    {"clean", "compile", "debug", "deps", "docs", "list", "ls", "parse", "show", "source", "test"}
)


class DbtFailed(RuntimeError):
    """A dbt command did not succeed; dbt's own log says which node and why."""


def run_dbt(args: Sequence[str], lake: Lake, *, target_path: str | None = None, manifest: object = None) -> object:
    """Invoke `dbt <args>` for `lake`; returns dbt's result, raises DbtFailed on failure.
    With `manifest` (what `dbt parse` returned), dbt does not parse the project again.
    Refuses (LakeMismatch) when this process's Spark session belongs to another lake:
    dbt-spark's session method reuses it, with that lake's metastore."""
    from dbt.cli.main import dbtRunner

    from lakehouse.engine.auth import client_env

    refuse_other_lake(lake)
    if args and args[0] not in READ_ONLY_COMMANDS:
        # Before dbt writes anything: a build that fails or dies half way leaves no
        # record saying the models have processed bronze (the next build runs).
        lake.files.delete(BUILD_STATE)
    # dbt's project and profile read the lake root (and the `cluster` target's password) with env_var().
    os.environ.update({**lake.env(), **client_env(lake)})
    _drop_temporary_views()
    full = [*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    if target_path:
        full += ["--target-path", target_path]
    log.info("dbt %s", " ".join(args))
    result = dbtRunner(manifest=manifest).invoke(full)  # type: ignore[arg-type]
    if not result.success:
        raise DbtFailed(f"`dbt {' '.join(args)}` failed: {result.exception or 'see the dbt log above'}")
    return result.result


def _drop_temporary_views() -> None:
    """Drops the temporary views a process's Spark session holds (when it has one).

    dbt-spark's incremental models leave their `<model>__dbt_tmp` views in the session,
    and Python jobs may leave their own. dbt-spark's catalog (`docs generate`) lists
    them among a schema's tables, with no schema of their own, and fails on them. They
    are scratch: nothing reads them after the command that made them.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # an environment without Spark (the base install) has no session
        return
    spark = SparkSession.getActiveSession()
    if spark is None:
        return
    for view in spark.sql("show views").collect():
        if view["isTemporary"]:
            spark.catalog.dropTempView(view["viewName"])
