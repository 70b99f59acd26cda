"""Terminal output with rich: a progress bar while checks run, a summary table per family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..hookspecs import hookimpl
from ..registry import Reporter

STATUS_STYLE = {
    "pass": "green", "fail": "bold red", "warn": "yellow", "review": "magenta",
    "error": "bold white on red", "skipped": "dim", "not_applicable": "dim",
}
STATUS_ORDER = ["pass", "fail", "warn", "review", "error", "skipped", "not_applicable"]


# Short headers so that the table fits 80 columns (CI logs are not terminals).
STATUS_HEADER = {"review": "rev.", "error": "err.", "skipped": "skip", "not_applicable": "n/a"}


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.0f} %" if pct else f"{value:.1f}"


def summary_table(card: dict[str, Any]) -> Table:
    subject = card["subject"]
    table = Table(title=f"{subject['vendor']} — {subject['product']} {subject.get('version', '')}".strip())
    table.caption = "scores 0–10; cov. = share of conclusive results; peers are shown beside, never scored"
    table.add_column("family", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("cov.", justify="right", no_wrap=True)
    for status in STATUS_ORDER:
        table.add_column(STATUS_HEADER.get(status, status), justify="right", style=STATUS_STYLE[status])
    for name, fam in sorted(card["scores"]["families"].items()):
        score = _fmt(fam["score"]) if fam["scored"] else "beside"
        table.add_row(name, score, _fmt(fam["coverage"], True),
                      *[str(fam["counts"].get(s, 0) or "") for s in STATUS_ORDER])
    overall = card["scores"]["overall"]
    table.add_section()
    table.add_row("overall", _fmt(overall["score"]), _fmt(overall["coverage"], True), *[""] * len(STATUS_ORDER),
                  style="bold")
    return table


def print_summary(card: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    console.print(summary_table(card))
    errors = [r for r in card["results"] if r["status"] == "error"]
    for result in errors[:10]:
        console.print(f"[red]error[/red] {result['check_id']} [{result['item_id']}]: {result['findings'][0]['message']}")
    if len(errors) > 10:
        console.print(f"… and {len(errors) - 10} more errors (see scorecard.json)")


class ProgressDisplay:
    """A rich progress bar fed by the ``harness_result`` hook (CLI only)."""

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console or Console(stderr=True), transient=True)
        self.task = None

    @hookimpl
    def harness_session_start(self, session) -> None:
        self.progress.start()
        self.task = self.progress.add_task(f"auditing {session.profile.subject['product']}", total=None)

    @hookimpl
    def harness_result(self, session, result) -> None:
        if self.task is not None:
            self.progress.advance(self.task)
            self.progress.update(self.task, description=f"{result.check_id}")

    @hookimpl
    def harness_session_finish(self, session, scorecard) -> None:
        self.progress.stop()


def write_console(card: dict[str, Any], out_dir: Path) -> None:
    print_summary(card)
    return None


@hookimpl
def harness_register_reporters() -> list[Reporter]:
    return [Reporter("console", "summary table per family on the terminal", write_console, default=True)]
