"""Capture files in Azure Blob storage / ADLS Gen2, landed so that faults lose nothing.

`BlobCaptureStore` is the `CaptureStore` the lander writes through when the lake is
a Blob container: blob names are the Capture paths, writes are create-only
(`If-None-Match: *`: the same bytes again are a no-op, different bytes raise
`CaptureConflictError`), and every blob carries its content MD5 so `sync_to_lake`
can skip what a laptop already has. Blobs are read streamed (a temp file or
chunks), never whole into memory; a lease on `<namespace>/<hub>/.lock` keeps two
landings of one hub apart.

Faults, in the order they are handled:

1. Transient errors (connection refused or reset, timeouts, 408/429/5xx) are
   retried by azure-core's `RetryPolicy` with exponential backoff, honouring
   `Retry-After`. The settings (`RetrySettings`) are short in tests; the SDK's
   storage defaults would wait well over a minute.
2. A file that still cannot be written goes to quarantine with the reason: to the
   `<container>-quarantine` container (blob metadata: reason, time, target) when
   the service answers but refuses, or to the local quarantine folder the caller
   gave (the file plus a JSON sidecar; the CLI gives `<lake>/_quarantine`) when
   storage itself is unreachable. Either way it is durable, the lander carries on,
   and `redrive` moves it to its real path later. Without a local folder, a file
   that reaches neither container raises `BlobStoreError`: nothing is written to
   a local disk nobody gave (an Azure Functions instance's is not durable).
3. The lander's view of the store includes quarantined files (`list_files`,
   `read_file`), so a later landing resumes after them instead of renumbering
   sequence numbers that a quarantined file already used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, cast

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobLeaseClient, ContainerClient, ContentSettings
from tqdm import tqdm

from lakehouse.ingestion.azure.redaction import redact
from lakehouse.ingestion.azure.retry import (
    HASH_CHUNK_BYTES,
    RetryLog,
    RetrySettings,
    short_url,
)
from lakehouse.ingestion.capture.store import (
    DEFAULT_LOCK_TIMEOUT,
    LOCK_NAME,
    CaptureConflictError,
    LockTimeout,
    UnsafePathError,
    safe_join,
    write_atomic,
    write_new,
)

log = logging.getLogger(__name__)
QUARANTINE_SUFFIX = "-quarantine"
SIDECAR_SUFFIX = ".quarantine.json"
CAPTURE_CONTENT_TYPE = "avro/binary"


class BlobStoreError(RuntimeError):
    """Blob storage could not be reached or refused an operation after all retries."""


# --------------------------------------------------------------------------- store


@dataclass
class StoreStats:
    files_written: int = 0
    bytes_written: int = 0
    quarantined_in_container: int = 0
    quarantined_locally: int = 0


@dataclass(frozen=True)
class QuarantinedFile:
    """A Capture file that could not be written to its real path."""

    path: str  # the Capture path it belongs at
    reason: str
    quarantined_at: str
    where: Literal["container", "local"]
    container: str  # the landing container it belongs to


@dataclass
class RedriveReport:
    landed: list[str] = field(default_factory=list)
    already_landed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def failure_reason(exc: BaseException) -> str:
    """One line about what failed, for logs, errors and quarantine records: no secrets."""
    if isinstance(exc, HttpResponseError) and exc.status_code:
        code = getattr(exc, "error_code", None) or ""
        return redact(f"HTTP {exc.status_code} {code}: {exc.reason or ''}".strip())
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return redact(f"{type(exc).__name__}: {first_line}")[:500]


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


def _ascii(text: str, limit: int = 1024) -> str:
    """Blob metadata values travel as HTTP headers: ASCII, one line."""
    return " ".join(text.encode("ascii", "replace").decode().split())[:limit]


def _unreachable(exc: BaseException) -> bool:
    """The service did not answer at all (as opposed to answering with an error)."""
    return isinstance(exc, (ServiceRequestError, ServiceResponseError))


class BlobCaptureStore:
    """A `CaptureStore` on a Blob container, with quarantine for files that cannot land.

    `landing` is the container the Capture files belong in; `quarantine` the
    container for refused files (default `<landing>-quarantine` on the same
    account, `None` to use only the local folder); `local_quarantine` the folder
    for files written while storage is unreachable (`None`: no local folder, such a
    file raises `BlobStoreError`). Containers are created on the first write that
    needs them. With `quarantine_on_failure` off, a write that fails after retries
    raises `BlobStoreError` instead (a caller that retries the whole batch itself,
    such as the Azure Functions trigger, whose host retries until it lands).
    """

    def __init__(
        self,
        landing: ContainerClient,
        *,
        quarantine: ContainerClient | None = None,
        local_quarantine: Path | None = None,
        retry_log: RetryLog | None = None,
        quarantine_on_failure: bool = True,
    ) -> None:
        self.landing = landing
        self.quarantine_on_failure = quarantine_on_failure
        self.quarantine = quarantine
        self.local_quarantine_root = local_quarantine.resolve() if local_quarantine is not None else None
        self.retry_log = retry_log if retry_log is not None else RetryLog()
        self.stats = StoreStats()
        self._lock = threading.Lock()
        # Set when a write found storage unreachable after all retries: later writes
        # try once (no retries) until one succeeds, so a dead account costs one
        # retry budget, not one per file.
        self.degraded = False
        # This store's leases use one id: a landing that could not release its lease
        # (storage went away) takes it straight back on the next run.
        self._lease_id = str(uuid.uuid4())

    # --- CaptureStore protocol -------------------------------------------------

    def list_files(self, prefix: str) -> list[str]:
        """Capture paths under `prefix`: landed blobs plus quarantined files (which
        will be re-driven to exactly these paths), sorted."""
        names = set(self.landed_files(prefix))
        names.update(q.path for q in self.quarantined(prefix))
        return sorted(names)

    @contextmanager
    def open_file(self, path: str) -> Iterator[BinaryIO]:
        """The file at `path` (landing container, else quarantine) downloaded in chunks
        into a temporary file, open for reading; removed after the block."""
        local = self._local_path(path) if self.local_quarantine_root is not None else None
        with tempfile.TemporaryFile() as spool:
            for container, what in ((self.landing, ""), (self.quarantine, "quarantined ")):
                if container is None:
                    continue
                try:
                    download_into(container, path, spool)
                except ResourceNotFoundError:
                    spool.seek(0)
                    spool.truncate()
                    continue
                except AzureError as exc:
                    raise BlobStoreError(
                        f"reading {what}{self.describe(path)} failed after retries: {failure_reason(exc)}"
                    ) from exc
                spool.seek(0)
                yield cast(BinaryIO, spool)
                return
            if local is None or not local.with_name(local.name + SIDECAR_SUFFIX).exists():
                raise FileNotFoundError(self.describe(path))
        with open(local, "rb") as handle:
            yield handle

    def read_file(self, path: str) -> bytes:
        """The file at `path`, from the landing container, else from quarantine (whole:
        for small files; the lander streams with `open_file`)."""
        with self.open_file(path) as handle:
            return handle.read()

    def lock(self, prefix: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> BlobLock:
        """A lease on the blob `<prefix>/.lock` of the landing container (see `BlobLock`)."""
        return BlobLock(self.landing, f"{prefix.strip('/')}/{LOCK_NAME}", timeout=timeout, lease_id=self._lease_id)

    def write_file(self, path: str, data: bytes) -> None:
        """Create `path` with `data` (`If-None-Match: *`); the same bytes already there
        are fine, different bytes raise `CaptureConflictError`; quarantine it if
        storage fails after retries."""
        try:
            options: dict[str, Any] = {"retry_total": 0} if self.degraded else {}
            self._upload(self.landing, path, data, **options)
        except AzureError as exc:
            if not self.quarantine_on_failure:
                reason = failure_reason(exc)
                raise BlobStoreError(f"writing {self.describe(path)} failed after retries: {reason}") from exc
            if _unreachable(exc) and not self.degraded:
                log.error(
                    "storage at %s is unreachable; until a write succeeds, files get one attempt each",
                    short_url(self.landing.url),
                )
                self.degraded = True
            self._quarantine_file(path, data, exc)
            return
        if self.degraded:
            log.info("storage at %s answers again", short_url(self.landing.url))
            self.degraded = False
        with self._lock:
            self.stats.files_written += 1
            self.stats.bytes_written += len(data)

    def describe(self, path: str) -> str:
        return f"{short_url(self.landing.url)}/{path}"

    # --- landed files -------------------------------------------------------------

    def landed_files(self, prefix: str = "") -> list[str]:
        """Capture paths of the blobs at their real paths under `prefix` (no quarantine)."""
        return [b.name for b in self.landed_blobs(prefix)]

    def landed_blobs(self, prefix: str = "") -> list[Any]:
        """`BlobProperties` (name, size, content MD5...) of the landed Capture blobs under `prefix`."""
        return self._list(self.landing, prefix)

    def _list(self, container: ContainerClient, prefix: str) -> list[Any]:
        try:
            return sorted(
                (b for b in container.list_blobs(name_starts_with=prefix or None) if b.name.endswith(".avro")),
                key=lambda b: b.name,
            )
        except ResourceNotFoundError:
            return []  # the container does not exist yet: nothing landed
        except AzureError as exc:
            raise BlobStoreError(
                f"listing {short_url(container.url)}/{prefix} failed after retries: {failure_reason(exc)}"
            ) from exc

    def _upload(
        self,
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
        `CaptureConflictError` if it holds different bytes."""
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
            existing = self._blob_md5(container, path)
            if existing == md5:
                return False
            raise CaptureConflictError(
                f"{short_url(container.url)}/{path} already exists with different bytes; "
                "Capture files are never replaced"
            ) from None
        return True

    @staticmethod
    def _blob_md5(container: ContainerClient, path: str) -> bytes | None:
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

    # --- quarantine -----------------------------------------------------------------

    def _quarantine_file(self, path: str, data: bytes, error: BaseException) -> None:
        reason = failure_reason(error)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        if self.quarantine is not None and not _unreachable(error):
            metadata = {
                "reason": _ascii(reason),
                "quarantined_at": now,
                "target_container": self.landing.container_name,
            }
            try:
                self._upload(self.quarantine, path, data, metadata)
                with self._lock:
                    self.stats.quarantined_in_container += 1
                log.error(
                    "could not land %s (%s): quarantined in container %s", path, reason, self.quarantine.container_name
                )
                return
            except (AzureError, CaptureConflictError) as exc:
                reason = f"{reason}; quarantine container also failed: {failure_reason(exc)}"
        if self.local_quarantine_root is None:
            raise BlobStoreError(
                f"writing {self.describe(path)} failed after retries: {reason}; "
                "no local quarantine folder was given, so nothing was written"
            ) from error
        target = self._local_path(path)
        write_new(target, data)
        sidecar = {
            "path": path,
            "reason": reason,
            "quarantined_at": now,
            "container": self.landing.container_name,
            "account": self.landing.account_name,
            "size": len(data),
            "md5_b64": base64.b64encode(hashlib.md5(data).digest()).decode(),
        }
        write_atomic(target.with_name(target.name + SIDECAR_SUFFIX), json.dumps(sidecar, indent=1).encode())
        with self._lock:
            self.stats.quarantined_locally += 1
        log.error("could not land %s (%s): quarantined locally at %s", path, reason, target)

    def _local_dir(self) -> Path:
        if self.local_quarantine_root is None:
            raise BlobStoreError("this store has no local quarantine folder")
        return self.local_quarantine_root / (self.landing.account_name or "account") / self.landing.container_name

    def _local_path(self, path: str) -> Path:
        """Where `path` is quarantined locally; refuses paths that would leave the folder."""
        return safe_join(self._local_dir(), path)

    def quarantined(self, prefix: str = "") -> list[QuarantinedFile]:
        """Files waiting in quarantine (container and local folder) under `prefix`."""
        found: list[QuarantinedFile] = []
        if self.quarantine is not None:
            try:
                blobs = list(self.quarantine.list_blobs(name_starts_with=prefix or None, include=["metadata"]))
            except ResourceNotFoundError:
                blobs = []
            except AzureError as exc:
                raise BlobStoreError(
                    f"listing quarantine {short_url(self.quarantine.url)} failed: {failure_reason(exc)}"
                ) from exc
            for blob in blobs:
                meta = blob.metadata or {}
                if meta.get("target_container", self.landing.container_name) == self.landing.container_name:
                    found.append(
                        QuarantinedFile(
                            blob.name,
                            meta.get("reason", ""),
                            meta.get("quarantined_at", ""),
                            "container",
                            self.landing.container_name,
                        )
                    )
        found.extend(self.quarantined_locally(prefix))
        return sorted(found, key=lambda q: (q.path, q.where))

    def quarantined_locally(self, prefix: str = "") -> list[QuarantinedFile]:
        """Files waiting in the local quarantine folder (readable while storage is down)."""
        found: list[QuarantinedFile] = []
        if self.local_quarantine_root is None:
            return found
        base = self._local_dir()
        if base.exists():
            for sidecar in sorted(base.rglob("*" + SIDECAR_SUFFIX)):
                info = json.loads(sidecar.read_text())
                try:
                    where = self._local_path(info["path"])
                except UnsafePathError as exc:
                    log.error("ignoring quarantine sidecar %s: %s", sidecar, exc)
                    continue
                if where.with_name(where.name + SIDECAR_SUFFIX) != sidecar:
                    log.error(
                        "ignoring quarantine sidecar %s: it names %r, which belongs elsewhere", sidecar, info["path"]
                    )
                    continue
                if info["path"].startswith(prefix):
                    found.append(
                        QuarantinedFile(
                            info["path"], info["reason"], info["quarantined_at"], "local", info["container"]
                        )
                    )
        return found

    def redrive(self, prefix: str = "", *, progress: bool = False) -> RedriveReport:
        """Move quarantined files to their real paths, then out of quarantine.

        A file whose real path already holds the same bytes only leaves quarantine;
        one whose real path holds different bytes stays and is reported as a
        conflict (never overwritten blindly). Raises `BlobStoreError` if storage
        still fails; whatever was not moved stays in quarantine.
        """
        report = RedriveReport()
        entries = self.quarantined(prefix)
        for entry in tqdm(entries, unit="file", desc="redrive", disable=not progress):
            with self._open_quarantined(entry) as handle:
                digest = md5_of(handle)
                try:
                    landed = self._upload(self.landing, entry.path, handle, md5=digest)
                except CaptureConflictError:
                    log.error(
                        "redrive %s: the landed file differs from the quarantined one; left in quarantine", entry.path
                    )
                    report.conflicts.append(entry.path)
                    continue
                except AzureError as exc:
                    raise BlobStoreError(
                        f"redrive of {entry.path} failed after retries: {failure_reason(exc)}"
                    ) from exc
            if landed:
                report.landed.append(entry.path)
                log.info("redrive %s: landed at %s", entry.path, self.describe(entry.path))
            else:
                report.already_landed.append(entry.path)
                log.info("redrive %s: already landed with the same bytes", entry.path)
            self._drop_quarantined(entry)
        return report

    @contextmanager
    def _open_quarantined(self, entry: QuarantinedFile) -> Iterator[BinaryIO]:
        if entry.where == "local":
            with open(self._local_path(entry.path), "rb") as handle:
                yield handle
            return
        assert self.quarantine is not None
        with tempfile.TemporaryFile() as spool:
            try:
                download_into(self.quarantine, entry.path, spool)
            except AzureError as exc:
                raise BlobStoreError(
                    f"reading quarantined {entry.path} failed after retries: {failure_reason(exc)}"
                ) from exc
            spool.seek(0)
            yield cast(BinaryIO, spool)

    def _drop_quarantined(self, entry: QuarantinedFile) -> None:
        if entry.where == "container":
            assert self.quarantine is not None
            self.quarantine.delete_blob(entry.path)
        else:
            local = self._local_path(entry.path)
            local.with_name(local.name + SIDECAR_SUFFIX).unlink()  # sidecar first: no half entries
            local.unlink(missing_ok=True)


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


def quarantine_container_name(container: str) -> str:
    name = container + QUARANTINE_SUFFIX
    if len(name) > 63:
        raise ValueError(f"container name {container!r} is too long to add {QUARANTINE_SUFFIX!r} (max 63)")
    return name


def blob_capture_store_from_env(
    container: str,
    *,
    quarantine_dir: Path | None = None,
    env: Mapping[str, str],
    **retry_settings: Any,
) -> BlobCaptureStore:
    """A `BlobCaptureStore` for `container` with the credentials the environment `env` names.

    `quarantine_dir` is the local quarantine folder (none by default: see
    `BlobCaptureStore`). `retry_settings` are `RetrySettings` fields (retry_total, retry_backoff_factor,
    retry_backoff_max, connection_timeout, read_timeout). Raises `AzureConfigError`
    saying what to set when no storage is configured. No request is made here.
    """
    from lakehouse.ingestion.azure.auth import container_client

    return blob_capture_store(
        lambda name, **kw: container_client(name, env, **kw),
        container,
        RetrySettings(**retry_settings),
        quarantine_dir=quarantine_dir,
    )


def blob_capture_store(
    make_client: Callable[..., ContainerClient],
    container: str,
    retry: RetrySettings | None = None,
    *,
    quarantine_dir: Path | None = None,
) -> BlobCaptureStore:
    """A `BlobCaptureStore` whose landing and quarantine clients come from
    `make_client(name, **client_kwargs)` (e.g. `ContainerClient.from_connection_string`
    with the connection string bound), sharing one retry policy configuration and log;
    `quarantine_dir` the local quarantine folder, if any."""
    retry = retry or RetrySettings()
    retry_log = RetryLog()
    landing = make_client(container, **retry.client_kwargs(retry_log))
    quarantine = None
    try:
        quarantine = make_client(quarantine_container_name(container), **retry.client_kwargs(retry_log))
    except ValueError as exc:  # e.g. a container-scoped SAS cannot reach another container
        log.info("no quarantine container (%s); refused files go to the local quarantine folder, if any", exc)
    return BlobCaptureStore(landing, quarantine=quarantine, local_quarantine=quarantine_dir, retry_log=retry_log)
