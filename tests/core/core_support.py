"""Helpers for the core tests: toy profiles and a host with only the toy plugin."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from harness.plugins import PluginHost
from harness.session import AuditOptions, Session

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def toy_profile(tmp_path: Path, files: dict[str, str], extra: str = "") -> Path:
    """Write a folder of toy files and a profile auditing it; returns the profile path."""
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")
    profile = tmp_path / "vendor.toml"
    profile.write_text(
        '[subject]\nvendor = "Toy Vendor"\nproduct = "ToyCabinet"\nversion = "1.0"\n\n'
        f'[targets.toy]\ndir = "files"\n{extra}',
        encoding="utf-8",
    )
    return profile


def toy_host(*plugins: tuple[Any, str]) -> PluginHost:
    """Only the core runner and the toy plugin, plus ``plugins`` as (object, name)."""
    host = PluginHost(autoload=False, extra=("toy_plugin",))
    for obj, name in plugins:
        host.register(obj, name)
    return host


def toy_audit(profile: Path, *plugins: tuple[Any, str], **options: Any) -> dict[str, Any]:
    return Session(profile, AuditOptions(**options), host=toy_host(*plugins)).run()


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a ``harness`` subprocess that can import the toy plugin."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


HARNESS = [sys.executable, "-m", "harness.cli"]
