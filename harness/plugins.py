"""The pluggy plugin manager: built-ins and third parties load the same way.

Every plugin, built-in or not, is an entry point in the ``harness`` group
(``pyproject.toml`` lists the built-ins). ``-p no:NAME`` or the profile's
``[harness] disable_plugins`` disable one; ``-p module.path`` loads a module as a
plugin without installing it. ``HARNESS_DISABLE_PLUGIN_AUTOLOAD=1`` loads only
the essential plugins; ``HARNESS_PLUGINS=mod1,mod2`` loads modules by import
name (like ``PYTEST_PLUGINS``); ``HARNESS_TRACE_PLUGINS=1`` traces every hook call.
A plugin that fails to import is recorded with its error and the run goes on.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "harness"
#: Plugins the harness cannot run without; they cannot be disabled.
ESSENTIAL_PLUGINS = ("core-runner", "reporter-json")


@dataclass
class PluginInfo:
    """What ``harness plugins`` and the scorecard say about one plugin."""

    name: str
    module: str
    version: str | None
    dist: str | None
    status: str  # loaded | disabled | error
    error: str | None = None
    hooks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "module": self.module,
            "version": self.version,
            "dist": self.dist,
            "status": self.status,
            "hooks": sorted(self.hooks),
        }
        if self.error:
            data["error"] = self.error
        return data


class PluginHost:
    """A pluggy manager plus the record of what loaded, what was disabled and what broke."""

    def __init__(self, *, disable: Iterable[str] = (), extra: Iterable[str] = (), autoload: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        disabled = {d for d in disable if d not in ESSENTIAL_PLUGINS}
        if autoload is None:
            autoload = os.environ.get("HARNESS_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if not autoload and ep.name not in ESSENTIAL_PLUGINS:
                continue
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            if any(i.name == ep.name for i in self.infos):
                continue  # the same distribution seen twice on sys.path
            if ep.name in disabled or ep.value in disabled:
                self.infos.append(PluginInfo(ep.name, ep.value, version, dist, "disabled"))
                continue
            self._load(ep.name, ep.value, lambda ep=ep: ep.load(), version, dist)
        env_plugins = [m.strip() for m in os.environ.get("HARNESS_PLUGINS", "").split(",") if m.strip()]
        for module in [*extra, *env_plugins]:
            if any(i.name == module for i in self.infos):
                continue
            self._load(module, module, lambda m=module: importlib.import_module(m), None, None)
        if os.environ.get("HARNESS_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
            self.pm.enable_tracing()

    def _load(self, name: str, module: str, loader, version: str | None, dist: str | None) -> None:
        try:
            obj = loader()
            self.pm.register(obj, name=name)
        except Exception as exc:  # a broken plugin must not take the others down
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.infos.append(PluginInfo(name, module, version, dist, "error", error=detail))
            return
        if version is None:
            version = getattr(obj, "__version__", None)
        hooks = [h.name for h in self.pm.get_hookcallers(obj) or []]
        self.infos.append(PluginInfo(name, module, version, dist, "loaded", hooks=hooks))

    def register(self, obj: Any, name: str) -> None:
        """Register an in-process plugin object (tests, embedding)."""
        self.pm.register(obj, name=name)
        hooks = [h.name for h in self.pm.get_hookcallers(obj) or []]
        self.infos.append(PluginInfo(name, getattr(obj, "__name__", type(obj).__name__), getattr(obj, "__version__", None), None, "loaded", hooks=hooks))

    def record_errors(self, errors: dict[str, str]) -> None:
        """Mark plugins that loaded but broke later (e.g. while registering) as ``error``."""
        for info in self.infos:
            if info.name in errors:
                info.status = "error"
                info.error = errors[info.name]

    @property
    def hook(self):
        return self.pm.hook

    def describe(self) -> list[dict[str, Any]]:
        return [i.to_dict() for i in sorted(self.infos, key=lambda i: i.name)]
