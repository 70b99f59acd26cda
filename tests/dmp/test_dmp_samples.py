"""The official CI-SIS samples give, document by document, the outcome their README states.

The README of ``../shared/samples/cda/`` is the oracle (what the official toolchain —
Xerces for the XSD, Saxon-HE with the ANS ISO skeleton for the schematrons — reports);
its table is parsed here, so the test follows it rather than a copy.
"""

from __future__ import annotations

import re

import pytest

from harness.session import AuditOptions, Session
from harness.testing import results_of

from dmp_support import SAMPLES, needs_shared

pytestmark = needs_shared
COLUMNS = {"StrucMin": "structuration_minimale", "volet": "volet", "ModelesDeContenusCDA": "modeles_contenus",
           "Modeles_ANS": "modeles_ans"}
CHECKS = {"xsd": "dmp.cda.xsd", "structuration_minimale": "dmp.cda.structuration_minimale",
          "volet": "dmp.cda.volet", "modeles_contenus": "dmp.cda.modeles_contenus",
          "modeles_ans": "dmp.cda.modeles_ans"}


def expected_outcomes() -> dict[str, dict]:
    """{file: {'xsd': 'ok', 'structuration_minimale': 0, 'volet': 4 | None, …, 'volet_entry': stem}}"""
    rows = {}
    lines = (SAMPLES / "README.md").read_text(encoding="utf-8").splitlines()
    header = None
    for line in lines:
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "file":
            header = cells
            continue
        if header is None or set(cells[0]) <= {"-", " "}:
            continue
        row = dict(zip(header, cells))
        out = {"xsd": row["XSD"], "expected": re.sub(r"\*", "", row["expected"]).split()[0]}
        for column, stage in COLUMNS.items():
            value = re.sub(r"\*", "", row[column]).strip()
            out[stage] = None if value.lower() in ("n/a", "na", "-") else int(value)
        entry = row["volet schematron (pack)"].strip()
        out["volet_entry"] = None if entry.startswith("(") else entry
        rows[row["file"]] = out
    assert len(rows) >= 9, "the README table could not be read"
    return rows


EXPECTED = expected_outcomes()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_matches_readme(name, validate):
    want = EXPECTED[name]
    report = validate(SAMPLES / name)
    assert report.stage("xsd").status == ("pass" if want["xsd"] == "ok" else "fail"), report.stage("xsd").issues[:3]
    for stage in COLUMNS.values():
        result = report.stage(stage)
        if want[stage] is None:
            assert result.status == "not_applicable", (stage, result.status, result.reason)
            continue
        errors = [i for i in result.issues if i.status == "fail"]
        assert result.status in ("pass", "fail", "warn"), (stage, result.status, result.reason)
        assert len(errors) == want[stage], (stage, [i.message for i in errors])
    if want["volet_entry"]:
        assert report.stage("volet").entry == want["volet_entry"].replace("IMG-CR-IMG", "IMG-CR-IMG")
    valid = all(report.stage(s).status in ("pass", "warn", "not_applicable") for s in CHECKS)
    assert valid == (want["expected"] == "valid"), name


def test_volets_are_chosen_from_template_ids_not_file_names(validate):
    """IMG_CR_IMG_* files are named with '_' but their volet is IMG-CR-IMG; eDISP-MED is not in the pack."""
    img = validate(SAMPLES / "IMG_CR_IMG_2024.01.xml")
    assert img.volet["entry"] == "schematrons/CI-SIS_IMG-CR-IMG_2024.01.sch"
    assert "1.2.250.1.213.1.1.1.45" in img.volet["reason"]
    edisp = validate(SAMPLES / "eDISP-MED_2024.01.xml")
    assert edisp.stage("volet").status == "not_applicable"
    assert "1.2.250.1.213.1.1.1.54" in edisp.stage("volet").details["templates"]


def test_volet_findings_carry_rule_identity_line_and_xpath(validate):
    report = validate(SAMPLES / "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml")
    issues = report.stage("volet").issues
    assert len(issues) == 4
    for issue in issues:
        assert issue.requirement == "CI-SIS:CI-SIS_IMG-CR-IMG_2024.01:Entete_IMG-CR-IMG:CI-SIS_IMG-CR-IMG"
        assert issue.xpath == "/ClinicalDocument" and issue.line == 11
        assert issue.details["test"].startswith("cda:templateId[@root=")
    sm = validate(SAMPLES / "eDISP-MED_2024.01.xml").stage("structuration_minimale").issues
    errors = [i for i in sm if i.status == "fail"]
    assert errors[0].xpath == "/ClinicalDocument/recordTarget/patientRole/patient/name"
    assert errors[0].line == 82
    assert re.fullmatch(r"CI-SIS:ASIP-STRUCT-MIN-StrucMin:template-1\.2\.250\.1\.213\.1\.1\.1\.1-[^:]+:t[0-9a-f]{10}",
                        errors[0].requirement)


def test_harness_audit_over_the_samples_reproduces_the_readme():
    """`harness audit tests/dmp/samples/vendor.toml` — the same verdicts through the whole harness."""
    from pathlib import Path

    card = Session(Path(__file__).with_name("samples") / "vendor.toml", AuditOptions(families=("dmp",), jobs=4)).run()
    assert card["rule_packs"] and card["rule_packs"][0]["name"] == "ci-sis" and len(card["rule_packs"][0]["sha256"]) == 64
    for name, want in EXPECTED.items():
        for stage, check_id in CHECKS.items():
            result = next(r for r in results_of(card, check_id) if r["item_id"].endswith("/" + name))
            if stage == "xsd":
                expected = "pass" if want["xsd"] == "ok" else "fail"
            elif want[stage] is None:
                expected = "not_applicable"
            else:
                expected = "fail" if want[stage] else "pass"
            assert result["status"] == expected, (name, check_id, result["status"], result["findings"][:2])
            if expected == "fail":
                fails = [f for f in result["findings"] if f["status"] == "fail"]
                assert len(fails) == want[stage]
                for finding in fails:
                    ev = finding["evidence"][0]
                    assert ev["line"] and ev["xpath"] and len(ev["sha256"]) == 64
                    assert finding["requirement_ids"][0].startswith("CI-SIS:")
