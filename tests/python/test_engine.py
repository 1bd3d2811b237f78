"""The cluster engine end to end: `lakehouse engine start`, the `cluster` dbt target,
several clients at once, clients without the engine's secret refused, and `engine stop`.

One engine (PostgreSQL metastore, Spark master, two workers, Thrift server) on free
ports serves the module. The same landed Capture files are built by the `local`
target (in another process, while the engine starts) and by the `cluster` target; the
tables must be identical row for row.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakehouse.ingestion.sources.simulator import FaultRates
from lakehouse.paths import PROJECT_DIR, Lake
from tests.python.lake_helpers import land_simulation

pytestmark = [pytest.mark.engine, pytest.mark.spark]
LAKEHOUSE = [str(Path(sys.executable).parent / "lakehouse")]
TABLES = [
    "silver/silver_telemetry",
    "silver/silver_telemetry_quarantine",
    "silver/int_telemetry_validated",
    "gold/gold_device_metrics_5m",
    "gold/gold_site_metrics_1h",
    "gold/gold_window_restatements",
]
LOG_COPY = PROJECT_DIR / "logs" / "engine-tests"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_ports() -> dict[str, str]:
    """Ports for a test engine, away from a developer's engine on the defaults."""
    while True:
        base = random.randrange(20000, 40000, 10)
        if all(_free(base + i) for i in range(6)):
            return {
                "LAKEHOUSE_METASTORE_PORT": str(base),
                "LAKEHOUSE_SPARK_MASTER_PORT": str(base + 1),
                "LAKEHOUSE_THRIFT_PORT": str(base + 2),
                "LAKEHOUSE_SPARK_UI_PORT": str(base + 3),
            }


@dataclass
class EngineUnderTest:
    lake: Lake
    env: dict[str, str]
    local_root: Path
    local_build: subprocess.Popen[str] | None = None
    started: subprocess.CompletedProcess[str] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def cli(self, *args: str, target: str = "cluster", root: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LAKEHOUSE, *args],
            env=self.cli_env(target, root),
            capture_output=True,
            text=True,
            cwd=PROJECT_DIR,
            check=False,
        )

    def cli_env(self, target: str, root: Path | None = None) -> dict[str, str]:
        return {**self.env, "DBT_TARGET": target, "LAKEHOUSE_ROOT": str(root or self.lake.root)}

    @property
    def thrift_port(self) -> int:
        return int(self.env["LAKEHOUSE_THRIFT_PORT"])

    @property
    def secret(self) -> str:
        """The lake's engine secret, read from its file (what a client of the engine presents)."""
        return (self.lake.engine / "conf" / "engine.secret").read_text().strip()


def _command_lines() -> dict[int, str]:
    """The whole command line of every live process but this one (what `ps` shows any user)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
            except (OSError, IndexError):
                continue
            if state != "Z":
                found[int(entry.name)] = cmdline
    return found


def _engine_processes(root: Path) -> list[str]:
    """Command lines of live processes that belong to the engine of `root`."""
    return [f"{pid}: {line[:200]}" for pid, line in _command_lines().items() if f"{root}/_engine" in line]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineUnderTest]:
    """An hour of faulty telemetry landed in the engine's lake and copied to a second
    lake, whose local-target build (models only: the data tests run on the cluster
    side) starts in the background; then the engine starts."""
    # Under /tmp, readable on the way down: PostgreSQL runs as its own OS user when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="lakehouse-engine-", dir="/tmp"))
    root.chmod(0o755)
    env = {**os.environ, **_free_ports()}
    env.pop("LAKEHOUSE_ROOT", None)
    under_test = EngineUnderTest(Lake.at(root), env, tmp_path_factory.mktemp("local-lake"))
    faults = FaultRates(
        duplicate=0.05,
        malformed_json=0.03,
        missing_field=0.03,
        wrong_type=0.03,
        out_of_range=0.03,
        late=0.05,
        out_of_order=0.05,
        extra_fields=0.05,
    )
    land_simulation(
        under_test.lake,
        hub="telemetry",
        start=datetime(2026, 6, 1, 6, tzinfo=UTC),
        duration=timedelta(hours=1),
        devices=20,
        faults=faults,
    )
    shutil.copytree(under_test.lake.capture, under_test.local_root / "capture")
    t0 = time.monotonic()
    under_test.local_build = subprocess.Popen(
        [*LAKEHOUSE, "dbt", "build", "--exclude", "resource_type:test", "resource_type:unit_test"],
        env=under_test.cli_env("local", under_test.local_root),
        cwd=PROJECT_DIR,
        text=True,
        stdout=(under_test.local_root / "build.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    under_test.started = under_test.cli("engine", "start")
    under_test.timings["engine start"] = time.monotonic() - t0
    try:
        yield under_test
    finally:
        under_test.local_build.kill()
        under_test.cli("engine", "stop")
        shutil.rmtree(LOG_COPY, ignore_errors=True)
        shutil.copytree(root / "_engine" / "logs", LOG_COPY, dirs_exist_ok=True)
        print("engine test timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in under_test.timings.items()))
        shutil.rmtree(root, ignore_errors=True)


def test_engine_starts_and_a_second_start_says_it_is_running(engine: EngineUnderTest) -> None:
    assert engine.started is not None and engine.started.returncode == 0, engine.started.stderr[-3000:]
    again = engine.cli("engine", "start")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    status = engine.cli("engine", "status")
    assert status.returncode == 0, status.stdout
    pieces = [line.split()[0] for line in status.stdout.splitlines() if " running (pid " in line]
    assert pieces == ["metastore", "master", "worker-1", "worker-2", "thrift"], status.stdout


@pytest.fixture(scope="module")
def builds(engine: EngineUnderTest) -> Path:
    """The cluster target's `dbt build` (every test too) of the landed hour, after the
    engine started; and the local target's build of the same files, joined. Returns the
    local lake."""
    assert engine.local_build is not None
    t0 = time.monotonic()
    cluster = engine.cli("dbt", "build")
    engine.timings["cluster dbt build"] = time.monotonic() - t0
    engine.outputs += [cluster.stdout, cluster.stderr]
    engine.local_build.wait()
    engine.timings["local dbt build joined"] = time.monotonic() - t0
    assert cluster.returncode == 0, (cluster.stdout + cluster.stderr)[-4000:]
    assert engine.local_build.returncode == 0, (engine.local_root / "build.log").read_text()[-4000:]
    return engine.local_root


def _rows(spark: Any, path: Path) -> tuple[list[str], list[str]]:
    frame = spark.read.format("delta").load(str(path))
    columns = sorted(frame.columns)
    return columns, sorted(map(repr, frame.select(*columns).collect()))


def test_cluster_and_local_targets_build_identical_tables(engine: EngineUnderTest, builds: Path, spark: Any) -> None:
    counts = {}
    for table in TABLES:
        cluster_columns, cluster_rows = _rows(spark, engine.lake.local / table)
        local_columns, local_rows = _rows(spark, builds / table)
        assert cluster_columns == local_columns, table
        assert cluster_rows == local_rows, f"{table}: the cluster and local builds differ"
        counts[table] = len(cluster_rows)
    assert counts["silver/silver_telemetry"] > 2000 and counts["silver/silver_telemetry_quarantine"] > 10, counts
    assert counts["gold/gold_device_metrics_5m"] > 100, counts


def _query(port: int, sql: str, password: str | None, auth: str = "CUSTOM") -> list[tuple[Any, ...]]:
    from pyhive import hive

    with hive.connect(host="127.0.0.1", port=port, username="analyst", password=password, auth=auth) as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())


def _master_apps(engine: EngineUnderTest) -> list[str]:
    """Names of the applications the master knows (running, waiting or finished)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{engine.env['LAKEHOUSE_SPARK_UI_PORT']}/json/", timeout=5) as answer:
        state = json.load(answer)
    return [app["name"] for key in ("activeapps", "completedapps") for app in state.get(key, [])]


def test_an_application_without_the_engines_secret_is_refused_by_the_master(
    engine: EngineUnderTest, tmp_path: Path
) -> None:
    """Another local user's plain spark-submit to the master URL, without the lake's secret:
    the master must not register it (it would run its code as the engine's user)."""
    from lakehouse.engine.jars import spark_home

    script = tmp_path / "intruder.py"
    script.write_text(
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.appName('intruder').getOrCreate()\n"
        "print('INTRUDER RAN', spark.range(3).count(), flush=True)\n"
    )
    empty_conf = tmp_path / "conf"
    empty_conf.mkdir()
    log = tmp_path / "intruder.log"
    master = f"spark://127.0.0.1:{engine.env['LAKEHOUSE_SPARK_MASTER_PORT']}"
    env = {**engine.env, "SPARK_CONF_DIR": str(empty_conf), "PYSPARK_PYTHON": sys.executable}
    with log.open("w") as out:
        intruder = subprocess.Popen(
            [
                str(spark_home() / "bin" / "spark-submit"),
                "--master",
                master,
                "--conf",
                "spark.ui.enabled=false",
                str(script),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    t0 = time.monotonic()
    refused = registered = False
    try:
        while time.monotonic() - t0 < 180 and intruder.poll() is None:
            text = log.read_text(errors="replace")
            registered = "Connected to Spark cluster" in text or "intruder" in _master_apps(engine)
            refused = "Failed to connect to master" in text
            if registered or refused:
                break
            time.sleep(0.5)
    finally:
        os.killpg(intruder.pid, signal.SIGKILL)
        intruder.wait()
    engine.timings["intruder refused"] = time.monotonic() - t0
    text = log.read_text(errors="replace")
    assert "intruder" not in _master_apps(engine), text[-3000:]
    assert not registered and "INTRUDER RAN" not in text, text[-3000:]
    assert refused, text[-3000:]


def test_the_sql_endpoint_refuses_a_client_without_the_engines_secret(engine: EngineUnderTest) -> None:
    from pyhive.exc import Error as HiveError
    from thrift.transport.TTransport import TTransportException

    wrong = "not-the-secret-" + "x" * 20
    attempts = {
        "no password (auth NONE)": {"password": None, "auth": "NONE"},
        "a wrong password": {"password": wrong, "auth": "CUSTOM"},
        "PyHive's placeholder password": {"password": "x", "auth": "CUSTOM"},
    }
    for what, kwargs in attempts.items():
        with pytest.raises((TTransportException, HiveError, EOFError)) as refused:
            _query(engine.thrift_port, "select 1", **kwargs)  # type: ignore[arg-type]
        assert engine.secret not in str(refused.value), what
    assert _query(engine.thrift_port, "select 1", engine.secret) == [(1,)]
    thrift_log = (engine.lake.local / "_engine" / "logs" / "thrift.log").read_text(errors="replace")
    assert "Error validating the login" in thrift_log  # refused by the server, not by the client
    assert wrong not in thrift_log  # nor the password presented


def test_gold_is_read_over_the_endpoint_while_a_second_dbt_command_runs(
    engine: EngineUnderTest, builds: Path, spark: Any
) -> None:
    expected = spark.read.format("delta").load(str(engine.lake.local / "gold/gold_site_metrics_1h")).count()
    answers: list[tuple[float, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                answers.append(
                    (
                        time.monotonic(),
                        _query(engine.thrift_port, "select count(*) from gold.gold_site_metrics_1h", engine.secret)[0][
                            0
                        ],
                    )
                )
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    t0 = time.monotonic()
    # A second client: plain dbt (no bronze load), as another engineer runs it.
    second = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "run",
            "--select",
            "gold_site_metrics_1h",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(engine.lake.local / "_second_target"),
        ],
        # As its user would: the credential from the lake's secret file (docs/engine.md).
        env={**engine.cli_env("cluster"), "DBT_ENV_SECRET_LAKEHOUSE_THRIFT_PASSWORD": engine.secret},
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=False,
    )
    engine.outputs += [second.stdout, second.stderr]
    t1 = time.monotonic()
    engine.timings["second dbt command"] = t1 - t0
    done.set()
    reader.join(timeout=60)
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    assert not errors, errors
    during = [count for at, count in answers if t0 <= at <= t1]
    assert during, f"no answer while dbt ran ({len(answers)} in all)"
    assert set(during) == {expected}, during


def test_the_engines_secret_is_in_no_log_command_line_or_dbt_artifact(engine: EngineUnderTest, builds: Path) -> None:
    """After the builds and the second dbt command: the secret only in <lake>/_engine/conf."""
    secret = engine.secret.encode()
    conf = engine.lake.local / "_engine" / "conf"
    for name in ("engine.secret", "spark-defaults.conf", "hive-site.xml"):
        assert stat.S_IMODE((conf / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(conf.stat().st_mode) == 0o700
    places = [
        *(f for f in engine.lake.local.rglob("*") if f.is_file() and conf not in f.parents),
        *(f for f in (PROJECT_DIR / "target").glob("*.json")),
        *(f for f in (PROJECT_DIR / "logs").glob("*.log")),
    ]
    assert any(f.name == "manifest.json" for f in places) and any(f.name == "thrift.log" for f in places)
    assert [f for f in places if secret in f.read_bytes()] == []
    assert not any(engine.secret in output for output in engine.outputs)
    assert _engine_processes(engine.lake.root), "the engine is not running"
    assert [pid for pid, line in _command_lines().items() if engine.secret in line] == []


def test_engine_stop_leaves_no_process_behind(engine: EngineUnderTest) -> None:
    stopped = engine.cli("engine", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "thrift" in stopped.stdout and "metastore" in stopped.stdout, stopped.stdout
    assert _engine_processes(engine.lake.root) == []
    assert all(
        _free(int(engine.env[name]))
        for name in ("LAKEHOUSE_METASTORE_PORT", "LAKEHOUSE_SPARK_MASTER_PORT", "LAKEHOUSE_THRIFT_PORT")
    )
    status = engine.cli("engine", "status")
    assert status.returncode == 1 and " running (pid " not in status.stdout, status.stdout
