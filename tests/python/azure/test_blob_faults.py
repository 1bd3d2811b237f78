"""Landing survives faults: an Azurite outage, Azurite gone for good, a faulty proxy.

Each test compares what ends up in Azurite (read with a plain SDK client) to a
local landing of the same simulation: same blob names, same bytes, nothing extra.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse.ingestion.azure.blob_store import BlobCaptureStore
from lakehouse.ingestion.azure.blobs import BlobStoreError
from lakehouse.ingestion.azure.quarantine import SIDECAR_SUFFIX
from lakehouse.ingestion.azure.retry import RetrySettings
from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings
from lakehouse.ingestion.capture.store import LocalCaptureStore
from lakehouse.ingestion.sources.simulator import FaultRates, SimulatorConfig, simulate
from lakehouse.paths import PROJECT_DIR
from tests.python.azure.azurite import Azurite
from tests.python.azure.conftest import blobs, make_store
from tests.python.azure.fault_proxy import FaultProxy

START = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
log = logging.getLogger(__name__)


def _simulation(hub: str, minutes: int = 60, devices: int = 8):  # type: ignore[no-untyped-def]
    config = SimulatorConfig(start=START, duration=timedelta(minutes=minutes), devices=devices, faults=FaultRates())
    settings = CaptureSettings(event_hub=hub, partitions=2, window_seconds=300, write_empty_files=True)
    return config, simulate(config), settings


def _reference(tmp_path: Path, hub: str, minutes: int = 60) -> dict[str, bytes]:
    config, sim, settings = _simulation(hub, minutes)
    root = tmp_path / "reference"
    CaptureLander(LocalCaptureStore(root), settings).land(sim.events, start=config.start, end=config.end)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.avro"))}


class WriteHook:
    """A CaptureStore that calls `before(n)` ahead of the n-th write (1-based), then
    delegates to the real store: the test's way to act at a known point of a run."""

    def __init__(self, store: BlobCaptureStore, before) -> None:  # type: ignore[no-untyped-def]
        self.store, self.before, self.writes = store, before, 0

    def list_files(self, prefix: str) -> list[str]:
        return self.store.list_files(prefix)

    def read_file(self, path: str) -> bytes:
        return self.store.read_file(path)

    def open_file(self, path: str):  # type: ignore[no-untyped-def]
        return self.store.open_file(path)

    def lock(self, prefix: str, timeout: float = 600.0):  # type: ignore[no-untyped-def]
        return self.store.lock(prefix, timeout)

    def describe(self, path: str) -> str:
        return self.store.describe(path)

    def write_file(self, path: str, data: bytes) -> None:
        self.writes += 1
        self.before(self.writes)
        self.store.write_file(path, data)


def test_outage_of_several_seconds_lands_every_file_once(azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    hub = "outage"
    expected = _reference(tmp_path, hub)
    config, sim, settings = _simulation(hub)
    # About 15 s of retrying per request: 0, 0.5, 1, 2, 2, 2, ... seconds.
    retry = RetrySettings(
        retry_total=10, retry_backoff_factor=0.25, retry_backoff_max=2.0, connection_timeout=2.0, read_timeout=5.0
    )
    store = make_store(azurite.port, container_name, tmp_path / "quarantine", retry)
    outage = 4.0
    timeline: dict[str, float] = {}

    def stop_at_file_7(n: int) -> None:
        if n == 7:
            azurite.stop()
            timeline["stopped"] = time.monotonic()

            def back() -> None:
                azurite.start()
                timeline["restarted"] = time.monotonic()

            threading.Timer(outage, back).start()

    try:
        report = CaptureLander(WriteHook(store, stop_at_file_7), settings).land(
            sim.events, start=config.start, end=config.end
        )
    finally:
        time.sleep(0.1)
        azurite.ensure_running()

    assert report.files_written == len(expected) == 24
    assert blobs(azurite.port, container_name) == expected  # every file once, same bytes, nothing else
    assert store.quarantined() == [] and not (tmp_path / "quarantine").exists()
    retries = store.retry_log.events
    assert retries and all(e.method == "PUT" and "ServiceRequestError" in e.cause for e in retries)
    assert len({e.path for e in retries}) == 1  # only file 7 had to wait
    assert timeline["restarted"] - timeline["stopped"] >= outage
    waited = [e.delay_seconds for e in retries]
    log.info(
        "outage: Azurite down %.1f s at file 7; %d retries of %s with waits %s",
        timeline["restarted"] - timeline["stopped"],
        len(retries),
        retries[0].path.rsplit("/", 6)[-6:],
        waited,
    )
    assert waited == sorted(waited) and max(waited) <= 2.0  # exponential, capped


def test_storage_down_for_good_quarantines_locally_then_redrives(
    azurite: Azurite, container_name: str, tmp_path: Path
) -> None:
    hub = "down-for-good"
    expected = _reference(tmp_path, hub)
    config, sim, settings = _simulation(hub)
    retry = RetrySettings(
        retry_total=3, retry_backoff_factor=0.1, retry_backoff_max=0.5, connection_timeout=1.0, read_timeout=2.0
    )
    quarantine_dir = tmp_path / "quarantine"
    store = make_store(azurite.port, container_name, quarantine_dir, retry)
    partition0 = sorted(p for p in expected if p.startswith(f"telemetry-ns/{hub}/0/"))
    assert len(partition0) == 12

    def stop_at_file_9(n: int) -> None:
        if n == 9:
            azurite.stop()

    try:
        t0 = time.monotonic()
        with pytest.raises(BlobStoreError, match=r"listing .* failed after retries"):
            CaptureLander(WriteHook(store, stop_at_file_9), settings).land(
                sim.events, start=config.start, end=config.end
            )
        failed_after = time.monotonic() - t0

        # Files 9-12 of partition 0 are in the local quarantine, with the reason.
        waiting = store.quarantined_locally()
        assert [q.path for q in waiting] == partition0[8:] and {q.where for q in waiting} == {"local"}
        for path in partition0[8:]:
            local = quarantine_dir / "devstoreaccount1" / container_name / path
            assert local.read_bytes() == expected[path]
            sidecar = json.loads(local.with_name(local.name + SIDECAR_SUFFIX).read_text())
            assert sidecar["path"] == path and "ServiceRequestError" in sidecar["reason"]
        assert store.stats.quarantined_locally == 4 and store.stats.files_written == 8
        # Only file 9 used the retry budget; 10-12 got one attempt each (degraded mode).
        put_retries = [e for e in store.retry_log.events if e.method == "PUT"]
        assert len({e.path for e in put_retries}) == 1
        log.info(
            "down for good: stopped before file 9; land failed after %.1f s; quarantined %s",
            failed_after,
            [q.path for q in waiting],
        )
    finally:
        azurite.ensure_running()

    # Storage is back. Landing again resumes after the quarantined files (no renumbering)...
    again = CaptureLander(store, settings).land(sim.events, start=config.start, end=config.end)
    assert again.files_written == 12 and all(p.split("/")[2] == "1" for p in again.paths)
    # ... and the re-drive moves the quarantined files to their real paths.
    redrive = store.redrive()
    assert redrive.landed == partition0[8:] and redrive.conflicts == []
    assert store.quarantined() == []
    assert blobs(azurite.port, container_name) == expected


def test_without_a_local_quarantine_folder_an_unreachable_store_raises_and_writes_nothing_locally(
    container_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a caller that gives a folder (the CLI: `<lake>/_quarantine`) gets files on local disk;
    no default folder is taken from the environment or the checkout."""
    for unset in ("LAKEHOUSE_ROOT", "LAKEHOUSE_QUARANTINE_DIR"):
        monkeypatch.delenv(unset, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    default_quarantine = PROJECT_DIR / "lake" / "_quarantine"
    before = sorted(default_quarantine.rglob("*")) if default_quarantine.exists() else []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    retry = RetrySettings(retry_total=1, retry_backoff_factor=0.05, retry_backoff_max=0.1, connection_timeout=1.0)
    store = make_store(closed_port, container_name, None, retry)
    path = "telemetry-ns/no-folder/0/2026/03/03/06/05/00.avro"

    with pytest.raises(BlobStoreError, match=r"failed after retries: ServiceRequestError.*no local quarantine folder"):
        store.write_file(path, b"window bytes")
    assert store.quarantined_locally() == [] and store.stats.quarantined_locally == 0
    assert list(cwd.iterdir()) == []
    assert (sorted(default_quarantine.rglob("*")) if default_quarantine.exists() else []) == before


def test_faulty_proxy_503_429_and_resets_are_retried(azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    hub = "proxy"
    expected = _reference(tmp_path, hub, minutes=20)
    config, sim, settings = _simulation(hub, minutes=20)
    # Faults spread over the first requests (list, read, upload...): none exceeds the retries.
    plan = ["503", "429", "forward", "reset", "forward", "503", "reset", "forward", "429", "forward", "reset"]
    proxy = FaultProxy(azurite.port, plan)
    try:
        store = make_store(
            proxy.port,
            container_name,
            tmp_path / "quarantine",
            RetrySettings(
                retry_total=4, retry_backoff_factor=0.2, retry_backoff_max=1.0, connection_timeout=2.0, read_timeout=5.0
            ),
        )
        t0 = time.monotonic()
        report = CaptureLander(store, settings).land(sim.events, start=config.start, end=config.end)
        elapsed = time.monotonic() - t0
    finally:
        proxy.close()

    assert report.files_written == len(expected) == 8
    assert blobs(azurite.port, container_name) == expected  # read from Azurite directly
    outcomes = [r.outcome for r in proxy.records]
    assert [o if not o.startswith("forwarded") else "forward" for o in outcomes[: len(plan)]] == plan
    assert all(o.startswith("forwarded") for o in outcomes[len(plan) :])  # 404s included: containers are created lazily
    faults = [f for f in plan if f != "forward"]
    retries = store.retry_log.events
    assert len(retries) == len(faults)
    assert [e.delay_seconds for e in retries if e.cause == "HTTP 429"] == [1.0, 1.0]  # Retry-After honoured
    assert sum(e.cause.startswith("ServiceResponseError") for e in retries) == 3  # the resets
    assert elapsed >= 2.0
    assert store.quarantined() == []
    log.info("proxy: %s", [(r.method, r.path.split("?")[0][-40:], r.outcome) for r in proxy.records[: len(plan) + 1]])
    log.info("proxy retries: %s", [(e.method, e.cause[:40], e.delay_seconds) for e in retries])


def test_refused_writes_go_to_the_quarantine_container_with_the_reason(
    azurite: Azurite, container_name: str, tmp_path: Path
) -> None:
    retry = RetrySettings(
        retry_total=2, retry_backoff_factor=0.1, retry_backoff_max=0.2, connection_timeout=2.0, read_timeout=5.0
    )
    # 3 answers of 503 exhaust the write's retries; the quarantine write then passes.
    proxy = FaultProxy(azurite.port, ["503", "503", "503"])
    path = "telemetry-ns/refused/0/2026/03/03/06/05/00.avro"
    try:
        store = make_store(proxy.port, container_name, tmp_path / "quarantine", retry)
        store.write_file(path, b"window bytes")
        assert store.stats.quarantined_in_container == 1 and store.stats.files_written == 0
        assert blobs(azurite.port, container_name) == {}
        assert blobs(azurite.port, f"{container_name}-quarantine") == {path: b"window bytes"}
        [entry] = store.quarantined()
        assert (entry.path, entry.where) == (path, "container") and entry.reason.startswith("HTTP 503")
        # The lander sees the quarantined file, so it resumes after it instead of renumbering.
        assert store.list_files("telemetry-ns/refused/") == [path] and store.read_file(path) == b"window bytes"
    finally:
        proxy.close()

    direct = make_store(azurite.port, container_name, tmp_path / "quarantine", retry)
    report = direct.redrive()
    assert report.landed == [path]
    assert blobs(azurite.port, container_name) == {path: b"window bytes"}
    assert blobs(azurite.port, f"{container_name}-quarantine") == {}
