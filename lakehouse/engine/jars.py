"""The jars the engine's drivers need on their JVM class path, cached outside the repository.

The Thrift server runs queries on threads that do not see the jars `spark.jars.packages`
adds at run time, and the metastore client finds JDBC drivers only on the JVM's own
class path. So, before the JVMs start, Spark's own resolution fetches Delta Lake and
spark-avro from Maven Central into the Ivy cache (`spark.jars.ivy`), two more jars are
fetched beside them (checked against Maven Central's SHA-1), and the drivers get that
folder on their class path. The two: PostgreSQL's JDBC driver, and `hive-llap-common`,
which Spark 4's distribution no longer ships although Hive's `FunctionRegistry` loads a
class of it: without it the Thrift server fails a closing session with
`NoClassDefFoundError: .../LlapSigner$Signable` (SPARK-51041) and the client's command fails.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from lakehouse.engine.errors import EngineError
from lakehouse.profile import local_spark_conf

# (group, artifact, version); hive-llap-common matches the Hive jars in pyspark/jars.
EXTRA_JARS = (("org.postgresql", "postgresql", "42.7.14"), ("org.apache.hive", "hive-llap-common", "2.3.10"))
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


def spark_home() -> Path:
    """The Spark distribution inside the pip PySpark package."""
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def ivy_jars() -> Path:
    return Path(local_spark_conf()["spark.jars.ivy"]) / "jars"


def driver_class_path() -> str:
    """`spark.driver.extraClassPath` for the engine: the resolved packages and the extra jars."""
    _resolve_packages()
    for group, artifact, version in EXTRA_JARS:
        _fetch_jar(group, artifact, version)
    return f"{ivy_jars()}/*"


def _resolve_packages() -> None:
    conf = local_spark_conf()
    wanted = [p.split(":") for p in conf["spark.jars.packages"].split(",")]
    if all((ivy_jars() / f"{group}_{artifact}-{version}.jar").exists() for group, artifact, version in wanted):
        return
    with tempfile.NamedTemporaryFile("w", suffix=".py") as noop:  # spark-submit resolves, then runs nothing
        done = subprocess.run(
            [
                str(spark_home() / "bin" / "spark-submit"),
                "--packages",
                conf["spark.jars.packages"],
                "--conf",
                f"spark.jars.ivy={conf['spark.jars.ivy']}",
                noop.name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise EngineError(f"resolving {conf['spark.jars.packages']} from Maven Central failed: {done.stderr[-1500:]}")


def _fetch_jar(group: str, artifact: str, version: str) -> Path:
    jar = ivy_jars() / f"{group}_{artifact}-{version}.jar"
    if jar.exists():
        return jar
    url = f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    with urllib.request.urlopen(f"{url}.sha1", timeout=60) as response:
        expected = response.read().decode().split()[0]
    if hashlib.sha1(data).hexdigest() != expected:  # Maven Central publishes SHA-1
        raise EngineError(f"{url}: checksum mismatch, not cached")
    jar.parent.mkdir(parents=True, exist_ok=True)
    partial = jar.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(jar)
    return jar
