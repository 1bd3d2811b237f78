"""Where Capture files are written: the local lake (here) or a Blob container.

A store knows three things: list the files under a prefix, read one, and write one
atomically (a reader never sees half a file; writing a path again replaces it).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Protocol


def write_atomic(target: Path, data: bytes) -> None:
    """Write a file so that readers see all of it or none: a temp file, fsync, rename.
    The dot-prefixed temp name is ignored by Spark's file listing and by list_files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)


class CaptureStore(Protocol):
    """The few operations the lander needs from a file system or a Blob container."""

    def list_files(self, prefix: str) -> list[str]:
        """Paths (relative to the capture root) of the `.avro` files under `prefix`, sorted."""
        ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes) -> None:
        """Write `data` at `path` atomically, replacing what was there."""
        ...

    def describe(self, path: str) -> str:
        """A human-readable location of `path` for logs."""
        ...


class LocalCaptureStore:
    """Capture files in a local folder (the lake's `capture/`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list_files(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*.avro") if not p.name.startswith(".")
        )

    def read_file(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def write_file(self, path: str, data: bytes) -> None:
        write_atomic(self.root / path, data)

    def describe(self, path: str) -> str:
        return str(self.root / path)
