"""Helpers for testing checks, for this project and for third-party plugin authors.

``run_check`` runs one check on one target the way the runner does (findings
normalised, exceptions turned into ``error``); ``audit_demo`` serves a demo
vendor on loopback and audits it; ``results_of`` picks a check's results out of
a scorecard.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Iterator

from .checks import Check
from .model import CheckResult
from .plugins import PluginHost
from .runner import run_item
from .session import AuditOptions, Session


def run_check(check: Check, target: Any, item_id: str | None = None) -> list[CheckResult]:
    """Run ``check`` over every item of ``target`` (or only ``item_id``); returns the results."""
    host = PluginHost(autoload=False)
    results = []
    for iid, item in check.collect(target):
        if item_id is None or iid == item_id:
            results.append(run_item(host.hook, check, iid, item, target))
    return results


@contextlib.contextmanager
def serve_demo(variant: str, host: PluginHost | None = None) -> Iterator[str]:
    """Serve a demo vendor's endpoints on 127.0.0.1; yields the origin URL."""
    from .demo import DemoServer, demo_routes

    host = host or PluginHost()
    with DemoServer(demo_routes(host.hook, variant)) as server:
        yield server.url


def demo_profile(variant: str) -> Path:
    from .demo import vendor_dir

    return vendor_dir(variant) / "vendor.toml"


def audit_demo(variant: str, options: AuditOptions | None = None) -> dict[str, Any]:
    """Serve and audit a demo vendor; returns its scorecard."""
    options = options or AuditOptions()
    with serve_demo(variant) as url:
        # a copy: the caller's options keep their variables (no stale URL of a stopped server)
        options = dataclasses.replace(options, variables={**options.variables, "HARNESS_DEMO_URL": url})
        return Session(demo_profile(variant), options).run()


def results_of(card: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [r for r in card["results"] if r["check_id"] == check_id]


def statuses_of(card: dict[str, Any], check_id: str) -> list[str]:
    return [r["status"] for r in results_of(card, check_id)]
