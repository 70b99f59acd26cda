"""Checks of the interop family: thin views over the target's probes (see ``probes.py``).

Items are the resource types (or search parameters, includes) the server
declares among those audited, so a declared capability is always tested and
an undeclared one never held against the server.
"""

from __future__ import annotations

from harness import check

from . import requirements as R
from .target import FhirTarget


# ----------------------------------------------------------------------------- items

def _types_with(interaction: str | None):
    def items(target: FhirTarget):
        cap = target.capability
        for rtype in target.audited_types():
            decl = cap.declared(rtype)
            if interaction is None or not cap.usable or (decl is not None and decl.has(interaction)):
                yield rtype, rtype
    return items


def _search_params(target: FhirTarget):
    for rtype in target.audited_types():
        decl = target.capability.declared(rtype)
        for name in (decl.search_params if decl else {}):
            yield f"{rtype}?{name}", (rtype, name)


def _includes(target: FhirTarget):
    for rtype in target.audited_types():
        decl = target.capability.declared(rtype)
        for include in (decl.includes if decl else []):
            yield f"{rtype}?_include={include}", (rtype, include)


def _declared_items(target: FhirTarget):
    yield "server", None
    for rtype in target.audited_types():
        if target.capability.declared(rtype) is not None:
            yield rtype, rtype


_FR_TYPES = ("Patient", "Practitioner", "PractitionerRole", "Organization")


def _fr_types(target: FhirTarget):
    for rtype in target.audited_types():
        if rtype in _FR_TYPES:
            yield rtype, rtype


# ----------------------------------------------------------------------------- capabilities

@check(
    "interop.capability.statement",
    title="/metadata returns a valid FHIR R4 CapabilityStatement",
    severity="high",
    requirements=[R.CAPABILITY, R.HTTP_CAPABILITIES],
    target="fhir",
)
def capability_statement(target: FhirTarget, _item):
    """The server must answer ``GET [base]/metadata`` with a CapabilityStatement
    declaring fhirVersion 4.0.x, the JSON format, a ``server`` rest entry and, for each
    resource, valid interactions and typed search parameters; the resource itself is
    validated with the shared R4 validator."""
    return target.probes.capability()


@check(
    "interop.capability.declared",
    title="Every capability the CapabilityStatement declares actually works",
    severity="critical",
    requirements=[R.DECLARED, R.CAPABILITY],
    target="fhir",
    items=_declared_items,
)
def capability_declared(target: FhirTarget, item):
    """The heart of the "interoperable" claim: for each audited resource type, every
    declared interaction (read, vread, history-instance, search-type), search parameter
    and ``_include`` is exercised, and each one that does not work is a failure of its
    own (item ``server``: declared formats)."""
    if item is None:
        return target.probes.declared_server()
    return target.probes.declared(item)


# ----------------------------------------------------------------------------- content negotiation

@check(
    "interop.format.content_type",
    title="FHIR JSON answers carry Content-Type application/fhir+json",
    severity="medium",
    requirements=[R.MIME],
    target="fhir",
)
def format_content_type(target: FhirTarget, _item):
    """Successful answers to requests with ``Accept: application/fhir+json`` (metadata,
    searches, reads) must be labelled ``application/fhir+json``; ``application/json`` is a
    warning, anything else (text/plain, text/html…) a failure."""
    return target.probes.content_type()


@check(
    "interop.format.param",
    title="_format selects the response format; declared formats are served",
    severity="low",
    requirements=[R.FORMAT, R.MIME],
    target="fhir",
)
def format_param(target: FhirTarget, _item):
    """``_format=json`` and ``_format=application/fhir+json`` SHOULD give FHIR JSON (warning
    otherwise); a format the CapabilityStatement declares (e.g. XML) that is served neither
    with ``_format`` nor with ``Accept`` is a failure."""
    return target.probes.format_param()


@check(
    "interop.format.accept",
    title="Unsupported or generic Accept headers are handled sensibly",
    severity="low",
    requirements=[R.MIME],
    target="fhir",
)
def format_accept(target: FhirTarget, _item):
    """An unsupported ``Accept`` should get 406 — a default representation is tolerated
    (warning: HTTP allows it), a server error or an HTML page is a failure. ``Accept:
    application/json`` should give JSON and ``*/*`` a FHIR format (warnings otherwise)."""
    return target.probes.accept()


@check(
    "interop.format.unsupported_body",
    title="A request body in an unsupported Content-Type gets 415",
    severity="low",
    requirements=[R.MIME, R.SEARCH],
    target="fhir",
)
def format_unsupported_body(target: FhirTarget, _item):
    """``POST [type]/_search`` with an unsupported Content-Type: 415 passes, 405 (no POST
    search) is allowed, other 4xx are warnings, a 5xx or an HTML page a failure."""
    return target.probes.content_type_415()


# ----------------------------------------------------------------------------- read

@check(
    "interop.read.resource",
    title="read returns the resource with ETag / meta.versionId and Last-Modified",
    severity="high",
    requirements=[R.READ, R.VERSIONING],
    target="fhir",
    items=_types_with("read"),
)
def read_resource(target: FhirTarget, rtype: str):
    """``GET [type]/[id]`` for an id the server itself returned: 200 with that resource;
    ETag must match ``W/"meta.versionId"`` (mismatch fails; missing ETag, versionId or
    Last-Modified are warnings — SHOULDs)."""
    return target.probes.read(rtype)


@check(
    "interop.read.vread",
    title="vread returns the requested version (when declared)",
    severity="medium",
    requirements=[R.VREAD],
    target="fhir",
    items=_types_with("vread"),
)
def read_vread(target: FhirTarget, rtype: str):
    """For resource types declaring ``vread``: ``GET [type]/[id]/_history/[vid]`` returns
    that version."""
    return target.probes.vread(rtype)


@check(
    "interop.read.history",
    title="instance history returns a history Bundle (when declared)",
    severity="medium",
    requirements=[R.HISTORY],
    target="fhir",
    items=_types_with("history-instance"),
)
def read_history(target: FhirTarget, rtype: str):
    """For resource types declaring ``history-instance``: ``GET [type]/[id]/_history`` returns
    a Bundle of type ``history`` holding versions of that resource only."""
    return target.probes.history(rtype)


# ----------------------------------------------------------------------------- search

@check(
    "interop.search.params",
    title="Each declared search parameter actually filters the results",
    severity="high",
    requirements=[R.SEARCH, R.SEARCH_PARAMS],
    target="fhir",
    items=_search_params,
)
def search_params(target: FhirTarget, item):
    """Per declared parameter: a value nothing can match must return nothing (else the
    parameter is silently ignored), and a value taken from a returned resource must return
    that resource and only resources that match (checked on the returned data with R4
    search semantics)."""
    rtype, name = item
    return target.probes.search_param(rtype, name)


@check(
    "interop.search.count",
    title="_count is honoured (never more results per page)",
    severity="medium",
    requirements=[R.COUNT],
    target="fhir",
    items=_types_with("search-type"),
)
def search_count(target: FhirTarget, rtype: str):
    """``[type]?_count=2`` must not return more than two results on a page."""
    return target.probes.count(rtype)


@check(
    "interop.search.paging",
    title="Paging via Bundle.link next returns every result once",
    severity="high",
    requirements=[R.PAGING, R.SEARCH],
    target="fhir",
    items=_types_with("search-type"),
)
def search_paging(target: FhirTarget, rtype: str):
    """Following ``next`` links of ``[type]?_count=2`` must return the same resources as the
    unpaged search: no duplicates, no gaps, no loops, no link to another host."""
    return target.probes.paging(rtype)


@check(
    "interop.search.total",
    title="Bundle.total matches the results and is the same on every page",
    severity="medium",
    requirements=[R.TOTAL],
    target="fhir",
    items=_types_with("search-type"),
)
def search_total(target: FhirTarget, rtype: str):
    """When a searchset carries ``total`` it must equal the number of matches and be the
    same on every page; no total at all is allowed."""
    return target.probes.total(rtype)


@check(
    "interop.search.include",
    title="Each declared _include returns the referenced resources",
    severity="medium",
    requirements=[R.INCLUDE],
    target="fhir",
    items=_includes,
)
def search_include(target: FhirTarget, item):
    """Per declared ``searchInclude``: every resource referenced by the first page of
    matches appears in the Bundle (search.mode ``include``)."""
    rtype, include = item
    return target.probes.include(rtype, include)


# ----------------------------------------------------------------------------- errors

@check(
    "interop.errors.not_found",
    title="Unknown resource or type gives 404 with an OperationOutcome",
    severity="medium",
    requirements=[R.HTTP_STATUS, R.OUTCOME],
    target="fhir",
)
def errors_not_found(target: FhirTarget, _item):
    """``GET [type]/<unknown id>`` must give 404 (or 410) and ``GET [base]/<unknown type>``
    404 (400 tolerated); a success status or an HTML page with 200 fails; an error body
    that is not an OperationOutcome is a warning (SHOULD)."""
    return target.probes.not_found()


@check(
    "interop.errors.invalid_param",
    title="Invalid search parameters give 400 with an OperationOutcome",
    severity="medium",
    requirements=[R.SEARCH_ERRORS, R.OUTCOME],
    target="fhir",
)
def errors_invalid_param(target: FhirTarget, _item):
    """An unknown parameter with ``Prefer: handling=strict`` and an invalid value of a
    declared date parameter: 400 with an OperationOutcome passes, 200 with an outcome entry
    is allowed, a silent 200 is a warning, a 5xx or an HTML page a failure."""
    return target.probes.invalid_param()


@check(
    "interop.errors.auth",
    title="Missing or invalid credentials are refused with 401",
    severity="critical",
    requirements=[R.RFC6750, R.SECURITY, R.SMART],
    target="fhir",
)
def errors_auth(target: FhirTarget, _item):
    """With authentication configured: a protected read without credentials and with an
    invalid bearer token must get 401 (with WWW-Authenticate); data served either way is a
    critical failure. With SMART Backend Services, a client assertion signed by an
    unregistered key must not get a token."""
    return target.probes.auth()


# ----------------------------------------------------------------------------- resources

@check(
    "interop.resources.r4",
    title="Returned resources are valid FHIR R4",
    severity="high",
    requirements=[R.VALIDATION, R.BINDINGS, R.JSON_FORMAT],
    target="fhir",
    items=_types_with("search-type"),
)
def resources_r4(target: FhirTarget, rtype: str):
    """Every resource the harness read (search pages, reads) goes through the shared R4
    validator (structure, cardinality, types, required bindings); codes from systems the
    rule pack does not hold are ``review``, never ``fail``."""
    return target.probes.r4_valid(rtype)


@check(
    "interop.resources.frcore",
    title="Resources claiming an FR Core profile conform to it",
    severity="high",
    requirements=[R.FR_PATIENT, R.FR_PRACTITIONER, R.FR_ORGANIZATION],
    target="fhir",
    items=_types_with("search-type"),
)
def resources_frcore(target: FhirTarget, rtype: str):
    """Resources whose ``meta.profile`` — or whose type's CapabilityStatement profile — is an
    FR Core profile are validated against it; only issues beyond plain R4 are reported."""
    return target.probes.fr_core(rtype)


@check(
    "interop.resources.identifiers",
    title="French identifiers carry valid keys (INS-NIR, RPPS, FINESS)",
    severity="high",
    requirements=[R.INS_NIR, R.RPPS, R.FINESS, R.FR_PATIENT],
    target="fhir",
    items=_fr_types,
)
def resources_identifiers(target: FhirTarget, rtype: str):
    """INS-NIR (``urn:oid:1.2.250.1.213.1.4.8``): 13 characters + key 97 − (n mod 97);
    RPPS (``urn:oid:1.2.250.1.71.4.2.1``): 11 digits (optionally prefixed 8) with a Luhn key;
    FINESS (``urn:oid:1.2.250.1.71.4.2.2``): 9 characters with a Luhn key."""
    return target.probes.identifiers(rtype)


# ----------------------------------------------------------------------------- transport

@check(
    "interop.transport.tls",
    title="The endpoint is served over verified TLS",
    severity="critical",
    requirements=[R.SECURITY],
    target="fhir",
)
def transport_tls(target: FhirTarget, _item):
    """Patient data must not travel in clear: an https base URL whose certificate verifies
    passes; a certificate that does not verify, or plain HTTP off loopback, fails (decided
    from the declared URL even when the host cannot be reached); ``verify_tls = false`` is
    a warning. Plain HTTP on loopback passes: nothing leaves the machine."""
    return target.transport_probe()


ALL = [capability_statement, capability_declared, format_content_type, format_param, format_accept,
       format_unsupported_body, read_resource, read_vread, read_history, search_params, search_count, search_paging,
       search_total, search_include, errors_not_found, errors_invalid_param, errors_auth, resources_r4,
       resources_frcore, resources_identifiers, transport_tls]
