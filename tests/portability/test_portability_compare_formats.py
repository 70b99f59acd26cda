"""Unit tests: the record diff, file classification, CSV, PDF/A and CDA inspection."""

from __future__ import annotations

import codecs
import json
import re

import pytest

from portability_support import ENCOUNTER, OBSERVATION, PATIENT
from harness_plugins.portability import formats
from harness_plugins.portability.compare import diff
from harness_plugins.portability.demo_data import Dataset, csvw_metadata, make_pdf


def kinds(expected, actual):
    return [d.kind for d in diff(expected, actual)]


def test_identical_records_and_vendor_additions_are_fine():
    actual = json.loads(json.dumps(PATIENT))
    actual["meta"] = {"versionId": "7", "lastUpdated": "2030-01-01T00:00:00Z"}
    actual["extension"] = [{"url": "http://vendor.example/x", "valueString": "y"}]
    assert diff(PATIENT, actual) == []


def test_ins_dropped_is_an_identity_loss():
    actual = dict(PATIENT, identifier=[])
    (d,) = diff(PATIENT, actual)
    assert d.kind == "identity" and "INS" in d.message


def test_ins_changed_and_name_mangled():
    actual = json.loads(json.dumps(PATIENT))
    actual["identifier"][0]["value"] = "270037512345601"
    actual["name"][0]["given"] = ["H?l?ne"]
    assert sorted(kinds(PATIENT, actual)) == ["identity", "identity"]


@pytest.mark.parametrize("exported, kind", [
    ("2024-03-05T08:30:00Z", "timezone"),
    ("2024-03-05", "date_precision"),
    ("2024-03-05T09:30:00", "date_precision"),
    ("2024-03-06T09:30:00+01:00", "date_changed"),
])
def test_dates_and_time_zones(exported, kind):
    actual = json.loads(json.dumps(ENCOUNTER))
    actual["period"]["start"] = exported
    assert kinds(ENCOUNTER, actual) == [kind]


def test_truncated_text():
    actual = json.loads(json.dumps(OBSERVATION))
    actual["note"][0]["text"] = OBSERVATION["note"][0]["text"][:20]
    (d,) = diff(OBSERVATION, actual)
    assert d.kind == "truncated" and d.expected > d.actual


def test_missing_element_and_changed_value():
    actual = json.loads(json.dumps(OBSERVATION))
    del actual["encounter"]
    actual["valueQuantity"]["value"] = 73
    assert sorted(kinds(OBSERVATION, actual)) == ["changed", "missing"]


def test_booleans_are_not_numbers():
    assert kinds({"active": True}, {"active": 1}) == ["changed"]
    assert kinds({"n": 5}, {"n": 5.0}) == []


@pytest.mark.parametrize("name, data, kind", [
    ("fhir/Patient.ndjson", b'{"resourceType":"Patient"}\n', "ndjson"),
    ("doc.pdf", b"%PDF-1.4\n...", "pdf"),
    ("renamed.txt", b"%PDF-1.7 hidden", "pdf"),
    ("db.sqlite", b"SQLite format 3\x00" + b"\x00" * 100, "database"),
    ("old.mdb", b"\x00\x01\x00\x00Standard Jet DB\x00", "database"),
    ("nested.zip", b"PK\x03\x04" + b"\x00" * 30, "archive"),
    ("blob.dat", bytes(range(256)) * 4, "proprietary"),
    ("cr.xml", b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"/>', "cda"),
    ("p.xml", b'<Patient xmlns="http://hl7.org/fhir"><id value="1"/></Patient>', "fhir-xml"),
    ("other.xml", b'<root xmlns="urn:vendor"/>', "xml"),
    ("bundle.json", b'{"resourceType":"Bundle","type":"collection"}', "fhir-json"),
    ("manifest.json", b'{"transactionTime":"2024-01-01T00:00:00Z","output":[]}', "manifest"),
    ("t.csv-metadata.json", b'{"@context":"http://www.w3.org/ns/csvw","dialect":{}}', "csvw"),
    ("data.csv", b"a;b\n1;2\n", "csv"),
    ("README", b"Lisez-moi\n", "text"),
    ("notes.xyz", b"plain text of unknown format\n", "unknown-text"),
    ("empty.ndjson.bak", b"", "empty"),
    ("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 10, "image"),
    ("msg.hl7", b"MSH|^~\\&|APP", "hl7v2"),
])
def test_classify(tmp_path, name, data, kind):
    path = tmp_path / "f"
    path.write_bytes(data)
    assert formats.classify(path, name).kind == kind


@pytest.mark.parametrize("name, rtype", [("Patient.ndjson", "Patient"), ("fhir/Observation-2.ndjson", "Observation"),
                                         ("1.Encounter.ndjson", "Encounter"), ("export.ndjson", None)])
def test_type_from_name(name, rtype):
    assert formats.type_from_name(name) == rtype


def test_csv_declared_by_bom_csvw_or_manifest(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(codecs.BOM_UTF8 + "id;nom\n1;Hélène\n".encode())
    report = formats.inspect_csv(path, None, None)
    assert report.problems == [] and report.declared_by == "byte order mark" and report.rows == 1
    path.write_bytes("id;nom\n1;Hélène\n".encode())
    meta = json.loads(csvw_metadata("p.csv"))
    assert formats.inspect_csv(path, meta, None).problems == []
    assert formats.inspect_csv(path, None, "text/csv; charset=utf-8").problems == []
    (problem,) = formats.inspect_csv(path, None, None).problems
    assert problem[0] == "portability.csv.no_encoding" and "happens to decode" in problem[1]


def test_csv_windows_1252_without_declaration(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes("id;nom\n1;Dupont\n2;Hélène\n".encode("cp1252"))
    (problem,) = formats.inspect_csv(path, None, None).problems
    assert problem[0] == "portability.csv.no_encoding" and "line 3" in problem[1] and "0xe9" in problem[1]


def test_csv_declared_utf8_but_is_not(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes("id;nom\n1;Hélène\n".encode("cp1252"))
    (problem,) = formats.inspect_csv(path, None, "text/csv; charset=UTF-8").problems
    assert problem[0] == "portability.csv.wrong_encoding"


def test_csv_without_header(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"1;2024-01-01;12\n2;2024-01-02;13\n")
    assert [p[0] for p in formats.inspect_csv(path, None, None).problems] == ["portability.csv.no_header"]


def test_pdfa_declared_or_not():
    assert formats.inspect_pdf(make_pdf("Synthèse", "d1")) == ("1B", [])
    part, problems = formats.inspect_pdf(make_pdf("Synthèse", "d1", pdfa=False))
    assert part is None and "PDF/A" in problems[0]
    part, problems = formats.inspect_pdf(b"%PDF-1.4 broken")
    assert part is None and "cannot be read" in problems[0]


def test_cda_inspection():
    ds = Dataset()
    doc = next(d for d in ds.by_type["DocumentReference"] if d["content"][0]["attachment"]["contentType"] == "application/xml")
    data = ds.documents[doc["content"][0]["attachment"]["url"].split("/")[1]]
    assert formats.inspect_cda(data) == []
    assert formats.inspect_cda(data[: len(data) // 2])[0][0] == "portability.cda.not_well_formed"
    bad_ins = re.sub(rb'(root="1\.2\.250\.1\.213\.1\.4\.8" extension=")\d+', rb"\g<1>170037512345600", data)
    assert bad_ins != data
    assert any(code == "portability.cda.bad_ins" for code, _ in formats.inspect_cda(bad_ins))
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ClinicalDocument xmlns="urn:hl7-org:v3">&e;</ClinicalDocument>'
    assert formats.inspect_cda(xxe)[0][0] == "portability.cda.unsafe"
