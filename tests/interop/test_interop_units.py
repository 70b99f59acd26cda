"""Unit tests: search semantics, rate limiting and concurrency, the demo data, the check registry."""

from __future__ import annotations

import threading
import time

import pytest

from harness.demo import fixtures_dir
from harness.plugins import PluginHost
from harness.registry import Registry
from harness_plugins.interop import demo_data
from harness_plugins.interop.checks import ALL
from harness_plugins.interop.http import AuditClient, HttpPolicy, RateLimiter, same_origin_allowed
from harness_plugins.interop.searchparams import matches, negative_value, param_def, pick_value, ref_key, walk

PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Lefèvre", "given": ["Hélène"]}],
           "gender": "female", "birthDate": "1980-03-12",
           "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "280037512345678"}],
           "generalPractitioner": [{"reference": "https://fhir.example/fhir/Practitioner/d1/_history/2"}]}
OBS = {"resourceType": "Observation", "id": "o1", "status": "final",
       "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
       "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-03-01T23:30:00+01:00"}


@pytest.mark.parametrize("rtype,name,resource,query,expected", [
    ("Patient", "family", PATIENT, "lefevre", True),  # case and accents folded
    ("Patient", "family", PATIENT, "Lef", True),  # starts-with
    ("Patient", "family", PATIENT, "fèvre", False),
    ("Patient", "name", PATIENT, "helene", True),
    ("Patient", "gender", PATIENT, "female", True),
    ("Patient", "gender", PATIENT, "male", False),
    ("Patient", "identifier", PATIENT, "urn:oid:1.2.250.1.213.1.4.8|280037512345678", True),
    ("Patient", "identifier", PATIENT, "280037512345678", True),
    ("Patient", "identifier", PATIENT, "urn:other|280037512345678", False),
    ("Patient", "birthdate", PATIENT, "1980-03-12", True),
    ("Patient", "birthdate", PATIENT, "1980-03-13", False),
    ("Patient", "general-practitioner", PATIENT, "Practitioner/d1", True),
    ("Patient", "general-practitioner", PATIENT, "d1", True),
    ("Observation", "code", OBS, "http://loinc.org|8867-4", True),
    ("Observation", "code", OBS, "8867-4", True),
    ("Observation", "patient", OBS, "Patient/p1", True),
    ("Observation", "date", OBS, "2025-03-01", True),
    ("Observation", "date", OBS, "2025-03-02", None),  # a time zone away: ambiguous, never a failure
    ("Observation", "date", OBS, "2025-05-02", False),
])
def test_search_semantics(rtype, name, resource, query, expected):
    assert matches(param_def(rtype, name), resource, query) is expected


def test_paths_and_values():
    assert walk(OBS, "effective[x]") == ["2025-03-01T23:30:00+01:00"]
    assert walk(PATIENT, "name.given") == ["Hélène"]
    assert ref_key("https://x/fhir/Patient/p1/_history/3") == "Patient/p1"
    assert negative_value("reference", "Organization").startswith("Organization/")
    others = [dict(PATIENT, id="p2", name=[{"family": "Martin"}], gender="male")]
    value, sample = pick_value(param_def("Patient", "gender"), [PATIENT] + others)
    assert sample["id"] in ("p1", "p2") and value in ("female", "male")


def test_rate_limiter_bounds_the_request_rate():
    limiter = RateLimiter(rate=20, burst=1)
    start = time.monotonic()
    for _ in range(11):
        limiter.acquire()
    assert time.monotonic() - start >= 0.45


def test_concurrency_is_bounded(demo_good_url):
    from starlette.routing import Route

    from harness.demo import DemoServer

    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    async def slow(request):
        import asyncio

        from starlette.responses import JSONResponse

        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.1)
        with lock:
            state["now"] -= 1
        return JSONResponse({"resourceType": "Bundle"})

    with DemoServer([Route("/{n}", slow)]) as server:
        client = AuditClient(server.url, HttpPolicy(max_concurrency=2, rate=0))
        threads = [threading.Thread(target=client.request, args=("GET", f"{server.url}/{i}")) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        client.close()
    assert state["max"] == 2
    assert client.stats.requests == 8


def test_same_origin_rules():
    assert same_origin_allowed("https://a.example/fhir", "https://a.example/other")
    assert same_origin_allowed("http://a.example/fhir", "https://a.example/fhir")  # upgrade
    assert not same_origin_allowed("https://a.example/fhir", "http://a.example/fhir")  # downgrade
    assert not same_origin_allowed("https://a.example/fhir", "https://b.example/fhir")
    assert not same_origin_allowed("http://127.0.0.1:8080/fhir", "http://127.0.0.1:9090/fhir")


def test_committed_demo_data_matches_the_generator():
    root = fixtures_dir()
    for variant, content in demo_data.files().items():
        for rel, data in content.items():
            path = root / f"demo-{variant}" / "fhir" / rel
            assert path.read_bytes() == data, f"{path} is stale: run python -m harness_plugins.interop.demo_data"


def test_behaviour_files_have_no_unknown_keys():
    from harness_plugins.interop.demo import load_behaviour

    for variant in ("good", "poor"):
        load_behaviour(fixtures_dir() / f"demo-{variant}" / "fhir" / "behaviour.toml")


def test_behaviour_typos_are_refused(tmp_path):
    from harness_plugins.interop.demo import load_behaviour

    (tmp_path / "behaviour.toml").write_text("[search]\nignored_param = {}\n")
    with pytest.raises(ValueError, match="ignored_param"):
        load_behaviour(tmp_path / "behaviour.toml")


def test_registered_checks_are_traceable():
    registry = Registry.build(PluginHost().pm)
    for chk in ALL:
        assert registry.checks[chk.id] is chk
        assert chk.title and chk.description and chk.requirements
        for req in chk.requirements:
            assert req in registry.requirements, f"{chk.id}: {req} not registered"
            assert (registry.requirements[req].url or "").startswith("https://"), f"{req}: no URL to its text"
    assert "interop.capability.statement" in registry.checks


def test_a_default_header_can_be_left_out_of_one_request():
    """The no-Accept probe really sends no Accept, and the marker header never leaves the client."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from harness.demo import DemoServer
    from harness_plugins.interop.http import OMIT_HEADERS

    async def echo(request):
        return JSONResponse({name: value for name, value in request.headers.items()})

    with DemoServer([Route("/echo", echo)]) as server:
        client = AuditClient(server.url, HttpPolicy(rate=0), default_headers={"Accept": "application/fhir+json"})
        plain = client.request("GET", f"{server.url}/echo").json()
        bare = client.request("GET", f"{server.url}/echo", headers={OMIT_HEADERS: "accept"})
        client.close()
    assert plain["accept"] == "application/fhir+json"
    received = bare.json()
    assert "accept" not in received and OMIT_HEADERS.lower() not in received
    assert "accept" not in {k.lower() for k in bare.exchange.request_headers}
