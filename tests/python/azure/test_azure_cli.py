"""`lakehouse azure ...` end to end through the CLI, against Azurite and local servers."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from lakehouse.cli.main import cli
from lakehouse.ingestion.capture.format import decode_capture_file
from tests.python.azure.azurite import Azurite
from tests.python.azure.conftest import blobs
from tests.python.azure.scripted_http import TelemetryApi

FAST = ["--retry-total", "2", "--retry-backoff", "0.1", "--connection-timeout", "2", "--read-timeout", "5"]


def _run(lake: Path, args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(cli, ["--lake", str(lake), "azure", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_land_sync_and_redrive_commands(azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    lake = tmp_path / "lake"
    out = _run(
        lake,
        [
            "land",
            "--devices",
            "5",
            "--duration",
            "15m",
            "--start",
            "2026-03-08T10:00",
            "--event-hub",
            "cli",
            "--partitions",
            "2",
            "--container",
            container_name,
            *FAST,
        ],
        env,
    )
    assert "landed" in out and "files/s" in out
    landed = blobs(azurite.port, container_name)
    assert len(landed) == 2 * 3 and sum(len(decode_capture_file(b)) for b in landed.values()) > 0

    out = _run(lake, ["sync", "--container", container_name, *FAST], env)
    local = {str(p.relative_to(lake / "capture")): p.read_bytes() for p in (lake / "capture").rglob("*.avro")}
    assert local == landed and "6 downloaded" in out
    assert "0 downloaded" in _run(lake, ["sync", "--container", container_name, *FAST], env)

    out = _run(lake, ["redrive", "--container", container_name, *FAST], env)
    assert "0 landed" in out


def test_poll_http_lands_records_in_the_local_lake(tmp_path: Path) -> None:
    api = TelemetryApi(
        [
            [
                {
                    "event_id": f"r{i}",
                    "device_id": f"dev-{i % 3}",
                    "ts": "2026-03-08T10:00:00Z",
                    "temperature_c": 20 + i,
                }
                for i in range(page * 4, page * 4 + 4)
            ]
            for page in range(3)
        ]
    )
    api.faults["/next/1"] = ["503"]
    try:
        lake = tmp_path / "lake"
        out = _run(lake, ["poll-http", f"{api.base}/next/0", "--polls", "1", "--event-hub", "http-cli"], {})
    finally:
        api.close()
    assert "12 records landed" in out
    bodies = sorted(
        json.loads(r["Body"])["event_id"]
        for p in (lake / "capture").rglob("*.avro")
        for r in decode_capture_file(p.read_bytes())
    )
    assert bodies == sorted(f"r{i}" for i in range(12))


def test_verbose_logs_show_no_query_string_of_a_request(tmp_path: Path) -> None:
    """`-v` logs urllib3's line for every request (its target includes the query string);
    a vendor's token, API key or a Functions key passed in the query never reaches them."""
    secrets = {
        "token": "t0ken-in-query",
        "api_key": "ap1-key-in-query",  # pragma: allowlist secret
        "code": "funct1ons-key",
    }
    api = TelemetryApi([[{"event_id": "q1", "device_id": "dev-1", "ts": "2026-03-08T10:00:00Z"}]])
    api.faults["/next/0"] = ["503"]  # two requests, so a retried one is logged too
    query = "&".join(f"{name}={value}" for name, value in secrets.items())
    env = {k: v for k, v in os.environ.items() if k != "LAKEHOUSE_ROOT"}
    command = ["-v", "--lake", str(tmp_path / "lake"), "azure", "poll-http", f"{api.base}/next/0?{query}"]
    try:
        run = subprocess.run(
            [sys.executable, "-m", "lakehouse.cli.main", *command, "--polls", "1", "--event-hub", "http-v"],
            check=False,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        api.close()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 records landed" in run.stdout
    assert [hit.status for hit in api.hits] == [503, 200]
    logged = run.stdout + run.stderr
    request_lines = [line for line in logged.splitlines() if "urllib3.connectionpool" in line and '"GET ' in line]
    assert len(request_lines) == 2, logged[-3000:]  # the lines are there, without their query
    assert all('"GET /next/0?... HTTP/1.1"' in line for line in request_lines), request_lines
    for name, value in secrets.items():
        assert value not in logged, f"the {name} value reached the log"


def test_send_to_an_unreachable_hub_dead_letters_and_resend_keeps_them(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "EVENTHUB_CONNECTION_STRING": f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=t;SharedAccessKey=dGVzdA==;"
        "EntityPath=telemetry;UseDevelopmentEmulator=true"
    }
    lake = tmp_path / "lake"
    retry = ["--eh-retry-total", "0", "--eh-retry-backoff", "0.05", "--send-timeout", "5"]
    result = CliRunner().invoke(
        cli, ["--lake", str(lake), "azure", "send", "--devices", "3", "--duration", "5m", *retry], env=env
    )
    dead = lake / "_dead_letters" / "telemetry.jsonl"
    assert result.exit_code == 1 and "resend-dead-letters" in result.output
    sent_lines = dead.read_text().splitlines()
    assert len(sent_lines) > 0 and f"{len(sent_lines):,} events were not sent" in result.output
    digest = hashlib.sha256(dead.read_bytes()).hexdigest()

    again = CliRunner().invoke(cli, ["--lake", str(lake), "azure", "resend-dead-letters", str(dead), *retry], env=env)
    assert again.exit_code == 1 and "still in" in again.output
    assert hashlib.sha256(dead.read_bytes()).hexdigest() == digest
