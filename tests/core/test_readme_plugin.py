"""The README's plugin example is real: installed with pip, it loads and its check runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from core_support import HARNESS, ROOT, subprocess_env


def readme_block(marker: str, language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    matching = [b for b in blocks if b.startswith(marker)]
    assert len(matching) == 1, f"README has {len(matching)} {language} blocks starting with {marker!r}"
    return matching[0]


def test_readme_plugin_installs_and_runs(tmp_path):
    project = tmp_path / "acme"
    (project / "acme_checks").mkdir(parents=True)
    (project / "acme_checks" / "__init__.py").write_text(readme_block("# acme_checks/__init__.py", "python"))
    pyproject = readme_block("# pyproject.toml of the plugin", "toml")
    (project / "pyproject.toml").write_text(pyproject.replace('dependencies = ["lgc-harness"]\n', ""))
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--disable-pip-version-check", "--target", str(site), str(project)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr

    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "cgv.txt").write_text("Article 1 - Objet\nLe présent contrat...\n")
    profile = tmp_path / "vendor.toml"
    profile.write_text('[subject]\nvendor = "V"\nproduct = "P"\n\n[targets.contracts]\nfiles = ["contracts/*"]\n')
    env = subprocess_env()
    env["PYTHONPATH"] = str(site)
    out = tmp_path / "out"
    run = subprocess.run([*HARNESS, "audit", str(profile), "-o", str(out), "--check", "acme.*"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 1, run.stderr  # the contract is not a PDF: a low-severity failure
    card = json.loads((out / "scorecard.json").read_text())
    [result] = card["results"]
    assert result["check_id"] == "acme.contracts.pdf" and result["item_id"] == "cgv.txt"
    assert result["findings"][0]["message"] == "cgv.txt is not a PDF"
    assert {p["name"]: p["dist"] for p in card["plugins"]}["acme"] == "acme-checks"
    assert [r["source"] for r in card["requirements"]] == ["ACME purchasing policy §3"]
