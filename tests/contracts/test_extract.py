"""Extraction of PDF, DOCX, HTML and text, and quotes that can be found again in the original."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from harness_plugins.contracts.extract import extract, pdf_pages
from harness_plugins.contracts.text import fold, normalise

from .conftest import DEMO


def test_demo_pdf_pages_headers_and_footers_removed():
    doc = extract(DEMO / "demo-good" / "contracts" / "contrat.pdf")
    assert doc.problem is None and doc.kind == "pdf" and len(doc.pages) >= 2
    assert "Page 1" in doc.pages[0]  # the raw page keeps its footer…
    assert "Page 1" not in doc.text and "version 4.2" not in doc.text  # … the analysed text does not
    assert any(line.startswith("page") for line in doc.removed_lines)
    assert "Article 9 - Réversibilité" in doc.text


def test_demo_docx_numbered_lists_and_tables():
    doc = extract(DEMO / "demo-good" / "contracts" / "contrat.docx")
    assert doc.problem is None and doc.kind == "docx"
    assert re.search(r"^2\. L'Éditeur ne recrute aucun sous-traitant", doc.text, re.M)  # Word numbering rendered
    assert "Préavis du Client | 1 mois" in doc.text  # table rows kept


def test_plain_text_and_form_feed_pages(tmp_path):
    path = tmp_path / "cgv.txt"
    path.write_bytes("Article 1 - Objet\nTexte.\fArticle 2 - Durée\nUn an.".encode("cp1252"))
    doc = extract(path)
    assert doc.problem is None and len(doc.pages) == 2
    assert "Durée" in doc.text


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_html_scripts_never_run_resources_never_fetched(tmp_path):
    from harness_plugins.contracts.demo_docs import HOSTILE_HTML

    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        path = tmp_path / "cgu.html"
        path.write_text(HOSTILE_HTML.replace("127.0.0.1:9", f"127.0.0.1:{port}"), encoding="utf-8")
        doc = extract(path)
    finally:
        server.shutdown()
    assert doc.problem is None and doc.kind == "html"
    assert _Recorder.hits == []
    assert "document.write" not in doc.text and "fetch(" not in doc.text and "background" not in doc.text
    assert "supprimer les données" not in doc.text  # what the script would have written
    assert "Nous pouvons suspendre votre compte à tout moment" in doc.text
    assert any("nothing was executed or fetched" in note for note in doc.notes)


def test_every_quote_is_found_again_in_the_raw_text():
    """locate() gives page-relative raw offsets whose normalised text is the quote."""
    from harness_plugins.contracts.engine import Analysis, quote
    from harness_plugins.contracts.rules import default_pack

    pack = default_pack()
    for name in ("contrat.pdf", "contrat.docx"):
        doc = extract(DEMO / "demo-poor" / "contracts" / name)
        analysis = Analysis(doc, pack)
        count = 0
        for rule in pack.rules.values():
            outcome = analysis.apply(rule)
            for hit in outcome.evidence:
                q = quote(doc, analysis.clauses, hit)
                raw = doc.raw_span(q.page or 1, q.start, q.end)
                assert re.sub(r"\s+", " ", normalise(raw).text) == q.text, (name, rule.id)
                count += 1
        assert count >= 18


def test_pdf_extraction_is_time_boxed():
    data = (DEMO / "demo-good" / "contracts" / "contrat.pdf").read_bytes()
    with pytest.raises(Exception) as info:
        pdf_pages(data, timeout=0.0001)
    assert "did not finish" in str(info.value)


def test_a_long_pdf_shared_between_processes_gives_the_pages_of_one_process():
    """Above PARALLEL_FROM_BYTES each child extracts one page in n; the pages come back in order."""
    from harness_plugins.contracts import demo_docs
    from harness_plugins.contracts.extract import PARALLEL_FROM_BYTES

    repeat, data = 8, b""
    while len(data) < PARALLEL_FROM_BYTES and repeat < 200:
        repeat *= 2
        data = demo_docs.pdf_bytes(demo_docs.GOOD_TITLE, demo_docs.GOOD_HEADER, demo_docs.GOOD,
                                   demo_docs.GOOD_TABLE, repeat=repeat)
    assert len(data) >= PARALLEL_FROM_BYTES
    alone, notes_alone = pdf_pages(data, workers=1)
    shared, notes_shared = pdf_pages(data, workers=3)
    assert len(alone) > 20 and all(alone)
    assert shared == alone and notes_shared == notes_alone


def test_fold_matches_normalised_length():
    doc = extract(DEMO / "demo-poor" / "contracts" / "contrat.pdf")
    assert len(doc.folded) == len(doc.text) == len(doc.origin)
    assert fold(doc.text) == doc.folded
