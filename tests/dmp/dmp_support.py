"""Paths and helpers of the dmp tests (imported by name: the test folders are not packages)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for entry in (ROOT, ROOT / "plugins"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

SHARED = Path(os.environ.get("HARNESS_SHARED") or ROOT.parent / "shared")
PACK_DIR = SHARED / "rules" / "ci-sis"
SAMPLES = SHARED / "samples" / "cda"
DEMO = ROOT / "fixtures" / "vendors"

needs_shared = pytest.mark.skipif(not (PACK_DIR / "MANIFEST.md").is_file(),
                                  reason=f"the CI-SIS rule pack is not at {PACK_DIR}")


def make_target(config: dict, base: Path):
    """A DmpTarget over ``config`` (documents/xdm relative to ``base``) using the shared pack."""
    from harness_plugins.dmp.target import DmpTarget

    cfg = {"rules": str(PACK_DIR), "workers": 0, **config}
    for key in ("documents", "xdm"):
        if key in cfg:
            cfg[key] = [str(base / p) if not os.path.isabs(p) else p for p in cfg[key]]
    return DmpTarget(cfg, base)
