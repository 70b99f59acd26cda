"""Authentication: static bearer and SMART Backend Services (RS384 / ES384) against the demo token endpoint."""

from __future__ import annotations

import json
import shutil
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness import TargetError
from harness.demo import DemoServer, vendor_dir
from harness_plugins.interop import demo, demo_data
from harness_plugins.interop.auth import ASSERTION_TYPE, sign_assertion

GOOD_KEY = vendor_dir("good") / "fhir" / "smart" / "demo-client-es384.pem"


def smart(**extra):
    return {"type": "smart-backend", "client_id": demo_data.DEMO_CLIENT_ID, "private_key": str(GOOD_KEY),
            "alg": "ES384", "kid": demo_data.DEMO_KID, **extra}


@pytest.fixture
def rsa_server(tmp_path):
    """A copy of demo-good whose registered client signs with RS384."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = tmp_path / "fhir"
    shutil.copytree(vendor_dir("good") / "fhir", data)
    jwk = demo_data.public_jwk(key, "rsa-1")
    (data / "smart" / "clients.json").write_text(json.dumps({"clients": [
        {"client_id": "rsa-client", "jwks": {"keys": [jwk]}}]}))
    pem = tmp_path / "rsa.pem"
    pem.write_bytes(demo_data.private_pem(key))
    app = demo.FhirDemo(data)
    with DemoServer([__import__("starlette.routing").routing.Mount("/fhir", routes=app.routes())]) as server:
        yield server.url + "/fhir", pem, app


def test_smart_es384_gets_a_token_by_discovery_and_reads(make_target, demo_good_url):
    target = make_target(demo_good_url + "/fhir", auth=smart())
    assert target.auth.token_url == demo_good_url + "/fhir/auth/token"  # from .well-known/smart-configuration
    reply = target.get("Patient", params=(("_count", "1"),))
    assert reply.status == 200 and reply.resource()["resourceType"] == "Bundle"
    kinds = [x.url.rsplit("/", 1)[-1] for x in target.auth.exchanges]
    assert kinds == ["smart-configuration", "token"]


def test_smart_rs384_with_configured_token_url(make_target, rsa_server):
    base, pem, _app = rsa_server
    target = make_target(base, auth={"type": "smart-backend", "client_id": "rsa-client", "private_key": str(pem),
                                     "alg": "RS384", "kid": "rsa-1", "token_url": base + "/auth/token"})
    assert target.get("Patient/pat-01").status == 200
    assert [x.url.rsplit("/", 1)[-1] for x in target.auth.exchanges] == ["token"]


def test_client_assertion_claims():
    key = ec.generate_private_key(ec.SECP384R1())
    token = sign_assertion(key, "ES384", "client-1", "https://auth.example/token", kid="k1", now=1_000_000)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, key.public_key(), algorithms=["ES384"], audience="https://auth.example/token",
                        options={"verify_exp": False})
    assert header == {"alg": "ES384", "kid": "k1", "typ": "JWT"}
    assert claims["iss"] == claims["sub"] == "client-1"
    assert claims["exp"] - claims["iat"] <= 300 and claims["jti"]
    other = sign_assertion(key, "ES384", "client-1", "https://auth.example/token", now=1_000_000)
    assert jwt.decode(other, options={"verify_signature": False})["jti"] != claims["jti"]


def _post_token(url: str, assertion: str):
    import httpx

    return httpx.post(url, data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                                 "client_assertion": assertion, "scope": "system/*.read"})


def test_token_endpoint_refuses_bad_assertions(demo_good_url):
    from cryptography.hazmat.primitives import serialization

    url = demo_good_url + "/fhir/auth/token"
    key = serialization.load_pem_private_key(GOOD_KEY.read_bytes(), None)
    good = sign_assertion(key, "ES384", demo_data.DEMO_CLIENT_ID, url, kid=demo_data.DEMO_KID)
    assert _post_token(url, good).status_code == 200
    assert _post_token(url, good).json()["error"] == "invalid_client"  # jti replay
    rogue = ec.generate_private_key(ec.SECP384R1())
    cases = {
        "unregistered key": sign_assertion(rogue, "ES384", demo_data.DEMO_CLIENT_ID, url, kid=demo_data.DEMO_KID),
        "wrong audience": sign_assertion(key, "ES384", demo_data.DEMO_CLIENT_ID, url + "x", kid=demo_data.DEMO_KID),
        "expired": sign_assertion(key, "ES384", demo_data.DEMO_CLIENT_ID, url, kid=demo_data.DEMO_KID,
                                  now=time.time() - 3600),
        "unknown client": sign_assertion(key, "ES384", "someone-else", url, kid=demo_data.DEMO_KID),
    }
    for label, assertion in cases.items():
        answer = _post_token(url, assertion)
        assert answer.status_code == 401, label
        assert answer.json()["error"] == "invalid_client", label


def test_expired_token_is_refreshed_once_on_401(make_target, rsa_server):
    base, pem, app = rsa_server
    target = make_target(base, auth={"type": "smart-backend", "client_id": "rsa-client", "private_key": str(pem),
                                     "alg": "RS384", "token_url": base + "/auth/token"})
    assert target.get("Patient/pat-01").status == 200
    app.tokens.clear()  # the server forgets every token it issued
    reply = target.request("GET", "Patient/pat-02")
    assert reply.status == 200
    assert [x.status for x in reply.exchanges] == [401, 200]


def test_missing_credentials_make_the_target_unavailable(make_target, demo_good_url, monkeypatch, tmp_path):
    monkeypatch.delenv("HARNESS_TEST_TOKEN", raising=False)
    with pytest.raises(TargetError, match="HARNESS_TEST_TOKEN"):
        make_target(demo_good_url + "/fhir", auth={"type": "bearer", "token_env": "HARNESS_TEST_TOKEN"})
    with pytest.raises(TargetError, match="private key"):
        make_target(demo_good_url + "/fhir", auth=smart(private_key=str(tmp_path / "absent.pem")))
    with pytest.raises(TargetError, match="token endpoint"):
        make_target(demo_good_url + "/fhir", auth=smart(kid="unknown-kid", token_url=demo_good_url + "/fhir/auth/token"))


def test_static_bearer_from_the_environment(make_target, demo_poor_url, monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_TOKEN", "demo-poor-static-token")
    target = make_target(demo_poor_url + "/fhir", auth={"type": "bearer", "token_env": "HARNESS_TEST_TOKEN"})
    reply = target.get("Patient/pat-01")
    assert reply.status == 200
    assert reply.exchange.request_headers["authorization"] == "Bearer demo-poor-static-token"
