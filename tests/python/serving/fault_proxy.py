"""A tiny HTTPS proxy in front of the test Cosmos server that injects faults.

- `throttle_next(n, retry_after_ms)`: the next n item writes get 429 with
  `x-ms-retry-after-ms`, as Cosmos DB answers when a container is over its RUs.
- `fail_writes_after(n)`: after n more item writes, every item write gets 503
  until `heal()` (the server "goes down" in the middle of a sync).
- `refuse_items({id: status})`: every write of those item ids gets that status
  (e.g. 400, as Cosmos DB answers an item it will not store).
- `hold_first_write()`: the next item write waits (`held` is set while it does)
  until `release()`, so a test can run something while a sync is mid-flight.
Everything else is forwarded. The account document (GET /) names the server's
own address as the write/read location and the SDK routes requests there, so the
proxy rewrites that address to its own.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class ProxiedRequest:
    at: float
    method: str
    path: str
    item_id: str | None
    status: int


class FaultProxy:
    def __init__(self, upstream_port: int, cert: Path, key: Path) -> None:
        self.upstream_port = upstream_port
        self._client_tls = ssl.create_default_context(cafile=str(cert))
        self._lock = threading.Lock()
        self._throttle_left = 0
        self._retry_after_ms = 0
        self._writes_before_failure: int | None = None
        self.requests: list[ProxiedRequest] = []
        self._local = threading.local()
        self._refused: dict[str, int] = {}
        self._hold_armed = False
        self.held = threading.Event()
        self._released = threading.Event()

        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(str(cert), str(key))
        self._server.socket = server_tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def throttle_next(self, count: int, retry_after_ms: int) -> None:
        with self._lock:
            self._throttle_left, self._retry_after_ms = count, retry_after_ms

    def fail_writes_after(self, count: int) -> None:
        with self._lock:
            self._writes_before_failure = count

    def refuse_items(self, statuses: dict[str, int]) -> None:
        with self._lock:
            self._refused = dict(statuses)

    def hold_first_write(self) -> None:
        with self._lock:
            self._hold_armed = True
            self.held.clear()
            self._released.clear()

    def release(self) -> None:
        self._released.set()

    def heal(self) -> None:
        with self._lock:
            self._throttle_left, self._writes_before_failure = 0, None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def item_writes(self) -> list[ProxiedRequest]:
        with self._lock:
            return [r for r in self.requests if r.item_id is not None]

    # -- forwarding -------------------------------------------------------------------

    def _upstream(self) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.upstream_port, context=self._client_tls, timeout=30)
            self._local.conn = conn
        return conn

    def _fault_for(self, is_item_write: bool, item_id: str | None) -> tuple[int, dict[str, str]] | None:
        if not is_item_write:
            return None
        with self._lock:
            hold, self._hold_armed = self._hold_armed, False
        if hold:
            self.held.set()
            self._released.wait(timeout=60)
        with self._lock:
            if item_id in self._refused:
                return self._refused[item_id], {}
            if self._throttle_left > 0:
                self._throttle_left -= 1
                return 429, {"x-ms-retry-after-ms": str(self._retry_after_ms), "x-ms-substatus": "3200"}
            if self._writes_before_failure is not None:
                if self._writes_before_failure == 0:
                    return 503, {}
                self._writes_before_failure -= 1
        return None

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        is_query = handler.headers.get("x-ms-documentdb-isquery", "").lower() == "true"
        is_item_write = (
            "/docs" in handler.path and handler.command in ("POST", "PUT", "DELETE", "PATCH") and not is_query
        )
        item_id = None
        if is_item_write:
            item_id = (
                json.loads(body).get("id")
                if handler.command != "DELETE" and body
                else handler.path.rstrip("/").rsplit("/", 1)[-1]
            )
        fault = self._fault_for(is_item_write, item_id)
        if fault is not None:
            status, headers = fault
            payload = json.dumps(
                {"code": http.client.responses[status], "message": "injected by the test proxy"}
            ).encode()
            self._record(handler, item_id, status)
            handler.send_response(status)
            for name, value in {
                **headers,
                "content-type": "application/json",
                "content-length": str(len(payload)),
            }.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["host"] = f"127.0.0.1:{self.upstream_port}"
        for attempt in (1, 2):
            conn = self._upstream()
            try:
                conn.request(handler.command, handler.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        payload = payload.replace(f"127.0.0.1:{self.upstream_port}".encode(), f"127.0.0.1:{self.port}".encode())
        self._record(handler, item_id, response.status)
        handler.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-location":
                handler.send_header(name, value)
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _record(self, handler: BaseHTTPRequestHandler, item_id: str | None, status: int) -> None:
        with self._lock:
            self.requests.append(ProxiedRequest(time.monotonic(), handler.command, handler.path, item_id, status))
