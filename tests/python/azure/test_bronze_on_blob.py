"""Bronze on a lake in Blob storage: Capture files in an Azurite container under
`capture/`, loaded by Spark through WASB (`wasb://<container>@devstoreaccount1/`),
bad files set aside in the container, discovery state kept there.

The loader runs in a worker process (`bronze_on_blob_worker`): a process has one Spark
session, for one lake, and this process's belongs to the session's local lake. What
bronze must hold is computed from the landed bytes with fastavro; what the container
holds is read with the Blob API (a plain ContainerClient).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from lakehouse.ingestion.capture.format import CapturePath, decode_capture_file
from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.landing import land_simulation
from lakehouse.ingestion.sources.simulator import SimulatorConfig
from lakehouse.paths import PROJECT_DIR, Lake
from tests.python.azure.azurite import Azurite
from tests.python.azure.bronze_on_blob_worker import ANSWER_PREFIX
from tests.python.lake_helpers import cli_env

pytestmark = pytest.mark.spark
START = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
NAMESPACE, HUB = "telemetry-ns", "on-blob"


class Worker:
    """The bronze loader's process for one lake (see bronze_on_blob_worker)."""

    def __init__(self, lake_url: str, local: Path, log: Path) -> None:
        self.log = log
        with open(log, "ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.python.azure.bronze_on_blob_worker", lake_url, str(local)],
                cwd=PROJECT_DIR,
                env=cli_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.answer(timeout=900)  # the JVM's first start resolves jars (hadoop-azure among them)

    def answer(self, timeout: float = 600) -> dict[str, Any]:
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        while True:
            ready, _, _ = select.select([stdout], [], [], timeout)
            if not ready:
                raise AssertionError(f"the bronze worker did not answer in {timeout:g} s; see {self.log}")
            line = stdout.readline()
            if not line:
                raise AssertionError(f"the bronze worker exited ({self.process.wait()}): {self._tail()}")
            if line.startswith(ANSWER_PREFIX):
                document: dict[str, Any] = json.loads(line[len(ANSWER_PREFIX) :])
                assert "error" not in document, document["error"]
                return document

    def ask(self, do: str, **arguments: Any) -> dict[str, Any]:
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        stdin.write(json.dumps({"do": do, **arguments}) + "\n")
        stdin.flush()
        return self.answer()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.ask("stop")
                self.process.wait(timeout=60)
            except Exception:  # noqa: BLE001 - stopped hard below
                self.process.kill()
                self.process.wait()

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def lake_container(azurite_lake_server: Azurite) -> ContainerClient:
    client = BlobServiceClient.from_connection_string(azurite_lake_server.connection_string)
    return client.get_container_client(f"lake-{uuid.uuid4().hex[:16]}")


@pytest.fixture
def worker(lake_container: ContainerClient, tmp_path: Path) -> Iterator[tuple[Lake, Worker]]:
    url = f"wasb://{lake_container.container_name}@devstoreaccount1/"
    lake = Lake.at(url, local=tmp_path / "local-side")
    lake.files.ensure()
    running = Worker(url, tmp_path / "local-side", tmp_path / "worker.log")
    try:
        yield lake, running
    finally:
        running.stop()


def _record_id(path: str, record: dict[str, Any]) -> str:
    where = CapturePath.parse(path)
    return f"{where.namespace}/{where.event_hub}/{int(where.partition_id)}/{record['SequenceNumber']}"


def test_bronze_loads_capture_files_from_a_blob_container(
    worker: tuple[Lake, Worker], lake_container: ContainerClient, tmp_path: Path
) -> None:
    lake, loader = worker
    assert lake.capture == f"wasb://{lake_container.container_name}@devstoreaccount1/capture"
    # Land with the project's lander into a scratch folder, then into the container under capture/.
    scratch = LocalCaptureStore(tmp_path / "landed")
    config = SimulatorConfig(start=START, duration=timedelta(minutes=20), devices=6, seed=5)
    settings = CaptureSettings(event_hub=HUB, partitions=2, window_seconds=300, write_empty_files=True)
    landed = land_simulation(scratch, config, settings).report
    files = {path: scratch.read_file(path) for path in landed.paths}
    corrupt = max(
        (p for p in files if CapturePath.parse(p).window_end > START + timedelta(minutes=10)),
        key=lambda p: len(files[p]),
    )
    files[corrupt] = files[corrupt][: len(files[corrupt]) // 2]  # truncated Avro
    for path, data in files.items():
        lake.files.create(f"capture/{path}", data)
    expected = sorted(
        _record_id(path, record)
        for path, data in files.items()
        if path != corrupt
        for record in decode_capture_file(data)
    )
    assert expected and len(expected) < landed.records_written

    first = loader.ask("load")

    assert (first["files"], first["rows_added"], first["duplicate_keys"]) == (len(files), len(expected), 0)
    assert [(bad["path"], bad["problem"].split(":")[0]) for bad in first["bad_files"]] == [(corrupt, "corrupt")]
    bronze = loader.ask("keys")
    assert bronze["keys"] == expected
    assert all(f.startswith(lake.capture + "/") for f in bronze["files"]), bronze["files"][:3]
    # What the container holds, through the Blob API.
    names = {b.name: b.size for b in lake_container.list_blobs()}
    assert f"capture/{corrupt}" not in names
    assert names[f"_bad_capture_files/{corrupt}"] == len(files[corrupt])
    note = json.loads(lake_container.download_blob(f"_bad_capture_files/{corrupt}.reason.json").readall())
    assert (note["path"], note["bytes"], note["reason"].split(":")[0]) == (corrupt, len(files[corrupt]), "corrupt")
    assert {p for p in files if p != corrupt} == {n[len("capture/") :] for n in names if n.startswith("capture/")}
    state = json.loads(lake_container.download_blob("_state/bronze_discovery.json").readall())
    assert set(state["newest_hours"]) == {f"{NAMESPACE}/{HUB}/0", f"{NAMESPACE}/{HUB}/1"} and state["full_sweep_at"]
    assert any(n.startswith("bronze/bronze_capture_events/_delta_log/") for n in names)
    assert any(n.startswith("bronze/bronze_capture_files/_delta_log/") for n in names)

    # A second load: nothing new (the set-aside file is not tripped on again).
    second = loader.ask("load")
    assert (second["files"], second["rows_added"], second["bad_files"]) == (0, 0, [])
    assert loader.ask("keys")["keys"] == expected

    # Replay a time range after bronze lost rows: only what bronze lacks comes back, once.
    lost = loader.ask(
        "sql",
        statement=f"select count(*) from bronze.bronze_capture_events where event_hub = '{HUB}' "
        "and partition_id = 0 and sequence_number < 5",
    )["rows"][0][0]
    assert lost == 5
    loader.ask(
        "sql",
        statement=f"delete from bronze.bronze_capture_events where event_hub = '{HUB}' "
        "and partition_id = 0 and sequence_number < 5",
    )
    window = (START, START + timedelta(minutes=10))  # the files whose windows end 09:05 (the first)
    in_window = [p for p in files if window[0] <= CapturePath.parse(p).window_end < window[1]]
    replayed = loader.ask("replay", start=window[0].isoformat(), end=window[1].isoformat())
    assert (replayed["files"], replayed["rows_added"], replayed["bad_files"]) == (len(in_window), 5, [])
    assert replayed["duplicate_keys"] == replayed["records"] - 5
    assert loader.ask("keys")["keys"] == expected
    assert loader.ask("replay", start=window[0].isoformat(), end=window[1].isoformat())["rows_added"] == 0
