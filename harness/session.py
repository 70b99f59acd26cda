"""One audit of one profile: plugins -> profile -> checks -> results -> scorecard.

This is the single place where the stages meet; each stage lives in its own
module (``plugins``, ``profile``, ``selection``, ``runner``, ``scoring``,
``scorecard``) and data only flows forward.
"""

from __future__ import annotations

import datetime as _dt
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__, scorecard
from .checks import Check
from .model import CheckResult, TargetError
from .plugins import PluginHost
from .profile import Profile, ProfileError, load_profile
from .registry import Registry
from .runner import RunOptions, execute
from .scoring import load_policy
from .selection import select


@dataclass
class AuditOptions:
    """What the user asked for on the command line (or a test, or the pytest plugin)."""

    families: tuple[str, ...] = ()
    check_ids: tuple[str, ...] = ()
    keyword: str | None = None
    jobs: int | None = None
    timeout: float | None = None
    target_timeout: float | None = None
    disable_plugins: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    policy: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    progress: bool = False


def _peek_harness_section(path: Path) -> dict[str, Any]:
    """Plugins must be chosen before the profile can be validated; read just [harness]."""
    try:
        section = tomllib.loads(path.read_text(encoding="utf-8")).get("harness", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}  # load_profile reports the real problem with its line
    return section if isinstance(section, dict) else {}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Session:
    """An audit of one profile; build with a path, call :meth:`run`."""

    def __init__(self, profile_path: str | Path, options: AuditOptions | None = None,
                 host: PluginHost | None = None) -> None:
        self.options = options or AuditOptions()
        path = Path(profile_path)
        peek = _peek_harness_section(path) if path.exists() else {}
        if host is None:
            host = PluginHost(
                disable=tuple(self.options.disable_plugins) + tuple(peek.get("disable_plugins", []) or []),
                extra=tuple(self.options.plugins) + tuple(peek.get("plugins", []) or []),
            )
        self.host = host
        self.registry = Registry.build(host.pm)
        host.record_errors(self.registry.errors)
        self.profile: Profile = load_profile(path, self.registry.target_kinds, self.options.variables)
        policy_path = self.options.policy
        if policy_path is None and "policy" in self.profile.harness:
            policy_path = str(self.profile.base_dir / self.profile.harness["policy"])
        self.policy = load_policy(policy_path)
        self.results: list[CheckResult] = []
        self.targets: dict[str, Any] = {}
        self.selected: list[Check] = []

    @property
    def hook(self):
        return self.host.hook

    def run_options(self) -> RunOptions:
        harness_conf = self.profile.harness
        return RunOptions(
            jobs=self.options.jobs or harness_conf.get("jobs", 1),
            timeout=self.options.timeout or harness_conf.get("timeout", 60.0),
            target_timeout=self.options.target_timeout or harness_conf.get("target_timeout", 120.0),
        )

    def select_checks(self) -> list[Check]:
        checks = select(self.registry.checks.values(), families=self.options.families,
                        check_ids=self.options.check_ids, keyword=self.options.keyword)
        self.hook.harness_modify_checks(session=self, checks=checks)
        return checks

    def make_target(self, kind: str) -> Any:
        target = self.hook.harness_make_target(kind=kind, config=self.profile.targets[kind], profile=self.profile)
        if target is None:
            raise TargetError(f"no plugin could build target {kind!r}")
        return target

    def run(self, on_result: Callable[[CheckResult], None] | None = None) -> dict[str, Any]:
        """Run the audit and return the validated scorecard dict."""
        run_id = str(uuid.uuid4())
        started_at, t0 = _now(), time.perf_counter()
        self.hook.harness_session_start(session=self)
        self.selected = self.select_checks()
        options = self.run_options()

        def report(result: CheckResult) -> None:
            self.hook.harness_result(session=self, result=result)
            if on_result:
                on_result(result)

        try:
            self.results, self.targets = execute(
                self.hook, self.selected, self.make_target, self.profile.targets.keys(), options, report
            )
            card = self.build_scorecard(run_id, started_at, time.perf_counter() - t0, options)
        finally:
            for target in self.targets.values():
                close = getattr(target, "close", None)
                if callable(close):
                    close()
        self.hook.harness_session_finish(session=self, scorecard=card)
        return card

    def _rule_packs(self) -> list[dict[str, Any]]:
        packs: dict[tuple, dict[str, Any]] = {}
        for target in self.targets.values():
            for pack in getattr(target, "rule_packs", lambda: [])() or []:
                packs[(pack["name"], pack["version"], pack["sha256"])] = dict(pack)
        return [packs[k] for k in sorted(packs)]

    def build_scorecard(self, run_id: str, started_at: str, duration: float, options: RunOptions) -> dict[str, Any]:
        results = []
        used_requirements: set[str] = set()
        for result in self.results:
            data = result.to_dict()
            for finding in data["findings"]:
                self.hook.harness_redact(finding=finding)
                used_requirements.update(finding.get("requirement_ids", []))
            results.append(data)
        checks = [c.metadata() for c in self.selected]
        for meta in checks:
            used_requirements.update(meta["requirements"])
        scores = self.hook.harness_score(checks=checks, results=results, policy=self.policy)
        sections: dict[str, Any] = {}
        for contributed in self.hook.harness_scorecard_sections(session=self):
            sections.update(contributed or {})
        card = {
            "schema_version": scorecard.SCHEMA_VERSION,
            "harness": {"name": "lgc-harness", "version": __version__},
            "run": {
                "id": run_id,
                "started_at": started_at,
                "finished_at": _now(),
                "duration_s": round(duration, 3),
                "options": {
                    "jobs": options.jobs,
                    "timeout": options.timeout,
                    "target_timeout": options.target_timeout,
                    "families": list(self.options.families),
                    "checks": list(self.options.check_ids),
                    "keyword": self.options.keyword,
                },
            },
            "subject": dict(self.profile.subject),
            "profile": {"name": self.profile.path.name, "sha256": self.profile.sha256,
                        "targets": sorted(self.profile.targets)},
            "plugins": self.host.describe(),
            "rule_packs": self._rule_packs(),
            "policy": {k: self.policy[k] for k in ("name", "version", "sha256")},
            "scores": scores,
            "checks": checks,
            "results": results,
            "requirements": [self.registry.requirements[r].to_dict()
                             for r in sorted(used_requirements) if r in self.registry.requirements],
            "sections": sections,
            "annotations": [],
        }
        scorecard.validate(card)
        return card


def audit(profile_path: str | Path, options: AuditOptions | None = None, host: PluginHost | None = None,
          on_result: Callable[[CheckResult], None] | None = None) -> dict[str, Any]:
    """Convenience: load, run and return the scorecard of one profile."""
    return Session(profile_path, options, host).run(on_result)


__all__ = ["AuditOptions", "Session", "audit", "ProfileError"]
