"""Fixtures of the dmp tests: the CI-SIS pack in ../shared, one validator per test process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dmp_support import PACK_DIR  # noqa: E402


@pytest.fixture(scope="session")
def pack():
    if not (PACK_DIR / "MANIFEST.md").is_file():
        pytest.skip(f"the CI-SIS rule pack is not at {PACK_DIR}")
    from harness.rulepacks import open_pack

    return open_pack(PACK_DIR)


@pytest.fixture(scope="session")
def validator(pack):
    """The process-wide validator (compiled stylesheets loaded once for the whole test session)."""
    from harness_plugins.dmp.engine import Options, shared_validator

    return shared_validator(pack, Options())


@pytest.fixture
def validate(validator, tmp_path):
    """validate(bytes_or_path, name=...) -> DocumentReport."""
    from harness_plugins.dmp.engine import Source

    def run(doc, name: str = "doc.xml"):
        if isinstance(doc, (bytes, bytearray)):
            path = tmp_path / name
            path.write_bytes(doc)
        else:
            path = Path(doc)
        return validator.validate(Source(path.name, str(path)))

    return run
