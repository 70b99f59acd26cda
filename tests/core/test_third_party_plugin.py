"""A third-party plugin, really pip-installed, is found through its entry point like the built-ins."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from core_support import HARNESS, HERE, subprocess_env, toy_profile

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "harness-toy-checks"
version = "9.9.9"

[project.entry-points.harness]
toy = "harness_toy_checks"
"""


def test_pip_installed_plugin_shows_in_plugins_and_scorecard(tmp_path):
    project = tmp_path / "project"
    package = project / "harness_toy_checks"
    package.mkdir(parents=True)
    shutil.copy(HERE / "toy_plugin.py", package / "__init__.py")
    (project / "pyproject.toml").write_text(PYPROJECT)
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(site), str(project)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = subprocess_env()
    env["PYTHONPATH"] = str(site)  # only the installed copy, not tests/core

    listed = subprocess.run([*HARNESS, "plugins", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins["toy"]["status"] == "loaded"
    assert plugins["toy"]["dist"] == "harness-toy-checks"
    assert plugins["toy"]["version"] == "9.9.9"
    assert "harness_register_checks" in plugins["toy"]["hooks"]

    profile = toy_profile(tmp_path, {"a.txt": "FAIL"})
    out = tmp_path / "out"
    audited = subprocess.run([*HARNESS, "audit", str(profile), "-o", str(out), "--family", "toy"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert audited.returncode == 1, audited.stderr  # the toy check fails on purpose
    card = json.loads((out / "scorecard.json").read_text())
    assert {c["id"]: c["plugin"] for c in card["checks"]} == {"toy.content": "toy", "toy.size": "toy"}
    assert [p for p in card["plugins"] if p["name"] == "toy"][0]["dist"] == "harness-toy-checks"

    disabled = subprocess.run([*HARNESS, "plugins", "--json", "-p", "no:toy"], capture_output=True, text=True,
                              env=env, timeout=120)
    assert {p["name"]: p["status"] for p in json.loads(disabled.stdout)}["toy"] == "disabled"
