"""Fixtures for the Azure tests: one Azurite for the session, helpers to use it.

Azurite runs on 127.0.0.1 at a free port with its data in a temp folder, so the
fault tests can stop it and start it again on the same port without losing blobs.
Tests that stop it must leave it running (`azurite.ensure_running()` in finally).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from lakehouse.ingestion.azure.blob_store import BlobCaptureStore, blob_capture_store
from lakehouse.ingestion.azure.retry import RetrySettings
from tests.python.azure.azurite import Azurite, connection_string

# The SDK logs every request and response at INFO; keep the test logs about what happened.
logging.getLogger("azure").setLevel(logging.WARNING)

# Short retries: waits of 0, 0.4, 0.8, 1.0 s (2.2 s per request) instead of minutes.
FAST_RETRY = RetrySettings(
    retry_total=4, retry_backoff_factor=0.2, retry_backoff_max=1.0, connection_timeout=2.0, read_timeout=5.0
)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def container_name() -> str:
    """A fresh container name per test (Azurite is shared by the session)."""
    return f"t-{uuid.uuid4().hex[:20]}"


def make_store(
    port: int, container: str, quarantine_dir: Path | None, retry: RetrySettings = FAST_RETRY
) -> BlobCaptureStore:
    """A BlobCaptureStore on Azurite at `port` (Azurite's own, or a proxy's); `quarantine_dir`
    its local quarantine folder (None: none)."""
    conn = connection_string(port)
    return blob_capture_store(
        lambda name, **kw: ContainerClient.from_connection_string(conn, name, **kw),
        container,
        retry,
        quarantine_dir=quarantine_dir,
    )


def raw_container(port: int, container: str) -> ContainerClient:
    """A plain client (SDK defaults, no quarantine) to check results independently."""
    return BlobServiceClient.from_connection_string(connection_string(port)).get_container_client(container)


def blobs(port: int, container: str) -> dict[str, bytes]:
    """Every blob of a container and its bytes, read with a plain client."""
    client = raw_container(port, container)
    if not client.exists():
        return {}
    return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}
