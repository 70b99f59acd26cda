"""Hostile or broken contract files: a clear review or error with the reason, and the run goes on."""

from __future__ import annotations

import json
import time

import pytest

from harness.session import Session
from harness_plugins.contracts import demo_docs
from harness_plugins.contracts.extract import extract


def test_encrypted_pdf_with_a_password_is_review(tmp_path):
    path = tmp_path / "crypte.pdf"
    path.write_bytes(demo_docs.encrypted_pdf())
    doc = extract(path)
    assert doc.problem is not None and doc.problem.status == "review"
    assert "encrypted PDF" in doc.problem.reason and "password" in doc.problem.reason


def test_pdf_encrypted_for_the_owner_only_is_read(tmp_path):
    path = tmp_path / "proprietaire.pdf"
    path.write_bytes(demo_docs.owner_only_encrypted_pdf())
    doc = extract(path)
    assert doc.problem is None
    assert "Réversibilité" in doc.text
    assert any("empty user password" in note for note in doc.notes)


def test_scanned_pdf_is_review_no_ocr(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(demo_docs.scanned_pdf())
    doc = extract(path)
    assert doc.problem.status == "review"
    assert "no text layer; no OCR done" in doc.problem.reason


@pytest.mark.parametrize("data", [
    b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    b"%PDF-1.4\n" + b"\x00\xff garbage " * 5000,
    None,  # a real PDF cut in half
])
def test_malformed_pdf_is_an_error_in_bounded_time(tmp_path, data):
    if data is None:
        whole = demo_docs.pdf_bytes("Contrat", "En-tête", demo_docs.GOOD)
        data = whole[: len(whole) // 2]
    path = tmp_path / "casse.pdf"
    path.write_bytes(data)
    start = time.monotonic()
    doc = extract(path, timeout=20)
    assert time.monotonic() - start < 25
    assert doc.problem is not None, "a broken PDF must not be analysed as if it were fine"
    assert doc.problem.status in ("error", "review")
    assert doc.problem.reason


def test_docx_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bombe.docx"
    path.write_bytes(demo_docs.docx_zip_bomb(inflated=40 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024
    doc = extract(path)
    assert doc.problem.status == "error"
    assert "zip bomb" in doc.problem.reason


def test_docx_that_is_not_a_zip(tmp_path):
    path = tmp_path / "faux.docx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    doc = extract(path)
    assert doc.problem.status == "error"


@pytest.mark.parametrize("name", ["vide.txt", "vide.pdf", "vide.docx", "vide.html", "blanc.txt"])
def test_empty_files_are_review(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name != "blanc.txt" else b" \n\t\n ")
    doc = extract(path)
    assert doc.problem.status == "review"
    assert "empty file" in doc.problem.reason


def test_thousand_page_pdf(tmp_path):
    path = tmp_path / "mille.pdf"
    path.write_bytes(demo_docs.many_pages_pdf(1000))
    start = time.monotonic()
    doc = extract(path)
    assert doc.problem is None and len(doc.pages) == 1000
    from harness_plugins.contracts.engine import Analysis, quote
    from harness_plugins.contracts.rules import default_pack

    pack = default_pack()
    analysis = Analysis(doc, pack)
    outcome = analysis.apply(pack.rules["suspension.unilateral"])
    assert time.monotonic() - start < 120
    assert outcome.status == "fail"
    where = quote(doc, analysis.clauses, outcome.evidence[0])
    assert where.page == 500 and where.clause.startswith("Article 500")


def test_the_run_goes_on_with_bad_files(tmp_path):
    """One audit over good, empty, scanned, encrypted and bomb files: every file gets a result."""
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "a-bon.pdf").write_bytes((demo_docs.fixtures_root() / "demo-good" / "contracts" / "contrat.pdf")
                                       .read_bytes())
    (folder / "b-vide.txt").write_bytes(b"")
    (folder / "c-scan.pdf").write_bytes(demo_docs.scanned_pdf())
    (folder / "d-crypte.pdf").write_bytes(demo_docs.encrypted_pdf())
    (folder / "e-bombe.docx").write_bytes(demo_docs.docx_zip_bomb(inflated=40 * 1024 * 1024))
    profile = tmp_path / "vendor.toml"
    profile.write_text('[subject]\nvendor = "V"\nproduct = "P"\n\n[targets.contracts]\nfiles = ["contracts/*"]\n',
                       encoding="utf-8")
    from harness.session import AuditOptions

    card = Session(profile, AuditOptions(families=("contracts",))).run()
    by_item: dict[str, set[str]] = {}
    for result in card["results"]:
        by_item.setdefault(result["item_id"], set()).add(result["status"])
    assert by_item["contracts/a-bon.pdf"] <= {"pass", "warn"}
    assert by_item["contracts/b-vide.txt"] == {"review"}
    assert by_item["contracts/c-scan.pdf"] == {"review"}
    assert by_item["contracts/d-crypte.pdf"] == {"review"}
    assert by_item["contracts/e-bombe.docx"] == {"error"}
    scan = next(r for r in card["results"] if r["item_id"] == "contracts/c-scan.pdf")
    assert "no text layer; no OCR done" in scan["findings"][0]["message"]
    assert scan["findings"][0]["details"]["clause_found"] is False
    json.dumps(card)
