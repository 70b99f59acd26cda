"""Helpers for the selftest family's tests: subprocess runs of pytest and harness, baseline edits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = Path(__file__).parent / "schemas"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_DEMO_URL"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["COLUMNS"] = "200"
    return env


def run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command; stdout and stderr are kept apart, text mode."""
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def run_pytest(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """A child ``pytest`` (the harness plugin auto-loads through its entry point)."""
    return run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-rfEsxX", *args], cwd, timeout)


def run_harness(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "harness.cli", *args], cwd, timeout)


def fill_placeholders(text: str, expires: str = "2999-12-31") -> str:
    """What a person does to a fresh baseline: write a reason and a date for every entry."""
    text = re.sub(r'^reason = "TODO[^"\n]*"', 'reason = "accepted until the next release (test)"', text, flags=re.M)
    return re.sub(r'^expires = "TODO[^"\n]*"', f"expires = {expires}", text, flags=re.M)


def drop_entries(text: str, check_id: str) -> str:
    """The baseline without its entries for one check (as if that defect were new)."""
    head, *blocks = text.split("\n[[failure]]")
    kept = [b for b in blocks if f'check = "{check_id}"' not in b]
    return head + "".join("\n[[failure]]" + b for b in kept)
