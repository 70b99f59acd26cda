"""Shared helpers of the contracts tests: the rule pack, quick analysis of a text, demo files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness_plugins.contracts.engine import Analysis
from harness_plugins.contracts.extract import from_text
from harness_plugins.contracts.rules import default_pack

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "vendors"
CHECK_FIXTURES = ROOT / "tests" / "fixtures" / "checks"
EVAL_DAY = 20260601


@pytest.fixture(scope="session")
def pack():
    return default_pack()


@pytest.fixture
def judge(pack):
    """judge(text, rule_id) -> Outcome of one rule on a text (as a whole contract)."""

    def run(text: str, rule_id: str, document: bool = True):
        return Analysis(from_text(text), pack).apply(pack.rules[rule_id], document=document, today=EVAL_DAY)

    return run
