"""A polite, bounded HTTP client for auditing a vendor's FHIR endpoint.

What it guarantees, whatever the server does:

- **Time**: connect and read timeouts, plus a hard deadline per request that
  also bounds slow-drip headers and bodies (enforced in the socket reads, see
  :class:`DeadlineBackend`), and a bounded number of retries.
- **Size**: bodies are streamed and cut at ``max_bytes`` (``harness.safety.fetch``),
  after decompression, so gzip bombs and endless bodies stop there.
- **Reach**: redirects are followed only on the declared host, a bounded
  number of times; an off-host redirect or a loop is refused, so credentials
  never leave the declared origin.
- **Load**: at most ``max_concurrency`` requests in flight and at most
  ``rate`` requests per second, so an audit never floods a vendor.
- **Retries**: 429 and 502/503/504 are retried a bounded number of times,
  honouring ``Retry-After`` (seconds or HTTP date) up to ``max_retry_after``.
- **Evidence**: every attempt becomes an :class:`harness.HttpExchange`, also
  when the transport failed (``error`` set), so findings can cite it.

A transport failure never raises: it comes back as a :class:`Reply` whose
``error`` says what happened (``error_kind`` classifies it).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from harness.safety import retry_after_seconds
from harness import Evidence, HttpExchange, sha256_bytes
from harness.safety import HttpLimits, UnsafeInput, fetch

RETRY_STATUSES = frozenset({429, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Response headers that change on every run and would make scorecards differ for equal inputs.
VOLATILE_RESPONSE_HEADERS = frozenset({"date", "x-request-id", "x-correlation-id"})


@dataclass(frozen=True)
class HttpPolicy:
    """Limits of the audit client (all times in seconds)."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 30.0
    max_bytes: int = 20 * 1024 * 1024
    max_concurrency: int = 4
    rate: float = 10.0  # requests per second; 0 = unlimited
    max_retries: int = 2
    max_retry_after: float = 10.0
    max_redirects: int = 3
    circuit_breaker: int = 5  # consecutive transport failures before failing fast
    excerpt_chars: int = 2000


# ----------------------------------------------------------------------------- deadline enforcement

_deadline = threading.local()


def _remaining(timeout: float | None) -> float | None:
    """The socket timeout to use now: the smaller of the given one and what is left of the deadline."""
    deadline = getattr(_deadline, "value", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("request deadline exceeded (slow response)")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write respects the thread's request deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, with streams bounded by a per-request deadline.

    httpx only has per-operation timeouts: a server dripping one byte every few
    seconds never trips them. The deadline is set per request on the calling
    thread and every socket operation uses what is left of it.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._inner.connect_tcp(host, port, _remaining(timeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._inner.connect_unix_socket(path, _remaining(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def ssl_context(verify: bool = True, ca_bundle: str | None = None) -> ssl.SSLContext:
    """Certificate verification on by default (certifi, or the auditor's CA bundle)."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def make_transport(context: ssl.SSLContext, max_connections: int) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(verify=context, trust_env=False)
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 - the only way to give httpx a network backend
        ssl_context=context, max_connections=max_connections, max_keepalive_connections=max_connections,
        keepalive_expiry=2.0, network_backend=DeadlineBackend())
    return transport


# ----------------------------------------------------------------------------- rate limiting

class RateLimiter:
    """Token bucket shared by all threads: at most ``rate`` requests per second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = float(rate)
        self.capacity = max(1, burst)
        self.tokens = float(self.capacity)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if self.rate <= 0:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


# ----------------------------------------------------------------------------- replies

class BadBody(ValueError):
    """The body is not the JSON it should be."""


@dataclass
class Reply:
    """The outcome of one logical request: the final response, or the reason there is none.

    ``history`` holds the earlier attempts (retried 429/5xx, followed redirects);
    ``exchanges`` is all of them, oldest first, for evidence.
    """

    method: str
    url: str
    status: int | None
    headers: Mapping[str, str]
    body: bytes
    exchange: HttpExchange
    error: str | None = None
    error_kind: str | None = None  # timeout, too_large, tls, connect, reset, redirect, circuit, protocol
    history: tuple[HttpExchange, ...] = ()
    _parsed: Any = field(default=None, repr=False)
    _parse_error: str | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def exchanges(self) -> tuple[HttpExchange, ...]:
        return (*self.history, self.exchange)

    def evidence(self) -> list[Evidence]:
        return [Evidence.from_http(x) for x in self.exchanges]

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-case ('' when absent)."""
        value = self.headers.get("content-type", "") if self.headers else ""
        return value.split(";", 1)[0].strip().lower()

    def header(self, name: str) -> str | None:
        return self.headers.get(name) if self.headers else None

    def looks_like_html(self) -> bool:
        if "html" in self.media_type:
            return True
        head = self.body[:512].lstrip().lower()
        return head.startswith(b"<!doctype html") or head.startswith(b"<html")

    def json(self) -> Any:
        """The parsed body (cached); raises :class:`BadBody` when it is not JSON."""
        if self._parse_error is not None:
            raise BadBody(self._parse_error)
        if self._parsed is None:
            try:
                self._parsed = json.loads(self.body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                self._parse_error = f"body is not valid JSON ({exc})"
                raise BadBody(self._parse_error) from None
        return self._parsed

    def resource(self) -> dict[str, Any] | None:
        """The body as a FHIR resource (a JSON object with resourceType), or None."""
        try:
            body = self.json()
        except BadBody:
            return None
        return body if isinstance(body, dict) and isinstance(body.get("resourceType"), str) else None


def _failed_exchange(method: str, url: str, headers: Mapping[str, str], error: str, start: float,
                     status: int | None = None) -> HttpExchange:
    return HttpExchange(method=method, url=url, status=status, duration_ms=round((time.perf_counter() - start) * 1000, 1),
                        request_headers=dict(headers), error=error)


def _stable(exchange: HttpExchange) -> HttpExchange:
    headers = {k: v for k, v in exchange.response_headers.items() if k.lower() not in VOLATILE_RESPONSE_HEADERS}
    return replace(exchange, response_headers=headers)


def classify_transport_error(exc: BaseException) -> tuple[str, str]:
    """(kind, human message) for an exception raised while talking to the server."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, UnsafeInput):
        kind = "too_large" if "exceeds" in text else "timeout"
        return kind, text
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out ({type(exc).__name__}: {text})"
    if isinstance(exc, httpx.ConnectError):
        lowered = text.lower()
        if "certificate" in lowered or "ssl" in lowered or "tls" in lowered or "handshake" in lowered:
            return "tls", f"TLS failure: {text}"
        return "connect", f"connection failed: {text}"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        lowered = text.lower()
        if "ssl" in lowered or "certificate" in lowered:
            return "tls", f"TLS failure: {text}"
        if isinstance(exc, httpx.RemoteProtocolError):
            return "protocol", f"connection closed or broken HTTP: {text}"
        return "reset", f"connection reset or broken: {text}"
    if isinstance(exc, httpx.DecodingError):
        return "protocol", f"undecodable content encoding: {text}"
    if isinstance(exc, ssl.SSLError):
        return "tls", f"TLS failure: {text}"
    if isinstance(exc, (socket.error, httpx.TransportError)):
        return "connect", f"transport failure: {text}"
    return "protocol", f"{type(exc).__name__}: {text}"




def same_origin_allowed(declared: str, target: str) -> bool:
    """A redirect may stay on the declared host (an http -> https upgrade on it is fine)."""
    a, b = urlsplit(declared), urlsplit(target)
    if (a.hostname or "").lower() != (b.hostname or "").lower():
        return False
    if a.scheme == b.scheme:
        return (a.port or _default_port(a.scheme)) == (b.port or _default_port(b.scheme))
    return a.scheme == "http" and b.scheme == "https"


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


# ----------------------------------------------------------------------------- client

AuthHeaders = Callable[[], Mapping[str, str]]


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    redirects: int = 0
    transport_errors: int = 0
    bytes: int = 0


#: A request header naming (comma-separated) default headers to leave out of that request,
#: e.g. ``{OMIT_HEADERS: "accept"}`` to send no Accept at all; it is never sent itself.
OMIT_HEADERS = "X-Harness-Omit"


def _omit_headers(request: httpx.Request) -> None:
    """httpx merges client defaults into every request with no way to drop one; this hook can."""
    names = request.headers.pop(OMIT_HEADERS, None)
    for name in (names or "").split(","):
        if name.strip():
            request.headers.pop(name.strip(), None)


class AuditClient:
    """Thread-safe bounded HTTP client bound to one declared origin."""

    def __init__(self, origin: str, policy: HttpPolicy = HttpPolicy(), *, verify: bool = True,
                 ca_bundle: str | None = None, default_headers: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.origin = origin
        self.policy = policy
        self.limits = HttpLimits(max_bytes=policy.max_bytes, total_timeout=policy.total_timeout,
                                 excerpt_chars=policy.excerpt_chars)
        timeout = httpx.Timeout(connect=policy.connect_timeout, read=policy.read_timeout,
                                write=policy.read_timeout, pool=policy.total_timeout)
        self.client = httpx.Client(transport=make_transport(ssl_context(verify, ca_bundle), policy.max_concurrency),
                                   headers=dict(default_headers or {}), timeout=timeout, follow_redirects=False,
                                   trust_env=False, event_hooks={"request": [_omit_headers]})
        self.slots = threading.BoundedSemaphore(max(1, policy.max_concurrency))
        self.limiter = RateLimiter(policy.rate, burst=max(1, policy.max_concurrency))
        self.stats = Stats()
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._last_failure = ""
        self._sleep = sleep

    # -- one attempt -------------------------------------------------------------------------

    def _attempt(self, method: str, url: str, headers: Mapping[str, str], content: bytes | None) -> Reply:
        with self._lock:
            if self.policy.circuit_breaker and self._consecutive_failures >= self.policy.circuit_breaker:
                message = (f"not sent: the endpoint failed {self._consecutive_failures} times in a row "
                           f"(last: {self._last_failure})")
                exchange = HttpExchange(method=method, url=url, request_headers=dict(headers), error=message)
                return Reply(method, url, None, {}, b"", exchange, error=message, error_kind="circuit")
        self.limiter.acquire()
        with self.slots:
            with self._lock:
                self.stats.requests += 1
            start = time.perf_counter()
            _deadline.value = time.monotonic() + self.policy.total_timeout
            try:
                fetched = fetch(self.client, method, url, limits=self.limits, headers=headers, content=content)
            except Exception as exc:  # noqa: BLE001 - every transport failure becomes a Reply
                kind, message = classify_transport_error(exc)
                sent = dict(self.client.headers) | dict(headers)
                for name in sent.pop(OMIT_HEADERS, "").lower().split(","):
                    sent = {k: v for k, v in sent.items() if k.lower() != name.strip()}
                exchange = _failed_exchange(method, url, sent, message, start)
                with self._lock:
                    self.stats.transport_errors += 1
                    if kind != "too_large":
                        self._consecutive_failures += 1
                        self._last_failure = message
                return Reply(method, url, None, {}, b"", exchange, error=message, error_kind=kind)
            finally:
                _deadline.value = None
        with self._lock:
            self._consecutive_failures = 0
            self.stats.bytes += len(fetched.body)
        return Reply(method, str(fetched.exchange.url), fetched.status, fetched.headers, fetched.body,
                     _stable(fetched.exchange))

    # -- one logical request ----------------------------------------------------------------

    def request(self, method: str, url: str, *, params: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None, content: bytes | None = None,
                idempotent: bool | None = None, on_unauthorized: Callable[[], Mapping[str, str] | None] | None = None,
                ) -> Reply:
        """Send with redirects (same host only) and retries (429/502/503/504, Retry-After)."""
        headers = dict(headers or {})
        if params:
            url = str(httpx.URL(url).copy_merge_params(dict(params) if isinstance(params, Mapping) else
                                                       httpx.QueryParams(list(params))))
        if not same_origin_allowed(self.origin, url):
            message = f"refused: {url} is not on the declared host {urlsplit(self.origin).hostname}"
            exchange = HttpExchange(method=method, url=url, request_headers=headers, error=message)
            return Reply(method, url, None, {}, b"", exchange, error=message, error_kind="redirect")
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS")
        history: list[HttpExchange] = []
        visited = {url}
        retries = 0
        refreshed = reset_retried = False
        current_method, current_content = method, content
        while True:
            reply = self._attempt(current_method, url, headers, current_content)
            if reply.error is not None:
                if reply.error_kind in ("reset", "protocol") and idempotent and not reset_retried:
                    # A kept-alive connection closed by the server as we reused it: retry once on a new one.
                    reset_retried = True
                    history.append(reply.exchange)
                    with self._lock:
                        self.stats.retries += 1
                    continue
                reply.history = tuple(history)
                return reply
            status = reply.status or 0
            if status == 401 and on_unauthorized is not None and not refreshed:
                fresh = on_unauthorized()
                refreshed = True
                if fresh:
                    history.append(reply.exchange)
                    headers.update(fresh)
                    continue
            if status in REDIRECT_STATUSES and reply.header("location"):
                location = urljoin(url, reply.header("location") or "")
                history.append(reply.exchange)
                if not same_origin_allowed(self.origin, location):
                    reply.error = (f"redirect to another host refused: {location} "
                                   f"(declared host {urlsplit(self.origin).hostname})")
                    reply.error_kind = "redirect"
                    reply.history = tuple(history[:-1])
                    return reply
                if location in visited or len(history) > self.policy.max_redirects:
                    reply.error = f"redirect loop or too many redirects (>{self.policy.max_redirects}) at {location}"
                    reply.error_kind = "redirect"
                    reply.history = tuple(history[:-1])
                    return reply
                with self._lock:
                    self.stats.redirects += 1
                visited.add(location)
                url = location
                if status == 303 or (status in (301, 302) and current_method == "POST"):
                    current_method, current_content = "GET", None
                continue
            if status in RETRY_STATUSES and idempotent and retries < self.policy.max_retries:
                wait = retry_after_seconds(reply.header("retry-after"))
                if wait is None:
                    wait = min(self.policy.max_retry_after, 0.25 * (2 ** retries))
                if wait <= self.policy.max_retry_after:
                    history.append(reply.exchange)
                    retries += 1
                    with self._lock:
                        self.stats.retries += 1
                    self._sleep(wait)
                    continue
            reply.history = tuple(history)
            return reply

    def close(self) -> None:
        self.client.close()


def body_digest(body: bytes) -> str:
    return sha256_bytes(body)
