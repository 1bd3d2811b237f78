"""The landing lock of a Blob container: a lease on `<prefix>/.lock`, renewed in the
background while held, so two landings of one hub never write at once (across machines)."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobLeaseClient, ContainerClient

from lakehouse.ingestion.azure.blobs import BlobStoreError, failure_reason
from lakehouse.ingestion.azure.retry import short_url
from lakehouse.ingestion.capture.store import LockTimeout

log = logging.getLogger(__name__)


class BlobLock:
    """A lease on a lock blob: one landing per hub across machines.

    The lock blob is created empty if missing; the lease (60 s) is renewed every
    15 s by a background thread while held, and the blob is deleted with its
    lease at the end, so the container holds only Capture files (a crashed
    holder's lease expires within 60 s). Another holder is waited for up to
    `timeout` seconds (polling each second), then `LockTimeout` says so."""

    LEASE_SECONDS = 60
    RENEW_EVERY = 15.0

    def __init__(self, container: ContainerClient, name: str, *, timeout: float, lease_id: str) -> None:
        self.container, self.name, self.timeout = container, name, timeout
        self.blob = container.get_blob_client(name)
        self.lease = BlobLeaseClient(self.blob, lease_id=lease_id)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _create(self) -> None:
        try:
            try:
                self.blob.upload_blob(b"", overwrite=False)
            except ResourceNotFoundError:
                with suppress(ResourceExistsError):
                    self.container.create_container()
                self.blob.upload_blob(b"", overwrite=False)
        except (ResourceExistsError, ResourceModifiedError):
            pass  # exists (leased or not)
        except HttpResponseError as exc:
            if exc.status_code != 412:  # 412: exists and leased
                raise

    def __enter__(self) -> BlobLock:
        where = f"{short_url(self.container.url)}/{self.name}"
        deadline = time.monotonic() + self.timeout
        announced = False
        try:
            while True:
                self._create()
                try:
                    self.lease.acquire(lease_duration=self.LEASE_SECONDS)
                    break
                except ResourceNotFoundError:
                    if time.monotonic() < deadline:
                        continue  # the holder deleted it on release: create it again
                except HttpResponseError as exc:
                    if exc.status_code != 409:  # 409 LeaseAlreadyPresent: someone else holds it
                        raise
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"landing into {where.rsplit('/', 1)[0]} is locked by another writer (lease "
                        f"on {where}) for over {self.timeout:.0f} s; try again when it has finished"
                    )
                if not announced:
                    log.warning("%s is leased by another writer: waiting up to %.0f s", where, self.timeout)
                    announced = True
                time.sleep(1.0)
        except AzureError as exc:
            raise BlobStoreError(
                f"taking the landing lock {where} failed after retries: {failure_reason(exc)}"
            ) from exc
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name=f"lease {self.name}", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.RENEW_EVERY):
            try:
                self.lease.renew()
            except AzureError as exc:
                log.error("could not renew the landing lock %s: %s", self.name, failure_reason(exc))

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            try:
                self.blob.delete_blob(lease=self.lease, retry_total=0)
            except HttpResponseError as exc:
                if exc.status_code == 403:  # no delete permission (e.g. a create/write SAS): release, keep the blob
                    self.lease.release(retry_total=0)
                elif exc.status_code == 412:
                    # Our lease expired (e.g. storage restarted): remove the blob unless someone else leased it.
                    log.warning(
                        "the landing lock %s was lost while held (%s); create-only writes kept the files safe",
                        self.name,
                        failure_reason(exc),
                    )
                    self.blob.delete_blob(retry_total=0)
                else:
                    raise
        except AzureError as exc:
            log.warning(
                "could not release the landing lock %s (%s); it expires within %d s",
                self.name,
                failure_reason(exc),
                self.LEASE_SECONDS,
            )
