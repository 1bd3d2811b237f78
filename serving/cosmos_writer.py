"""Apply item upserts and deletes to one Cosmos container with N threads.

The SDK already retries 429s (waiting `x-ms-retry-after-ms`) and, with
`retry_write`, timeouts and 5xx without delay. What it lacks is a backoff for an
outage longer than its budget; `TransientRetry` adds that around each operation,
honouring `x-ms-retry-after-ms` when the error carries it. Upserts of whole items
and deletes by id are idempotent, so retrying them is safe; deleting an item that
is already gone counts as done.

At most `concurrency` operations run at once and at most 2 x `concurrency` are
queued, so a large change set streams through without being held as futures.
The first operation that still fails stops the run (`WriteFailed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({408, 429, 449, 500, 502, 503, 504})


@dataclass(frozen=True)
class Upsert:
    item: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    item_id: str
    partition_key: Any


Operation = Upsert | Delete


@dataclass(frozen=True)
class TransientRetry:
    """Our own retries of an operation after the SDK gave up on a transient error."""

    attempts: int = 5
    first_backoff_s: float = 0.5
    max_backoff_s: float = 10.0

    def wait_s(self, attempt: int, error: Exception) -> float:
        headers = getattr(error, "headers", None) or {}
        retry_after_ms = headers.get("x-ms-retry-after-ms")
        if retry_after_ms:
            return float(retry_after_ms) / 1000.0
        return min(self.first_backoff_s * 2 ** (attempt - 1), self.max_backoff_s)


@dataclass
class WriteCounts:
    upserted: int = 0
    deleted: int = 0
    already_absent: int = 0

    @property
    def items(self) -> int:
        return self.upserted + self.deleted + self.already_absent


class WriteFailed(RuntimeError):
    def __init__(self, message: str, counts: WriteCounts) -> None:
        super().__init__(message)
        self.counts = counts


def _is_transient(error: Exception) -> bool:
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from azure.cosmos.exceptions import CosmosHttpResponseError

    if isinstance(error, CosmosHttpResponseError):
        return error.status_code in TRANSIENT_STATUS
    return isinstance(error, ServiceRequestError | ServiceResponseError)


def _apply(container: Any, operation: Operation) -> str:
    from azure.cosmos.exceptions import CosmosResourceNotFoundError

    if isinstance(operation, Upsert):
        container.upsert_item(operation.item, no_response=True)
        return "upserted"
    try:
        container.delete_item(operation.item_id, partition_key=operation.partition_key)
    except CosmosResourceNotFoundError:
        return "already_absent"
    return "deleted"


def _apply_with_retry(container: Any, operation: Operation, retry: TransientRetry,
                      sleep: Callable[[float], None] = time.sleep) -> str:
    for attempt in range(1, retry.attempts + 1):
        try:
            return _apply(container, operation)
        except Exception as error:
            if attempt == retry.attempts or not _is_transient(error):
                raise
            delay = retry.wait_s(attempt, error)
            log.warning("transient Cosmos error (%s), retry %d/%d in %.1f s",
                        getattr(error, "status_code", type(error).__name__), attempt, retry.attempts - 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def write_items(container: Any, operations: Iterable[Operation], *, concurrency: int,
                retry: TransientRetry = TransientRetry()) -> WriteCounts:
    """Apply every operation (order across items is free: each id appears once)."""
    counts = WriteCounts()
    failure: BaseException | None = None

    def collect(done: set[Future[str]]) -> None:
        nonlocal failure
        for future in done:
            error = future.exception()
            if error is not None:
                failure = failure or error
            else:
                outcome = future.result()
                setattr(counts, outcome, getattr(counts, outcome) + 1)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cosmos-write") as pool:
        in_flight: set[Future[str]] = set()
        for operation in operations:
            if failure is not None:
                break
            if len(in_flight) >= 2 * concurrency:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                collect(done)
                if failure is not None:
                    break
            in_flight.add(pool.submit(_apply_with_retry, container, operation, retry))
        done, _ = wait(in_flight)
        collect(done)
    if failure is not None:
        raise WriteFailed(f"Cosmos write failed after {counts.items:,} items: {failure}", counts) from failure
    return counts
