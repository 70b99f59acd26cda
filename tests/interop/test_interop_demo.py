"""demo-good passes every interop check; each seeded demo-poor defect is found, with its HTTP evidence."""

from __future__ import annotations

import pytest

from harness import scorecard
from harness.testing import results_of
from harness_plugins.interop.checks import ALL

INTEROP_IDS = sorted(c.id for c in ALL)

#: Seeded defect -> (check id, item id or None for any, message id of the finding that reports it, status).
POOR_DEFECTS = {
    "CapabilityStatement without date": ("interop.capability.statement", "-", "interop.capability.required", "fail"),
    "Encounter declared without interaction": ("interop.capability.statement", "-",
                                               "interop.capability.interactions", "fail"),
    "declares XML, never serves it": ("interop.format.param", "-", "interop.format.declared_not_served", "fail"),
    "declared vread does not work": ("interop.capability.declared", "Patient", "interop.declared.broken", "fail"),
    "declared Organization read answers 501": ("interop.read.resource", "Organization", "interop.http.status", "fail"),
    "vread declared, no version": ("interop.read.vread", "Patient", None, "fail"),
    "history answers an HTML page with 200": ("interop.read.history", "Patient", "interop.http.html_200", "fail"),
    "no ETag": ("interop.read.resource", "Patient", "interop.read.no_etag", "warn"),
    "no Last-Modified": ("interop.read.resource", "Patient", "interop.read.no_last_modified", "warn"),
    "birthdate silently ignored": ("interop.search.params", "Patient?birthdate", "interop.search.param_ignored", "fail"),
    "gender silently ignored": ("interop.search.params", "Patient?gender", "interop.search.param_ignored", "fail"),
    "Practitioner family silently ignored": ("interop.search.params", "Practitioner?family",
                                             "interop.search.param_ignored", "fail"),
    "_count ignored on Observation": ("interop.search.count", "Observation", "interop.search.count_ignored", "fail"),
    "paging skips results": ("interop.search.paging", "Patient", "interop.paging.gaps", "fail"),
    "total counts the page": ("interop.search.total", "Practitioner", "interop.total.wrong", "fail"),
    "declared _include ignored": ("interop.search.include", "Patient?_include=Patient:general-practitioner",
                                  "interop.include.ignored", "fail"),
    "wrong content type": ("interop.format.content_type", "-", "interop.format.wrong_content_type", "fail"),
    "500 on unsupported Accept": ("interop.format.accept", "-", "interop.accept.server_error", "fail"),
    "no Accept header refused": ("interop.format.accept", "-", "interop.accept.missing_refused", "warn"),
    "500 on unsupported body": ("interop.format.unsupported_body", "-", "interop.content_type.server_error", "fail"),
    "200 with an HTML error page": ("interop.errors.not_found", "-", "interop.http.html_200", "fail"),
    "missing OperationOutcome": ("interop.errors.not_found", "-", "interop.errors.no_operation_outcome", "warn"),
    "500 on an invalid parameter": ("interop.errors.invalid_param", "-", "interop.errors.wrong_status", "fail"),
    "Prefer: handling=strict ignored": ("interop.errors.invalid_param", "-", "interop.errors.strict_ignored", "warn"),
    "any bearer token accepted": ("interop.errors.auth", "-", "interop.auth.open", "fail"),
    "401 without WWW-Authenticate": ("interop.errors.auth", "-", "interop.auth.no_www_authenticate", "warn"),
    "invalid NIR keys": ("interop.resources.identifiers", "Patient", "interop.identifiers.ins_nir", "fail"),
    "RPPS failing Luhn": ("interop.resources.identifiers", "Practitioner", "interop.identifiers.rpps", "fail"),
    "FINESS failing Luhn": ("interop.resources.identifiers", "Organization", "interop.identifiers.finess", "fail"),
    "gender code not in the required value set": ("interop.resources.r4", "Patient", "interop.resources.fail", "fail"),
    "Observation without status": ("interop.resources.r4", "Observation", "interop.resources.fail", "fail"),
    "FR Core Patient without identity reliability": ("interop.resources.frcore", "Patient",
                                                     "interop.resources.fail", "fail"),
}


def _result(card, check_id, item_id):
    results = results_of(card, check_id)
    matching = [r for r in results if item_id is None or r["item_id"] == item_id]
    assert matching, f"no result for {check_id} {item_id}: {[r['item_id'] for r in results]}"
    return matching[0]


def test_demo_good_passes_every_interop_check(good_card):
    bad = [(r["check_id"], r["item_id"], r["status"], r["findings"][0]["message"]) for r in good_card["results"]
           if r["check_id"].startswith("interop.") and r["status"] not in ("pass", "not_applicable")]
    assert not bad, bad
    ran = {r["check_id"] for r in good_card["results"] if r["status"] == "pass"}
    assert ran == set(INTEROP_IDS)
    messages = {f.get("message_id") for r in good_card["results"] for f in r["findings"]}
    assert {"interop.tls.loopback", "interop.accept.missing_ok"} <= messages
    assert good_card["scores"]["families"]["interop"]["score"] == 10.0


@pytest.mark.parametrize("defect", sorted(POOR_DEFECTS))
def test_each_poor_defect_is_found_with_http_evidence(poor_card, defect):
    check_id, item_id, message_id, status = POOR_DEFECTS[defect]
    result = _result(poor_card, check_id, item_id)
    findings = [f for f in result["findings"] if message_id is None or f.get("message_id") == message_id]
    assert findings, f"{defect}: {[(f['status'], f.get('message_id'), f['message']) for f in result['findings']]}"
    finding = findings[0]
    assert finding["status"] == status, finding
    http = [e for e in finding.get("evidence", []) if e["kind"] == "http"]
    if check_id != "interop.capability.declared" or http:
        assert http, f"{defect}: no HTTP evidence on {finding}"
        exchange = http[0]["http"]
        assert exchange["method"] and exchange["url"].startswith("http://127.0.0.1")
        assert "status" in exchange or "error" in exchange
        assert len(exchange.get("body_sha256", "0" * 64)) == 64


def test_every_interop_check_reports_a_problem_on_demo_poor(poor_card):
    """Every check but TLS (the demo is on loopback: its fixture pair is under
    tests/fixtures/checks/interop.transport.tls, certificates in test_interop_tls)."""
    quiet = []
    for check_id in INTEROP_IDS:
        statuses = {r["status"] for r in results_of(poor_card, check_id)}
        if not statuses & {"fail", "warn"} and check_id != "interop.transport.tls":
            quiet.append((check_id, statuses))
    assert not quiet


def test_declared_but_not_working_is_a_failure_of_its_own(poor_card):
    failing = {r["item_id"] for r in results_of(poor_card, "interop.capability.declared") if r["status"] == "fail"}
    assert failing >= {"server", "Patient", "Practitioner", "Organization", "Observation"}
    patient = _result(poor_card, "interop.capability.declared", "Patient")
    labels = " ".join(f["message"] for f in patient["findings"])
    for capability in ("vread", "history-instance", "searchParam birthdate", "searchParam gender",
                       "searchInclude Patient:general-practitioner"):
        assert f"declared {capability} does not work" in labels


def test_secrets_and_nir_are_redacted_in_the_scorecards(good_card, poor_card):
    import json
    import re

    for card in (good_card, poor_card):
        text = json.dumps(card)
        assert "demo-poor-static-token" not in text
        assert not re.search(r"Bearer [A-Za-z0-9_\-]{12,}", text)
        assert not re.search(r"\b[12]\d{12}\d{2}\b", text), "a NIR leaked"


def test_scorecards_are_valid_and_record_the_rule_packs(good_card, poor_card):
    for card in (good_card, poor_card):
        scorecard.validate(card)
        names = [p["name"] for p in card["rule_packs"]]
        assert names, "the FHIR rule pack of the shared validator is not recorded"
    used = {req for r in good_card["results"] for f in r["findings"] for req in f.get("requirement_ids", [])}
    registered = {r["id"] for r in good_card["requirements"]}
    assert used <= registered


def test_volatile_headers_do_not_enter_evidence(good_card):
    for result in good_card["results"]:
        for finding in result["findings"]:
            for evidence in finding.get("evidence", []):
                headers = (evidence.get("http") or {}).get("response_headers", {})
                assert "date" not in {k.lower() for k in headers}


def test_sequential_and_parallel_runs_give_the_same_scorecard(demo_good_url):
    import json

    from harness.scorecard import stable_view
    from harness.session import AuditOptions, Session
    from harness.testing import demo_profile

    cards = []
    for jobs in (1, 4):
        options = AuditOptions(families=("interop",), jobs=jobs, variables={"HARNESS_DEMO_URL": demo_good_url})
        card = stable_view(Session(demo_profile("good"), options).run())
        cards.append(json.dumps(card, sort_keys=True))
    assert cards[0] == cards[1]
