"""Start, stop and report the engine's pieces: metastore database, master, workers, Thrift server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lakehouse.engine.auth import authenticator_jar, thrift_server_settings
from lakehouse.engine.errors import EngineAlreadyRunning, EngineError
from lakehouse.engine.jars import driver_class_path, spark_home
from lakehouse.engine.metastore_schema import create_metastore_schema
from lakehouse.engine.postgres import MetastoreDatabase
from lakehouse.engine.settings import (
    WORKER_CORES,
    WORKER_MEMORY,
    WORKERS,
    EngineLayout,
    Ports,
    master_url,
    write_conf,
)
from lakehouse.paths import Lake

THRIFT_SERVER = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
# Jars are resolved before the JVMs start (jars.py); the Thrift server then opens its
# port in about 20 s, more on a loaded machine.
THRIFT_START_TIMEOUT = 180.0
LONG_POLL = "5000ms"  # HiveServer2's default, made explicit: the `cluster` target relies on it


@dataclass(frozen=True)
class PieceState:
    name: str
    pid: int | None
    address: str
    log: Path

    @property
    def running(self) -> bool:
        return self.pid is not None

    def line(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        return f"{self.name:<10} {state:<22} {self.address:<34} log {self.log}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return True


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, ready: Callable[[], bool], timeout: float, log: Path, pid: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if pid is not None and not _alive(pid):
            break
        time.sleep(0.5)
    lines = log.read_text(errors="replace").splitlines() if log.exists() else ["(no log)"]
    tail = "\n".join(line for line in lines if not line.startswith("\tat "))[-1500:]
    raise EngineError(f"{what} did not start (see {log}); the end of its log:\n{tail}")


class Engine:
    """The engine of one lake. Pieces are started in order and stopped in reverse."""

    def __init__(self, lake: Lake, ports: Ports | None = None) -> None:
        self.lake = lake
        self.ports = ports or lake.settings.engine_ports
        self.layout = EngineLayout(lake)
        self.database = MetastoreDatabase(self.layout, self.ports.metastore)

    # -- what runs where -------------------------------------------------------------

    def _jvm_pieces(self) -> list[tuple[str, int, str]]:
        """(name, port to check, address shown) of the Java pieces, in start order."""
        pieces = [("master", self.ports.master, f"{master_url(self.ports)} (UI :{self.ports.master_ui})")]
        pieces += [
            (f"worker-{i + 1}", self.ports.worker_ui(i), f"UI http://127.0.0.1:{self.ports.worker_ui(i)}")
            for i in range(WORKERS)
        ]
        pieces.append(("thrift", self.ports.thrift, f"jdbc:hive2://127.0.0.1:{self.ports.thrift}"))
        return pieces

    def _pid_file(self, name: str) -> Path:
        return self.layout.run / f"{name}.pid"

    def _pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def status(self) -> list[PieceState]:
        db_pid = self.database.pid()
        states = [
            PieceState(
                "metastore",
                db_pid if db_pid and _alive(db_pid) else None,
                f"postgresql://127.0.0.1:{self.ports.metastore}/metastore",
                self.database.log,
            )
        ]
        states += [
            PieceState(name, self._pid(name), address, self.layout.logs / f"{name}.log")
            for name, _, address in self._jvm_pieces()
        ]
        return states

    # -- start -----------------------------------------------------------------------

    def start(self) -> list[PieceState]:
        states = self.status()
        if all(s.running for s in states):
            raise EngineAlreadyRunning("the engine is already running:\n" + "\n".join(s.line() for s in states))
        if any(s.running for s in states):
            raise EngineError(
                "the engine is partly running (run `lakehouse engine stop` first):\n"
                + "\n".join(s.line() for s in states)
            )
        self._check_ports_free()
        for folder in (self.layout.logs, self.layout.run, self.layout.work):
            folder.mkdir(parents=True, exist_ok=True)
        try:
            class_path = driver_class_path()
            authenticator = authenticator_jar(self.layout)
            conf = write_conf(self.layout, self.ports, class_path)
            password = self.layout.metastore_password()
            self.database.start(password)
            if not self.database.has_hive_schema(password):
                create_metastore_schema(self.layout, self.ports, f"{spark_home() / 'jars'}/*:{class_path}")
            self._start_cluster(conf, f"{authenticator}:{class_path}")
        except Exception:
            self.stop()
            raise
        return self.status()

    def _check_ports_free(self) -> None:
        wanted = [
            ("metastore", self.ports.metastore),
            ("master UI", self.ports.master_ui),
            *[(name, port) for name, port, _ in self._jvm_pieces()],
        ]
        taken = [f"{name} port {port}" for name, port in wanted if _port_open(port)]
        if taken:
            raise EngineError(
                f"port in use on 127.0.0.1: {', '.join(taken)}. Stop what holds it, or move the "
                "engine with LAKEHOUSE_THRIFT_PORT, LAKEHOUSE_SPARK_MASTER_PORT, "
                "LAKEHOUSE_SPARK_UI_PORT, LAKEHOUSE_METASTORE_PORT."
            )

    def _launch(self, name: str, args: list[str], conf: Path) -> int:
        log = self.layout.logs / f"{name}.log"
        env = {**os.environ, **self.lake.env(), "SPARK_CONF_DIR": str(conf), "SPARK_NO_DAEMONIZE": "1"}
        with open(log, "ab") as out:
            process = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.layout.root,
                start_new_session=True,
            )
        self._pid_file(name).write_text(str(process.pid))
        return process.pid

    def _start_cluster(self, conf: Path, thrift_class_path: str) -> None:
        """The master, the workers, then the Thrift server, whose class path adds its authenticator."""
        spark_class = str(spark_home() / "bin" / "spark-class")
        ports, logs = self.ports, self.layout.logs
        pid = self._launch(
            "master",
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.master),
                "--webui-port",
                str(ports.master_ui),
            ],
            conf,
        )
        _wait("the Spark master", lambda: _port_open(ports.master), 60, logs / "master.log", pid)
        for i in range(WORKERS):
            name = f"worker-{i + 1}"
            self._launch(
                name,
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    master_url(ports),
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    str(WORKER_CORES),
                    "--memory",
                    WORKER_MEMORY,
                    "--webui-port",
                    str(ports.worker_ui(i)),
                    "--work-dir",
                    str(self.layout.work / name),
                ],
                conf,
            )
        _wait(f"{WORKERS} Spark workers", lambda: self.alive_workers() >= WORKERS, 60, logs / "worker-1.log")
        pid = self._launch(
            "thrift",
            [
                str(spark_home() / "bin" / "spark-submit"),
                "--class",
                THRIFT_SERVER,
                "--name",
                "lakehouse-thrift-server",
                "--driver-class-path",
                thrift_class_path,
                "spark-internal",
                "--hiveconf",
                f"hive.server2.thrift.port={ports.thrift}",
                "--hiveconf",
                "hive.server2.thrift.bind.host=127.0.0.1",
                # A client's status request waits up to this long for its statement to end
                # (the `cluster` target polls again at once: profiles.example.yml).
                "--hiveconf",
                f"hive.server2.long.polling.timeout={LONG_POLL}",
                *(arg for key, value in thrift_server_settings().items() for arg in ("--hiveconf", f"{key}={value}")),
            ],
            conf,
        )
        _wait("the Thrift server", lambda: _port_open(ports.thrift), THRIFT_START_TIMEOUT, logs / "thrift.log", pid)

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports.master_ui}/json/", timeout=2) as response:
                workers = json.load(response).get("workers", [])
        except OSError:
            return 0
        return sum(1 for w in workers if w.get("state") == "ALIVE")

    # -- stop ------------------------------------------------------------------------

    def stop(self) -> list[str]:
        """Stop every piece that runs (Thrift server, workers with their executors,
        master, database); returns the names stopped."""
        stopped = []
        for name, _, _ in reversed(self._jvm_pieces()):
            pid = self._pid(name)
            if pid is not None:
                _stop_group(pid)
                stopped.append(name)
            self._pid_file(name).unlink(missing_ok=True)
        db_pid = self.database.pid()
        if db_pid and _alive(db_pid):
            self.database.stop()
            stopped.append("metastore")
        return stopped


def _stop_group(pid: int, grace: float = 30.0) -> None:
    """SIGTERM the piece's process group (a worker's executors are in it), then SIGKILL."""
    try:
        group = os.getpgid(pid)
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(group):
        time.sleep(0.3)
    if _group_alive(group):
        os.killpg(group, signal.SIGKILL)
        while _group_alive(group):
            time.sleep(0.1)


def _group_alive(group: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == group:
                return True
    return False
