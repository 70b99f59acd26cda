"""Every registered check, whatever its family, is shown to work on the embedded demo vendors.

The contract (docs/architecture.md, "Demo vendors"): demo-good passes every check
(some items may be not applicable, at least one passes); demo-poor makes every
check report a problem (fail, warn or review) on at least one item. A check that
cannot be shown that way ships its own pair of profiles under
``tests/fixtures/checks/<check id>/{pass,fail}/vendor.toml`` (``expected.json`` may
name the demo vendor whose endpoints the case needs), and this test runs them.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from core_support import ROOT
from harness import scorecard
from harness.demo import DemoServer, demo_routes
from harness.model import Status, worst
from harness.plugins import PluginHost
from harness.registry import Registry
from harness.session import AuditOptions, Session
from harness.testing import demo_profile, results_of, serve_demo

FIXTURES = ROOT / "tests" / "fixtures" / "checks"
PROBLEMS = {"fail", "warn", "review"}


@pytest.fixture(scope="module")
def registry():
    return Registry.build(PluginHost().pm)


@pytest.fixture(scope="module")
def servers():
    contexts = {v: serve_demo(v) for v in ("good", "poor")}
    urls = {v: c.__enter__() for v, c in contexts.items()}
    yield urls
    for context in contexts.values():
        context.__exit__(None, None, None)


def audit(variant: str, url: str, **options) -> dict:
    return Session(demo_profile(variant), AuditOptions(variables={"HARNESS_DEMO_URL": url}, jobs=2,
                                                       **options)).run()


@pytest.fixture(scope="module")
def cards(servers):
    return {"good": audit("good", servers["good"]), "poor": audit("poor", servers["poor"])}


def test_checks_have_metadata_and_registered_requirements(registry):
    assert len(registry.checks) >= 50
    for check in registry.checks.values():
        assert check.title and check.description.strip(), f"{check.id} needs a title and a docstring"
        assert check.id.startswith(check.family + "."), check.id
        assert check.requirements, f"{check.id} traces to no requirement"
        for req in check.requirements:
            assert req in registry.requirements, f"{check.id}: requirement {req!r} is not registered"
            url = registry.requirements[req].url or ""
            assert url.startswith("https://") or (ROOT / url).is_file(), f"{req}: no URL to the text ({url!r})"


def test_no_check_errors_on_the_demo_vendors(cards):
    errors = [(variant, r["check_id"], r["item_id"], r["findings"][0]["message"])
              for variant, card in cards.items() for r in card["results"] if r["status"] == "error"]
    assert not errors, errors


def _run_fixture(check_id: str, case: str, servers) -> str:
    folder = FIXTURES / check_id / case
    expected_file = folder / "expected.json"
    expected = json.loads(expected_file.read_text(encoding="utf-8")) if expected_file.is_file() else {}
    variables = {"HARNESS_DEMO_URL": servers[expected["demo"]]} if expected.get("demo") else {}
    card = Session(folder / "vendor.toml", AuditOptions(check_ids=(check_id,), variables=variables)).run()
    statuses = [Status(r["status"]) for r in results_of(card, check_id)]
    return (worst(statuses) or Status.NOT_APPLICABLE).value


def test_every_check_passes_on_demo_good_and_reports_a_problem_on_demo_poor(registry, cards, servers):
    unproven = []
    for check_id in sorted(registry.checks):
        good = {r["status"] for r in results_of(cards["good"], check_id)}
        poor = {r["status"] for r in results_of(cards["poor"], check_id)}
        if "pass" in good and good <= {"pass", "not_applicable"} and poor & PROBLEMS:
            continue
        if not (FIXTURES / check_id / "pass" / "vendor.toml").is_file() or \
                not (FIXTURES / check_id / "fail" / "vendor.toml").is_file():
            unproven.append(f"{check_id}: demo-good {sorted(good)}, demo-poor {sorted(poor)}, no fixture pair")
            continue
        passed, failed = _run_fixture(check_id, "pass", servers), _run_fixture(check_id, "fail", servers)
        if passed != "pass" or failed not in PROBLEMS:
            unproven.append(f"{check_id}: fixture pass -> {passed}, fixture fail -> {failed}")
    assert not unproven, "\n".join(unproven)


def test_same_inputs_give_byte_identical_scorecards():
    """Two audits of the same vendor state (a fresh demo server on the same port) give the same bytes."""
    host = PluginHost()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    views = []
    for _ in range(2):
        with DemoServer(demo_routes(host.hook, "good"), port=port) as server:
            card = audit("good", server.url)
        views.append(json.dumps(scorecard.stable_view(card), sort_keys=True, ensure_ascii=False))
    assert views[0] == views[1]


def test_demo_scorecards_validate_and_rank_the_vendors(cards, tmp_path: Path):
    for variant, card in cards.items():
        path = tmp_path / f"{variant}.json"
        scorecard.write(card, path)
        assert scorecard.load(path)["subject"] == card["subject"]
    good, poor = (cards[v]["scores"]["overall"]["score"] for v in ("good", "poor"))
    assert good is not None and poor is not None and good > poor
