"""``harness diff OLD.json NEW.json``: what changed between two scorecards of one product.

New failures, fixed failures, checks whose status changed, checks added or
removed, and the score and coverage of each family with their deltas. The exit
code is a release gate: 1 when NEW has failures (at or above ``--fail-on``)
that OLD did not have, else 0; 2 when the scorecards cannot be compared
(unreadable, or of different subjects without ``--force``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .failures import Failure, at_least, check_titles, failures, ran, subject_label


class DiffRefused(Exception):
    """The two scorecards are not of the same subject (and ``--force`` was not given)."""


@dataclass
class FamilyDelta:
    name: str
    old_score: float | None
    new_score: float | None
    old_coverage: float | None
    new_coverage: float | None
    old_status: str | None
    new_status: str | None
    scored: bool = True
    present: tuple[bool, bool] = (True, True)

    @property
    def score_delta(self) -> float | None:
        if self.old_score is None or self.new_score is None:
            return None
        return round(self.new_score - self.old_score, 3)

    @property
    def coverage_delta(self) -> float | None:
        if self.old_coverage is None or self.new_coverage is None:
            return None
        return round(self.new_coverage - self.old_coverage, 4)


@dataclass
class StatusChange:
    check_id: str
    title: str
    old: str | None  # None: the check did not run in OLD
    new: str | None


@dataclass
class Diff:
    old: dict[str, Any]
    new: dict[str, Any]
    fail_on: str
    new_failures: list[Failure] = field(default_factory=list)
    fixed: list[Failure] = field(default_factory=list)
    gone: list[Failure] = field(default_factory=list)  # failures whose check or item did not run in NEW
    changes: list[StatusChange] = field(default_factory=list)
    added_checks: list[str] = field(default_factory=list)
    removed_checks: list[str] = field(default_factory=list)
    families: list[FamilyDelta] = field(default_factory=list)
    overall: FamilyDelta | None = None
    forced: bool = False

    @property
    def gating(self) -> list[Failure]:
        return [f for f in self.new_failures if at_least(f.severity, self.fail_on)]

    @property
    def exit_code(self) -> int:
        return 1 if self.gating else 0


def same_subject(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Same vendor and product (the version may differ: that is what a diff is for)."""
    a, b = old.get("subject", {}), new.get("subject", {})
    return (a.get("vendor"), a.get("product")) == (b.get("vendor"), b.get("product"))


_PRECEDENCE = ("error", "fail", "review", "warn", "skipped", "pass", "not_applicable")


def _check_statuses(card: dict[str, Any]) -> dict[str, str]:
    """Each check's rolled-up status: the worst of its results (the scores' own when it has none)."""
    out: dict[str, str] = {}
    for fam in card.get("scores", {}).get("families", {}).values():
        for check_id, data in fam.get("checks", {}).items():
            out[check_id] = data.get("status")
    rolled: dict[str, str] = {}
    for result in card.get("results", []):
        status, check_id = result["status"], result["check_id"]
        rank = _PRECEDENCE.index(status) if status in _PRECEDENCE else 0
        if check_id not in rolled or rank < _PRECEDENCE.index(rolled[check_id]):
            rolled[check_id] = status
    out.update(rolled)
    return out


def compare(old: dict[str, Any], new: dict[str, Any], fail_on: str = "low", force: bool = False) -> Diff:
    """Compare two validated scorecards; raise :class:`DiffRefused` for different subjects."""
    if not same_subject(old, new) and not force:
        raise DiffRefused(f"the scorecards are of different subjects: {subject_label(old)} vs {subject_label(new)} "
                          "(use --force to compare them anyway)")
    diff = Diff(old=old, new=new, fail_on=fail_on, forced=not same_subject(old, new))
    old_f = {f.key: f for f in failures(old, include_errors=False)}
    new_f = {f.key: f for f in failures(new, include_errors=False)}
    _, new_pairs = ran(new)
    diff.new_failures = [f for k, f in new_f.items() if k not in old_f]
    for key, failure in old_f.items():
        if key in new_f:
            continue
        if (failure.check_id, failure.item_id) in new_pairs:
            diff.fixed.append(failure)
        else:
            diff.gone.append(failure)
    old_s, new_s = _check_statuses(old), _check_statuses(new)
    titles = check_titles(old) | check_titles(new)
    for check_id in sorted(set(old_s) | set(new_s)):
        a, b = old_s.get(check_id), new_s.get(check_id)
        if a != b:
            diff.changes.append(StatusChange(check_id, titles.get(check_id, check_id), a, b))
    old_ids = {c["id"] for c in old.get("checks", [])}
    new_ids = {c["id"] for c in new.get("checks", [])}
    diff.added_checks = sorted(new_ids - old_ids)
    diff.removed_checks = sorted(old_ids - new_ids)
    old_fams = old.get("scores", {}).get("families", {})
    new_fams = new.get("scores", {}).get("families", {})
    for name in sorted(set(old_fams) | set(new_fams)):
        a, b = old_fams.get(name, {}), new_fams.get(name, {})
        diff.families.append(FamilyDelta(
            name, a.get("score"), b.get("score"), a.get("coverage"), b.get("coverage"), a.get("status"),
            b.get("status"), scored=bool(a.get("scored", True) and b.get("scored", True)),
            present=(name in old_fams, name in new_fams)))
    a, b = old.get("scores", {}).get("overall", {}), new.get("scores", {}).get("overall", {})
    diff.overall = FamilyDelta("overall", a.get("score"), b.get("score"), a.get("coverage"), b.get("coverage"),
                               a.get("status"), b.get("status"))
    return diff


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _cov(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def _delta(value: float | None, *, percent: bool = False) -> str:
    if value is None:
        return ""
    if percent:
        points = value * 100
        return "±0 pp" if abs(points) < 0.05 else f"{points:+.0f} pp"
    return "±0" if abs(value) < 0.0005 else f"{value:+.1f}"


def _score_cell(fam: FamilyDelta) -> tuple[str, str]:
    if not fam.scored:
        return "beside the score", ""
    return f"{_score(fam.old_score)} → {_score(fam.new_score)}", _delta(fam.score_delta)


def _version(card: dict[str, Any]) -> str:
    subject = card.get("subject", {})
    return " ".join(p for p in (subject.get("product"), subject.get("version")) if p)


def _failure_line(f: Failure) -> str:
    text = f"{f.label()} ({f.severity}): {f.message}"
    if f.location:
        text += f" [{f.location}]"
    return text


def _gate_line(diff: Diff) -> str:
    gating = diff.gating
    if gating:
        return (f"release gate: FAIL — {len(gating)} new failure{'s' if len(gating) != 1 else ''} "
                f"at {diff.fail_on} or above")
    return f"release gate: OK — no new failure at {diff.fail_on} or above"


def render_text(diff: Diff, old_name: str = "OLD", new_name: str = "NEW") -> str:
    lines = [f"harness diff: {old_name} ({subject_label(diff.old)}) → {new_name} ({subject_label(diff.new)})"]
    if diff.forced:
        lines.append("warning: different subjects, compared because of --force")
    lines += ["", "Scores (old → new):"]
    rows = [("family", "score", "Δ", "coverage", "Δ")]
    for fam in diff.families + ([diff.overall] if diff.overall else []):
        score, sdelta = _score_cell(fam)
        if fam.present != (True, True):
            score += " (only in " + ("NEW" if fam.present[1] else "OLD") + ")"
        rows.append((fam.name, score, sdelta, f"{_cov(fam.old_coverage)} → {_cov(fam.new_coverage)}",
                     _delta(fam.coverage_delta, percent=True)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())

    def section(title: str, items: list[str], empty: str = "none") -> None:
        lines.append("")
        lines.append(f"{title} ({len(items)}):" if items else f"{title}: {empty}")
        lines.extend(f"  {item}" for item in items)

    section("New failures", [("✗ " + _failure_line(f)) for f in diff.new_failures])
    section("Fixed", [("✓ " + _failure_line(f)) for f in diff.fixed])
    if diff.gone:
        section("No longer checked (check or item not run in NEW)", [_failure_line(f) for f in diff.gone])
    section("Check status changes", [f"{c.check_id}: {c.old or 'not run'} → {c.new or 'not run'}" for c in diff.changes])
    if diff.added_checks:
        section("Checks only in NEW", diff.added_checks)
    if diff.removed_checks:
        section("Checks only in OLD", diff.removed_checks)
    lines += ["", _gate_line(diff)]
    return "\n".join(lines) + "\n"


def _md(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def render_markdown(diff: Diff, old_name: str = "OLD", new_name: str = "NEW") -> str:
    """A merge-request comment."""
    icon = "❌" if diff.gating else "✅"
    lines = [f"### Conformity diff: {_md(_version(diff.old))} → {_md(_version(diff.new))}", "",
             f"**{icon} {_md(_gate_line(diff))}** · {len(diff.new_failures)} new failure(s), "
             f"{len(diff.fixed)} fixed, {len(diff.changes)} status change(s)", ""]
    if diff.forced:
        lines += [f"> ⚠️ different subjects ({_md(subject_label(diff.old))} vs {_md(subject_label(diff.new))}), "
                  "compared with `--force`", ""]
    lines += ["| family | score (old → new) | Δ score | coverage (old → new) | Δ coverage |", "|---|---|---|---|---|"]
    for fam in diff.families + ([diff.overall] if diff.overall else []):
        score, sdelta = _score_cell(fam)
        name = f"**{fam.name}**" if fam.name == "overall" else fam.name
        lines.append(f"| {name} | {score} | {sdelta} | {_cov(fam.old_coverage)} → {_cov(fam.new_coverage)} | "
                     f"{_delta(fam.coverage_delta, percent=True)} |")

    def table(title: str, items: list[Failure]) -> None:
        lines.extend(["", f"#### {title} ({len(items)})", ""])
        if not items:
            lines.append("_none_")
            return
        lines.extend(["| check | item | defect | severity | message |", "|---|---|---|---|---|"])
        for f in items:
            lines.append(f"| `{_md(f.check_id)}` | `{_md(f.item_id)}` | {_md(f.message_id or '')} | {f.severity} | "
                         f"{_md(f.message)} |")

    table("New failures", diff.new_failures)
    table("Fixed", diff.fixed)
    if diff.changes:
        lines += ["", f"<details><summary>Check status changes ({len(diff.changes)})</summary>", "",
                  "| check | old | new |", "|---|---|---|"]
        lines += [f"| `{_md(c.check_id)}` | {c.old or 'not run'} | {c.new or 'not run'} |" for c in diff.changes]
        lines += ["", "</details>"]
    if diff.added_checks or diff.removed_checks:
        lines += ["", f"Checks only in NEW: {', '.join(f'`{c}`' for c in diff.added_checks) or 'none'}; "
                  f"only in OLD: {', '.join(f'`{c}`' for c in diff.removed_checks) or 'none'}."]
    lines += ["", f"<sub>{_md(old_name)} → {_md(new_name)}, generated by `harness diff`</sub>"]
    return "\n".join(lines) + "\n"
