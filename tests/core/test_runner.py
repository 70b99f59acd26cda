"""The runner as users see it: one broken check never takes the run down; order is deterministic."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import toy_plugin
from core_support import HARNESS, subprocess_env, toy_audit, toy_profile
from harness import hookimpl, scorecard
from harness.plugins import PluginHost
from harness.registry import Registry, RegistryError
from harness.session import AuditOptions, Session


@pytest.fixture(autouse=True)
def release_hung_checks():
    toy_plugin.RELEASE_HANG.clear()
    yield
    toy_plugin.RELEASE_HANG.set()  # let abandoned worker threads finish


def by_item(card, check_id="toy.content"):
    return {r["item_id"]: r for r in card["results"] if r["check_id"] == check_id}


def test_crash_hang_and_bad_return_become_errors_and_the_rest_stands(tmp_path):
    files = {"1-ok.txt": "OK", "2-fail.txt": "FAIL", "3-crash.txt": "CRASH", "4-hang.txt": "HANG",
             "5-bad.txt": "BADRETURN", "6-skip.txt": "SKIP", "7-na.txt": "NA"}
    card = toy_audit(toy_profile(tmp_path, files), timeout=0.5, jobs=4)
    results = by_item(card)
    assert {k: v["status"] for k, v in results.items()} == {
        "1-ok.txt": "pass", "2-fail.txt": "fail", "3-crash.txt": "error", "4-hang.txt": "error",
        "5-bad.txt": "error", "6-skip.txt": "skipped", "7-na.txt": "not_applicable"}
    assert "RuntimeError: toy crash on 3-crash.txt" in results["3-crash.txt"]["findings"][0]["message"]
    assert "Traceback" in results["3-crash.txt"]["error"] and "toy_plugin.py" in results["3-crash.txt"]["error"]
    assert results["4-hang.txt"]["findings"][0]["message"] == "check timed out after 0.5s"
    assert "returned str, not findings" in results["5-bad.txt"]["findings"][0]["message"]
    # the other check on the same items is untouched
    assert {r["status"] for r in by_item(card, "toy.size").values()} == {"pass"}
    # errors are inconclusive: never scored as fail, they lower coverage
    family = card["scores"]["families"]["toy"]
    assert family["counts"]["error"] == 3
    assert 0 < family["coverage"] < 1


def test_fail_carries_evidence_with_file_line_and_hash(tmp_path):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "FAIL here"}))
    finding = by_item(card)["a.txt"]["findings"][0]
    evidence = finding["evidence"][0]
    assert evidence["kind"] == "file" and evidence["line"] == 1
    assert evidence["artefact"].endswith("a.txt")
    assert len(evidence["sha256"]) == 64
    assert finding["requirement_ids"] == ["TOY-1"] and finding["severity"] == "high"


def test_results_are_sorted_and_identical_across_runs_and_job_counts(tmp_path):
    files = {f"{n:02d}.txt": ("OK" if n % 3 else "FAIL") for n in range(30)}
    profile = toy_profile(tmp_path, files)
    one = scorecard.stable_view(toy_audit(profile, jobs=1))
    many = scorecard.stable_view(toy_audit(profile, jobs=8))
    assert json.dumps(one, sort_keys=True) == json.dumps(many, sort_keys=True)
    ids = [(r["check_id"], r["item_id"]) for r in one["results"]]
    assert ids == sorted(ids)


def test_target_that_cannot_be_built_errors_only_its_checks(tmp_path):
    profile = toy_profile(tmp_path, {"a.txt": "OK"})
    (tmp_path / "files" / "a.txt").unlink()
    (tmp_path / "files").rmdir()
    (tmp_path / "files").write_text("a file where a folder was expected")
    card = toy_audit(profile)
    assert len(card["results"]) == 2
    for result in card["results"]:
        assert result["status"] == "error"
        assert result["item_id"] == "-"
        assert result["findings"][0]["message"] == "target 'toy' unavailable: files is not a folder"


def test_a_plugin_that_fails_to_import_is_reported_and_the_run_goes_on(tmp_path, monkeypatch):
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("raise ImportError('this plugin is broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PluginHost(autoload=False, extra=("toy_plugin", "broken_plugin"))
    card = Session(toy_profile(tmp_path, {"a.txt": "OK"}), host=host).run()
    plugins = {p["name"]: p for p in card["plugins"]}
    assert plugins["broken_plugin"]["status"] == "error"
    assert "this plugin is broken on purpose" in plugins["broken_plugin"]["error"]
    assert plugins["toy_plugin"]["status"] == "loaded"
    assert by_item(card)["a.txt"]["status"] == "pass"


def test_disabling_a_plugin_from_the_profile(tmp_path):
    profile = toy_profile(tmp_path, {"a.txt": "OK"})
    profile.write_text('[harness]\ndisable_plugins = ["contracts"]\n\n' + profile.read_text())
    session = Session(profile, AuditOptions(plugins=("toy_plugin",)))
    card = session.run()
    plugins = {p["name"]: p["status"] for p in card["plugins"]}
    assert plugins["contracts"] == "disabled"
    assert not any(c["family"] == "contracts" for c in card["checks"])


def test_checks_without_a_target_section_are_not_applicable(tmp_path):
    session = Session(toy_profile(tmp_path, {"a.txt": "OK"}), AuditOptions(plugins=("toy_plugin",)))
    card = session.run()
    others = [r for r in card["results"] if not r["check_id"].startswith("toy.")]
    assert others, "the built-in families are loaded"
    assert {r["status"] for r in others} == {"not_applicable"}
    assert card["scores"]["overall"]["score"] == 10.0  # not_applicable never lowers a score


class Impostor:
    """A second plugin claiming the toy check id."""

    @hookimpl
    def harness_register_checks(self):
        return [toy_plugin.toy_content]


def test_two_plugins_registering_one_check_id_is_a_clear_error(tmp_path):
    host = PluginHost(autoload=False, extra=("toy_plugin",))
    host.register(Impostor(), "impostor")
    with pytest.raises(RegistryError) as info:
        Registry.build(host.pm)
    message = str(info.value)
    assert "toy.content" in message and "toy_plugin" in message and "impostor" in message


def test_harness_plugins_json_shows_an_import_error(tmp_path):
    (tmp_path / "broken_plugin.py").write_text("import no_such_module_anywhere\n")
    env = subprocess_env(HARNESS_PLUGINS="broken_plugin,toy_plugin")
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)
    listed = subprocess.run([*HARNESS, "plugins", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins["broken_plugin"]["status"] == "error"
    assert "No module named 'no_such_module_anywhere'" in plugins["broken_plugin"]["error"]
    assert plugins["toy_plugin"]["status"] == "loaded" and plugins["dmp"]["status"] == "loaded"


class BrokenRegistration:
    """Imports fine, then raises while registering its checks (e.g. a corrupt rule file)."""

    @hookimpl
    def harness_register_checks(self):
        raise ValueError("rule file broken.toml: unescaped backslash at line 54")


def test_a_plugin_that_fails_to_register_is_an_error_and_the_others_run(tmp_path):
    host = PluginHost(autoload=False, extra=("toy_plugin",))
    host.register(BrokenRegistration(), "broken-rules")
    card = Session(toy_profile(tmp_path, {"a.txt": "OK"}), host=host).run()
    plugins = {p["name"]: p for p in card["plugins"]}
    assert plugins["broken-rules"]["status"] == "error"
    assert plugins["broken-rules"]["error"] == ("harness_register_checks failed: "
                                               "ValueError: rule file broken.toml: unescaped backslash at line 54")
    assert by_item(card)["a.txt"]["status"] == "pass"


@pytest.mark.parametrize("options, expected", [
    ({"families": ("toy",)}, ["toy.content", "toy.size"]),
    ({"check_ids": ("toy.s*",)}, ["toy.size"]),
    ({"check_ids": ("toy.content",)}, ["toy.content"]),
    ({"keyword": "toy and not size"}, ["toy.content"]),
    ({"keyword": "(small or ok) and toy"}, ["toy.content", "toy.size"]),
    ({"keyword": "nothing_matches_this"}, []),
])
def test_selection_by_family_check_and_keyword(tmp_path, options, expected):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "OK"}), **options)
    assert sorted({r["check_id"] for r in card["results"]}) == expected


def test_a_broken_keyword_expression_is_a_usage_error(tmp_path):
    profile = toy_profile(tmp_path, {"a.txt": "OK"})
    env = subprocess_env(HARNESS_PLUGINS="toy_plugin")
    done = subprocess.run([*HARNESS, "audit", str(profile), "-o", str(tmp_path / "out"), "-k", "toy and (size"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "-k 'toy and (size' is not a valid expression" in done.stderr


def test_a_target_that_hangs_is_timed_out_from_the_profile(tmp_path):
    profile = toy_profile(tmp_path, {"a.txt": "OK"}, extra='label = "HANG"\n')
    profile.write_text("[harness]\ntarget_timeout = 0.5\n\n" + profile.read_text())
    card = toy_audit(profile)
    assert card["run"]["options"]["target_timeout"] == 0.5
    assert {r["status"] for r in card["results"]} == {"error"}
    assert card["results"][0]["findings"][0]["message"] == "target 'toy' could not be built within 0.5s"
