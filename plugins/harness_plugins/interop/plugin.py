"""interop plugin: registers the ``fhir`` target kind, the interop checks and the demo FHIR routes."""

from __future__ import annotations

from harness import Requirement, TargetKind, hookimpl

from . import checks, demo
from .target import SCHEMA, FhirTarget

__version__ = "0.1.0"

R4 = "https://hl7.org/fhir/R4"


@hookimpl
def harness_register_target_kinds():
    return [TargetKind("fhir", SCHEMA, lambda config, profile: FhirTarget(config),
                       description="A FHIR R4 base URL with its authentication")]


@hookimpl
def harness_register_checks():
    return [checks.capability_statement]


@hookimpl
def harness_register_requirements():
    return [
        Requirement("FHIR-R4:capabilitystatement", "CapabilityStatement resource", "HL7 FHIR R4 4.0.1",
                    f"{R4}/capabilitystatement.html"),
        Requirement("FHIR-R4:http.capabilities", "RESTful API: capabilities interaction", "HL7 FHIR R4 4.0.1",
                    f"{R4}/http.html#capabilities"),
    ]


@hookimpl
def harness_demo_routes(vendor_dir, variant):
    return demo.routes(vendor_dir, variant)
