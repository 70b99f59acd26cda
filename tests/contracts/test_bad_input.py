"""Hostile or broken contract files: a clear review or error with the reason, and the run goes on."""

from __future__ import annotations

import io
import json
import zipfile

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
    """Bounded time comes from the child process killed at the deadline (test_pdf_extraction_is_time_boxed)."""
    if data is None:
        whole = demo_docs.pdf_bytes("Contrat", "En-tête", demo_docs.GOOD)
        data = whole[: len(whole) // 2]
    path = tmp_path / "casse.pdf"
    path.write_bytes(data)
    doc = extract(path, timeout=20)
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


def _docx_with_entity_expansion() -> bytes:
    """The demo DOCX whose document.xml declares a "billion laughs" DTD (10^9 characters if expanded)."""
    good = (demo_docs.fixtures_root() / "demo-good" / "contracts" / "contrat.docx").read_bytes()
    entities = '<!ENTITY l0 "ABCDEFGHIJ">' + "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 9))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                text = data.decode("utf-8")
                body = text[text.index("<w:document"):].replace("Article", "&l8; Article", 1)
                data = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                        f"<!DOCTYPE w:document [{entities}]>\n{body}").encode("utf-8")
            dst.writestr(item, data)
    return out.getvalue()


def test_docx_with_xml_entity_expansion_is_refused(tmp_path):
    path = tmp_path / "rires.docx"
    path.write_bytes(_docx_with_entity_expansion())
    doc = extract(path)
    assert doc.problem is not None and doc.problem.status == "error"
    assert "entity" in doc.problem.reason


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
    doc = extract(path)
    assert doc.problem is None and len(doc.pages) == 1000
    from harness_plugins.contracts.engine import Analysis, quote
    from harness_plugins.contracts.rules import default_pack

    pack = default_pack()
    analysis = Analysis(doc, pack)
    outcome = analysis.apply(pack.rules["suspension.unilateral"])
    assert outcome.status == "fail"
    where = quote(doc, analysis.clauses, outcome.evidence[0])
    assert where.page == 500 and where.clause.startswith("Article 500")


def test_the_run_goes_on_with_bad_files(tmp_path):
    """One audit over good, empty, scanned, encrypted, bomb, broken and hostile files: every file gets a result."""
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "a-bon.pdf").write_bytes((demo_docs.fixtures_root() / "demo-good" / "contracts" / "contrat.pdf")
                                       .read_bytes())
    (folder / "b-vide.txt").write_bytes(b"")
    (folder / "c-scan.pdf").write_bytes(demo_docs.scanned_pdf())
    (folder / "d-crypte.pdf").write_bytes(demo_docs.encrypted_pdf())
    (folder / "e-bombe.docx").write_bytes(demo_docs.docx_zip_bomb(inflated=40 * 1024 * 1024))
    whole = demo_docs.pdf_bytes("Contrat", "En-tête", demo_docs.GOOD)
    (folder / "f-casse.pdf").write_bytes(whole[: len(whole) // 2])
    (folder / "g-hostile.html").write_text(demo_docs.HOSTILE_HTML, encoding="utf-8")
    (folder / "h-rires.docx").write_bytes(_docx_with_entity_expansion())
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
    assert by_item["contracts/f-casse.pdf"] <= {"error", "review"}
    assert by_item["contracts/h-rires.docx"] == {"error"}
    # the hostile page is analysed like any contract: its unilateral suspension clause is found
    hostile = {r["check_id"]: r["status"] for r in card["results"] if r["item_id"] == "contracts/g-hostile.html"}
    assert hostile["contracts.suspension.unilateral"] == "fail"
    scan = next(r for r in card["results"] if r["item_id"] == "contracts/c-scan.pdf")
    assert "no text layer; no OCR done" in scan["findings"][0]["message"]
    assert scan["findings"][0]["details"]["clause_found"] is False
    json.dumps(card)
