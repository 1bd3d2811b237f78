"""The HTTP source against a real local server: pagination, 429 Retry-After, 503, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion.http_source import HttpPoller, HttpSourceConfig, HttpSourceError
from tests.python.azure.http_server import TelemetryApi

RECEIVED = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)


def _pages() -> list[list[dict]]:
    return [
        [{"event_id": "a1", "device_id": "dev-1", "ts": "2026-03-06T09:59:00Z", "temperature_c": 21.5, "site_id": "s1"},
         {"event_id": "a2", "device_id": "dev-2", "ts": "2026-03-06T09:59:01.250+00:00", "humidity_pct": 40}],
        [{"device_id": "dev-1", "ts": 1772791200000, "battery_pct": 88, "firmware": "1.2.3"},  # epoch ms, no id
         {"event_id": "a4", "device_id": "dev-3", "ts": 1772791201, "status": "warn"}],            # epoch seconds
        [{"event_id": "a5", "ts": "2026-03-06T09:59:05Z"},                                         # no device
         {"event_id": "a6", "device_id": "dev-2", "ts": "yesterday"}],                             # bad time
    ]


@pytest.fixture
def api() -> Iterator[TelemetryApi]:
    server = TelemetryApi(_pages())
    yield server
    server.close()


def _poller(url: str, **config: object) -> HttpPoller:
    return HttpPoller(HttpSourceConfig(url=url, **config), clock=lambda: RECEIVED)  # type: ignore[arg-type]


def test_follows_next_links_and_maps_records_to_events(api: TelemetryApi) -> None:
    events = _poller(f"{api.base}/next/0").poll_once()
    assert [h.path for h in api.hits] == ["/next/0", "/next/1", "/next/2"]
    bodies = [json.loads(e.body or b"") for e in events]
    assert bodies == [
        {"event_id": "a1", "device_id": "dev-1", "ts": "2026-03-06T09:59:00.000Z", "site_id": "s1", "temperature_c": 21.5},
        {"event_id": "a2", "device_id": "dev-2", "ts": "2026-03-06T09:59:01.250Z", "humidity_pct": 40},
        {"event_id": "dev-1-1772791200000", "device_id": "dev-1", "ts": "2026-03-06T10:00:00.000Z", "battery_pct": 88,
         "firmware": "1.2.3"},
        {"event_id": "a4", "device_id": "dev-3", "ts": "2026-03-06T10:00:01.000Z", "status": "warn"},
        {"event_id": "a5", "ts": "2026-03-06T09:59:05.000Z"},       # sent: silver quarantines the missing device
        {"event_id": "a6", "device_id": "dev-2", "ts": "yesterday"},  # sent as is: silver quarantines the bad ts
    ]
    assert [e.partition_key for e in events] == ["dev-1", "dev-2", "dev-1", "dev-3", None, "dev-2"]
    assert {e.enqueued_time for e in events} == {RECEIVED}
    assert all(e.properties == {"source": "http", "content_type": "application/json"} for e in events)


def test_cursor_pagination_resumes_from_the_last_cursor(api: TelemetryApi) -> None:
    poller = _poller(f"{api.base}/cursor")
    first = poller.poll_once()
    assert len(first) == 6
    assert [h.path for h in api.hits] == ["/cursor", "/cursor?cursor=1", "/cursor?cursor=2", "/cursor?cursor=3"]
    api.pages.append([{"event_id": "b1", "device_id": "dev-9", "ts": "2026-03-06T10:01:00Z"}])
    second = poller.poll_once()
    assert [json.loads(e.body or b"")["event_id"] for e in second] == ["b1"]
    assert [h.path for h in api.hits[4:]] == ["/cursor?cursor=3", "/cursor?cursor=4"]


def test_throttling_and_transient_errors_are_waited_out(api: TelemetryApi) -> None:
    api.faults["/next/0"] = ["429"]         # Retry-After: 1
    api.faults["/next/1"] = ["503", "503"]  # then OK
    t0 = time.monotonic()
    events = _poller(f"{api.base}/next/0", backoff_initial=0.1).poll_once()
    elapsed = time.monotonic() - t0
    assert len(events) == 6
    statuses = [(h.path, h.status) for h in api.hits]
    assert statuses == [("/next/0", 429), ("/next/0", 200), ("/next/1", 503), ("/next/1", 503), ("/next/1", 200),
                        ("/next/2", 200)]
    # The retry after 429 came no sooner than Retry-After; the 503 retries backed off 0.1 then 0.2 s.
    assert api.hits[1].at - api.hits[0].at >= 1.0
    assert api.hits[3].at - api.hits[2].at >= 0.1 and api.hits[4].at - api.hits[3].at >= 0.2
    assert elapsed < 20  # bounded: far below the minutes of default retry policies, even on a loaded machine


def test_bounded_attempts_then_a_clear_error(api: TelemetryApi) -> None:
    api.faults["/next/0"] = ["503"] * 10
    with pytest.raises(HttpSourceError, match=r"failed after 3 attempts; last error: HTTP 503"):
        _poller(f"{api.base}/next/0", max_attempts=3, backoff_initial=0.05).poll_once()
    assert len(api.hits) == 3
    with pytest.raises(HttpSourceError, match="HTTP 404 Not Found.*not retried"):
        _poller(f"{api.base}/missing").poll_once()


def test_connection_errors_back_off_then_fail(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []
    poller = HttpPoller(HttpSourceConfig(url=f"http://127.0.0.1:{port}/x", max_attempts=4, backoff_initial=0.5,
                                         backoff_max=1.5), sleep=slept.append)
    with pytest.raises(HttpSourceError, match="failed after 4 attempts; last error: ConnectionError"):
        poller.poll_once()
    assert slept == [0.5, 1.0, 1.5]


def test_plain_list_response_and_re_polls_skip_sent_ids(api: TelemetryApi) -> None:
    poller = _poller(f"{api.base}/list")
    assert len(poller.poll_once()) == 6
    assert poller.poll_once() == []  # the same records again: nothing new
