"""Where Capture files are written: the local lake (here) or a Blob container.

A store knows a few things: list the files under a prefix, open one for reading
(streamed, never the whole file in memory), create one, and lock a hub against
other writers.

Files are create-only: a reader never sees half a file, and a path that exists
is never replaced with different bytes (`CaptureConflictError`); writing the
same bytes again is a no-op, so retries and re-runs stay idempotent.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from lakehouse.storage.files import fsync_dir as _fsync_dir
from lakehouse.storage.files import local_file_lock, lock_holder, write_temp_beside

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"  # hidden: Spark's file listing and `*.avro` globs skip it
DEFAULT_LOCK_TIMEOUT = 600.0


class CaptureConflictError(RuntimeError):
    """A Capture path already holds different bytes; Capture files are never replaced."""


class LockTimeout(TimeoutError):
    """Another writer held the lock for longer than we were willing to wait."""


class UnsafePathError(ValueError):
    """A relative path (blob name, sidecar entry) would leave its target folder."""


def safe_join(base: Path, relative: str) -> Path:
    """`base / relative`, refusing absolute paths and `..` that leave `base`."""
    if not relative or relative.startswith(("/", "\\")) or "\\" in relative or "\x00" in relative:
        raise UnsafePathError(f"refusing path {relative!r}: not a plain relative path")
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(f"refusing path {relative!r}: empty, '.' or '..' segments would leave {base}")
    return base.joinpath(*parts)


def _temp_beside(target: Path) -> Path:
    """A dot-prefixed temp name beside `target` (ignored by Spark and by list_files)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


def same_content(path: Path, data: bytes) -> bool:
    """Whether the file at `path` holds exactly `data` (compared in chunks)."""
    if path.stat().st_size != len(data):
        return False
    view = memoryview(data)
    with open(path, "rb") as handle:
        position = 0
        while chunk := handle.read(1 << 20):
            if chunk != view[position : position + len(chunk)]:
                return False
            position += len(chunk)
    return True


def write_atomic(target: Path, data: bytes) -> None:
    """Write a file so that readers see all of it or none: a temp file, fsync, rename.
    Replaces what was there (for copies of a source of truth, e.g. `sync`)."""
    os.replace(write_temp_beside(target, data), target)


def write_new(target: Path, data: bytes) -> bool:
    """Create `target` with `data`: a temp file, fsync, then a hard link, which fails
    if the target exists (O_EXCL semantics) - readers still see all or nothing.

    Returns True if written, False if the same bytes were already there; raises
    `CaptureConflictError` if different bytes are (the file is left alone)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_beside(target)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, target)
        except FileExistsError:
            if same_content(target, data):
                return False
            raise CaptureConflictError(
                f"{target} already exists with different bytes ({target.stat().st_size} on disk, {len(data)} new); "
                "Capture files are never replaced"
            ) from None
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    return True


@contextmanager
def file_lock(path: Path, *, timeout: float = DEFAULT_LOCK_TIMEOUT, what: str = "") -> Iterator[None]:
    """Hold filelock's `FileLock` (flock) on `path` for the block.

    Another holder is waited for up to `timeout` seconds, then `LockTimeout` names
    the path and the holder's pid. The lock file is removed on release (still
    held), so nothing lingers beside the data; a waiter that then locks the removed
    file sees it unlinked and locks the new one (filelock checks)."""
    from filelock import Timeout

    lock = local_file_lock(path, timeout)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning(
            "%s is locked by another writer (%s): waiting up to %.0f s", what or path, lock_holder(path), timeout
        )
        try:
            lock.acquire(poll_interval=0.05)
        except Timeout:
            raise LockTimeout(
                f"{what or path} is locked by another writer ({lock_holder(path)}) for over "
                f"{timeout:.0f} s; try again when it has finished (lock file {path})"
            ) from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        lock.release()


class CaptureStore(Protocol):
    """The few operations the lander needs from a file system or a Blob container."""

    def list_files(self, prefix: str) -> list[str]:
        """Paths (relative to the capture root) of the `.avro` files under `prefix`, sorted."""
        ...

    def open_file(self, path: str) -> AbstractContextManager[BinaryIO]:
        """The file at `path` as a readable binary file (streamed, not loaded whole)."""
        ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes) -> None:
        """Create `path` with `data` atomically. The same bytes again are a no-op;
        different bytes raise `CaptureConflictError`."""
        ...

    def lock(self, prefix: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> AbstractContextManager[object]:
        """Exclusive access to the files under `prefix` (one hub) against other
        writers; waits up to `timeout` s, then raises `LockTimeout`."""
        ...

    def describe(self, path: str) -> str:
        """A human-readable location of `path` for logs."""
        ...


class FolderCaptureStore:
    """The Capture files of `store` under `folder/`, as a store of their own: the capture
    root inside a container that holds more (the lake's `capture/` in Azure's `lake`)."""

    def __init__(self, store: CaptureStore, folder: str) -> None:
        self.store = store
        self.folder = folder.strip("/") + "/"

    def list_files(self, prefix: str) -> list[str]:
        return [path.removeprefix(self.folder) for path in self.store.list_files(self.folder + prefix)]

    def open_file(self, path: str) -> AbstractContextManager[BinaryIO]:
        return self.store.open_file(self.folder + path)

    def read_file(self, path: str) -> bytes:
        return self.store.read_file(self.folder + path)

    def write_file(self, path: str, data: bytes) -> None:
        self.store.write_file(self.folder + path, data)

    def lock(self, prefix: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> AbstractContextManager[object]:
        return self.store.lock(self.folder + prefix, timeout)

    def describe(self, path: str) -> str:
        return self.store.describe(self.folder + path)


class LocalCaptureStore:
    """Capture files in a local folder (the lake's `capture/`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list_files(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*.avro") if not p.name.startswith("."))

    @contextmanager
    def open_file(self, path: str) -> Iterator[BinaryIO]:
        with open(safe_join(self.root, path), "rb") as handle:
            yield handle

    def read_file(self, path: str) -> bytes:
        return safe_join(self.root, path).read_bytes()

    def write_file(self, path: str, data: bytes) -> None:
        write_new(safe_join(self.root, path), data)

    def lock(self, prefix: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> AbstractContextManager[None]:
        """A file lock on `<root>/<prefix>/.lock` (removed again on release)."""
        return file_lock(
            safe_join(self.root, f"{prefix.strip('/')}/{LOCK_NAME}"),
            timeout=timeout,
            what=f"landing into {self.root / prefix.strip('/')}",
        )

    def describe(self, path: str) -> str:
        return str(self.root / path)
