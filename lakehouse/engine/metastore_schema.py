"""The Hive metastore's tables, created once, before any client connects.

Left to DataNucleus' lazy `autoCreateAll`, two clients (or two connections of one)
creating tables on first use deadlock on PostgreSQL: one holds a row lock on TBLS
while the other adds a foreign key to it. So the engine creates the whole schema at
its first start with DataNucleus' SchemaTool, from the `package.jdo` that Spark's
own Hive metastore jar carries, and clients run with `autoCreateAll` off.
"""

from __future__ import annotations

import glob
import subprocess
import tempfile
import zipfile
from pathlib import Path

from lakehouse.engine.errors import EngineError
from lakehouse.engine.settings import EngineLayout, Ports, hive_site

SCHEMA_TOOL = "org.datanucleus.store.schema.SchemaTool"
# HiveConf's defaults for these, which the metastore client uses to name tables and ids.
NAMING = {"datanucleus.identifierFactory": "datanucleus1", "datanucleus.rdbms.useLegacyNativeValueStrategy": "true"}


def create_metastore_schema(layout: EngineLayout, ports: Ports, class_path: str) -> None:
    metastore_jar = next(
        Path(p)
        for entry in class_path.split(":")
        for p in glob.glob(entry)
        if Path(p).name.startswith("hive-metastore-")
    )
    settings = {k: v for k, v in hive_site(layout, ports).items() if k.startswith("javax.jdo.")}
    with tempfile.TemporaryDirectory(dir=layout.conf) as scratch:
        folder = Path(scratch)
        with zipfile.ZipFile(metastore_jar) as jar:
            jdo = Path(jar.extract("package.jdo", folder))
        props = folder / "datanucleus.properties"
        props.touch(mode=0o600)
        props.write_text("".join(f"{k}={v}\n" for k, v in {**settings, **NAMING}.items()))
        done = subprocess.run(
            ["java", "-cp", class_path, SCHEMA_TOOL, "-create", "-api", "JDO", "-props", str(props), str(jdo)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0 or "completed successfully" not in done.stdout:
        output = (done.stdout + done.stderr).replace(settings["javax.jdo.option.ConnectionPassword"], "***")
        raise EngineError(f"creating the metastore's tables failed: {output.strip()[-1500:]}")
