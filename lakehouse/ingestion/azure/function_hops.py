"""The Azure Functions app's two hops, built from its app settings (`azure_functions/function_app.py`
reads them, once per instance, and passes them in as `env`).

- HTTP source -> Event Hubs: `HttpHop.tick()` polls the third-party endpoint from
  the cursor blob and sends what is new to the HTTP hub (`http_forwarder`).
- Event Hubs -> Blob: `capture_lander()` lands each delivered batch of the HTTP hub
  as Capture files in the lake container's `capture/` folder, beside the ones Event
  Hubs Capture writes for the other hub (`batch_lander`).

Every name comes from `lakehouse/azure_names.json`; connections are the host's
identity-based ones (`auth.functions_connection_env`). Clients are made once per
instance and reused across calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.azure_names import azure_names, container, setting
from lakehouse.ingestion.azure.auth import (
    AzureConfigError,
    container_client,
    eventhub_producer,
    eventhub_target,
    functions_connection_env,
)
from lakehouse.ingestion.azure.batch_lander import BatchLander
from lakehouse.ingestion.azure.blob_store import blob_capture_store
from lakehouse.ingestion.azure.http_forwarder import ForwardReport, PollCursorBlob, forward_poll
from lakehouse.ingestion.azure.retry import RetrySettings
from lakehouse.ingestion.capture.lander import CaptureSettings
from lakehouse.ingestion.capture.store import FolderCaptureStore
from lakehouse.ingestion.sources.http import HttpPoller, HttpSourceConfig

if TYPE_CHECKING:
    from azure.eventhub import EventHubProducerClient

# Storage retries inside one call: short, since the host retries the whole batch with backoff.
CALL_RETRY = RetrySettings(retry_total=3, retry_backoff_factor=0.5, retry_backoff_max=4.0)


def hub_env(env: Mapping[str, str]) -> dict[str, str]:
    """The client variables for the HTTP hub and the lake's storage, from the app settings."""
    return functions_connection_env(
        env,
        storage=setting("storage_connection"),
        eventhub=setting("eventhub_connection"),
        eventhub_name=azure_names()["event_hubs"]["http_hub"],
    )


def producer_client(env: Mapping[str, str]) -> EventHubProducerClient:
    """The HTTP hub's producer client (the one part tests replace: no Event Hubs runs locally)."""
    return eventhub_producer(eventhub_target(env))


@dataclass
class HttpHop:
    poller: HttpPoller
    client: Any  # EventHubProducerClient
    cursor: PollCursorBlob

    def tick(self) -> ForwardReport:
        return forward_poll(self.poller, self.client, self.cursor, event_hub=azure_names()["event_hubs"]["http_hub"])


def http_hop(
    env: Mapping[str, str],
    make_client: Callable[[Mapping[str, str]], Any] | None = None,
) -> HttpHop:
    """The timer's parts: the poller (URL and token from the app settings), the producer
    client and the cursor blob in the function-state container."""
    url = env.get(setting("http_url"))
    if not url:
        raise AzureConfigError(f"set {setting('http_url')} to the third-party endpoint")
    token = env.get(setting("http_token"))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    clients = hub_env(env)
    state = container_client(container("function_state"), clients, **CALL_RETRY.client_kwargs())
    return HttpHop(
        HttpPoller(HttpSourceConfig(url=url, headers=headers)),
        (make_client or producer_client)(clients),
        PollCursorBlob(state, azure_names()["function_app"]["http_cursor_blob"]),
    )


def capture_lander(env: Mapping[str, str]) -> BatchLander:
    """The Event Hubs trigger's lander: Capture files of the HTTP hub into the lake
    container's capture folder, under the namespace named by the app settings. A file
    that cannot be written raises, on every attempt: no quarantine, and no local
    quarantine folder (the instance's disk is not durable); the host retries the batch
    until it lands and checkpoints only then."""
    clients = hub_env(env)
    namespace = env.get(setting("capture_namespace")) or eventhub_target(clients).namespace_name
    names = azure_names()
    settings = CaptureSettings(
        namespace=namespace,
        event_hub=names["event_hubs"]["http_hub"],
        partitions=names["event_hubs"]["partitions"],
        window_seconds=names["capture"]["interval_seconds"],
        max_file_bytes=names["capture"]["size_limit_bytes"],
    )

    def make(name: str, **kwargs: Any) -> Any:
        return container_client(name, clients, **kwargs)

    store = blob_capture_store(make, container("lake"), CALL_RETRY, quarantine_dir=None, quarantine_on_failure=False)
    return BatchLander(FolderCaptureStore(store, names["capture"]["folder"]), settings)
