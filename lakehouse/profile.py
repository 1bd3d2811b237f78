"""The dbt profile, read by the Python jobs: which target runs, and Spark's settings for
the lake from the `local` target.

It reads the process environment the way dbt does (`DBT_TARGET`, the profile's
`env_var()`s): what the Python jobs start must be what dbt, in the same process,
reads; everything else of this process's configuration is `lakehouse.settings`.

`profiles.example.yml` -> outputs.local.server_side_parameters is the one place that
defines them (Delta, spark-avro, UTC, ANSI off, metastore and warehouse under the lake
root); dbt-spark's session method passes the same block to `SparkSession.builder`.
"""

from __future__ import annotations

import os

import jinja2
import yaml

from lakehouse.paths import LAKE_ROOT_ENV, PROJECT_DIR, Lake
from lakehouse.settings import Settings

PROFILE_FILE = PROJECT_DIR / "profiles.example.yml"
PROFILE_NAME = "telemetry_lakehouse"


def dbt_target() -> str:
    """The dbt target every command uses: $DBT_TARGET, else `local`."""
    return os.environ.get("DBT_TARGET", "local")


def embedded_metastore(settings: Settings) -> bool:
    """Whether Python jobs start the local session with its embedded Derby metastore
    (one process at a time), rather than joining a shared one (the engine, Databricks)."""
    return dbt_target() != "cluster" and not settings.on_databricks


def local_spark_conf(lake: Lake | None = None) -> dict[str, str]:
    """The `local` target's server_side_parameters for `lake`, rendered like dbt renders
    them: env_var() reads the lake's own variables (`Lake.env`: its root) over the
    process environment's (the driver's memory, the Ivy folder), so the session is the
    lake's whatever $LAKEHOUSE_ROOT says. Without a lake, the settings that name a lake
    (the metastore, the warehouse) are left out: what remains holds for every lake."""
    variables = {**os.environ, **(lake.env() if lake else {})}

    def env_var(name: str, default: str | None = None) -> str:
        if name in variables:
            return variables[name]
        if default is not None:
            return default
        raise KeyError(f"environment variable {name} is required by {PROFILE_FILE.name} and is not set")

    profile = yaml.safe_load(PROFILE_FILE.read_text())
    params = profile[PROFILE_NAME]["outputs"]["local"]["server_side_parameters"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = env_var
    return {
        key: env.from_string(str(value)).render()
        for key, value in params.items()
        if lake is not None or LAKE_ROOT_ENV not in str(value)
    }
