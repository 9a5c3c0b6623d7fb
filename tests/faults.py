"""A fault-injecting HTTP proxy on 127.0.0.1, for putting between ingest and a real server (moto, Chroma).

Each request is forwarded to the upstream server over a fresh connection, except that a seeded share of them fails:
``503`` (S3's SlowDown, which is what S3 answers under load), ``reset`` (the connection is reset before any answer),
``cut`` (half the answer, then a reset) or ``slow`` (the answer comes after up to a second); requests that match
``down_for`` are always reset (a server that stays down for them). It is bounded: at most ``max_requests`` requests
are served (later ones are reset), every socket has a 30 s timeout, and leaving the ``with`` block stops it.
"""

from __future__ import annotations

import collections
import random
import socket
import socketserver
import struct
import threading
import time

_BODY = b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>SlowDown</Code><Message>Slow down</Message></Error>"
SLOWDOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        rate: float = 0.0,
        seed: int = 0,
        kinds=("503", "reset", "cut", "slow"),
        max_requests: int = 20_000,
        down_for: tuple[bytes, ...] = (),
    ):
        host, _, port = upstream.removeprefix("http://").rstrip("/").partition(":")
        self.upstream = (host, int(port))
        self.rate, self.kinds, self.max_requests = rate, kinds, max_requests
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.faults: collections.Counter = collections.Counter()
        self.down_for = down_for  # requests whose first line holds one of these are always reset
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                proxy._serve(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _decide(self, request: bytes) -> str | None:
        first_line = request.partition(b"\r\n")[0]
        with self.lock:
            self.requests += 1
            if self.requests > self.max_requests or any(part in first_line for part in self.down_for):
                fault = "reset"
            elif self.random.random() < self.rate:
                fault = self.random.choice(self.kinds)
            else:
                return None
            self.faults[fault] += 1
            return fault

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(30)
        request = _read_request(client)
        if request is None:
            return
        fault = self._decide(request)
        if fault == "reset":
            return _reset(client)
        if fault == "503":
            client.sendall(SLOWDOWN)
            return client.close()
        if fault == "slow":
            time.sleep(self.random.uniform(0.2, 1.0))
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(request)
            response = b"".join(iter(lambda: upstream.recv(1 << 16), b""))
        if fault == "cut":
            client.sendall(response[: max(1, len(response) // 2)])
            return _reset(client)
        client.sendall(response)
        client.close()


def _read_request(client: socket.socket) -> bytes | None:
    """One request, its Connection header made ``close`` so that the upstream ends its answer with EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(1 << 16)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith((b"connection:", b"keep-alive:"))]
    length = next((int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = client.recv(1 << 16)
        if not chunk:
            return None
        body += chunk
    return b"\r\n".join(lines + [b"Connection: close"]) + b"\r\n\r\n" + body


def _reset(client: socket.socket) -> None:
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
