"""Azure credentials from the environment: Blob storage and Event Hubs.

Nothing secret lives in code or on the command line: every client is built from
environment variables, in this order of preference.

Blob storage (landing, sync, checkpoints):

1. ``AZURE_STORAGE_CONNECTION_STRING`` - an account connection string (Azurite's
   well-known dev string works for local runs).
2. ``AZURE_STORAGE_SAS_URL`` - an account or container URL with a SAS token in the
   query string; or ``AZURE_STORAGE_ACCOUNT_URL`` + ``AZURE_STORAGE_SAS_TOKEN``.
3. ``AZURE_STORAGE_ACCOUNT_URL`` alone - ``DefaultAzureCredential`` (managed
   identity in Azure, ``az login`` or a service principal's environment locally).

Event Hubs (producers, consumer lander):

1. ``EVENTHUB_CONNECTION_STRING`` (with ``EntityPath=<hub>``, or ``EVENTHUB_NAME``).
2. ``EVENTHUB_FULLY_QUALIFIED_NAMESPACE`` (``<ns>.servicebus.windows.net``) +
   ``EVENTHUB_NAME`` - ``DefaultAzureCredential``.

In an Azure Functions app, the same clients come from the host's identity-based
connection settings (`functions_connection_env`): a connection named ``LAKE_STORAGE``
is ``LAKE_STORAGE__blobServiceUri`` (or ``__accountName``) and one named ``EVENTHUB``
is ``EVENTHUB__fullyQualifiedNamespace``, both with the app's managed identity; the
setting itself may hold a connection string for local runs (Azurite).

A missing configuration raises :class:`AzureConfigError` with a message that says
which variables to set, before any network call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.eventhub import EventHubConsumerClient, EventHubProducerClient
    from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore
    from azure.storage.blob import ContainerClient
from urllib.parse import urlsplit, urlunsplit

STORAGE_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
STORAGE_SAS_URL = "AZURE_STORAGE_SAS_URL"
STORAGE_ACCOUNT_URL = "AZURE_STORAGE_ACCOUNT_URL"
STORAGE_SAS_TOKEN = "AZURE_STORAGE_SAS_TOKEN"
EVENTHUB_CONNECTION_STRING = "EVENTHUB_CONNECTION_STRING"
EVENTHUB_NAMESPACE = "EVENTHUB_FULLY_QUALIFIED_NAMESPACE"
EVENTHUB_NAME = "EVENTHUB_NAME"

STORAGE_HELP = (
    f"set {STORAGE_CONNECTION_STRING} (account connection string), or {STORAGE_SAS_URL} "
    f"(account/container URL with a SAS token), or {STORAGE_ACCOUNT_URL} "
    f"(+ {STORAGE_SAS_TOKEN}, or nothing else to use DefaultAzureCredential / managed identity)"
)
EVENTHUB_HELP = (
    f"set {EVENTHUB_CONNECTION_STRING} (with EntityPath=<hub> or {EVENTHUB_NAME}=<hub>), or "
    f"{EVENTHUB_NAMESPACE}=<namespace>.servicebus.windows.net + {EVENTHUB_NAME}=<hub> "
    "to use DefaultAzureCredential"
)


class AzureConfigError(ValueError):
    """Azure is not configured well enough to connect; the message says what to set."""


@dataclass(frozen=True)
class StorageTarget:
    """How to reach a Blob account, resolved from the environment (no network yet)."""

    kind: str  # "connection_string" | "sas" | "identity"
    connection_string: str | None = field(default=None, repr=False)  # holds the account key
    account_url: str | None = None
    sas_token: str | None = field(default=None, repr=False)
    container_in_url: str | None = None

    def describe(self) -> str:
        if self.kind == "connection_string":
            return "storage connection string"
        return f"{self.account_url} ({'SAS token' if self.kind == 'sas' else 'DefaultAzureCredential'})"


def storage_target(env: Mapping[str, str]) -> StorageTarget:
    """Which Blob account and credential the environment `env` names."""
    if env.get(STORAGE_CONNECTION_STRING):
        return StorageTarget("connection_string", connection_string=env[STORAGE_CONNECTION_STRING])
    if env.get(STORAGE_SAS_URL):
        parts = urlsplit(env[STORAGE_SAS_URL])
        if not parts.scheme or not parts.netloc or not parts.query:
            raise AzureConfigError(
                f"{STORAGE_SAS_URL} must be a URL with a SAS token (https://<account>.blob.core.windows.net/[container]?sv=...)"
            )
        segments = [s for s in parts.path.split("/") if s]
        # Azurite-style URLs carry the account as the first path segment.
        account_segments = segments[:1] if parts.netloc.startswith(("127.0.0.1", "localhost")) else []
        container = segments[len(account_segments)] if len(segments) > len(account_segments) else None
        account_path = "/" + "/".join(account_segments) if account_segments else ""
        return StorageTarget(
            "sas",
            account_url=urlunsplit((parts.scheme, parts.netloc, account_path, "", "")),
            sas_token=parts.query,
            container_in_url=container,
        )
    if env.get(STORAGE_ACCOUNT_URL):
        token = env.get(STORAGE_SAS_TOKEN)
        return StorageTarget(
            "sas" if token else "identity",
            account_url=env[STORAGE_ACCOUNT_URL].rstrip("/"),
            sas_token=token.lstrip("?") if token else None,
        )
    raise AzureConfigError(f"no Azure Blob storage configured: {STORAGE_HELP}")


def container_client(container: str, env: Mapping[str, str], **client_kwargs: Any) -> ContainerClient:
    """A ``ContainerClient`` for `container` with the environment's credential.

    `client_kwargs` go to the client (retry_policy, connection_timeout, read_timeout...).
    """
    from azure.storage.blob import ContainerClient

    target = storage_target(env)
    if target.kind == "connection_string":
        assert target.connection_string
        return ContainerClient.from_connection_string(target.connection_string, container, **client_kwargs)
    if target.container_in_url and target.container_in_url != container:
        raise AzureConfigError(
            f"{STORAGE_SAS_URL} names container {target.container_in_url!r} but {container!r} was asked for; "
            "use an account-level SAS URL or ask for the container the SAS grants"
        )
    assert target.account_url
    if target.kind == "sas":
        return ContainerClient(target.account_url, container, credential=target.sas_token, **client_kwargs)
    from azure.identity import DefaultAzureCredential

    return ContainerClient(target.account_url, container, credential=DefaultAzureCredential(), **client_kwargs)


@dataclass(frozen=True)
class EventHubTarget:
    """How to reach an Event Hub, resolved from the environment (no network yet)."""

    eventhub_name: str
    connection_string: str | None = field(default=None, repr=False)  # holds the shared access key
    fully_qualified_namespace: str | None = None

    @property
    def namespace_name(self) -> str:
        """The namespace's short name (first label), the first level of Capture paths."""
        if self.fully_qualified_namespace:
            return self.fully_qualified_namespace.split(".")[0]
        assert self.connection_string
        for part in self.connection_string.split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() == "endpoint":
                host = urlsplit(value.strip()).hostname or value
                return host.split(".")[0]
        return "eventhubs"


def eventhub_target(env: Mapping[str, str], *, eventhub_name: str | None = None) -> EventHubTarget:
    """Which Event Hub and credential the environment `env` names (`eventhub_name` overrides)."""
    name = eventhub_name or env.get(EVENTHUB_NAME)
    if env.get(EVENTHUB_CONNECTION_STRING):
        conn = env[EVENTHUB_CONNECTION_STRING]
        entity = next(
            (p.split("=", 1)[1] for p in conn.split(";") if p.strip().lower().startswith("entitypath=")), None
        )
        name = name or entity
        if not name:
            raise AzureConfigError(f"{EVENTHUB_CONNECTION_STRING} has no EntityPath=<hub>: set {EVENTHUB_NAME} too")
        return EventHubTarget(name, connection_string=conn)
    if env.get(EVENTHUB_NAMESPACE):
        if not name:
            raise AzureConfigError(f"{EVENTHUB_NAMESPACE} is set but not {EVENTHUB_NAME}: set the hub name too")
        return EventHubTarget(name, fully_qualified_namespace=env[EVENTHUB_NAMESPACE])
    raise AzureConfigError(f"no Event Hub configured: {EVENTHUB_HELP}")


def eventhub_producer(target: EventHubTarget, **client_kwargs: Any) -> EventHubProducerClient:
    """An ``EventHubProducerClient`` for `target` (retry settings in `client_kwargs`)."""
    from azure.eventhub import EventHubProducerClient

    if target.connection_string:
        return EventHubProducerClient.from_connection_string(
            target.connection_string, eventhub_name=target.eventhub_name, **client_kwargs
        )
    from azure.identity import DefaultAzureCredential

    assert target.fully_qualified_namespace
    return EventHubProducerClient(
        target.fully_qualified_namespace, target.eventhub_name, DefaultAzureCredential(), **client_kwargs
    )


def eventhub_consumer(
    target: EventHubTarget, consumer_group: str, checkpoint_store: Any, **client_kwargs: Any
) -> EventHubConsumerClient:
    """An ``EventHubConsumerClient`` for `target` that checkpoints into `checkpoint_store`."""
    from azure.eventhub import EventHubConsumerClient

    if target.connection_string:
        return EventHubConsumerClient.from_connection_string(
            target.connection_string,
            consumer_group,
            eventhub_name=target.eventhub_name,
            checkpoint_store=checkpoint_store,
            **client_kwargs,
        )
    from azure.identity import DefaultAzureCredential

    assert target.fully_qualified_namespace
    return EventHubConsumerClient(
        target.fully_qualified_namespace,
        target.eventhub_name,
        consumer_group,
        DefaultAzureCredential(),
        checkpoint_store=checkpoint_store,
        **client_kwargs,
    )


def checkpoint_store(container: str, env: Mapping[str, str]) -> BlobCheckpointStore:
    """A ``BlobCheckpointStore`` in `container` of the environment's storage account."""
    from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore

    target = storage_target(env)
    if target.kind == "connection_string":
        assert target.connection_string
        return BlobCheckpointStore.from_connection_string(target.connection_string, container)
    assert target.account_url
    if target.kind == "sas":
        from azure.core.credentials import AzureSasCredential

        return BlobCheckpointStore(target.account_url, container, credential=AzureSasCredential(target.sas_token or ""))
    from azure.identity import DefaultAzureCredential

    return BlobCheckpointStore(target.account_url, container, credential=DefaultAzureCredential())


def functions_connection_env(
    env: Mapping[str, str], *, storage: str, eventhub: str, eventhub_name: str
) -> dict[str, str]:
    """The variables above, from the Functions connection settings named `storage` and
    `eventhub` (the names the triggers use), so one setting serves the host and the code.

    A system-assigned managed identity is used through ``DefaultAzureCredential``."""
    out = {EVENTHUB_NAME: eventhub_name}
    if env.get(storage):
        out[STORAGE_CONNECTION_STRING] = env[storage]
    elif env.get(f"{storage}__blobServiceUri"):
        out[STORAGE_ACCOUNT_URL] = env[f"{storage}__blobServiceUri"]
    elif env.get(f"{storage}__accountName"):
        out[STORAGE_ACCOUNT_URL] = f"https://{env[f'{storage}__accountName']}.blob.core.windows.net"
    else:
        raise AzureConfigError(f"no storage connection: set {storage}__blobServiceUri (managed identity)")
    if env.get(eventhub):
        out[EVENTHUB_CONNECTION_STRING] = env[eventhub]
    elif env.get(f"{eventhub}__fullyQualifiedNamespace"):
        out[EVENTHUB_NAMESPACE] = env[f"{eventhub}__fullyQualifiedNamespace"]
    else:
        raise AzureConfigError(f"no Event Hubs connection: set {eventhub}__fullyQualifiedNamespace (managed identity)")
    return out
