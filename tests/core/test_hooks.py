"""One test per hook of ``harness/hookspecs.py``: a plugin implementing it changes what users see.

``test_every_hook_is_documented_and_tested`` keeps this file and
``docs/hooks.md`` in step with the hookspecs.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import httpx

from core_support import HARNESS, ROOT, subprocess_env, toy_audit, toy_host, toy_profile
from harness import Finding, Status, hookimpl, hookspecs
from harness.demo import DemoServer, demo_routes
from harness.registry import Registry
from harness.session import AuditOptions, Session

HOOKS = sorted(name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("harness_"))


def test_every_hook_is_documented_and_tested():
    docs = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    this_module = sys.modules[__name__]
    assert len(HOOKS) >= 16
    for name in HOOKS:
        spec = getattr(hookspecs, name)
        assert spec.__doc__ and len(spec.__doc__.strip()) > 40, f"{name} has no real docstring"
        assert re.search(rf"^#+ `?{name}", docs, re.M), f"{name} is not documented in docs/hooks.md"
        assert callable(getattr(this_module, f"test_hook_{name}", None)), f"{name} has no test_hook_{name}"


def test_hook_harness_register_checks(tmp_path):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "OK"}))
    assert {c["id"] for c in card["checks"]} == {"toy.content", "toy.size"}
    assert all(c["plugin"] == "toy_plugin" for c in card["checks"]), card["checks"]


def test_hook_harness_register_requirements(tmp_path):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "FAIL"}))
    reqs = {r["id"]: r for r in card["requirements"]}
    assert reqs["TOY-1"]["source"] == "Toy spec §1"
    assert reqs["TOY-1"]["url"] == "https://example.org/toy#1"


def test_hook_harness_register_target_kinds(tmp_path):
    registry = Registry.build(toy_host().pm)
    kind = registry.target_kinds["toy"]
    assert kind.plugin == "toy_plugin" and kind.path_keys == ("dir",)
    # The kind's schema validates the profile section: an unknown key is refused with its line.
    profile = toy_profile(tmp_path, {"a.txt": "OK"}, extra="colour = 'red'\n")
    try:
        Session(profile, host=toy_host())
    except Exception as exc:  # noqa: BLE001 - asserting on the message users see
        assert str(exc).startswith("vendor.toml:8 [targets.toy.colour]: unknown key 'colour'"), str(exc)
    else:
        raise AssertionError("an unknown key in [targets.toy] was accepted")


def test_hook_harness_register_reporters(tmp_path):
    registry = Registry.build(toy_host().pm)
    reporter = registry.reporters["toy-count"]
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "OK", "b.txt": "OK"}))
    written = reporter.write(card, tmp_path)
    assert written.read_text() == "4"  # two checks × two files


def test_hook_harness_register_commands():
    env = subprocess_env()
    without = subprocess.run([*HARNESS, "-h"], capture_output=True, text=True, env=env, timeout=120)
    assert "toy-hello" not in without.stdout
    env["HARNESS_PLUGINS"] = "toy_plugin"
    listed = subprocess.run([*HARNESS, "-h"], capture_output=True, text=True, env=env, timeout=120)
    assert "toy-hello" in listed.stdout
    ran = subprocess.run([*HARNESS, "toy-hello"], capture_output=True, text=True, env=env, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "hello from a plugin command"


class LabelTarget:
    """Wraps the core's target factory: a plugin can decorate the target it builds."""

    @hookimpl(hookwrapper=True)
    def harness_make_target(self, kind, config, profile):
        outcome = yield
        target = outcome.get_result()
        target.label = "wrapped by a plugin"


def test_hook_harness_make_target(tmp_path):
    profile = toy_profile(tmp_path, {"a.txt": "OK"})
    session = Session(profile, host=toy_host((LabelTarget(), "label")))
    session.run()
    target = session.targets["toy"]
    assert target.label == "wrapped by a plugin"
    assert target.closed, "the session closes its targets"


class DemoRoutes:
    @hookimpl
    def harness_demo_routes(self, vendor_dir: Path, variant: str):
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        async def hello(request):
            return PlainTextResponse(f"toy demo {variant} from {vendor_dir.name}")

        return [Route("/toy/hello", hello)]


def test_hook_harness_demo_routes():
    host = toy_host((DemoRoutes(), "routes"))
    with DemoServer(demo_routes(host.hook, "poor")) as server:
        assert server.url.startswith("http://127.0.0.1:")
        response = httpx.get(server.url + "/toy/hello", timeout=5)
    assert response.text == "toy demo poor from demo-poor"


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def harness_session_start(self, session):
        self.events.append(f"start {session.profile.subject['vendor']}")

    @hookimpl
    def harness_result(self, session, result):
        self.events.append(f"result {result.check_id} {result.item_id} {result.status}")

    @hookimpl
    def harness_session_finish(self, session, scorecard):
        self.events.append(f"finish {len(scorecard['results'])}")


def test_hook_harness_session_start(tmp_path):
    recorder = Recorder()
    toy_audit(toy_profile(tmp_path, {"a.txt": "OK"}), (recorder, "rec"))
    assert recorder.events[0] == "start Toy Vendor"


def test_hook_harness_result(tmp_path):
    recorder = Recorder()
    toy_audit(toy_profile(tmp_path, {"a.txt": "OK", "b.txt": "FAIL"}), (recorder, "rec"))
    results = sorted(e for e in recorder.events if e.startswith("result"))
    assert results == ["result toy.content a.txt pass", "result toy.content b.txt fail",
                       "result toy.size a.txt pass", "result toy.size b.txt pass"]


def test_hook_harness_session_finish(tmp_path):
    recorder = Recorder()
    toy_audit(toy_profile(tmp_path, {"a.txt": "OK"}), (recorder, "rec"))
    assert recorder.events[-1] == "finish 2"


class DropSizeCheck:
    @hookimpl
    def harness_modify_checks(self, session, checks):
        checks[:] = [c for c in checks if c.id != "toy.size"]


def test_hook_harness_modify_checks(tmp_path):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "OK"}), (DropSizeCheck(), "drop"))
    assert [r["check_id"] for r in card["results"]] == ["toy.content"]


class Veto:
    """Replaces the check call for one item (firstresult), as an isolation or caching wrapper would."""

    @hookimpl(tryfirst=True)
    def harness_run_check(self, check, item_id, item, target):
        if check.id == "toy.content" and item_id == "b.txt":
            return [Finding(Status.REVIEW, "vetoed by a wrapper", message_id="toy.veto")]
        return None


def test_hook_harness_run_check(tmp_path):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "FAIL", "b.txt": "FAIL"}), (Veto(), "veto"))
    by_item = {r["item_id"]: r for r in card["results"] if r["check_id"] == "toy.content"}
    assert by_item["a.txt"]["status"] == "fail"
    assert by_item["b.txt"]["status"] == "review"
    assert by_item["b.txt"]["findings"][0]["message"] == "vetoed by a wrapper"


class MaskDoctor:
    @hookimpl
    def harness_redact(self, finding):
        finding["message"] = finding["message"].replace("Dr Martin", "[praticien]")
        for evidence in finding.get("evidence", []):
            if "quote" in evidence:
                evidence["quote"] = evidence["quote"].replace("Dr Martin", "[praticien]")


def test_hook_harness_redact(tmp_path):
    files = {"a.txt": "note of Dr Martin, token Bearer abcdef123456, NIR 1 84 12 75 123 456 78"}
    card = toy_audit(toy_profile(tmp_path, files), (MaskDoctor(), "mask"))
    text = str([r["findings"] for r in card["results"]])
    assert "Dr Martin" not in text and "[praticien]" in text  # the plugin's redaction
    assert "abcdef123456" not in text and "Bearer [redacted]" in text  # the core's
    assert "123 456" not in text and "[NIR redacted #" in text


class FlatScore:
    @hookimpl(tryfirst=True)
    def harness_score(self, checks, results, policy):
        return {"overall": {"score": 4.2, "coverage": 1.0, "status": "pass"}, "families": {}}


def test_hook_harness_score(tmp_path):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "OK"}), (FlatScore(), "flat"))
    assert card["scores"]["overall"]["score"] == 4.2
    default = toy_audit(toy_profile(tmp_path, {"a.txt": "OK"}))
    assert default["scores"]["overall"]["score"] == 10.0


class Section:
    @hookimpl
    def harness_scorecard_sections(self, session):
        return {"toy": {"files": len(list(Path(session.profile.targets["toy"]["dir"]).iterdir()))}}


def test_hook_harness_scorecard_sections(tmp_path):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "OK", "b.txt": "OK"}), (Section(), "section"))
    assert card["sections"]["toy"] == {"files": 2}


class LenientGate:
    @hookimpl(tryfirst=True)
    def harness_gate(self, scorecard, fail_on, baseline):
        return 0


def test_hook_harness_gate(tmp_path):
    card = toy_audit(toy_profile(tmp_path, {"a.txt": "FAIL"}))
    strict = toy_host()
    assert strict.hook.harness_gate(scorecard=card, fail_on="low", baseline=None) == 1
    assert strict.hook.harness_gate(scorecard=card, fail_on="critical", baseline=None) == 0
    lenient = toy_host((LenientGate(), "lenient"))
    assert lenient.hook.harness_gate(scorecard=card, fail_on="low", baseline=None) == 0


def test_options_reach_the_session(tmp_path):
    """Selection options go through harness_modify_checks' input: -k keeps one check."""
    card = Session(toy_profile(tmp_path, {"a.txt": "OK"}), AuditOptions(keyword="size"), host=toy_host()).run()
    assert [r["check_id"] for r in card["results"]] == ["toy.size"]
