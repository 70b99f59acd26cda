"""The demo vendors end to end: demo-good passes, each demo-poor defect is found by its named check."""

from __future__ import annotations

import re
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from harness import scorecard
from harness.session import AuditOptions, Session
from harness.testing import audit_demo, results_of
from harness_plugins.portability import checks, demo_data

ROOT = Path(__file__).resolve().parents[2]
VENDORS = ROOT / "fixtures" / "vendors"
CHECK_IDS = sorted(c.id for c in checks.ALL)


@pytest.fixture(scope="module")
def good():
    return audit_demo("good", AuditOptions(families=("portability",), jobs=4))


@pytest.fixture(scope="module")
def poor():
    return audit_demo("poor", AuditOptions(families=("portability",), jobs=4))


def findings(card, check_id, item=None, message_id=None):
    out = []
    for result in results_of(card, check_id):
        if item is None or result["item_id"] == item:
            out += [f for f in result["findings"] if message_id is None or f.get("message_id") == message_id]
    return out


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_demo_good_passes_every_portability_check(good, check_id):
    results = results_of(good, check_id)
    assert results
    statuses = {r["status"] for r in results}
    assert statuses <= {"pass", "not_applicable"} and "pass" in statuses, [
        (r["item_id"], r["status"], [f["message"] for f in r["findings"] if f["status"] != "pass"]) for r in results]


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_demo_poor_makes_every_portability_check_report_a_problem(poor, check_id):
    statuses = {r["status"] for r in results_of(poor, check_id)}
    assert statuses & {"fail", "warn"}, statuses


def test_good_audits_both_sources(good):
    items = {r["item_id"] for r in results_of(good, "portability.ndjson.valid")}
    assert items == {"archive", "bulk"}
    counts = {r["item_id"]: r["findings"][0]["details"] for r in results_of(good, "portability.completeness.types")}
    assert counts["archive:Observation"] == {"expected": 900, "actual": 900, "files": ["fhir/Observation.ndjson"]}


# Each listed defect of demo-poor (issue #7), found by a named check, with file/line or HTTP evidence.

def test_missing_resource_types(poor):
    for source in ("archive", "bulk"):
        for rtype in ("AllergyIntolerance", "Immunization"):
            (f,) = findings(poor, "portability.completeness.types", f"{source}:{rtype}")
            assert f["status"] == "fail" and f["message_id"] == "portability.completeness.missing_type"


def test_dangling_references(poor):
    dangling = findings(poor, "portability.references.resolve", "archive", "portability.references.dangling")
    assert len(dangling) == 9
    lines = {(f["evidence"][0]["artefact"].rsplit("/", 1)[-1], f["evidence"][0]["line"]) for f in dangling}
    assert ("Encounter.ndjson", 51) in lines and ("Observation.ndjson", 101) in lines
    assert any("Practitioner/prac-ancien-01" in f["message"] for f in dangling)


def test_truncated_ndjson_line(poor):
    for source in ("archive", "bulk"):
        (f,) = findings(poor, "portability.ndjson.valid", source, "portability.ndjson.truncated")
        assert f["evidence"][0]["line"] == 900 and f["evidence"][0]["sha256"]


def test_manifest_that_lies(poor):
    archive = {f["message_id"] for f in findings(poor, "portability.manifest.honest", "archive") if f["status"] == "fail"}
    assert archive == {"portability.manifest.count", "portability.manifest.missing_file",
                       "portability.manifest.unlisted_file"}
    (count,) = findings(poor, "portability.manifest.honest", "bulk", "portability.manifest.count")
    assert count["details"] == {"declared": 945, "actual": 900}


def test_csv_without_encoding(poor):
    (f,) = findings(poor, "portability.formats.csv", "archive", "portability.csv.no_encoding")
    assert "not even valid UTF-8" in f["message"] and f["evidence"][0]["artefact"].endswith("csv/patients.csv")


def test_proprietary_blob(poor):
    (f,) = findings(poor, "portability.formats.open", "archive", "portability.formats.proprietary")
    assert "cabinet.vcdb" in f["message"] and f["status"] == "fail"


def test_export_job_that_never_completes(poor):
    (f,) = findings(poor, "portability.bulk.status", "group:cabinet", "portability.bulk.deadline")
    assert "capped" in f["message"] and f["evidence"][0]["http"]["status"] == 202
    assert f["details"]["retry_after"][-1] == "120"


def test_500_on_a_download(poor):
    (f,) = findings(poor, "portability.bulk.download", "system", "portability.bulk.download_failed")
    assert f["evidence"][0]["http"]["status"] == 500 and "Condition" in f["message"]


def test_other_poor_defects(poor):
    assert findings(poor, "portability.archive.safe", "archive", "portability.archive.link")
    kinds = {f["message_id"] for f in findings(poor, "portability.completeness.records", "archive")}
    assert {"portability.records.identity", "portability.records.timezone", "portability.records.date_precision",
            "portability.records.truncated", "portability.records.not_found"} <= kinds
    assert findings(poor, "portability.attachments.integrity", "archive", "portability.attachments.hash_mismatch")
    assert findings(poor, "portability.attachments.integrity", "archive", "portability.attachments.missing")
    assert findings(poor, "portability.documents.cda", "archive", "portability.cda.not_well_formed")
    assert findings(poor, "portability.bulk.kickoff", "patient", "portability.bulk.no_content_location")
    assert findings(poor, "portability.bulk.cancel", "cancel", "portability.bulk.cancel_status")
    assert findings(poor, "portability.bulk.params", "_type", "portability.bulk.type_ignored")
    assert findings(poor, "portability.bulk.params", "_since", "portability.bulk.since_ignored")
    assert findings(poor, "portability.bulk.manifest", "system", "portability.bulk.manifest_requires_access_token")


def test_cda_documents_are_handed_to_the_dmp_validators(poor, good):
    """Issue 7: CDA documents inside the export go through the dmp family's validators when it is installed."""
    pytest.importorskip("harness_plugins.dmp.api")
    for source in ("archive", "bulk"):
        (ok,) = findings(good, "portability.documents.cda", source, "portability.cda.ok")
        assert ok["message"] == ("24 of 24 CDA documents are well-formed CDA R2 with a valid header and pass the "
                                 "dmp family's CI-SIS validators")
        dmp = [f for f in findings(poor, "portability.documents.cda", source) if "DMP validation" in f["message"]]
        assert [f["message"].split(":", 1)[0] for f in dmp] == ["Binary/bin-0003"], [f["message"] for f in dmp]
        assert "legalAuthenticator" in dmp[0]["message"] and dmp[0]["status"] == "fail"
        assert dmp[0]["requirement_ids"][0] == "HL7-CDA-R2:clinical-document"
        assert dmp[0]["evidence"][0]["artefact"].endswith("Binary.ndjson") and dmp[0]["evidence"][0]["line"] == 3


def test_no_patient_identifier_reaches_the_scorecard(poor, good):
    ds = demo_data.Dataset()
    ins_values = [i["value"] for p in ds.by_type["Patient"] for i in p["identifier"] if i["system"].endswith("4.8")]
    for card in (poor, good):
        text = scorecard.dumps(card)
        assert not any(v in text for v in ins_values)


def test_requirements_are_registered_and_carried(poor):
    used = {r for c in poor["checks"] for r in c["requirements"]}
    carried = {r["id"] for r in poor["requirements"]}
    assert used <= carried
    assert {"BulkData-2.0:status-complete", "REVERSIBILITY:complete", "FHIR-R4:nd-json"} <= carried


def test_archive_audit_is_deterministic(tmp_path):
    profile = tmp_path / "vendor.toml"
    profile.write_text(f"""[subject]\nvendor = "V"\nproduct = "P"\n
[targets.export]
path = "{VENDORS / 'demo-poor' / 'export' / 'demo-poor-export.tar.gz'}"
expected = "{VENDORS / 'demo-poor' / 'portability' / 'expected.json'}"
""", encoding="utf-8")
    cards = [Session(profile, AuditOptions(families=("portability",), jobs=3)).run() for _ in range(2)]
    assert scorecard.dumps(scorecard.stable_view(cards[0])) == scorecard.dumps(scorecard.stable_view(cards[1]))
    assert not re.search(r"harness-portability-[a-z0-9_]+", scorecard.dumps(cards[0])), "temp paths leaked"


def test_work_folder_is_private_and_removed():
    from harness_plugins.portability.target import ExportTarget

    target = ExportTarget({"path": str(VENDORS / "demo-poor" / "export" / "demo-poor-export.tar.gz")}).prepare()
    work = target.work_dir
    assert work.is_relative_to(Path(tempfile.gettempdir())) and work.exists()
    extracted = [p for p in work.rglob("*") if p.is_file()]
    assert extracted and all(p.resolve().is_relative_to(work.resolve()) for p in extracted)
    target.close()
    assert not work.exists()


def test_committed_fixtures_are_what_the_generator_writes(tmp_path):
    demo_data.write_fixtures(tmp_path)
    for variant in ("good", "poor"):
        for name in ("expected.json", "known-records.ndjson", "bulk.json"):
            rel = Path(f"demo-{variant}") / "portability" / name
            assert (tmp_path / rel).read_bytes() == (VENDORS / rel).read_bytes(), rel
    rel = Path("demo-good/export/demo-good-export.zip")
    with zipfile.ZipFile(tmp_path / rel) as fresh, zipfile.ZipFile(VENDORS / rel) as committed:
        assert fresh.namelist() == committed.namelist()
        assert all(fresh.read(n) == committed.read(n) for n in fresh.namelist())
    rel = Path("demo-poor/export/demo-poor-export.tar.gz")
    with tarfile.open(tmp_path / rel) as fresh, tarfile.open(VENDORS / rel) as committed:
        a = {m.name: (m.type, fresh.extractfile(m).read() if m.isreg() else m.linkname) for m in fresh}
        b = {m.name: (m.type, committed.extractfile(m).read() if m.isreg() else m.linkname) for m in committed}
        assert a == b


def test_seeded_dataset_is_large_enough_and_valid():
    ds = demo_data.Dataset()
    assert sum(len(v) for v in ds.by_type.values()) >= 2000
    from harness_plugins.fhir.validator import default_validator

    validator = default_validator()
    errors = [(r["resourceType"], r["id"], i.message) for items in ds.by_type.values() for r in items
              for i in validator.validate(r) if i.severity == "error"]
    assert errors == []
