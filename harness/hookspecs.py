"""The plugin contract: every hook the harness calls, in the order it calls them.

Built-in families and third-party plugins implement these with ``@hookimpl``
and are found through the ``harness`` entry-point group (see ``plugins.py``).
Each hook documents its parameters, what it returns and how results combine.
``docs/hooks.md`` mirrors this file; ``tests/core/test_hooks.py`` fails when a
hook has no docstring, is missing from it or has no ``test_hook_<name>`` test.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - types only
    import click

    from .checks import Check
    from .model import CheckResult, Finding, Requirement
    from .profile import Profile
    from .registry import Reporter, TargetKind
    from .session import Session

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------
# Registration: what a plugin contributes. Called once per session.
# --------------------------------------------------------------------------


@hookspec
def harness_register_checks() -> "list[Check]":
    """Return the checks this plugin provides.

    :return: a list of :class:`harness.checks.Check`. Two plugins returning the
        same check id is an error naming both plugins.
    """


@hookspec
def harness_register_requirements() -> "list[Requirement]":
    """Return the requirements this plugin's checks trace to.

    :return: a list of :class:`harness.model.Requirement` (id -> title, source,
        URL). Every requirement id a check declares must be registered by some
        plugin; the scorecard carries the ones that were used.
    """


@hookspec
def harness_register_target_kinds() -> "list[TargetKind]":
    """Return the profile target kinds this plugin understands.

    :return: a list of :class:`harness.registry.TargetKind`: the ``[targets.<name>]``
        section name, the JSON Schema its keys must satisfy (unknown keys are
        profile errors naming the line) and which keys hold paths relative to
        the profile file.
    """


@hookspec
def harness_register_reporters() -> "list[Reporter]":
    """Return the output formats this plugin writes.

    :return: a list of :class:`harness.registry.Reporter`; ``--format NAME``
        selects them. Reporters receive the finished, validated scorecard.
    """


@hookspec
def harness_register_commands(cli: "click.Group") -> None:
    """Add click commands or groups to the ``harness`` command line.

    :param cli: the root click group; call ``cli.add_command(...)``.
    """


# --------------------------------------------------------------------------
# Targets: from profile sections to live objects.
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def harness_make_target(kind: str, config: "dict[str, Any]", profile: "Profile") -> Any:
    """Build the target object for one ``[targets.<kind>]`` profile section.

    firstresult: the first non-None answer wins, so a plugin can wrap or replace
    the default factory of a kind (the core answers last, from the registered
    :class:`TargetKind`).

    :param kind: the section name (``fhir``, ``dmp``, ``export`` …).
    :param config: the section, validated, with path keys made absolute and
        ``${VAR}`` references expanded.
    :param profile: the whole vendor profile.
    :return: the target object handed to every check of that kind. Raise
        :class:`harness.model.TargetError` when it cannot be built: the checks
        needing it become ``error`` with that reason.
    """


@hookspec
def harness_demo_routes(vendor_dir: Path, variant: str) -> "list[Any]":
    """Return Starlette routes that play a demo vendor's endpoints on loopback.

    :param vendor_dir: ``fixtures/vendors/demo-<variant>/``, with the vendor's data.
    :param variant: ``good`` or ``poor``.
    :return: a list of ``starlette.routing.Route``/``Mount``. ``harness demo``
        serves every plugin's routes from one 127.0.0.1 server on an ephemeral
        port and exposes its origin to the profile as ``${HARNESS_DEMO_URL}``.
    """


# --------------------------------------------------------------------------
# Collection and run.
# --------------------------------------------------------------------------


@hookspec
def harness_session_start(session: "Session") -> None:
    """Called once the profile is loaded and plugins registered, before collection.

    :param session: the run's state (profile, options, registries).
    """


@hookspec
def harness_modify_checks(session: "Session", checks: "list[Check]") -> None:
    """Filter or re-order the selected checks in place, before any target is built.

    :param session: the run's state.
    :param checks: the checks left after ``--family``/``--check``/``-k``
        selection; mutate the list (remove, reorder) to change what runs.
    """


@hookspec(firstresult=True)
def harness_run_check(check: "Check", item_id: str, item: Any, target: Any) -> "list[Finding] | None":
    """Run one check on one item and return its findings.

    firstresult; the core answers last by calling ``check.func(target, item)``.
    Implement it as a ``hookwrapper``/``wrapper`` to time, trace or isolate
    check calls. Runs on a worker thread.

    :return: a list of :class:`Finding`. Anything else makes the result ``error``.
    """


@hookspec
def harness_redact(finding: "dict[str, Any]") -> None:
    """Mask secrets and patient identifiers in one serialized finding, in place.

    Every implementation is called on every finding before it reaches the
    scorecard. The core masks Authorization/Cookie/token values and French
    patient identifiers (NIR/INS); add impls for other secrets.

    :param finding: the finding's JSON dict (message, details, evidence).
    """


@hookspec
def harness_result(session: "Session", result: "CheckResult") -> None:
    """Called on the main thread as each check × item result is known.

    Used for progress display and streaming reporters.
    """


# --------------------------------------------------------------------------
# Scoring and reporting.
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def harness_score(
    checks: "list[dict[str, Any]]", results: "list[dict[str, Any]]", policy: "dict[str, Any]"
) -> "dict[str, Any] | None":
    """Turn results into family and overall scores.

    firstresult; the core answers last with ``harness.scoring.score``.

    :param checks: check metadata dicts (id, family, severity, optional).
    :param results: result dicts (check_id, item_id, status).
    :param policy: the scoring policy (see ``harness/policy/default.toml``).
    :return: ``{"overall": {...}, "families": {name: {...}}}`` as in the schema.
    """


@hookspec
def harness_scorecard_sections(session: "Session") -> "dict[str, Any] | None":
    """Contribute named sections shown beside the scores, never inside them.

    The peers family returns ``{"peer_ratings": ...}`` here.

    :return: a dict of section name -> JSON value, or None.
    """


@hookspec(firstresult=True)
def harness_gate(scorecard: "dict[str, Any]", fail_on: str, baseline: "Path | None") -> "int | None":
    """Decide the exit code of ``harness audit`` / ``harness demo`` for one scorecard.

    firstresult; the core answers last: 1 when a failure has a severity at or
    above ``fail_on``, else 0, and refuses ``--baseline`` (exit 2) when no plugin
    handles baselines. The selftest family answers when a baseline is given.

    :param scorecard: the finished scorecard.
    :param fail_on: a severity name, or ``none``.
    :param baseline: the ``--baseline`` file, or None.
    :return: 0 (ok), 1 (failures) or 2 (unusable baseline).
    """


@hookspec
def harness_session_finish(session: "Session", scorecard: "dict[str, Any]") -> None:
    """Called after the scorecard is built and validated, before reporters write it.

    :param scorecard: the scorecard dict; read it, don't change it.
    """
