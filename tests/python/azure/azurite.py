"""Azurite (the Blob emulator) as a process the tests start, stop and restart.

It listens on 127.0.0.1 at a free port, keeps its data under `location` (so a
stop/restart on the same port keeps every blob), and uses the well-known public
development account - never a real secret.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from lakehouse.storage import azurite as lake_azurite
from lakehouse.storage.azurite import AZURITE_BIN, azurite_command
from lakehouse.storage.credentials import EMULATOR_ACCOUNT_KEY
from lakehouse.storage.location import EMULATOR_ACCOUNT

PROJECT_DIR = Path(__file__).resolve().parents[3]
# Azurite's documented development account (public, identical in every install).
ACCOUNT = EMULATOR_ACCOUNT
ACCOUNT_KEY = EMULATOR_ACCOUNT_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


class Azurite:
    def __init__(self, location: Path, port: int | None = None) -> None:
        if not AZURITE_BIN.exists():
            raise RuntimeError(f"{AZURITE_BIN} is missing: run `npm ci` in {PROJECT_DIR}")
        self.location = location
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = location / "azurite.log"

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.port)

    def start(self, timeout: float = 30.0) -> None:
        self.location.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - Azurite writes to it until stop()
        self.process = subprocess.Popen(
            azurite_command(self.location, self.port),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.location,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self.process.returncode}; see {self.log_path}")
            if self.answers():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Azurite did not answer on port {self.port} within {timeout} s; see {self.log_path}")

    def answers(self) -> bool:
        return lake_azurite.answers(self.port)  # any HTTP answer (403 without auth) means it is up

    def stop(self) -> None:
        """Stop gracefully (SIGTERM lets Azurite save its metadata) and wait."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None or not self.answers():
            self.stop()
            self.start()
