"""Landing Capture files into Azurite: names, listing, idempotency, SAS, sync, config errors."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import socket
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    AccountSasPermissions,
    ContainerClient,
    ContainerSasPermissions,
    ResourceTypes,
    generate_account_sas,
    generate_container_sas,
)
from click.testing import CliRunner

from lakehouse.ingestion.azure.auth import AzureConfigError, eventhub_target
from lakehouse.ingestion.azure.blob_store import BlobCaptureStore, blob_capture_store, blob_capture_store_from_env
from lakehouse.ingestion.azure.blob_sync import sync_to_lake
from lakehouse.ingestion.azure.blobs import BlobStoreError
from lakehouse.ingestion.azure.quarantine import SIDECAR_SUFFIX
from lakehouse.ingestion.capture.format import CapturePath, decode_capture_file, encode_capture_file
from lakehouse.ingestion.capture.lander import CaptureLander, CaptureSettings
from lakehouse.ingestion.capture.store import LocalCaptureStore, LockTimeout, UnsafePathError
from lakehouse.ingestion.events import Event
from lakehouse.ingestion.sources.simulator import FaultRates, SimulatorConfig, simulate
from tests.python.azure.azurite import ACCOUNT, ACCOUNT_KEY, Azurite, connection_string
from tests.python.azure.conftest import FAST_RETRY, blobs, make_store, raw_container
from tests.python.concurrency import run_together

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTINGS = CaptureSettings(event_hub="blob-land", partitions=2, window_seconds=300, write_empty_files=True)


def _simulation(minutes: int = 30, devices: int = 10):  # type: ignore[no-untyped-def]
    config = SimulatorConfig(start=START, duration=timedelta(minutes=minutes), devices=devices, faults=FaultRates())
    return config, simulate(config)


def _local_landing(
    root: Path, minutes: int = 30, devices: int = 10, settings: CaptureSettings = SETTINGS
) -> dict[str, bytes]:
    """The same simulation landed on the local file system: the reference result."""
    config, sim = _simulation(minutes, devices)
    CaptureLander(LocalCaptureStore(root), settings).land(sim.events, start=config.start, end=config.end)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.avro"))}


def test_landing_matches_local_files_and_lists_by_prefix(azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    expected = _local_landing(tmp_path / "local")
    config, sim = _simulation()
    store = make_store(azurite.port, container_name, tmp_path / "quarantine")
    report = CaptureLander(store, SETTINGS).land(sim.events, start=config.start, end=config.end)

    assert report.files_written == len(expected) == 2 * 6  # 2 partitions x 6 five-minute windows
    assert blobs(azurite.port, container_name) == expected
    for partition in ("0", "1"):
        prefix = f"telemetry-ns/blob-land/{partition}/"
        assert store.list_files(prefix) == sorted(p for p in expected if p.startswith(prefix))
    # Every blob carries its content MD5 (what `sync` compares).
    for blob in raw_container(azurite.port, container_name).list_blobs():
        assert bytes(blob.content_settings.content_md5) == hashlib.md5(expected[blob.name]).digest()
    assert store.stats.quarantined_in_container == store.stats.quarantined_locally == 0


def test_landing_again_is_idempotent(azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    config, sim = _simulation()
    store = make_store(azurite.port, container_name, tmp_path / "quarantine")
    CaptureLander(store, SETTINGS).land(sim.events, start=config.start, end=config.end)
    before = blobs(azurite.port, container_name)

    # A second landing run resumes from the blobs: nothing new to write.
    again = CaptureLander(store, SETTINGS).land(sim.events, start=config.start, end=config.end)
    assert again.files_written == 0 and again.events_already_landed == sim.sends
    # Re-uploading every file (as a retried or repeated upload would) changes nothing.
    for name, data in before.items():
        store.write_file(name, data)
    after = blobs(azurite.port, container_name)
    assert sorted(after) == sorted(before) and len(after) == len(before)
    assert after == before


def test_write_only_sas_can_upload_but_not_read_or_list(azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    raw_container(azurite.port, container_name).create_container()
    sas = generate_container_sas(
        ACCOUNT,
        container_name,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(write=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    sas_url = f"{azurite.blob_endpoint}/{container_name}?{sas}"
    store = blob_capture_store_from_env(
        container_name,
        env={"AZURE_STORAGE_SAS_URL": sas_url},
        quarantine_dir=tmp_path / "q",
        retry_total=1,
        retry_backoff_factor=0.1,
    )
    path = "telemetry-ns/sas/0/2026/03/02/08/05/00.avro"
    store.write_file(path, b"capture bytes")
    assert store.stats.files_written == 1 and store.stats.quarantined_locally == 0
    assert blobs(azurite.port, container_name) == {path: b"capture bytes"}  # checked with the account key

    for operation in (lambda: store.read_file(path), lambda: store.list_files("telemetry-ns/")):
        with pytest.raises(BlobStoreError) as failure:
            operation()
        assert isinstance(failure.value.__cause__, HttpResponseError) and failure.value.__cause__.status_code == 403
    # The same with the SDK alone, independent of the store.
    plain = ContainerClient.from_container_url(sas_url)
    for operation in (lambda: plain.download_blob(path).readall(), lambda: list(plain.list_blobs())):
        with pytest.raises(HttpResponseError) as failure:
            operation()
        assert failure.value.status_code == 403


def test_sync_downloads_once_and_repairs_changed_files(azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    config, sim = _simulation(minutes=15, devices=5)
    store = make_store(azurite.port, container_name, tmp_path / "quarantine")
    CaptureLander(store, SETTINGS).land(sim.events, start=config.start, end=config.end)
    remote = blobs(azurite.port, container_name)
    capture = tmp_path / "lake" / "capture"

    first = sync_to_lake(store, capture, "telemetry-ns/blob-land/")
    local = {str(p.relative_to(capture)): p.read_bytes() for p in capture.rglob("*") if p.is_file()}
    assert local == remote and sorted(first.downloaded) == sorted(remote)

    second = sync_to_lake(store, capture)
    assert second.downloaded == [] and second.skipped == len(remote)

    victim = sorted(remote)[1]
    data = bytearray((capture / victim).read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    (capture / victim).write_bytes(bytes(data))
    third = sync_to_lake(store, capture)
    assert third.downloaded == [victim] and (capture / victim).read_bytes() == remote[victim]


def test_missing_configuration_fails_fast_with_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(AzureConfigError, match="AZURE_STORAGE_CONNECTION_STRING"):
        blob_capture_store_from_env("capture", env={})
    with pytest.raises(AzureConfigError, match="EVENTHUB_CONNECTION_STRING"):
        eventhub_target({})
    with pytest.raises(AzureConfigError, match="EVENTHUB_NAME"):
        eventhub_target({"EVENTHUB_FULLY_QUALIFIED_NAMESPACE": "ns.servicebus.windows.net"})

    from lakehouse.cli.main import cli

    env = dict.fromkeys(
        (
            "AZURE_STORAGE_CONNECTION_STRING",
            "AZURE_STORAGE_SAS_URL",
            "AZURE_STORAGE_ACCOUNT_URL",
            "EVENTHUB_CONNECTION_STRING",
            "EVENTHUB_FULLY_QUALIFIED_NAMESPACE",
            "EVENTHUB_NAME",
        ),
        "",
    )
    for args, needle in (
        (["land", "--devices", "1", "--duration", "5m"], "AZURE_STORAGE_CONNECTION_STRING"),
        (["send", "--devices", "1"], "EVENTHUB_CONNECTION_STRING"),
    ):
        result = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), "azure", *args], env=env)
        assert result.exit_code == 1 and needle in result.output, result.output


def test_credentials_resolve_from_the_environment_in_order() -> None:
    from lakehouse.ingestion.azure.auth import storage_target

    both = {
        "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
        "AZURE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net",
    }
    assert storage_target(both).kind == "connection_string"  # the connection string wins
    container_sas = storage_target(
        {"AZURE_STORAGE_SAS_URL": "https://acct.blob.core.windows.net/capture?sv=2024&sp=cw&sig=x"}
    )
    assert (container_sas.kind, container_sas.account_url, container_sas.container_in_url, container_sas.sas_token) == (
        "sas",
        "https://acct.blob.core.windows.net",
        "capture",
        "sv=2024&sp=cw&sig=x",
    )
    account_sas = storage_target({"AZURE_STORAGE_SAS_URL": "https://acct.blob.core.windows.net/?sv=2024&sig=y"})
    assert (account_sas.account_url, account_sas.container_in_url) == ("https://acct.blob.core.windows.net", None)
    token = storage_target(
        {"AZURE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net/", "AZURE_STORAGE_SAS_TOKEN": "?sv=1&sig=z"}
    )
    assert (token.kind, token.account_url, token.sas_token) == (
        "sas",
        "https://acct.blob.core.windows.net",
        "sv=1&sig=z",
    )
    assert storage_target({"AZURE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net"}).kind == "identity"
    with pytest.raises(AzureConfigError, match="names container 'capture'"):
        blob_capture_store_from_env(
            "other", env={"AZURE_STORAGE_SAS_URL": "https://acct.blob.core.windows.net/capture?sv=1"}
        )

    hub = eventhub_target(
        {
            "EVENTHUB_CONNECTION_STRING": "Endpoint=sb://prod-ns.servicebus.windows.net/;"
            "SharedAccessKeyName=send;SharedAccessKey=k;EntityPath=telemetry"
        }
    )
    assert (hub.eventhub_name, hub.namespace_name) == ("telemetry", "prod-ns")
    identity = eventhub_target(
        {"EVENTHUB_FULLY_QUALIFIED_NAMESPACE": "prod-ns.servicebus.windows.net", "EVENTHUB_NAME": "telemetry"}
    )
    assert (identity.connection_string, identity.namespace_name) == (None, "prod-ns")
    with pytest.raises(AzureConfigError, match="EntityPath"):
        eventhub_target(
            {
                "EVENTHUB_CONNECTION_STRING": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"
            }
        )


# --------------------------------------------------------------------------- hostile names


def _put_raw(port: int, container: str, encoded_name: str, data: bytes) -> None:
    """Upload with a raw HTTP request (a SAS in the query), so the name reaches Azurite
    as written: the SDK's HTTP stack would normalise `..` segments away."""
    sas = generate_container_sas(
        ACCOUNT,
        container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(write=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        "PUT",
        f"/{ACCOUNT}/{container}/{encoded_name}?{sas}",
        body=data,
        headers={"x-ms-blob-type": "BlockBlob", "x-ms-version": "2021-08-06"},
    )
    assert conn.getresponse().status == 201
    conn.close()


def test_sync_refuses_blob_names_that_leave_the_capture_folder(
    azurite: Azurite, container_name: str, tmp_path: Path
) -> None:
    store = make_store(azurite.port, container_name, tmp_path / "quarantine")
    good = "telemetry-ns/hostile/0/2026/03/02/08/05/00.avro"
    store.write_file(good, b"good")
    outside = tmp_path / "outside"
    _put_raw(azurite.port, container_name, "%2E%2E/escape.avro", b"evil")  # blob name: ../escape.avro
    _put_raw(azurite.port, container_name, "telemetry-ns/%2E%2E/%2E%2E/%2E%2E/escape2.avro", b"evil")
    raw_container(azurite.port, container_name).upload_blob(
        f"{outside}/absolute.avro", b"evil"
    )  # '/tmp/.../absolute.avro'
    names = sorted(b.name for b in raw_container(azurite.port, container_name).list_blobs())
    assert names == sorted(["../escape.avro", "telemetry-ns/../../../escape2.avro", f"{outside}/absolute.avro", good])

    capture = tmp_path / "lake" / "capture"
    report = sync_to_lake(store, capture)
    assert report.downloaded == [good] and (capture / good).read_bytes() == b"good"
    assert sorted(report.refused) == sorted(n for n in names if n != good)
    assert not outside.exists() and not (tmp_path / "lake" / "escape.avro").exists()
    assert not (tmp_path / "escape2.avro").exists()
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.avro")) == [f"lake/capture/{good}"]


def test_a_quarantine_sidecar_naming_a_path_outside_is_ignored(
    azurite: Azurite, container_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    quarantine = tmp_path / "quarantine"
    store = make_store(azurite.port, container_name, quarantine)
    victim = tmp_path / "victim.avro"
    victim.write_bytes(b"not yours")
    folder = quarantine / ACCOUNT / container_name / "telemetry-ns" / "x" / "0"
    folder.mkdir(parents=True)
    (folder / ("00.avro" + SIDECAR_SUFFIX)).write_text(
        json.dumps(
            {
                "path": "../../../../../victim.avro",
                "reason": "tampered",
                "quarantined_at": "2026-03-02T08:00:00+00:00",
                "container": container_name,
            }
        )
    )
    assert store.quarantined() == [] and "ignoring quarantine sidecar" in caplog.text
    assert store.redrive().landed == [] and victim.read_bytes() == b"not yours"
    with pytest.raises(UnsafePathError):
        store.write_file("../../outside.avro", b"x")  # nor can a write place a file outside (quarantine included)


# --------------------------------------------------------------------------- streaming


def _chunked_store(port: int, container: str, quarantine: Path, chunk: int) -> BlobCaptureStore:
    conn = connection_string(port)
    return blob_capture_store(
        lambda name, **kw: ContainerClient.from_connection_string(
            conn, name, **{**kw, "max_single_get_size": chunk, "max_chunk_get_size": chunk}
        ),
        container,
        FAST_RETRY,
        quarantine_dir=quarantine,
    )


def test_large_files_are_streamed_not_held_in_memory(azurite: Azurite, container_name: str, tmp_path: Path) -> None:
    """An 8 MB Capture file read in 128 kB ranges: sync and the lander's resume
    position hold a small part of it in memory (peaks measured with tracemalloc:
    about 1.5 MB, whatever the size), and get every byte right."""
    chunk = 128 * 1024
    settings = CaptureSettings(event_hub="big", partitions=1, window_seconds=300, codec="null")
    events = [Event(bytes([65 + i % 26]) * 4000, "dev-1", START + timedelta(milliseconds=100 * i)) for i in range(2000)]
    store = _chunked_store(azurite.port, container_name, tmp_path / "q", chunk)
    [path] = CaptureLander(store, settings).land(events).paths
    size = len(blobs(azurite.port, container_name)[path])
    assert size > 30 * chunk

    tracemalloc.start()
    try:
        capture = tmp_path / "lake" / "capture"
        synced = sync_to_lake(store, capture)
        _, sync_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        position = CaptureLander(store, settings).position("0")
        _, position_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert synced.downloaded == [path] and (capture / path).read_bytes() == blobs(azurite.port, container_name)[path]
    assert (position.next_sequence_number, position.landed_until) == (2000, START + timedelta(minutes=5))
    assert position.next_offset == 2000 * 4000
    assert sync_peak < size / 4 and position_peak < size / 4, (size, sync_peak, position_peak)


# --------------------------------------------------------------------------- one writer per hub


class SlowFirstWrite:
    """A store whose first write waits, so two landings read their positions before either writes."""

    def __init__(self, store: BlobCaptureStore, delay: float) -> None:
        self.store, self.delay, self.writes = store, delay, 0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.store, name)

    def write_file(self, path: str, data: bytes) -> None:
        self.writes += 1
        if self.writes == 1:
            time.sleep(self.delay)
        self.store.write_file(path, data)


def test_two_concurrent_landings_into_one_container_take_turns(
    azurite: Azurite, container_name: str, tmp_path: Path
) -> None:
    settings = CaptureSettings(event_hub="two-writers", partitions=2, window_seconds=60)
    streams = [
        [
            Event(f'{{"run":{run},"i":{i}}}'.encode(), f"dev-{i % 3}", START + timedelta(seconds=7 * i))
            for i in range(40)
        ]
        for run in (1, 2)
    ]

    def land(events: list[Event]) -> Callable[[], object]:
        store = SlowFirstWrite(make_store(azurite.port, container_name, tmp_path / "q"), 1.5)
        return lambda: CaptureLander(store, settings, lock_timeout=60).land(events)  # type: ignore[arg-type]

    run_together([land(events) for events in streams], timeout=90)
    landed = blobs(azurite.port, container_name)  # read back with a plain client: no lock blob left either
    records = [
        (CapturePath.parse(p).partition_id, r) for p, data in sorted(landed.items()) for r in decode_capture_file(data)
    ]
    assert sorted(r["Body"] for _, r in records) == sorted(
        e.body for events in streams for e in events
    )  # 0 lost, 0 twice
    for partition in ("0", "1"):
        numbers = [r["SequenceNumber"] for p, r in records if p == partition]
        assert numbers == list(range(len(numbers)))


def test_a_landing_waits_for_the_lease_then_fails_with_a_clear_error(
    azurite: Azurite, container_name: str, tmp_path: Path
) -> None:
    holder = make_store(azurite.port, container_name, tmp_path / "q")
    with holder.lock("telemetry-ns/leased"):
        t0 = time.monotonic()
        with pytest.raises(
            LockTimeout, match=r"telemetry-ns/leased is locked by another writer \(lease on .*\.lock\) for over 2 s"
        ):
            CaptureLander(
                make_store(azurite.port, container_name, tmp_path / "q"),
                CaptureSettings(event_hub="leased"),
                lock_timeout=2,
            ).land([Event(b"x", "dev-1", START)])
        assert time.monotonic() - t0 >= 2
    report = CaptureLander(
        make_store(azurite.port, container_name, tmp_path / "q"), CaptureSettings(event_hub="leased"), lock_timeout=2
    ).land([Event(b"x", "dev-1", START)])
    assert report.records_written == 1 and list(blobs(azurite.port, container_name)) == report.paths


# --------------------------------------------------------------------------- secrets


def test_no_log_line_or_error_of_a_failing_run_holds_a_secret(
    azurite: Azurite, container_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs each request line, query string included, at DEBUG
    for name in ("azure", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    read_only = generate_account_sas(
        ACCOUNT,
        ACCOUNT_KEY,
        ResourceTypes(container=True, object=True),
        AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    signature = parse_qs(read_only)["sig"][0]
    wrong_key = base64.b64encode(b"not-the-key" * 6).decode()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    runs = {
        "storage unreachable, SAS URL": {
            "AZURE_STORAGE_SAS_URL": f"http://127.0.0.1:{closed_port}/{ACCOUNT}?{read_only}"
        },
        "read-only SAS refused": {"AZURE_STORAGE_SAS_URL": f"{azurite.blob_endpoint}?{read_only}"},
        "wrong account key": {
            "AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};"
            f"AccountKey={wrong_key};BlobEndpoint={azurite.blob_endpoint};"
        },
    }
    texts = []
    try:
        for env in runs.values():
            store = blob_capture_store_from_env(
                container_name,
                env=env,
                quarantine_dir=tmp_path / "q",
                retry_total=1,
                retry_backoff_factor=0.05,
                connection_timeout=1.0,
            )
            with pytest.raises(BlobStoreError) as failure:
                CaptureLander(store, CaptureSettings(event_hub="secrets"), lock_timeout=1).land(
                    [Event(b"x", "dev-1", START)]
                )
            texts.append(str(failure.value))
            path = "telemetry-ns/secrets/0/2026/03/02/08/05/00.avro"
            store.write_file(path, encode_capture_file([], sync_key=path))  # quarantined, not raised
            try:
                sync_to_lake(store, tmp_path / "lake" / "capture")
            except BlobStoreError as exc:
                texts.append(str(exc))
    finally:
        for name in ("azure", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)
    sidecars = [p.read_text() for p in (tmp_path / "q").rglob("*.json")]
    # The runs did reach Azurite, and urllib3 logged their request lines (SAS query strings included, unless redacted).
    assert sidecars and '"PUT /devstoreaccount1/' in caplog.text and 'HTTP/1.1" 403' in caplog.text
    everything = "\n".join([caplog.text, *texts, *sidecars])
    for secret in (signature, quote(signature, safe=""), ACCOUNT_KEY, wrong_key, "SharedKey devstoreaccount1:"):
        assert secret not in everything, secret
