"""`BlobContainerStore`: the `CaptureStore` on one Blob container, nothing more.

Blob names are the Capture paths; writes are create-only (`If-None-Match: *`: the
same bytes again are a no-op, different bytes raise `CaptureConflictError`) and
every blob carries its content MD5 so `sync_to_lake` can skip what a laptop
already has. Blobs are read streamed (a temp file or chunks), never whole into
memory; a lease on `<prefix>/.lock` keeps two landings of one hub apart
(`BlobLock`). A write that fails after retries raises `BlobStoreError`; the
landings wrap this store with its quarantines (`BlobCaptureStore`).
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from lakehouse.ingestion.azure.blob_lease import BlobLock
from lakehouse.ingestion.azure.blobs import BlobStoreError, create_blob, download_into, failure_reason
from lakehouse.ingestion.azure.retry import RetryLog, short_url
from lakehouse.ingestion.capture.store import DEFAULT_LOCK_TIMEOUT, LOCK_NAME


@dataclass
class StoreStats:
    files_written: int = 0
    bytes_written: int = 0
    quarantined_in_container: int = 0
    quarantined_locally: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)


class BlobContainerStore:
    """Capture files as the blobs of `container`; `retry_log` the retries its client records."""

    def __init__(self, container: ContainerClient, *, retry_log: RetryLog | None = None) -> None:
        self.container = container
        self.retry_log = retry_log if retry_log is not None else RetryLog()
        self.stats = StoreStats()
        # This store's leases use one id: a landing that could not release its lease
        # (storage went away) takes it straight back on the next run.
        self._lease_id = str(uuid.uuid4())

    @property
    def url(self) -> str:
        return self.container.url

    def list_files(self, prefix: str) -> list[str]:
        return [b.name for b in self.landed_blobs(prefix)]

    def landed_blobs(self, prefix: str = "") -> list[Any]:
        """`BlobProperties` (name, size, content MD5...) of the Capture blobs under `prefix`, sorted."""
        try:
            return sorted(
                (b for b in self.container.list_blobs(name_starts_with=prefix or None) if b.name.endswith(".avro")),
                key=lambda b: b.name,
            )
        except ResourceNotFoundError:
            return []  # the container does not exist yet: nothing landed
        except AzureError as exc:
            raise BlobStoreError(
                f"listing {short_url(self.container.url)}/{prefix} failed after retries: {failure_reason(exc)}"
            ) from exc

    @contextmanager
    def open_file(self, path: str) -> Iterator[BinaryIO]:
        """The blob downloaded in chunks into a temporary file, open for reading; removed
        after the block. `FileNotFoundError` if there is no such blob."""
        with tempfile.TemporaryFile() as spool:
            try:
                download_into(self.container, path, spool)
            except ResourceNotFoundError:
                raise FileNotFoundError(self.describe(path)) from None
            except AzureError as exc:
                raise BlobStoreError(
                    f"reading {self.describe(path)} failed after retries: {failure_reason(exc)}"
                ) from exc
            spool.seek(0)
            yield cast(BinaryIO, spool)

    def read_file(self, path: str) -> bytes:
        with self.open_file(path) as handle:
            return handle.read()

    def download_into(self, path: str, handle: BinaryIO) -> int:
        """Stream the blob at `path` into `handle`; raises `BlobStoreError` after retries."""
        try:
            return download_into(self.container, path, handle)
        except AzureError as exc:
            raise BlobStoreError(
                f"downloading {self.describe(path)} failed after retries: {failure_reason(exc)}"
            ) from exc

    def upload(self, path: str, data: bytes | BinaryIO, *, md5: bytes | None = None, once: bool = False) -> bool:
        """`create_blob` in this container (`once`: a single attempt, no retries); raises
        the SDK's `AzureError` for the caller to decide (see `write_file`)."""
        options: dict[str, Any] = {"retry_total": 0} if once else {}
        return create_blob(self.container, path, data, md5=md5, **options)

    def write_file(self, path: str, data: bytes) -> None:
        """Create `path` with `data`; raises `BlobStoreError` if storage fails after retries."""
        try:
            self.upload(path, data)
        except AzureError as exc:
            raise BlobStoreError(f"writing {self.describe(path)} failed after retries: {failure_reason(exc)}") from exc
        self.stats.add(files_written=1, bytes_written=len(data))

    def lock(self, prefix: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> BlobLock:
        """A lease on the blob `<prefix>/.lock` of the container (see `BlobLock`)."""
        return BlobLock(self.container, f"{prefix.strip('/')}/{LOCK_NAME}", timeout=timeout, lease_id=self._lease_id)

    def describe(self, path: str) -> str:
        return f"{short_url(self.container.url)}/{path}"
