"""Fixtures for the serving tests: a real Cosmos SQL-API server on 127.0.0.1.

The server (`@vercel/cosmosdb-server`, from node_modules) runs once per session
behind a self-signed certificate this fixture creates; clients trust that
certificate (COSMOS_CA_CERT), so TLS is verified as in production. Each test gets
its own database, so tests never see each other's items.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.paths import Lake
from lakehouse.serving.cosmos.connection import CosmosSettings
from tests.python.serving.cosmos_test_server import (
    EMULATOR_KEY,
    CosmosServer,
    CosmosServerUnavailable,
    TlsFiles,
    make_tls_files,
    running_cosmos_server,
)
from tests.python.serving.fault_proxy import FaultProxy


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def cosmos_server(tls_files: TlsFiles) -> Iterator[CosmosServer]:
    try:
        with running_cosmos_server(tls_files) as server:
            yield server
    except CosmosServerUnavailable as exc:
        pytest.fail(str(exc))


def settings_for(endpoint: str, tls: TlsFiles, database: str) -> CosmosSettings:
    return CosmosSettings(endpoint=endpoint, key=EMULATOR_KEY, database=database, ca_cert=tls.cert)


@pytest.fixture
def cosmos_settings(cosmos_server: CosmosServer) -> CosmosSettings:
    """Settings for a fresh database on the test server."""
    return settings_for(cosmos_server.endpoint, cosmos_server.tls, f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def fault_proxy(cosmos_server: CosmosServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(cosmos_server.port, cosmos_server.tls.cert, cosmos_server.tls.key)
    yield proxy
    proxy.close()


@pytest.fixture
def gold_lake(tmp_path: Path) -> Lake:
    """An empty lake of its own (these tests write gold-like tables with delta-rs, not Spark)."""
    return Lake.at(tmp_path / "lake")


@pytest.fixture(autouse=True)
def _quiet_azure_sdk() -> Iterator[None]:
    """The Cosmos SDK logs every request and response at INFO (pytest captures INFO here)."""
    import logging

    logger = logging.getLogger("azure")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)
