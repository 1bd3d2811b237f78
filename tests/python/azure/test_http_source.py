"""The HTTP source against a real local server: pagination, 429 Retry-After, 503, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from lakehouse.ingestion.sources.http import HttpPoller, HttpSourceConfig, HttpSourceError
from tests.python.azure.scripted_http import Reply, ScriptedServer, TelemetryApi
from tests.python.serving.cosmos_test_server import TlsFiles, make_tls_files

RECEIVED = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)


def _pages() -> list[list[dict]]:
    return [
        [
            {
                "event_id": "a1",
                "device_id": "dev-1",
                "ts": "2026-03-06T09:59:00Z",
                "temperature_c": 21.5,
                "site_id": "s1",
            },
            {"event_id": "a2", "device_id": "dev-2", "ts": "2026-03-06T09:59:01.250+00:00", "humidity_pct": 40},
        ],
        [
            {"device_id": "dev-1", "ts": 1772791200000, "battery_pct": 88, "firmware": "1.2.3"},  # epoch ms, no id
            {"event_id": "a4", "device_id": "dev-3", "ts": 1772791201, "status": "warn"},
        ],  # epoch seconds
        [
            {"event_id": "a5", "ts": "2026-03-06T09:59:05Z"},  # no device
            {"event_id": "a6", "device_id": "dev-2", "ts": "yesterday"},
        ],  # bad time
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
        {
            "event_id": "a1",
            "device_id": "dev-1",
            "ts": "2026-03-06T09:59:00.000Z",
            "site_id": "s1",
            "temperature_c": 21.5,
        },
        {"event_id": "a2", "device_id": "dev-2", "ts": "2026-03-06T09:59:01.250Z", "humidity_pct": 40},
        {
            "event_id": "dev-1-1772791200000",
            "device_id": "dev-1",
            "ts": "2026-03-06T10:00:00.000Z",
            "battery_pct": 88,
            "firmware": "1.2.3",
        },
        {"event_id": "a4", "device_id": "dev-3", "ts": "2026-03-06T10:00:01.000Z", "status": "warn"},
        {"event_id": "a5", "ts": "2026-03-06T09:59:05.000Z"},  # sent: silver quarantines the missing device
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
    api.faults["/next/0"] = ["429"]  # Retry-After: 1
    api.faults["/next/1"] = ["503", "503"]  # then OK
    t0 = time.monotonic()
    events = _poller(f"{api.base}/next/0", backoff_initial=0.1).poll_once()
    elapsed = time.monotonic() - t0
    assert len(events) == 6
    statuses = [(h.path, h.status) for h in api.hits]
    assert statuses == [
        ("/next/0", 429),
        ("/next/0", 200),
        ("/next/1", 503),
        ("/next/1", 503),
        ("/next/1", 200),
        ("/next/2", 200),
    ]
    # The retry after 429 came no sooner than Retry-After; the 503 retries backed off 0.1 then 0.2 s.
    assert api.hits[1].at - api.hits[0].at >= 1.0
    assert api.hits[3].at - api.hits[2].at >= 0.1 and api.hits[4].at - api.hits[3].at >= 0.2
    assert elapsed < 20  # bounded: far below the minutes of default retry policies, even on a loaded machine


def test_bounded_attempts_then_a_clear_error(api: TelemetryApi) -> None:
    api.faults["/next/0"] = ["503"] * 10
    with pytest.raises(HttpSourceError, match=r"failed after 3 attempts; last error: HTTP 503"):
        _poller(f"{api.base}/next/0", max_attempts=3, backoff_initial=0.05).poll_once()
    assert len(api.hits) == 3
    with pytest.raises(HttpSourceError, match=r"HTTP 404 Not Found.*not retried"):
        _poller(f"{api.base}/missing").poll_once()


def test_connection_errors_back_off_then_fail(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []
    poller = HttpPoller(
        HttpSourceConfig(url=f"http://127.0.0.1:{port}/x", max_attempts=4, backoff_initial=0.5, backoff_max=1.5),
        sleep=slept.append,
    )
    with pytest.raises(HttpSourceError, match="failed after 4 attempts; last error: ConnectionError"):
        poller.poll_once()
    assert slept == [0.5, 1.0, 1.5]


def test_plain_list_response_and_re_polls_skip_sent_ids(api: TelemetryApi) -> None:
    poller = _poller(f"{api.base}/list")
    assert len(poller.poll_once()) == 6
    assert poller.poll_once() == []  # the same records again: nothing new


# --------------------------------------------------------------------------- safety: nothing leaked, nothing lost

SECRET_HEADER = "Bearer s3cret-header-value"  # pragma: allowlist secret
SECRET_QUERY = "s3cret-query-token"  # pragma: allowlist secret
RECORD = {"event_id": "r1", "device_id": "dev-1", "ts": "2026-03-06T09:59:00Z"}


@pytest.fixture
def servers() -> Iterator[Callable[..., ScriptedServer]]:
    started: list[ScriptedServer] = []

    def start(tls: TlsFiles | None = None) -> ScriptedServer:
        server = ScriptedServer((tls.cert, tls.key) if tls else None)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def _event_ids(events: list) -> list[str]:
    return [json.loads(e.body or b"")["event_id"] for e in events]


def _secret_poller(url: str, session: requests.Session | None = None, **config: object) -> HttpPoller:
    headers = {"Authorization": SECRET_HEADER, "X-Api-Key": "k3y"}
    return HttpPoller(
        HttpSourceConfig(url=url, headers=headers, **config),
        session=session,  # type: ignore[arg-type]
        clock=lambda: RECEIVED,
    )


def test_a_next_link_or_redirect_to_another_origin_is_refused_without_a_request(servers) -> None:  # type: ignore[no-untyped-def]
    api, other = servers(), servers()  # another port on 127.0.0.1 is another origin
    api.routes["/p1"] = Reply.json({"items": [RECORD], "next": f"{other.base}/steal"})
    api.routes["/moved"] = Reply(302, headers={"Location": f"{other.base}/steal"})
    other.routes["/steal"] = Reply.json({"items": [{**RECORD, "event_id": "stolen"}]})

    handed_off: list[list] = []
    with pytest.raises(
        HttpSourceError,
        match=rf"refusing to follow the next link {other.base}/steal: its origin "
        rf"{other.base}:? ?.*is not the configured {api.base}",
    ):
        handed_off.extend(_secret_poller(f"{api.base}/p1").poll())
    with pytest.raises(HttpSourceError, match=r"refusing to follow the redirect from .*/moved to .*/steal"):
        _secret_poller(f"{api.base}/moved").poll_once()

    assert [_event_ids(p) for p in handed_off] == [["r1"]]  # the page before the bad link was handed off
    assert other.requests == []  # never contacted: neither Authorization nor X-Api-Key reached it
    assert [r.headers.get("Authorization") for r in api.requests] == [SECRET_HEADER, SECRET_HEADER]


def test_an_https_to_http_downgrade_is_refused(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tls = make_tls_files(tmp_path / "tls")
    secure, plain = servers(tls), servers()
    secure.routes["/p1"] = Reply.json({"items": [RECORD], "next": f"{plain.base}/p2"})
    plain.routes["/p2"] = Reply.json({"items": []})
    session = requests.Session()
    session.verify = str(tls.cert)
    session.trust_env = False  # else $REQUESTS_CA_BUNDLE overrides session.verify

    with pytest.raises(HttpSourceError, match="would downgrade https to http"):
        _secret_poller(f"{secure.base}/p1", session=session).poll_once()
    assert [r.path for r in secure.requests] == ["/p1"] and plain.requests == []


def test_a_response_larger_than_the_cap_is_refused_while_streaming(servers) -> None:  # type: ignore[no-untyped-def]
    api = servers()
    chunk = b"x" * 65536
    api.routes["/huge"] = Reply(
        200,
        chunk,
        {"Content-Type": "application/json"},
        stream_chunks=1024,  # 64 MiB, valid JSON
        head=b'{"items": [], "pad": "',
        tail=b'"}',
    )
    api.routes["/declared"] = Reply.json({"items": [], "pad": "y" * (2 * 1024 * 1024)})  # with a Content-Length

    for path in ("/huge", "/declared"):
        with pytest.raises(HttpSourceError, match=r"larger than max_response_bytes \(1,048,576 bytes\)"):
            _poller(f"{api.base}{path}", max_response_bytes=1024 * 1024, max_attempts=1).poll_once()
    # The client stopped reading past the cap: far less than the 64 MiB was taken off the socket.
    assert api.bytes_streamed < 32 * 1024 * 1024


def test_pages_are_handed_off_one_at_a_time_and_a_failed_poll_resumes_after_the_last_one(api: TelemetryApi) -> None:
    poller = _poller(f"{api.base}/cursor")
    poll = poller.poll()
    first = next(poll)
    assert [h.path for h in api.hits] == ["/cursor"]  # page 2 not requested before page 1 was taken
    assert _event_ids(first) == ["a1", "a2"]
    second = next(poll)
    assert [h.path for h in api.hits] == ["/cursor", "/cursor?cursor=1"]
    api.faults["/cursor"] = ["404"]
    with pytest.raises(HttpSourceError, match="HTTP 404"):
        next(poll)  # page 3 fails: pages 1 and 2 were handed off, so the cursor is after page 2

    rest = poller.poll_once()
    assert [h.path for h in api.hits[2:]] == ["/cursor?cursor=2", "/cursor?cursor=2", "/cursor?cursor=3"]
    ids = _event_ids(first) + _event_ids(second) + _event_ids(rest)
    expected = [json.loads(e.body or b"")["event_id"] for e in _poller(f"{api.base}/list").poll_once()]
    assert ids == expected and len(set(ids)) == 6  # every record once: none lost, none duplicated


def test_poll_http_lands_each_page_before_a_later_page_fails(api: TelemetryApi, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lakehouse.cli.main import cli
    from lakehouse.ingestion.capture.format import decode_capture_file

    api.faults["/next/2"] = ["500"]
    lake = tmp_path / "lake"
    result = CliRunner().invoke(
        cli,
        [
            "--lake",
            str(lake),
            "azure",
            "poll-http",
            f"{api.base}/next/0",
            "--polls",
            "1",
            "--max-attempts",
            "1",
            "--event-hub",
            "paged",
        ],
    )
    assert result.exit_code == 1 and "HTTP 500" in result.output
    assert "4 records of this poll were landed" in result.output
    landed = sorted(
        json.loads(r["Body"])["event_id"]
        for p in (lake / "capture").rglob("*.avro")
        for r in decode_capture_file(p.read_bytes())
    )
    assert landed == sorted(["a1", "a2", "dev-1-1772791200000", "a4"])  # pages 1 and 2, landed before page 3 failed


def test_logs_errors_and_repr_show_no_credentials(servers, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    import socket

    api = servers()
    api.routes["/down"] = Reply.json({"error": "unavailable"}, 500)
    api.routes["/denied"] = Reply.json({"error": "bad token"}, 401)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    errors = []
    for url in (
        f"{api.base}/down?token={SECRET_QUERY}",
        f"{api.base}/denied?token={SECRET_QUERY}",
        f"http://127.0.0.1:{closed}/gone?token={SECRET_QUERY}",
    ):
        with pytest.raises(HttpSourceError) as failed:
            _secret_poller(url, max_attempts=2, backoff_initial=0.01).poll_once()
        errors.append(str(failed.value))
    assert "failed after 2 attempts; last error: HTTP 500" in errors[0] and "HTTP 401" in errors[1]
    assert "ConnectionError" in errors[2]
    assert caplog.text.count("retrying in") == 2  # the 500 and the connection error were logged
    shown = caplog.text + "\n".join(errors)
    assert f"{api.base}/down?..." in shown
    for secret in (SECRET_HEADER, "s3cret-header", SECRET_QUERY, "k3y"):
        assert secret not in shown
    config = HttpSourceConfig(url=f"{api.base}/x", headers={"Authorization": SECRET_HEADER})
    assert "s3cret-header" not in repr(config) and "headers" not in repr(config)


def test_the_config_repr_shows_neither_the_url_query_nor_the_headers() -> None:
    config = HttpSourceConfig(
        url="https://vendor.example/readings?token=s3cret",  # pragma: allowlist secret
        headers={"Authorization": "Bearer t0ken"},
    )  # pragma: allowlist secret
    assert "s3cret" not in repr(config) and "t0ken" not in repr(config)
