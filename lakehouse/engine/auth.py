"""Who may use the engine: holders of the lake's engine secret (<lake>/_engine/conf/engine.secret).

The Spark pieces check it themselves (`spark.authenticate`, settings.py). The Thrift
server checks it with HiveServer2's CUSTOM authentication: a small class of this
project's (java/EngineSecretAuthenticator.java) compares the password a client presents
with the secret. The class is compiled at the engine's start, against the Spark jars
the Thrift server runs with, by Janino (the Java compiler Spark itself ships for its
generated code, so a JRE is enough), into a jar under <lake>/_engine/lib/ named after
the digest of its source and the Spark version. Clients present the secret: dbt's
`cluster` target reads it from the environment variable below, whose `DBT_ENV_SECRET_`
prefix makes dbt scrub it from its logs and keep it out of its artifacts.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import zipfile
from pathlib import Path

from lakehouse.engine.errors import EngineError
from lakehouse.engine.jars import spark_home
from lakehouse.engine.settings import EngineLayout
from lakehouse.paths import Lake

AUTHENTICATOR_CLASS = "lakehouse.engine.EngineSecretAuthenticator"
AUTHENTICATOR_SOURCE = Path(__file__).parent / "java" / "EngineSecretAuthenticator.java"
# The `cluster` target's password (profiles.example.yml).
THRIFT_PASSWORD_ENV = "DBT_ENV_SECRET_LAKEHOUSE_THRIFT_PASSWORD"  # pragma: allowlist secret (a name)
JANINO_COMPILER = "org.codehaus.commons.compiler.samples.CompilerDemo"  # Janino's javac-like command line


def thrift_server_settings() -> dict[str, str]:
    """The Thrift server's `--hiveconf`s that make it ask every client for the secret."""
    return {
        "hive.server2.authentication": "CUSTOM",
        "hive.server2.custom.authentication.class": AUTHENTICATOR_CLASS,
    }


def client_env(lake: Lake) -> dict[str, str]:
    """What a dbt process needs in its environment to use the engine of `lake` (the
    `cluster` target's password); nothing when the lake has no engine secret yet."""
    layout = EngineLayout(lake)
    return {THRIFT_PASSWORD_ENV: layout.engine_secret()} if layout.secret_file.exists() else {}


def authenticator_jar(layout: EngineLayout) -> Path:
    """The jar with the Thrift server's authenticator, compiled once per source and Spark version."""
    from pyspark import __version__ as spark_version

    source = AUTHENTICATOR_SOURCE.read_bytes()
    digest = hashlib.sha256(source + spark_version.encode()).hexdigest()[:16]
    jar = layout.lib / f"engine-authenticator-{digest}.jar"
    if jar.exists():
        return jar
    jars = sorted((spark_home() / "jars").glob("*.jar"))
    janino = [str(j) for j in jars if j.name.startswith(("janino-", "commons-compiler-"))]
    with tempfile.TemporaryDirectory() as scratch:
        classes = Path(scratch)
        done = subprocess.run(
            [
                "java",
                "-cp",
                ":".join(janino),
                JANINO_COMPILER,
                "-d",
                str(classes),
                "-classpath",
                ":".join(map(str, jars)),
                str(AUTHENTICATOR_SOURCE),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        built = sorted(classes.rglob("*.class"))
        if done.returncode != 0 or not built:
            raise EngineError(
                f"compiling {AUTHENTICATOR_SOURCE.name} against Spark's jars failed: "
                f"{(done.stderr or done.stdout).strip()[-1500:]}"
            )
        layout.lib.mkdir(parents=True, exist_ok=True)
        partial = jar.with_suffix(".part")
        with zipfile.ZipFile(partial, "w") as out:
            for class_file in built:
                out.write(class_file, class_file.relative_to(classes).as_posix())
        partial.replace(jar)
    return jar
