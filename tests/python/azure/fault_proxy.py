"""A fault-injecting HTTP proxy for tests: the first requests fail, then it forwards.

Each client connection carries one request: the proxy reads it (head and
Content-Length body), then either answers with the next planned fault - `503`,
`429` (with `Retry-After`), or `reset` (the connection is reset with no answer) -
or forwards it to the upstream server and relays the answer (also when the
plan's next entry is `forward`, to spread faults over several requests). Every forwarded
request and response says `Connection: close`, so clients open a new connection
per request and every request passes through the fault plan.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class ProxyRecord:
    method: str
    path: str
    outcome: str  # "503", "429", "reset" or "forwarded <status>"


@dataclass
class FaultProxy:
    upstream_port: int
    faults: list[str] = field(default_factory=list)  # e.g. ["503", "429", "forward", "reset"]
    retry_after: int = 1
    records: list[ProxyRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._plan = deque(self.faults)
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def add_faults(self, *faults: str) -> None:
        with self._lock:
            self._plan.extend(faults)

    def close(self) -> None:
        self._stopped.set()
        self._server.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with client:
            request = _read_request(client)
            if request is None:
                return
            head, body = request
            method, path = head.split(b"\r\n", 1)[0].decode().split(" ")[:2]
            with self._lock:
                fault = self._plan.popleft() if self._plan else None
            if fault == "reset":
                self.records.append(ProxyRecord(method, path, "reset"))
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return  # closing with linger 0 sends RST
            if fault in ("503", "429"):
                self.records.append(ProxyRecord(method, path, fault))
                reason = "Service Unavailable" if fault == "503" else "Too Many Requests"
                extra = f"Retry-After: {self.retry_after}\r\n" if fault == "429" else ""
                client.sendall(
                    f"HTTP/1.1 {fault} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
                )
                return
            response = self._forward(_with_connection_close(head) + body)
            status = response.split(b" ", 2)[1].decode() if response.startswith(b"HTTP/") else "?"
            self.records.append(ProxyRecord(method, path, f"forwarded {status}"))
            client.sendall(_with_connection_close(response, response=True))

    def _forward(self, data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as upstream:
            upstream.sendall(data)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def _read_request(sock: socket.socket) -> tuple[bytes, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n", body


def _with_connection_close(message: bytes, *, response: bool = False) -> bytes:
    head, sep, rest = message.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith((b"connection:", b"keep-alive:"))]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + sep + rest
