"""SARIF 2.1.0 output validates against the official schema; JUnit parses with a JUnit parser."""

from __future__ import annotations

import copy
import json
from functools import lru_cache

import jsonschema
import pytest
from selftest_helpers import SCHEMA_DIR, run_harness

from harness import scorecard
from harness.reporters.junit import write_junit
from harness_plugins.selftest.sarif import to_sarif, write_sarif


@lru_cache(maxsize=1)
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads((SCHEMA_DIR / "sarif-2.1.0-rtm.5.json").read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_valid_sarif(log: dict) -> None:
    errors = sorted(sarif_validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])


def test_vendored_schema_is_the_sarif_2_1_0_schema():
    schema = json.loads((SCHEMA_DIR / "sarif-2.1.0-rtm.5.json").read_text(encoding="utf-8"))
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    assert "Static Analysis Results Format (SARIF) Version 2.1.0" in schema["title"]
    readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    assert "@microsoft/jest-sarif" in readme and "MIT" in readme


@pytest.mark.parametrize("variant", ["good", "poor"])
def test_demo_scorecards_give_valid_sarif(demo_cards, variant, tmp_path):
    card = scorecard.load(demo_cards[variant])
    path = write_sarif(card, tmp_path)
    assert path.name == "results.sarif"
    log = json.loads(path.read_text(encoding="utf-8"))
    assert_valid_sarif(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c["id"] for c in card["checks"]]  # one rule per check
    for rule, meta in zip(rules, card["checks"]):
        assert rule["shortDescription"]["text"] == meta["title"]
        assert rule["properties"]["requirements"] == meta["requirements"]
        for rid in meta["requirements"]:
            assert rid in rule["help"]["text"]
    non_passing = sum(1 for r in card["results"] for f in r["findings"] if f["status"] in ("fail", "warn", "review", "error"))
    assert len(run["results"]) == non_passing
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_demo_poor_locations(demo_cards):
    log = to_sarif(scorecard.load(demo_cards["poor"]))
    results = log["runs"][0]["results"]
    # HTTP evidence -> logical locations of kind resource, the exchange in properties
    capability = [r for r in results if r["ruleId"] == "interop.capability.statement"]
    assert capability and all(r["kind"] == "fail" and r["level"] == "error" for r in capability)
    logical = capability[0]["locations"][0]["logicalLocations"][0]
    assert logical["kind"] == "resource" and logical["fullyQualifiedName"].startswith("GET http://127.0.0.1:")
    assert capability[0]["properties"]["http"][0]["status"] == 200
    # file evidence with a line -> physical location with a region (the peers ratings file)
    peers = [r for r in results if r["ruleId"] == "peers.ratings.valid"]
    regions = [loc["physicalLocation"] for r in peers for loc in r.get("locations", []) if "physicalLocation" in loc]
    assert any(p["artifactLocation"]["uri"].endswith("ratings.csv") and p.get("region", {}).get("startLine")
               for p in regions)


def _card_with_evidence(demo_cards, tmp_path):
    card = copy.deepcopy(scorecard.load(demo_cards["good"]))
    doc = tmp_path / "docs" / "cr-consultation.xml"
    doc.parent.mkdir()
    doc.write_text("<ClinicalDocument/>\n")
    contract = tmp_path / "contrat.pdf"
    contract.write_bytes(b"%PDF-1.4\n")
    check_id = card["checks"][0]["id"]
    card["results"].append({
        "check_id": check_id, "item_id": "cr-consultation.xml", "status": "fail",
        "findings": [
            {"status": "fail", "severity": "critical", "message": "CDA header lacks the patient's INS",
             "message_id": "dmp.cda.ins_missing", "requirement_ids": ["CI-SIS:INS"],
             "evidence": [{"kind": "file", "artefact": str(doc), "line": 12, "column": 7,
                           "xpath": "/ClinicalDocument/recordTarget", "excerpt": "<recordTarget>",
                           "sha256": "0" * 64}]},
            {"status": "review", "severity": "high", "message": "exit clause charges for the export",
             "message_id": "contracts.exit.fee",
             "evidence": [{"kind": "quote", "artefact": str(contract), "page": 7, "clause": "12.3",
                           "start": 1520, "end": 1610, "quote": "les frais de restitution des données"}]},
            {"status": "error", "severity": "info", "message": "validator crashed", "message_id": "harness.error"},
        ],
    })
    return card


def test_file_and_quote_evidence_become_physical_locations(demo_cards, tmp_path):
    card = _card_with_evidence(demo_cards, tmp_path)
    log = to_sarif(card, base_dir=tmp_path)
    assert_valid_sarif(log)
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == tmp_path.resolve().as_uri() + "/"
    by_id = {r["properties"].get("message_id"): r for r in run["results"]}
    cda = by_id["dmp.cda.ins_missing"]
    loc = cda["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"] == {"uri": "docs/cr-consultation.xml", "uriBaseId": "SRCROOT",
                                                           "index": loc["physicalLocation"]["artifactLocation"]["index"]}
    assert loc["physicalLocation"]["region"] == {"startLine": 12, "startColumn": 7, "snippet": {"text": "<recordTarget>"}}
    assert loc["logicalLocations"][0] == {"fullyQualifiedName": "/ClinicalDocument/recordTarget", "kind": "element"}
    assert cda["level"] == "error" and cda["properties"]["requirement_ids"] == ["CI-SIS:INS"]
    artifact = run["artifacts"][loc["physicalLocation"]["artifactLocation"]["index"]]
    assert artifact["hashes"] == {"sha-256": "0" * 64}
    quote = by_id["contracts.exit.fee"]
    assert quote["kind"] == "review" and quote["level"] == "none"
    region = quote["locations"][0]["physicalLocation"]["region"]
    assert region["snippet"]["text"] == "les frais de restitution des données"
    assert region["properties"] == {"page": 7, "clause": "12.3", "start": 1520, "end": 1610}
    assert quote["locations"][0]["message"]["text"] == "page 7, clause 12.3"
    error = by_id["harness.error"]
    assert error["kind"] == "open"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any("validator crashed" in n["message"]["text"] for n in notes)


def test_files_outside_the_base_dir_get_file_uris(demo_cards, tmp_path):
    card = _card_with_evidence(demo_cards, tmp_path)
    other = tmp_path / "elsewhere"
    other.mkdir()
    log = to_sarif(card, base_dir=other)
    assert_valid_sarif(log)
    uris = [a["location"]["uri"] for a in log["runs"][0]["artifacts"]]
    assert any(u.startswith("file:///") and u.endswith("cr-consultation.xml") for u in uris)


def test_audit_writes_sarif_and_the_sarif_command(demo_cards, tmp_path):
    done = run_harness(["sarif", str(demo_cards["poor"]), "-o", str(tmp_path / "x.sarif")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert_valid_sarif(json.loads((tmp_path / "x.sarif").read_text(encoding="utf-8")))


def test_junit_parses_with_a_junit_parser(demo_cards, tmp_path):
    junitparser = pytest.importorskip("junitparser")
    card = scorecard.load(demo_cards["poor"])
    path = write_junit(card, tmp_path)
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert {s.name for s in suites} >= {"interop", "peers"}
    cases = [case for suite in suites for case in suite]
    assert len(cases) == len(card["results"])
    failed = {case.classname for case in cases if any(isinstance(r, junitparser.Failure) for r in case.result)}
    assert "interop.capability.statement" in failed
    assert sum(s.failures for s in suites) == sum(1 for r in card["results"] if r["status"] == "fail")
