"""Cosmos DB connection: settings from the environment and one configured SDK client.

    COSMOS_ENDPOINT   https://<account>.documents.azure.com:443/        (required; http:// only
                      for a local emulator on loopback: localhost, 127.0.0.0/8, ::1)
    COSMOS_KEY        the account key; unset -> DefaultAzureCredential (Entra ID)
    COSMOS_DATABASE   database name (default: telemetry)
    COSMOS_CA_CERT    PEM file to trust, for a local emulator's self-signed certificate

Throttling is the SDK's job: on 429 it waits `x-ms-retry-after-ms` and retries
(`retry_throttle_total` times, at most `retry_throttle_backoff_max` seconds in
all). `retry_write` lets it retry our writes on timeouts and 5xx too (they are
idempotent: upserts of whole items by id, deletes by id). Every HTTP response,
throttled ones included, passes through `RequestStats` (the pipeline's
`raw_response_hook`), which totals the `x-ms-request-charge` RUs.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from azure.cosmos import CosmosClient

DEFAULT_DATABASE = "telemetry"


class CosmosNotConfigured(RuntimeError):
    """No Cosmos DB endpoint is configured; the message says what to set."""


NOT_CONFIGURED_MESSAGE = (
    "Cosmos DB is not configured: set COSMOS_ENDPOINT to the account endpoint "
    "(e.g. https://<account>.documents.azure.com:443/) and either COSMOS_KEY to the account key, or "
    "leave COSMOS_KEY unset to sign in with DefaultAzureCredential (az login, a managed identity, or "
    "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET; the identity needs the "
    "'Cosmos DB Built-in Data Contributor' role). Optional: COSMOS_DATABASE (default 'telemetry'), "
    "COSMOS_CA_CERT (a PEM file to trust, for a local emulator)."
)


@dataclass(frozen=True)
class CosmosSettings:
    endpoint: str
    key: str | None = field(default=None, repr=False)  # the account key: never printed
    database: str = DEFAULT_DATABASE
    ca_cert: Path | None = None
    # SDK retry budget for 429s: attempts and total seconds of waiting.
    throttle_retries: int = 12
    throttle_max_wait_s: int = 60
    # SDK retries of a write on timeouts / 5xx (our writes are idempotent).
    write_retries: int = 3

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CosmosSettings:
        """The settings the environment `env` gives (`lake.settings.environ`)."""
        endpoint = env.get("COSMOS_ENDPOINT", "").strip()
        if not endpoint:
            raise CosmosNotConfigured(NOT_CONFIGURED_MESSAGE)
        scheme = urlsplit(endpoint).scheme.lower()
        if scheme == "http" and not _is_loopback(endpoint):
            raise CosmosNotConfigured(
                f"COSMOS_ENDPOINT must be an https:// URL, got {endpoint!r}: plain http:// "
                "would send the key in the clear; it is accepted only for a local emulator on "
                "loopback (localhost, 127.0.0.0/8, ::1)"
            )
        if scheme not in ("https", "http"):
            raise CosmosNotConfigured(
                f"COSMOS_ENDPOINT must be an https:// URL, got {endpoint!r}. {NOT_CONFIGURED_MESSAGE}"
            )
        ca_cert = env.get("COSMOS_CA_CERT") or None
        if ca_cert and not Path(ca_cert).is_file():
            raise CosmosNotConfigured(f"COSMOS_CA_CERT={ca_cert} is not a readable file")
        return cls(
            endpoint=endpoint,
            key=env.get("COSMOS_KEY") or None,
            database=env.get("COSMOS_DATABASE") or DEFAULT_DATABASE,
            ca_cert=Path(ca_cert) if ca_cert else None,
        )

    @property
    def uses_entra_id(self) -> bool:
        return self.key is None


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class RequestStats:
    """Totals over every HTTP response of one client (thread-safe)."""

    request_charge: float = 0.0
    responses: Counter[int] = field(default_factory=Counter)
    suggested_wait_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, pipeline_response: Any) -> None:
        """azure-core `raw_response_hook`: called once per HTTP response, retries included."""
        response = pipeline_response.http_response
        headers = response.headers
        charge = float(headers.get("x-ms-request-charge") or 0.0)
        wait_ms = int(float(headers.get("x-ms-retry-after-ms") or 0)) if response.status_code == 429 else 0
        with self._lock:
            self.request_charge += charge
            self.responses[response.status_code] += 1
            self.suggested_wait_ms += wait_ms

    @property
    def throttled(self) -> int:
        return self.responses[429]


def open_cosmos_client(settings: CosmosSettings, *, concurrency: int, stats: RequestStats) -> CosmosClient:
    """One SDK client for the whole sync; its HTTP pool holds `concurrency` connections."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from azure.cosmos import CosmosClient
    from azure.cosmos.documents import SSLConfiguration

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=concurrency + 4)
    session.mount("https://", adapter)
    session.mount("http://", adapter)

    credential: Any
    if settings.key:
        credential = settings.key
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    tls: dict[str, Any] = {}
    if settings.ca_cert:
        # The SDK only honours a CA bundle given together with an SSLConfiguration.
        tls = {"connection_verify": str(settings.ca_cert), "ssl_config": SSLConfiguration()}
    return CosmosClient(
        settings.endpoint,
        credential,
        transport=RequestsTransport(session=session, session_owner=True),
        raw_response_hook=stats.record,
        retry_throttle_total=settings.throttle_retries,
        retry_throttle_backoff_max=settings.throttle_max_wait_s,
        retry_write=settings.write_retries,
        user_agent_suffix="telemetry-lakehouse-cosmos-sync",
        **tls,
    )
