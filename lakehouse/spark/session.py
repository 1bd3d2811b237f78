"""The Spark session of Python jobs (the bronze load, the runner, reports).

On the `local` target it is the session dbt-spark's session method uses too (the
`local` target's settings: lakehouse/spark/conf.py), so a Python job and `dbt build`
in one process share one session and one metastore. On the `cluster` target it is an
application on the engine's cluster, with the engine's shared metastore
(lakehouse/engine/). In a Databricks job task it is that cluster's session.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import cache
from typing import TYPE_CHECKING

from lakehouse.paths import Lake
from lakehouse.spark.relocation import relocate_to_lake_root
from lakehouse.spark.conf import dbt_target, local_spark_conf, on_databricks

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@cache
def spark_session() -> SparkSession:
    """Start (once per process) the Spark session for the lake in $LAKEHOUSE_ROOT.

    On the local target, callers that may race another process for the Derby
    metastore take `metastore_lock` first (the CLI and the test fixtures do).
    """
    from pyspark.sql import SparkSession

    if on_databricks():  # a job task: the cluster's session, its metastore (Unity Catalog)
        return SparkSession.builder.getOrCreate()
    lake = Lake.from_env()
    for key, value in lake.env().items():
        os.environ.setdefault(key, value)
    # Python workers (the bronze loader's file checks) run in this interpreter's environment.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if dbt_target() == "cluster":
        from lakehouse.engine.session import cluster_spark_session

        spark = cluster_spark_session(lake)
        relocate_to_lake_root(spark, lake)
        return spark
    lake.metastore.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in local_spark_conf().items():
        builder = builder.config(key, value)
    log.info("starting local Spark (lake %s); the first start resolves jars from Maven Central", lake.root)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    relocate_to_lake_root(spark, lake)  # a copied or moved lake works on itself
    return spark
