"""Retries of every Blob request: azure-core's exponential backoff, honouring
Retry-After, each retry logged and recorded; short settings in tests, production
defaults that retry for about 2.7 minutes."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from azure.core.pipeline.policies import RetryPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryEvent:
    """One retry the policy decided on: what failed and how long it waited."""

    at: float  # time.monotonic()
    method: str
    path: str
    cause: str
    delay_seconds: float
    attempt: int


@dataclass
class RetryLog:
    """Every retry of a client's requests, for logs, reports and tests."""

    events: list[RetryEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, event: RetryEvent) -> None:
        with self._lock:
            self.events.append(event)


class LoggedStorageRetryPolicy(RetryPolicy):
    """azure-core's `RetryPolicy` (exponential backoff; connect/read errors, 408, 429,
    5xx; honours Retry-After) fitted into the storage SDK's pipeline.

    Why not the storage SDK's own `ExponentialRetry`: it neither retries 429 nor
    honours Retry-After. The storage pipeline puts location options (`hosts`,
    `location_mode`, ...) into the request context that only its own retry policy
    consumes; this policy consumes them the same way (primary location only) and
    tags the response with the location mode, as the SDK expects. Each retry is
    logged and recorded in `retry_log`.
    """

    def __init__(self, *, retry_log: RetryLog | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_log = retry_log if retry_log is not None else RetryLog()

    def send(self, request: Any) -> Any:
        options = request.context.options
        mode = options.pop("location_mode", "primary")
        for key in ("hosts", "retry_to_secondary", "retry_hook"):
            options.pop(key, None)
        response = super().send(request)
        response.http_response.location_mode = mode
        return response

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        history = settings["history"]
        last = history[-1] if history else None
        if last is not None and last.error is not None:
            cause = f"{type(last.error).__name__}: {str(last.error).splitlines()[0][:160]}"
        elif last is not None and last.http_response is not None:
            cause = f"HTTP {last.http_response.status_code}"
        else:
            cause = "unknown"
        retry_after = self.get_retry_after(response) if response is not None else None
        delay = retry_after if retry_after else self.get_backoff_time(settings)
        request = last.http_request if last is not None else None
        method = request.method if request is not None else "?"
        path = short_url(request.url) if request is not None else "?"
        self.retry_log.add(RetryEvent(time.monotonic(), method, path, cause, float(delay), len(history)))
        log.warning(
            "retry %d: %s %s failed (%s); next attempt in %.2f s%s",
            len(history),
            method,
            path,
            cause,
            delay,
            " (Retry-After)" if retry_after else "",
        )
        super().sleep(settings, transport, response)


def short_url(url: str) -> str:
    return url.split("?", 1)[0]


DOWNLOAD_CHUNK_BYTES = 4 * 1024 * 1024  # the most of a blob one download holds in memory
HASH_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class RetrySettings:
    """Retries and timeouts of every Blob request (azure-core names).

    The first retry is immediate, then the policy waits
    `retry_backoff_factor * 2**(n-1)` seconds, at most `retry_backoff_max`;
    a `Retry-After` header wins. The defaults retry for about 2.7 minutes
    (0, 1.6, 3.2, ... 51.2, 60 s), for production; tests use a few seconds.
    """

    retry_total: int = 8
    retry_backoff_factor: float = 0.8
    retry_backoff_max: float = 60.0
    connection_timeout: float = 20.0
    read_timeout: float = 60.0

    def client_kwargs(self, retry_log: RetryLog | None = None) -> dict[str, Any]:
        policy = LoggedStorageRetryPolicy(
            retry_log=retry_log,
            retry_total=self.retry_total,
            retry_connect=self.retry_total,
            retry_read=self.retry_total,
            retry_status=self.retry_total,
            retry_backoff_factor=self.retry_backoff_factor,
            retry_backoff_max=self.retry_backoff_max,
            retry_mode="exponential",
        )
        return {
            "retry_policy": policy,
            "connection_timeout": self.connection_timeout,
            "read_timeout": self.read_timeout,
            "max_single_get_size": DOWNLOAD_CHUNK_BYTES,
            "max_chunk_get_size": DOWNLOAD_CHUNK_BYTES,
        }
