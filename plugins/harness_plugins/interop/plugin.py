"""interop plugin: registers the ``fhir`` target kind, the interop checks and the demo FHIR routes."""

from __future__ import annotations

from harness import TargetKind, hookimpl

from . import checks, demo
from .requirements import REQUIREMENTS
from .target import PATH_KEYS, SCHEMA, FhirTarget

__version__ = "0.2.0"


@hookimpl
def harness_register_target_kinds():
    return [TargetKind("fhir", SCHEMA, lambda config, profile: FhirTarget(config, base_dir=profile.base_dir),
                       description="A FHIR R4 base URL with its authentication (none, bearer, SMART Backend Services)",
                       path_keys=PATH_KEYS)]


@hookimpl
def harness_register_checks():
    return list(checks.ALL)


@hookimpl
def harness_register_requirements():
    return list(REQUIREMENTS)


@hookimpl
def harness_demo_routes(vendor_dir, variant):
    return demo.routes(vendor_dir, variant)
