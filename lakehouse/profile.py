"""The dbt profile, read by the Python jobs: which target runs, and Spark's settings for
the lake from the `local` target.

`profiles.example.yml` -> outputs.local.server_side_parameters is the one place that
defines them (Delta, spark-avro, UTC, ANSI off, metastore and warehouse under the lake
root); dbt-spark's session method passes the same block to `SparkSession.builder`.
"""

from __future__ import annotations

import os

import jinja2
import yaml

from lakehouse.paths import PROJECT_DIR

PROFILE_FILE = PROJECT_DIR / "profiles.example.yml"
PROFILE_NAME = "telemetry_lakehouse"


def dbt_target() -> str:
    """The dbt target every command uses: $DBT_TARGET, else `local`."""
    return os.environ.get("DBT_TARGET", "local")


def on_databricks() -> bool:
    """Whether this process runs on a Databricks cluster (a job task), which has its own session."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def embedded_metastore() -> bool:
    """Whether Python jobs start the local session with its embedded Derby metastore
    (one process at a time), rather than joining a shared one (the engine, Databricks)."""
    return dbt_target() != "cluster" and not on_databricks()


def _env_var(name: str, default: str | None = None) -> str:
    """dbt's env_var(): the variable, else the default, else a clear error."""
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise KeyError(f"environment variable {name} is required by {PROFILE_FILE.name} and is not set")


def local_spark_conf() -> dict[str, str]:
    """The `local` target's server_side_parameters, rendered like dbt renders them."""
    profile = yaml.safe_load(PROFILE_FILE.read_text())
    params = profile[PROFILE_NAME]["outputs"]["local"]["server_side_parameters"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = _env_var
    return {key: env.from_string(str(value)).render() for key, value in params.items()}
