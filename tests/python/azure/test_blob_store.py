"""Landing Capture files into Azurite: names, listing, idempotency, SAS, sync, config errors."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient, ContainerSasPermissions, generate_container_sas
from click.testing import CliRunner

from ingestion.azure_auth import AzureConfigError, eventhub_target
from ingestion.blob_store import BlobStoreError, blob_capture_store_from_env, sync_to_lake
from ingestion.capture_store import LocalCaptureStore
from ingestion.lander import CaptureLander, CaptureSettings
from ingestion.simulator import FaultRates, SimulatorConfig, simulate
from tests.python.azure.azurite import ACCOUNT, ACCOUNT_KEY, Azurite
from tests.python.azure.conftest import blobs, make_store, raw_container

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTINGS = CaptureSettings(event_hub="blob-land", partitions=2, window_seconds=300, write_empty_files=True)


def _simulation(minutes: int = 30, devices: int = 10):  # type: ignore[no-untyped-def]
    config = SimulatorConfig(start=START, duration=timedelta(minutes=minutes), devices=devices, faults=FaultRates())
    return config, simulate(config)


def _local_landing(root: Path, minutes: int = 30, devices: int = 10, settings: CaptureSettings = SETTINGS) -> dict[str, bytes]:
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
    sas = generate_container_sas(ACCOUNT, container_name, account_key=ACCOUNT_KEY,
                                 permission=ContainerSasPermissions(write=True, create=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    sas_url = f"{azurite.blob_endpoint}/{container_name}?{sas}"
    store = blob_capture_store_from_env(container_name, env={"AZURE_STORAGE_SAS_URL": sas_url},
                                        quarantine_dir=tmp_path / "q", retry_total=1, retry_backoff_factor=0.1)
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


def test_missing_configuration_fails_fast_with_what_to_set() -> None:
    with pytest.raises(AzureConfigError, match="AZURE_STORAGE_CONNECTION_STRING"):
        blob_capture_store_from_env("capture", env={})
    with pytest.raises(AzureConfigError, match="EVENTHUB_CONNECTION_STRING"):
        eventhub_target({})
    with pytest.raises(AzureConfigError, match="EVENTHUB_NAME"):
        eventhub_target({"EVENTHUB_FULLY_QUALIFIED_NAMESPACE": "ns.servicebus.windows.net"})

    from ingestion.azure_cli import azure

    env = {k: "" for k in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_URL", "AZURE_STORAGE_ACCOUNT_URL",
                           "EVENTHUB_CONNECTION_STRING", "EVENTHUB_FULLY_QUALIFIED_NAMESPACE", "EVENTHUB_NAME")}
    for args, needle in ((["land", "--devices", "1", "--duration", "5m"], "AZURE_STORAGE_CONNECTION_STRING"),
                         (["send", "--devices", "1"], "EVENTHUB_CONNECTION_STRING")):
        result = CliRunner().invoke(azure, args, env=env)
        assert result.exit_code == 1 and needle in result.output, result.output


def test_credentials_resolve_from_the_environment_in_order() -> None:
    from ingestion.azure_auth import storage_target

    both = {"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
            "AZURE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net"}
    assert storage_target(both).kind == "connection_string"  # the connection string wins
    container_sas = storage_target({"AZURE_STORAGE_SAS_URL": "https://acct.blob.core.windows.net/capture?sv=2024&sp=cw&sig=x"})
    assert (container_sas.kind, container_sas.account_url, container_sas.container_in_url, container_sas.sas_token) == (
        "sas", "https://acct.blob.core.windows.net", "capture", "sv=2024&sp=cw&sig=x")
    account_sas = storage_target({"AZURE_STORAGE_SAS_URL": "https://acct.blob.core.windows.net/?sv=2024&sig=y"})
    assert (account_sas.account_url, account_sas.container_in_url) == ("https://acct.blob.core.windows.net", None)
    token = storage_target({"AZURE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net/",
                            "AZURE_STORAGE_SAS_TOKEN": "?sv=1&sig=z"})
    assert (token.kind, token.account_url, token.sas_token) == ("sas", "https://acct.blob.core.windows.net", "sv=1&sig=z")
    assert storage_target({"AZURE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net"}).kind == "identity"
    with pytest.raises(AzureConfigError, match="names container 'capture'"):
        blob_capture_store_from_env("other", env={"AZURE_STORAGE_SAS_URL": "https://acct.blob.core.windows.net/capture?sv=1"})

    hub = eventhub_target({"EVENTHUB_CONNECTION_STRING": "Endpoint=sb://prod-ns.servicebus.windows.net/;"
                                                         "SharedAccessKeyName=send;SharedAccessKey=k;EntityPath=telemetry"})
    assert (hub.eventhub_name, hub.namespace_name) == ("telemetry", "prod-ns")
    identity = eventhub_target({"EVENTHUB_FULLY_QUALIFIED_NAMESPACE": "prod-ns.servicebus.windows.net",
                                "EVENTHUB_NAME": "telemetry"})
    assert (identity.connection_string, identity.namespace_name) == (None, "prod-ns")
    with pytest.raises(AzureConfigError, match="EntityPath"):
        eventhub_target({"EVENTHUB_CONNECTION_STRING": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"})
