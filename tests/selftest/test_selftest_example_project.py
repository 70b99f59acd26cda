"""fixtures/example-vendor-project: a vendor's own test suite with the harness plugin and one check of its own."""

from __future__ import annotations

import re

from selftest_helpers import ROOT, run_pytest

from harness import scorecard

EXAMPLE = ROOT / "fixtures" / "example-vendor-project"


def test_example_vendor_project_runs_green(tmp_path):
    out = tmp_path / "conformity"
    done = run_pytest(["-p", "no:cacheprovider", "-v", "--harness-demo", "good", f"--harness-output={out}"], EXAMPLE)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert f"rootdir: {EXAMPLE}" in done.stdout and "configfile: pyproject.toml" in done.stdout
    # its own check, in plain pytest, using the plugin's fixtures
    assert "tests/test_conformity.py::test_doctor_finds_a_patient_by_ins PASSED" in done.stdout
    # the harness checks of its profile, collected beside it
    harness_items = re.findall(r"^conformity/vendor\.toml::(\S+) (PASSED|SKIPPED|XFAIL)", done.stdout, flags=re.M)
    assert any(name.startswith("interop.capability.statement[") for name, _ in harness_items)
    # its baseline (ini option) is applied, and the scorecard is its own
    assert "baseline gate: OK" in done.stdout
    card = scorecard.load(out / "scorecard.json")
    assert card["subject"] == {"vendor": "Exemple Médical SAS", "product": "ExempleCabinet", "version": "2.3.0"}
    assert len(card["results"]) == len(harness_items)
    assert (out / "results.sarif").is_file() and (out / "junit.xml").is_file()

