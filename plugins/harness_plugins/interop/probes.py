"""Probes: what the harness asks the endpoint, once, and what it concludes.

Each probe sends its requests through the target (memoized, so a request is
sent once however many checks need it) and returns findings with the HTTP
exchanges they rest on. Checks are thin views over probes; the
"declared but not working" check (``interop.capability.declared``) re-reads the
same probe results for every capability the CapabilityStatement claims.

Conventions, so that a conformant server never gets a false failure:

- SHALL / MUST broken -> ``fail``; SHOULD broken or behaviour the spec leaves
  open -> ``warn``; the harness or the server could not decide (transport
  failure, rate limiting after retries) -> ``error``; a person must judge ->
  ``review``.
- An error body that is not an OperationOutcome is a finding, never a crash.
- A 200 answer carrying an HTML page is always a ``fail``.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from harness import Evidence, Finding, Status, errored, failed, not_applicable, passed, review, warned
from harness_plugins._common.identifiers import check_finess, check_nir, check_rpps

from . import requirements as R
from .http import OMIT_HEADERS, Reply, same_origin_allowed
from .searchparams import ParamDef, matches, negative_value, param_def, pick_value, ref_key

if TYPE_CHECKING:  # pragma: no cover
    from .target import FhirTarget

FHIR_JSON = "application/fhir+json"
JSON_TYPES = ("application/fhir+json", "application/json+fhir", "application/json")
XML_TYPES = ("application/fhir+xml", "application/xml+fhir", "application/xml", "text/xml")
SYSTEM_INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
SYSTEM_RPPS = "urn:oid:1.2.250.1.71.4.2.1"
SYSTEM_FINESS = "urn:oid:1.2.250.1.71.4.2.2"
INTERACTION_CODES = frozenset({"read", "vread", "update", "patch", "delete", "history-instance", "history-type",
                               "create", "search-type"})
PARAM_TYPES = frozenset({"number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"})
UNKNOWN_ID = "harness-unknown-id-7f3a"
UNKNOWN_TYPE = "HarnessUnknownType"
UNKNOWN_PARAM = "harness-unknown-param"
MAX_LISTED = 20


def evidence_of(*replies: Reply | None) -> list[Evidence]:
    out: list[Evidence] = []
    seen: set[tuple] = set()
    for reply in replies:
        if reply is None:
            continue
        for exchange in reply.exchanges:
            key = (exchange.method, exchange.url, exchange.status, exchange.body_sha256, exchange.error)
            if key not in seen:
                seen.add(key)
                out.append(Evidence.from_http(exchange))
    return out


def _excerpt(reply: Reply, size: int = 120) -> str:
    text = reply.body[:size].decode("utf-8", "replace").replace("\n", " ").strip()
    return text + ("…" if len(reply.body) > size else "")


def transport_problem(reply: Reply, what: str, **kw: Any) -> Finding | None:
    """error when the exchange could not decide anything (transport failure, throttled after retries)."""
    if reply.error is not None:
        return errored(f"{what}: {reply.error}", message_id=f"interop.http.{reply.error_kind or 'transport'}",
                       evidence=evidence_of(reply), **kw)
    if reply.status in (429, 503):
        extra = f" (Retry-After {reply.header('retry-after')})" if reply.header("retry-after") else ""
        return errored(f"{what}: the server answered HTTP {reply.status}{extra} even after "
                       f"{len(reply.history)} retries; nothing could be concluded",
                       message_id="interop.http.unavailable", evidence=evidence_of(reply), **kw)
    return None


def _with_reqs(kw: dict[str, Any], *extra: str) -> dict[str, Any]:
    """``kw`` with ``extra`` requirement ids added to any it already names."""
    out = dict(kw)
    out["requirement_ids"] = tuple(dict.fromkeys((*kw.get("requirement_ids", ()), *extra)))
    return out


def html_with_200(reply: Reply, what: str, **kw: Any) -> Finding | None:
    if reply.error is None and reply.status == 200 and reply.looks_like_html():
        return failed(f"{what}: HTTP 200 with an HTML page instead of FHIR JSON ({_excerpt(reply, 80)!r})",
                      message_id="interop.http.html_200", evidence=evidence_of(reply),
                      **_with_reqs(kw, R.MIME, R.OUTCOME))
    return None


def expect_resource(reply: Reply, what: str, resource_type: str | None = None,
                    statuses: Iterable[int] = (200,), **kw: Any) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The FHIR resource in a successful answer, or the findings saying why there is none."""
    problem = transport_problem(reply, what, **kw) or html_with_200(reply, what, **kw)
    if problem:
        return None, [problem]
    evidence = evidence_of(reply)
    if reply.status not in tuple(statuses):
        detail = ""
        outcome = reply.resource()
        if outcome and outcome.get("resourceType") == "OperationOutcome":
            detail = f": {outcome_text(outcome)}"
        return None, [failed(f"{what}: HTTP {reply.status}{detail}", message_id="interop.http.status",
                             evidence=evidence, **kw)]
    body = reply.resource()
    if body is None:
        try:
            reply.json()
            why = "JSON without a resourceType"
        except ValueError as exc:
            why = str(exc)
        return None, [failed(f"{what}: the answer is not a FHIR JSON resource ({why}; Content-Type "
                             f"{reply.media_type or 'missing'})", message_id="interop.http.not_fhir_json",
                             evidence=evidence, **_with_reqs(kw, R.JSON_FORMAT, R.MIME))]
    if resource_type and body.get("resourceType") != resource_type:
        extra = f": {outcome_text(body)}" if body.get("resourceType") == "OperationOutcome" else ""
        return None, [failed(f"{what}: expected a {resource_type}, got {body.get('resourceType')!r}{extra}",
                             message_id="interop.http.wrong_resource_type", evidence=evidence, **kw)]
    return body, []


def outcome_text(outcome: dict[str, Any]) -> str:
    parts = []
    for issue in outcome.get("issue") or []:
        if isinstance(issue, dict):
            parts.append(f"{issue.get('severity', '?')}/{issue.get('code', '?')}"
                         + (f" {issue.get('diagnostics')}" if issue.get("diagnostics") else ""))
    return "; ".join(parts)[:300] or "OperationOutcome without issue"


def is_operation_outcome(reply: Reply) -> bool:
    body = reply.resource()
    return bool(body and body.get("resourceType") == "OperationOutcome" and body.get("issue"))


def rkey(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _first(findings: list[Finding], *statuses: Status) -> Finding | None:
    return next((f for f in findings if f.status in statuses), None)


def worst_status(findings: list[Finding]) -> Status:
    from harness.model import worst

    return worst(f.status for f in findings) or Status.PASS


# ----------------------------------------------------------------------------- search walks

@dataclass
class Walk:
    """A search followed along its ``next`` links (bounded)."""

    resource_type: str
    params: tuple[tuple[str, str], ...]
    replies: list[Reply] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)  # search.mode = match
    includes: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    totals: list[int | None] = field(default_factory=list)
    page_sizes: list[int] = field(default_factory=list)
    complete: bool = False
    problems: list[Finding] = field(default_factory=list)
    paging_problems: list[Finding] = field(default_factory=list)
    source: dict[str, Reply] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return [rkey(r) for r in self.entries]

    @property
    def first(self) -> Reply | None:
        return self.replies[0] if self.replies else None

    def evidence(self, limit: int = 12) -> list[Evidence]:
        return evidence_of(*self.replies[:limit])


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


class Probes:
    """All probes of one target; results memoized on the target."""

    def __init__(self, target: "FhirTarget") -> None:
        self.t = target

    def _memo(self, key: Any, compute) -> Any:
        return self.t.memo.get(("probe", key), compute)

    # -- walks ---------------------------------------------------------------------------------

    def walk(self, resource_type: str, params: tuple[tuple[str, str], ...] = (), max_pages: int | None = None) -> Walk:
        limit = max_pages or self.t.max_pages
        return self._memo(("walk", resource_type, params, limit), lambda: self._walk(resource_type, params, limit))

    def _walk(self, resource_type: str, params: tuple[tuple[str, str], ...], max_pages: int) -> Walk:
        walk = Walk(resource_type, params)
        reply = self.t.get(resource_type, params=params)
        seen_urls: set[str] = set()
        label = f"search {resource_type}" + (f"?{'&'.join(f'{k}={v}' for k, v in params)}" if params else "")
        while True:
            walk.replies.append(reply)
            page = len(walk.replies)
            what = f"{label} (page {page})"
            bundle, problems = expect_resource(reply, what, "Bundle", requirement_ids=(R.SEARCH,))
            if problems:
                (walk.problems if page == 1 else walk.paging_problems).extend(problems)
                return walk
            assert bundle is not None
            if bundle.get("type") != "searchset":
                walk.problems.append(failed(f"{what}: Bundle.type is {bundle.get('type')!r}, not 'searchset'",
                                            message_id="interop.search.bundle_type", evidence=evidence_of(reply),
                                            requirement_ids=(R.SEARCH,)))
            total = bundle.get("total")
            walk.totals.append(total if isinstance(total, int) else None)
            matched = 0
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(resource, dict):
                    continue
                mode = (entry.get("search") or {}).get("mode")
                if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
                    walk.outcomes.append(resource)
                elif mode == "include" or (mode is None and resource.get("resourceType") != resource_type):
                    walk.includes.append(resource)
                else:
                    walk.entries.append(resource)
                    walk.source.setdefault(rkey(resource), reply)
                    matched += 1
            walk.page_sizes.append(matched)
            url = next_link(bundle)
            if url is None:
                walk.complete = True
                return walk
            seen_urls.add(reply.url)
            if url in seen_urls:
                walk.paging_problems.append(failed(
                    f"{what}: the next link points back to a page already read ({url}): paging loops",
                    message_id="interop.paging.loop", evidence=evidence_of(reply), requirement_ids=(R.PAGING,)))
                return walk
            if not same_origin_allowed(self.t.base_url, url):
                walk.paging_problems.append(failed(
                    f"{what}: the next link leaves the declared host ({url}); not followed",
                    message_id="interop.paging.offhost", evidence=evidence_of(reply), requirement_ids=(R.PAGING,)))
                return walk
            if page >= max_pages:
                return walk
            reply = self.t.get(url)

    def everything(self, resource_type: str) -> Walk:
        """All resources of a type the harness reads (``page_size`` per page, up to ``max_pages``)."""
        return self.walk(resource_type, (("_count", str(self.t.page_size)),))

    def searchable(self, resource_type: str) -> bool:
        decl = self.t.capability.declared(resource_type)
        return decl is None or decl.has("search-type") or not self.t.capability.usable

    def sample(self, resource_type: str) -> dict[str, Any] | None:
        walk = self.everything(resource_type)
        return walk.entries[0] if walk.entries else None

    # -- CapabilityStatement -------------------------------------------------------------------

    def capability(self) -> list[Finding]:
        return self._memo("capability", self._capability)

    def _capability(self) -> list[Finding]:
        cap = self.t.capability
        reply = cap.reply
        body, problems = expect_resource(reply, "GET [base]/metadata", "CapabilityStatement")
        if problems:
            return problems
        assert body is not None
        evidence = evidence_of(reply)
        out: list[Finding] = []
        version = str(body.get("fhirVersion", ""))
        if not version.startswith("4.0."):
            out.append(failed(f"fhirVersion is {version or 'missing'!r}, not 4.0.x",
                              message_id="interop.capability.fhir_version", evidence=evidence))
        formats = cap.formats
        if not any(f in ("json", *JSON_TYPES) for f in formats):
            out.append(failed(f"format {formats!r} does not declare JSON", message_id="interop.capability.format",
                              evidence=evidence))
        for key in ("status", "date", "kind"):
            if not body.get(key):
                out.append(failed(f"CapabilityStatement.{key} is missing (1..1 in R4)",
                                  message_id="interop.capability.required", evidence=evidence))
        servers = [r for r in body.get("rest") or [] if isinstance(r, dict) and r.get("mode") == "server"]
        if not servers:
            out.append(failed("no rest entry with mode 'server'", message_id="interop.capability.rest_mode",
                              evidence=evidence))
        for rest in servers:
            for res in rest.get("resource") or []:
                rtype = res.get("type") if isinstance(res, dict) else None
                codes = [i.get("code") for i in (res.get("interaction") or []) if isinstance(i, dict)] if rtype else []
                if not codes:
                    out.append(failed(f"resource {rtype!r} declares no interaction",
                                      message_id="interop.capability.interactions", evidence=evidence))
                bad = [c for c in codes if c not in INTERACTION_CODES]
                if bad:
                    out.append(failed(f"resource {rtype!r} declares unknown interaction codes {bad}",
                                      message_id="interop.capability.interaction_code", evidence=evidence))
                for sp in res.get("searchParam") or [] if rtype else []:
                    if not isinstance(sp, dict) or sp.get("type") not in PARAM_TYPES:
                        out.append(failed(f"resource {rtype!r}: search parameter {sp.get('name') if isinstance(sp, dict) else sp!r} "
                                          f"has no valid type", message_id="interop.capability.param_type",
                                          evidence=evidence))
        out.extend(self._validate_resource(body, evidence, "CapabilityStatement"))
        if not any(f.status in (Status.FAIL, Status.ERROR) for f in out):
            types = sorted(cap.resources)
            out.append(passed(f"CapabilityStatement R4 {version}, formats {', '.join(formats)}, "
                              f"{len(types)} resource types: {', '.join(types)}", message_id="interop.capability.ok",
                              evidence=evidence))
        return out

    def _validate_resource(self, resource: dict[str, Any], evidence: list[Evidence], label: str) -> list[Finding]:
        from .validation import ValidatorUnavailable, issue_status, validate, without_profiles

        try:
            issues = validate(without_profiles(resource))
        except ValidatorUnavailable as exc:
            return [review(f"{label} not validated structurally: {exc}", message_id="interop.validator.unavailable",
                           evidence=evidence)]
        out = []
        for issue in issues:
            status = issue_status(issue)
            if status is None:
                continue
            out.append(Finding(status, f"{label}: {getattr(issue, 'path', '')}: {getattr(issue, 'message', issue)}",
                               message_id=f"interop.validation.{getattr(issue, 'code', 'issue')}",
                               evidence=evidence, requirement_ids=(R.VALIDATION,)))
        return out

    # -- content negotiation -------------------------------------------------------------------

    def content_type(self) -> list[Finding]:
        return self._memo("content_type", self._content_type)

    def _content_type(self) -> list[Finding]:
        replies: list[tuple[str, Reply]] = [("GET [base]/metadata", self.t.capability.reply)]
        for rtype in self.t.audited_types():
            walk = self.everything(rtype)
            if walk.first is not None:
                replies.append((f"search {rtype}", walk.first))
            read = self.read_reply(rtype)
            if read is not None:
                replies.append((f"read {rtype}", read))
        out: list[Finding] = []
        for what, reply in replies:
            problem = transport_problem(reply, what)
            if problem:
                out.append(problem)
                continue
            if not (200 <= (reply.status or 0) < 300):
                continue
            media = reply.media_type
            evidence = evidence_of(reply)
            if media == FHIR_JSON:
                continue
            if media in ("application/json", "application/json+fhir"):
                out.append(warned(f"{what}: Content-Type {media!r}; FHIR JSON is {FHIR_JSON!r}",
                                  message_id="interop.format.generic_json", evidence=evidence))
            else:
                out.append(failed(f"{what}: Content-Type {reply.header('content-type') or 'missing'!r} for a FHIR "
                                  f"JSON body requested with Accept: {FHIR_JSON}",
                                  message_id="interop.format.wrong_content_type", evidence=evidence))
        if not any(f.status in (Status.FAIL, Status.ERROR, Status.WARN) for f in out):
            out.append(passed(f"{len(replies)} successful answers all carry Content-Type {FHIR_JSON}",
                              message_id="interop.format.content_type_ok", evidence=evidence_of(replies[0][1])))
        return out

    def _format_served(self, reply: Reply, family: str) -> bool:
        if reply.error is not None or reply.status != 200:
            return False
        head = reply.body.lstrip()[:1]
        if family == "json":
            return reply.media_type in JSON_TYPES and head == b"{"
        return reply.media_type in XML_TYPES and head == b"<"

    def format_param(self) -> list[Finding]:
        return self._memo("format_param", self._format_param)

    def _format_param(self) -> list[Finding]:
        declared = self.t.capability.formats
        out: list[Finding] = []
        families = {"json"}
        if any(f in ("xml", *XML_TYPES) for f in declared):
            families.add("xml")
        for family in sorted(families):
            mime = FHIR_JSON if family == "json" else "application/fhir+xml"
            by_param = {v: self.t.get("metadata", params=(("_format", v),)) for v in (family, mime)}
            by_accept = self.t.get("metadata", headers={"Accept": mime})
            problem = next((p for p in (transport_problem(r, f"GET metadata?_format={v}") for v, r in by_param.items())
                            if p), None)
            if problem:
                out.append(problem)
                continue
            ok_param = [v for v, r in by_param.items() if self._format_served(r, family)]
            ok_accept = self._format_served(by_accept, family)
            declared_family = family == "json" or family in families
            evidence = evidence_of(*by_param.values(), by_accept)
            if len(ok_param) == len(by_param):
                continue
            if not ok_param and not ok_accept and declared_family and family != "json":
                out.append(failed(f"the CapabilityStatement declares {family.upper()} but neither _format nor "
                                  f"Accept: {mime} gives {family.upper()}",
                                  message_id="interop.format.declared_not_served", evidence=evidence,
                                  requirement_ids=(R.DECLARED, R.MIME)))
            else:
                missing = [v for v in by_param if v not in ok_param]
                out.append(warned(f"_format={', _format='.join(missing)} not honoured (servers SHOULD support "
                                  f"_format); {family.upper()} {'is' if ok_accept else 'is not'} served with Accept",
                                  message_id="interop.format.param_ignored", evidence=evidence,
                                  requirement_ids=(R.FORMAT,)))
        if not out:
            out.append(passed(f"_format honoured for {', '.join(sorted(families))} (declared formats: "
                              f"{', '.join(declared) or 'none'})", message_id="interop.format.param_ok",
                              evidence=evidence_of(self.t.get("metadata", params=(("_format", "json"),)))))
        return out

    def accept(self) -> list[Finding]:
        return self._memo("accept", self._accept)

    def _accept(self) -> list[Finding]:
        out: list[Finding] = []
        odd = self.t.get("metadata", headers={"Accept": "application/x-harness-unsupported"})
        problem = transport_problem(odd, "GET metadata with an unsupported Accept")
        if problem:
            return [problem]
        evidence = evidence_of(odd)
        if odd.status == 406:
            out.append(passed("unsupported Accept answered 406 Not Acceptable", message_id="interop.accept.406",
                              evidence=evidence))
        elif html_with_200(odd, "unsupported Accept"):
            out.append(html_with_200(odd, "GET metadata with an unsupported Accept"))
        elif (odd.status or 0) >= 500:
            out.append(failed(f"unsupported Accept made the server fail: HTTP {odd.status} ({_excerpt(odd)!r})",
                              message_id="interop.accept.server_error", evidence=evidence))
        elif odd.status == 200 and odd.media_type in (*JSON_TYPES, *XML_TYPES):
            out.append(warned(f"unsupported Accept ignored: HTTP 200 with {odd.media_type} (HTTP allows a "
                              f"default representation; 406 is clearer)", message_id="interop.accept.ignored",
                              evidence=evidence))
        else:
            out.append(warned(f"unsupported Accept answered HTTP {odd.status} {odd.media_type or ''} "
                              f"(406 expected)", message_id="interop.accept.unexpected", evidence=evidence))
        generic = self.t.get("metadata", headers={"Accept": "application/json"})
        bare = self.t.get("metadata", headers={"Accept": "*/*"})
        for what, reply, want in (("Accept: application/json", generic, "JSON"),
                                  ("Accept: */*", bare, "a FHIR format")):
            problem = transport_problem(reply, f"GET metadata with {what}")
            if problem:
                out.append(problem)
                continue
            good = self._format_served(reply, "json") or (want != "JSON" and self._format_served(reply, "xml"))
            if not good:
                status = Status.FAIL if html_with_200(reply, what) or (reply.status or 0) >= 500 else Status.WARN
                out.append(Finding(status, f"GET metadata with {what}: HTTP {reply.status} "
                                           f"{reply.media_type or 'no Content-Type'}, not {want}",
                                   message_id="interop.accept.generic", evidence=evidence_of(reply)))
        out.extend(self._no_accept())
        return out

    def _no_accept(self) -> list[Finding]:
        """R4 http.html: with neither Accept nor ``_format`` the returned format "is undefined and
        may vary" — so any FHIR format passes, refusing is only a warning, a crash or HTML with 200 fails."""
        reply = self.t.get("metadata", headers={OMIT_HEADERS: "accept"})
        what = "GET metadata with no Accept header"
        problem = transport_problem(reply, what) or html_with_200(reply, what)
        if problem:
            return [problem]
        evidence = evidence_of(reply)
        if (reply.status or 0) >= 500:
            return [failed(f"{what}: the server failed with HTTP {reply.status} ({_excerpt(reply)!r})",
                           message_id="interop.accept.missing_server_error", evidence=evidence)]
        if self._format_served(reply, "json") or self._format_served(reply, "xml"):
            return [passed(f"{what}: HTTP 200 {reply.media_type} (the spec leaves the format to the server)",
                           message_id="interop.accept.missing_ok", evidence=evidence)]
        return [warned(f"{what}: HTTP {reply.status} {reply.media_type or 'no Content-Type'} — the spec lets "
                       f"the server pick a format here, clients that send no Accept will break",
                       message_id="interop.accept.missing_refused", evidence=evidence)]

    def content_type_415(self) -> list[Finding]:
        return self._memo("ct415", self._content_type_415)

    def _content_type_415(self) -> list[Finding]:
        types = [t for t in self.t.audited_types() if self.searchable(t)]
        if not types:
            return [not_applicable("no searchable resource type: no POST _search to send",
                                   message_id="interop.content_type.na")]
        rtype = types[0]
        reply = self.t.request("POST", f"{rtype}/_search", content=b"harness=unsupported-body",
                               headers={"Content-Type": "application/x-harness-unsupported"}, idempotent=True)
        what = f"POST {rtype}/_search with an unsupported Content-Type"
        problem = transport_problem(reply, what) or html_with_200(reply, what)
        if problem:
            return [problem]
        evidence = evidence_of(reply)
        status = reply.status or 0
        if status == 415:
            return [passed(f"{what}: 415 Unsupported Media Type", message_id="interop.content_type.415",
                           evidence=evidence)]
        if status == 405:
            return [passed(f"{what}: 405 — the server does not offer POST search (allowed when GET search works)",
                           message_id="interop.content_type.405", evidence=evidence)]
        if status >= 500:
            return [failed(f"{what}: the server failed with HTTP {status} ({_excerpt(reply)!r})",
                           message_id="interop.content_type.server_error", evidence=evidence)]
        return [warned(f"{what}: HTTP {status} (415 Unsupported Media Type expected)",
                       message_id="interop.content_type.not_415", evidence=evidence)]

    # -- read, vread, history ------------------------------------------------------------------

    def sample_id(self, resource_type: str) -> str | None:
        sample = self.sample(resource_type)
        return str(sample["id"]) if sample and sample.get("id") else None

    def read_reply(self, resource_type: str) -> Reply | None:
        rid = self.sample_id(resource_type)
        return self.t.get(f"{resource_type}/{rid}") if rid else None

    def read(self, resource_type: str) -> list[Finding]:
        return self._memo(("read", resource_type), lambda: self._read(resource_type))

    def _no_sample(self, resource_type: str) -> list[Finding]:
        walk = self.everything(resource_type)
        if walk.problems:
            return [Finding(Status.ERROR if f.status == Status.ERROR else Status.SKIPPED,
                            f"no {resource_type} id known to read: {f.message}", message_id="interop.read.no_sample",
                            evidence=f.evidence) for f in walk.problems[:1]]
        return [Finding(Status.SKIPPED, f"the server returned no {resource_type} to read",
                        message_id="interop.read.no_sample", evidence=walk.evidence(1))]

    def _read(self, resource_type: str) -> list[Finding]:
        rid = self.sample_id(resource_type)
        if rid is None:
            return self._no_sample(resource_type)
        reply = self.t.get(f"{resource_type}/{rid}")
        what = f"GET {resource_type}/{rid}"
        body, problems = expect_resource(reply, what, resource_type, requirement_ids=(R.READ,))
        if problems:
            return problems
        assert body is not None
        evidence = evidence_of(reply)
        out: list[Finding] = []
        if str(body.get("id")) != rid:
            out.append(failed(f"{what} returned id {body.get('id')!r}", message_id="interop.read.wrong_id",
                              evidence=evidence, requirement_ids=(R.READ,)))
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        version = meta.get("versionId")
        etag = reply.header("etag")
        if etag is None:
            out.append(warned(f"{what}: no ETag header (SHOULD carry W/\"versionId\")",
                              message_id="interop.read.no_etag", evidence=evidence, requirement_ids=(R.VERSIONING,)))
        elif version is not None and etag.strip() not in (f'W/"{version}"', f'"{version}"'):
            out.append(failed(f"{what}: ETag {etag!r} does not match meta.versionId {version!r}",
                              message_id="interop.read.etag_mismatch", evidence=evidence,
                              requirement_ids=(R.VERSIONING,)))
        elif not etag.strip().startswith('W/"'):
            out.append(warned(f"{what}: ETag {etag!r} is not a weak ETag W/\"versionId\"",
                              message_id="interop.read.etag_form", evidence=evidence, requirement_ids=(R.VERSIONING,)))
        if version is None:
            out.append(warned(f"{what}: no meta.versionId", message_id="interop.read.no_version",
                              evidence=evidence, requirement_ids=(R.VERSIONING,)))
        modified = reply.header("last-modified")
        if modified is None:
            out.append(warned(f"{what}: no Last-Modified header (SHOULD carry meta.lastUpdated)",
                              message_id="interop.read.no_last_modified", evidence=evidence,
                              requirement_ids=(R.VERSIONING,)))
        else:
            try:
                when = email.utils.parsedate_to_datetime(modified)
            except (TypeError, ValueError):
                when = None
            if when is None:
                out.append(failed(f"{what}: Last-Modified {modified!r} is not an HTTP date",
                                  message_id="interop.read.bad_last_modified", evidence=evidence,
                                  requirement_ids=(R.VERSIONING,)))
            elif isinstance(meta.get("lastUpdated"), str):
                try:
                    updated = _dt.datetime.fromisoformat(meta["lastUpdated"].replace("Z", "+00:00"))
                    if abs((updated - when).total_seconds()) >= 1.0:
                        out.append(warned(f"{what}: Last-Modified {modified!r} differs from meta.lastUpdated "
                                          f"{meta['lastUpdated']!r}", message_id="interop.read.last_modified_mismatch",
                                          evidence=evidence, requirement_ids=(R.VERSIONING,)))
                except (ValueError, TypeError):
                    pass
        if not any(f.status in (Status.FAIL, Status.WARN, Status.ERROR) for f in out):
            out.append(passed(f"{what}: 200 {resource_type}, ETag {etag}, Last-Modified {modified}",
                              message_id="interop.read.ok", evidence=evidence))
        return out

    def vread(self, resource_type: str) -> list[Finding]:
        return self._memo(("vread", resource_type), lambda: self._vread(resource_type))

    def _vread(self, resource_type: str) -> list[Finding]:
        decl = self.t.capability.declared(resource_type)
        if decl is None or not decl.has("vread"):
            return [not_applicable(f"{resource_type}: vread not declared", message_id="interop.vread.not_declared")]
        rid = self.sample_id(resource_type)
        if rid is None:
            return self._no_sample(resource_type)
        read = self.t.get(f"{resource_type}/{rid}")
        body = read.resource() if read.ok else None
        version = ((body or {}).get("meta") or {}).get("versionId")
        if version is None:
            return [failed(f"{resource_type}: vread is declared but {resource_type}/{rid} carries no meta.versionId "
                           f"to read a version of", message_id="interop.vread.no_version", evidence=evidence_of(read))]
        reply = self.t.get(f"{resource_type}/{rid}/_history/{version}")
        what = f"GET {resource_type}/{rid}/_history/{version}"
        got, problems = expect_resource(reply, what, resource_type)
        if problems:
            return problems
        assert got is not None
        if str(got.get("id")) != rid or str((got.get("meta") or {}).get("versionId")) != str(version):
            return [failed(f"{what} returned {rkey(got)} version {(got.get('meta') or {}).get('versionId')!r}",
                           message_id="interop.vread.wrong_version", evidence=evidence_of(reply))]
        return [passed(f"{what}: 200, same id and version", message_id="interop.vread.ok", evidence=evidence_of(reply))]

    def history(self, resource_type: str) -> list[Finding]:
        return self._memo(("history", resource_type), lambda: self._history(resource_type))

    def _history(self, resource_type: str) -> list[Finding]:
        decl = self.t.capability.declared(resource_type)
        if decl is None or not decl.has("history-instance"):
            return [not_applicable(f"{resource_type}: history-instance not declared",
                                   message_id="interop.history.not_declared")]
        rid = self.sample_id(resource_type)
        if rid is None:
            return self._no_sample(resource_type)
        reply = self.t.get(f"{resource_type}/{rid}/_history")
        what = f"GET {resource_type}/{rid}/_history"
        bundle, problems = expect_resource(reply, what, "Bundle")
        if problems:
            return problems
        assert bundle is not None
        evidence = evidence_of(reply)
        if bundle.get("type") != "history":
            return [failed(f"{what}: Bundle.type {bundle.get('type')!r}, not 'history'",
                           message_id="interop.history.bundle_type", evidence=evidence)]
        resources = [e.get("resource") for e in bundle.get("entry") or [] if isinstance(e, dict)]
        others = [rkey(r) for r in resources if isinstance(r, dict) and rkey(r) != f"{resource_type}/{rid}"]
        if not resources:
            return [failed(f"{what}: empty history for an existing resource", message_id="interop.history.empty",
                           evidence=evidence)]
        if others:
            return [failed(f"{what}: history holds other resources ({', '.join(others[:3])})",
                           message_id="interop.history.foreign", evidence=evidence)]
        return [passed(f"{what}: history Bundle with {len(resources)} version(s)", message_id="interop.history.ok",
                       evidence=evidence)]

    # -- search ---------------------------------------------------------------------------------

    def search_param(self, resource_type: str, name: str) -> list[Finding]:
        return self._memo(("param", resource_type, name), lambda: self._search_param(resource_type, name))

    def _search_param(self, resource_type: str, name: str) -> list[Finding]:
        decl = self.t.capability.declared(resource_type)
        declared_type = decl.search_params.get(name, "") if decl else ""
        pdef = param_def(resource_type, name)
        ptype = pdef.type if pdef else declared_type
        reqs = (R.SEARCH, R.PARAM_TYPE_REQ.get(ptype, R.SEARCH_PARAMS))
        out: list[Finding] = []
        if decl is not None and not decl.has("search-type"):
            out.append(warned(f"{resource_type}: search parameter {name!r} declared without the search-type "
                              f"interaction", message_id="interop.search.param_without_search", requirement_ids=reqs))
        if pdef and declared_type and declared_type != pdef.type:
            out.append(warned(f"{resource_type}.{name} declared as {declared_type!r}; R4 defines it as {pdef.type!r}",
                              message_id="interop.search.param_type", requirement_ids=reqs))
        negative = negative_value(ptype, pdef.target if pdef else None)
        if negative is not None:
            out.extend(self._negative_probe(resource_type, name, negative, reqs))
        if pdef is not None:
            out.extend(self._positive_probe(resource_type, pdef, reqs))
        elif negative is None:
            out.append(review(f"{resource_type}.{name} ({declared_type or 'unknown type'}): no value the harness "
                              f"can derive; check filtering by hand", message_id="interop.search.param_unverified",
                              requirement_ids=reqs))
        return out

    def _negative_probe(self, resource_type: str, name: str, value: str, reqs: tuple[str, ...]) -> list[Finding]:
        walk = self.walk(resource_type, ((name, value),), max_pages=1)
        reply = walk.first
        what = f"{resource_type}?{name}={value}"
        if reply is None:
            return []
        problem = transport_problem(reply, what, requirement_ids=reqs) or html_with_200(reply, what)
        if problem:
            return [problem]
        if reply.status in (400, 404, 422):
            # The server refuses a value it finds invalid: fine, but it says nothing about filtering.
            return []
        if (reply.status or 0) >= 500:
            return [failed(f"{what}: the server failed with HTTP {reply.status}", message_id="interop.search.server_error",
                           evidence=evidence_of(reply), requirement_ids=reqs)]
        if walk.problems:
            return [replace_reqs(f, reqs) for f in walk.problems]
        count = len(walk.entries)
        if count:
            total = walk.totals[0] if walk.totals and walk.totals[0] is not None else count
            return [failed(f"{what}: a value no resource can match returned {total} result(s) "
                           f"(e.g. {walk.keys[0]}): the parameter is silently ignored",
                           message_id="interop.search.param_ignored", evidence=evidence_of(reply),
                           requirement_ids=reqs)]
        return [passed(f"{what}: no result, as expected", message_id="interop.search.negative_ok",
                       evidence=evidence_of(reply), requirement_ids=reqs)]

    def _positive_probe(self, resource_type: str, pdef: ParamDef, reqs: tuple[str, ...]) -> list[Finding]:
        full = self.everything(resource_type)
        if full.problems:
            return [Finding(Status.ERROR if f.status == Status.ERROR else Status.SKIPPED,
                            f"{resource_type}?{pdef.name}: cannot pick a value, the unfiltered search failed: "
                            f"{f.message}", message_id="interop.search.no_baseline", evidence=f.evidence,
                            requirement_ids=reqs) for f in full.problems[:1]]
        picked = pick_value(pdef, full.entries)
        if picked is None:
            return [Finding(Status.SKIPPED, f"{resource_type}?{pdef.name}: no returned {resource_type} carries a "
                                            f"value for it; positive match not tested",
                            message_id="interop.search.no_value", evidence=full.evidence(1), requirement_ids=reqs)]
        value, sample = picked
        walk = self.walk(resource_type, ((pdef.name, value), ("_count", str(self.t.page_size))))
        what = f"{resource_type}?{pdef.name}={value}"
        if walk.problems:
            first = walk.problems[0]
            if first.status == Status.FAIL:
                return [failed(f"{what}: {first.message}", message_id="interop.search.param_broken",
                               evidence=first.evidence, requirement_ids=reqs)]
            return [replace_reqs(f, reqs) for f in walk.problems]
        evidence = walk.evidence(4)
        wrong = [r for r in walk.entries if matches(pdef, r, value) is False]
        out: list[Finding] = []
        if wrong:
            expected = [r for r in full.entries if matches(pdef, r, value) is not False]
            ignored = full.complete and walk.complete and len(walk.entries) >= len(full.entries) > len(expected)
            how = "the parameter is silently ignored" if ignored else "the filter is not applied correctly"
            out.append(failed(f"{what}: {len(wrong)} of {len(walk.entries)} results do not match "
                              f"(e.g. {', '.join(rkey(r) for r in wrong[:3])}): {how}",
                              message_id="interop.search.param_ignored" if ignored else "interop.search.param_wrong",
                              evidence=evidence, requirement_ids=reqs,
                              details={"value": value, "returned": len(walk.entries), "not_matching": len(wrong)}))
        if rkey(sample) not in walk.keys and walk.complete:
            timed = pdef.type == "date" and any(isinstance(v, str) and len(v) > 10 or isinstance(v, dict)
                                                for v in pdef.values(sample))
            if timed:  # the day of an instant depends on the time zone the server reads it in
                out.append(warned(f"{what}: {rkey(sample)}, which matches in its own time zone, is not returned",
                                  message_id="interop.search.param_missing_tz", evidence=evidence,
                                  requirement_ids=reqs))
            else:
                out.append(failed(f"{what}: {rkey(sample)}, which matches, is not returned",
                                  message_id="interop.search.param_missing", evidence=evidence,
                                  requirement_ids=reqs))
        if not out:
            out.append(passed(f"{what}: {len(walk.entries)} result(s), all matching", evidence=evidence,
                              message_id="interop.search.positive_ok", requirement_ids=reqs))
        return out

    def small_page(self, resource_type: str) -> tuple[int, Walk] | None:
        full = self.everything(resource_type)
        count = len(full.entries)
        if count < 3:
            return None
        size = 2
        pages = min(self.t.max_pages * 4, math.ceil(count / size) + 2)
        return size, self.walk(resource_type, (("_count", str(size)),), max_pages=pages)

    def count(self, resource_type: str) -> list[Finding]:
        return self._memo(("count", resource_type), lambda: self._count(resource_type))

    def _not_enough(self, resource_type: str, what: str) -> list[Finding]:
        full = self.everything(resource_type)
        if full.problems:
            return [Finding(Status.ERROR if f.status == Status.ERROR else Status.SKIPPED,
                            f"{what} not tested, the unfiltered search failed: {f.message}",
                            message_id="interop.search.no_baseline", evidence=f.evidence) for f in full.problems[:1]]
        return [not_applicable(f"{what} not tested: the server holds {len(full.entries)} {resource_type} (3 needed)",
                               message_id="interop.search.too_few", evidence=full.evidence(1))]

    def _count(self, resource_type: str) -> list[Finding]:
        small = self.small_page(resource_type)
        if small is None:
            return self._not_enough(resource_type, "_count")
        size, walk = small
        if walk.problems:
            return walk.problems
        first = walk.page_sizes[0] if walk.page_sizes else 0
        evidence = evidence_of(walk.first)
        if first > size:
            return [failed(f"{resource_type}?_count={size}: first page holds {first} results (no more than {size} "
                           f"allowed): _count ignored", message_id="interop.search.count_ignored", evidence=evidence)]
        return [passed(f"{resource_type}?_count={size}: {first} result(s) on the first page",
                       message_id="interop.search.count_ok", evidence=evidence)]

    def paging(self, resource_type: str) -> list[Finding]:
        return self._memo(("paging", resource_type), lambda: self._paging(resource_type))

    def _paging(self, resource_type: str) -> list[Finding]:
        small = self.small_page(resource_type)
        if small is None:
            return self._not_enough(resource_type, "paging")
        size, walk = small
        full = self.everything(resource_type)
        if walk.problems:
            return walk.problems
        out: list[Finding] = list(walk.paging_problems)
        evidence = walk.evidence()
        keys = walk.keys
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        label = f"{resource_type}?_count={size} over {len(walk.replies)} page(s)"
        if dupes:
            out.append(failed(f"{label}: {len(dupes)} resource(s) returned on more than one page "
                              f"({', '.join(dupes[:5])})", message_id="interop.paging.duplicates", evidence=evidence))
        if walk.page_sizes and walk.page_sizes[0] >= len(full.entries) and len(walk.replies) == 1:
            out.append(not_applicable(f"{label}: everything came on one page (_count ignored), paging not exercised",
                                      message_id="interop.paging.not_exercised", evidence=evidence))
            return out
        if walk.complete and full.complete:
            missing = sorted(set(full.keys) - set(keys))
            if missing:
                out.append(failed(f"{label}: {len(missing)} resource(s) of the full result never appear while "
                                  f"paging ({', '.join(missing[:5])}): gaps between pages",
                                  message_id="interop.paging.gaps", evidence=evidence))
        elif not walk.complete and not walk.paging_problems:
            expected_pages = math.ceil(len(full.entries) / size)
            if full.complete and len(walk.replies) >= expected_pages + 2:
                out.append(failed(f"{label}: still a next link after {len(walk.replies)} pages for "
                                  f"{len(full.entries)} results", message_id="interop.paging.endless",
                                  evidence=evidence))
        if not out:
            out.append(passed(f"{label}: {len(set(keys))} distinct results, no duplicate, no gap",
                              message_id="interop.paging.ok", evidence=evidence))
        return out

    def total(self, resource_type: str) -> list[Finding]:
        return self._memo(("total", resource_type), lambda: self._total(resource_type))

    def _total(self, resource_type: str) -> list[Finding]:
        full = self.everything(resource_type)
        if full.problems:
            return full.problems
        walks = [full]
        small = self.small_page(resource_type)
        if small is not None and not small[1].problems:
            walks.append(small[1])
        out: list[Finding] = []
        distinct = len(set(full.keys))
        for walk in walks:
            label = f"{resource_type}?{'&'.join(f'{k}={v}' for k, v in walk.params)}"
            values = [t for t in walk.totals if t is not None]
            if not values:
                continue
            if len(set(values)) > 1:
                out.append(failed(f"{label}: Bundle.total changes from page to page ({sorted(set(values))})",
                                  message_id="interop.total.inconsistent", evidence=walk.evidence()))
            elif full.complete and values[0] != distinct:
                out.append(failed(f"{label}: Bundle.total is {values[0]} but the search returns {distinct} "
                                  f"resource(s)", message_id="interop.total.wrong", evidence=walk.evidence()))
            elif not full.complete and values[0] < distinct:
                out.append(failed(f"{label}: Bundle.total {values[0]} is below the {distinct} resources already read",
                                  message_id="interop.total.wrong", evidence=walk.evidence()))
        if not out:
            if not any(t is not None for w in walks for t in w.totals):
                out.append(passed(f"{resource_type}: searchsets carry no Bundle.total (optional)",
                                  message_id="interop.total.absent", evidence=full.evidence(1)))
            else:
                out.append(passed(f"{resource_type}: Bundle.total = {distinct}, consistent on every page",
                                  message_id="interop.total.ok", evidence=full.evidence(2)))
        return out

    def include(self, resource_type: str, include: str) -> list[Finding]:
        return self._memo(("include", resource_type, include), lambda: self._include(resource_type, include))

    def _include(self, resource_type: str, include: str) -> list[Finding]:
        parts = include.split(":")
        if len(parts) < 2 or parts[0] != resource_type or parts[1] == "*":
            return [review(f"_include={include}: not a [type]:[param] include the harness can verify",
                           message_id="interop.include.unverifiable")]
        pdef = param_def(resource_type, parts[1])
        if pdef is None or pdef.type != "reference":
            return [review(f"_include={include}: reference parameter {parts[1]!r} unknown to the harness",
                           message_id="interop.include.unverifiable")]
        target_type = parts[2] if len(parts) > 2 else pdef.target
        walk = self.walk(resource_type, (("_include", include), ("_count", str(self.t.page_size))), max_pages=1)
        what = f"{resource_type}?_include={include}"
        if walk.problems:
            first = walk.problems[0]
            if first.status == Status.FAIL:
                return [failed(f"{what}: {first.message}", message_id="interop.include.broken", evidence=first.evidence)]
            return walk.problems
        wanted: set[str] = set()
        for resource in walk.entries:
            for value in pdef.values(resource):
                ref = value.get("reference") if isinstance(value, dict) else None
                if not isinstance(ref, str) or ref.startswith("#") or ref.startswith("urn:"):
                    continue
                if ref.startswith(("http://", "https://")) and not ref.startswith(self.t.base_url):
                    continue
                key = ref_key(ref)
                if target_type is None or key.startswith(target_type + "/"):
                    wanted.add(key)
        evidence = walk.evidence(1)
        if not wanted:
            return [Finding(Status.SKIPPED, f"{what}: no reference to include on the first page",
                            message_id="interop.include.nothing", evidence=evidence)]
        present = {rkey(r) for r in walk.includes} | set(walk.keys)
        missing = sorted(wanted - present)
        # A reference to a resource the server does not have cannot be included: not an _include defect.
        for key in list(missing[:5]):
            answer = self.t.get(key)
            if answer.error is None and answer.status in (404, 410):
                missing.remove(key)
                wanted.discard(key)
        if not wanted:
            return [Finding(Status.SKIPPED, f"{what}: the references on the first page point to resources the "
                                            f"server does not have", message_id="interop.include.dangling",
                            evidence=evidence)]
        if missing == sorted(wanted):
            return [failed(f"{what}: none of the {len(wanted)} referenced resource(s) is included "
                           f"(e.g. {missing[0]}): _include ignored", message_id="interop.include.ignored",
                           evidence=evidence)]
        if missing:
            return [failed(f"{what}: {len(missing)} of {len(wanted)} referenced resources not included "
                           f"({', '.join(missing[:5])})", message_id="interop.include.partial", evidence=evidence)]
        return [passed(f"{what}: all {len(wanted)} referenced resource(s) included", message_id="interop.include.ok",
                       evidence=evidence)]

    # -- errors -----------------------------------------------------------------------------------

    def _error_expectation(self, reply: Reply, what: str, expected: tuple[int, ...], tolerated: tuple[int, ...],
                           status_req: str) -> list[Finding]:
        problem = transport_problem(reply, what) or html_with_200(reply, what, requirement_ids=(status_req,))
        if problem:
            return [problem]
        evidence = evidence_of(reply)
        status = reply.status or 0
        out: list[Finding] = []
        if status in expected:
            pass
        elif status in tolerated:
            out.append(warned(f"{what}: HTTP {status} (expected {' or '.join(map(str, expected))})",
                              message_id="interop.errors.tolerated_status", evidence=evidence,
                              requirement_ids=(status_req,)))
        elif 200 <= status < 300:
            out.append(failed(f"{what}: HTTP {status}, a success for a request that must fail",
                              message_id="interop.errors.success_status", evidence=evidence,
                              requirement_ids=(status_req,)))
        else:
            out.append(failed(f"{what}: HTTP {status} (expected {' or '.join(map(str, expected))})",
                              message_id="interop.errors.wrong_status", evidence=evidence,
                              requirement_ids=(status_req,)))
        if status >= 400 and not is_operation_outcome(reply):
            kind = "an HTML page" if reply.looks_like_html() else (f"{reply.media_type or 'no Content-Type'} "
                                                                  f"({_excerpt(reply, 60)!r})")
            out.append(warned(f"{what}: the error body is {kind}, not an OperationOutcome (SHOULD)",
                              message_id="interop.errors.no_operation_outcome", evidence=evidence,
                              requirement_ids=(R.OUTCOME,)))
        if not out:
            outcome = reply.resource() or {}
            out.append(passed(f"{what}: HTTP {status} with OperationOutcome ({outcome_text(outcome)})",
                              message_id="interop.errors.ok", evidence=evidence))
        return out

    def not_found(self) -> list[Finding]:
        return self._memo("not_found", self._not_found)

    def _not_found(self) -> list[Finding]:
        types = [t for t in self.t.audited_types()
                 if not self.t.capability.usable or (self.t.capability.declared(t) or _NO_DECL).has("read")]
        out: list[Finding] = []
        if types:
            rtype = types[0]
            reply = self.t.get(f"{rtype}/{UNKNOWN_ID}")
            out += self._error_expectation(reply, f"GET {rtype}/{UNKNOWN_ID} (unknown id)", (404, 410), (),
                                           R.HTTP_STATUS)
        reply = self.t.get(UNKNOWN_TYPE)
        out += self._error_expectation(reply, f"GET [base]/{UNKNOWN_TYPE} (unknown resource type)", (404,), (400,),
                                       R.HTTP_STATUS)
        return out

    def invalid_param(self) -> list[Finding]:
        return self._memo("invalid_param", self._invalid_param)

    def _invalid_param(self) -> list[Finding]:
        types = [t for t in self.t.audited_types() if self.searchable(t)]
        if not types:
            return [not_applicable("no searchable resource type", message_id="interop.errors.no_search")]
        rtype = types[0]
        out: list[Finding] = []
        strict = self.t.get(rtype, params=((UNKNOWN_PARAM, "1"),), headers={"Prefer": "handling=strict"})
        what = f"GET {rtype}?{UNKNOWN_PARAM}=1 with Prefer: handling=strict"
        if strict.status == 200 and strict.resource() and not strict.looks_like_html():
            out.append(warned(f"{what}: HTTP 200, the unknown parameter was ignored despite handling=strict",
                              message_id="interop.errors.strict_ignored", evidence=evidence_of(strict),
                              requirement_ids=(R.SEARCH_ERRORS,)))
        else:
            out += self._error_expectation(strict, what, (400,), (422,), R.SEARCH_ERRORS)
        decl = self.t.capability.declared(rtype)
        date_params = [n for n, typ in (decl.search_params.items() if decl else []) if typ == "date"]
        name = date_params[0] if date_params else "_count"
        bad_value = "not-a-date" if date_params else "not-a-number"
        reply = self.t.get(rtype, params=((name, bad_value),))
        what = f"GET {rtype}?{name}={bad_value} (invalid value)"
        body = reply.resource() if reply.status == 200 else None
        if body and body.get("resourceType") == "Bundle" and not reply.looks_like_html():
            outcomes = [e for e in body.get("entry") or [] if isinstance(e, dict)
                        and ((e.get("search") or {}).get("mode") == "outcome"
                             or (e.get("resource") or {}).get("resourceType") == "OperationOutcome")]
            if outcomes:
                out.append(passed(f"{what}: HTTP 200 with an OperationOutcome entry explaining the error (allowed)",
                                  message_id="interop.errors.outcome_entry", evidence=evidence_of(reply)))
            else:
                out.append(warned(f"{what}: HTTP 200 without any error: the invalid value was silently accepted",
                                  message_id="interop.errors.invalid_accepted", evidence=evidence_of(reply),
                                  requirement_ids=(R.SEARCH_ERRORS,)))
        else:
            out += self._error_expectation(reply, what, (400,), (422,), R.SEARCH_ERRORS)
        return out

    def auth(self) -> list[Finding]:
        return self._memo("auth", self._auth)

    def _protected_path(self) -> tuple[str, Any]:
        types = self.t.audited_types()
        for rtype in types:
            rid = self.sample_id(rtype)
            if rid:
                return f"{rtype}/{rid}", None
        return (types[0] if types else "Patient"), (("_count", "1"),)

    def _auth(self) -> list[Finding]:
        if self.t.auth.kind == "none":
            return [not_applicable("the profile declares no authentication: the endpoint is audited as open",
                                   message_id="interop.auth.none")]
        path, params = self._protected_path()
        out: list[Finding] = []
        for credentials, label in (("none", "without credentials"), ("invalid", "with an invalid bearer token")):
            reply = self.t.get(path, params=params, credentials=credentials)
            what = f"GET {path} {label}"
            problem = transport_problem(reply, what)
            if problem:
                out.append(problem)
                continue
            evidence = evidence_of(reply)
            status = reply.status or 0
            if status == 401:
                if not reply.header("www-authenticate"):
                    out.append(warned(f"{what}: 401 without a WWW-Authenticate header",
                                      message_id="interop.auth.no_www_authenticate", evidence=evidence,
                                      requirement_ids=(R.RFC6750,)))
                else:
                    out.append(passed(f"{what}: 401 ({reply.header('www-authenticate')})",
                                      message_id="interop.auth.401", evidence=evidence))
            elif status == 403:
                out.append(warned(f"{what}: 403 (401 is the answer for missing or invalid credentials)",
                                  message_id="interop.auth.403", evidence=evidence, requirement_ids=(R.RFC6750,)))
            elif 200 <= status < 300:
                out.append(failed(f"{what}: HTTP {status} — data served {label}",
                                  message_id="interop.auth.open", evidence=evidence,
                                  requirement_ids=(R.SECURITY, R.RFC6750), severity="critical"))
            else:
                out.append(failed(f"{what}: HTTP {status} (401 expected)", message_id="interop.auth.wrong_status",
                                  evidence=evidence, requirement_ids=(R.RFC6750,)))
        if self.t.auth.kind == "smart-backend":
            out.extend(self._token_endpoint())
        return out

    def _token_endpoint(self) -> list[Finding]:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        auth = self.t.auth
        rogue = (ec.generate_private_key(ec.SECP384R1()) if auth.alg == "ES384"
                 else rsa.generate_private_key(public_exponent=65537, key_size=2048))
        reply = auth.request_token(auth.assertion(rogue))
        what = f"POST {auth.token_url} with an assertion signed by an unregistered key"
        problem = transport_problem(reply, what)
        if problem:
            return [problem]
        evidence = evidence_of(reply)
        body = {}
        try:
            body = reply.json() if reply.body else {}
        except ValueError:
            pass
        if reply.status == 200 and isinstance(body, dict) and body.get("access_token"):
            return [failed(f"{what}: an access token was issued", message_id="interop.auth.rogue_token",
                           evidence=evidence, requirement_ids=(R.SMART,), severity="critical")]
        if reply.status in (400, 401):
            return [passed(f"{what}: HTTP {reply.status} {body.get('error', '') if isinstance(body, dict) else ''}",
                           message_id="interop.auth.rogue_refused", evidence=evidence, requirement_ids=(R.SMART,))]
        return [warned(f"{what}: HTTP {reply.status} (400/401 invalid_client expected)",
                       message_id="interop.auth.rogue_status", evidence=evidence, requirement_ids=(R.SMART,))]

    # -- resources --------------------------------------------------------------------------------

    def collected(self, resource_type: str) -> tuple[list[tuple[dict[str, Any], Reply]], list[Finding]]:
        """Resources of a type the harness has read (search pages + sample read), with their exchange."""
        walk = self.everything(resource_type)
        seen: dict[str, tuple[dict[str, Any], Reply]] = {}
        for resource in walk.entries:
            seen.setdefault(rkey(resource), (resource, walk.source[rkey(resource)]))
        read = self.read_reply(resource_type)
        if read is not None and read.ok:
            body = read.resource()
            if body and body.get("resourceType") == resource_type:
                seen[rkey(body)] = (body, read)
        return list(seen.values()), walk.problems

    def _no_resources(self, resource_type: str, problems: list[Finding]) -> list[Finding]:
        if problems:
            return [Finding(Status.ERROR if f.status == Status.ERROR else Status.SKIPPED,
                            f"no {resource_type} could be read: {f.message}", message_id="interop.resources.none",
                            evidence=f.evidence) for f in problems[:1]]
        return [not_applicable(f"the server returned no {resource_type}", message_id="interop.resources.none")]

    def r4_valid(self, resource_type: str) -> list[Finding]:
        return self._memo(("r4", resource_type), lambda: self._r4_valid(resource_type))

    def _issues(self, resource: dict[str, Any], profiles: list[str] | None = None) -> list[Any]:
        from .validation import is_identifier_issue, validate, with_profiles, without_profiles

        base = without_profiles(resource)
        return [i for i in validate(with_profiles(base, profiles) if profiles else base) if not is_identifier_issue(i)]

    def _r4_valid(self, resource_type: str) -> list[Finding]:
        from .validation import ValidatorUnavailable, issue_status

        items, problems = self.collected(resource_type)
        if not items:
            return self._no_resources(resource_type, problems)
        out: list[Finding] = []
        checked = 0
        for resource, reply in items:
            try:
                issues = self._issues(resource)
            except ValidatorUnavailable as exc:
                return [errored(str(exc), message_id="interop.validator.unavailable")]
            checked += 1
            out.extend(self._issue_findings(resource, reply, issues, issue_status, (R.VALIDATION, R.BINDINGS)))
        return self._capped(out, f"{checked} {resource_type} resource(s) valid R4", "interop.resources.r4_ok",
                            evidence_of(items[0][1]))

    def _issue_findings(self, resource: dict[str, Any], reply: Reply, issues: list[Any], status_of,
                        reqs: tuple[str, ...]) -> list[Finding]:
        by_status: dict[Status, list[Any]] = {}
        for issue in issues:
            status = status_of(issue)
            if status is not None:
                by_status.setdefault(status, []).append(issue)
        out = []
        for status, group in by_status.items():
            text = "; ".join(f"{getattr(i, 'path', '')}: {getattr(i, 'message', i)}" for i in group[:4])
            more = f" (+{len(group) - 4} more)" if len(group) > 4 else ""
            codes = sorted({str(getattr(i, "code", "")) for i in group})
            out.append(Finding(status, f"{rkey(resource)}: {len(group)} issue(s): {text}{more}",
                               message_id=f"interop.resources.{status.value}", evidence=evidence_of(reply),
                               requirement_ids=reqs, details={"codes": codes}))
        return out

    def _capped(self, findings: list[Finding], ok_message: str, ok_id: str, evidence: list[Evidence]) -> list[Finding]:
        if not findings:
            return [passed(ok_message, message_id=ok_id, evidence=evidence)]
        findings.sort(key=Finding.sort_key)
        if len(findings) > MAX_LISTED:
            rest = findings[MAX_LISTED:]
            summary = Finding(worst_status(rest), f"… and {len(rest)} more finding(s) of the same kind",
                              message_id="interop.resources.more")
            findings = findings[:MAX_LISTED] + [summary]
        return findings

    def claimed_profiles(self, resource_type: str, resource: dict[str, Any]) -> list[str]:
        from .validation import fr_core_profiles

        decl = self.t.capability.declared(resource_type)
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        return sorted(set(fr_core_profiles(list(meta.get("profile") or [])) +
                          fr_core_profiles(decl.profiles if decl else [])))

    def fr_core(self, resource_type: str) -> list[Finding]:
        return self._memo(("frcore", resource_type), lambda: self._fr_core(resource_type))

    def _fr_core(self, resource_type: str) -> list[Finding]:
        from .validation import ValidatorUnavailable, issue_status

        items, problems = self.collected(resource_type)
        if not items:
            return self._no_resources(resource_type, problems)
        req = R.FR_PROFILE_REQ.get(resource_type, R.VALIDATION)
        out: list[Finding] = []
        checked = 0
        for resource, reply in items:
            profiles = self.claimed_profiles(resource_type, resource)
            if not profiles:
                continue
            try:
                base = {(str(getattr(i, "path", "")), str(getattr(i, "message", ""))) for i in self._issues(resource)}
                issues = [i for i in self._issues(resource, profiles)
                          if (str(getattr(i, "path", "")), str(getattr(i, "message", ""))) not in base]
            except ValidatorUnavailable as exc:
                return [errored(str(exc), message_id="interop.validator.unavailable")]
            checked += 1
            out.extend(self._issue_findings(resource, reply, issues, issue_status, (req,)))
        if not checked:
            return [not_applicable(f"no {resource_type} claims an FR Core profile (meta.profile or "
                                   f"CapabilityStatement)", message_id="interop.frcore.not_claimed")]
        return self._capped(out, f"{checked} {resource_type} resource(s) conform to the FR Core profile they claim",
                            "interop.frcore.ok", evidence_of(items[0][1]))

    def identifiers(self, resource_type: str) -> list[Finding]:
        return self._memo(("ids", resource_type), lambda: self._identifiers(resource_type))

    def _identifiers(self, resource_type: str) -> list[Finding]:
        items, problems = self.collected(resource_type)
        if not items:
            return self._no_resources(resource_type, problems)
        rules = {SYSTEM_INS_NIR: ("INS-NIR", check_nir, R.INS_NIR), SYSTEM_RPPS: ("RPPS", check_rpps, R.RPPS),
                 SYSTEM_FINESS: ("FINESS", check_finess, R.FINESS)}
        out: list[Finding] = []
        counts: dict[str, int] = {}
        for resource, reply in items:
            identifiers = list(resource.get("identifier") or [])
            if resource_type == "PractitionerRole":
                identifiers += [((resource.get("practitioner") or {}).get("identifier") or {})]
            for ident in identifiers:
                if not isinstance(ident, dict) or ident.get("system") not in rules:
                    continue
                name, rule, req = rules[ident["system"]]
                counts[name] = counts.get(name, 0) + 1
                value = ident.get("value")
                reason = rule(value) if isinstance(value, str) and value else f"{name} identifier without a value"
                if reason:
                    out.append(failed(f"{rkey(resource)}: invalid {name}: {reason}",
                                      message_id=f"interop.identifiers.{name.lower().replace('-', '_')}",
                                      evidence=evidence_of(reply), requirement_ids=(req,),
                                      details={"system": ident["system"]}))
        if not counts:
            return [not_applicable(f"no INS-NIR, RPPS or FINESS identifier among {len(items)} {resource_type}",
                                   message_id="interop.identifiers.none")]
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        return self._capped(out, f"{summary} identifier(s) with valid keys", "interop.identifiers.ok",
                            evidence_of(items[0][1]))

    # -- transport security ------------------------------------------------------------------------

    def tls(self) -> list[Finding]:
        return self._memo("tls", self._tls)

    def _tls(self) -> list[Finding]:
        reply = self.t.capability.reply
        scheme = self.t.base_url.split(":", 1)[0]
        evidence = evidence_of(reply)
        if reply.error_kind == "tls":
            return [failed(f"TLS handshake with {self.t.base_url} failed: {reply.error}", message_id="interop.tls.invalid",
                           evidence=evidence, requirement_ids=(R.SECURITY,))]
        if scheme == "http":
            if self.t.is_loopback():
                return [passed("plain HTTP on loopback: the exchanges never leave this machine, so there is nothing "
                               "for TLS to protect (a local test endpoint, never a vendor's production URL)",
                               message_id="interop.tls.loopback", evidence=evidence)]
            return [failed(f"{self.t.base_url} is served over plain HTTP: patient data would travel unencrypted",
                           message_id="interop.tls.plain_http", evidence=evidence, requirement_ids=(R.SECURITY,),
                           severity="critical")]
        if not self.t.verify_tls:
            return [warned("TLS certificate verification was disabled in the profile (verify_tls = false)",
                           message_id="interop.tls.unverified", evidence=evidence)]
        if reply.error is not None:
            return [errored(f"TLS not assessed: {reply.error}", message_id="interop.tls.unknown", evidence=evidence)]
        return [passed(f"HTTPS with a certificate that verifies ({'CA bundle ' + self.t.ca_bundle if self.t.ca_bundle else 'public CAs'})",
                       message_id="interop.tls.ok", evidence=evidence)]

    # -- declared capabilities --------------------------------------------------------------------

    def declared(self, resource_type: str) -> list[Finding]:
        return self._memo(("declared", resource_type), lambda: self._declared(resource_type))

    def capabilities_of(self, resource_type: str) -> list[tuple[str, list[Finding]]]:
        decl = self.t.capability.declared(resource_type)
        if decl is None:
            return []
        out: list[tuple[str, list[Finding]]] = []
        if decl.has("read"):
            out.append(("read", self.read(resource_type)))
        if decl.has("vread"):
            out.append(("vread", self.vread(resource_type)))
        if decl.has("history-instance"):
            out.append(("history-instance", self.history(resource_type)))
        if decl.has("search-type"):
            out.append(("search-type", self.everything(resource_type).problems))
        for name in decl.search_params:
            out.append((f"searchParam {name}", self.search_param(resource_type, name)))
        for include in decl.includes:
            out.append((f"searchInclude {include}", self.include(resource_type, include)))
        return out

    def _declared(self, resource_type: str) -> list[Finding]:
        out: list[Finding] = []
        verified: list[str] = []
        for label, findings in self.capabilities_of(resource_type):
            bad = _first(findings, Status.FAIL) or _first(findings, Status.ERROR)
            if bad is None:
                if any(f.status in (Status.PASS, Status.WARN) for f in findings) or not findings:
                    verified.append(label)
                continue
            status = Status.FAIL if bad.status == Status.FAIL else Status.ERROR
            out.append(Finding(status, f"{resource_type}: declared {label} does not work: {bad.message}",
                               message_id="interop.declared.broken" if status == Status.FAIL
                               else "interop.declared.undecided", evidence=bad.evidence,
                               requirement_ids=(R.DECLARED, *bad.requirement_ids)))
        if not out:
            out.append(passed(f"{resource_type}: every declared capability works ({', '.join(verified) or 'none'})",
                              message_id="interop.declared.ok"))
        return out

    def declared_server(self) -> list[Finding]:
        out = [f for f in self.format_param() if f.message_id == "interop.format.declared_not_served"]
        if not out:
            out = [passed(f"declared formats served: {', '.join(self.t.capability.formats) or 'none'}",
                          message_id="interop.declared.formats_ok")]
        return out


class _NoDecl:
    def has(self, _interaction: str) -> bool:
        return False


_NO_DECL = _NoDecl()


def replace_reqs(finding: Finding, reqs: tuple[str, ...]) -> Finding:
    from dataclasses import replace

    return replace(finding, requirement_ids=finding.requirement_ids or reqs)
