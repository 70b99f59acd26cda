"""Fixtures of the report and site tests: demo scorecards, a loopback HTTP server, a headless Chromium."""

from __future__ import annotations

import copy
import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness import scorecard
from harness.testing import audit_demo

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = ("install Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver); "
                "the project's test script does it")

PAYLOAD = "<script>alert('x')</script><img src=x onerror=alert(1)>\"' onmouseover=\"alert(2)\"&amp;"


@pytest.fixture(scope="session")
def poor_card() -> dict:
    return audit_demo("poor")


@pytest.fixture(scope="session")
def good_card() -> dict:
    return audit_demo("good")


def _annotate(card: dict, *annotations: dict) -> dict:
    """A copy of ``card`` with annotations added (validated)."""
    card = copy.deepcopy(card)
    card["annotations"].extend(annotations)
    scorecard.validate(card)
    return card


@pytest.fixture(scope="session")
def annotate():
    return _annotate


@pytest.fixture(scope="session")
def payload() -> str:
    """HTML injection put into free-text fields."""
    return PAYLOAD


def first_failing(card: dict) -> dict:
    """The first failing result with HTTP evidence (the interop family's checks may change; this need not)."""
    for result in card["results"]:
        if result["status"] == "fail" and any(e.get("kind") == "http" for f in result["findings"]
                                              for e in f.get("evidence", [])):
            return result
    raise AssertionError("demo-poor has no failing result with HTTP evidence")


@pytest.fixture(scope="session")
def failing_result(poor_card) -> dict:
    return first_failing(poor_card)


@pytest.fixture(scope="session")
def annotated_poor(poor_card, failing_result) -> dict:
    return _annotate(poor_card, {
        "check_id": failing_result["check_id"], "item_id": failing_result["item_id"], "kind": "vendor_dispute",
        "text": "FHIR R4 support ships in 1.1 <b>next month</b>.", "author": "Mauvais Logiciel SARL",
        "date": "2026-11-20"}, {
        "check_id": "peers.ratings.suspicious", "kind": "auditor_note", "message_id": "peers.ratings.burst",
        "text": "The portal confirmed the burst came from one clinic.", "author": "Auditeur A.", "date": "2026-11-21"})


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - keep test output clean
        pass


@pytest.fixture(scope="session")
def serve_dir(tmp_path_factory):
    """Serve a folder on 127.0.0.1; yields a function ``folder -> base URL`` (one server per folder)."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def chrome(tmp_path_factory):
    """Headless Debian Chromium through chromedriver (never a downloaded browser)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not (p.exists() and os.access(p, os.X_OK))]
    if missing:
        pytest.fail(f"browser tests need {' and '.join(missing)}: {INSTALL_HINT}", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:  # pragma: no cover - selenium is a test dependency
        pytest.fail(f"browser tests need selenium (pip install -e '.[test]'): {exc}", pytrace=False)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1000",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _screenshot(driver, path: Path, max_height: int = 6000) -> Path:
    """A full-page PNG (up to ``max_height`` pixels tall)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 800), max_height))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)
    return path


@pytest.fixture(scope="session")
def screenshot():
    return _screenshot
