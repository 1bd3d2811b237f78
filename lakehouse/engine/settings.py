"""The engine's ports, folders and Spark settings, derived from the lake and the local target."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from lakehouse.paths import PROJECT_DIR, Lake

METASTORE_USER = "lakehouse"
METASTORE_DATABASE = "metastore"
WORKERS = 2
# Each worker offers two task slots; each application (the Thrift server, a bronze
# job) takes at most two, so the endpoint and a Python job run side by side.
WORKER_CORES = 2
WORKER_MEMORY = "3g"
APP_CORES = 2
# Local-target keys that belong to one process (embedded Derby, local master).
LOCAL_ONLY = (
    "spark.master",
    "spark.app.name",
    "spark.driver.memory",
    "spark.hadoop.javax.jdo.option.ConnectionURL",
    "spark.driver.extraJavaOptions",
)


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Ports:
    """Every port is on 127.0.0.1; each can be moved with its environment variable."""

    metastore: int
    master: int
    master_ui: int
    thrift: int

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            metastore=_port("LAKEHOUSE_METASTORE_PORT", 15432),
            master=_port("LAKEHOUSE_SPARK_MASTER_PORT", 7077),
            master_ui=_port("LAKEHOUSE_SPARK_UI_PORT", 18080),
            thrift=_port("LAKEHOUSE_THRIFT_PORT", 10000),
        )

    def worker_ui(self, index: int) -> int:
        return self.master_ui + 1 + index


class EngineLayout:
    """Folders under <lake>/_engine/: conf (Spark defaults, hive-site with the metastore
    password, mode 0600), postgres (its data, owned by the database's OS user), logs,
    run (pid files), work (the workers' scratch)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.root = lake.engine
        self.conf, self.postgres, self.logs, self.run, self.work = (
            self.root / name for name in ("conf", "postgres", "logs", "run", "work")
        )
        self.password_file = self.conf / "metastore.password"

    def metastore_password(self) -> str:
        """The metastore database's password, made once per lake (never logged)."""
        if not self.password_file.exists():
            self.conf.mkdir(parents=True, exist_ok=True)
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_urlsafe(24))
        return self.password_file.read_text().strip()


def master_url(ports: Ports) -> str:
    return f"spark://127.0.0.1:{ports.master}"


def cluster_spark_conf(lake: Lake, ports: Ports, class_path: str) -> dict[str, str]:
    """spark-defaults for every application on the cluster: the local target's settings
    (Delta, spark-avro, UTC, ANSI off, small shuffles), minus what belongs to one
    process, plus the cluster, the Hive catalog, and the drivers' class path
    (lakehouse/engine/jars.py)."""
    from lakehouse.profile import local_spark_conf

    conf = {k: v for k, v in local_spark_conf().items() if k not in LOCAL_ONLY}
    log4j = f"-Dlog4j2.configurationFile={PROJECT_DIR / 'conf' / 'log4j2.properties'}"
    conf.update(
        {
            "spark.master": master_url(ports),
            "spark.driver.extraClassPath": class_path,
            "spark.sql.catalogImplementation": "hive",
            "spark.sql.warehouse.dir": str(lake.warehouse),
            "spark.cores.max": str(APP_CORES),
            "spark.executor.cores": "1",
            "spark.executor.memory": "1g",
            "spark.driver.memory": "2g",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC {log4j}",
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
            # Executors run the bronze load's Python checks in this project's interpreter.
            "spark.pyspark.python": sys.executable,
        }
    )
    return conf


def hive_site(layout: EngineLayout, ports: Ports) -> dict[str, str]:
    """The Hive metastore client's settings: the catalog lives in PostgreSQL."""
    return {
        "javax.jdo.option.ConnectionURL": f"jdbc:postgresql://127.0.0.1:{ports.metastore}/{METASTORE_DATABASE}",
        "javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
        "javax.jdo.option.ConnectionUserName": METASTORE_USER,
        "javax.jdo.option.ConnectionPassword": layout.metastore_password(),
        # The engine creates every metastore table at its first start (metastore_schema.py).
        "datanucleus.schema.autoCreateAll": "false",
        "hive.metastore.schema.verification": "false",
        "hive.metastore.warehouse.dir": str(layout.lake.warehouse),
    }


def write_conf(layout: EngineLayout, ports: Ports, class_path: str) -> Path:
    """Write <lake>/_engine/conf (SPARK_CONF_DIR for the engine and its clients)."""
    from xml.sax.saxutils import escape

    layout.conf.mkdir(parents=True, exist_ok=True)
    defaults = layout.conf / "spark-defaults.conf"
    defaults.write_text(
        "".join(f"{k} {v}\n" for k, v in sorted(cluster_spark_conf(layout.lake, ports, class_path).items()))
    )
    props = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
        for k, v in hive_site(layout, ports).items()
    )
    site = layout.conf / "hive-site.xml"
    site.touch(mode=0o600)
    site.chmod(0o600)
    site.write_text(f'<?xml version="1.0"?>\n<configuration>\n{props}</configuration>\n')
    return layout.conf
