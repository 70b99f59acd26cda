"""The registry side: one check per rule id of the issue, each with a passing and a failing fixture,
every requirement registered with a Légifrance or EUR-Lex address, the rule pack recorded."""

from __future__ import annotations

import json
import re

import pytest

from harness.plugins import PluginHost
from harness.registry import Registry
from harness.session import AuditOptions, Session

from .conftest import CHECK_FIXTURES

#: The rule ids the issue fixes (the scorecard, the portal and the evaluation rely on them).
RULE_IDS = [
    "renewal.tacit", "term.long_commitment", "termination.customer_notice", "termination.early_fees",
    "change.unilateral_terms", "change.unilateral_price", "reversibility.return", "reversibility.format",
    "reversibility.cost", "reversibility.deletion", "data.ownership", "data.vendor_use", "gdpr.art28", "hds.host",
    "liability.limit", "suspension.unilateral", "jurisdiction.clause", "audit.rights",
]


@pytest.fixture(scope="module")
def registry():
    return Registry.build(PluginHost().pm)


def test_one_check_per_rule_with_the_contract_ids(registry, pack):
    ids = sorted(c for c in registry.checks if c.startswith("contracts."))
    assert ids == sorted(f"contracts.{r}" for r in RULE_IDS)
    assert sorted(pack.rules) == sorted(RULE_IDS)


def test_every_check_is_documented_and_traced(registry):
    for check_id in (f"contracts.{r}" for r in RULE_IDS):
        check = registry.checks[check_id]
        assert check.title and check.description and check.remediation
        assert check.requirements
        for req in check.requirements:
            requirement = registry.requirements[req]
            assert requirement.url and re.match(r"https://(www\.legifrance\.gouv\.fr|eur-lex\.europa\.eu)/",
                                                requirement.url), req


def test_consumer_code_is_only_a_benchmark(pack):
    for rule in pack.rules.values():
        for ref in rule.references:
            assert not ref.startswith("FR-CCONSO"), f"{rule.id}: the consumer code is a benchmark, not a lever"
        for ref in rule.benchmark:
            assert pack.references[ref].get("benchmark") is True


@pytest.mark.parametrize("rule_id", RULE_IDS)
@pytest.mark.parametrize("variant", ["pass", "fail"])
def test_check_fixture(rule_id, variant):
    folder = CHECK_FIXTURES / f"contracts.{rule_id}" / variant
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    assert expected["check"] == f"contracts.{rule_id}"
    card = Session(folder / "vendor.toml", AuditOptions(check_ids=(f"contracts.{rule_id}",))).run()
    got = {r["item_id"]: r["status"] for r in card["results"]}
    assert got == expected["results"]
    finding = card["results"][0]["findings"][0]
    assert isinstance(finding["details"]["clause_found"], bool)
    if variant == "fail":
        quotes = [e for e in finding["evidence"] if e["kind"] == "quote"]
        assert quotes and all(e.get("quote") and e.get("clause") for e in quotes)


def test_scorecard_records_the_rule_pack(pack):
    folder = CHECK_FIXTURES / "contracts.renewal.tacit" / "pass"
    card = Session(folder / "vendor.toml", AuditOptions(families=("contracts",))).run()
    records = [p for p in card["rule_packs"] if p["name"] == pack.name]
    assert records and records[0]["version"] == pack.version and len(records[0]["sha256"]) == 64
    used = {r["id"] for r in card["requirements"]}
    assert {"FR-CCIV:1171", "EU-DATAACT:art25", "EU-GDPR:art28", "FR-CSP:L1111-8"} <= used
