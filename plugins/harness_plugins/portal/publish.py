"""``harness publish``: post a signed envelope to a portal, safely retried.

- ``POST {portal}/api/v1/scorecards`` with ``Authorization: Bearer <token>``,
  ``Content-Type: application/vnd.dsse.envelope.v1+json`` and
  ``Idempotency-Key: sha256:<scorecard digest>`` (the statement's subject
  digest), the same on every attempt, so a retried upload is stored once.
- 5xx, 429 and network errors are retried, at most ``retries`` times, after
  ``min(max_backoff, base * 2**attempt)`` seconds with ±25 % jitter, or after the
  server's ``Retry-After`` (seconds or HTTP date) when it sends one, capped at
  ``max_backoff`` too.
- any other 4xx is final: the portal's problem details (RFC 9457) are printed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from harness.safety import retry_after_seconds

ENVELOPE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class PublishError(Exception):
    """The portal refused the envelope, or could not be reached after every retry."""

    def __init__(self, message: str, status: int | None = None, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.problem = status, problem or {}


@dataclass
class PublishResult:
    status: int
    body: dict[str, Any]
    attempts: int
    waits: list[float] = field(default_factory=list)

    @property
    def replayed(self) -> bool:
        return self.status == 200




def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    return data if isinstance(data, dict) else {"detail": str(data)[:500]}


def describe_problem(status: int, problem: dict[str, Any]) -> str:
    code = problem.get("code")
    title = problem.get("title") or httpx.codes.get_reason_phrase(status)
    detail = problem.get("detail") or ""
    hints = {401: "check --token", 403: "the portal does not accept this signer or token",
             409: "this idempotency key was already used for different content",
             413: "the envelope is larger than the portal accepts"}
    text = f"portal refused the envelope: HTTP {status} {title}" + (f" [{code}]" if code else "")
    if detail:
        text += f": {detail}"
    if status in hints and not detail:
        text += f" ({hints[status]})"
    return text


def publish(envelope: bytes, portal: str, token: str, idempotency_key: str, *, retries: int = 4,
            backoff: float = 0.5, max_backoff: float = 30.0, timeout: float = 120.0,
            sleep: Callable[[float], None] = time.sleep, client: httpx.Client | None = None,
            log: Callable[[str], None] = lambda _msg: None) -> PublishResult:
    """Post ``envelope``; returns on 200/201, raises :class:`PublishError` otherwise."""
    url = portal.rstrip("/") + "/api/v1/scorecards"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": ENVELOPE_MEDIA_TYPE,
               "Idempotency-Key": idempotency_key, "Accept": "application/json"}
    own = client is None
    client = client or httpx.Client(timeout=timeout)
    waits: list[float] = []
    last_status: int | None = None
    last_problem: dict[str, Any] | None = None
    try:
        for attempt in range(retries + 1):
            reason: str
            wait_hint: float | None = None
            try:
                response = client.post(url, content=envelope, headers=headers)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                last_status = last_problem = None
            else:
                if response.status_code in (200, 201):
                    try:
                        body = response.json()
                    except ValueError:
                        body = {}
                    return PublishResult(response.status_code, body, attempt + 1, waits)
                if response.status_code not in RETRY_STATUSES:
                    problem = _problem(response)
                    raise PublishError(describe_problem(response.status_code, problem), response.status_code,
                                       problem)
                reason = f"HTTP {response.status_code}"
                wait_hint = retry_after_seconds(response.headers.get("Retry-After"))
                last_status, last_problem = response.status_code, _problem(response)
            if attempt == retries:
                tail = f" (last answer: {describe_problem(last_status, last_problem or {})})" if last_status else ""
                raise PublishError(f"gave up after {attempt + 1} attempt(s): {reason}{tail}", last_status,
                                   last_problem)
            if wait_hint is not None:
                wait = min(max_backoff, wait_hint)
            else:
                wait = min(max_backoff, backoff * 2 ** attempt * random.uniform(0.75, 1.25))
            waits.append(wait)
            log(f"attempt {attempt + 1} failed ({reason}); retrying in {wait:.1f}s")
            sleep(wait)
    finally:
        if own:
            client.close()
    raise AssertionError("unreachable")  # pragma: no cover


def upload_ratings(path_bytes: bytes, filename: str, portal: str, token: str, timeout: float = 120.0) -> dict[str, Any]:
    """Post a ratings export (CSV or JSON) to the portal; returns its answer."""
    media = "application/json" if filename.lower().endswith(".json") else "text/csv"
    response = httpx.post(portal.rstrip("/") + "/api/v1/ratings", params={"filename": filename}, content=path_bytes,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": media}, timeout=timeout)
    if response.status_code not in (200, 201):
        problem = _problem(response)
        raise PublishError(describe_problem(response.status_code, problem).replace("envelope", "ratings"),
                           response.status_code, problem)
    return response.json()
