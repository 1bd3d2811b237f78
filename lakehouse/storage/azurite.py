"""Azurite, the Blob storage emulator, for a lake on this laptop: `wasb://<container>@devstoreaccount1/<path>`.

Hadoop's WASB emulator mode (what Spark writes the Delta tables through) always connects
to 127.0.0.1:10000, so the lake's Azurite listens there; the Python side reaches the same
endpoint (`EMULATOR_BLOB_ENDPOINT`) with the emulator's published development key.
`lakehouse azurite start` runs it in the background (`node_modules/.bin/azurite-blob`,
installed by `bin/setup --azurite`), its blobs and log under `<repository>/.lakes/azurite`
and its pid in `azurite.pid` there; `stop` ends that process (SIGTERM: Azurite saves its
metadata), `status` says whether it runs and answers.

`--skipApiVersionCheck`: the Azure SDK for Python and hadoop-azure send API versions newer
than Azurite 3.35 knows; `--loose` accepts the headers Azurite does not implement.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from lakehouse.storage.location import EMULATOR_ACCOUNT

PROJECT_DIR = Path(__file__).resolve().parents[2]  # as lakehouse.paths (storage sits below it)
AZURITE_BIN = PROJECT_DIR / "node_modules" / ".bin" / "azurite-blob"
HOST = "127.0.0.1"
EMULATOR_PORT = 10000  # fixed by Hadoop's WASB emulator mode


class AzuriteError(RuntimeError):
    """Azurite could not be started or stopped; the message says why and what to do."""


def azurite_command(location: Path, port: int, host: str = HOST) -> list[str]:
    """The command line of a Blob-only Azurite on `host:port` keeping its data under `location`."""
    return [
        str(AZURITE_BIN),
        "--blobHost",
        host,
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
    ]


def blob_endpoint(port: int, host: str = HOST) -> str:
    return f"http://{host}:{port}/{EMULATOR_ACCOUNT}"


def answers(port: int, host: str = HOST) -> bool:
    """Whether a Blob service answers on `host:port` (any HTTP answer counts: 403 without auth)."""
    try:
        urllib.request.urlopen(f"{blob_endpoint(port, host)}?comp=list", timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class AzuriteStatus:
    pid: int | None  # the process the pid file names, when it is alive
    answering: bool  # a Blob service answers on the port (ours or another)

    @property
    def running(self) -> bool:
        return self.pid is not None and self.answering


@dataclass(frozen=True)
class LakeAzurite:
    """The laptop's Azurite for emulator lakes, run in the background (see the module's text)."""

    location: Path = PROJECT_DIR / ".lakes" / "azurite"  # beside the remote lakes' local sides
    port: int = EMULATOR_PORT
    host: str = HOST

    @property
    def pid_file(self) -> Path:
        return self.location / "azurite.pid"

    @property
    def log_file(self) -> Path:
        return self.location / "azurite.log"

    @property
    def endpoint(self) -> str:
        return blob_endpoint(self.port, self.host)

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def status(self) -> AzuriteStatus:
        return AzuriteStatus(self._pid(), answers(self.port, self.host))

    def start(self, timeout: float = 30.0) -> AzuriteStatus:
        """Start Azurite in the background unless it runs already; returns its status.
        Raises AzuriteError when the port is taken by another process or it does not answer."""
        now = self.status()
        if now.running:
            return now
        if now.pid is None and port_in_use(self.port, self.host):
            raise AzuriteError(
                f"{self.host}:{self.port} is in use by another process (not the Azurite of {self.pid_file}); "
                "the WASB emulator mode connects only there: stop that process (a test's Azurite, another "
                "emulator, the engine's Thrift server on LAKEHOUSE_THRIFT_PORT) and start again"
            )
        if not AZURITE_BIN.exists():
            raise AzuriteError(f"{AZURITE_BIN} is missing: run `bin/setup --azurite` (npm ci) in {PROJECT_DIR}")
        self.location.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                azurite_command(self.location, self.port, self.host),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.location,
                start_new_session=True,  # outlives this command; `stop` ends it
            )
        self.pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                tail = self.log_file.read_text(errors="replace")[-2000:]
                raise AzuriteError(f"Azurite exited with {process.returncode}; the end of {self.log_file}:\n{tail}")
            if answers(self.port, self.host):
                return AzuriteStatus(process.pid, True)
            time.sleep(0.2)
        self.stop()
        raise AzuriteError(
            f"Azurite did not answer on {self.host}:{self.port} within {timeout:g} s; see {self.log_file}"
        )

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the Azurite the pid file names (SIGTERM, then SIGKILL); whether one ran."""
        pid = self._pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            with suppress(ChildProcessError):  # reap it when it is this process's child
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        return True
