"""The one seam for file operations on a lake outside Spark: a local folder or a Blob
container (ADLS Gen2 accounts serve the Blob API too), by key relative to the lake root.

Chosen library: the Azure SDK's `azure-storage-blob` (already the project's landing
client), not fsspec/adlfs: the seam needs conditional creates (`If-None-Match: *`) and
blob leases for its lock, which adlfs does not expose, and a synchronous client with the
project's short retry policy. Listings are one delimiter listing per folder, as Capture
discovery needs (a few prefix listings per partition and hour).

Operations: `listing` (one level: sub-folders and files with sizes), `walk` (every file
under a prefix), `size`, `read_bytes`, `create` (create-only: a reader never sees part of
a file, an existing key is never replaced), `put` (replace whole, atomically: state
documents), `move`, `delete`, `read_json`/`write_json`, and `lock` (flock locally, a blob
lease on Blob storage; held while the process lives, a crashed holder's lease expires within 15 s).

Names starting with `.` or `_` inside a listing are hidden, as Spark's file listing hides them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.storage.credentials import EMULATOR_ACCOUNT_KEY, StorageCredentials
from lakehouse.storage.location import LakeLocation

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient
    from filelock import FileLock

log = logging.getLogger(__name__)


class StorageError(RuntimeError):
    """The lake's storage could not be reached or refused a request; the message names it."""


class LockBusy(TimeoutError):
    """Another process held a lake lock for longer than the caller would wait."""


@dataclass(frozen=True)
class Listing:
    """One folder's direct children: sub-folder names and file names with sizes (hidden names left out)."""

    folders: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)


def hidden(name: str) -> bool:
    return name.startswith((".", "_"))


class LakeFiles:
    """File operations on one lake (see the module's text). Build with `lake_files()`."""

    location: LakeLocation

    def url(self, key: str) -> str:
        return self.location.url_of(key)

    def describe(self, key: str = "") -> str:
        return self.url(key)

    # The operations; each backend implements them.
    def listing(self, prefix: str) -> Listing:
        raise NotImplementedError

    def walk(self, prefix: str) -> dict[str, int]:
        raise NotImplementedError

    def size(self, key: str) -> int | None:
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def create(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def move(self, source: str, target: str) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def lock(self, key: str, *, timeout: float, what: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def ensure(self) -> None:
        """Create the lake's folder or container when missing."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def read_json(self, key: str) -> Any | None:
        """The JSON document at `key`, None when there is none."""
        try:
            return json.loads(self.read_bytes(key))
        except FileNotFoundError:
            return None

    def write_json(self, key: str, document: Any) -> None:
        """Replace the JSON document at `key` whole (readers see the old or the new one)."""
        self.put(key, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())


class LocalLakeFiles(LakeFiles):
    def __init__(self, location: LakeLocation) -> None:
        self.location = location
        self.root = Path(location.path)

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        key = key.strip("/")
        if any(part in ("..", ".") for part in key.split("/")):
            raise ValueError(f"refusing lake key {key!r}: '.' or '..' segments")
        return self.root / key if key else self.root

    def listing(self, prefix: str) -> Listing:
        folders: list[str] = []
        files: dict[str, int] = {}
        try:
            with os.scandir(self._path(prefix)) as entries:
                for entry in entries:
                    if hidden(entry.name):
                        continue
                    if entry.is_dir():
                        folders.append(entry.name)
                    elif entry.is_file():
                        files[entry.name] = entry.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            pass
        return Listing(sorted(folders), dict(sorted(files.items())))

    def walk(self, prefix: str) -> dict[str, int]:
        base = self._path(prefix)
        found: dict[str, int] = {}
        if not base.is_dir():
            return found
        for folder, dirs, names in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not hidden(d))
            for name in sorted(names):
                if not hidden(name):
                    path = Path(folder) / name
                    found[path.relative_to(self.root).as_posix()] = path.stat().st_size
        return found

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def create(self, key: str, data: bytes) -> None:
        target = self._path(key)
        temp = write_temp_beside(target, data)
        try:
            os.link(temp, target)  # fails if the target exists: create-only
        except FileExistsError:
            raise FileExistsError(f"{target} exists; lake files are created once") from None
        finally:
            temp.unlink(missing_ok=True)
        fsync_dir(target.parent)

    def put(self, key: str, data: bytes) -> None:
        target = self._path(key)
        os.replace(write_temp_beside(target, data), target)
        fsync_dir(target.parent)

    def move(self, source: str, target: str) -> None:
        to = self._path(target)
        to.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path(source), to)
        fsync_dir(to.parent)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @contextmanager
    def lock(self, key: str, *, timeout: float, what: str) -> Iterator[None]:
        from filelock import Timeout

        path = self._path(key)
        lock = local_file_lock(path, timeout)
        try:
            lock.acquire(poll_interval=0.1)
        except Timeout:
            raise LockBusy(
                f"{what} is held by another process ({path}: {lock_holder(path)}); waited {timeout:g} s"
            ) from None
        try:
            yield
        finally:
            lock.release()


def local_file_lock(path: Path, timeout: float) -> FileLock:
    """filelock's `FileLock` (flock) on `path`, not yet acquired (`timeout` s of waiting;
    0: one try). While held, the file says who holds it (`lock_holder`). filelock is
    imported here: the Functions app, which takes no local lock, goes without it."""
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, timeout=timeout, on_acquired=_write_holder)


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)


def lock_holder(path: Path) -> str:
    """Who holds the lock on `path`, as its holder wrote it ("pid N")."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def write_temp_beside(target: Path, data: bytes) -> Path:
    """`data` in a hidden temp file beside `target`, synced to disk (to link or rename into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return temp


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a rename, a link) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobLakeFiles(LakeFiles):
    """A lake in a Blob container, under the location's path (the Blob API of any account,
    ADLS Gen2 with a hierarchical namespace included)."""

    LEASE_SECONDS = 15  # the shortest lease: a killed holder's lock is free within 15 s
    RENEW_EVERY = 5.0

    def __init__(self, location: LakeLocation, container: ContainerClient) -> None:
        self.location = location
        self.container = container

    def ensure(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        # suppress inside _requests: an existing container is fine, not a StorageError
        with self._requests("creating the container"), suppress(ResourceExistsError):
            self.container.create_container()

    def _name(self, key: str) -> str:
        return self.location.blob_name(key)

    def _key(self, name: str) -> str:
        base = self.location.path
        return name[len(base) + 1 :] if base else name

    @property
    def _storage(self) -> str:
        """The container's URL, as the client reaches it (no credentials in it)."""
        return str(self.container.url).split("?", 1)[0]

    def _missing_container(self, doing: str) -> StorageError:
        return StorageError(
            f"the lake's storage {self._storage} failed {doing}: the container {self.location.container} does not "
            "exist (create it, e.g. `az storage container create`, or point the lake elsewhere)"
        )

    @contextmanager
    def _requests(self, doing: str, *, write: bool = False) -> Iterator[None]:
        """Azure errors as StorageError naming the storage; a missing blob (ResourceNotFoundError)
        and an existing one (ResourceExistsError) are left to the caller, but a write into a
        missing container is a StorageError saying so."""
        from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError

        try:
            yield
        except ResourceNotFoundError as exc:
            if write and getattr(exc, "error_code", None) == "ContainerNotFound":
                raise self._missing_container(doing) from exc
            raise
        except ResourceExistsError:
            raise
        except AzureError as exc:
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise StorageError(
                f"the lake's storage {self._storage} failed {doing}: {type(exc).__name__}: {reason}"
            ) from exc

    def listing(self, prefix: str) -> Listing:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import BlobPrefix

        name = self._name(prefix)
        start = f"{name}/" if name else ""
        folders: list[str] = []
        files: dict[str, int] = {}
        with suppress(ResourceNotFoundError), self._requests(f"listing {start or '/'}"):  # no container: empty
            for item in self.container.walk_blobs(name_starts_with=start or None, delimiter="/"):
                child = item.name[len(start) :].rstrip("/")
                if not child or hidden(child):
                    continue
                if isinstance(item, BlobPrefix):
                    folders.append(child)
                else:
                    files[child] = int(item.size)
        return Listing(sorted(folders), dict(sorted(files.items())))

    def walk(self, prefix: str) -> dict[str, int]:
        name = self._name(prefix)
        start = f"{name}/" if name else ""
        found: dict[str, int] = {}
        from azure.core.exceptions import ResourceNotFoundError

        with suppress(ResourceNotFoundError), self._requests(f"listing {start or '/'}"):  # no container: empty
            for blob in self.container.list_blobs(name_starts_with=start or None):
                below = blob.name[len(start) :]
                if not any(hidden(part) for part in below.split("/")):
                    found[self._key(blob.name)] = int(blob.size)
        return dict(sorted(found.items()))

    def size(self, key: str) -> int | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with self._requests(f"reading {self._name(key)}"):
                return int(self.container.get_blob_client(self._name(key)).get_blob_properties().size)
        except ResourceNotFoundError:
            return None

    def read_bytes(self, key: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with self._requests(f"reading {self._name(key)}"):
                return bytes(self.container.download_blob(self._name(key)).readall())
        except ResourceNotFoundError:
            raise FileNotFoundError(self.url(key)) from None

    def create(self, key: str, data: bytes) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            with self._requests(f"writing {self._name(key)}", write=True):
                self.container.upload_blob(self._name(key), data, overwrite=False)
        except ResourceExistsError:
            raise FileExistsError(f"{self.url(key)} exists; lake files are created once") from None

    def put(self, key: str, data: bytes) -> None:
        # One Put Blob: readers see the old blob or the new one, never part of it.
        with self._requests(f"writing {self._name(key)}", write=True):
            self.container.upload_blob(self._name(key), data, overwrite=True)

    def move(self, source: str, target: str) -> None:
        data = self.read_bytes(source)
        self.put(target, data)  # the copy lands whole first; a crash before the delete leaves both
        self.delete(source)

    def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with suppress(ResourceNotFoundError), self._requests(f"deleting {self._name(key)}"):
            self.container.delete_blob(self._name(key))

    @contextmanager
    def lock(self, key: str, *, timeout: float, what: str) -> Iterator[None]:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
        from azure.storage.blob import BlobLeaseClient

        blob = self.container.get_blob_client(self._name(key))
        lease = BlobLeaseClient(blob, lease_id=str(uuid.uuid4()))
        deadline = time.monotonic() + timeout
        doing = f"taking the lease on {self._name(key)}"
        with self._requests(doing):
            while True:
                try:
                    blob.upload_blob(b"", overwrite=False)
                except ResourceNotFoundError as exc:
                    raise self._missing_container(doing) from exc
                except ResourceExistsError:
                    pass  # the lock blob is there (leased or not)
                except HttpResponseError as exc:
                    if exc.status_code not in (409, 412):  # exists / leased
                        raise
                try:
                    lease.acquire(lease_duration=self.LEASE_SECONDS)
                    break
                except ResourceNotFoundError:
                    pass  # deleted between the two requests: create it again
                except HttpResponseError as exc:
                    if exc.status_code != 409:  # 409: leased by someone else
                        raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LockBusy(
                        f"{what} is held by another process (a lease on {self.url(key)}); waited {timeout:g} s"
                    )
                time.sleep(min(1.0, left))
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.RENEW_EVERY):
                try:
                    lease.renew()
                except Exception as exc:  # noqa: BLE001 - logged; the lease expires on its own
                    log.error("could not renew the lease on %s: %s", self.url(key), type(exc).__name__)

        renewer = threading.Thread(target=renew, name=f"lease {key}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                lease.release()
            except Exception as exc:  # noqa: BLE001 - the lease expires within LEASE_SECONDS
                log.warning("could not release the lease on %s (%s)", self.url(key), type(exc).__name__)


def container_client(location: LakeLocation, credentials: StorageCredentials, **kwargs: Any) -> ContainerClient:
    """A Blob client for the lake's container: account key, SAS, service principal, else
    DefaultAzureCredential; the emulator's well-known key for the emulator's account."""
    from azure.storage.blob import ContainerClient

    credential: Any
    if location.is_emulator:
        credential = {"account_name": location.account, "account_key": credentials.account_key or EMULATOR_ACCOUNT_KEY}
    elif credentials.account_key:
        credential = {"account_name": location.account, "account_key": credentials.account_key}
    elif credentials.sas_token:
        credential = credentials.sas_token
    elif credentials.service_principal:
        from azure.identity import ClientSecretCredential

        credential = ClientSecretCredential(credentials.tenant_id, credentials.client_id, credentials.client_secret)  # type: ignore[arg-type]
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    if "retry_policy" not in kwargs:
        # The storage SDK's clients retry with their own policy, which ignores azure-core's
        # retry_backoff_* settings (its default waits 15 s and more before each retry): a short
        # exponential one here, waits of about 0.5 + 2**n s (2.5, 4.5, 8.5 s by default).
        from azure.storage.blob import ExponentialRetry

        total = int(kwargs.pop("retry_total", 3))
        factor = float(kwargs.pop("retry_backoff_factor", 0.5))
        kwargs.pop("retry_backoff_max", None)
        kwargs["retry_policy"] = ExponentialRetry(  # the SDK takes floats, though it types them int
            initial_backoff=factor,  # type: ignore[arg-type]
            increment_base=2,
            retry_total=total,
            random_jitter_range=min(factor, 1.0),  # type: ignore[arg-type]
        )
    kwargs.setdefault("connection_timeout", 5)
    kwargs.setdefault("read_timeout", 30)
    return ContainerClient(location.blob_endpoint, location.container, credential=credential, **kwargs)


def lake_files(
    location: LakeLocation, credentials: StorageCredentials | None = None, **client_kwargs: Any
) -> LakeFiles:
    """The seam for `location`: local files, or the container's blobs."""
    if location.is_local:
        return LocalLakeFiles(location)
    return BlobLakeFiles(location, container_client(location, credentials or StorageCredentials(), **client_kwargs))
