"""The pytest plugin, run as a child pytest: items, markers, -k/-m/-x/--lf, xdist, baselines, fixtures."""

from __future__ import annotations

import json
import re

import pytest
from selftest_helpers import ROOT, drop_entries, fill_placeholders, run_harness, run_pytest

from harness import scorecard

DEMO_POOR = ROOT / "fixtures" / "vendors" / "demo-poor" / "vendor.toml"


def failed_ids(output: str) -> set[str]:
    return set(re.findall(r"^FAILED (\S+)", output, flags=re.M))


def outcome_counts(output: str) -> dict[str, int]:
    last = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|xfailed|deselected)", line)]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last[-1])} if last else {}


@pytest.fixture(scope="module")
def poor_run(tmp_path_factory):
    """`pytest --harness-profile fixtures/vendors/demo-poor/vendor.toml`: serves demo-poor itself."""
    work = tmp_path_factory.mktemp("poor-run")
    done = run_pytest([f"--harness-profile={DEMO_POOR}", "--harness-output=out"], work)
    return work, done


def test_plugin_does_nothing_without_a_profile(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import sys\n"
        "def test_inactive(request):\n"
        "    assert request.config.pluginmanager.has_plugin('harness')  # the entry point is loaded\n"
        "    assert request.config.pluginmanager.get_plugin('harness-selftest-run') is None\n"
        "    assert 'harness.session' not in sys.modules and 'harness_plugins.selftest.baseline' not in sys.modules\n"
        "def test_fixture_skips(harness_target):\n"
        "    raise AssertionError('not reached')\n"
    )
    done = run_pytest(["-p", "no:cacheprovider"], tmp_path)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 skipped" in done.stdout and "no harness profile" in done.stdout
    assert not (tmp_path / "out").exists()


def test_demo_poor_fails_with_its_defects_as_pytest_failures(poor_run):
    work, done = poor_run
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    card = scorecard.load(work / "out" / "scorecard.json")
    assert card["subject"]["product"] == "VieuxCabinet"
    failing = {(r["check_id"], r["item_id"]) for r in card["results"]
               if any(f["status"] == "fail" and f.get("severity") != "info" for f in r["findings"])
               or r["status"] == "error"}
    ids = failed_ids(done.stdout)
    assert "demo-poor/vendor.toml::interop.capability.statement[-]" in ids
    assert len(ids) == len(failing) > 0
    # the failure text lists the findings with their message ids and evidence
    assert "interop.capability.statement [-]: /metadata returns a valid FHIR R4 CapabilityStatement" in done.stdout
    assert re.search(r"FAIL \[high\] interop\.capability\.\w+: ", done.stdout)
    assert "evidence: GET http://127.0.0.1:" in done.stdout
    # one item per check x item; the scorecard has a result for each collected item
    assert outcome_counts(done.stdout).get("failed") == len(ids)
    assert len(card["results"]) == sum(outcome_counts(done.stdout).get(k, 0) for k in ("passed", "failed", "skipped"))
    for name in ("scorecard.json", "junit.xml", "results.sarif"):
        assert (work / "out" / name).is_file()
    assert "harness scorecard" in done.stdout and "Mauvais Logiciel SARL" in done.stdout


def test_with_its_baseline_it_passes_and_a_new_defect_fails_again(poor_run, tmp_path):
    work, _ = poor_run
    baseline = tmp_path / "baseline.toml"
    made = run_harness(["baseline", "create", str(work / "out" / "scorecard.json"), "-o", str(baseline)], tmp_path)
    assert made.returncode == 0, made.stderr
    baseline.write_text(fill_placeholders(baseline.read_text()))

    # Every check but the bulk-export ones: those wait on demo-poor's slow $export, whose
    # 20 s deadline a loaded machine sometimes misses (and then other items fail instead).
    passing = run_pytest(["--harness-demo", "poor", "-k", "not bulk", f"--harness-baseline={baseline}",
                          "--harness-output=out"], tmp_path)
    assert passing.returncode == 0, "\n".join(
        line for line in passing.stdout.splitlines() if line.startswith(("FAILED", "ERROR", "    "))
    )[-6000:]
    counts = outcome_counts(passing.stdout)
    assert counts.get("xfailed", 0) > 0 and "failed" not in counts
    assert "baseline gate: OK" in passing.stdout

    missing = tmp_path / "missing.toml"
    missing.write_text(drop_entries(baseline.read_text(), "interop.capability.statement"))
    # the same baseline less one check's entries: that check's defects are "new" again
    failing = run_pytest(["--harness-demo", "poor", "--harness-family", "interop", f"--harness-baseline={missing}",
                          "--harness-output=out"], tmp_path)
    assert failing.returncode == 1
    assert failed_ids(failing.stdout) == {"demo-poor/vendor.toml::interop.capability.statement[-]"}
    assert "new failure" in failing.stdout


def test_expired_baseline_entries_fail_and_fixed_ones_are_reported(poor_run, tmp_path):
    work, _ = poor_run
    baseline = tmp_path / "baseline.toml"
    run_harness(["baseline", "create", str(work / "out" / "scorecard.json"), "-o", str(baseline)], tmp_path)
    text = fill_placeholders(baseline.read_text())
    head, *blocks = text.split("\n[[failure]]")
    blocks = [b.replace("expires = 2999-12-31", "expires = 2001-01-01")
              if 'check = "interop.capability.statement"' in b else b for b in blocks]
    blocks.append('\ncheck = "peers.ratings.enough"\nitem = "global"\nmessage_id = "peers.ratings.too_few"\n'
                  'reason = "was short of ratings"\nexpires = 2999-12-31\n')
    baseline.write_text(head + "".join("\n[[failure]]" + b for b in blocks))
    done = run_pytest(["--harness-demo", "poor", "--harness-family", "interop", "--harness-family", "peers",
                       f"--harness-baseline={baseline}", "--harness-output=out"], tmp_path)
    assert done.returncode == 1
    assert failed_ids(done.stdout) == {"demo-poor/vendor.toml::interop.capability.statement[-]"}
    assert "baseline entry expired on 2001-01-01" in done.stdout
    assert "fixed — remove it from the baseline" in done.stdout and "peers.ratings.enough [global]" in done.stdout


def test_markers_and_keyword_selection(tmp_path):
    done = run_pytest(["--harness-demo", "poor", "--harness-family", "interop", "--harness-family", "peers",
                       "-m", "peers and not severity_low", "--collect-only", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert done.returncode == 0, done.stdout
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected and all("::peers." in line for line in collected)
    assert all("::peers.ratings.valid" not in line and "::peers.ratings.suspicious" not in line for line in collected)
    by_k = run_pytest(["--harness-demo", "poor", "--harness-family", "interop", "-k", "capability and statement",
                       "--harness-output=out", "-p", "no:cacheprovider"], tmp_path)
    assert failed_ids(by_k.stdout) == {"demo-poor/vendor.toml::interop.capability.statement[-]"}
    assert outcome_counts(by_k.stdout).get("failed") == 1
    card = scorecard.load(tmp_path / "out" / "scorecard.json")
    assert {r["check_id"] for r in card["results"]} == {"interop.capability.statement"}
    markers = run_pytest(["--harness-demo", "poor", "--markers"], tmp_path)
    for name in ("harness:", "interop:", "peers:", "severity_critical:"):
        assert f"@pytest.mark.{name}" in markers.stdout


def test_exitfirst_and_last_failed(tmp_path):
    args = ["--harness-demo", "poor", "--harness-family", "interop", "--harness-family", "peers",
            "--harness-output=out"]
    first = run_pytest(args, tmp_path)
    n_failed = outcome_counts(first.stdout)["failed"]
    assert n_failed > 1
    stop = run_pytest(args + ["-x"], tmp_path)
    assert outcome_counts(stop.stdout).get("failed") == 1 and "stopping after 1 failures" in stop.stdout
    again = run_pytest(args + ["--lf"], tmp_path)
    counts = outcome_counts(again.stdout)
    assert counts.get("failed") == n_failed and "passed" not in counts and counts.get("deselected", 0) > 0
    assert failed_ids(again.stdout) == failed_ids(first.stdout)


def test_xdist_runs_the_items_and_writes_one_scorecard(tmp_path):
    pytest.importorskip("xdist")
    args = ["--harness-demo", "poor", "--harness-family", "interop", "--harness-family", "peers"]
    serial = run_pytest(args + ["--harness-output=serial", "-p", "no:cacheprovider"], tmp_path)
    parallel = run_pytest(args + ["--harness-output=parallel", "-n", "2", "-p", "no:cacheprovider"], tmp_path)
    assert parallel.returncode == serial.returncode == 1
    assert failed_ids(parallel.stdout) == failed_ids(serial.stdout)
    one = scorecard.load(tmp_path / "serial" / "scorecard.json")
    two = scorecard.load(tmp_path / "parallel" / "scorecard.json")
    key = lambda card: [(r["check_id"], r["item_id"], r["status"]) for r in card["results"]]  # noqa: E731
    assert key(one) == key(two)
    assert two["scores"]["families"].keys() == one["scores"]["families"].keys()
    assert two["sections"].keys() == one["sections"].keys() and "peer_ratings" in two["sections"]
    assert two["run"]["options"]["jobs"] == 2


def test_fixtures_for_a_vendors_own_checks(tmp_path):
    (tmp_path / "test_own.py").write_text(
        "import pytest\n"
        "def test_fhir_target(harness_target, harness_profile):\n"
        "    fhir = harness_target('fhir')\n"
        "    assert fhir is harness_target('fhir')  # built once\n"
        "    assert fhir.url('metadata').endswith('/fhir/metadata')\n"
        "    assert harness_profile.subject['product'] == 'VieuxCabinet'\n"
        "def test_missing_target_skips(harness_target):\n"
        "    harness_target('dmp-not-in-profile')\n"
        "def test_session(harness_session):\n"
        "    assert harness_session.selected\n"
    )
    done = run_pytest(["--harness-demo", "poor", "--harness-family", "peers", "--harness-output=out",
                       "-p", "no:cacheprovider", "-v", "-m", "not harness", "test_own.py"], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "test_own.py::test_fhir_target PASSED" in done.stdout
    assert "test_own.py::test_session PASSED" in done.stdout
    assert "no [targets.dmp-not-in-profile] section" in done.stdout
    counts = outcome_counts(done.stdout)
    assert counts.get("passed") == 2 and counts.get("skipped") == 1 and counts.get("deselected", 0) > 0


def test_bad_inputs_are_clear_errors(tmp_path):
    bad_baseline = tmp_path / "bad.toml"
    bad_baseline.write_text("version = 1\n[[failure]]\ncheck = 'x.y'\nreason = 'r'\n")
    done = run_pytest(["--harness-demo", "poor", f"--harness-baseline={bad_baseline}"], tmp_path)
    assert done.returncode == 4  # pytest usage error
    assert "bad.toml:2:" in done.stderr and "missing 'expires'" in done.stderr

    profile = tmp_path / "vendor.toml"
    profile.write_text('[subject]\nvendor = "V"\nproduct = "P"\n\n[targets.nonesuch]\nx = 1\n')
    broken = run_pytest([f"--harness-profile={profile}", "-p", "no:cacheprovider"], tmp_path)
    assert broken.returncode == 2  # interrupted: a collection error
    assert "vendor.toml:5" in broken.stdout and "no loaded plugin understands [targets.nonesuch]" in broken.stdout


def test_profile_relative_to_ini_file(tmp_path):
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nharness_profile = conformity/vendor.toml\nharness_output = reports\n"
        "harness_vars =\n    PEERS_FILE=ratings.csv\n")
    conformity = tmp_path / "conformity"
    conformity.mkdir()
    (conformity / "ratings.csv").write_bytes(
        (ROOT / "fixtures" / "vendors" / "demo-good" / "ratings.csv").read_bytes())
    (conformity / "vendor.toml").write_text(
        '[subject]\nvendor = "Demo Santé"\nproduct = "DemoCabinet"\nversion = "4.2.0"\n\n'
        '[targets.peers]\nratings = "${PEERS_FILE}"\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    done = run_pytest(["-p", "no:cacheprovider", "--harness-family", "peers", str(tmp_path)], sub)
    assert done.returncode == 0, done.stdout[-3000:]
    card = json.loads((tmp_path / "reports" / "scorecard.json").read_text())
    assert {r["check_id"].split(".")[0] for r in card["results"]} == {"peers"}
    assert "conformity/vendor.toml::peers.ratings.valid[-]" in run_pytest(
        ["-p", "no:cacheprovider", "--harness-family", "peers", "--collect-only", "-q", str(tmp_path)], sub).stdout

