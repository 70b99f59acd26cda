"""interop.transport.tls: verified HTTPS passes, an unverifiable certificate or plain HTTP fails."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from pathlib import Path

import pytest
from interop_hostile import HostileServer, capability

from harness import TargetError
from harness.testing import run_check
from harness_plugins.interop.checks import capability_statement, transport_tls


def self_signed_context(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server SSL context with a fresh self-signed certificate for 127.0.0.1; returns it and the cert path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def test_unverifiable_certificate_fails(tmp_path, make_target):
    context, _ = self_signed_context(tmp_path)
    with HostileServer(capability(), ssl_context=context) as server:
        target = make_target(server.url + "/fhir")
        (result,) = run_check(transport_tls, target)
        (cap,) = run_check(capability_statement, target)
    assert result.status.value == "fail"
    assert result.findings[0].message_id == "interop.tls.invalid"
    assert result.findings[0].evidence[0].http.error
    assert cap.status.value == "error"  # nothing to judge without a trusted connection


def test_certificate_trusted_through_ca_bundle_passes(tmp_path, make_target):
    context, cert = self_signed_context(tmp_path)
    with HostileServer(capability(), ssl_context=context) as server:
        target = make_target(server.url + "/fhir", ca_bundle=str(cert))
        (result,) = run_check(transport_tls, target)
        (cap,) = run_check(capability_statement, target)
    assert result.status.value == "pass", result.findings
    assert cap.status.value in ("pass", "review")


def test_verification_disabled_is_a_warning(tmp_path, make_target):
    context, _ = self_signed_context(tmp_path)
    with HostileServer(capability(), ssl_context=context) as server:
        target = make_target(server.url + "/fhir", verify_tls=False)
        (result,) = run_check(transport_tls, target)
    assert result.status.value == "warn"


def test_plain_http_off_loopback_fails(make_target, monkeypatch):
    with HostileServer(capability()) as server:
        target = make_target(server.url + "/fhir")
        monkeypatch.setattr(target, "base_url", "http://fhir.vendor.example/fhir")
        (result,) = run_check(transport_tls, target)
    assert result.status.value == "fail"
    assert result.findings[0].message_id == "interop.tls.plain_http"


def test_plain_http_on_loopback_passes(make_target):
    with HostileServer(capability()) as server:
        (result,) = run_check(transport_tls, make_target(server.url + "/fhir"))
    assert result.status.value == "pass"
    assert result.findings[0].message_id == "interop.tls.loopback"


def test_unreachable_plain_http_host_fails_tls_and_errors_the_rest(make_target):
    """The declared URL alone says patient data would travel in clear; nothing else can be judged."""
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never routed, so the connection fails (refused or timed out)
    target = make_target("http://192.0.2.1/fhir", connect_timeout=0.5, request_timeout=1.0, max_retries=0)
    assert target.unreachable and "failed" in target.unreachable
    (tls,) = run_check(transport_tls, target)
    (cap,) = run_check(capability_statement, target)
    assert tls.status.value == "fail" and tls.findings[0].message_id == "interop.tls.plain_http"
    assert cap.status.value == "error" and "192.0.2.1" in cap.findings[0].message


def test_unreachable_endpoint_is_an_error_for_the_whole_target(make_target):
    """Nothing listens there: no verdict at all, TLS included (a loopback URL says nothing about TLS)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for scheme in ("http", "https"):
        with pytest.raises(TargetError, match="failed"):
            make_target(f"{scheme}://127.0.0.1:{port}/fhir", max_retries=0)
