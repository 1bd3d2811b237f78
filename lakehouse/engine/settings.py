"""The engine's ports, folders and Spark settings, derived from the lake and the local target."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.settings import EnginePorts as Ports  # every port on 127.0.0.1, each moved by its variable

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


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by this user only (mode 0600), the
    mode set before the text is in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o600)  # a file made before, with a wider mode
        out.write(text)


def _secret(path: Path) -> str:
    """The secret in `path`, made there once (mode 0600); never logged."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


class EngineLayout:
    """Folders under <lake>/_engine/: conf (mode 0700: the engine's secret, Spark defaults
    and hive-site, which hold it and the metastore password, each mode 0600), lib (the
    Thrift server's authenticator), postgres (its data, owned by the database's OS user),
    logs, run (pid files), work (the workers' scratch)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.root = lake.engine
        self.conf, self.lib, self.postgres, self.logs, self.run, self.work = (
            self.root / name for name in ("conf", "lib", "postgres", "logs", "run", "work")
        )
        self.password_file = self.conf / "metastore.password"
        self.secret_file = self.conf / "engine.secret"

    def metastore_password(self) -> str:
        """The metastore database's password, made once per lake (never logged)."""
        return _secret(self.password_file)

    def engine_secret(self) -> str:
        """The lake's engine secret, made once per lake (never logged): Spark's RPC secret
        (`spark.authenticate`) for the master, the workers and every application, and the
        password every client of the Thrift server presents."""
        return _secret(self.secret_file)


def master_url(ports: Ports) -> str:
    return f"spark://127.0.0.1:{ports.master}"


def cluster_spark_conf(lake: Lake, ports: Ports, class_path: str, secret: str) -> dict[str, str]:
    """spark-defaults for the master, the workers and every application on the cluster:
    the local target's settings (Delta, spark-avro, UTC, ANSI off, small shuffles), minus
    what belongs to one process, plus the cluster, the Hive catalog, the drivers' class
    path (lakehouse/engine/jars.py), the lake storage's settings (`Lake.spark_conf`), and
    the lake's secret: the master and the workers
    accept no connection, and no application, that does not authenticate with it."""
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
            # Every Spark connection (application to master, worker to master, executor to
            # driver) proves it holds the lake's secret. An application needs it in its
            # conf (this file); a worker hands it to its executors in their environment,
            # never on a command line. Spark's log redaction covers the key.
            "spark.authenticate": "true",
            "spark.authenticate.secret": secret,
            # The REST submission server has no authentication (Spark's security docs): off.
            "spark.master.rest.enabled": "false",
            # The master's web UI has none either: it may show, not kill or decommission.
            "spark.ui.killEnabled": "false",
            "spark.master.ui.decommission.allow.mode": "DENY",
        }
    )
    # The lake's storage (its account's Hadoop settings; none for a local lake): the
    # master, the workers and every application read and write the tables there.
    conf.update(lake.spark_conf())
    return conf


def hive_site(layout: EngineLayout, ports: Ports) -> dict[str, str]:
    """The Hive metastore client's settings (the catalog lives in PostgreSQL), and where
    the Thrift server's authenticator reads the engine's secret (lakehouse/engine/auth.py)."""
    return {
        "javax.jdo.option.ConnectionURL": f"jdbc:postgresql://127.0.0.1:{ports.metastore}/{METASTORE_DATABASE}",
        "javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
        "javax.jdo.option.ConnectionUserName": METASTORE_USER,
        "javax.jdo.option.ConnectionPassword": layout.metastore_password(),
        # The engine creates every metastore table at its first start (metastore_schema.py).
        "datanucleus.schema.autoCreateAll": "false",
        "hive.metastore.schema.verification": "false",
        "hive.metastore.warehouse.dir": str(layout.lake.warehouse),
        "lakehouse.engine.secret.file": str(layout.secret_file),
    }


def write_conf(layout: EngineLayout, ports: Ports, class_path: str) -> Path:
    """Write <lake>/_engine/conf (SPARK_CONF_DIR for the engine and its clients): this
    user's only, since its files hold the engine's secret and the metastore password."""
    from xml.sax.saxutils import escape

    layout.conf.mkdir(parents=True, exist_ok=True)
    layout.conf.chmod(0o700)
    spark_conf = cluster_spark_conf(layout.lake, ports, class_path, layout.engine_secret())
    write_private(layout.conf / "spark-defaults.conf", "".join(f"{k} {v}\n" for k, v in sorted(spark_conf.items())))
    props = "".join(
        f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
        for k, v in hive_site(layout, ports).items()
    )
    write_private(layout.conf / "hive-site.xml", f'<?xml version="1.0"?>\n<configuration>\n{props}</configuration>\n')
    return layout.conf
