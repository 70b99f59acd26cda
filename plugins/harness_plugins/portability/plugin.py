"""portability plugin: the ``export`` target kind, the portability checks, the demo ``$export`` endpoints.

A vendor's full data export (archive handed to a leaving doctor and/or a FHIR
Bulk Data ``$export`` endpoint) is audited for completeness against a seeded
reference dataset, open formats, integrity (references, attachments,
manifest), NDJSON validity at scale and the Bulk Data flow. See
``docs/portability.md``.
"""

from __future__ import annotations

from typing import Any

from harness import TargetKind, hookimpl

from . import checks, demo
from .requirements import REQUIREMENTS
from .target import PATH_KEYS, SCHEMA, ExportTarget

__version__ = "0.1.0"

#: Progress bars of running sessions, by profile identity (the CLI's bar when it shows one).
_PROGRESS: dict[int, Any] = {}


def _make_target(config: dict[str, Any], profile: Any) -> ExportTarget:
    target = ExportTarget(config, progress=_PROGRESS.get(id(profile)),
                          base_dir=getattr(profile, "base_dir", None))
    try:
        target.prepare()
    except BaseException:
        target.close()
        raise
    return target


@hookimpl
def harness_register_target_kinds():
    return [TargetKind("export", SCHEMA, _make_target, path_keys=PATH_KEYS,
                       description="A vendor's full data export: folder/zip/tar.gz (path) and/or FHIR Bulk Data "
                                   "$export (bulk_url), with the seeded dataset it must bring back (expected)")]


@hookimpl
def harness_register_checks():
    return list(checks.ALL)


@hookimpl
def harness_register_requirements():
    return list(REQUIREMENTS)


@hookimpl
def harness_demo_routes(vendor_dir, variant):
    return demo.routes(vendor_dir, variant)


@hookimpl
def harness_session_start(session):
    display = session.host.pm.get_plugin("progress-display")
    progress = getattr(display, "progress", None)
    if progress is not None:
        _PROGRESS[id(session.profile)] = progress


@hookimpl
def harness_session_finish(session, scorecard):
    _PROGRESS.pop(id(session.profile), None)
