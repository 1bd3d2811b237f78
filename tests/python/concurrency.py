"""Running calls at the same moment, for tests of writers that must take turns."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_together(calls: Sequence[Callable[[], T]], timeout: float) -> list[T]:
    """Start every call in its own thread, released at once by a barrier; their
    results in order. The first call's error (if any) is raised, after all end."""
    barrier = threading.Barrier(len(calls))

    def released(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(released, call) for call in calls]
        return [future.result(timeout) for future in futures]
