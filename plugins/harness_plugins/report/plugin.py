"""report plugin: the ``html`` reporter and the ``harness report`` / ``harness site build`` commands.

- ``html`` (default format): ``report.html`` beside ``scorecard.json``, one
  self-contained offline file (see :mod:`.render`).
- ``harness report SCORECARD [-o FILE]``: the same report from a scorecard file.
- ``harness site build SCORECARDS_DIR -o SITE_DIR``: the static comparison site
  (see :mod:`.site`; :func:`harness_plugins.report.site.build_site` is its API).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from harness import Reporter, hookimpl, sha256_file

__version__ = "0.2.0"

EXIT_USAGE = 2


def write_html(card: dict[str, Any], out_dir: Path) -> Path:
    from .render import write_report

    return write_report(card, Path(out_dir) / "report.html")


def default_report_path(scorecard_path: Path) -> Path:
    """``report.html`` beside ``scorecard.json``; ``<name>.html`` beside any other ``<name>.json``."""
    if scorecard_path.name == "scorecard.json":
        return scorecard_path.with_name("report.html")
    return scorecard_path.with_suffix(".html")


def load_scorecards(folder: Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """Every ``*.json`` scorecard under ``folder`` (recursively, in path order), and the files rejected with why."""
    from harness import scorecard

    cards: list[dict[str, Any]] = []
    rejected: list[tuple[Path, str]] = []
    for path in sorted(folder.rglob("*.json")):
        if not path.is_file():
            continue
        try:
            card = scorecard.load(path)
        except scorecard.ScorecardError as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                raw = None
            if isinstance(raw, dict) and "payloadType" in raw and "payload" in raw:
                reason = "a signed envelope, not a scorecard: verify it (harness verify) and use its scorecard"
            rejected.append((path, reason))
            continue
        cards.append(card)
    return cards, rejected


@hookimpl
def harness_register_reporters():
    return [Reporter("html", "report.html: self-contained offline HTML report (scores, peer ratings beside "
                             "them, findings with evidence, filters)", write_html, default=True)]


@hookimpl
def harness_register_commands(cli):
    import click

    from harness import scorecard

    @cli.command("report")
    @click.argument("scorecard_path", metavar="SCORECARD", type=click.Path(exists=True, dir_okay=False,
                                                                           path_type=Path))
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="HTML file to write (default: report.html beside scorecard.json).")
    @click.option("--max-findings", type=click.IntRange(min=0), default=None,
                  help="Findings rendered with their evidence (default 20000; the rest are counted).")
    def report_cmd(scorecard_path: Path, output: Path | None, max_findings: int | None) -> None:
        """Write the self-contained HTML report of a scorecard.

        The report opens offline in any browser: scores and coverage per family,
        the peer ratings beside them, every finding with its evidence, filters
        by family, severity and status, annotations and references.
        """
        from .render import DEFAULT_MAX_FINDINGS, write_report

        try:
            card = scorecard.load(scorecard_path)
        except scorecard.ScorecardError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        target = output or default_report_path(scorecard_path)
        written = write_report(card, target, max_findings=DEFAULT_MAX_FINDINGS if max_findings is None
                               else max_findings, scorecard_sha256=sha256_file(scorecard_path))
        click.echo(f"wrote {written}")

    @cli.group("site")
    def site_group() -> None:
        """Build the static site comparing products (scores beside peer ratings)."""

    @site_group.command("build")
    @click.argument("scorecards_dir", metavar="SCORECARDS_DIR",
                    type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("-o", "--output", "site_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="Folder to write the site into.")
    @click.option("--no-reports", is_flag=True, help="Do not write each scorecard's full HTML report.")
    @click.option("--skip-invalid", is_flag=True,
                  help="Exit 0 even if some JSON files were not valid scorecards (they are still listed).")
    @click.option("--title", default=None, help="Site title.")
    def site_build(scorecards_dir: Path, site_dir: Path, no_reports: bool, skip_invalid: bool,
                   title: str | None) -> None:
        """Build index, product history pages and comparison page from every scorecard under SCORECARDS_DIR.

        Each ``*.json`` file under the folder (recursively) is loaded and
        validated; files that are not valid scorecards (unknown schema
        version, broken JSON, a signed envelope) are listed with the reason and
        left out. Exit 2 when any was left out (unless --skip-invalid) or none is valid.
        """
        from .site import build_site

        started = time.perf_counter()
        cards, rejected = load_scorecards(scorecards_dir)
        for path, reason in rejected:
            click.echo(f"skipped {path}: {reason}", err=True)
        if not cards:
            click.echo(f"error: no valid scorecard under {scorecards_dir}", err=True)
            sys.exit(EXIT_USAGE)
        kw = {"reports": not no_reports}
        if title:
            kw["title"] = title
        written = build_site(cards, site_dir, **kw)
        products = len({(c["subject"]["vendor"], c["subject"]["product"]) for c in cards})
        click.echo(f"built {site_dir / 'index.html'}: {products} products, {len(cards)} scorecards, "
                   f"{len(written)} files in {time.perf_counter() - started:.1f} s")
        if rejected and not skip_invalid:
            sys.exit(EXIT_USAGE)
