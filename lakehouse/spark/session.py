"""The Spark session of Python jobs (the bronze load, the runner, reports).

On the `local` target it is the session dbt-spark's session method uses too (the
`local` target's settings: lakehouse/profile.py), so a Python job and `dbt build`
in one process share one session and one metastore. On the `cluster` target it is an
application on the engine's cluster, with the engine's shared metastore
(lakehouse/engine/). In a Databricks job task it is that cluster's session.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.paths import Lake
from lakehouse.profile import dbt_target, local_spark_conf
from lakehouse.spark.relocation import register_lake_tables, relocate_to_lake_root

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def _start_jvm_quietly(conf: dict[str, str], log_file: Path) -> None:
    """Starts the Py4J gateway (the JVM) with its stdout and stderr appended to `log_file`.

    PySpark starts it inheriting the console, and offers no setting to redirect it; so
    the gateway is launched here with the same settings the session builder would pass
    (`launch_gateway`'s `popen_kwargs`) and handed to `SparkContext`, which then reuses it.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:  # already started in this process
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    spark_conf = SparkConf(loadDefaults=False).setAll([*conf.items(), ("spark.sql.catalogImplementation", "hive")])
    with open(log_file, "ab") as output:  # the child keeps its own copy of the descriptor
        try:
            gateway = launch_gateway(spark_conf, popen_kwargs={"stdout": output, "stderr": output})
        except Exception as exc:
            tail = log_file.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the Spark JVM did not start ({exc}); the end of {log_file}:\n{tail}") from exc
    SparkContext._gateway, SparkContext._jvm = gateway, gateway.jvm


class LakeMismatch(RuntimeError):
    """This process's Spark session belongs to one lake and was asked to work on another."""


@dataclass
class _ProcessSession:
    """The process's one Spark session and the lake it was started for."""

    lake: Lake | None = None
    spark: SparkSession | None = None


_STARTED = _ProcessSession()


def refuse_other_lake(lake: Lake) -> None:
    """Raise LakeMismatch when this process's Spark session belongs to another lake: its
    metastore registers that lake's tables, so working on `lake` would read and write them."""
    if _STARTED.lake is not None and _STARTED.lake != lake:
        raise LakeMismatch(
            f"this process's Spark session belongs to the lake at {_STARTED.lake.root} (its metastore "
            f"and tables); it cannot work on the lake at {lake.root}. Run one process per lake."
        )


def spark_session(lake: Lake) -> SparkSession:
    """Start (once per process) the Spark session for `lake`, or return it; refuses
    another lake once started (LakeMismatch).

    On the local target, callers that may race another process for the Derby
    metastore take `metastore_lock` first (the CLI and the test fixtures do).
    """
    refuse_other_lake(lake)
    if _STARTED.spark is None:
        _STARTED.spark, _STARTED.lake = _start(lake), lake
    return _STARTED.spark


def _start(lake: Lake) -> SparkSession:
    from pyspark.sql import SparkSession

    if lake.settings.on_databricks:  # a job task: the cluster's session, its metastore (Unity Catalog)
        return SparkSession.builder.getOrCreate()
    # Python workers (the bronze loader's file checks) run in this interpreter's environment.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if dbt_target() == "cluster":
        from lakehouse.engine.session import cluster_spark_session

        spark = cluster_spark_session(lake)
        relocate_to_lake_root(spark, lake)
        return spark
    # The metastore, the warehouse and the logs are on this machine (`lake.local`); the
    # tables are at the lake's location, reached with its storage settings.
    new_metastore = not (lake.metastore / "metastore_db").exists()
    lake.metastore.mkdir(parents=True, exist_ok=True)
    conf = {**local_spark_conf(lake), **lake.spark_conf()}
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    log.info("starting local Spark (lake %s); the first start resolves jars from Maven Central", lake.root)
    if not lake.settings.verbose:
        _start_jvm_quietly(conf, lake.spark_log)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    relocate_to_lake_root(spark, lake)  # a copied or moved lake works on itself
    if new_metastore:  # a lost or new local side: the lake's tables are registered from storage
        register_lake_tables(spark, lake)
    return spark
