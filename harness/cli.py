"""The ``harness`` command line (click).

Exit codes: 0 no failure at or above ``--fail-on``; 1 failures at or above it;
2 usage, profile or input error; 3 internal error of the harness.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from . import __version__, rulepacks, scorecard
from .gate import FAIL_ON_CHOICES
from .plugins import PluginHost
from .profile import ProfileError
from .registry import Registry, RegistryError
from .scoring import PolicyError
from .selection import SelectionError
from .session import AuditOptions, Session

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
USAGE_ERRORS = (ProfileError, RegistryError, PolicyError, SelectionError, rulepacks.RulePackError,
                scorecard.ScorecardError)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "subject"


def run_options(func):
    """Options shared by ``audit`` and ``demo``."""
    options = [
        click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Folder for scorecard.json, junit.xml and the other formats."),
        click.option("--format", "formats", multiple=True,
                     help="Output format (repeatable; default: every reporter marked default)."),
        click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES), default="low", show_default=True,
                     help="Exit 1 when a failure has at least this severity."),
        click.option("--family", "families", multiple=True, help="Run only this family (repeatable)."),
        click.option("--check", "check_ids", multiple=True, help="Run only this check id or glob (repeatable)."),
        click.option("-k", "keyword", default=None, help="pytest-style expression on check id/title/family."),
        click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None, help="Worker threads."),
        click.option("--timeout", type=click.FloatRange(min=0.001), default=None,
                     help="Seconds one check may take on one item (default 60)."),
        click.option("--target-timeout", type=click.FloatRange(min=0.001), default=None,
                     help="Seconds to build one target (fetch an export, start a validator; default 120)."),
        click.option("-p", "plugin_args", multiple=True, metavar="NAME",
                     help="Load a plugin module by import name; 'no:NAME' disables a plugin."),
        click.option("--policy", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="Scoring policy TOML (default: the built-in policy)."),
        click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
                     help="Set a ${NAME} used in the profile."),
        click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Expected-failures baseline: fail only on new failures."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _audit_options(kw: dict[str, Any], extra_vars: dict[str, str] | None = None, progress: bool = True) -> AuditOptions:
    variables = dict(v.split("=", 1) for v in kw["variables"] if "=" in v)
    bad = [v for v in kw["variables"] if "=" not in v]
    if bad:
        raise click.UsageError(f"--var {bad[0]!r}: expected NAME=VALUE")
    variables.update(extra_vars or {})
    plugins = [p for p in kw["plugin_args"] if not p.startswith("no:")]
    disabled = [p[3:] for p in kw["plugin_args"] if p.startswith("no:")]
    return AuditOptions(families=kw["families"], check_ids=kw["check_ids"], keyword=kw["keyword"], jobs=kw["jobs"],
                        timeout=kw["timeout"], target_timeout=kw["target_timeout"],
                        disable_plugins=tuple(disabled), plugins=tuple(plugins),
                        policy=kw["policy"], variables=variables, progress=progress)


def _host(plugin_args: tuple[str, ...] = ()) -> PluginHost:
    return PluginHost(disable=[p[3:] for p in plugin_args if p.startswith("no:")],
                      extra=[p for p in plugin_args if not p.startswith("no:")])


def run_audit(profile: Path, options: AuditOptions, out_dir: Path, formats: tuple[str, ...],
              console: Console) -> tuple[dict[str, Any], Any]:
    """Audit one profile and write the selected formats; returns the scorecard and the hook caller."""
    from .reporters.console import ProgressDisplay

    session = Session(profile, options)
    progress = ProgressDisplay(console) if options.progress and console.is_terminal else None
    if progress:
        session.host.pm.register(progress, name="progress-display")
    try:
        card = session.run()
    finally:
        if progress:
            progress.progress.stop()
    reporters = session.registry.reporters
    chosen = list(formats) or [name for name, rep in reporters.items() if rep.default]
    unknown = [f for f in chosen if f not in reporters]
    if unknown:
        raise click.UsageError(f"unknown format {unknown[0]!r} (available: {', '.join(sorted(reporters))})")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(chosen, key=lambda n: n == "console"):
        written = reporters[name].write(card, out_dir)
        if written is not None:
            console.print(f"wrote {written}")
    return card, session.hook


def _guard(func):
    """Map harness exceptions onto the documented exit codes."""

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.exceptions.Abort):
            raise
        except USAGE_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except Exception:  # noqa: BLE001 - the last line of defence
            click.echo("internal error:\n" + traceback.format_exc(), err=True)
            sys.exit(EXIT_INTERNAL)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class HarnessGroup(click.Group):
    """Root group: lets plugins add commands (``harness_register_commands``) and maps usage errors to exit 2."""

    def main(self, *args, **kwargs):
        kwargs.setdefault("standalone_mode", True)
        try:
            return super().main(*args, **kwargs)
        except SystemExit:
            raise

    def _load_plugin_commands(self) -> None:
        if getattr(self, "_plugins_loaded", False):
            return
        self._plugins_loaded = True
        try:
            host = _host()
            host.hook.harness_register_commands(cli=self)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
            click.echo(f"warning: plugin commands not loaded: {exc}", err=True)

    def list_commands(self, ctx):
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._load_plugin_commands()
        return super().get_command(ctx, name)


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Conformity harness for French medical practice software (LGC).

    Audits what a vendor ships — DMP documents, FHIR API, data export,
    contract — and writes a scorecard with evidence.
    """


@cli.command()
@click.argument("profiles", nargs=-1, required=True, type=click.Path(path_type=Path))
@run_options
@_guard
def audit(profiles: tuple[Path, ...], output: Path | None, formats: tuple[str, ...], fail_on: str,
          baseline: Path | None, **kw: Any) -> None:
    """Audit one or more vendor profiles (TOML) and write their scorecards.

    With one profile the files go to OUTPUT (default ./out); with several, to
    OUTPUT/<profile folder>-<profile name>/ (profiles run one after another,
    each with -j N workers).
    """
    console = Console(stderr=True)
    options = _audit_options(kw)
    output = output or Path("out")
    worst = EXIT_OK
    for profile in profiles:
        out_dir = output
        if len(profiles) > 1:
            out_dir = output / _slug(profile.resolve().parent.name + "-" + profile.stem)
        card, hook = run_audit(profile, options, out_dir, formats, console)
        worst = max(worst, hook.harness_gate(scorecard=card, fail_on=fail_on, baseline=baseline))
    sys.exit(worst)


@cli.command()
@click.option("--vendor", type=click.Choice(["good", "poor"]), default="good", show_default=True,
              help="Which embedded demo vendor to audit.")
@run_options
@_guard
def demo(vendor: str, output: Path | None, formats: tuple[str, ...], fail_on: str, baseline: Path | None,
         **kw: Any) -> None:
    """Audit an embedded demo vendor, starting its loopback servers first.

    Needs nothing else: the demo vendor's data ships with the harness and its
    endpoints are served on 127.0.0.1 for the duration of the run.
    """
    from .demo import DemoServer, demo_routes, vendor_dir

    console = Console(stderr=True)
    output = output or Path("out") / f"demo-{vendor}"
    host = _host(kw["plugin_args"])
    with DemoServer(demo_routes(host.hook, vendor)) as server:
        console.print(f"demo vendor '{vendor}' served at {server.url}")
        options = _audit_options(kw, {"HARNESS_DEMO_URL": server.url})
        card, hook = run_audit(vendor_dir(vendor) / "vendor.toml", options, output, formats, console)
    console.print(f"scorecard: {output / 'scorecard.json'}")
    sys.exit(hook.harness_gate(scorecard=card, fail_on=fail_on, baseline=baseline))


@cli.command("serve-demo")
@click.option("--vendor", type=click.Choice(["good", "poor"]), default="good", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C).")
@_guard
def serve_demo(vendor: str, port: int, duration: float | None) -> None:
    """Serve a demo vendor's endpoints on 127.0.0.1 until interrupted.

    Then `harness audit fixtures/vendors/demo-<vendor>/vendor.toml --var HARNESS_DEMO_URL=<url>`.
    """
    import time

    from .demo import DemoServer, demo_routes

    host = _host()
    with DemoServer(demo_routes(host.hook, vendor), port=port) as server:
        click.echo(f"HARNESS_DEMO_URL={server.url}")
        deadline = time.monotonic() + duration if duration else None
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass


@cli.command("checks")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
@click.option("--markdown", is_flag=True, help="The docs/checks.md page.")
@click.option("-p", "plugin_args", multiple=True, metavar="NAME", help="Load or disable ('no:NAME') a plugin.")
@_guard
def checks_cmd(as_json: bool, markdown: bool, plugin_args: tuple[str, ...]) -> None:
    """List every registered check with its family, severity and requirements."""
    registry = Registry.build(_host(plugin_args).pm)
    metas = [c.metadata() | {"plugin": c.plugin} for c in registry.checks.values()]
    if as_json:
        click.echo(json.dumps(metas, indent=2, ensure_ascii=False))
    elif markdown:
        click.echo(checks_markdown(registry), nl=False)
    else:
        for meta in metas:
            click.echo(f"{meta['id']:<45} {meta['severity']:<8} {meta['title']}")


def checks_markdown(registry: Registry) -> str:
    """docs/checks.md, generated from the live registry (a test diffs it)."""
    lines = ["# Checks", "", "<!-- generated by `harness checks --markdown`; do not edit -->", ""]
    families = sorted({c.family for c in registry.checks.values()})
    for family in families:
        lines += [f"## {family}", "", "| id | title | severity | target | requirements |", "|---|---|---|---|---|"]
        for chk in registry.checks.values():
            if chk.family == family:
                reqs = ", ".join(f"`{r}`" for r in chk.requirements)
                lines.append(f"| `{chk.id}` | {chk.title} | {chk.severity.value} | {chk.target} | {reqs} |")
        lines.append("")
    return "\n".join(lines)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
@click.option("-p", "plugin_args", multiple=True, metavar="NAME", help="Load or disable ('no:NAME') a plugin.")
def plugins_cmd(as_json: bool, plugin_args: tuple[str, ...]) -> None:
    """List plugins with their versions, hooks and load errors."""
    host = _host(plugin_args)
    host.record_errors(Registry.build(host.pm).errors)
    infos = host.describe()
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    for info in infos:
        line = f"{info['name']:<22} {info['status']:<9} {info['version'] or '-':<10} {info['module']}"
        if info.get("error"):
            line += f"\n    error: {info['error']}"
        click.echo(line)


@cli.command("schema")
def schema_cmd() -> None:
    """Print the scorecard JSON Schema (2020-12)."""
    click.echo(json.dumps(scorecard.schema(), indent=2))


@cli.command("validate-scorecard")
@click.argument("path", type=click.Path(path_type=Path))
@_guard
def validate_scorecard(path: Path) -> None:
    """Check a scorecard file against the schema; exit 2 with the reason if invalid."""
    card = scorecard.load(path)
    click.echo(f"{path}: valid scorecard {card['schema_version']} for {card['subject']['product']}")


@cli.group("rules")
def rules() -> None:
    """Install and list rule packs (official XSD, schematrons, FHIR definitions)."""


@rules.command("install")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", default=None, help="Pack name (default: the folder name or its pack.json).")
@click.option("--version", "version", default=None, help="Pack version (default: from its content hash).")
@click.option("--source", default="", help="Where the pack comes from (URL, commit).")
@_guard
def rules_install(path: Path, name: str | None, version: str | None, source: str) -> None:
    """Copy a rule pack into the cache, hashed and versioned."""
    pack = rulepacks.install(path, name=name, version=version, source=source)
    click.echo(f"installed {pack.name} {pack.version} sha256:{pack.sha256} -> {pack.path}")


@rules.command("list")
@click.option("--json", "as_json", is_flag=True)
def rules_list(as_json: bool) -> None:
    """List installed rule packs."""
    packs = rulepacks.installed()
    if as_json:
        click.echo(json.dumps([p.record() | {"path": str(p.path)} for p in packs], indent=2))
        return
    if not packs:
        click.echo(f"no rule pack installed in {rulepacks.cache_root()}")
    for pack in packs:
        click.echo(f"{pack.name:<20} {pack.version:<24} {pack.sha256[:16]}  {pack.path}")


def main() -> None:
    try:
        cli.main(prog_name="harness")
    except click.exceptions.UsageError as exc:  # pragma: no cover - click handles these in standalone mode
        exc.show()
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":  # pragma: no cover
    main()
