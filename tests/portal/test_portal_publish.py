"""``harness publish``'s client: idempotency key, bounded retries, Retry-After, clear 4xx messages."""

from __future__ import annotations

import email.utils
import time

import pytest
from portal_support import ThreadedServer, free_port
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness_plugins.portal.publish import PublishError, publish, retry_after_seconds


def flaky_portal(script: list[tuple[int, dict[str, str]]]):
    """A portal answering each POST with the next (status, headers) of ``script``."""
    seen: list[dict[str, str]] = []

    async def endpoint(request):
        seen.append(dict(request.headers) | {"_body": (await request.body()).decode()})
        status, headers = script[min(len(seen), len(script)) - 1]
        if status in (200, 201):
            return JSONResponse({"digest": "d", "product": "P"}, status_code=status)
        return JSONResponse({"type": "x", "title": "Nope", "status": status, "code": "some-code",
                             "detail": f"refused with {status}"}, status_code=status, headers=headers,
                            media_type="application/problem+json")

    return Starlette(routes=[Route("/api/v1/scorecards", endpoint, methods=["POST"])]), seen


def test_retries_5xx_and_429_with_the_same_idempotency_key_and_honours_retry_after():
    app, seen = flaky_portal([(503, {}), (429, {"Retry-After": "7"}), (502, {"Retry-After": "1000"}), (201, {})])
    waits: list[float] = []
    with ThreadedServer(app) as server:
        result = publish(b'{"x":1}', server.url, "tok", "sha256:abc", retries=5, backoff=0.5, max_backoff=30,
                         sleep=waits.append)
    assert result.status == 201 and result.attempts == 4
    assert {h["idempotency-key"] for h in seen} == {"sha256:abc"}
    assert {h["authorization"] for h in seen} == {"Bearer tok"}
    assert all(h["_body"] == '{"x":1}' for h in seen)
    assert 0.375 <= waits[0] <= 0.625  # exponential backoff with jitter
    assert waits[1] == 7  # Retry-After honoured
    assert waits[2] == 30  # ... but capped


def test_gives_up_after_the_bounded_retries():
    app, seen = flaky_portal([(500, {})])
    waits: list[float] = []
    with ThreadedServer(app) as server:
        with pytest.raises(PublishError) as caught:
            publish(b"{}", server.url, "tok", "k", retries=3, backoff=1, max_backoff=3, sleep=waits.append)
    assert len(seen) == 4 and len(waits) == 3
    assert waits[2] <= 3.0  # capped
    assert "gave up after 4 attempt(s): HTTP 500" in str(caught.value)


def test_client_errors_are_final_and_explained():
    app, seen = flaky_portal([(422, {})])
    with ThreadedServer(app) as server:
        with pytest.raises(PublishError) as caught:
            publish(b"{}", server.url, "tok", "k", retries=3, sleep=lambda s: None)
    assert len(seen) == 1
    assert str(caught.value) == "portal refused the envelope: HTTP 422 Nope [some-code]: refused with 422"
    assert caught.value.status == 422 and caught.value.problem["code"] == "some-code"


def test_unreachable_portal_is_retried_then_reported():
    waits: list[float] = []
    with pytest.raises(PublishError, match=r"gave up after 3 attempt\(s\): ConnectError"):
        publish(b"{}", f"http://127.0.0.1:{free_port()}", "tok", "k", retries=2, sleep=waits.append, timeout=5)
    assert len(waits) == 2


def test_retry_after_forms():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    future = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= retry_after_seconds(future) <= 61
    assert retry_after_seconds(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0
