"""The cluster engine end to end: `lakehouse engine start`, the `cluster` dbt target,
several clients at once, and `engine stop`.

One engine (PostgreSQL metastore, Spark master, two workers, Thrift server) on free
ports serves the module. The same landed Capture files are built by the `local`
target (in another process, while the engine starts) and by the `cluster` target; the
tables must be identical row for row.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
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


def _engine_processes(root: Path) -> list[str]:
    """Command lines of live processes that belong to the engine of `root`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
            except (OSError, IndexError):
                continue
            if state != "Z" and f"{root}/_engine" in cmdline:
                found.append(f"{entry.name}: {cmdline[:200]}")
    return found


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
        cluster_columns, cluster_rows = _rows(spark, engine.lake.root / table)
        local_columns, local_rows = _rows(spark, builds / table)
        assert cluster_columns == local_columns, table
        assert cluster_rows == local_rows, f"{table}: the cluster and local builds differ"
        counts[table] = len(cluster_rows)
    assert counts["silver/silver_telemetry"] > 2000 and counts["silver/silver_telemetry_quarantine"] > 10, counts
    assert counts["gold/gold_device_metrics_5m"] > 100, counts


def _query(port: int, sql: str) -> list[tuple[Any, ...]]:
    from pyhive import hive

    with hive.connect(host="127.0.0.1", port=port, username="analyst") as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())


def test_gold_is_read_over_the_endpoint_while_a_second_dbt_command_runs(
    engine: EngineUnderTest, builds: Path, spark: Any
) -> None:
    expected = spark.read.format("delta").load(str(engine.lake.root / "gold/gold_site_metrics_1h")).count()
    answers: list[tuple[float, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                answers.append(
                    (
                        time.monotonic(),
                        _query(engine.thrift_port, "select count(*) from gold.gold_site_metrics_1h")[0][0],
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
            str(engine.lake.root / "_second_target"),
        ],
        env=engine.cli_env("cluster"),
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=False,
    )
    t1 = time.monotonic()
    engine.timings["second dbt command"] = t1 - t0
    done.set()
    reader.join(timeout=60)
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    assert not errors, errors
    during = [count for at, count in answers if t0 <= at <= t1]
    assert during, f"no answer while dbt ran ({len(answers)} in all)"
    assert set(during) == {expected}, during


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
