"""Fixtures for the portability tests; helpers live in portability_support."""

from __future__ import annotations

import pytest

from portability_support import small_export, write_export


@pytest.fixture
def export_dir(tmp_path):
    return write_export(tmp_path / "export", small_export())
