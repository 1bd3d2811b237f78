"""A real local HTTP server for the HTTP source tests (http.server in a thread).

`/next/...` paginates with relative `next` links, `/cursor` with a `cursor` field.
Faults are scripted per path: `server.faults["/next/1"] = ["429", "503"]` makes
the first two requests of that path fail that way (429 with `Retry-After: 1`).
Every request is logged with its time and answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Hit:
    at: float
    path: str
    status: int


@dataclass
class TelemetryApi:
    pages: list[list[dict[str, Any]]]
    faults: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                api._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, payload: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        # Recorded before answering: the client cannot act on a response before its hit is listed.
        self.hits.append(Hit(time.monotonic(), handler.path, status))
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        planned = self.faults.get(parts.path)
        if planned:
            fault = planned.pop(0)
            if fault == "429":
                return self._send(handler, 429, {"error": "slow down"}, {"Retry-After": "1"})
            return self._send(handler, int(fault), {"error": "unavailable"})
        if parts.path.startswith("/next/"):
            index = int(parts.path.rsplit("/", 1)[1])
            payload: dict[str, Any] = {"items": self.pages[index]}
            if index + 1 < len(self.pages):
                payload["next"] = f"{index + 1}"  # relative link
            return self._send(handler, 200, payload)
        if parts.path == "/cursor":
            cursor = int(parse_qs(parts.query).get("cursor", ["0"])[0])
            items = self.pages[cursor] if cursor < len(self.pages) else []
            # The API always hands back a cursor: the next page, or where new data will appear.
            return self._send(handler, 200, {"items": items, "cursor": str(min(cursor + 1, len(self.pages)))})
        if parts.path == "/list":
            return self._send(handler, 200, [r for page in self.pages for r in page])
        return self._send(handler, 404, {"error": "no such path"})
