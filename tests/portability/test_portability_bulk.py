"""The Bulk Data client against a scriptable loopback server: deadlines, Retry-After caps, errors, tokens."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.demo import DemoServer
from harness.testing import run_check
from harness_plugins.portability import checks
from harness_plugins.portability.bulk import BulkClient, BulkSettings, retry_after_seconds
from harness_plugins.portability.target import ExportTarget

OO = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception", "diagnostics": "x"}]}
TOKEN = "s3cret-token-value"


class Behaviour:
    def __init__(self, **kw):
        self.polls_before_done = kw.get("polls_before_done", 1)
        self.retry_after = kw.get("retry_after", "1")
        self.never = kw.get("never", False)
        self.status_error = kw.get("status_error")          # (status, body bytes, content type)
        self.transient_first = kw.get("transient_first", 0)
        self.requires_token = kw.get("requires_token", False)
        self.enforce_token = kw.get("enforce_token", False)
        self.declared = kw.get("declared", None)             # requiresAccessToken in manifest
        self.fail_file = kw.get("fail_file", False)
        self.kickoff_status = kw.get("kickoff_status", 202)
        self.file_host = kw.get("file_host")                 # serve file URLs under another host name
        self.file_auth: list[bool] = []
        self.polls = 0
        self.deleted = []


def app_routes(b: Behaviour):
    lines = b'{"resourceType":"Patient","id":"p1"}\n{"resourceType":"Patient","id":"p2"}\n'

    def authorized(request):
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    async def kickoff(request: Request):
        if b.kickoff_status != 202:
            return Response("<html>nope</html>", status_code=b.kickoff_status, media_type="text/html")
        if b.enforce_token and not authorized(request):
            return JSONResponse(OO, status_code=401)
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return Response(status_code=202, headers={"Content-Location": f"{origin}/status/1"})

    async def status(request: Request):
        b.polls += 1
        if b.transient_first and b.polls <= b.transient_first:
            body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "transient"}]}
            return JSONResponse(body, status_code=500, headers={"Retry-After": "0"})
        if b.status_error:
            status_code, body, ctype = b.status_error
            return Response(body, status_code=status_code, media_type=ctype)
        if b.never or b.polls <= b.polls_before_done:
            return Response(status_code=202, headers={"Retry-After": b.retry_after, "X-Progress": f"{b.polls} %"})
        origin = f"{request.url.scheme}://{request.url.netloc}"
        manifest = {"transactionTime": "2024-06-11T12:00:00Z", "request": f"{origin}/fhir/$export",
                    "output": [{"type": "Patient", "url": f"{origin}/files/Patient.ndjson", "count": 2}], "error": []}
        if b.file_host:
            other = f"{request.url.scheme}://{b.file_host}:{request.url.port}"
            manifest["output"][0]["url"] = f"{other}/files/Patient.ndjson"
        if b.declared is not None:
            manifest["requiresAccessToken"] = b.declared
        return JSONResponse(manifest)

    async def delete(request: Request):
        b.deleted.append(request.url.path)
        return Response(status_code=202)

    async def file(request: Request):
        b.file_auth.append("authorization" in request.headers)
        if b.fail_file:
            return Response("boom", status_code=500)
        if b.requires_token and not authorized(request):
            return JSONResponse(OO, status_code=401)
        return Response(lines, media_type="application/fhir+ndjson")

    return [Route("/fhir/$export", kickoff), Route("/status/1", status, methods=["GET"]),
            Route("/status/1", delete, methods=["DELETE"]), Route("/files/Patient.ndjson", file)]


@pytest.fixture
def serve():
    servers = []

    def start(behaviour: Behaviour) -> str:
        server = DemoServer(app_routes(behaviour))
        server.__enter__()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def client(url: str, tmp_path: Path, **kw) -> BulkClient:
    settings = BulkSettings(kickoff_url=f"{url}/fhir/$export", min_poll_interval=0.01, **kw)
    return BulkClient(settings, tmp_path)


def test_endless_polling_stops_at_the_deadline_despite_a_huge_retry_after(serve, tmp_path):
    b = Behaviour(never=True, retry_after="3600")
    url = serve(b)
    start = time.monotonic()
    job = client(url, tmp_path, deadline=1.0, max_retry_after=0.2).run_job("system", f"{url}/fhir/$export")
    elapsed = time.monotonic() - start
    assert job.outcome == "deadline" and 0.9 <= elapsed < 5
    assert job.capped_waits >= 3 and job.retry_after_values[0] == "3600"
    assert job.progress_values[:2] == ["1 %", "2 %"]
    assert b.deleted == ["/status/1"]  # abandoned job cancelled as a courtesy
    assert len(job.polls) <= 6 and job.poll_count >= 4


def test_completes_after_polling_and_downloads(serve, tmp_path):
    url = serve(Behaviour(polls_before_done=2, retry_after="0", declared=False))
    job = client(url, tmp_path, deadline=10).run_job("system", f"{url}/fhir/$export", download=True)
    assert job.outcome == "complete" and job.poll_count == 3
    (item,) = job.downloads
    assert item.status == 200 and Path(item.path).read_bytes().count(b"\n") == 2
    assert Path(item.path).is_relative_to(tmp_path)
    assert "date" not in {k.lower() for k in job.final.response_headers}


def test_transient_errors_are_retried(serve, tmp_path):
    url = serve(Behaviour(transient_first=2, polls_before_done=2, retry_after="0", declared=False))
    job = client(url, tmp_path, deadline=10).run_job("system", f"{url}/fhir/$export")
    assert job.outcome == "complete"


@pytest.mark.parametrize("status, body, ctype, kind", [
    (500, json.dumps(OO).encode(), "application/fhir+json", "OperationOutcome"),
    (500, b"<html>Internal Server Error</html>", "text/html", "not JSON"),
    (404, b'{"error": "gone"}', "application/json", "JSON but not"),
])
def test_status_errors_are_kept_with_their_body(serve, tmp_path, status, body, ctype, kind):
    url = serve(Behaviour(status_error=(status, body, ctype)))
    target = ExportTarget({"bulk_url": f"{url}/fhir/$export", "deadline": 5, "probe_cancel": False,
                           "probe_params": False, "min_poll_interval": 0.01})
    try:
        (result,) = run_check(checks.bulk_status, target)
        assert result.status.value == "fail"
        messages = " | ".join(f.message for f in result.findings)
        assert f"HTTP {status}" in messages
        if kind != "OperationOutcome":
            assert kind in messages
    finally:
        target.close()


def test_kickoff_error_that_is_not_an_operation_outcome(serve, tmp_path):
    url = serve(Behaviour(kickoff_status=500))
    target = ExportTarget({"bulk_url": f"{url}/fhir/$export", "probe_cancel": False, "probe_params": False})
    try:
        (result,) = run_check(checks.bulk_kickoff, target)
        ids = sorted(f.message_id for f in result.findings)
        assert ids == ["portability.bulk.error_not_outcome", "portability.bulk.kickoff_status"]
        (status,) = run_check(checks.bulk_status, target)
        assert status.status.value == "skipped"
    finally:
        target.close()


def _download_result(url, monkeypatch, auth=None):
    config = {"bulk_url": f"{url}/fhir/$export", "probe_cancel": False, "probe_params": False,
              "min_poll_interval": 0.01, "max_retry_after": 0.05}
    if auth:
        monkeypatch.setenv("BULK_TEST_TOKEN", TOKEN)
        config["auth"] = {"type": "bearer", "token_env": "BULK_TEST_TOKEN"}
    target = ExportTarget(config)
    try:
        (result,) = run_check(checks.bulk_download, target)
        return result
    finally:
        target.close()


def test_requires_access_token_true_but_files_served_without_it(serve, monkeypatch):
    url = serve(Behaviour(declared=True, requires_token=False))
    result = _download_result(url, monkeypatch, auth=True)
    assert result.status.value == "fail"
    assert any(f.message_id == "portability.bulk.token_not_enforced" for f in result.findings)


def test_requires_access_token_true_and_enforced(serve, monkeypatch):
    url = serve(Behaviour(declared=True, requires_token=True))
    result = _download_result(url, monkeypatch, auth=True)
    assert result.status.value == "pass", [f.message for f in result.findings]
    sent = result.findings[0]
    assert "refused without it" in sent.message


def test_requires_access_token_false_but_the_file_server_wants_one(serve, monkeypatch):
    url = serve(Behaviour(declared=False, requires_token=True))
    result = _download_result(url, monkeypatch, auth=True)
    assert result.status.value == "fail"
    assert any(f.message_id == "portability.bulk.token_mismatch" for f in result.findings)


def test_requires_access_token_true_with_no_auth_at_all(serve, monkeypatch):
    url = serve(Behaviour(declared=True, requires_token=False))
    result = _download_result(url, monkeypatch)
    assert any(f.message_id == "portability.bulk.token_not_enforced" for f in result.findings)


def test_token_never_reaches_the_scorecard(serve, monkeypatch):
    from harness.redaction import redact_finding

    url = serve(Behaviour(declared=True, requires_token=True))
    result = _download_result(url, monkeypatch, auth=True)
    for finding in result.findings:
        data = finding.to_dict()
        redact_finding(data)
        assert TOKEN not in json.dumps(data)


def test_download_500_is_reported_with_http_evidence(serve, monkeypatch):
    url = serve(Behaviour(declared=False, fail_file=True))
    result = _download_result(url, monkeypatch)
    finding = next(f for f in result.findings if f.message_id == "portability.bulk.download_failed")
    assert finding.evidence[0].http.status == 500


def test_download_size_cap(serve, tmp_path):
    url = serve(Behaviour(declared=False, polls_before_done=0))
    job = client(url, tmp_path, max_download_bytes=10).run_job("system", f"{url}/fhir/$export", download=True)
    (item,) = job.downloads
    assert item.error and "exceeds" in item.error and item.path is None


def test_missing_bearer_variable_is_a_target_error(monkeypatch):
    from harness import TargetError

    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(TargetError, match="NOPE_TOKEN"):
        ExportTarget({"bulk_url": "http://127.0.0.1:9/fhir/$export",
                      "auth": {"type": "bearer", "token_env": "NOPE_TOKEN"}})


def test_unreachable_server_is_an_error_not_a_crash():
    target = ExportTarget({"bulk_url": "http://127.0.0.1:9/fhir/$export", "request_timeout": 2,
                           "probe_cancel": False, "probe_params": False})
    try:
        (kickoff,) = run_check(checks.bulk_kickoff, target)
        assert kickoff.status.value == "error"
        (ndjson,) = run_check(checks.ndjson_valid, target)
        assert ndjson.status.value == "error" and "did not complete" in ndjson.findings[0].message
    finally:
        target.close()


@pytest.mark.parametrize("value, expected", [("5", 5.0), (None, None), ("soon", None), ("0", 0.0)])
def test_retry_after_parsing(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_http_date():
    import email.utils

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds(when) <= 31


def test_smart_backend_services_auth_through_the_interop_client(monkeypatch):
    """auth.type = smart-backend reuses harness_plugins.interop.auth: a signed assertion buys the token."""
    pytest.importorskip("harness_plugins.interop.auth")
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key()
    seen = []
    b = Behaviour(declared=True, requires_token=True, enforce_token=True, polls_before_done=0)

    async def token(request: Request):
        form = dict(x.split("=", 1) for x in (await request.body()).decode().split("&"))
        from urllib.parse import unquote

        claims = jwt.decode(unquote(form["client_assertion"]), public, algorithms=["ES384"],
                            audience=str(request.url))
        seen.append(claims["iss"])
        return JSONResponse({"access_token": TOKEN, "token_type": "bearer", "expires_in": 300})

    server = DemoServer(app_routes(b) + [Route("/token", token, methods=["POST"])])
    with server:
        monkeypatch.setenv("BULK_TEST_KEY", pem)
        target = ExportTarget({"bulk_url": f"{server.url}/fhir/$export", "probe_cancel": False, "probe_params": False,
                               "min_poll_interval": 0.01,
                               "auth": {"type": "smart-backend", "client_id": "harness", "alg": "ES384",
                                        "private_key_env": "BULK_TEST_KEY", "token_url": f"{server.url}/token"}})
        try:
            (kickoff,) = run_check(checks.bulk_kickoff, target)
            (download,) = run_check(checks.bulk_download, target)
        finally:
            target.close()
    assert seen and seen[0] == "harness"
    assert kickoff.status.value == "pass"
    assert download.status.value == "pass", [f.message for f in download.findings]


def test_profile_section_is_validated(tmp_path):
    from harness.profile import ProfileError
    from harness.session import Session

    profile = tmp_path / "vendor.toml"
    profile.write_text('[subject]\nvendor = "V"\nproduct = "P"\n\n[targets.export]\npath = "x"\nbulk_ur = "y"\n',
                       encoding="utf-8")
    (tmp_path / "x").mkdir()
    with pytest.raises(ProfileError, match=r"vendor.toml:7 .*unknown key 'bulk_ur'"):
        Session(profile)


def test_section_without_path_or_bulk_url_is_an_error_result(tmp_path):
    from harness.session import AuditOptions, Session
    from harness.testing import results_of

    profile = tmp_path / "vendor.toml"
    profile.write_text('[subject]\nvendor = "V"\nproduct = "P"\n\n[targets.export]\ndeadline = 3\n', encoding="utf-8")
    card = Session(profile, AuditOptions(families=("portability",))).run()
    (result,) = results_of(card, "portability.ndjson.valid")
    assert result["status"] == "error" and "needs 'path'" in result["findings"][0]["message"]


@pytest.mark.parametrize("files, message", [
    ({"expected.json": "{not json"}, "expected dataset expected.json cannot be read"),
    ({"expected.json": '{"counts": {"Patient": -1}}'}, "'counts' must map resource types to counts"),
    ({"expected.json": '{"known_records": "absent.ndjson"}'}, "known records absent.ndjson cannot be read (line 0)"),
    ({"expected.json": '{"known_records": "k.ndjson"}', "k.ndjson": '{"resourceType":"Patient","id":"a"}\n{"id":'},
     "known records k.ndjson cannot be read (line 2)"),
])
def test_broken_expected_dataset_is_a_clear_error_result(tmp_path, files, message):
    from harness.session import AuditOptions, Session
    from harness.testing import results_of

    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "export").mkdir()
    profile = tmp_path / "vendor.toml"
    profile.write_text('[subject]\nvendor = "V"\nproduct = "P"\n\n[targets.export]\npath = "export"\n'
                       'expected = "expected.json"\n', encoding="utf-8")
    card = Session(profile, AuditOptions(families=("portability",))).run()
    (result,) = results_of(card, "portability.ndjson.valid")
    assert result["status"] == "error" and message in result["findings"][0]["message"], result["findings"]


def test_the_token_never_goes_to_a_file_on_another_origin(serve, monkeypatch):
    behaviour = Behaviour(file_host="localhost")  # same server, another origin
    url = serve(behaviour)
    result = _download_result(url, monkeypatch, auth=True)
    assert behaviour.file_auth and not any(behaviour.file_auth)
    withheld = [f for f in result.findings if f.message_id == "portability.bulk.token_withheld"]
    assert len(withheld) == 1 and "another origin" in withheld[0].message
