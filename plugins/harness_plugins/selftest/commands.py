"""Commands this family adds to ``harness``: ``baseline create|check``, ``diff``, ``sarif``.

Exit codes follow the core CLI: 0 ok, 1 failures (new failures for ``diff`` and
``baseline check``), 2 usage or input error (unreadable scorecard, malformed
baseline, scorecards of different subjects without ``--force``).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .failures import SEVERITIES

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2
FAIL_ON = list(reversed(SEVERITIES)) + ["none"]


def _guard(func):
    """Input errors -> ``error: …`` on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from harness.scorecard import ScorecardError

        from .baseline import BaselineError
        from .diff import DiffRefused

        try:
            return func(*args, **kwargs)
        except (ScorecardError, BaselineError, DiffRefused) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)

    return wrapper


@click.group("baseline")
def baseline_group() -> None:
    """Expected-failures baselines: known failures a release may still ship with.

    `harness audit --baseline FILE` (and `harness demo --baseline FILE`,
    `pytest --harness-baseline FILE`) then fail only on new failures, report
    fixed entries and fail on expired ones.
    """


@baseline_group.command("create")
@click.argument("scorecard", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The baseline file to write (TOML). If it exists, its reasons and dates are kept.")
@click.option("--min-severity", type=click.Choice(list(reversed(SEVERITIES))), default="info", show_default=True,
              help="Leave out failures below this severity.")
@click.option("--errors/--no-errors", "include_errors", default=True, show_default=True,
              help="Also list checks that ended in error (the pytest plugin fails on them).")
@_guard
def baseline_create(scorecard: Path, output: Path, min_severity: str, include_errors: bool) -> None:
    """Write the failures of SCORECARD as a baseline, for a person to fill in.

    Every entry gets a placeholder `reason` and `expires` (detected as unfilled
    and warned about until a person writes why the failure is accepted and the
    date after which it fails the build again). Run it again on a later
    scorecard to refresh the file: filled reasons and dates are kept, fixed
    entries are dropped.
    """
    from harness import scorecard as sc

    from . import baseline as bl

    card = sc.load(scorecard)
    previous = bl.load(output) if output.exists() else None
    created = bl.create(card, previous, min_severity=min_severity, include_errors=include_errors,
                        source=scorecard.name)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(created.text, encoding="utf-8")
    parts = [f"{created.entries} entr{'y' if created.entries == 1 else 'ies'}"]
    if previous is not None:
        parts.append(f"{created.carried} kept with their reason")
        if created.kept_not_run:
            parts.append(f"{created.kept_not_run} kept (their check did not run)")
        if created.dropped:
            parts.append(f"{len(created.dropped)} fixed and removed")
    click.echo(f"wrote {output}: " + ", ".join(parts), err=True)
    for entry in created.dropped:
        click.echo(f"  fixed, removed: {entry.label()}", err=True)
    unfilled = bl.loads(created.text, output).entries
    todo = sum(1 for e in unfilled if e.unfilled)
    if todo:
        click.echo(f"warning: {todo} entr{'y needs' if todo == 1 else 'ies need'} a reason and an expiry date "
                   f"(replace the TODO placeholders in {output})", err=True)


@baseline_group.command("check")
@click.argument("scorecard", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("baseline", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="low", show_default=True,
              help="Failures below this severity never fail the gate.")
@_guard
def baseline_check(scorecard: Path, baseline: Path, fail_on: str) -> None:
    """Apply BASELINE to an existing SCORECARD (the gate of `harness audit --baseline`)."""
    from harness import scorecard as sc

    from . import baseline as bl

    card = sc.load(scorecard)
    sys.exit(bl.gate(card, fail_on, baseline))


@click.command("diff")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
              help="markdown: a merge-request comment.")
@click.option("--force", is_flag=True, help="Compare scorecards of different subjects (vendor/product).")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="low", show_default=True,
              help="Exit 1 when NEW has a failure at or above this severity that OLD did not have.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this file instead of stdout.")
@_guard
def diff_command(old: Path, new: Path, fmt: str, force: bool, fail_on: str, output: Path | None) -> None:
    """Compare two scorecards: new failures, fixed ones, score and coverage per family.

    The exit code is a release gate: 1 when NEW has new failures (at or above
    --fail-on), 0 otherwise, 2 when the scorecards cannot be compared.
    """
    from harness import scorecard as sc

    from .diff import compare, render_markdown, render_text

    result = compare(sc.load(old), sc.load(new), fail_on=fail_on, force=force)
    if fmt == "markdown":
        text = render_markdown(result, str(old), str(new))
    elif fmt == "json":
        text = json.dumps(_diff_json(result), indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_text(result, str(old), str(new))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    sys.exit(result.exit_code)


def _diff_json(result) -> dict:
    def failure(f):
        return {"check_id": f.check_id, "item_id": f.item_id, "message_id": f.message_id, "severity": f.severity,
                "message": f.message, "location": f.location}

    def family(f):
        return {"family": f.name, "old_score": f.old_score, "new_score": f.new_score, "score_delta": f.score_delta,
                "old_coverage": f.old_coverage, "new_coverage": f.new_coverage, "coverage_delta": f.coverage_delta,
                "old_status": f.old_status, "new_status": f.new_status, "scored": f.scored}

    return {
        "new_failures": [failure(f) for f in result.new_failures],
        "fixed": [failure(f) for f in result.fixed],
        "no_longer_checked": [failure(f) for f in result.gone],
        "status_changes": [{"check_id": c.check_id, "old": c.old, "new": c.new} for c in result.changes],
        "added_checks": result.added_checks,
        "removed_checks": result.removed_checks,
        "families": [family(f) for f in result.families],
        "overall": family(result.overall),
        "gate": {"fail_on": result.fail_on, "exit_code": result.exit_code, "forced": result.forced},
    }


@click.command("sarif")
@click.argument("scorecard", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("results.sarif"),
              show_default=True, help="The SARIF file to write.")
@click.option("--profile", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The vendor profile the scorecard came from (results without a file point at its targets).")
@click.option("--base-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Make file URIs relative to this folder (default: the working directory).")
@_guard
def sarif_command(scorecard: Path, output: Path, profile: Path | None, base_dir: Path | None) -> None:
    """Convert an existing SCORECARD to SARIF 2.1.0 (as `--format sarif` does during an audit)."""
    from harness import scorecard as sc

    from .sarif import to_sarif

    log = to_sarif(sc.load(scorecard), base_dir=base_dir, profile=profile.resolve() if profile else None)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(log, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"wrote {output}", err=True)
