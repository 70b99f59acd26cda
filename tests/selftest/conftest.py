"""Fixtures of the selftest family's tests (helpers live in ``selftest_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_cards(tmp_path_factory) -> dict[str, Path]:
    """Scorecards of both demo vendors, audited once per test session."""
    from harness import scorecard
    from harness.testing import audit_demo

    out = tmp_path_factory.mktemp("demo-cards")
    paths = {}
    for variant in ("good", "poor"):
        paths[variant] = scorecard.write(audit_demo(variant), out / variant / "scorecard.json")
    return paths
