"""Capture files landed into a Blob container so that faults lose nothing.

`BlobCaptureStore` is the `CaptureStore` the lander writes through when the lake
is a Blob container. It composes the parts that each do one thing: the container
store (`BlobContainerStore`: create-only writes with Content-MD5, streamed reads,
the lease per hub in `BlobLock`) and its quarantines (`ContainerQuarantine`,
`LocalQuarantine`); itself it decides where a file that cannot land goes, how
hard to try while storage is gone, and how quarantined files are re-driven.

Faults, in the order they are handled:

1. Transient errors (connection refused or reset, timeouts, 408/429/5xx) are
   retried by azure-core's `RetryPolicy` with exponential backoff, honouring
   `Retry-After`. The settings (`RetrySettings`) are short in tests; the SDK's
   storage defaults would wait well over a minute.
2. A file that still cannot be written goes to quarantine with the reason: to the
   `<container>-quarantine` container when the service answers but refuses, or to
   the local quarantine folder the caller gave (the CLI gives `<lake>/_quarantine`)
   when storage itself is unreachable. Either way it is durable, the lander
   carries on, and `redrive` moves it to its real path later. Without a local
   folder, a file that reaches neither container raises `BlobStoreError`: nothing
   is written to a local disk nobody gave (an Azure Functions instance's is not
   durable).
3. Once a write found storage unreachable after all retries, later writes try
   once (no retries) until one succeeds (`degraded`): a dead account costs one
   retry budget, not one per file.
4. The lander's view of the store includes quarantined files (`list_files`,
   `open_file`), so a later landing resumes after them instead of renumbering
   sequence numbers that a quarantined file already used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from azure.core.exceptions import AzureError
from azure.storage.blob import ContainerClient
from tqdm import tqdm

from lakehouse.ingestion.azure.blob_container import BlobContainerStore, StoreStats
from lakehouse.ingestion.azure.blob_lease import BlobLock
from lakehouse.ingestion.azure.blobs import BlobStoreError, failure_reason, md5_of, unreachable
from lakehouse.ingestion.azure.quarantine import (
    ContainerQuarantine,
    LocalQuarantine,
    Quarantine,
    QuarantinedFile,
    quarantine_container_name,
)
from lakehouse.ingestion.azure.retry import RetryLog, RetrySettings, short_url
from lakehouse.ingestion.capture.store import DEFAULT_LOCK_TIMEOUT, CaptureConflictError

log = logging.getLogger(__name__)


@dataclass
class RedriveReport:
    landed: list[str] = field(default_factory=list)
    already_landed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


class BlobCaptureStore:
    """The container store `landing` with `quarantines`, tried in order for a file that
    cannot land (the first that `takes` the failure and accepts the file keeps it).
    With `quarantine_on_failure` off, a write that fails after retries raises
    `BlobStoreError` instead, while reads still see the quarantined files (a caller
    that retries the whole batch itself, such as the Azure Functions trigger, whose
    host retries until it lands)."""

    def __init__(
        self, landing: BlobContainerStore, quarantines: Sequence[Quarantine] = (), *, quarantine_on_failure: bool = True
    ) -> None:
        self.landing = landing
        self.quarantines = list(quarantines)
        self.quarantine_on_failure = quarantine_on_failure
        self.degraded = False

    @property
    def stats(self) -> StoreStats:
        return self.landing.stats

    @property
    def retry_log(self) -> RetryLog:
        return self.landing.retry_log

    # --- CaptureStore protocol -------------------------------------------------

    def list_files(self, prefix: str) -> list[str]:
        """Capture paths under `prefix`: landed blobs plus quarantined files (which
        will be re-driven to exactly these paths), sorted."""
        names = set(self.landing.list_files(prefix))
        names.update(q.path for q in self.quarantined(prefix))
        return sorted(names)

    @contextmanager
    def open_file(self, path: str) -> Iterator[BinaryIO]:
        """The file at `path`: landed, else quarantined (in the order of `quarantines`)."""
        with ExitStack() as stack:
            sources: list[BlobContainerStore | Quarantine] = [self.landing, *self.quarantines]
            for source in sources:
                try:
                    handle = stack.enter_context(source.open_file(path))
                except FileNotFoundError:
                    continue
                yield handle
                return
        raise FileNotFoundError(self.describe(path))

    def read_file(self, path: str) -> bytes:
        with self.open_file(path) as handle:
            return handle.read()

    def lock(self, prefix: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> BlobLock:
        return self.landing.lock(prefix, timeout)

    def describe(self, path: str) -> str:
        return self.landing.describe(path)

    def write_file(self, path: str, data: bytes) -> None:
        """Create `path` with `data` (the same bytes already there are fine, different
        bytes raise `CaptureConflictError`); quarantine it if storage fails after retries."""
        try:
            self.landing.upload(path, data, once=self.degraded)
        except AzureError as exc:
            if not self.quarantine_on_failure:
                reason = failure_reason(exc)
                raise BlobStoreError(f"writing {self.describe(path)} failed after retries: {reason}") from exc
            if unreachable(exc) and not self.degraded:
                log.error(
                    "storage at %s is unreachable; until a write succeeds, files get one attempt each",
                    short_url(self.landing.url),
                )
                self.degraded = True
            self._quarantine(path, data, exc)
            return
        if self.degraded:
            log.info("storage at %s answers again", short_url(self.landing.url))
            self.degraded = False
        self.stats.add(files_written=1, bytes_written=len(data))

    def _quarantine(self, path: str, data: bytes, error: AzureError) -> None:
        reason = failure_reason(error)
        for quarantine in self.quarantines:
            if not quarantine.takes(error):
                continue
            try:
                where = quarantine.put(path, data, reason)
            except BlobStoreError as exc:
                reason = f"{reason}; {exc}"
                continue
            counter = "quarantined_in_container" if quarantine.where == "container" else "quarantined_locally"
            self.stats.add(**{counter: 1})
            log.error("could not land %s (%s): quarantined %s", path, reason, where)
            return
        raise BlobStoreError(
            f"writing {self.describe(path)} failed after retries: {reason}; "
            "no local quarantine folder was given, so nothing was written"
        ) from error

    # --- landed and quarantined files ----------------------------------------------

    def landed_files(self, prefix: str = "") -> list[str]:
        """Capture paths of the blobs at their real paths under `prefix` (no quarantine)."""
        return self.landing.list_files(prefix)

    def landed_blobs(self, prefix: str = "") -> list[Any]:
        return self.landing.landed_blobs(prefix)

    def quarantined(self, prefix: str = "") -> list[QuarantinedFile]:
        """Files waiting in quarantine (container and local folder) under `prefix`."""
        found = [entry for quarantine in self.quarantines for entry in quarantine.entries(prefix)]
        return sorted(found, key=lambda q: (q.path, q.where))

    def quarantined_locally(self, prefix: str = "") -> list[QuarantinedFile]:
        """Files waiting in the local quarantine folder (readable while storage is down)."""
        return [entry for q in self.quarantines if q.where == "local" for entry in q.entries(prefix)]

    def redrive(self, prefix: str = "", *, progress: bool = False) -> RedriveReport:
        """Move quarantined files to their real paths, then out of quarantine.

        A file whose real path already holds the same bytes only leaves quarantine;
        one whose real path holds different bytes stays and is reported as a
        conflict (never overwritten blindly). Raises `BlobStoreError` if storage
        still fails; whatever was not moved stays in quarantine.
        """
        report = RedriveReport()
        places = {q.where: q for q in self.quarantines}
        for entry in tqdm(self.quarantined(prefix), unit="file", desc="redrive", disable=not progress):
            quarantine = places[entry.where]
            with quarantine.open_file(entry.path) as handle:
                try:
                    landed = self.landing.upload(entry.path, handle, md5=md5_of(handle))
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
            quarantine.drop(entry.path)
        return report


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
    quarantine_on_failure: bool = True,
) -> BlobCaptureStore:
    """A `BlobCaptureStore` whose landing and quarantine clients come from
    `make_client(name, **client_kwargs)` (e.g. `ContainerClient.from_connection_string`
    with the connection string bound), sharing one retry policy configuration and log;
    `quarantine_dir` the local quarantine folder, if any."""
    retry = retry or RetrySettings()
    retry_log = RetryLog()
    landing = make_client(container, **retry.client_kwargs(retry_log))
    quarantines: list[Quarantine] = []
    try:
        client = make_client(quarantine_container_name(container), **retry.client_kwargs(retry_log))
        quarantines.append(ContainerQuarantine(client, landing.container_name))
    except ValueError as exc:  # e.g. a container-scoped SAS cannot reach another container
        log.info("no quarantine container (%s); refused files go to the local quarantine folder, if any", exc)
    if quarantine_dir is not None:
        quarantines.append(LocalQuarantine(quarantine_dir, landing.account_name, landing.container_name))
    return BlobCaptureStore(
        BlobContainerStore(landing, retry_log=retry_log), quarantines, quarantine_on_failure=quarantine_on_failure
    )
