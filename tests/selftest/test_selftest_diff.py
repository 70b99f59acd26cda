"""`harness diff OLD NEW`: new failures, fixed ones, per-family deltas, release-gate exit codes."""

from __future__ import annotations

import copy
import json

from selftest_helpers import run_harness

from harness import scorecard
from harness_plugins.selftest.diff import DiffRefused, compare, render_markdown, render_text
from harness_plugins.selftest.failures import failures


def test_diff_refuses_different_subjects(demo_cards, tmp_path):
    done = run_harness(["diff", str(demo_cards["good"]), str(demo_cards["poor"])], tmp_path)
    assert done.returncode == 2
    assert "different subjects" in done.stderr and "--force" in done.stderr


def test_diff_good_to_poor_lists_the_expected_differences(demo_cards, tmp_path):
    good, poor = scorecard.load(demo_cards["good"]), scorecard.load(demo_cards["poor"])
    done = run_harness(["diff", str(demo_cards["good"]), str(demo_cards["poor"]), "--force"], tmp_path)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "different subjects, compared because of --force" in out
    # every failure of demo-poor that demo-good does not have is listed as new
    good_keys = {f.key for f in failures(good, include_errors=False)}
    expected_new = [f for f in failures(poor, include_errors=False) if f.key not in good_keys]
    assert expected_new, "demo-poor has defects demo-good has not"
    assert f"New failures ({len(expected_new)}):" in out
    for f in expected_new:
        assert f.label() in out
    # the capability statement defects of demo-poor in particular
    assert "interop.capability.statement [-]" in out
    # score and coverage per family, old -> new, with the deltas
    for family, fam in poor["scores"]["families"].items():
        assert f"\n  {family} " in out
    interop_old = good["scores"]["families"]["interop"]["score"]
    interop_new = poor["scores"]["families"]["interop"]["score"]
    assert f"{interop_old:.1f} → {interop_new:.1f}" in out
    assert f"{interop_new - interop_old:+.1f}" in out
    assert "overall" in out and "release gate: FAIL" in out


def test_diff_markdown_for_a_merge_request(demo_cards, tmp_path):
    done = run_harness(["diff", str(demo_cards["good"]), str(demo_cards["poor"]), "--force", "--format", "markdown"],
                       tmp_path)
    assert done.returncode == 1
    md = done.stdout
    assert md.startswith("### Conformity diff: DemoCabinet 4.2.0 → VieuxCabinet 1.0.3")
    assert "| family | score (old → new) | Δ score | coverage (old → new) | Δ coverage |" in md
    assert "#### New failures (" in md and "| `interop.capability.statement` | `-` |" in md
    assert "❌" in md


def test_diff_json_and_output_file(demo_cards, tmp_path):
    out = tmp_path / "diff.json"
    done = run_harness(["diff", str(demo_cards["good"]), str(demo_cards["poor"]), "--force", "--format", "json",
                        "-o", str(out)], tmp_path)
    assert done.returncode == 1
    data = json.loads(out.read_text())
    assert data["gate"]["exit_code"] == 1 and data["new_failures"]
    assert {f["family"] for f in data["families"]} >= {"interop", "peers"}


def test_same_scorecard_is_a_green_gate(demo_cards, tmp_path):
    done = run_harness(["diff", str(demo_cards["poor"]), str(demo_cards["poor"])], tmp_path)
    assert done.returncode == 0, done.stdout
    assert "New failures: none" in done.stdout and "release gate: OK" in done.stdout


def _without(card, check_id):
    """A 'new release' where one check's failures were fixed (its findings now pass)."""
    new = copy.deepcopy(card)
    for result in new["results"]:
        if result["check_id"] == check_id:
            result["status"] = "pass"
            result["findings"] = [{"status": "pass", "message": "fixed"}]
    return new


def test_fixed_and_new_between_two_releases(demo_cards):
    poor = scorecard.load(demo_cards["poor"])
    fixed_release = _without(poor, "interop.capability.statement")
    fixed_release["subject"]["version"] = "1.0.4"
    diff = compare(poor, fixed_release)
    assert not diff.new_failures and diff.exit_code == 0
    assert {f.check_id for f in diff.fixed} == {"interop.capability.statement"}
    back = compare(fixed_release, poor)
    assert {f.check_id for f in back.new_failures} == {"interop.capability.statement"} and back.exit_code == 1
    text = render_text(back)
    assert "✗ interop.capability.statement [-]" in text and "Fixed: none" in text
    assert "interop.capability.statement: pass → fail" in text
    assert "Fixed (" in render_markdown(diff)


def test_fail_on_threshold_of_the_release_gate(demo_cards):
    poor = scorecard.load(demo_cards["poor"])
    fixed = _without(poor, "interop.capability.statement")
    assert compare(fixed, poor, fail_on="critical").exit_code in (0, 1)
    assert compare(fixed, poor, fail_on="none").exit_code == 0
    assert compare(fixed, poor, fail_on="high").exit_code == 1  # its defects are high


def test_compare_refuses_without_force(demo_cards):
    import pytest

    good, poor = scorecard.load(demo_cards["good"]), scorecard.load(demo_cards["poor"])
    with pytest.raises(DiffRefused):
        compare(good, poor)
    assert compare(good, poor, force=True).forced
