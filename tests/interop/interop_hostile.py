"""A tiny raw-socket HTTP server on 127.0.0.1 that misbehaves on purpose.

Each test gives it a ``handler(conn, request, state)`` that writes whatever bytes it
likes (or nothing, or closes abruptly). Loops are bounded and the server stops with
its context manager, so no test can leave traffic running.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class State:
    hits: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path_prefix: str = "") -> int:
        with self.lock:
            return sum(1 for r in self.hits if r.path.startswith(path_prefix))


Handler = Callable[[socket.socket, Request, State], None]


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1 << 20:
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, path, headers, body)


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None,
             content_type: str = "application/fhir+json") -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    hdrs = {"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close"}
    hdrs.update(headers or {})
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def fhir(conn: socket.socket, status: int, resource: Any, headers: dict[str, str] | None = None) -> None:
    conn.sendall(response(status, json.dumps(resource).encode(), headers))


CAPABILITY = {"resourceType": "CapabilityStatement", "status": "active", "date": "2026-01-01", "kind": "instance",
              "fhirVersion": "4.0.1", "format": ["json"],
              "rest": [{"mode": "server", "resource": [
                  {"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}],
                   "searchParam": [{"name": "family", "type": "string"}]}]}]}


class HostileServer:
    """Serve ``handler`` on 127.0.0.1 (optionally over TLS with ``ssl_context``)."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.state = State()
        self.ssl_context = ssl_context
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.ssl_context is not None:
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            request = _read_request(conn)
            if request is None:
                return
            with self.state.lock:
                self.state.hits.append(request)
            self.handler(conn, request, self.state)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def __enter__(self) -> "HostileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


# ----------------------------------------------------------------------------- behaviours

def metadata_then(handler: Handler) -> Handler:
    """Answer /metadata conformantly, everything else with ``handler``."""

    def wrapped(conn: socket.socket, request: Request, state: State) -> None:
        if request.path.split("?")[0].endswith("/metadata"):
            fhir(conn, 200, CAPABILITY)
        else:
            handler(conn, request, state)

    return wrapped


def slow_drip_body(interval: float = 0.3, limit_s: float = 20.0) -> Handler:
    def handler(conn: socket.socket, request: Request, state: State) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n")
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            conn.sendall(b" ")
            time.sleep(interval)
    return handler


def slow_drip_headers(interval: float = 0.3, limit_s: float = 20.0) -> Handler:
    def handler(conn: socket.socket, request: Request, state: State) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            conn.sendall(b"X-Drip: 1\r\n")
            time.sleep(interval)
    return handler


def endless_body(limit_bytes: int = 200 * 1024 * 1024) -> Handler:
    def handler(conn: socket.socket, request: Request, state: State) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"[" * 65536
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        sent = 0
        while sent < limit_bytes:
            conn.sendall(framed)
            sent += len(chunk)
    return handler


def invalid_json() -> Handler:
    def handler(conn: socket.socket, request: Request, state: State) -> None:
        conn.sendall(response(200, b'{"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", '))
    return handler


def gzip_bomb(expanded: int = 200 * 1024 * 1024) -> Handler:
    payload = gzip.compress(b"\0" * expanded, compresslevel=9)

    def handler(conn: socket.socket, request: Request, state: State) -> None:
        conn.sendall(response(200, payload, {"Content-Encoding": "gzip"}))
    return handler


def redirect_to(location: Callable[[Request], str], status: int = 302) -> Handler:
    def handler(conn: socket.socket, request: Request, state: State) -> None:
        conn.sendall(response(status, b"", {"Location": location(request)}))
    return handler


def reset() -> Handler:
    def handler(conn: socket.socket, request: Request, state: State) -> None:
        import struct

        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    return handler


def burst(statuses: list[int], then: Handler, retry_after: str | None = None) -> Handler:
    """The first len(statuses) requests get those statuses, the next ones ``then``."""

    def handler(conn: socket.socket, request: Request, state: State) -> None:
        index = state.count() - 1
        if index < len(statuses):
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            fhir(conn, statuses[index], {"resourceType": "OperationOutcome",
                                         "issue": [{"severity": "error", "code": "transient"}]}, headers)
        else:
            then(conn, request, state)
    return handler


def capability() -> Handler:
    def handler(conn: socket.socket, request: Request, state: State) -> None:
        fhir(conn, 200, CAPABILITY)
    return handler
