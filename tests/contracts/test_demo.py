"""Demo vendors: demo-good's contract raises no unfair-clause failure; every abusive clause of
demo-poor's contract is found, in the PDF and in the DOCX, with its quote, page and legal reference."""

from __future__ import annotations

import pytest

from harness.session import AuditOptions, Session

from .conftest import DEMO
from .test_checks import RULE_IDS


@pytest.fixture(scope="module")
def cards():
    options = AuditOptions(families=("contracts",), variables={"HARNESS_DEMO_URL": "http://127.0.0.1:9"})
    return {v: Session(DEMO / f"demo-{v}" / "vendor.toml", options).run() for v in ("good", "poor")}


def test_demo_good_has_no_unfair_clause(cards):
    results = cards["good"]["results"]
    assert {r["item_id"] for r in results} == {"contracts/contrat.pdf", "contracts/contrat.docx"}
    assert [r for r in results if r["status"] != "pass"] == []
    assert cards["good"]["scores"]["families"]["contracts"]["score"] == 10.0


@pytest.mark.parametrize("item", ["contracts/contrat.pdf", "contracts/contrat.docx"])
def test_demo_poor_every_abusive_clause_found(cards, item):
    results = {r["check_id"]: r for r in cards["poor"]["results"] if r["item_id"] == item}
    assert sorted(results) == sorted(f"contracts.{r}" for r in RULE_IDS)
    for check_id, result in results.items():
        assert result["status"] == "fail", (check_id, result["findings"][0]["message"])
        finding = result["findings"][0]
        assert finding["details"]["clause_found"] is True
        assert finding["requirement_ids"]
        quotes = [e for e in finding["evidence"] if e["kind"] == "quote"]
        assert quotes, check_id
        for evidence in quotes:
            assert evidence["quote"] and evidence["clause"] and evidence["sha256"]
            assert evidence["end"] > evidence["start"] >= 0
            if item.endswith(".pdf"):
                assert evidence["page"] >= 1


def test_demo_poor_numbers_and_lying_heading(cards):
    by_id = {r["check_id"]: r for r in cards["poor"]["results"] if r["item_id"] == "contracts/contrat.pdf"}
    notice = by_id["contracts.termination.customer_notice"]["findings"][0]
    assert "préavis du client : 6 mois" in notice["details"]["numbers_text"]
    renewal = by_id["contracts.renewal.tacit"]["findings"]
    assert any("3 ans" in f["message"] for f in renewal) and any("6 mois" in f["message"] for f in renewal)
    reversibility = by_id["contracts.reversibility.return"]["findings"]
    assert reversibility[0]["details"]["lying_headings"] == ["Article 10 - Réversibilité"]
    assert any("option payante" in f["message"] for f in reversibility)
