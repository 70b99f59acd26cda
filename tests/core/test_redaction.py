"""Secrets and patient identifiers never reach a scorecard (the core's harness_redact)."""

from __future__ import annotations

import json

from harness.redaction import redact_finding, redact_text

JWT = "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJjbGllbnQifQ.c2lnbmF0dXJl"


def finding_with_exchange() -> dict:
    return {
        "status": "fail",
        "message": "patient 2 70 03 75 123 456 47 returned with token Bearer s3cr3tT0ken99",
        "evidence": [{
            "kind": "http",
            "artefact": "http://127.0.0.1:8080/fhir/Patient?access_token=abcdef&name=Dupont",
            "exchange": {
                "method": "GET",
                "url": "http://127.0.0.1:8080/fhir/Patient?access_token=abcdef&name=Dupont",
                "status": 200,
                "request_headers": {"Authorization": "Bearer s3cr3tT0ken99", "Accept": "application/fhir+json"},
                "response_headers": {"Set-Cookie": "session=xyz", "Content-Type": "application/fhir+json"},
                "response_excerpt": '{"identifier":[{"value":"270037512345647"}],"client_secret":"hunter2"}',
            },
        }],
        "details": {"assertion": JWT, "ins": "1840275123456"},
    }


def test_secrets_and_nir_are_masked_everywhere_in_a_finding():
    finding = finding_with_exchange()
    redact_finding(finding)
    text = json.dumps(finding)
    for secret in ("s3cr3tT0ken99", "abcdef", "session=xyz", "hunter2", JWT, "270037512345647", "123 456",
                   "1840275123456"):
        assert secret not in text, secret
    exchange = finding["evidence"][0]["exchange"]
    assert exchange["request_headers"]["Accept"] == "application/fhir+json"  # the rest is kept
    assert "name=Dupont" in exchange["url"]
    assert "[NIR redacted #" in finding["message"]


def test_the_same_nir_gets_the_same_tag_so_findings_still_match():
    one = redact_text("INS 270037512345647")
    two = redact_text("NIR 2 70 03 75 123 456 47")
    other = redact_text("INS 184027512345608")
    assert one.split()[-1] == two.split()[-1]
    assert one.split()[-1] != other.split()[-1]


def test_corsican_nir_and_ordinary_numbers():
    assert "[NIR redacted #" in redact_text("né en Corse: 1 85 05 2A 123 456 12")
    # a phone number or an RPPS is not a NIR and stays readable
    assert redact_text("tel 0612345678, RPPS 10003456784") == "tel 0612345678, RPPS 10003456784"
