"""collect -> select -> build targets -> collect items -> run -> results.

Each stage is time-boxed and isolated: a target that cannot be built, a check
whose items cannot be listed, a check that raises, hangs or returns something
other than findings each become ``error`` results with the reason, and the
rest of the run goes on. Results come out sorted by check id, then item order.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .checks import Check
from .model import CheckResult, Finding, Outcome, Severity, Status, TargetError, worst
from .pool import CallOutcome, run_calls


@dataclass
class RunOptions:
    """How to run: parallelism and time boxes (seconds)."""

    jobs: int = 1
    timeout: float = 60.0
    target_timeout: float = 120.0


class _TargetFailure:
    def __init__(self, status: Status, message: str, detail: str | None = None) -> None:
        self.status = status
        self.message = message
        self.detail = detail


def normalise_findings(check: Check, returned: Any) -> list[Finding]:
    """Accept a list, a generator, one Finding or None; anything else is an error."""
    if returned is None:
        return []
    if isinstance(returned, Finding):
        return [returned]
    if isinstance(returned, (str, bytes, dict)) or not isinstance(returned, Iterable):
        raise TypeError(f"check {check.id} returned {type(returned).__name__}, not findings")
    findings = list(returned)
    for f in findings:
        if not isinstance(f, Finding):
            raise TypeError(f"check {check.id} returned a {type(f).__name__} among its findings, not a Finding")
    return findings


def _with_defaults(check: Check, finding: Finding) -> Finding:
    from dataclasses import replace

    return replace(
        finding,
        severity=finding.severity or check.severity,
        requirement_ids=finding.requirement_ids or check.requirements,
    )


def _error_result(check: Check, item_id: str, message: str, detail: str | None, duration: float = 0.0) -> CheckResult:
    finding = Finding(Status.ERROR, message, message_id="harness.error", severity=Severity.INFO,
                      requirement_ids=check.requirements)
    return CheckResult(check.id, item_id, Status.ERROR, (finding,), duration, error=detail)


def run_item(hook, check: Check, item_id: str, item: Any, target: Any) -> CheckResult:
    """Run one check on one item through the ``harness_run_check`` hook."""
    import time

    start = time.perf_counter()
    try:
        returned = hook.harness_run_check(check=check, item_id=item_id, item=item, target=target)
        findings = normalise_findings(check, returned)
    except Outcome as outcome:
        findings = [Finding(outcome.status, outcome.message, message_id=outcome.message_id)]
    except TargetError as exc:
        return _error_result(check, item_id, str(exc), None, time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - a crashing check is an error result, never a crash
        detail = traceback.format_exc()
        return _error_result(check, item_id, f"check crashed: {type(exc).__name__}: {exc}", detail,
                             time.perf_counter() - start)
    findings = sorted((_with_defaults(check, f) for f in findings), key=Finding.sort_key)
    status = worst(f.status for f in findings) or Status.PASS
    return CheckResult(check.id, item_id, status, tuple(findings), time.perf_counter() - start)


def execute(
    hook,
    checks: list[Check],
    make_target: Callable[[str], Any],
    available_targets: Iterable[str],
    options: RunOptions,
    on_result: Callable[[CheckResult], None] | None = None,
) -> tuple[list[CheckResult], dict[str, Any]]:
    """Run ``checks``; returns the sorted results and the targets that were built."""
    available = set(available_targets)
    results: list[CheckResult] = []

    def emit(result: CheckResult) -> None:
        results.append(result)
        if on_result:
            on_result(result)

    # 1. Targets, built once each, in parallel and time-boxed.
    kinds = sorted({c.target for c in checks if c.target in available})
    built: dict[str, Any] = {}
    target_outcomes = run_calls([lambda k=k: make_target(k) for k in kinds], jobs=options.jobs,
                                timeout=options.target_timeout)
    for kind, outcome in zip(kinds, target_outcomes):
        built[kind] = _target_value(kind, outcome, options.target_timeout)

    # 2. Items of each check (cheap listings, but a family's own code: isolate it).
    runnable = [c for c in checks if c.target in built and not isinstance(built[c.target], _TargetFailure)]
    item_outcomes = run_calls([lambda c=c: c.collect(built[c.target]) for c in runnable], jobs=options.jobs,
                              timeout=options.target_timeout)
    calls: list[tuple[Check, int, str, Any]] = []
    for chk in checks:
        if chk.target not in available:
            finding = Finding(Status.NOT_APPLICABLE, f"no [targets.{chk.target}] section in the profile",
                              message_id="harness.no_target", requirement_ids=chk.requirements)
            emit(CheckResult(chk.id, "-", Status.NOT_APPLICABLE, (_with_defaults(chk, finding),)))
            continue
        target = built[chk.target]
        if isinstance(target, _TargetFailure):
            finding = Finding(target.status, target.message, message_id="harness.target_unavailable",
                              requirement_ids=chk.requirements)
            emit(CheckResult(chk.id, "-", target.status, (_with_defaults(chk, finding),), error=target.detail))
    for chk, outcome in zip(runnable, item_outcomes):
        if outcome.timed_out:
            emit(_error_result(chk, "-", f"listing the items timed out after {options.target_timeout:g}s", None))
        elif outcome.error is not None:
            emit(_error_result(chk, "-", f"listing the items failed: {type(outcome.error).__name__}: {outcome.error}",
                               outcome.traceback))
        elif not outcome.value:
            finding = Finding(Status.NOT_APPLICABLE, "the target has no item for this check",
                              message_id="harness.no_items", requirement_ids=chk.requirements)
            emit(CheckResult(chk.id, "-", Status.NOT_APPLICABLE, (_with_defaults(chk, finding),)))
        else:
            for order, (item_id, item) in enumerate(outcome.value):
                calls.append((chk, order, item_id, item))

    # 3. Check × item calls, in parallel, each time-boxed.
    def finished(index: int, outcome: CallOutcome) -> None:
        chk, _order, item_id, _item = calls[index]
        if outcome.timed_out:
            emit(_error_result(chk, item_id, f"check timed out after {options.timeout:g}s", None, outcome.duration_s))
        elif outcome.error is not None:  # run_item catches exceptions; this is a harness bug
            emit(_error_result(chk, item_id, f"internal error: {outcome.error}", outcome.traceback))
        else:
            emit(outcome.value)

    run_calls([lambda c=c: run_item(hook, c[0], c[2], c[3], built[c[0].target]) for c in calls],
              jobs=options.jobs, timeout=options.timeout, on_done=finished)

    order = {(c.id, item_id): o for c, o, item_id, _ in calls}
    results.sort(key=lambda r: (r.check_id, order.get((r.check_id, r.item_id), -1), r.item_id))
    return results, {k: v for k, v in built.items() if not isinstance(v, _TargetFailure)}


def _target_value(kind: str, outcome: CallOutcome, timeout: float) -> Any:
    if outcome.timed_out:
        return _TargetFailure(Status.ERROR, f"target {kind!r} could not be built within {timeout:g}s")
    if outcome.error is not None:
        exc = outcome.error
        if isinstance(exc, Outcome):
            return _TargetFailure(exc.status, exc.message)
        prefix = "" if isinstance(exc, TargetError) else f"{type(exc).__name__}: "
        return _TargetFailure(Status.ERROR, f"target {kind!r} unavailable: {prefix}{exc}", outcome.traceback)
    return outcome.value
