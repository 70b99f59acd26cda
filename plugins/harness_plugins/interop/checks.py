"""Checks of the interop family."""

from __future__ import annotations

import json

import httpx

from harness import Evidence, TargetError, check, failed, passed
from harness.safety import UnsafeInput

CAPABILITY_REQ = "FHIR-R4:capabilitystatement"


@check(
    "interop.capability.statement",
    title="/metadata returns a valid FHIR R4 CapabilityStatement",
    severity="high",
    requirements=[CAPABILITY_REQ, "FHIR-R4:http.capabilities"],
    target="fhir",
)
def capability_statement(target, _item):
    """The server must answer ``GET [base]/metadata`` with a CapabilityStatement
    declaring fhirVersion 4.0.x, the JSON format, a ``server`` rest entry and, for each
    resource, its interactions."""
    try:
        fetched = target.get("metadata")
    except (httpx.HTTPError, UnsafeInput) as exc:
        raise TargetError(f"GET {target.url('metadata')} failed: {exc}") from exc
    evidence = [Evidence.from_http(fetched.exchange)]
    if fetched.status != 200:
        yield failed(f"/metadata answered HTTP {fetched.status}", message_id="interop.capability.http_status",
                     evidence=evidence)
        return
    try:
        body = fetched.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        yield failed(f"/metadata body is not JSON: {exc}", message_id="interop.capability.not_json", evidence=evidence)
        return
    problems = []
    if not isinstance(body, dict) or body.get("resourceType") != "CapabilityStatement":
        kind = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        yield failed(f"/metadata returned {kind!r}, not a CapabilityStatement",
                     message_id="interop.capability.wrong_type", evidence=evidence)
        return
    version = str(body.get("fhirVersion", ""))
    if not version.startswith("4.0."):
        problems.append(("interop.capability.fhir_version", f"fhirVersion is {version or 'missing'!r}, not 4.0.x"))
    formats = body.get("format") or []
    if not any(f in ("json", "application/fhir+json", "application/json") for f in formats):
        problems.append(("interop.capability.format", f"format {formats!r} does not declare JSON"))
    servers = [r for r in body.get("rest") or [] if r.get("mode") == "server"]
    if not servers:
        problems.append(("interop.capability.rest_mode", "no rest entry with mode 'server'"))
    for rest in servers:
        for resource in rest.get("resource") or []:
            if not resource.get("interaction"):
                problems.append(("interop.capability.interactions",
                                 f"resource {resource.get('type')!r} declares no interaction"))
    for message_id, message in problems:
        yield failed(message, message_id=message_id, evidence=evidence)
    if not problems:
        types = sorted(r.get("type", "?") for rest in servers for r in rest.get("resource") or [])
        yield passed(f"CapabilityStatement R4 {version}, {len(types)} resource types: {', '.join(types)}",
                     message_id="interop.capability.ok", evidence=evidence)
