"""Where a Capture file goes when it cannot be written to its real path, and where
`redrive` finds it again: a `Quarantine` and its two places.

- `ContainerQuarantine`: the `<container>-quarantine` container (blob metadata:
  reason, time, target container), for files the service answered but refused.
- `LocalQuarantine`: a local folder (the file plus a JSON sidecar; the CLI gives
  `<lake>/_quarantine`), for files written while storage is unreachable.

A quarantine that cannot take a file raises `BlobStoreError` (the next one is
tried); both are create-only, like the landing itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, cast

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from lakehouse.ingestion.azure.blobs import (
    BlobStoreError,
    create_blob,
    download_into,
    failure_reason,
    unreachable,
)
from lakehouse.ingestion.azure.retry import short_url
from lakehouse.ingestion.capture.store import CaptureConflictError, UnsafePathError, safe_join, write_atomic, write_new

log = logging.getLogger(__name__)
QUARANTINE_SUFFIX = "-quarantine"
SIDECAR_SUFFIX = ".quarantine.json"
Where = Literal["container", "local"]


@dataclass(frozen=True)
class QuarantinedFile:
    """A Capture file that could not be written to its real path."""

    path: str  # the Capture path it belongs at
    reason: str
    quarantined_at: str
    where: Where
    container: str  # the landing container it belongs to


class Quarantine(Protocol):
    """A place for the files of one landing container that could not land."""

    where: Where

    def takes(self, error: BaseException) -> bool:
        """Whether a file whose write failed with `error` belongs here."""
        ...

    def put(self, path: str, data: bytes, reason: str) -> str:
        """Keep `data` for `path` with `reason`; returns where it went (for the log).
        Raises `BlobStoreError` if this quarantine cannot take it."""
        ...

    def entries(self, prefix: str = "") -> list[QuarantinedFile]:
        """The files waiting here under `prefix`."""
        ...

    def open_file(self, path: str) -> AbstractContextManager[BinaryIO]:
        """The file kept for `path`, open for reading; `FileNotFoundError` if there is none."""
        ...

    def drop(self, path: str) -> None:
        """Remove the file kept for `path` (it has landed)."""
        ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _ascii(text: str, limit: int = 1024) -> str:
    """Blob metadata values travel as HTTP headers: ASCII, one line."""
    return " ".join(text.encode("ascii", "replace").decode().split())[:limit]


class ContainerQuarantine:
    """The quarantine container (`quarantine_container_name`) of the landing container
    `target`: refused files, with the reason in their metadata. Storage that does not
    answer at all is not asked again here (`takes`)."""

    where: Where = "container"

    def __init__(self, container: ContainerClient, target: str) -> None:
        self.container, self.target = container, target

    def takes(self, error: BaseException) -> bool:
        return not unreachable(error)

    def put(self, path: str, data: bytes, reason: str) -> str:
        metadata = {"reason": _ascii(reason), "quarantined_at": _now(), "target_container": self.target}
        try:
            create_blob(self.container, path, data, metadata)
        except (AzureError, CaptureConflictError) as exc:
            raise BlobStoreError(f"quarantine container also failed: {failure_reason(exc)}") from exc
        return f"in container {self.container.container_name}"

    def entries(self, prefix: str = "") -> list[QuarantinedFile]:
        try:
            blobs = list(self.container.list_blobs(name_starts_with=prefix or None, include=["metadata"]))
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise BlobStoreError(
                f"listing quarantine {short_url(self.container.url)} failed: {failure_reason(exc)}"
            ) from exc
        found = []
        for blob in blobs:
            meta = blob.metadata or {}
            if meta.get("target_container", self.target) == self.target:
                found.append(
                    QuarantinedFile(
                        blob.name, meta.get("reason", ""), meta.get("quarantined_at", ""), self.where, self.target
                    )
                )
        return found

    @contextmanager
    def open_file(self, path: str) -> Iterator[BinaryIO]:
        """Downloaded in chunks into a temporary file, removed after the block."""
        with tempfile.TemporaryFile() as spool:
            try:
                download_into(self.container, path, spool)
            except ResourceNotFoundError:
                raise FileNotFoundError(f"{short_url(self.container.url)}/{path}") from None
            except AzureError as exc:
                raise BlobStoreError(
                    f"reading quarantined {short_url(self.container.url)}/{path} failed after retries: "
                    f"{failure_reason(exc)}"
                ) from exc
            spool.seek(0)
            yield cast(BinaryIO, spool)

    def drop(self, path: str) -> None:
        self.container.delete_blob(path)


class LocalQuarantine:
    """The folder `root/<account>/<container>/` for the files of landing container
    `container` on `account`: each file at its Capture path, with a JSON sidecar
    (reason, time, size, MD5). Takes any file; refuses paths that would leave it."""

    where: Where = "local"

    def __init__(self, root: Path, account: str | None, container: str) -> None:
        self.account, self.container = account, container
        self.folder = root.resolve() / (account or "account") / container

    def takes(self, error: BaseException) -> bool:
        return True

    def _path(self, path: str) -> Path:
        return safe_join(self.folder, path)

    @staticmethod
    def _sidecar(local: Path) -> Path:
        return local.with_name(local.name + SIDECAR_SUFFIX)

    def put(self, path: str, data: bytes, reason: str) -> str:
        target = self._path(path)
        write_new(target, data)
        sidecar = {
            "path": path,
            "reason": reason,
            "quarantined_at": _now(),
            "container": self.container,
            "account": self.account,
            "size": len(data),
            "md5_b64": base64.b64encode(hashlib.md5(data).digest()).decode(),
        }
        write_atomic(self._sidecar(target), json.dumps(sidecar, indent=1).encode())
        return f"locally at {target}"

    def entries(self, prefix: str = "") -> list[QuarantinedFile]:
        """Readable while storage is down; a sidecar naming a path elsewhere is ignored."""
        found: list[QuarantinedFile] = []
        if not self.folder.exists():
            return found
        for sidecar in sorted(self.folder.rglob("*" + SIDECAR_SUFFIX)):
            info = json.loads(sidecar.read_text())
            try:
                where = self._path(info["path"])
            except UnsafePathError as exc:
                log.error("ignoring quarantine sidecar %s: %s", sidecar, exc)
                continue
            if self._sidecar(where) != sidecar:
                log.error("ignoring quarantine sidecar %s: it names %r, which belongs elsewhere", sidecar, info["path"])
                continue
            if info["path"].startswith(prefix):
                found.append(
                    QuarantinedFile(info["path"], info["reason"], info["quarantined_at"], self.where, info["container"])
                )
        return found

    def open_file(self, path: str) -> AbstractContextManager[BinaryIO]:
        local = self._path(path)
        if not self._sidecar(local).exists():
            raise FileNotFoundError(str(local))
        return open(local, "rb")

    def drop(self, path: str) -> None:
        local = self._path(path)
        self._sidecar(local).unlink()  # sidecar first: no half entries
        local.unlink(missing_ok=True)


def quarantine_container_name(container: str) -> str:
    name = container + QUARANTINE_SUFFIX
    if len(name) > 63:
        raise ValueError(f"container name {container!r} is too long to add {QUARANTINE_SUFFIX!r} (max 63)")
    return name
