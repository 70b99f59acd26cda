"""Expected-failures baseline: the known failures a release may still ship with.

A baseline is a TOML file with one ``[[failure]]`` table per known failure::

    version = 1

    [[failure]]
    check = "interop.capability.statement"    # required: the check id
    item = "-"                                # optional: one item (default: any item)
    message_id = "interop.capability.format"  # optional: one kind of defect (default: any)
    status = "fail"                           # optional: "fail" (default) or "error"
    reason = "JSON lands with release 2.0 (ticket #123)"   # required, filled by a person
    expires = 2027-03-31                      # required, filled by a person: a date

``severity``, ``message`` and ``title`` are informational (written by
``harness baseline create``). With a baseline the gate fails only on failures
that no live entry covers, and on failures whose entries expired; it reports
entries that no longer match anything (fixed: remove them), entries naming
check ids no plugin registers, and entries whose reason or expiry is still the
placeholder. A malformed file is an error naming its line.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .failures import Failure, at_least, failures, ran, subject_label

VERSION = 1
REASON_PLACEHOLDER = "TODO: why is this failure accepted? (who decided, which ticket)"
EXPIRES_PLACEHOLDER = "TODO: YYYY-MM-DD"
ENTRY_KEYS = ("check", "item", "message_id", "status", "severity", "message", "title", "reason", "expires")
REQUIRED_KEYS = ("check", "reason", "expires")
TOP_KEYS = ("version", "subject", "failure")
_HEADER_RE = re.compile(r"^\s*\[\[\s*failure\s*\]\]\s*(#.*)?$")
_TABLE_RE = re.compile(r"^\s*\[")


class BaselineError(Exception):
    """A baseline file that cannot be used; the message names the file and line."""


def is_placeholder(value: Any) -> bool:
    return value is None or (isinstance(value, str) and (not value.strip() or value.strip().upper().startswith("TODO")))


@dataclass
class Entry:
    """One ``[[failure]]`` table."""

    check: str
    reason: str
    expires: _dt.date | None  # None: still the placeholder
    item: str | None = None
    message_id: str | None = None
    status: str = "fail"
    severity: str | None = None
    message: str | None = None
    title: str | None = None
    line: int | None = None
    reason_unfilled: bool = False
    expires_unfilled: bool = False

    def matches(self, failure: Failure) -> bool:
        return (failure.check_id == self.check
                and (self.item is None or failure.item_id == self.item)
                and (self.message_id is None or failure.message_id == self.message_id)
                and failure.status == self.status)

    def expired(self, today: _dt.date) -> bool:
        return self.expires is not None and self.expires < today

    @property
    def unfilled(self) -> bool:
        return self.reason_unfilled or self.expires_unfilled

    @property
    def key(self) -> tuple[str, str | None, str | None, str]:
        return (self.check, self.item, self.message_id, self.status)

    def label(self) -> str:
        text = self.check + (f" [{self.item}]" if self.item is not None else " [any item]")
        if self.message_id:
            text += f" {self.message_id}"
        if self.status != "fail":
            text += f" ({self.status})"
        return text


@dataclass
class Baseline:
    path: Path
    entries: list[Entry]
    subject: dict[str, Any] = field(default_factory=dict)

    def where(self, entry: Entry) -> str:
        return f"{self.path.name}:{entry.line}" if entry.line else self.path.name


def _entry_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each ``[[failure]]`` header: its line and the line of each ``key =`` inside it."""
    blocks: list[tuple[int, dict[str, int]]] = []
    current: dict[str, int] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if _HEADER_RE.match(raw):
            current = {}
            blocks.append((number, current))
            continue
        if _TABLE_RE.match(raw):
            current = None
            continue
        if current is not None:
            match = re.match(r'^\s*"?([A-Za-z0-9_-]+)"?\s*=', raw)
            if match:
                current.setdefault(match.group(1), number)
    return blocks


def _top_key_line(text: str, key: str) -> int | None:
    """Line of a top-level ``key = …`` (before the first table) or of a ``[key]``/``[[key]]`` header."""
    top = True
    for number, raw in enumerate(text.splitlines(), start=1):
        if _TABLE_RE.match(raw):
            if re.match(rf"^\s*\[\[?\s*{re.escape(key)}\s*\]", raw):
                return number
            top = False
        elif top and re.match(rf'^\s*"?{re.escape(key)}"?\s*=', raw):
            return number
    return None


def _parse_date(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return _dt.date.fromisoformat(value.strip())
    raise ValueError(f"expires must be a date like 2027-03-31, not {value!r}")


def loads(text: str, path: str | Path = "baseline.toml") -> Baseline:
    """Parse and validate baseline text; raise :class:`BaselineError` naming the line."""
    path = Path(path)
    name = path.name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        where = f"{name}:{match.group(1)}" if match else name
        raise BaselineError(f"{where}: not valid TOML: {exc}") from None
    for key in data:
        if key not in TOP_KEYS:
            line = _top_key_line(text, key)
            raise BaselineError(f"{name}:{line or '?'}: unknown key {key!r} (allowed: {', '.join(TOP_KEYS)})")
    version = data.get("version", VERSION)
    if version != VERSION:
        line = _top_key_line(text, "version")
        raise BaselineError(f"{name}:{line or '?'}: baseline version {version!r} is not supported (this harness reads {VERSION})")
    subject = data.get("subject", {})
    if not isinstance(subject, dict):
        raise BaselineError(f"{name}:{_top_key_line(text, 'subject') or '?'}: [subject] must be a table")
    raw_entries = data.get("failure", [])
    if not isinstance(raw_entries, list) or not all(isinstance(e, dict) for e in raw_entries):
        raise BaselineError(f"{name}:{_top_key_line(text, 'failure') or '?'}: 'failure' must be [[failure]] tables")
    blocks = _entry_lines(text)
    entries: list[Entry] = []
    for index, raw in enumerate(raw_entries):
        header, keys = blocks[index] if index < len(blocks) else (None, {})

        def fail(message: str, key: str | None = None) -> BaselineError:
            line = keys.get(key, header) if key else header
            return BaselineError(f"{name}:{line or '?'}: [[failure]] #{index + 1}: {message}")

        unknown = [k for k in raw if k not in ENTRY_KEYS]
        if unknown:
            raise fail(f"unknown key {unknown[0]!r} (allowed: {', '.join(ENTRY_KEYS)})", unknown[0])
        missing = [k for k in REQUIRED_KEYS if k not in raw]
        if missing:
            raise fail(f"missing {missing[0]!r}" + (" (a person fills reason and expires)"
                                                      if missing[0] != "check" else ""))
        for key in ENTRY_KEYS:
            if key in raw and key != "expires" and not isinstance(raw[key], str):
                raise fail(f"{key!r} must be a string, not {type(raw[key]).__name__}", key)
        if not raw["check"].strip():
            raise fail("'check' is empty", "check")
        status = raw.get("status", "fail")
        if status not in ("fail", "error"):
            raise fail(f"status must be 'fail' or 'error', not {status!r}", "status")
        expires_unfilled = is_placeholder(raw["expires"])
        expires = None
        if not expires_unfilled:
            try:
                expires = _parse_date(raw["expires"])
            except ValueError as exc:
                raise fail(str(exc), "expires") from None
        entries.append(Entry(
            check=raw["check"].strip(), reason=raw["reason"], expires=expires, item=raw.get("item"),
            message_id=raw.get("message_id"), status=status, severity=raw.get("severity"),
            message=raw.get("message"), title=raw.get("title"), line=header,
            reason_unfilled=is_placeholder(raw["reason"]), expires_unfilled=expires_unfilled,
        ))
    return Baseline(path=path, entries=entries, subject=subject)


def load(path: str | Path) -> Baseline:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"baseline {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"baseline {path}: cannot read: {exc}") from None
    return loads(text, path)


# --------------------------------------------------------------------------
# Evaluation: a scorecard (or a stream of results) against a baseline.
# --------------------------------------------------------------------------


@dataclass
class Verdict:
    """What a baseline says about one run."""

    baseline: Baseline
    fail_on: str
    new: list[Failure] = field(default_factory=list)
    expired: list[tuple[Failure, Entry]] = field(default_factory=list)
    known: list[tuple[Failure, Entry]] = field(default_factory=list)
    fixed: list[Entry] = field(default_factory=list)
    not_run: list[Entry] = field(default_factory=list)
    unknown: list[Entry] = field(default_factory=list)
    unfilled: list[Entry] = field(default_factory=list)
    duplicates: list[Entry] = field(default_factory=list)
    subject_mismatch: str | None = None

    @property
    def exit_code(self) -> int:
        return 1 if (self.new or self.expired) else 0


def classify(failure: Failure, entries: Iterable[Entry], fail_on: str, today: _dt.date
             ) -> tuple[str, Entry | None]:
    """One failure against the entries: ``new``, ``expired``, ``known`` or ``ignored``.

    ``ignored`` is a failure below ``fail_on`` (or an ``error``) that no entry
    names: the core gate lets those through too.
    """
    matching = [e for e in entries if e.matches(failure)]
    live = [e for e in matching if not e.expired(today)]
    if live:
        return "known", live[0]
    gating = failure.status == "fail" and at_least(failure.severity, fail_on)
    if matching:
        return ("expired" if gating else "known"), matching[0]
    return ("new" if gating else "ignored"), None


def evaluate(card: dict[str, Any], baseline: Baseline, fail_on: str = "low", today: _dt.date | None = None,
             known_checks: Iterable[str] | None = None) -> Verdict:
    """Compare a scorecard with a baseline."""
    return evaluate_failures(failures(card), ran(card), baseline, fail_on, today,
                             set(known_checks or ()) | {c["id"] for c in card.get("checks", [])},
                             card.get("subject", {}))


def evaluate_failures(current: list[Failure], ran_sets: tuple[set[str], set[tuple[str, str]]], baseline: Baseline,
                      fail_on: str, today: _dt.date | None, known_checks: set[str],
                      subject: dict[str, Any] | None = None) -> Verdict:
    today = today or _dt.date.today()
    verdict = Verdict(baseline=baseline, fail_on=fail_on)
    used: set[int] = set()
    for failure in current:
        kind, entry = classify(failure, baseline.entries, fail_on, today)
        if entry is not None:
            used.add(id(entry))
            for other in baseline.entries:  # every entry matching it is in use, not "fixed"
                if other.matches(failure):
                    used.add(id(other))
        if kind == "new":
            verdict.new.append(failure)
        elif kind == "expired":
            verdict.expired.append((failure, entry))
        elif kind == "known":
            verdict.known.append((failure, entry))
    checks_ran, pairs_ran = ran_sets
    seen_keys: set[tuple] = set()
    for entry in baseline.entries:
        if entry.key in seen_keys:
            verdict.duplicates.append(entry)
        seen_keys.add(entry.key)
        if entry.unfilled:
            verdict.unfilled.append(entry)
        if id(entry) in used:
            continue
        if entry.check not in known_checks:
            verdict.unknown.append(entry)
        elif entry.check not in checks_ran or (entry.item is not None and (entry.check, entry.item) not in pairs_ran):
            verdict.not_run.append(entry)
        else:
            verdict.fixed.append(entry)
    base_subject = baseline.subject or {}
    if subject and base_subject:
        for key in ("vendor", "product"):
            if key in base_subject and base_subject.get(key) != subject.get(key):
                verdict.subject_mismatch = (f"baseline is for {base_subject.get('vendor')} — {base_subject.get('product')}, "
                                            f"the run is for {subject.get('vendor')} — {subject.get('product')}")
                break
    return verdict


def known_check_ids() -> set[str] | None:
    """Every check id the installed plugins register (None when the registry cannot be built)."""
    try:
        from harness.plugins import PluginHost
        from harness.registry import Registry

        return set(Registry.build(PluginHost().pm).checks)
    except Exception:  # noqa: BLE001 - only used to tell unknown ids from unselected ones
        return None


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_report(verdict: Verdict, console=None) -> None:
    """The baseline verdict on stderr (rich)."""
    from rich.console import Console

    console = console or Console(stderr=True)
    base = verdict.baseline
    out = lambda text: console.print(text, soft_wrap=True, highlight=False)  # noqa: E731
    out(f"[bold]baseline[/bold] {_esc(str(base.path))}: {len(base.entries)} entr{'y' if len(base.entries) == 1 else 'ies'}, "
        f"fail on {verdict.fail_on} and above")
    if verdict.subject_mismatch:
        out(f"[yellow]warning:[/yellow] {_esc(verdict.subject_mismatch)}")
    if verdict.new:
        out(f"[red]✗ {len(verdict.new)} new failure{'s' if len(verdict.new) != 1 else ''} not in the baseline:[/red]")
        for f in verdict.new:
            where = f" ({_esc(f.location)})" if f.location else ""
            out(f"    [red]{_esc(f.label())}[/red] {f.severity}: {_esc(f.message)}{where}")
    if verdict.expired:
        out(f"[red]✗ {len(verdict.expired)} failure{'s' if len(verdict.expired) != 1 else ''} "
            f"whose baseline entry expired:[/red]")
        for f, entry in verdict.expired:
            out(f"    [red]{_esc(f.label())}[/red]: expired {entry.expires} ({_esc(base.where(entry))}): {_esc(f.message)}")
    if verdict.fixed:
        out(f"[green]✓ {len(verdict.fixed)} baseline entr{'y' if len(verdict.fixed) == 1 else 'ies'} fixed "
            f"— remove {'it' if len(verdict.fixed) == 1 else 'them'} from the baseline:[/green]")
        for entry in verdict.fixed:
            out(f"    [green]{_esc(entry.label())}[/green] ({_esc(base.where(entry))})")
    if verdict.unknown:
        out(f"[yellow]warning: {len(verdict.unknown)} baseline entr{'y names' if len(verdict.unknown) == 1 else 'ies name'} "
            f"a check id no loaded plugin registers:[/yellow]")
        for entry in verdict.unknown:
            out(f"    [yellow]{_esc(entry.check)}[/yellow] ({_esc(base.where(entry))})")
    if verdict.unfilled:
        out(f"[yellow]warning: {len(verdict.unfilled)} baseline entr{'y has' if len(verdict.unfilled) == 1 else 'ies have'} "
            f"no reason or expiry date yet (still the placeholder):[/yellow]")
        for entry in verdict.unfilled[:10]:
            what = " and ".join(w for w, bad in (("reason", entry.reason_unfilled), ("expires", entry.expires_unfilled)) if bad)
            out(f"    {_esc(entry.label())} ({_esc(base.where(entry))}): fill {what}")
        if len(verdict.unfilled) > 10:
            out(f"    … and {len(verdict.unfilled) - 10} more")
    if verdict.duplicates:
        out(f"[yellow]warning: {len(verdict.duplicates)} duplicate baseline entr{'y' if len(verdict.duplicates) == 1 else 'ies'}:[/yellow]")
        for entry in verdict.duplicates:
            out(f"    {_esc(entry.label())} ({_esc(base.where(entry))})")
    if verdict.not_run:
        out(f"{len(verdict.not_run)} baseline entr{'y was' if len(verdict.not_run) == 1 else 'ies were'} not checked "
            f"(their check or item did not run in this audit)")
    out(f"{len(verdict.known)} known failure{'s' if len(verdict.known) != 1 else ''} let through by the baseline")
    if verdict.exit_code:
        out(f"[bold red]baseline gate: FAIL[/bold red] ({len(verdict.new)} new, {len(verdict.expired)} expired)")
    else:
        out("[bold green]baseline gate: OK[/bold green] (no new failure)")


def gate(card: dict[str, Any], fail_on: str, path: str | Path, console=None, today: _dt.date | None = None) -> int:
    """The ``harness_gate`` answer with a baseline: 0, 1, or 2 for an unusable baseline."""
    from rich.console import Console

    console = console or Console(stderr=True)
    try:
        base = load(path)
    except BaselineError as exc:
        console.print(f"[red]error:[/red] {_esc(str(exc))}", soft_wrap=True, highlight=False)
        return 2
    verdict = evaluate(card, base, fail_on, today, known_check_ids())
    print_report(verdict, console)
    return verdict.exit_code


# --------------------------------------------------------------------------
# Writing: ``harness baseline create``.
# --------------------------------------------------------------------------


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


@dataclass
class Created:
    text: str
    entries: int
    carried: int
    new: int
    dropped: list[Entry]
    kept_not_run: int


def create(card: dict[str, Any], previous: Baseline | None = None, min_severity: str = "info",
           include_errors: bool = True, source: str = "scorecard.json", today: _dt.date | None = None) -> Created:
    """The baseline text for a scorecard's failures.

    Reasons and expiry dates of ``previous`` entries that still match are kept;
    previous entries whose check did not run are kept as they are; the others
    (fixed) are dropped and returned.
    """
    today = today or _dt.date.today()
    titles = {c["id"]: c.get("title", "") for c in card.get("checks", [])}
    rows: list[tuple[Failure, Entry | None]] = []
    seen: set[tuple] = set()
    for failure in failures(card, include_errors=include_errors):
        if failure.status == "fail" and not at_least(failure.severity, min_severity):
            continue
        key = (failure.check_id, failure.item_id, failure.message_id, failure.status)
        if key in seen:
            continue
        seen.add(key)
        carried = None
        if previous is not None:
            carried = next((e for e in previous.entries if e.matches(failure)), None)
        rows.append((failure, carried))
    kept: list[Entry] = []
    dropped: list[Entry] = []
    if previous is not None:
        checks_ran, pairs_ran = ran(card)
        used = {id(e) for _, e in rows if e is not None}
        for entry in previous.entries:
            if id(entry) in used:
                continue
            if entry.check not in checks_ran or (entry.item is not None and (entry.check, entry.item) not in pairs_ran):
                kept.append(entry)
            else:
                dropped.append(entry)
    subject = card.get("subject", {})
    lines = [
        f"# Expected-failures baseline for {subject_label(card)}",
        f"# Created by `harness baseline create` from {source} on {today.isoformat()}.",
        "#",
        "# Each [[failure]] is a failure known today. `harness audit --baseline THIS_FILE` (and",
        "# `pytest --harness-baseline THIS_FILE`) then fail only on failures not listed here.",
        "# A person fills in, for every entry:",
        "#   reason  = why the failure is accepted for now (who decided, which ticket)",
        "#   expires = the date after which it fails the build again, e.g. 2027-03-31",
        "# Entries reported as fixed should be removed, so the baseline shrinks.",
        "# severity, message and title are for the reader; matching uses check, item,",
        "# message_id and status (leave item or message_id out to match any).",
        "",
        f"version = {VERSION}",
        "",
        "[subject]",
    ]
    for key in ("vendor", "product", "version"):
        if key in subject:
            lines.append(f"{key} = {_toml_str(str(subject[key]))}")

    def block(check: str, item: str | None, message_id: str | None, status: str, severity: str | None,
              message: str | None, reason: str, expires: _dt.date | None) -> list[str]:
        out = ["", "[[failure]]", f"check = {_toml_str(check)}"]
        if item is not None:
            out.append(f"item = {_toml_str(item)}")
        if message_id:
            out.append(f"message_id = {_toml_str(message_id)}")
        if status != "fail":
            out.append(f"status = {_toml_str(status)}")
        if severity:
            out.append(f"severity = {_toml_str(severity)}")
        if titles.get(check):
            out.append(f"title = {_toml_str(titles[check])}")
        if message:
            out.append(f"message = {_toml_str(message[:300])}")
        out.append(f"reason = {_toml_str(reason)}")
        out.append(f"expires = {expires.isoformat() if expires else _toml_str(EXPIRES_PLACEHOLDER)}")
        return out

    carried_count = 0
    for failure, entry in rows:
        if entry is not None and not entry.reason_unfilled:
            carried_count += 1
        reason = entry.reason if entry is not None else REASON_PLACEHOLDER
        expires = entry.expires if entry is not None else None
        lines += block(failure.check_id, failure.item_id, failure.message_id if failure.message_id else None,
                       failure.status, failure.severity, failure.message, reason, expires)
    for entry in kept:
        lines += block(entry.check, entry.item, entry.message_id, entry.status, entry.severity, entry.message,
                       entry.reason, entry.expires)
    text = "\n".join(lines) + "\n"
    loads(text)  # what we write must read back
    return Created(text=text, entries=len(rows) + len(kept), carried=carried_count,
                   new=sum(1 for _, e in rows if e is None), dropped=dropped, kept_not_run=len(kept))
