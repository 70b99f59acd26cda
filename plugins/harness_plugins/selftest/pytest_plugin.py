"""pytest plugin (entry point ``pytest11``, name ``harness``): the harness checks as pytest items.

``pytest --harness-profile vendor.toml`` collects one item per check × item,
named ``<check id>[<item id>]`` under a collector named after the profile, with
markers ``harness``, ``<family>`` and ``severity_<level>``, so ``-k``, ``-m``,
``-x``, ``--lf`` and pytest-xdist behave as usual. The run writes the scorecard
(and junit.xml, results.sarif…) to ``--harness-output`` (default ``out``).

Outcome of an item: a failure at or above ``--harness-fail-on`` (default
``low``) or a harness ``error`` fails it; with ``--harness-baseline`` a failure
the baseline names is an expected failure (xfail) until its entry expires;
``skipped``/``not_applicable`` skip; ``warn``, ``review`` and failures below the
threshold pass with a warning.

Fixtures for a vendor's own checks in plain pytest: ``harness_session``,
``harness_profile``, ``harness_target`` (``harness_target("fhir")`` returns the
built target), ``harness_fhir``, ``harness_dmp``, ``harness_export``.

Without ``--harness-profile``/``--harness-demo`` (or the ``harness_profile`` ini
option) the plugin does nothing: it only declares its options and fixtures.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SEVERITIES = ("critical", "high", "medium", "low", "info")
FAIL_ON = list(SEVERITIES) + ["none"]
PLUGIN_NAME = "harness-selftest-run"
MAX_FINDINGS_SHOWN = 20


class HarnessCheckWarning(UserWarning):
    """A check passed with a warning, needs a person's review, or failed below ``--harness-fail-on``."""


class HarnessCheckFailure(Exception):
    """A harness check failed (or could not decide); the message lists the findings."""


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "lgc-harness conformity checks (docs/selftest.md)")
    group.addoption("--harness-profile", default=None, metavar="PROFILE",
                    help="Vendor profile (TOML): collect its harness checks as pytest items.")
    group.addoption("--harness-demo", choices=["good", "poor"], default=None,
                    help="Serve an embedded demo vendor on 127.0.0.1 (sets ${HARNESS_DEMO_URL}); "
                         "without --harness-profile, audit that demo vendor's profile.")
    group.addoption("--harness-var", action="append", default=[], metavar="NAME=VALUE",
                    help="Set a ${NAME} used in the profile (repeatable).")
    group.addoption("--harness-output", default=None, metavar="DIR",
                    help="Where the scorecard, junit.xml and results.sarif go (default: out).")
    group.addoption("--harness-baseline", default=None, metavar="FILE",
                    help="Expected-failures baseline: known failures become xfail.")
    group.addoption("--harness-fail-on", choices=FAIL_ON, default=None,
                    help="Failures below this severity pass with a warning (default: low).")
    group.addoption("--harness-format", action="append", default=[], metavar="NAME",
                    help="Scorecard output format (repeatable; default: every default reporter but console).")
    group.addoption("--harness-family", action="append", default=[], metavar="FAMILY",
                    help="Only collect checks of this family (repeatable; unlike -m, unused targets are not built).")
    group.addoption("--harness-timeout", type=float, default=None, metavar="SECONDS",
                    help="Time box of one check on one item (default: the profile's, else 60).")
    group.addoption("--harness-plugin", action="append", default=[], metavar="MODULE",
                    help="Load a harness plugin module by import name; 'no:NAME' disables one.")
    parser.addini("harness_profile", "Vendor profile collected by the harness plugin (relative to the ini file).",
                  default="")
    parser.addini("harness_demo", "Serve this demo vendor (good|poor) for the harness checks.", default="")
    parser.addini("harness_vars", "NAME=VALUE lines for ${NAME} in the profile.", type="linelist", default=[])
    parser.addini("harness_output", "Folder for the scorecard (relative to the ini file).", default="")
    parser.addini("harness_baseline", "Expected-failures baseline (relative to the ini file).", default="")
    parser.addini("harness_fail_on", "Severity threshold for failing items (default low).", default="")


@dataclass
class Settings:
    profile: Path
    demo: str | None
    variables: dict[str, str]
    output: Path
    baseline: Path | None
    fail_on: str
    formats: list[str]
    families: tuple[str, ...]
    timeout: float | None
    plugins: tuple[str, ...]
    disabled: tuple[str, ...]


def _resolve(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def _settings(config: pytest.Config) -> Settings | None:
    """The harness settings of this run, or None when the plugin is not asked for."""
    opt = config.getoption
    inv = Path(config.invocation_params.dir)
    ini_base = Path(config.inipath).parent if config.inipath else Path(config.rootpath)
    profile_opt, demo = opt("harness_profile"), opt("harness_demo")
    profile: Path | None = _resolve(profile_opt, inv) if profile_opt else None
    if profile is None and config.getini("harness_profile"):
        profile = _resolve(config.getini("harness_profile"), ini_base)
    demo = demo or (config.getini("harness_demo") or None)
    if profile is None and demo is None:
        return None
    if demo not in (None, "good", "poor"):
        raise pytest.UsageError(f"harness_demo = {demo!r}: choose good or poor")
    variables: dict[str, str] = {}
    for line in list(config.getini("harness_vars")) + list(opt("harness_var")):
        if "=" not in line:
            raise pytest.UsageError(f"--harness-var {line!r}: expected NAME=VALUE")
        name, value = line.split("=", 1)
        variables[name.strip()] = value
    from harness.demo import DemoError, VARIANTS, vendor_dir

    try:
        demo_profiles = {v: (vendor_dir(v) / "vendor.toml").resolve() for v in VARIANTS}
    except DemoError:
        demo_profiles = {}
    if profile is None:
        if demo not in demo_profiles:
            raise pytest.UsageError(f"--harness-demo {demo}: the demo vendors are not installed")
        profile = demo_profiles[demo]
    elif demo is None and "HARNESS_DEMO_URL" not in variables and "HARNESS_DEMO_URL" not in os.environ:
        # `pytest --harness-profile fixtures/vendors/demo-poor/vendor.toml` serves that demo vendor itself.
        demo = next((v for v, p in demo_profiles.items() if p == profile.resolve()), None)
    output_opt = opt("harness_output")
    if output_opt:
        output = _resolve(output_opt, inv)
    elif config.getini("harness_output"):
        output = _resolve(config.getini("harness_output"), ini_base)
    else:
        output = inv / "out"
    baseline_opt = opt("harness_baseline")
    baseline = _resolve(baseline_opt, inv) if baseline_opt else (
        _resolve(config.getini("harness_baseline"), ini_base) if config.getini("harness_baseline") else None)
    fail_on = opt("harness_fail_on") or config.getini("harness_fail_on") or "low"
    if fail_on not in FAIL_ON:
        raise pytest.UsageError(f"harness_fail_on = {fail_on!r}: choose one of {', '.join(FAIL_ON)}")
    plugin_args = tuple(opt("harness_plugin"))
    return Settings(profile=profile, demo=demo, variables=variables, output=output, baseline=baseline,
                    fail_on=fail_on, formats=list(opt("harness_format")), families=tuple(opt("harness_family")),
                    timeout=opt("harness_timeout"),
                    plugins=tuple(p for p in plugin_args if not p.startswith("no:")),
                    disabled=tuple(p[3:] for p in plugin_args if p.startswith("no:")))


def pytest_configure(config: pytest.Config) -> None:
    settings = _settings(config)
    if settings is None:
        return  # not asked for: do nothing at all
    config.pluginmanager.register(HarnessPytestPlugin(config, settings), PLUGIN_NAME)


def _plugin(config: pytest.Config) -> "HarnessPytestPlugin | None":
    return config.pluginmanager.get_plugin(PLUGIN_NAME)


# --------------------------------------------------------------------------
# The harness side of one pytest process: session, demo server, targets, items.
# --------------------------------------------------------------------------


@dataclass
class Entry:
    """One check × item to run (``precomputed`` when the runner would not call the check)."""

    check: Any
    order: int
    item_id: str
    item: Any = None
    precomputed: Any = None


class _Failed:
    def __init__(self, status, message: str, detail: str | None = None) -> None:
        self.status, self.message, self.detail = status, message, detail


class HarnessRun:
    """Builds the harness session once per process, lazily (collection or a fixture)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = None
        self.entries: list[Entry] = []
        self.targets: dict[str, Any] = {}
        self.failed_targets: dict[str, _Failed] = {}
        self._demo = None
        self._started = False
        self._error: BaseException | None = None

    def options(self, variables: dict[str, str]):
        from harness.session import AuditOptions

        return AuditOptions(families=self.settings.families, timeout=self.settings.timeout,
                            plugins=self.settings.plugins, disable_plugins=self.settings.disabled,
                            variables=variables)

    def start(self) -> None:
        if self._error is not None:
            raise self._error
        if self._started:
            return
        try:
            self._start()
        except BaseException as exc:
            self._error = exc
            raise
        self._started = True

    def _start(self) -> None:
        from harness.session import Session

        variables = dict(self.settings.variables)
        if self.settings.demo and "HARNESS_DEMO_URL" not in variables:
            from harness.demo import DemoServer, demo_routes
            from harness.plugins import PluginHost

            host = PluginHost(disable=self.settings.disabled, extra=self.settings.plugins)
            self._demo = DemoServer(demo_routes(host.hook, self.settings.demo))
            self._demo.__enter__()
            variables["HARNESS_DEMO_URL"] = self._demo.url
        self.session = Session(self.settings.profile, self.options(variables))
        self.session.hook.harness_session_start(session=self.session)
        checks = self.session.select_checks()
        self.session.selected = checks
        self._build_targets(checks)
        self._collect_items(checks)

    def _timeout(self) -> float:
        return float(self.session.run_options().timeout)

    def _build_targets(self, checks) -> None:
        from harness.model import Outcome, Status, TargetError
        from harness.pool import run_calls
        from harness.runner import RunOptions

        available = set(self.session.profile.targets)
        kinds = sorted({c.target for c in checks if c.target in available})
        limit = RunOptions().target_timeout
        outcomes = run_calls([lambda k=k: self.session.make_target(k) for k in kinds],
                             jobs=max(1, len(kinds)), timeout=limit)
        for kind, outcome in zip(kinds, outcomes):
            if outcome.timed_out:
                self.failed_targets[kind] = _Failed(Status.ERROR, f"target {kind!r} could not be built within {limit:g}s")
            elif outcome.error is not None:
                exc = outcome.error
                if isinstance(exc, Outcome):
                    self.failed_targets[kind] = _Failed(exc.status, exc.message)
                else:
                    prefix = "" if isinstance(exc, TargetError) else f"{type(exc).__name__}: "
                    self.failed_targets[kind] = _Failed(Status.ERROR, f"target {kind!r} unavailable: {prefix}{exc}",
                                                        outcome.traceback)
            else:
                self.targets[kind] = outcome.value
        self.session.targets = self.targets

    def _collect_items(self, checks) -> None:
        from harness.model import CheckResult, Finding, Status
        from harness.pool import run_calls
        from harness.runner import RunOptions

        def result(chk, status, message, message_id, detail=None) -> CheckResult:
            finding = Finding(status, message, message_id=message_id,
                              severity=chk.severity if status is not Status.ERROR else "info",
                              requirement_ids=chk.requirements)
            return CheckResult(chk.id, "-", status, (finding,), error=detail if status is Status.ERROR else None)

        runnable = [c for c in checks if c.target in self.targets]
        limit = RunOptions().target_timeout
        listed = dict(zip([c.id for c in runnable],
                          run_calls([lambda c=c: c.collect(self.targets[c.target]) for c in runnable],
                                    jobs=max(1, min(4, len(runnable))), timeout=limit)))
        for chk in checks:
            if chk.target not in self.session.profile.targets:
                self.entries.append(Entry(chk, 0, "-", precomputed=result(
                    chk, Status.NOT_APPLICABLE, f"no [targets.{chk.target}] section in the profile", "harness.no_target")))
            elif chk.target in self.failed_targets:
                failed = self.failed_targets[chk.target]
                self.entries.append(Entry(chk, 0, "-", precomputed=result(
                    chk, failed.status, failed.message, "harness.target_unavailable", failed.detail or failed.message)))
            else:
                outcome = listed[chk.id]
                if outcome.timed_out:
                    message = f"listing the items timed out after {limit:g}s"
                    self.entries.append(Entry(chk, 0, "-", precomputed=result(
                        chk, Status.ERROR, message, "harness.error", message)))
                elif outcome.error is not None:
                    message = f"listing the items failed: {type(outcome.error).__name__}: {outcome.error}"
                    self.entries.append(Entry(chk, 0, "-", precomputed=result(
                        chk, Status.ERROR, message, "harness.error", outcome.traceback or message)))
                elif not outcome.value:
                    self.entries.append(Entry(chk, 0, "-", precomputed=result(
                        chk, Status.NOT_APPLICABLE, "the target has no item for this check", "harness.no_items")))
                else:
                    for order, (item_id, item) in enumerate(outcome.value):
                        self.entries.append(Entry(chk, order, item_id, item))

    def run_one(self, entry: Entry):
        """Run one check × item the way the runner does: through the hook, time-boxed."""
        from harness.model import CheckResult, Finding, Severity, Status
        from harness.pool import run_calls
        from harness.runner import run_item

        if entry.precomputed is not None:
            return entry.precomputed
        timeout = self._timeout()
        target = self.targets[entry.check.target]
        (outcome,) = run_calls([lambda: run_item(self.session.hook, entry.check, entry.item_id, entry.item, target)],
                               jobs=1, timeout=timeout)
        if outcome.timed_out or outcome.error is not None:
            message = (f"check timed out after {timeout:g}s" if outcome.timed_out
                       else f"internal error: {outcome.error}")
            finding = Finding(Status.ERROR, message, message_id="harness.error", severity=Severity.INFO,
                              requirement_ids=entry.check.requirements)
            return CheckResult(entry.check.id, entry.item_id, Status.ERROR, (finding,), outcome.duration_s,
                               error=outcome.traceback or message)
        return outcome.value

    def target(self, kind: str) -> Any:
        self.start()
        if kind in self.targets:
            return self.targets[kind]
        if kind in self.failed_targets:
            pytest.fail(self.failed_targets[kind].message, pytrace=False)
        if kind not in self.session.profile.targets:
            pytest.skip(f"the profile has no [targets.{kind}] section")
        # A kind no selected check needs: build it on demand.
        try:
            self.targets[kind] = self.session.make_target(kind)
        except Exception as exc:  # noqa: BLE001 - shown as the fixture's failure
            self.failed_targets[kind] = _Failed(None, f"target {kind!r} unavailable: {exc}")
            pytest.fail(self.failed_targets[kind].message, pytrace=False)
        return self.targets[kind]

    def section_line(self, kind: str) -> int:
        """Line of ``[targets.<kind>]`` in the profile (1 when absent): where warnings point."""
        from harness.profile import find_line

        profile = self.session.profile
        return find_line(profile.text, ("targets", kind)) or 1

    def sections_and_packs(self) -> dict[str, Any]:
        """What only a process that built the targets knows (sent to the xdist controller)."""
        if self.session is None:
            return {}
        sections: dict[str, Any] = {}
        for contributed in self.session.hook.harness_scorecard_sections(session=self.session):
            sections.update(contributed or {})
        packs: dict[tuple, dict[str, Any]] = {}
        for target in self.targets.values():
            for pack in getattr(target, "rule_packs", lambda: [])() or []:
                packs[(pack["name"], pack["version"], pack["sha256"])] = dict(pack)
        return {"sections": sections, "rule_packs": [packs[k] for k in sorted(packs)]}

    def close(self) -> None:
        for target in self.targets.values():
            close = getattr(target, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        self.targets = {}
        if self._demo is not None:
            self._demo.__exit__(None, None, None)
            self._demo = None


# --------------------------------------------------------------------------
# Judging one result: pass, warn, skip, xfail (baselined) or fail.
# --------------------------------------------------------------------------


@dataclass
class Judgement:
    outcome: str  # pass | warn | skip | xfail | fail
    text: str = ""


def _finding_lines(finding: dict[str, Any]) -> list[str]:
    head = f"{finding['status'].upper()} [{finding.get('severity', '-')}]"
    if finding.get("message_id"):
        head += f" {finding['message_id']}"
    lines = [f"{head}: {finding['message']}"]
    for ev in (finding.get("evidence") or [])[:3]:
        where = ev.get("artefact", "")
        if ev.get("line"):
            where += f":{ev['line']}" + (f":{ev['column']}" if ev.get("column") else "")
        if ev.get("page"):
            where += f" (page {ev['page']}" + (f", clause {ev['clause']}" if ev.get("clause") else "") + ")"
        if ev.get("xpath"):
            where += f" at {ev['xpath']}"
        http = ev.get("http") or {}
        if http.get("status") is not None:
            where = f"{http.get('method', 'GET')} {where} -> HTTP {http['status']}"
        lines.append(f"    evidence: {where}")
    if finding.get("requirement_ids"):
        lines.append(f"    requirements: {', '.join(finding['requirement_ids'])}")
    if finding.get("remediation"):
        lines.append(f"    remediation: {finding['remediation']}")
    return lines


def judge(result: dict[str, Any], fail_on: str, baseline, today: _dt.date, title: str = "") -> Judgement:
    """The pytest outcome of one (redacted) result dict."""
    from .baseline import classify
    from .failures import at_least, failures_of_result

    status = result["status"]
    findings = result.get("findings", [])
    header = f"{result['check_id']} [{result['item_id']}]" + (f": {title}" if title else "")
    if status in ("skipped", "not_applicable"):
        reason = findings[0]["message"] if findings else status
        return Judgement("skip", f"{status.replace('_', ' ')}: {reason}")
    new, expired, known = [], [], []
    for failure in failures_of_result(result):
        if baseline is not None:
            kind, entry = classify(failure, baseline.entries, fail_on, today)
        else:
            gating = failure.status == "error" or at_least(failure.severity, fail_on)
            kind, entry = ("new" if gating else "ignored"), None
        if failure.status == "error" and kind == "ignored":
            kind = "new"  # pytest users expect a check that could not run to fail
        if failure.status == "error" and kind == "known" and entry is not None and entry.expired(today):
            kind = "expired"
        if kind == "new":
            new.append(failure)
        elif kind == "expired":
            expired.append((failure, entry))
        elif kind == "known":
            known.append((failure, entry))
    body = [header]
    shown = [f for f in findings if f["status"] != "pass"]
    for finding in shown[:MAX_FINDINGS_SHOWN]:
        body += _finding_lines(finding)
    if len(shown) > MAX_FINDINGS_SHOWN:
        body.append(f"… and {len(shown) - MAX_FINDINGS_SHOWN} more findings (see the scorecard)")
    if status == "error" and result.get("error") and result["error"] not in "\n".join(body):
        body += ["", result["error"].rstrip()]
    if new or expired:
        for failure, entry in expired:
            body.append(f"baseline entry expired on {entry.expires} ({baseline.where(entry)}): {failure.label()}")
        if known:
            body.append(f"({len(known)} other failure(s) of this item are in the baseline)")
        return Judgement("fail", "\n".join(body))
    if known:
        reasons = "; ".join(f"{baseline.where(e)}: {e.reason}" for _, e in known[:3])
        return Judgement("xfail", f"known failure in the baseline ({reasons})")
    if any(f["status"] in ("fail", "warn", "review") for f in findings):
        return Judgement("warn", "\n".join(body))
    return Judgement("pass")


# --------------------------------------------------------------------------
# pytest nodes
# --------------------------------------------------------------------------


def _safe_id(item_id: str) -> str:
    return item_id.replace("::", ":").replace("\n", " ").replace("\r", " ") or "-"


class HarnessCollector(pytest.Collector):
    """The checks of one vendor profile."""

    def __init__(self, *, run: HarnessRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run

    def collect(self):
        self.run.start()
        config = self.config
        plugin = _plugin(config)
        families = sorted({e.check.family for e in self.run.entries})
        for family in families:
            _register_marker(config, family, f"harness checks of the {family} family")
        for entry in self.run.entries:
            name = f"{entry.check.id}[{_safe_id(entry.item_id)}]"
            # An explicit string id: pytest parses it the way it parses the ids in its --lf cache.
            item = HarnessItem.from_parent(self, name=name, nodeid=f"{self.nodeid}::{name}", entry=entry, run=self.run)
            item.add_marker("harness")
            item.add_marker(entry.check.family)
            item.add_marker(f"severity_{entry.check.severity.value}")
            if plugin is not None:
                plugin.order[entry.check.id] = plugin.order.get(entry.check.id, len(plugin.order))
            yield item

    def reportinfo(self):
        return self.path, None, self.name

    def repr_failure(self, excinfo):  # type: ignore[override]
        from harness.cli import USAGE_ERRORS

        if isinstance(excinfo.value, USAGE_ERRORS):
            return f"harness profile {self.run.settings.profile}: {excinfo.value}"
        return super().repr_failure(excinfo)


class HarnessItem(pytest.Item):
    """One harness check on one item."""

    def __init__(self, *, entry: Entry, run: HarnessRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.run = run
        self.harness_result: dict[str, Any] | None = None

    def runtest(self) -> None:
        result = self.run.run_one(self.entry)
        hook = self.run.session.hook
        hook.harness_result(session=self.run.session, result=result)  # as the runner does, for streaming plugins
        data = result.to_dict()
        shown = _redacted(hook, data)
        self.harness_result = data
        plugin = _plugin(self.config)
        judgement = judge(shown, plugin.settings.fail_on if plugin else "low",
                          plugin.baseline if plugin else None, _dt.date.today(), self.entry.check.title)
        if judgement.outcome == "fail":
            raise HarnessCheckFailure(judgement.text)
        if judgement.outcome == "xfail":
            pytest.xfail(judgement.text)
        if judgement.outcome == "skip":
            pytest.skip(judgement.text)
        if judgement.outcome == "warn":
            warnings.warn_explicit(HarnessCheckWarning(judgement.text), HarnessCheckWarning,
                                   filename=str(self.path), lineno=self.run.section_line(self.entry.check.target))

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, HarnessCheckFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        # Not a suffix of the node id, so pytest prints the id as is (it turns the dots of a
        # domain that ends the id into "::", as for Class.method).
        return self.path, None, f"{self.entry.check.id} [{self.entry.item_id}]"


def _redacted(hook, result: dict[str, Any]) -> dict[str, Any]:
    import copy

    shown = copy.deepcopy(result)
    for finding in shown.get("findings", []):
        hook.harness_redact(finding=finding)
    return shown


def _register_marker(config: pytest.Config, name: str, text: str) -> None:
    known = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    if name not in known:
        config.addinivalue_line("markers", f"{name}: {text}")


class _Stored:
    """A result dict standing in for a CheckResult in ``Session.build_scorecard``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        import copy

        return copy.deepcopy(self.data)


# --------------------------------------------------------------------------
# The plugin object registered when the harness is asked for.
# --------------------------------------------------------------------------


class HarnessPytestPlugin:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.run = HarnessRun(settings)
        self.results: dict[tuple[str, str], dict[str, Any]] = {}
        self.order: dict[str, int] = {}
        self.worker_aux: list[dict[str, Any]] = []
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.t0 = time.perf_counter()
        self.written: list[Path] = []
        self.card: dict[str, Any] | None = None
        self.write_error: str | None = None
        self.baseline = None
        if settings.baseline is not None:
            from .baseline import BaselineError, load

            try:
                self.baseline = load(settings.baseline)
            except BaselineError as exc:
                raise pytest.UsageError(str(exc)) from None
        _register_marker(config, "harness", "a check of the lgc-harness (pytest --harness-profile)")
        for sev in SEVERITIES:
            _register_marker(config, f"severity_{sev}", f"harness checks of severity {sev}")
        try:
            from harness.plugins import PluginHost
            from harness.registry import Registry

            host = PluginHost(disable=settings.disabled, extra=settings.plugins)
            for family in sorted({c.family for c in Registry.build(host.pm).checks.values()}):
                _register_marker(config, family, f"harness checks of the {family} family")
        except Exception:  # noqa: BLE001 - collection reports registry problems with their reason
            pass

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    # -- collection --------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            profile = self.settings.profile.resolve()
            try:
                nodeid = profile.relative_to(Path(self.config.rootpath).resolve()).as_posix()
            except ValueError:
                nodeid = f"{profile.parent.name}/{profile.name}"
            report.result.append(HarnessCollector.from_parent(collector, name=nodeid, nodeid=nodeid,
                                                              path=profile, run=self.run))
        return report

    # -- running -----------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if isinstance(item, HarnessItem) and call.when == "call" and item.harness_result is not None:
            report.harness_result = {"order": item.entry.order, "result": item.harness_result}
            if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
                # Point skips at the profile's target section, not at this plugin's source.
                line = item.run.section_line(item.entry.check.target)
                report.longrepr = (str(item.path), line, report.longrepr[2])
        return report

    def pytest_runtest_logreport(self, report) -> None:
        data = getattr(report, "harness_result", None)
        if data and not self.is_worker:
            result = data["result"]
            self.results[(result["check_id"], result["item_id"])] = data

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        aux = (getattr(node, "workeroutput", None) or {}).get("harness")
        if aux:
            self.worker_aux.append(aux)

    # -- finishing ---------------------------------------------------------

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        try:
            if self.is_worker:
                if self.run.session is not None:
                    self.config.workeroutput["harness"] = self.run.sections_and_packs()
                return
            if self.results:
                try:
                    self.card = self.build_card()
                    self.write(self.card)
                except Exception as exc:  # noqa: BLE001 - reported in the summary, the test outcomes stand
                    import traceback

                    self.write_error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        finally:
            self.run.close()

    def _controller_session(self):
        from harness.session import Session

        variables = dict(self.settings.variables)
        if self.settings.demo:
            variables.setdefault("HARNESS_DEMO_URL", "http://127.0.0.1:9")  # not contacted: profile only
        return Session(self.settings.profile, self.run.options(variables))

    def build_card(self) -> dict[str, Any]:
        from harness import scorecard
        from harness.runner import RunOptions

        session = self.run.session if self.run.session is not None else self._controller_session()
        ran = {check_id for check_id, _ in self.results}
        checks = [c for c in session.registry.checks.values() if c.id in ran]
        session.selected = checks
        session.results = [_Stored(d["result"]) for d in sorted(
            self.results.values(), key=lambda d: (d["result"]["check_id"], d["order"], d["result"]["item_id"]))]
        workers = getattr(self.config.option, "numprocesses", None) or 1
        options = RunOptions(jobs=workers if isinstance(workers, int) else 1, timeout=session.run_options().timeout)
        card = session.build_scorecard(str(uuid.uuid4()), self.started_at, time.perf_counter() - self.t0, options)
        card["run"]["options"]["pytest"] = {"args": list(self.config.invocation_params.args)}
        if self.worker_aux:
            if not card["sections"]:
                for aux in self.worker_aux:
                    card["sections"].update(aux.get("sections") or {})
            if not card["rule_packs"]:
                packs = {(p["name"], p["version"], p["sha256"]): p for aux in self.worker_aux
                         for p in aux.get("rule_packs") or []}
                card["rule_packs"] = [packs[k] for k in sorted(packs)]
        scorecard.validate(card)
        session.hook.harness_session_finish(session=session, scorecard=card)
        return card

    def write(self, card: dict[str, Any]) -> None:
        from harness.plugins import PluginHost
        from harness.registry import Registry

        session = self.run.session
        registry = session.registry if session is not None else Registry.build(
            PluginHost(disable=self.settings.disabled, extra=self.settings.plugins).pm)
        reporters = registry.reporters
        chosen = self.settings.formats or [n for n, r in reporters.items() if r.default and n != "console"]
        unknown = [f for f in chosen if f not in reporters]
        if unknown:
            raise ValueError(f"unknown --harness-format {unknown[0]!r} (available: {', '.join(sorted(reporters))})")
        self.settings.output.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            written = reporters[name].write(card, self.settings.output)
            if written is not None:
                self.written.append(Path(written))

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        if self.is_worker:
            return
        tr = terminalreporter
        if self.write_error:
            tr.write_sep("=", "harness: the scorecard could not be written", red=True)
            tr.write_line(self.write_error)
        if self.card is not None:
            tr.write_sep("-", "harness scorecard")
            overall = self.card["scores"]["overall"]
            score = "—" if overall["score"] is None else f"{overall['score']:.1f}/10"
            coverage = "—" if overall["coverage"] is None else f"{overall['coverage'] * 100:.0f} %"
            subject = self.card["subject"]
            tr.write_line(f"{subject['vendor']} — {subject['product']} {subject.get('version', '')}: "
                          f"overall {score}, coverage {coverage}, {len(self.card['results'])} results")
            for path in self.written:
                tr.write_line(f"wrote {path}")
        if self.baseline is not None and self.card is not None:
            self._baseline_summary(tr)

    def _baseline_summary(self, tr) -> None:
        import io

        from rich.console import Console

        from .baseline import evaluate, known_check_ids, print_report

        known = known_check_ids() or set()
        verdict = evaluate(self.card, self.baseline, self.settings.fail_on, _dt.date.today(), known)
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=tr.hasmarkup, width=120,
                          color_system="standard" if tr.hasmarkup else None)
        print_report(verdict, console)
        tr.write_sep("-", "harness baseline")
        tr.write(buffer.getvalue())


# --------------------------------------------------------------------------
# Fixtures for a vendor's own checks (plain pytest). They skip without --harness-profile.
# --------------------------------------------------------------------------


def _active(request) -> "HarnessPytestPlugin":
    plugin = _plugin(request.config)
    if plugin is None:
        pytest.skip("no harness profile: run pytest with --harness-profile PROFILE (or --harness-demo good|poor)")
    return plugin


@pytest.fixture(scope="session")
def harness_session(request):
    """The harness :class:`harness.session.Session` of this run (profile loaded, targets built)."""
    plugin = _active(request)
    plugin.run.start()
    return plugin.run.session


@pytest.fixture(scope="session")
def harness_profile(harness_session):
    """The loaded vendor profile (:class:`harness.profile.Profile`: subject, targets, base_dir)."""
    return harness_session.profile


@pytest.fixture(scope="session")
def harness_target(request):
    """``harness_target(kind)`` returns the built target of ``[targets.<kind>]`` (skips when absent)."""
    plugin = _active(request)
    return plugin.run.target


@pytest.fixture(scope="session")
def harness_fhir(harness_target):
    """The ``[targets.fhir]`` target (a configured FHIR client: ``.get(path)``, ``.url(path)``)."""
    return harness_target("fhir")


@pytest.fixture(scope="session")
def harness_dmp(harness_target):
    """The ``[targets.dmp]`` target (the DMP/CDA documents)."""
    return harness_target("dmp")


@pytest.fixture(scope="session")
def harness_export(harness_target):
    """The ``[targets.export]`` target (the vendor's data export)."""
    return harness_target("export")
