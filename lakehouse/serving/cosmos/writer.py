"""Apply item upserts and deletes to one Cosmos container with N threads.

The SDK already retries 429s (waiting `x-ms-retry-after-ms`) and, with
`retry_write`, timeouts and 5xx without delay. What it lacks is a backoff for an
outage longer than its budget; `TransientRetry` adds that around each operation,
honouring `x-ms-retry-after-ms` when the error carries it. Upserts of whole items
and deletes by id are idempotent, so retrying them is safe; deleting an item that
is already gone counts as done.

At most `concurrency` operations run at once and at most 2 x `concurrency` are
queued, so a large change set streams through without being held as futures.

An item the service refuses for what it is (400 bad request, 409 conflict with a
unique key, 413 too large), or whose id breaks Cosmos DB's id rule (checked
before sending, no round trip), is `Rejected`: handed to the `rejected` callback
(the sync dead-letters it) and the others go on. Every other failure - auth
(401/403), a missing container (404), anything transient that outlasted the
retries - concerns the whole run, not one item, and stops it (`WriteFailed`).
Without a `rejected` callback a rejection stops the run too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from lakehouse.serving.cosmos.items import id_problem

log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({408, 429, 449, 500, 502, 503, 504})
ITEM_REJECTED_STATUS = frozenset({400, 409, 413})  # this item can never be written as it is


@dataclass(frozen=True)
class Upsert:
    item: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    item_id: str
    partition_key: Any


Operation = Upsert | Delete


def operation_id(operation: Operation) -> str:
    return str(operation.item.get("id", "")) if isinstance(operation, Upsert) else operation.item_id


@dataclass(frozen=True)
class Rejected:
    """An operation set aside: `status` is the service's answer, None when refused before sending."""

    operation: Operation
    status: int | None
    reason: str


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
    rejected: int = 0  # set aside (dead-lettered), not written

    @property
    def items(self) -> int:
        return self.upserted + self.deleted + self.already_absent

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.upserted + other.upserted,
            self.deleted + other.deleted,
            self.already_absent + other.already_absent,
            self.rejected + other.rejected,
        )


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


def _rejection(operation: Operation, error: Exception) -> Rejected | None:
    from azure.cosmos.exceptions import CosmosHttpResponseError

    if not isinstance(error, CosmosHttpResponseError) or error.status_code not in ITEM_REJECTED_STATUS:
        return None
    message = (getattr(error, "message", None) or str(error)).strip().splitlines()
    return Rejected(operation, error.status_code, f"HTTP {error.status_code}: {message[0][:500] if message else ''}")


def _apply_with_retry(
    container: Any, operation: Operation, retry: TransientRetry, sleep: Callable[[float], None] = time.sleep
) -> str | Rejected:
    for attempt in range(1, retry.attempts + 1):
        try:
            return _apply(container, operation)
        except Exception as error:
            rejected = _rejection(operation, error)
            if rejected is not None:
                return rejected
            if attempt == retry.attempts or not _is_transient(error):
                raise
            delay = retry.wait_s(attempt, error)
            log.warning(
                "transient Cosmos error (%s), retry %d/%d in %.1f s",
                getattr(error, "status_code", type(error).__name__),
                attempt,
                retry.attempts - 1,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")


def write_items(
    container: Any,
    operations: Iterable[Operation],
    *,
    concurrency: int,
    retry: TransientRetry = TransientRetry(),
    rejected: Callable[[Rejected], None] | None = None,
) -> WriteCounts:
    """Apply every operation (order across items is free: each id appears once).

    Refused items go to `rejected` (called on this thread) and are counted; see the module docstring.
    """
    counts = WriteCounts()
    failure: BaseException | None = None

    def settle(outcome: str | Rejected) -> None:
        nonlocal failure
        if isinstance(outcome, Rejected):
            if rejected is None:
                failure = failure or WriteFailed(
                    f"item {operation_id(outcome.operation)!r} refused: {outcome.reason}", counts
                )
                return
            rejected(outcome)
            counts.rejected += 1
        else:
            setattr(counts, outcome, getattr(counts, outcome) + 1)

    def collect(done: set[Future[str | Rejected]]) -> None:
        nonlocal failure
        for future in done:
            error = future.exception()
            if error is not None:
                failure = failure or error
            else:
                settle(future.result())

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cosmos-write") as pool:
        in_flight: set[Future[str | Rejected]] = set()
        for operation in operations:
            if failure is not None:
                break
            problem = id_problem(operation_id(operation))
            if problem is not None:  # the service would refuse it: no round trip
                settle(Rejected(operation, None, problem))
                continue
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
