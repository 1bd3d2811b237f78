"""A scripted local HTTP(S) server (http.server in a thread) for the HTTP source tests.

`ScriptedServer`: each path answers what the test put in `routes` (status,
headers, body, or a callable making them for each request); anything else is a
404. Every request is recorded in order, before it is answered, with its time,
path, headers and status, so a test can tell which host a header reached and
when a page was requested. `stream_chunks` bodies are written in chunks without a
Content-Length (ended by closing the connection) and the bytes the client took
before hanging up are counted in `bytes_streamed`.

`TelemetryApi`: a paginated telemetry API on the same server. `/next/...`
paginates with relative `next` links, `/cursor` with a `cursor` field, `/list` is
one page; faults are scripted per path: `api.faults["/next/1"] = ["429", "503"]`
makes the first two requests of that path fail that way (429 with `Retry-After: 1`).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic()
    path: str
    headers: dict[str, str]
    status: int


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream_chunks: int = 0  # > 0: send head, `body` this many times, tail; no Content-Length, then close
    head: bytes = b""
    tail: bytes = b""

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})


Route = Reply | Callable[[], Reply]


class ScriptedServer:
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.bytes_streamed = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str) -> Reply:
        """The reply to a GET of `path` (with its query string)."""
        route = self.routes.get(path.split("?", 1)[0])
        if route is None:
            return Reply.json({"error": "no such path"}, 404)
        return route() if callable(route) else route

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        reply = self.answer(handler.path)
        with self._lock:  # recorded before answering: the client cannot act on a response before it is listed
            self.requests.append(Request(time.monotonic(), handler.path, dict(handler.headers.items()), reply.status))
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.stream_chunks:
            handler.send_header("Connection", "close")
            handler.end_headers()
            try:
                for chunk in (reply.head, *[reply.body] * reply.stream_chunks, reply.tail):
                    handler.wfile.write(chunk)
                    with self._lock:
                        self.bytes_streamed += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading
            handler.close_connection = True
            return
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)


class TelemetryApi(ScriptedServer):
    """The paginated API of the module docstring over `pages` (a list of pages of records)."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.faults: dict[str, list[str]] = defaultdict(list)
        super().__init__()

    @property
    def hits(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def answer(self, path: str) -> Reply:
        parts = urlsplit(path)
        planned = self.faults.get(parts.path)
        if planned:
            fault = planned.pop(0)
            if fault == "429":
                return Reply.json({"error": "slow down"}, 429, **{"Retry-After": "1"})
            return Reply.json({"error": "unavailable"}, int(fault))
        if parts.path.startswith("/next/"):
            index = int(parts.path.rsplit("/", 1)[1])
            payload: dict[str, Any] = {"items": self.pages[index]}
            if index + 1 < len(self.pages):
                payload["next"] = f"{index + 1}"  # relative link
            return Reply.json(payload)
        if parts.path == "/cursor":
            cursor = int(parse_qs(parts.query).get("cursor", ["0"])[0])
            items = self.pages[cursor] if cursor < len(self.pages) else []
            # The API always hands back a cursor: the next page, or where new data will appear.
            return Reply.json({"items": items, "cursor": str(min(cursor + 1, len(self.pages)))})
        if parts.path == "/list":
            return Reply.json([r for page in self.pages for r in page])
        return super().answer(path)
