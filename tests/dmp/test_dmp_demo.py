"""The demo vendors' DMP documents: demo-good validates cleanly, each demo-poor defect is found by its check.

The documents and XDM zips are written by ``python -m harness_plugins.dmp.fixtures``
(synthetic, deterministic); ``test_fixtures_are_up_to_date`` fails when they drift.
"""

from __future__ import annotations

import pytest

from dmp_support import DEMO, needs_shared
from harness.session import AuditOptions, Session
from harness.testing import results_of
from harness_plugins.dmp import checks, fixtures

pytestmark = needs_shared

#: (file, check, requirement id prefix) — every defect seeded in demo-poor and the check that names it.
POOR_DEFECTS = [
    ("tronque.xml", "dmp.cda.well_formed", "XML-1.0:well-formed"),
    ("erreur-xsd.xml", "dmp.cda.xsd", "CI-SIS:XSD:CDA_extended"),
    ("confidentialite-invalide.xml", "dmp.cda.structuration_minimale", "CI-SIS:ASIP-STRUCT-MIN-StrucMin:"),
    ("confidentialite-invalide.xml", "dmp.cda.header", "CI-SIS:header:confidentialityCode"),
    ("commentaire-sans-template-fr.xml", "dmp.cda.modeles_contenus",
     "CI-SIS:CI-SIS_ModelesDeContenusCDA:E_comments_fr:E_comments_fr"),
    ("section-code-faux.xml", "dmp.cda.modeles_ans", "CI-SIS:CI-SIS_Modeles_ANS:S_pathologieAntecedents"),
    ("template-ldl-sur-vsm.xml", "dmp.cda.volet", "CI-SIS:CI-SIS_LDL-SES_2022.01:"),
    ("sans-ins.xml", "dmp.cda.ins", "CI-SIS:INS:present"),
    ("nir-cle-fausse.xml", "dmp.cda.ins", "CI-SIS:INS:nir-key"),
    ("rpps-faux.xml", "dmp.cda.rpps", "CI-SIS:RPPS:luhn"),
    ("oid-invalide.xml", "dmp.cda.oids", "ISO-IEC-9834-1:OID"),
    ("oid-invalide.xml", "dmp.cda.xsd", "CI-SIS:XSD:CDA_extended"),
    ("date-future.xml", "dmp.cda.header", "CI-SIS:header:effectiveTime"),
    ("type-inconnu.xml", "dmp.cda.codes", "CI-SIS:JDV:JDV_J07_XdsTypeCode_CISIS"),
    ("pdf-non-pdfa.xml", "dmp.cda.embedded", "CI-SIS:embedded-document:pdfa"),
    ("IHE_XDM.ZIP", "dmp.xdm.metadata", "IHE-ITI-TF3:DocumentEntry.hash"),
    ("IHE_XDM.ZIP", "dmp.xdm.metadata", "IHE-ITI-TF3:DocumentEntry.patientId"),
    ("IHE_XDM.ZIP", "dmp.xdm.package", "IHE-ITI-TF3:DocumentEntry.URI"),
]


@pytest.fixture(scope="module")
def poor_card():
    return Session(DEMO / "demo-poor" / "vendor.toml", AuditOptions(families=("dmp",), jobs=4)).run()


@pytest.fixture(scope="module")
def good_card():
    return Session(DEMO / "demo-good" / "vendor.toml", AuditOptions(families=("dmp",), jobs=4)).run()


def test_demo_good_passes_every_dmp_check(good_card):
    results = [r for r in good_card["results"] if r["check_id"].startswith("dmp.")]
    assert {r["check_id"] for r in results} == {c.id for c in checks.ALL_CHECKS}
    bad = [(r["check_id"], r["item_id"], r["status"], r["findings"][0]["message"]) for r in results
           if r["status"] not in ("pass", "not_applicable")]
    assert not bad, bad
    per_check = {c.id: [r["status"] for r in results_of(good_card, c.id)] for c in checks.ALL_CHECKS}
    assert all("pass" in statuses for statuses in per_check.values()), per_check
    assert good_card["scores"]["families"]["dmp"]["score"] == 10.0
    assert good_card["rule_packs"][0]["name"] == "ci-sis"


@pytest.mark.parametrize("name, check_id, requirement", POOR_DEFECTS,
                         ids=[f"{n}-{c}" for n, c, _ in POOR_DEFECTS])
def test_each_demo_poor_defect_is_found_with_rule_id_file_and_location(poor_card, name, check_id, requirement):
    result = next(r for r in results_of(poor_card, check_id) if r["item_id"].endswith(name))
    assert result["status"] == "fail", (result["status"], result["findings"][:2])
    matching = [f for f in result["findings"] if f["status"] == "fail"
                and any(req.startswith(requirement) for req in f["requirement_ids"])]
    assert matching, [(f["requirement_ids"], f["message"]) for f in result["findings"]]
    evidence = matching[0]["evidence"][0]
    assert evidence["kind"] == "file" and name in evidence["artefact"]
    assert evidence.get("line") or evidence.get("xpath"), evidence
    if name.endswith(".xml") and check_id != "dmp.cda.well_formed":
        assert evidence["line"] and evidence["xpath"].startswith("/ClinicalDocument"), evidence
        assert len(evidence["sha256"]) == 64


def test_every_dmp_check_reports_a_problem_on_demo_poor(poor_card):
    for chk in checks.ALL_CHECKS:
        statuses = {r["status"] for r in results_of(poor_card, chk.id)}
        assert "fail" in statuses, (chk.id, statuses)


def test_demo_poor_nir_is_redacted_in_the_scorecard(poor_card):
    import json

    text = json.dumps(poor_card)
    assert "285057505604299" not in text and "NIR redacted" in text


def test_fixtures_are_up_to_date(tmp_path):
    fixtures.write_demo(tmp_path)
    for written in sorted(tmp_path.rglob("*")):
        if written.is_file():
            committed = DEMO / written.relative_to(tmp_path)
            assert committed.read_bytes() == written.read_bytes(), f"{committed} is stale: regenerate the fixtures"
