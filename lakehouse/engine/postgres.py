"""The metastore's PostgreSQL server: one cluster per lake, on 127.0.0.1, password auth.

PostgreSQL refuses to run as root; when this process is root, the server runs as the
`postgres` OS user (the Debian package's), which must be able to reach the lake.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from lakehouse.engine.errors import EngineError
from lakehouse.engine.settings import METASTORE_DATABASE, METASTORE_USER, EngineLayout


class PostgresError(EngineError):
    """The metastore's database could not be set up or started."""


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise PostgresError(
            f"PostgreSQL's `{name}` was not found: the engine keeps its metastore in PostgreSQL. "
            "Run `bin/setup --engine` (Debian/Ubuntu: apt-get install postgresql), or on a laptop "
            "`brew install postgresql@15` and put its bin folder on PATH."
        )
    return found


class MetastoreDatabase:
    def __init__(self, layout: EngineLayout, port: int) -> None:
        self.layout, self.port = layout, port
        self.data = layout.postgres / "data"
        self.log_file = layout.postgres / "postgres.log"
        self.socket_dir = layout.postgres / "socket"
        self.os_user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", self.os_user, "--", *args] if self.os_user else list(args)
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
        if done.returncode != 0:
            raise PostgresError(
                f"`{' '.join(args[:2])}` failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}"
            )
        return done

    def _prepare(self) -> None:
        self.layout.postgres.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.os_user:
            shutil.chown(self.layout.postgres, self.os_user, self.os_user)
            shutil.chown(self.socket_dir, self.os_user, self.os_user)
            probe = subprocess.run(
                ["runuser", "-u", self.os_user, "--", "test", "-w", str(self.layout.postgres)], check=False
            )
            if probe.returncode != 0:
                raise PostgresError(
                    f"PostgreSQL runs as the OS user `{self.os_user}` (it refuses root), and that user cannot reach "
                    f"{self.layout.postgres}: let it traverse the folders above the lake (chmod o+x) or put the "
                    "lake under a folder it can reach."
                )

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self, password: str) -> None:
        self._prepare()
        if not self.initialised():
            pwfile = self.layout.postgres / "initdb.pw"
            pwfile.touch(mode=0o600)  # private before the password is in it
            pwfile.write_text(password)
            if self.os_user:
                shutil.chown(pwfile, self.os_user, self.os_user)
            try:
                self._run(
                    _bin("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    METASTORE_USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                )
            finally:
                pwfile.unlink(missing_ok=True)
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.socket_dir}"
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log_file), "-o", options, "-w", "-t", "60", "start"
        )
        if self.query(password, f"select 1 from pg_database where datname = '{METASTORE_DATABASE}'", "postgres") != "1":
            self._run(
                _bin("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                METASTORE_USER,
                METASTORE_DATABASE,
                env={"PGPASSWORD": password},
            )

    def query(self, password: str, sql: str, database: str = METASTORE_DATABASE) -> str:
        """One value from a query, as psql prints it unaligned."""
        done = self._run(
            _bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            METASTORE_USER,
            "-d",
            database,
            "-tAc",
            sql,
            env={"PGPASSWORD": password},
        )
        return done.stdout.strip()

    def has_hive_schema(self, password: str) -> bool:
        return self.query(password, "select count(*) from information_schema.tables where table_name = 'TBLS'") == "1"

    def stop(self) -> None:
        if self.pid() is not None and self.initialised():
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    @property
    def log(self) -> Path:
        return self.log_file
