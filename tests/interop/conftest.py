"""Fixtures of the interop tests: demo vendors on loopback, their scorecards, targets on any URL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness.session import AuditOptions  # noqa: E402
from harness.testing import audit_demo, serve_demo  # noqa: E402


@pytest.fixture(scope="session")
def good_card():
    return audit_demo("good", AuditOptions(families=("interop",), jobs=4))


@pytest.fixture(scope="session")
def poor_card():
    return audit_demo("poor", AuditOptions(families=("interop",), jobs=4))


@pytest.fixture(scope="session")
def demo_good_url():
    with serve_demo("good") as url:
        yield url


@pytest.fixture(scope="session")
def demo_poor_url():
    with serve_demo("poor") as url:
        yield url


FAST = {"timeout": 2.0, "connect_timeout": 1.0, "request_timeout": 3.0, "max_retries": 2, "max_retry_after": 2.0,
        "max_requests_per_second": 0}


@pytest.fixture
def make_target():
    """Build a FhirTarget on a URL with fast limits; closed after the test."""
    from harness_plugins.interop.target import FhirTarget

    made = []

    def build(base_url: str, **config):
        target = FhirTarget({"base_url": base_url, **FAST, **config})
        made.append(target)
        return target

    yield build
    for target in made:
        target.close()
