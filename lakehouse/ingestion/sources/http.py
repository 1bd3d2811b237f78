"""A third-party HTTP GET endpoint as a telemetry source.

The poller GETs `url` every `interval`, follows pagination, and turns each JSON
record into a telemetry `Event` (the body in docs/contract.md, schema_version 1).

Response shapes understood (field names are configurable):

- a JSON list of records (one page), or
- an object ``{"items": [...], "next": "<url>"}`` - `next` is the next page's
  URL, absolute or relative to the current one; or
- an object ``{"items": [...], "cursor": "<token>"}`` - the next page is `url`
  with ``?cursor=<token>``.

Pagination ends at a page without `next`/`cursor` (or with null/empty ones, or
with ``"has_more": false``). When the last page of a poll carries a cursor, the
next poll starts from that cursor, so a cursor-based API is read incrementally;
otherwise each poll starts from `url` again. Event ids already sent in this
process are skipped (a bounded memory of `dedupe_ids` ids); silver dedupes by
event_id anyway.

A poll is a generator of pages (`HttpPoller.poll`): each page's new events are
handed to the caller before the next page is requested, and the resume point
(cursor) and the memory of sent ids move only once the caller took the page, so
a poll holds one page at a time and a failure part-way loses nothing handed off.

Faults: 429 waits for `Retry-After` (seconds or an HTTP date; capped at
`max_retry_after`), 5xx and connection errors/timeouts back off exponentially
(`backoff_initial * 2**n`, at most `backoff_max`); after `max_attempts` attempts
the poll fails with `HttpSourceError` saying what was tried. Other 4xx fail at
once (retrying cannot fix them).

Safety: the configured headers (credentials) go only to the configured URL's
origin. A `next` link or a redirect to another scheme, host or port (an https ->
http downgrade included) is refused with `HttpSourceError`, never requested. A
response body is read as a stream and refused past `max_response_bytes`; a poll
reads at most `max_pages` pages. Logs and errors show URLs without their query
string (where API tokens often travel) and never the headers.

Record to event: `device_field` -> device_id (and the partition key),
`time_field` -> ts (ISO-8601 text, or epoch seconds/milliseconds), `id_field` ->
event_id (else ``<device>-<epoch ms>``, stable across re-polls); contract fields
(site_id, temperature_c, ...) are copied, `field_map` renames source fields,
other fields are kept as extras (schema drift is recorded downstream, not lost).
A record without a device or a parsable time is still sent as it is, so silver
quarantines it with a reason instead of the poller dropping it silently.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from lakehouse.ingestion.events import Event, iso_utc, utc

log = logging.getLogger(__name__)
CONTRACT_FIELDS = (
    "site_id",
    "temperature_c",
    "humidity_pct",
    "pressure_hpa",
    "battery_pct",
    "status",
    "schema_version",
)


class HttpSourceError(RuntimeError):
    """The endpoint could not be read (after retries where retrying makes sense)."""


@dataclass(frozen=True)
class HttpSourceConfig:
    url: str = field(repr=False)  # its query string may carry a token
    records_field: str = "items"
    next_field: str = "next"
    cursor_field: str = "cursor"
    cursor_param: str = "cursor"
    device_field: str = "device_id"
    time_field: str = "ts"
    id_field: str = "event_id"
    field_map: Mapping[str, str] = field(default_factory=dict)  # source name -> contract name
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # credentials: never printed
    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    max_pages: int = 1_000  # per poll
    max_response_bytes: int = 16 * 1024 * 1024  # per page, after decompression
    max_redirects: int = 5
    dedupe_ids: int = 100_000


@dataclass(frozen=True)
class PollerState:
    """What a poller carries between polls: the resume cursor and the ids already sent
    (oldest first). JSON-able; holds no URL, so no token in a query string is kept."""

    cursor: str | None = None
    seen_ids: list[str] = field(default_factory=list)


@dataclass
class PollStats:
    pages: int = 0
    records: int = 0
    duplicates_skipped: int = 0
    retries: list[str] = field(default_factory=list)  # "503 -> 0.5 s", "429 -> Retry-After 1 s"


_TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def loggable_url(url: str) -> str:
    """`url` without user info, query string or fragment: what logs and errors may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) + ("?..." if parts.query else "")


def _scrub(text: str) -> str:
    """An error text without the query strings of the URLs it quotes."""
    return re.sub(r"\?[^\s'\")]+", "?...", text)


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _origin_text(value: tuple[str, str, int | None]) -> str:
    scheme, host, port = value
    return f"{scheme}://{host}:{port}"


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name] + [(name, value)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def parse_event_time(value: Any) -> datetime | None:
    """ISO-8601 text, or epoch seconds / milliseconds (numbers or numeric text)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def record_to_event(record: Mapping[str, Any], config: HttpSourceConfig, received: datetime) -> Event:
    """The telemetry event of one JSON record (see the module docstring)."""
    source = {config.field_map.get(k, k): v for k, v in record.items()}
    device = source.get(config.device_field)
    device_id = str(device) if device not in (None, "") else None
    raw_time = source.get(config.time_field)
    ts = parse_event_time(raw_time)
    body: dict[str, Any] = {}
    event_id = source.get(config.id_field)
    if event_id not in (None, ""):
        body["event_id"] = str(event_id)
    elif device_id and ts:
        body["event_id"] = f"{device_id}-{int(ts.timestamp() * 1000)}"
    if device_id:
        body["device_id"] = device_id
    if ts is not None:
        body["ts"] = iso_utc(ts)
    elif raw_time is not None:
        body["ts"] = raw_time  # kept as sent: silver quarantines it as an unparsable ts
    for name in CONTRACT_FIELDS:
        if name in source:
            body[name] = source[name]
    used = {config.device_field, config.time_field, config.id_field, *CONTRACT_FIELDS}
    for name, value in source.items():
        if name not in used and name not in body:
            body[name] = value  # extra fields travel on
    payload = json.dumps(body, separators=(",", ":"), default=str).encode()
    return Event(payload, device_id, received, {"source": "http", "content_type": "application/json"})


class HttpPoller:
    """Polls one endpoint; `poll` yields the new events of each page of one pagination."""

    def __init__(
        self,
        config: HttpSourceConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", **dict(config.headers)})
        self.sleep = sleep
        self.clock = clock or (lambda: datetime.now(UTC))
        self.cursor: str | None = None  # the next poll starts at `url` with this cursor
        self._origin = origin(config.url)
        self._seen: OrderedDict[str, None] = OrderedDict()

    def check_origin(self, url: str, what: str) -> None:
        """Refuse `url` unless it has the configured URL's scheme, host and port."""
        target = origin(url)
        if target == self._origin:
            return
        if self._origin[0] == "https" and target[0] != "https":
            why = f"it would downgrade {self._origin[0]} to {target[0]}"
        else:
            why = f"its origin {_origin_text(target)} is not the configured {_origin_text(self._origin)}"
        raise HttpSourceError(
            f"refusing to follow the {what} {loggable_url(url)}: {why}; the request headers "
            f"(credentials) are only sent to {_origin_text(self._origin)}"
        )

    def _get(self, url: str) -> tuple[requests.Response, bytes]:
        """GET `url`, following same-origin redirects only; the response and its body (capped)."""
        c = self.config
        for _ in range(c.max_redirects + 1):
            with self.session.get(url, timeout=c.timeout_seconds, stream=True, allow_redirects=False) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers["Location"])
                    self.check_origin(target, f"redirect from {loggable_url(url)} to")
                    url = target
                    continue
                limit = c.max_response_bytes if response.status_code < 400 else 1024  # an error's text, for the message
                return response, self._read(response, url, limit)
        raise HttpSourceError(f"GET {loggable_url(url)}: more than {c.max_redirects} redirects")

    def _read(self, response: requests.Response, url: str, limit: int) -> bytes:
        cap = self.config.max_response_bytes
        too_large = (
            f"GET {loggable_url(url)}: the response is larger than max_response_bytes ({cap:,} bytes); "
            "refused without reading further (ask the API for smaller pages, or raise the limit)"
        )
        declared = response.headers.get("Content-Length", "")
        if response.status_code < 400 and declared.isdigit() and int(declared) > cap:
            raise HttpSourceError(too_large)
        body = bytearray()
        for chunk in response.iter_content(chunk_size=64 * 1024):
            body += chunk
            if len(body) > limit:
                if response.status_code < 400:
                    raise HttpSourceError(too_large)
                break
        return bytes(body)

    def get_json(self, url: str, stats: PollStats | None = None) -> Any:
        """GET `url` as JSON with the retry rules of the module docstring."""
        c = self.config
        stats = stats if stats is not None else PollStats()
        shown = loggable_url(url)
        last = ""
        for attempt in range(1, c.max_attempts + 1):
            delay: float | None = None
            try:
                response, body = self._get(url)
            except _TRANSIENT_ERRORS as exc:
                last = f"{type(exc).__name__}: {_scrub(str(exc))}"
            else:
                if response.status_code == 429:
                    wait = _retry_after_seconds(response.headers.get("Retry-After"))
                    last = f"HTTP 429 (Retry-After {response.headers.get('Retry-After')!r})"
                    if wait is not None:
                        if wait > c.max_retry_after:
                            raise HttpSourceError(
                                f"GET {shown}: throttled with Retry-After {wait:.0f} s, more than "
                                f"max_retry_after {c.max_retry_after:.0f} s"
                            )
                        delay = wait
                        stats.retries.append(f"429 -> Retry-After {wait:g} s")
                elif response.status_code >= 500:
                    last = f"HTTP {response.status_code}"
                elif response.status_code >= 400:
                    text = body.decode("utf-8", "replace")[:200]
                    raise HttpSourceError(
                        f"GET {shown}: HTTP {response.status_code} {response.reason}: "
                        f"{text!r} (not retried: fix the request or credentials)"
                    )
                else:
                    try:
                        return json.loads(body)
                    except ValueError as exc:
                        raise HttpSourceError(f"GET {shown}: the response is not JSON ({exc})") from exc
            if attempt == c.max_attempts:
                break
            if delay is None:
                delay = min(c.backoff_max, c.backoff_initial * 2 ** (attempt - 1))
                stats.retries.append(f"{last.split(':')[0]} -> {delay:g} s")
            log.warning(
                "GET %s failed (%s), attempt %d of %d; retrying in %.1f s", shown, last, attempt, c.max_attempts, delay
            )
            self.sleep(delay)
        raise HttpSourceError(f"GET {shown} failed after {c.max_attempts} attempts; last error: {last}")

    def pages(
        self, start_url: str, stats: PollStats | None = None
    ) -> Iterator[tuple[list[Mapping[str, Any]], str | None]]:
        """(records, cursor of this page) for every page from `start_url`, one request per page taken."""
        c = self.config
        stats = stats if stats is not None else PollStats()
        url: str | None = start_url
        seen_urls: set[str] = set()
        while url is not None:
            if url in seen_urls:
                raise HttpSourceError(f"pagination loops at {loggable_url(url)}")
            if stats.pages >= c.max_pages:
                raise HttpSourceError(
                    f"pagination exceeds max_pages ({c.max_pages}) in one poll at {loggable_url(url)} "
                    "(the pages before were handed off)"
                )
            seen_urls.add(url)
            payload = self.get_json(url, stats)
            stats.pages += 1
            if isinstance(payload, list):
                yield payload, None
                return
            if not isinstance(payload, dict):
                raise HttpSourceError(
                    f"GET {loggable_url(url)}: expected a JSON list or object, got {type(payload).__name__}"
                )
            records = payload.get(c.records_field, [])
            if not isinstance(records, list):
                raise HttpSourceError(f"GET {loggable_url(url)}: {c.records_field!r} is not a list")
            next_link = payload.get(c.next_field)
            cursor = payload.get(c.cursor_field)
            has_more = payload.get("has_more", True) is not False
            yield records, str(cursor) if cursor not in (None, "") else None
            if next_link and has_more:
                url = urljoin(url, str(next_link))
                self.check_origin(url, "next link")
            elif cursor not in (None, "") and has_more and records:
                url = _with_param(c.url, c.cursor_param, str(cursor))
            else:
                url = None

    def state(self) -> PollerState:
        """Where the next poll starts and the ids already sent, to keep across processes."""
        return PollerState(self.cursor, list(self._seen))

    def restore(self, state: PollerState) -> None:
        """Resume from a saved `state()` (a restarted process, another instance)."""
        self.cursor = state.cursor
        self._seen = OrderedDict.fromkeys(state.seen_ids[-self.config.dedupe_ids :])

    @property
    def resume_url(self) -> str:
        c = self.config
        return _with_param(c.url, c.cursor_param, self.cursor) if self.cursor else c.url

    def poll(
        self, stats: PollStats | None = None, *, handed_off: Callable[[], None] | None = None
    ) -> Iterator[list[Event]]:
        """One pagination from the resume point: the new events of each page, one page at a time.

        The next page is requested only when the caller asks for it, i.e. after it
        handed this page's events off; only then do the page's ids count as sent and
        its cursor become the resume point, and `handed_off` is called (to save `state()`).
        """
        c = self.config
        stats = stats if stats is not None else PollStats()
        for records, cursor in self.pages(self.resume_url, stats):
            received = self.clock()
            events: list[Event] = []
            page_ids: dict[str, None] = {}
            for record in records:
                event = record_to_event(record if isinstance(record, Mapping) else {"value": record}, c, received)
                event_id = _event_id(event)
                if event_id is not None:
                    if event_id in self._seen or event_id in page_ids:
                        stats.duplicates_skipped += 1
                        continue
                    page_ids[event_id] = None
                events.append(event)
                stats.records += 1
            yield events
            for event_id in page_ids:  # handed off: now they count as sent
                self._remember(event_id)
            self.cursor = cursor
            if handed_off is not None:
                handed_off()
        log.info(
            "polled %s: %d pages, %d new records, %d already seen, %d retries",
            loggable_url(c.url),
            stats.pages,
            stats.records,
            stats.duplicates_skipped,
            len(stats.retries),
        )

    def poll_once(self, stats: PollStats | None = None) -> list[Event]:
        """All new events of one poll in one list (small sources and tests; `poll` streams)."""
        return [event for page in self.poll(stats) for event in page]

    def _remember(self, event_id: str) -> None:
        self._seen[event_id] = None
        while len(self._seen) > self.config.dedupe_ids:
            self._seen.popitem(last=False)

    def poll_forever(self, interval_seconds: float, *, polls: int | None = None) -> Iterator[Iterator[list[Event]]]:
        """One `poll()` page generator per poll, `interval_seconds` apart (start to start).

        Consume each poll's pages before asking for the next poll.
        """
        done = 0
        while polls is None or done < polls:
            started = time.monotonic()
            yield self.poll()
            done += 1
            if polls is None or done < polls:
                self.sleep(max(0.0, interval_seconds - (time.monotonic() - started)))


def _event_id(event: Event) -> str | None:
    try:
        value = json.loads(event.body or b"").get("event_id")
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None
