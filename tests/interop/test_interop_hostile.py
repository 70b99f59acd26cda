"""Hostile endpoints: each becomes a clear ``error`` or ``fail`` within bounded time, and the run goes on."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from interop_hostile import (
    CAPABILITY,
    HostileServer,
    burst,
    capability,
    endless_body,
    fhir,
    gzip_bomb,
    invalid_json,
    metadata_then,
    redirect_to,
    reset,
    slow_drip_body,
    slow_drip_headers,
)

from harness import TargetError
from harness.session import AuditOptions, Session
from harness_plugins.interop.http import AuditClient, HttpPolicy, retry_after_seconds

POLICY = HttpPolicy(connect_timeout=1.0, read_timeout=2.0, total_timeout=3.0, max_bytes=1024 * 1024,
                    rate=0, max_retries=2, max_retry_after=2.0)


def client(url: str, **kw) -> AuditClient:
    return AuditClient(url, HttpPolicy(**{**POLICY.__dict__, **kw}))


def timed(fn):
    start = time.monotonic()
    value = fn()
    return value, time.monotonic() - start


@pytest.mark.parametrize("handler,kind", [
    (slow_drip_body(), "timeout"),
    (slow_drip_headers(), "timeout"),
])
def test_slow_drip_is_cut_at_the_request_deadline(handler, kind):
    with HostileServer(handler) as server:
        reply, elapsed = timed(lambda: client(server.url).request("GET", server.url + "/metadata"))
    assert reply.error_kind == kind, reply.error
    assert elapsed < POLICY.total_timeout + 1.5
    assert reply.exchange.error and reply.exchange.method == "GET"


def test_endless_body_is_cut_at_the_size_limit():
    with HostileServer(endless_body()) as server:
        reply, elapsed = timed(lambda: client(server.url).request("GET", server.url + "/metadata"))
    assert reply.error_kind == "too_large"
    assert "exceeds" in reply.error
    assert elapsed < 5


def test_gzip_bomb_is_cut_after_decompression():
    with HostileServer(gzip_bomb()) as server:
        reply, elapsed = timed(lambda: client(server.url).request("GET", server.url + "/metadata"))
    assert reply.error_kind == "too_large"
    assert elapsed < 5


def test_connection_reset_is_an_error_reply():
    with HostileServer(reset()) as server:
        reply = client(server.url, max_retries=0).request("GET", server.url + "/metadata")
    assert reply.error_kind in ("reset", "protocol")
    assert reply.status is None


def test_off_host_redirect_is_refused_and_credentials_stay_home():
    with HostileServer(redirect_to(lambda r: "http://evil.example/steal")) as server:
        c = client(server.url)
        reply = c.request("GET", server.url + "/metadata", headers={"Authorization": "Bearer secret"})
        assert reply.error_kind == "redirect"
        assert "another host" in reply.error
        assert server.state.count() == 1  # nothing followed


def test_redirect_loop_is_bounded():
    with HostileServer(redirect_to(lambda r: r.path + ("x" if len(r.path) < 40 else ""))) as server:
        reply = client(server.url).request("GET", server.url + "/a")
        assert reply.error_kind == "redirect"
        assert server.state.count() <= POLICY.max_redirects + 2


def test_same_host_redirect_is_followed():
    def handler(conn, request, state):
        if request.path == "/old/metadata":
            conn.sendall(__import__("interop_hostile").response(301, b"", {"Location": "/new/metadata"}))
        else:
            fhir(conn, 200, CAPABILITY)

    with HostileServer(handler) as server:
        reply = client(server.url).request("GET", server.url + "/old/metadata")
    assert reply.status == 200 and len(reply.history) == 1
    assert [x.status for x in reply.exchanges] == [301, 200]


def test_burst_of_503_is_retried_then_succeeds():
    with HostileServer(burst([503, 502], capability())) as server:
        reply = client(server.url).request("GET", server.url + "/metadata")
    assert reply.status == 200
    assert [x.status for x in reply.exchanges] == [503, 502, 200]


def test_429_retry_after_is_honoured():
    with HostileServer(burst([429], capability(), retry_after="1")) as server:
        reply, elapsed = timed(lambda: client(server.url).request("GET", server.url + "/metadata"))
    assert reply.status == 200
    assert 0.9 <= elapsed < 3


def test_429_with_a_long_retry_after_is_not_waited_for():
    with HostileServer(burst([429] * 10, capability(), retry_after="3600")) as server:
        reply, elapsed = timed(lambda: client(server.url).request("GET", server.url + "/metadata"))
    assert reply.status == 429 and elapsed < 1


def test_persistent_5xx_retries_are_bounded():
    with HostileServer(burst([503] * 100, capability())) as server:
        reply = client(server.url).request("GET", server.url + "/metadata")
        assert reply.status == 503
        assert server.state.count() == POLICY.max_retries + 1


def test_retry_after_http_date():
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    value = retry_after_seconds(when.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert 25 < value <= 31
    assert retry_after_seconds("soon") is None


def test_tls_failure_is_reported(tmp_path):
    from test_interop_tls import self_signed_context

    context, _ = self_signed_context(tmp_path)
    with HostileServer(capability(), ssl_context=context) as server:
        reply = client(server.url).request("GET", server.url + "/metadata")
    assert reply.error_kind == "tls"


def test_circuit_breaker_stops_hammering_a_dead_endpoint():
    with HostileServer(slow_drip_headers(interval=0.2, limit_s=5)) as server:
        c = client(server.url, total_timeout=0.5, circuit_breaker=2, max_retries=0)
        kinds = [c.request("GET", f"{server.url}/p{i}").error_kind for i in range(5)]
    assert kinds[:2] == ["timeout", "timeout"]
    assert kinds[2:] == ["circuit"] * 3


def test_unreachable_endpoint_makes_the_target_unavailable(make_target):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TargetError, match="metadata"):
        make_target(f"http://127.0.0.1:{port}/fhir")


def _profile(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "vendor.toml"
    path.write_text(f'''[subject]
vendor = "Hostile"
product = "Test"

[targets.fhir]
base_url = "{url}/fhir"
timeout = 1.0
connect_timeout = 1.0
request_timeout = 2.0
max_retries = 1
max_retry_after = 1
''', encoding="utf-8")
    return path


@pytest.mark.parametrize("name,handler", [
    ("slow-drip", metadata_then(slow_drip_body(interval=0.2, limit_s=10))),
    ("endless", metadata_then(endless_body())),
    ("invalid-json", metadata_then(invalid_json())),
    ("gzip-bomb", metadata_then(gzip_bomb())),
    ("reset", metadata_then(reset())),
    ("offhost", metadata_then(redirect_to(lambda r: "http://evil.example/x"))),
    ("5xx", metadata_then(burst([503] * 10_000, capability()))),
    ("429", metadata_then(burst([429] * 10_000, capability(), retry_after="1"))),
])
def test_an_audit_of_a_hostile_endpoint_finishes_with_errors_or_failures(tmp_path, name, handler):
    with HostileServer(handler) as server:
        start = time.monotonic()
        card = Session(_profile(tmp_path, server.url), AuditOptions(families=("interop",), jobs=4,
                                                                    timeout=30)).run()
        elapsed = time.monotonic() - start
    results = [r for r in card["results"] if r["check_id"].startswith("interop.")]
    assert results, name
    assert elapsed < 40, f"{name}: {elapsed:.1f}s"
    statuses = {r["status"] for r in results}
    assert statuses & {"error", "fail"}, (name, statuses)
    crashed = [r for r in results if "crashed" in " ".join(f["message"] for f in r["findings"])]
    assert not crashed, crashed[0]
    # the capability check itself still passes: the hostile part is elsewhere
    cap = next(r for r in results if r["check_id"] == "interop.capability.statement")
    assert cap["status"] in ("pass", "review")


@pytest.mark.parametrize("name,handler,expected", [
    ("invalid-json", invalid_json(), "fail"),
    ("html", lambda c, r, s: c.sendall(__import__("interop_hostile").response(
        200, b"<html><body>Maintenance</body></html>", content_type="text/html")), "fail"),
    ("slow-drip", slow_drip_body(interval=0.2, limit_s=10), "error"),
    ("endless", endless_body(), "error"),
])
def test_broken_metadata_is_a_clear_capability_result(tmp_path, name, handler, expected):
    with HostileServer(handler) as server:
        card = Session(_profile(tmp_path, server.url), AuditOptions(check_ids=("interop.capability.statement",),
                                                                    timeout=20)).run()
    (result,) = card["results"]
    assert result["status"] == expected, result


@pytest.mark.parametrize("answer,status,message_id", [
    (500, "fail", "interop.accept.missing_server_error"),
    (406, "warn", "interop.accept.missing_refused"),
    (200, "pass", "interop.accept.missing_ok"),
])
def test_a_request_without_accept_is_judged_by_what_the_spec_allows(make_target, answer, status, message_id):
    """R4 leaves the format open when no Accept is sent: refusing is a warning, crashing a failure."""
    from interop_hostile import response

    from harness.testing import run_check
    from harness_plugins.interop.checks import format_accept

    def handler(conn, request, state):
        if "accept" not in request.headers and answer != 200:
            conn.sendall(response(answer, b"Accept header required", content_type="text/plain"))
        elif request.headers.get("accept") == "application/x-harness-unsupported":
            fhir(conn, 406, {"resourceType": "OperationOutcome",
                             "issue": [{"severity": "error", "code": "not-supported"}]})
        else:
            fhir(conn, 200, CAPABILITY)

    with HostileServer(handler) as server:
        target = make_target(server.url + "/fhir")
        (result,) = run_check(format_accept, target)
    findings = [f for f in result.findings if f.message_id == message_id]
    assert findings and findings[0].status.value == status, result.findings
    assert result.status.value == status
