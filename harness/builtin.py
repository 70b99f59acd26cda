"""The core's own hook implementations, registered like any plugin ("core-runner").

Each answers last (``trylast``) so that any other plugin can wrap or replace it.
"""

from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl
from .redaction import redact_finding
from .scoring import score as default_score


@hookimpl(trylast=True)
def harness_make_target(kind: str, config: dict[str, Any], profile) -> Any:
    """Build a target with the factory of its registered :class:`TargetKind`."""
    target_kind = profile.target_kinds.get(kind)
    return target_kind.factory(config, profile) if target_kind else None


@hookimpl(trylast=True)
def harness_run_check(check, item_id: str, item: Any, target: Any):
    """Call the check's function; generators are drained here so they run on the worker."""
    returned = check.func(target, item)
    if returned is not None and hasattr(returned, "__next__"):
        return list(returned)
    return [] if returned is None else returned


@hookimpl(trylast=True)
def harness_score(checks, results, policy):
    return default_score(checks, results, policy)


@hookimpl(trylast=True)
def harness_gate(scorecard, fail_on, baseline):
    """Without a baseline plugin: any failure at or above ``fail_on`` fails the run."""
    import sys

    from .gate import failing

    if baseline is not None:
        print(f"error: no loaded plugin handles --baseline {baseline}", file=sys.stderr)
        return 2
    return 1 if failing(scorecard, fail_on) else 0


@hookimpl
def harness_redact(finding: dict[str, Any]) -> None:
    redact_finding(finding)

