"""The local cluster engine: the same SQL endpoint Databricks offers, on this machine.

A Hive metastore kept in PostgreSQL (many clients share one catalog), a Spark
standalone master with two workers, and the Spark Thrift Server (HiveServer2) on that
cluster with Delta Lake and spark-avro. dbt's `cluster` target talks to the Thrift
server; Python jobs (the bronze load) run on the same cluster and metastore.
"""

from lakehouse.engine.engine import Engine, PieceState
from lakehouse.engine.errors import EngineAlreadyRunning, EngineError

__all__ = ["Engine", "EngineAlreadyRunning", "EngineError", "PieceState"]
