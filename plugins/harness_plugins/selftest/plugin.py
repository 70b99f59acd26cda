"""selftest: what a vendor needs to test its own product in its own CI.

Harness hooks of this family:

- ``harness_gate`` with ``--baseline FILE``: fail only on failures the
  expected-failures baseline does not cover (see :mod:`.baseline`);
- ``harness_register_reporters``: ``sarif`` (``results.sarif``, SARIF 2.1.0);
- ``harness_register_commands``: ``harness baseline create|check``,
  ``harness diff OLD NEW`` and ``harness sarif SCORECARD``;
- ``harness_session_finish``: remembers which profile a run audited, so SARIF
  can point results without a file location at the profile's target section.

The pytest plugin (``pytest --harness-profile vendor.toml``) is
:mod:`.pytest_plugin`. Documentation: ``docs/selftest.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.registry import Reporter

__version__ = "0.1.0"


@hookimpl
def harness_gate(scorecard: dict[str, Any], fail_on: str, baseline: Path | None) -> int | None:
    """With a baseline: 1 on new or expired failures, 2 for an unusable baseline; else the core decides."""
    if baseline is None:
        return None
    from . import baseline as _baseline

    return _baseline.gate(scorecard, fail_on, baseline)


@hookimpl
def harness_session_finish(session, scorecard: dict[str, Any]) -> None:
    from .sarif import PROFILES

    PROFILES[scorecard["run"]["id"]] = Path(session.profile.path)


@hookimpl
def harness_register_reporters() -> list[Reporter]:
    from .sarif import write_sarif

    return [Reporter("sarif", "results.sarif: SARIF 2.1.0 for code-scanning interfaces", write_sarif, default=True)]


@hookimpl
def harness_register_commands(cli) -> None:
    from .commands import baseline_group, diff_command, sarif_command

    for command in (baseline_group, diff_command, sarif_command):
        if command.name not in cli.commands:
            cli.add_command(command)

