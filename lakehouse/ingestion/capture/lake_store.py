"""The Capture store of a lake: where the landing commands write a lake's Capture files.

A local lake: its `capture/` folder (`LocalCaptureStore`). A lake on Azure storage: the
lake container's blobs under `<lake path>/capture/` (`BlobCaptureStore`, create-only
writes, the lease per hub, quarantine), with refused files in `<container>-quarantine`
and files written while storage is unreachable in the lake's local quarantine
(`lake.quarantine`, where `lakehouse azure redrive` finds them).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lakehouse.ingestion.capture.store import CaptureStore, FolderCaptureStore, LocalCaptureStore
from lakehouse.paths import CAPTURE, Lake

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from lakehouse.ingestion.azure.retry import RetrySettings


def capture_store(lake: Lake, retry: RetrySettings | None = None) -> CaptureStore:
    """The store the lake's Capture files are landed into and read back from (the
    lander's resume point); `retry` the Blob requests' retries (a remote lake)."""
    from pathlib import Path

    if lake.is_local:
        return LocalCaptureStore(Path(lake.capture))
    from lakehouse.ingestion.azure.blob_store import blob_capture_store
    from lakehouse.storage.files import container_client

    def make_client(name: str, **kwargs: Any) -> ContainerClient:
        return container_client(replace(lake.location, container=name), lake.credentials, **kwargs)

    store = blob_capture_store(make_client, lake.location.container, retry, quarantine_dir=lake.quarantine)
    return FolderCaptureStore(store, lake.location.blob_name(CAPTURE))
