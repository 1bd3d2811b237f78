"""A scripted local HTTP(S) server for the HTTP source's safety tests.

Each path answers what the test put in `routes` (status, headers, body, or a
callable making them for each request); anything else is a 404. Every request is
recorded in order with its path and headers, so a test can tell which host a
header reached and when a page was requested. `stream_body` bodies are written
in chunks without a Content-Length (ended by closing the connection) and the
bytes the client took before hanging up are counted in `bytes_streamed`.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


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

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:  # recorded before answering
            self.requests.append(Request(handler.path, dict(handler.headers.items())))
        route = self.routes.get(handler.path.split("?", 1)[0])
        reply = (
            (route() if callable(route) else route) if route is not None else Reply.json({"error": "no such path"}, 404)
        )
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
