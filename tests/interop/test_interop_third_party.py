"""The suite against a third-party FHIR server on loopback: no false failure on behaviour the spec allows.

The server is FHIRStarter (PyPI ``fhirstarter``, FastAPI): the framework owns the REST
layer, ``third_party/fhirstarter_app.py`` plugs the demo-good Patients and Practitioners
into it, in a subprocess. The interpreter is ``HARNESS_FHIRSTARTER_PYTHON`` when set (a
separate virtualenv, since FHIRStarter pins FastAPI), else this one when ``fhirstarter``
is importable (``pip install fhirstarter==4.2.0`` adds only new packages to the harness
venv); the test is skipped when neither has it.

Every ``fail`` must be a real departure from R4 (listed below with the rule it breaks);
anything the spec leaves open may only be a ``warn``.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.demo import vendor_dir
from harness.session import AuditOptions, Session

PYTHON = os.environ.get("HARNESS_FHIRSTARTER_PYTHON") or (
    sys.executable if importlib.util.find_spec("fhirstarter") else None)
APP = Path(__file__).parent / "third_party" / "fhirstarter_app.py"

#: The failures this server really has, and why they are not false.
REAL_FAILURES = {
    "interop.capability.fhir_version": "FHIRStarter speaks R4B (4.3.0) or R5, not R4 4.0.x",
    "interop.validation.code-invalid": "fhirVersion 4.3.0 is not in R4's required FHIR-version value set",
    "interop.validation.value": "fhirVersion 4.3.0 is not in R4's required FHIR-version value set",
    "interop.search.count_ignored": "_count is not passed to handlers: every page holds all results (SHALL NOT)",
    "interop.content_type.server_error": "POST _search with an unsupported body ends in HTTP 500",
    "interop.declared.broken": "follows from the above",
}


@pytest.fixture(scope="module")
def fhirstarter_url():
    if not PYTHON:
        pytest.skip("fhirstarter is not installed here and HARNESS_FHIRSTARTER_PYTHON is not set")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, FHIR_SEQUENCE="R4B")
    process = subprocess.Popen([PYTHON, str(APP), str(port), str(vendor_dir("good") / "fhir")], cwd=APP.parent,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("FHIRStarter did not start")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_no_false_failure_on_a_third_party_server(fhirstarter_url, tmp_path):
    profile = tmp_path / "vendor.toml"
    profile.write_text(f'[subject]\nvendor = "FHIRStarter"\nproduct = "fhirstarter"\n\n'
                       f'[targets.fhir]\nbase_url = "{fhirstarter_url}"\nmax_requests_per_second = 100\n')
    card = Session(profile, AuditOptions(families=("interop",), jobs=4)).run()
    unexpected = []
    for result in card["results"]:
        for finding in result["findings"]:
            if finding["status"] in ("fail", "error") and finding.get("message_id") not in REAL_FAILURES:
                unexpected.append((result["check_id"], result["item_id"], finding["message"]))
    assert not unexpected
    passed = {r["check_id"] for r in card["results"] if r["status"] == "pass"}
    assert {"interop.search.params", "interop.resources.r4", "interop.resources.identifiers",
            "interop.search.total", "interop.read.resource", "interop.format.content_type"} <= (
        passed | {r["check_id"] for r in card["results"] if r["status"] == "warn"})
