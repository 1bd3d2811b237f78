"""Landed Capture blobs down into a lake's `capture/` folder: streamed, checked
against Content-MD5, written atomically, skipping what is already there."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from lakehouse.ingestion.azure.blob_container import BlobContainerStore
from lakehouse.ingestion.azure.blob_store import BlobCaptureStore
from lakehouse.ingestion.azure.blobs import BlobStoreError, md5_of
from lakehouse.ingestion.azure.retry import HASH_CHUNK_BYTES, short_url
from lakehouse.ingestion.capture.store import UnsafePathError, safe_join

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    downloaded: list[str] = field(default_factory=list)
    skipped: int = 0
    refused: list[str] = field(default_factory=list)  # blob names that would leave the capture folder
    bytes_downloaded: int = 0
    seconds: float = 0.0


def _file_md5(path: Path) -> bytes:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.digest()


def sync_to_lake(
    store: BlobContainerStore | BlobCaptureStore, capture_root: Path, prefix: str = "", *, progress: bool = False
) -> SyncReport:
    """Download the landed Capture blobs under `prefix` into `capture_root` (a lake's
    `capture/` folder), skipping files already there with the same size and MD5.

    Each blob is streamed (ranges of `DOWNLOAD_CHUNK_BYTES`) into a temp file beside
    its target, checked against the blob's Content-MD5 and renamed into place, so
    Spark never reads half a file, memory stays small and an interrupted sync
    simply resumes. A blob whose name would leave `capture_root` (`..`, absolute)
    is refused: logged and listed in `SyncReport.refused`.
    """
    t0 = time.monotonic()
    report = SyncReport()
    if isinstance(store, BlobCaptureStore):
        store = store.landing  # landed files only: quarantined ones are not in the lake yet
    blobs = store.landed_blobs(prefix)
    for blob in tqdm(blobs, unit="file", desc="sync", disable=not progress):
        try:
            target = safe_join(capture_root, blob.name)
        except UnsafePathError as exc:
            log.error("sync: refusing blob %s: %s", store.describe(blob.name), exc)
            report.refused.append(blob.name)
            continue
        remote_md5 = bytes(blob.content_settings.content_md5) if blob.content_settings.content_md5 else None
        if (
            target.exists()
            and target.stat().st_size == blob.size
            and remote_md5 is not None
            and _file_md5(target) == remote_md5
        ):
            report.skipped += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temp, "w+b") as handle:
                size = store.download_into(blob.name, handle)
                digest = md5_of(handle)
                if remote_md5 is not None and digest != remote_md5:
                    raise BlobStoreError(
                        f"{store.describe(blob.name)}: downloaded bytes do not match the blob's Content-MD5"
                    )
                if remote_md5 is None and target.exists() and _file_md5(target) == digest:
                    report.skipped += 1
                    continue
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        report.downloaded.append(blob.name)
        report.bytes_downloaded += size
    report.seconds = time.monotonic() - t0
    log.info(
        "sync: %d files downloaded (%d bytes), %d already present, %d refused, from %s/%s to %s",
        len(report.downloaded),
        report.bytes_downloaded,
        report.skipped,
        len(report.refused),
        short_url(store.url),
        prefix,
        capture_root,
    )
    return report
