"""Expected-failures baseline: reading (errors with lines), matching, verdicts, writing, the gate."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from selftest_helpers import drop_entries, fill_placeholders, run_harness

from harness import scorecard
from harness_plugins.selftest import baseline as bl
from harness_plugins.selftest.failures import failures

TODAY = dt.date(2026, 6, 1)


def card_with(results, checks=None, subject=None):
    """A minimal scorecard-shaped dict (evaluate() only reads results, checks and subject)."""
    checks = checks or sorted({r["check_id"] for r in results})
    return {
        "subject": subject or {"vendor": "V", "product": "P", "version": "1"},
        "checks": [{"id": c, "title": c, "family": c.split(".")[0], "severity": "high"} for c in checks],
        "results": results,
    }


def res(check_id, item_id="-", *findings, status=None):
    findings = list(findings) or [{"status": "pass", "message": "ok"}]
    if status is None:
        order = ["error", "fail", "review", "warn", "skipped", "pass", "not_applicable"]
        status = min((f["status"] for f in findings), key=order.index)
    return {"check_id": check_id, "item_id": item_id, "status": status, "findings": findings}


def fail(message_id, severity="high", message="broken"):
    return {"status": "fail", "severity": severity, "message": message, "message_id": message_id}


BASE = """version = 1
[[failure]]
check = "a.one"
item = "-"
message_id = "a.one.x"
reason = "known, ticket 1"
expires = 2027-01-01
"""


# --------------------------------------------------------------------------
# reading


def test_loads_a_filled_baseline():
    base = bl.loads(BASE)
    (entry,) = base.entries
    assert (entry.check, entry.item, entry.message_id, entry.status) == ("a.one", "-", "a.one.x", "fail")
    assert entry.expires == dt.date(2027, 1, 1) and not entry.unfilled and entry.line == 2


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("version = 1\n[[failure]\ncheck = 'x'\n", 2, "not valid TOML"),
        ("version = 1\ncolour = 'red'\n", 2, "unknown key 'colour'"),
        ("version = 2\n", 1, "version 2 is not supported"),
        ("version = 1\n\n[[failure]]\ncheck = 'a.b'\nreason = 'r'\n", 3, "missing 'expires'"),
        ("version = 1\n[[failure]]\ncheck = 'a.b'\nexpires = 2027-01-01\n", 2, "missing 'reason'"),
        ("version = 1\n[[failure]]\ncheck = 'a.b'\nreason = 'r'\nexpires = 'soon'\n", 5, "expires must be a date"),
        ("version = 1\n[[failure]]\ncheck = 'a.b'\nreason = 'r'\nexpires = 2027-01-01\nitem = 3\n", 6,
         "'item' must be a string"),
        ("version = 1\n[[failure]]\ncheck = 'a.b'\nreason = 'r'\nexpires = 2027-01-01\nowner = 'me'\n", 6,
         "unknown key 'owner'"),
        ("version = 1\n[[failure]]\ncheck = 'a.b'\nreason = 'r'\nexpires = 2027-01-01\nstatus = 'warn'\n", 6,
         "status must be 'fail' or 'error'"),
        (BASE + "\n[[failure]]\ncheck = 'a.b'\nreason = 'r'\n", 9, "[[failure]] #2: missing 'expires'"),
    ],
)
def test_malformed_baselines_name_their_line(text, line, words):
    with pytest.raises(bl.BaselineError) as err:
        bl.loads(text, "baseline.toml")
    assert f"baseline.toml:{line}:" in str(err.value)
    assert words in str(err.value)


def test_placeholders_are_detected_as_unfilled():
    text = BASE.replace('"known, ticket 1"', f'"{bl.REASON_PLACEHOLDER}"').replace(
        "2027-01-01", f'"{bl.EXPIRES_PLACEHOLDER}"')
    (entry,) = bl.loads(text).entries
    assert entry.reason_unfilled and entry.expires_unfilled and entry.expires is None


# --------------------------------------------------------------------------
# verdicts


def test_known_failure_passes_and_new_one_fails():
    card = card_with([res("a.one", "-", fail("a.one.x"), fail("a.one.y"))])
    verdict = bl.evaluate(card, bl.loads(BASE), "low", TODAY)
    assert [f.message_id for f in verdict.new] == ["a.one.y"]
    assert [f.message_id for f, _ in verdict.known] == ["a.one.x"]
    assert verdict.exit_code == 1
    only_known = card_with([res("a.one", "-", fail("a.one.x"))])
    assert bl.evaluate(only_known, bl.loads(BASE), "low", TODAY).exit_code == 0


def test_failures_below_fail_on_never_fail_the_gate():
    card = card_with([res("a.one", "-", fail("a.one.z", severity="low"))])
    assert bl.evaluate(card, bl.loads(BASE), "medium", TODAY).exit_code == 0
    assert bl.evaluate(card, bl.loads(BASE), "low", TODAY).exit_code == 1


def test_expired_entry_fails_again():
    card = card_with([res("a.one", "-", fail("a.one.x"))])
    verdict = bl.evaluate(card, bl.loads(BASE), "low", dt.date(2027, 1, 2))
    assert [f.message_id for f, _ in verdict.expired] == ["a.one.x"] and verdict.exit_code == 1
    # the expiry day itself is still covered
    assert bl.evaluate(card, bl.loads(BASE), "low", dt.date(2027, 1, 1)).exit_code == 0


def test_fixed_entries_are_reported_and_unknown_ids_warned():
    text = BASE + '\n[[failure]]\ncheck = "zz.not.registered"\nreason = "r"\nexpires = 2027-01-01\n'
    card = card_with([res("a.one")])  # a.one ran and passed
    verdict = bl.evaluate(card, bl.loads(text), "low", TODAY, known_checks={"a.one"})
    assert [e.check for e in verdict.fixed] == ["a.one"]
    assert [e.check for e in verdict.unknown] == ["zz.not.registered"]
    assert verdict.exit_code == 0


def test_entries_of_checks_that_did_not_run_are_neither_fixed_nor_unknown():
    card = card_with([res("b.two")])
    verdict = bl.evaluate(card, bl.loads(BASE), "low", TODAY, known_checks={"a.one", "b.two"})
    assert not verdict.fixed and not verdict.unknown and [e.check for e in verdict.not_run] == ["a.one"]


def test_entry_without_item_or_message_id_matches_any():
    text = 'version = 1\n[[failure]]\ncheck = "a.one"\nreason = "r"\nexpires = 2027-01-01\n'
    card = card_with([res("a.one", "x", fail("m1")), res("a.one", "y", fail("m2"))])
    assert bl.evaluate(card, bl.loads(text), "low", TODAY).exit_code == 0


def test_report_lists_everything(capsys):
    from rich.console import Console

    text = BASE + '\n[[failure]]\ncheck = "zz.unknown"\nreason = "TODO"\nexpires = 2027-01-01\n'
    card = card_with([res("a.one", "-", fail("a.one.y", message="new defect"))])
    verdict = bl.evaluate(card, bl.loads(text, "base.toml"), "low", TODAY)
    console = Console(file=None, stderr=True, width=200, color_system=None)
    bl.print_report(verdict, console)
    err = capsys.readouterr().err
    assert "1 new failure not in the baseline" in err and "a.one [-] a.one.y" in err and "new defect" in err
    assert "a check id no loaded plugin registers" in err and "zz.unknown (base.toml:9)" in err
    assert "fill reason" in err
    assert "baseline gate: FAIL" in err


# --------------------------------------------------------------------------
# writing


def test_create_writes_every_failure_with_placeholders_and_reads_back():
    card = card_with([res("a.one", "-", fail("a.one.x"), fail("a.one.x"), fail("a.one.y", severity="low")),
                      res("b.two", "i1", {"status": "error", "message": "crashed", "message_id": "harness.error",
                                           "severity": "info"})])
    created = bl.create(card, today=TODAY)
    base = bl.loads(created.text)
    keys = [(e.check, e.item, e.message_id, e.status) for e in base.entries]
    assert keys == [("a.one", "-", "a.one.x", "fail"), ("a.one", "-", "a.one.y", "fail"),
                    ("b.two", "i1", "harness.error", "error")]
    assert all(e.reason_unfilled and e.expires_unfilled for e in base.entries)
    assert bl.evaluate(card, base, "low", TODAY).exit_code == 0
    only_high = bl.loads(bl.create(card, min_severity="high", include_errors=False, today=TODAY).text)
    assert [(e.check, e.message_id) for e in only_high.entries] == [("a.one", "a.one.x")]


def test_create_again_keeps_reasons_and_drops_fixed():
    card = card_with([res("a.one", "-", fail("a.one.x"), fail("a.one.new"))])
    previous = bl.loads(BASE + '\n[[failure]]\ncheck = "a.one"\nitem = "-"\nmessage_id = "a.one.gone"\n'
                               'reason = "fixed since"\nexpires = 2027-01-01\n'
                               '\n[[failure]]\ncheck = "c.other"\nreason = "not run today"\nexpires = 2027-02-02\n')
    created = bl.create(card, previous, today=TODAY)
    base = bl.loads(created.text)
    by_id = {e.message_id: e for e in base.entries}
    assert by_id["a.one.x"].reason == "known, ticket 1" and by_id["a.one.x"].expires == dt.date(2027, 1, 1)
    assert by_id["a.one.new"].reason_unfilled
    assert "a.one.gone" not in by_id and [e.message_id for e in created.dropped] == ["a.one.gone"]
    assert any(e.check == "c.other" and e.reason == "not run today" for e in base.entries)


def test_create_escapes_awkward_messages():
    card = card_with([res("a.one", 'it"em\\1', fail("m", message='quote " backslash \\ newline\n tab\t del\x7f'))])
    (entry,) = bl.loads(bl.create(card, today=TODAY).text).entries
    assert entry.item == 'it"em\\1' and entry.message.startswith('quote " backslash \\ newline\n')


# --------------------------------------------------------------------------
# CLI and the gate of `harness demo --baseline`, on the demo vendors


def test_baseline_commands_on_demo_poor(demo_cards, tmp_path):
    poor = demo_cards["poor"]
    out = tmp_path / "baseline.toml"
    created = run_harness(["baseline", "create", str(poor), "-o", str(out)], tmp_path)
    assert created.returncode == 0, created.stderr
    assert "need a reason and an expiry date" in created.stderr
    card = scorecard.load(poor)
    n_fail = len({(f.check_id, f.item_id, f.message_id, f.status) for f in failures(card)})
    assert len(bl.load(out).entries) == n_fail > 0

    unfilled = run_harness(["baseline", "check", str(poor), str(out)], tmp_path)
    assert unfilled.returncode == 0, unfilled.stderr
    assert "no reason or expiry date yet" in unfilled.stderr and "baseline gate: OK" in unfilled.stderr

    out.write_text(fill_placeholders(out.read_text()))
    ok = run_harness(["baseline", "check", str(poor), str(out)], tmp_path)
    assert ok.returncode == 0 and "no reason or expiry date" not in ok.stderr

    missing = tmp_path / "missing.toml"
    missing.write_text(drop_entries(out.read_text(), "interop.capability.statement"))
    new = run_harness(["baseline", "check", str(poor), str(missing)], tmp_path)
    assert new.returncode == 1
    assert "new failure" in new.stderr and "interop.capability.statement [-]" in new.stderr

    expired = tmp_path / "expired.toml"
    expired.write_text(fill_placeholders(created_text_of(poor, tmp_path), expires="2001-01-01"))
    gone = run_harness(["baseline", "check", str(poor), str(expired)], tmp_path)
    assert gone.returncode == 1 and "whose baseline entry expired" in gone.stderr


def created_text_of(card_path, tmp_path):
    path = tmp_path / "fresh.toml"
    run_harness(["baseline", "create", str(card_path), "-o", str(path)], tmp_path)
    return path.read_text()


def test_baseline_create_refuses_a_broken_scorecard(tmp_path):
    bad = tmp_path / "scorecard.json"
    bad.write_text(json.dumps({"schema_version": "1.0"}))
    done = run_harness(["baseline", "create", str(bad), "-o", str(tmp_path / "b.toml")], tmp_path)
    assert done.returncode == 2 and "error:" in done.stderr


def test_demo_gate_with_baselines(demo_cards, tmp_path):
    """`harness demo --vendor poor --baseline FILE`: the core asks this plugin's harness_gate.

    Two families keep it quick and deterministic; the baseline's entries for the others are
    "not checked" (their checks did not run), never "fixed".
    """
    full = tmp_path / "full.toml"
    demo = ["demo", "--vendor", "poor", "--family", "interop", "--family", "peers"]
    full.write_text(fill_placeholders(created_text_of(demo_cards["poor"], tmp_path)) +
                    '\n[[failure]]\ncheck = "dmp.no.such_check"\nreason = "typo"\nexpires = 2999-01-01\n')
    ok = run_harness([*demo, "-o", str(tmp_path / "out"), "--baseline", str(full)], tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "baseline gate: OK" in ok.stderr
    assert "dmp.no.such_check" in ok.stderr and "no loaded plugin registers" in ok.stderr

    missing = tmp_path / "missing.toml"
    missing.write_text(drop_entries(full.read_text(), "interop.capability.statement"))
    new = run_harness([*demo, "-o", str(tmp_path / "out2"), "--baseline", str(missing)], tmp_path)
    assert new.returncode == 1 and "interop.capability.statement" in new.stderr

    broken = tmp_path / "broken.toml"
    broken.write_text("version = 1\n\n[[failure]]\ncheck = 'a.b'\nreason = 'r'\nexpires = 'someday'\n")
    bad = run_harness([*demo, "-o", str(tmp_path / "out3"), "--baseline", str(broken)], tmp_path)
    assert bad.returncode == 2 and "broken.toml:6:" in bad.stderr and "expires must be a date" in bad.stderr


def test_gate_hook_leaves_runs_without_baseline_to_the_core():
    from harness_plugins.selftest import plugin

    assert plugin.harness_gate(scorecard={}, fail_on="low", baseline=None) is None


def test_hook_harness_gate(demo_cards, tmp_path, capsys):
    """The hook through the plugin host, as the CLI calls it: the selftest impl answers before the core's."""
    from harness.plugins import PluginHost

    hook = PluginHost().hook
    card = scorecard.load(demo_cards["poor"])
    assert hook.harness_gate(scorecard=card, fail_on="low", baseline=None) == 1  # the core's rule
    path = tmp_path / "baseline.toml"
    path.write_text(fill_placeholders(bl.create(card).text))
    assert hook.harness_gate(scorecard=card, fail_on="low", baseline=path) == 0
    path.write_text(drop_entries(path.read_text(), "interop.capability.statement"))
    assert hook.harness_gate(scorecard=card, fail_on="low", baseline=path) == 1
    path.write_text("version = 1\n[[failure]]\ncheck = 'a.b'\n")
    assert hook.harness_gate(scorecard=card, fail_on="low", baseline=path) == 2
    assert "baseline.toml:2: [[failure]] #1: missing 'reason'" in capsys.readouterr().err
