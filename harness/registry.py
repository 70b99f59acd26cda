"""Registries built from the plugins' registration hooks.

The runner, the CLI and the docs tests all read these, so adding a check,
target kind or reporter anywhere shows up everywhere.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .checks import Check
from .model import Requirement


class RegistryError(Exception):
    """Plugins contradict each other (e.g. two register the same check id)."""


@dataclass(frozen=True)
class TargetKind:
    """A ``[targets.<name>]`` profile section a plugin understands.

    ``schema`` is a JSON Schema for the section's keys; ``path_keys`` are keys
    whose values (string or list of strings/globs) are relative to the profile.
    ``factory(config, profile)`` builds the target object.
    """

    name: str
    schema: dict[str, Any]
    factory: Callable[[dict[str, Any], Any], Any]
    description: str = ""
    path_keys: tuple[str, ...] = ()
    plugin: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Reporter:
    """An output format: ``write(scorecard, out_dir)`` returns the file it wrote."""

    name: str
    description: str
    write: Callable[[dict[str, Any], Path], Path]
    default: bool = False
    plugin: str | None = field(default=None, compare=False)


def _flatten(pm, hook_name: str, errors: dict[str, str]) -> list[tuple[str, Any]]:
    """Call a registration hook and pair each returned object with its plugin name.

    A plugin whose registration raises is recorded in ``errors`` (plugin name ->
    reason) and contributes nothing; the other plugins are unaffected.
    """
    caller = getattr(pm.hook, hook_name)
    out: list[tuple[str, Any]] = []
    for impl in caller.get_hookimpls():
        try:
            returned = list(impl.function() or ())
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not take the harness down
            reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            errors.setdefault(impl.plugin_name, f"{hook_name} failed: {reason}")
            continue
        for obj in returned:
            out.append((impl.plugin_name, obj))
    return out


@dataclass
class Registry:
    checks: dict[str, Check]
    requirements: dict[str, Requirement]
    target_kinds: dict[str, TargetKind]
    reporters: dict[str, Reporter]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, pm) -> "Registry":
        errors: dict[str, str] = {}
        checks: dict[str, Check] = {}
        for plugin, chk in _flatten(pm, "harness_register_checks", errors):
            if not isinstance(chk, Check):
                raise RegistryError(f"plugin {plugin!r} registered {chk!r}, which is not a Check")
            if chk.id in checks:
                raise RegistryError(
                    f"check id {chk.id!r} is registered by two plugins: {checks[chk.id].plugin!r} and {plugin!r}"
                )
            object.__setattr__(chk, "plugin", plugin)
            checks[chk.id] = chk
        requirements: dict[str, Requirement] = {}
        for _plugin, req in _flatten(pm, "harness_register_requirements", errors):
            requirements.setdefault(req.id, req)
        kinds: dict[str, TargetKind] = {}
        for plugin, kind in _flatten(pm, "harness_register_target_kinds", errors):
            if kind.name in kinds:
                raise RegistryError(
                    f"target kind {kind.name!r} is registered by two plugins: {kinds[kind.name].plugin!r} and {plugin!r}"
                )
            object.__setattr__(kind, "plugin", plugin)
            kinds[kind.name] = kind
        reporters: dict[str, Reporter] = {}
        for plugin, rep in _flatten(pm, "harness_register_reporters", errors):
            object.__setattr__(rep, "plugin", plugin)
            reporters.setdefault(rep.name, rep)
        return cls(
            checks=dict(sorted(checks.items())),
            requirements=dict(sorted(requirements.items())),
            target_kinds=kinds,
            reporters=reporters,
            errors=errors,
        )
