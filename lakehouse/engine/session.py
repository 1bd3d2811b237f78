"""A Python job's Spark session on the engine: an application on its cluster, with its
metastore (the settings in <lake>/_engine/conf, read by spark-submit)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lakehouse.engine.engine import Engine
from lakehouse.engine.errors import EngineError
from lakehouse.paths import Lake

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def cluster_spark_session(lake: Lake) -> SparkSession:
    from pyspark.sql import SparkSession

    engine = Engine(lake)
    stopped = [s.name for s in engine.status() if not s.running]
    if stopped:
        raise EngineError(
            f"DBT_TARGET=cluster needs the engine of {lake.root}, and these pieces are not running: "
            f"{', '.join(stopped)}. Start it with `lakehouse engine start`."
        )
    os.environ["SPARK_CONF_DIR"] = str(engine.layout.conf)
    spark = SparkSession.builder.appName("lakehouse-job").enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
