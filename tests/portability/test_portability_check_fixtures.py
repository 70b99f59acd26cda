"""Every portability check ships a fixture on which it passes and one on which it fails.

Layout (``tests/fixtures/checks/<check id>/{pass,fail}/``): ``vendor.toml``, ``expected.json``
(``status``, and ``demo`` when the case needs a demo vendor's endpoints served), the case's data.
Regenerate with ``python tests/portability/make_check_fixtures.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.model import worst, Status
from harness.session import AuditOptions, Session
from harness.testing import results_of, serve_demo
from harness_plugins.portability import checks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checks"
CASES = [(c.id, case) for c in checks.ALL for case in ("pass", "fail")]


@pytest.fixture(scope="module")
def demo_urls():
    urls, stack = {}, []

    def get(variant: str) -> str:
        if variant not in urls:
            context = serve_demo(variant)
            urls[variant] = context.__enter__()
            stack.append(context)
        return urls[variant]

    yield get
    for context in stack:
        context.__exit__(None, None, None)


@pytest.mark.parametrize("check_id, case", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_check_fixture(check_id, case, demo_urls):
    folder = FIXTURES / check_id / case
    assert (folder / "vendor.toml").is_file(), f"{check_id} has no {case} fixture in {folder}"
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    assert expected["check"] == check_id and expected["status"] == case
    variables = {"HARNESS_DEMO_URL": demo_urls(expected["demo"])} if expected.get("demo") else {}
    card = Session(folder / "vendor.toml", AuditOptions(check_ids=(check_id,), variables=variables)).run()
    results = results_of(card, check_id)
    status = worst(Status(r["status"]) for r in results)
    assert status == Status(expected["status"]), [(r["item_id"], r["status"], [f["message"] for f in r["findings"]])
                                                  for r in results]


def test_every_check_has_its_fixture_pair():
    for check in checks.ALL:
        for case in ("pass", "fail"):
            assert (FIXTURES / check.id / case / "expected.json").is_file(), (check.id, case)
