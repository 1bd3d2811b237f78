"""What every Blob part of the landing shares: the error type, the one-line reason of a
failure (no secrets), streamed reads and MD5s, and the create-only write that
reconciles by Content-MD5 (the same bytes again are a no-op, different bytes a
`CaptureConflictError`), used by the landing container, the quarantine container
and the redrive alike."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from contextlib import suppress
from typing import IO, Any, BinaryIO

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import ContainerClient, ContentSettings

from lakehouse.ingestion.azure.redaction import redact
from lakehouse.ingestion.azure.retry import HASH_CHUNK_BYTES, short_url
from lakehouse.ingestion.capture.store import CaptureConflictError

log = logging.getLogger(__name__)
CAPTURE_CONTENT_TYPE = "avro/binary"


class BlobStoreError(RuntimeError):
    """Blob storage could not be reached or refused an operation after all retries."""


def failure_reason(exc: BaseException) -> str:
    """One line about what failed, for logs, errors and quarantine records: no secrets."""
    if isinstance(exc, HttpResponseError) and exc.status_code:
        code = getattr(exc, "error_code", None) or ""
        return redact(f"HTTP {exc.status_code} {code}: {exc.reason or ''}".strip())
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return redact(f"{type(exc).__name__}: {first_line}")[:500]


def unreachable(exc: BaseException) -> bool:
    """The service did not answer at all (as opposed to answering with an error)."""
    return isinstance(exc, (ServiceRequestError, ServiceResponseError))


def download_into(container: ContainerClient, path: str, handle: IO[bytes]) -> int:
    """Stream a blob into `handle`, one range (`DOWNLOAD_CHUNK_BYTES`) at a time."""
    return container.download_blob(path, max_concurrency=1).readinto(handle)


def md5_of(handle: IO[bytes]) -> bytes:
    digest = hashlib.md5()
    handle.seek(0)
    while chunk := handle.read(HASH_CHUNK_BYTES):
        digest.update(chunk)
    handle.seek(0)
    return digest.digest()


def create_blob(
    container: ContainerClient,
    path: str,
    data: bytes | BinaryIO,
    metadata: Mapping[str, str] | None = None,
    *,
    md5: bytes | None = None,
    **options: Any,
) -> bool:
    """Create a blob with Content-MD5, only if it does not exist (`If-None-Match: *`);
    create the container if it is missing. Returns False if the blob was already
    there with the same MD5 (a retried or repeated write); raises
    `CaptureConflictError` if it holds different bytes. `options` go to the SDK
    calls (e.g. `retry_total=0`)."""
    if md5 is None:
        assert isinstance(data, bytes)
        md5 = hashlib.md5(data).digest()
    settings = ContentSettings(content_type=CAPTURE_CONTENT_TYPE, content_md5=bytearray(md5))

    def upload() -> None:
        if not isinstance(data, bytes):
            data.seek(0)
        container.upload_blob(
            path, data, overwrite=False, content_settings=settings, metadata=dict(metadata or {}), **options
        )

    try:
        try:
            upload()
        except ResourceNotFoundError:
            log.info("creating container %s", short_url(container.url))
            with suppress(ResourceExistsError):
                container.create_container(**options)
            upload()
    except (ResourceExistsError, ResourceModifiedError):
        if blob_md5(container, path) == md5:
            return False
        raise CaptureConflictError(
            f"{short_url(container.url)}/{path} already exists with different bytes; Capture files are never replaced"
        ) from None
    return True


def blob_md5(container: ContainerClient, path: str) -> bytes | None:
    """A blob's Content-MD5 (computed from its bytes, streamed, if it has none); None if missing."""
    try:
        props = container.get_blob_client(path).get_blob_properties()
    except ResourceNotFoundError:
        return None
    if props.content_settings.content_md5:
        return bytes(props.content_settings.content_md5)
    digest = hashlib.md5()
    for chunk in container.download_blob(path, max_concurrency=1).chunks():
        digest.update(chunk)
    return digest.digest()
