"""The local Spark session, configured from the dbt profile's `local` target.

`profiles.example.yml` -> outputs.local.server_side_parameters is the one place
that defines the local Spark settings (Delta, spark-avro, UTC, ANSI off, metastore
and warehouse under the lake root). dbt-spark's session method passes them to
`SparkSession.builder`; Python jobs call `spark_session()` which does the same, so a
Python job and `dbt build` in one process share one session and one metastore.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import cache
from typing import TYPE_CHECKING

import jinja2
import yaml

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.relocation import relocate_to_lake_root

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
PROFILE_FILE = PROJECT_DIR / "profiles.example.yml"
PROFILE_NAME = "telemetry_lakehouse"


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


@cache
def spark_session() -> SparkSession:
    """Start (once per process) the local Spark session for the lake in $LAKEHOUSE_ROOT.

    Callers that may race another process for the Derby metastore take
    `metastore_lock` first (the CLI and the test fixtures do).
    """
    from pyspark.sql import SparkSession

    lake = Lake.from_env()
    for key, value in lake.env().items():
        os.environ.setdefault(key, value)
    # Python workers (the bronze loader's file checks) run in this interpreter's environment.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    lake.metastore.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in local_spark_conf().items():
        builder = builder.config(key, value)
    log.info("starting local Spark (lake %s); the first start resolves jars from Maven Central", lake.root)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    relocate_to_lake_root(spark, lake)  # a copied or moved lake works on itself
    return spark
