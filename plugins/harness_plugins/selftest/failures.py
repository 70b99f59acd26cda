"""What counts as "a failure" when a baseline or a diff compares runs.

A failure is one failing finding of one check on one item, keyed by
``(check_id, item_id, message_id)``. The message id is the stable key a check
gives each kind of defect (never the wording, which may change); a finding
without one is keyed by its message text. A check × item that ended in
``error`` (the harness could not decide) is listed too, with status ``error``:
the core gate never fails on it, but the pytest plugin does, so a baseline can
name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

SEVERITIES = ("info", "low", "medium", "high", "critical")


def severity_rank(name: str | None) -> int:
    """Rank of a severity name (info 0 … critical 4); unknown names rank as medium."""
    try:
        return SEVERITIES.index(name or "medium")
    except ValueError:
        return SEVERITIES.index("medium")


def at_least(severity: str | None, fail_on: str) -> bool:
    """True when ``severity`` reaches the ``--fail-on`` threshold (``none`` never does)."""
    if fail_on == "none":
        return False
    return severity_rank(severity) >= severity_rank(fail_on)


@dataclass(frozen=True)
class Failure:
    """One failing finding (or one errored check × item) of a scorecard."""

    check_id: str
    item_id: str
    message_id: str | None
    status: str  # "fail" or "error"
    severity: str
    message: str
    location: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.check_id, self.item_id, self.message_id or self.message)

    def label(self) -> str:
        text = f"{self.check_id} [{self.item_id}]"
        if self.message_id:
            text += f" {self.message_id}"
        return text


def _location(finding: dict[str, Any]) -> str | None:
    for ev in finding.get("evidence", []) or []:
        where = ev.get("artefact")
        if not where:
            continue
        if ev.get("line"):
            where += f":{ev['line']}"
        elif ev.get("page"):
            where += f" p.{ev['page']}"
        return where
    return None


def failures_of_result(result: dict[str, Any], include_errors: bool = True) -> list[Failure]:
    """The failures of one serialized check result, one per distinct key."""
    out: dict[tuple[str, str, str], Failure] = {}
    check_id, item_id = result["check_id"], result["item_id"]
    for finding in result.get("findings", []):
        if finding.get("status") != "fail":
            continue
        failure = Failure(check_id, item_id, finding.get("message_id"), "fail", finding.get("severity", "medium"),
                          finding.get("message", ""), _location(finding))
        previous = out.get(failure.key)
        if previous is None or severity_rank(failure.severity) > severity_rank(previous.severity):
            out[failure.key] = failure
    if include_errors and result.get("status") == "error":
        first = (result.get("findings") or [{}])[0]
        message_id = first.get("message_id") or "harness.error"
        failure = Failure(check_id, item_id, message_id, "error", "info", first.get("message", "error"))
        out.setdefault(failure.key, failure)
    return list(out.values())


def failures(card: dict[str, Any], include_errors: bool = True) -> list[Failure]:
    """Every failure of a scorecard, in the scorecard's order."""
    out: list[Failure] = []
    for result in card.get("results", []):
        out.extend(failures_of_result(result, include_errors))
    return out


def check_titles(card: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c.get("title", c["id"]) for c in card.get("checks", [])}


def ran(card: dict[str, Any]) -> tuple[set[str], set[tuple[str, str]]]:
    """The check ids and (check_id, item_id) pairs that have a result in the scorecard."""
    checks: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for result in card.get("results", []):
        checks.add(result["check_id"])
        pairs.add((result["check_id"], result["item_id"]))
    return checks, pairs


def subject_label(card: dict[str, Any]) -> str:
    subject = card.get("subject", {})
    return " ".join(p for p in (subject.get("vendor"), "—", subject.get("product"), subject.get("version")) if p)


def unique(items: Iterable[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
