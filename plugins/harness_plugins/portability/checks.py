"""Checks of the portability family.

Content checks run once per *source* of the export (items ``archive`` and
``bulk``); completeness by type runs per ``source:Type``; Bulk Data flow checks
run per export job (``system``, ``patient``, ``group:<id>``) or once on the
main job. Every finding carries file + line (+ column) or the HTTP exchange.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath
from typing import Any, Iterator

import orjson

from harness import Evidence, Finding, NotApplicable, Skip, TargetError, check, failed, passed, warned
from harness.model import Status, worst

from . import requirements as R
from .analysis import SourceAnalysis
from .bulk import INSTANT_RE, Job, is_operation_outcome
from .compare import diff
from .target import ExportTarget

MAX_FINDINGS = 150
MAX_DMP_PER_DOCUMENT = 5
REF_CODES = {"dangling_contained", "invalid_reference"}


# ----------------------------------------------------------------------------- items

def source_items(target: ExportTarget) -> list[tuple[str, SourceAnalysis]]:
    return target.source_items()


def archive_items(target: ExportTarget) -> list[tuple[str, SourceAnalysis]]:
    return [(n, s) for n, s in target.source_items() if n == "archive"]


def type_items(target: ExportTarget) -> list[tuple[str, tuple[SourceAnalysis, str, int]]]:
    return [(f"{name}:{rtype}", (source, rtype, count)) for name, source in target.source_items()
            for rtype, count in sorted(target.expected.counts.items())]


def job_items(target: ExportTarget) -> list[tuple[str, Job]]:
    target.prepare()
    if target.bulk is None:
        return []
    if target.bulk.error:
        raise TargetError(f"the Bulk Data client failed: {target.bulk.error}")
    return [(job.name, job) for job in target.bulk.jobs()]


def main_job_items(target: ExportTarget) -> list[tuple[str, Job]]:
    return job_items(target)[:1]


def param_items(target: ExportTarget) -> list[tuple[str, Job]]:
    target.prepare()
    if target.bulk is None:
        return []
    return [(job.name, job) for job in (target.bulk.type_probe, target.bulk.since_probe) if job is not None]


def cancel_items(target: ExportTarget):
    target.prepare()
    if target.bulk is None or target.bulk.cancel is None:
        return []
    return [("cancel", target.bulk.cancel)]


# ----------------------------------------------------------------------------- helpers

def _available(source: SourceAnalysis) -> SourceAnalysis:
    if source.unavailable:
        raise TargetError(source.unavailable)
    return source


def _file_ev(source: SourceAnalysis, name: str, **kw: Any) -> Evidence:
    return Evidence.file(source.artefact(name), sha256=source.sha(name), **kw)


def _http(exchange) -> list[Evidence]:
    return [Evidence.from_http(exchange)] if exchange is not None else []


def _capped(findings: list[Finding], total_problems: int, what: str) -> Iterator[Finding]:
    yield from findings[:MAX_FINDINGS]
    if len(findings) > MAX_FINDINGS or total_problems > len(findings):
        hidden = max(total_problems, len(findings)) - min(len(findings), MAX_FINDINGS)
        if hidden > 0:
            yield failed(f"… and {hidden:,} more {what} (all counted in the summary)", message_id="portability.more")


def _body_kind(body: Any, excerpt: str | None) -> str:
    if is_operation_outcome(body):
        return "an OperationOutcome"
    if body is None:
        return f"not JSON ({(excerpt or '').strip()[:60]!r})"
    return f"JSON but not an OperationOutcome ({type(body).__name__})"


# ----------------------------------------------------------------------------- archive and formats

@check("portability.archive.safe", title="The export archive opens safely: no bomb, zip-slip, link or device file",
       severity="high", requirements=[R.READABLE], target="export", items=archive_items,
       remediation="Ship a plain zip or tar.gz of regular files with relative paths, within sane sizes.")
def archive_safe(target, source: SourceAnalysis):
    """The archive is untrusted input. It is extracted into a private work folder with caps on member
    count, per-member and total inflated bytes and compression ratio (counted on real bytes); absolute
    paths, ``..`` segments, symbolic/hard links and device files are refused. A refused member is
    skipped (the rest is still audited); a bomb stops the whole archive."""
    origin = Evidence.file(source.label, sha256=source.origin_sha256)
    if source.aborted:
        yield failed(f"{source.label}: {source.aborted}", message_id="portability.archive.refused", evidence=[origin])
        return
    for refusal in source.refusals:
        yield failed(f"{source.label}: {refusal.reason}", message_id=f"portability.archive.{refusal.code}",
                     evidence=[Evidence.file(f"{source.label}/{refusal.member}", sha256=source.origin_sha256)])
    if not source.refusals:
        yield passed(f"{source.label}: {len(source.files)} files read safely "
                     f"({sum(f.size for f in source.files):,} bytes)", message_id="portability.archive.ok",
                     evidence=[origin])


@check("portability.formats.open", title="Every file of the export is in an open, documented format",
       severity="high", requirements=[R.OPEN_FORMATS], target="export", items=source_items,
       remediation="Export FHIR NDJSON/JSON, CDA, CSV with CSVW metadata and PDF/A; document anything else.")
def formats_open(target, source: SourceAnalysis):
    """Each file is sniffed by content (magic bytes, XML root, JSON shape), not trusted by extension.
    FHIR NDJSON/JSON/XML, CDA R2, CSV, PDF, text, common images, DICOM and HL7 v2 are open and
    documented; databases and unknown binaries are proprietary dumps (fail); nested archives, XML or
    JSON of unknown vocabulary and undocumented text formats need a person to look (warn)."""
    _available(source)
    kinds = Counter()
    for entry in source.files:
        cls = entry.cls
        kinds[cls.kind] += 1
        if cls.open_format is False:
            yield failed(f"{entry.name}: {cls.description}: the next software cannot read it",
                         message_id=f"portability.formats.{cls.kind}", evidence=[_file_ev(source, entry.name)])
        elif cls.open_format is None:
            yield warned(f"{entry.name}: {cls.description}", message_id=f"portability.formats.{cls.kind}",
                         evidence=[_file_ev(source, entry.name)])
    if not source.files:
        yield failed("the export contains no file at all", message_id="portability.formats.empty_export")
        return
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    yield passed(f"{len(source.files)} files: {summary}", message_id="portability.formats.summary",
                 details={"kinds": dict(sorted(kinds.items()))})


@check("portability.formats.csv", title="CSV files have a header row and a declared encoding", severity="medium",
       requirements=[R.RFC4180, R.CSVW, R.OPEN_FORMATS], target="export", items=source_items,
       remediation="Start every CSV with a header row and declare its encoding (UTF-8 BOM, CSVW metadata "
                   "dialect.encoding, or a charset in the manifest).")
def formats_csv(target, source: SourceAnalysis):
    """A CSV is only readable by the next software if it says what its columns are and how its bytes
    are encoded. The encoding may be declared by a byte order mark, W3C CSVW metadata
    (``<file>-metadata.json``, ``dialect.encoding``) or a ``charset`` in the export manifest; the whole
    file must then decode with it. An undeclared non-UTF-8 file (Windows-1252 from an old database)
    is the classic source of garbled accents."""
    _available(source)
    if not source.csv:
        raise NotApplicable("the export has no CSV file")
    for name, report in sorted(source.csv.items()):
        for message_id, message in report.problems:
            yield failed(f"{name}: {message}", message_id=message_id, evidence=[_file_ev(source, name)])
        if not report.problems:
            yield passed(f"{name}: header {report.header[:4]!r}…, {report.rows:,} rows, encoding "
                         f"{report.declared_encoding} declared by {report.declared_by}",
                         message_id="portability.csv.ok", evidence=[_file_ev(source, name)])


@check("portability.formats.pdfa", title="PDF documents declare PDF/A (archival PDF)", severity="medium",
       requirements=[R.PDFA, R.OPEN_FORMATS], target="export", items=source_items,
       remediation="Produce documents as PDF/A (ISO 19005) with XMP identification and an output intent.")
def formats_pdfa(target, source: SourceAnalysis):
    """Documents (files and Binary resources) in PDF must be PDF/A for long-term readability: readable,
    not encrypted, XMP ``pdfaid:part``/``conformance`` present and a ``GTS_PDFA1`` output intent. This is a
    declaration check; full ISO 19005 validation (veraPDF) is out of scope."""
    _available(source)
    pdfs = [d for d in source.documents if d.kind == "pdf"]
    if not pdfs:
        raise NotApplicable("the export has no PDF document")
    good = 0
    for doc in pdfs:
        ev = _file_ev(source, doc.where, line=doc.line) if doc.name != doc.where else _file_ev(source, doc.name)
        for message_id, message in doc.problems:
            yield failed(f"{doc.name}: {message}", message_id=message_id, evidence=[ev])
        if not doc.problems:
            good += 1
    if good:
        yield passed(f"{good} of {len(pdfs)} PDF documents declare PDF/A", message_id="portability.pdf.ok")


# ----------------------------------------------------------------------------- NDJSON

@check("portability.ndjson.valid", title="Every NDJSON line parses and validates as FHIR R4 (FR Core where claimed)",
       severity="high", requirements=[R.NDJSON, R.VALIDATION, R.BULK_FILE], target="export", items=source_items,
       remediation="Write one complete, valid FHIR resource per line, UTF-8, one resource type per file.")
def ndjson_valid(target, source: SourceAnalysis):
    """Each resource file is streamed line by line (bounded memory, line-length cap): NUL bytes, invalid
    UTF-8, truncated lines and JSON syntax errors are reported with file, line and column; every
    resource goes through the shared FHIR validator (R4 structure, FR Core where a profile is claimed).
    Scanning never stops at the first bad line: every bad line is counted. Counts per resource type
    are reported."""
    _available(source)
    if not source.scans:
        raise NotApplicable("the export has no FHIR resource file (NDJSON or JSON)")
    findings: list[Finding] = []
    hidden = 0
    for name, scan in sorted(source.scans.items()):
        for fatal in scan.fatal:
            findings.append(Finding(Status.ERROR, fatal, message_id="portability.ndjson.read_error",
                                    evidence=[_file_ev(source, name)]))
        shown = 0
        for problem in scan.problems:
            if problem.code in REF_CODES:
                continue
            shown += 1
            kw = dict(line=problem.line, column=problem.column, excerpt=problem.excerpt, xpath=problem.path)
            make = failed if problem.severity == "error" else warned
            findings.append(make(f"{name}" + (f" line {problem.line}" if problem.line else "") + f": {problem.message}",
                                 message_id=f"portability.ndjson.{problem.code}",
                                 evidence=[_file_ev(source, name, **{k: v for k, v in kw.items() if v is not None})]))
        counted = sum(n for code, n in scan.problem_counts.items() if code not in REF_CODES)
        hidden += max(0, counted - shown)
    yield from findings[:MAX_FINDINGS]
    hidden += max(0, len(findings) - MAX_FINDINGS)
    if hidden:
        yield warned(f"… {hidden:,} more problems not listed one by one (counted below)", message_id="portability.more")
    if source.validator_state and source.validator_state != "ok":
        yield warned(f"resources were parsed but not validated: {source.validator_state}",
                     message_id="portability.ndjson.validator_unavailable")
    if source.duplicates:
        yield warned(f"{source.duplicates:,} resources repeat a Type/id already present in the export",
                     message_id="portability.ndjson.duplicate_ids")
    for name, scan in sorted(source.scans.items()):
        codes = {c: n for c, n in sorted(scan.problem_counts.items()) if c not in REF_CODES}
        types = ", ".join(f"{n:,} {t}" for t, n in sorted(scan.types.items()))
        message = (f"{name}: {scan.lines:,} lines, {scan.resources:,} resources ({types or 'none'}), "
                   f"{scan.bad_lines:,} bad lines")
        details = {"lines": scan.lines, "resources": scan.resources, "bad_lines": scan.bad_lines,
                   "types": dict(sorted(scan.types.items())), "problems": codes,
                   "validation_issues": {f"{s}:{c}": n for (s, c), n in sorted(scan.issue_counts.items())}}
        make = failed if scan.bad_lines else passed
        yield make(message, message_id="portability.ndjson.file_summary", evidence=[_file_ev(source, name)],
                   details=details)


# ----------------------------------------------------------------------------- completeness

@check("portability.completeness.types",
       title="Every resource type of the seeded dataset comes back, with every record",
       severity="critical", requirements=[R.COMPLETE], target="export", items=type_items,
       remediation="Export every resource type the product stores, every record of it.")
def completeness_types(target, item):
    """The profile declares what the vendor was loaded with (``expected``: counts per resource type).
    The export must bring every type back, with at least as many resources as were loaded; fewer is
    data left behind (fail), more is reported (warn) since the seeded instance should hold nothing else."""
    source, rtype, expected = item
    _available(source)
    actual = source.counts.get(rtype, 0)
    files = sorted(name for name, scan in source.scans.items() if scan.types.get(rtype))
    evidence = [_file_ev(source, name) for name in files[:5]]
    details = {"expected": expected, "actual": actual, "files": files[:20]}
    if actual == 0 and expected:
        yield failed(f"no {rtype} in the {source.name} export: the {expected:,} loaded were all left behind",
                     message_id="portability.completeness.missing_type", details=details,
                     evidence=evidence or [Evidence(kind="data", artefact=source.label,
                                                    values={"types_found": sorted(source.counts)})])
    elif actual < expected:
        yield failed(f"{actual:,} of {expected:,} {rtype} came back: {expected - actual:,} lost",
                     message_id="portability.completeness.short", details=details, evidence=evidence)
    elif actual > expected:
        yield warned(f"{actual:,} {rtype} exported, {expected:,} were loaded: {actual - expected:,} unexplained",
                     message_id="portability.completeness.extra", details=details, evidence=evidence)
    else:
        yield passed(f"all {expected:,} {rtype} came back", message_id="portability.completeness.ok",
                     details=details, evidence=evidence)


@check("portability.completeness.records",
       title="Known records come back unchanged: identity incl. INS, dates and time zones, full text",
       severity="critical", requirements=[R.UNCHANGED, R.COMPLETE], target="export", items=source_items,
       remediation="Export values exactly as stored: keep identifiers (INS), full date-times with their offset, "
                   "and untruncated text.")
def completeness_records(target, source: SourceAnalysis):
    """The profile lists known records (``known_records``, NDJSON). Each must be found by Type/id and
    carry everything it was loaded with: identifiers (INS first), names, birth date, dates with their
    precision and time zone, and text without truncation. Vendor additions are ignored."""
    _available(source)
    known = target.expected.known
    if not known:
        raise NotApplicable("the profile lists no known record")
    unchanged = 0
    for key in sorted(known):
        found = source.known_found.get(key)
        if found is None:
            yield failed(f"{key} is not in the {source.name} export", message_id="portability.records.not_found",
                         evidence=[Evidence(kind="data", artefact=f"{source.label}#{key}", values={"record": key})])
            continue
        diffs = diff(known[key], found["resource"])
        ev_kw = {k: v for k, v in (("line", found["line"]), ("xpath", found["path"])) if v is not None}
        for d in diffs:
            yield failed(f"{key}: {d.message}", message_id=f"portability.records.{d.kind}",
                         evidence=[_file_ev(source, found["file"], **ev_kw)],
                         details={"path": d.path, "expected": d.expected, "actual": d.actual})
        if not diffs:
            unchanged += 1
    if unchanged:
        yield passed(f"{unchanged} of {len(known)} known records came back unchanged",
                     message_id="portability.records.ok")


# ----------------------------------------------------------------------------- integrity

@check("portability.references.resolve", title="Every reference resolves inside the export", severity="high",
       requirements=[R.REFERENCES, R.INTEGRITY], target="export", items=source_items,
       remediation="Export every referenced resource (practitioners, patients, encounters…) or drop the reference.")
def references_resolve(target, source: SourceAnalysis):
    """Every ``Reference.reference`` found in the resources (relative ``Type/id``, absolute URLs on the
    export's own FHIR base, ``urn:uuid`` to Bundle entries, ``#id`` to contained resources) must point to
    a resource present in the export; a dangling reference is a record the next software cannot link.
    References to other servers cannot be checked and are reported as a warning."""
    _available(source)
    if not source.scans:
        raise NotApplicable("the export has no FHIR resource file")
    findings = []
    for d in source.dangling:
        findings.append(failed(f"{d.file} line {d.line}: {d.owner} references {d.ref}, absent from the export"
                               if d.line else f"{d.file}: {d.owner} references {d.ref}, absent from the export",
                               message_id="portability.references.dangling",
                               evidence=[_file_ev(source, d.file, **({"line": d.line} if d.line else {}))]))
    for name, scan in sorted(source.scans.items()):
        for problem in scan.problems:
            if problem.code in REF_CODES:
                findings.append(failed(f"{name} line {problem.line}: {problem.message}",
                                       message_id=f"portability.references.{problem.code}",
                                       evidence=[_file_ev(source, name, **({"line": problem.line} if problem.line
                                                                           else {}))]))
    local = sum(n for s in source.scans.values() for c, n in s.problem_counts.items() if c in REF_CODES)
    yield from _capped(findings, source.dangling_total + local, "dangling references")
    external = source.ref_kinds.get("external", 0)
    if external:
        yield warned(f"{external:,} references point outside the export (absolute URLs of other servers); "
                     "they cannot be resolved after the move", message_id="portability.references.external")
    details = {"references": source.refs_total, "kinds": dict(sorted(source.ref_kinds.items())),
               "dangling": source.dangling_total, "dangling_by_type": dict(sorted(source.dangling_targets.items()))}
    if source.dangling_total or local:
        yield failed(f"{source.dangling_total + local:,} of {source.refs_total:,} references do not resolve "
                     f"(by target type: {dict(sorted(source.dangling_targets.items()))})",
                     message_id="portability.references.summary", details=details)
    else:
        yield passed(f"all {source.refs_total:,} references resolve inside the export",
                     message_id="portability.references.ok", details=details)


@check("portability.attachments.integrity",
       title="Attachments are present in the export and match their declared size and hash",
       severity="high", requirements=[R.ATTACHMENT, R.INTEGRITY], target="export", items=source_items,
       remediation="Ship every document (as Binary or as a file of the archive) with Attachment.size and a base64 "
                   "SHA-1 Attachment.hash computed on the bytes shipped.")
def attachments_integrity(target, source: SourceAnalysis):
    """Every Attachment (DocumentReference.content, Media, photos…) must have its content in the export:
    inline ``data``, a ``Binary/<id>`` present in the export, or a file of the archive. Its declared
    ``size`` and ``hash`` (base64 SHA-1 in R4) must match those bytes."""
    _available(source)
    if not source.attachments_checked and not source.binaries:
        raise NotApplicable("the export carries no attachment")
    findings = []
    for p in source.attachment_problems:
        make = failed if p.severity == "error" else warned
        findings.append(make(f"{p.file}" + (f" line {p.line}" if p.line else "") + f": {p.message}",
                             message_id=f"portability.attachments.{p.code}",
                             evidence=[_file_ev(source, p.file, **({"line": p.line} if p.line else {}))]))
    yield from findings[:MAX_FINDINGS]
    errors = sum(n for code, n in source.attachment_counts.items())
    details = {"attachments": source.attachments_checked, "binaries": source.binaries,
               "problems": dict(sorted(source.attachment_counts.items()))}
    if not any(p.severity == "error" for p in source.attachment_problems):
        yield passed(f"{source.attachments_checked:,} attachments checked against {source.binaries:,} Binary "
                     "resources and the export's files", message_id="portability.attachments.ok", details=details)
    elif errors > MAX_FINDINGS:
        yield failed(f"{errors:,} attachment problems in all", message_id="portability.attachments.summary",
                     details=details)


@check("portability.documents.cda",
       title="CDA documents in the export are safe, well-formed CDA R2 (DMP validators when installed)",
       severity="medium", requirements=[R.CDA, R.OPEN_FORMATS], target="export", items=source_items,
       remediation="Ship complete CDA R2 documents with a French header (INS, author, custodian).")
def documents_cda(target, source: SourceAnalysis):
    """CDA documents (files of the archive and Binary resources) are parsed with the hardened XML parser:
    root ``ClinicalDocument`` in ``urn:hl7-org:v3``, header elements, INS with a valid key. When the dmp
    family is installed, each well-formed document is also handed to its public ``validate_cda_bytes``
    (the CI-SIS stages of the ``dmp.cda.*`` checks); its fail/warn/error results become findings here,
    at most :data:`MAX_DMP_PER_DOCUMENT` per document."""
    _available(source)
    docs = [d for d in source.documents if d.kind == "cda"]
    if not docs:
        raise NotApplicable("the export has no CDA document")
    ok, validated, skipped = 0, 0, set[str]()
    findings: list[Finding] = []
    total = 0
    for doc in docs:
        ev = _file_ev(source, doc.where, **({"line": doc.line} if doc.line else {}))
        bad = False
        for message_id, message in doc.problems:
            bad = True
            total += 1
            findings.append(failed(f"{doc.name}: {message}", message_id=message_id, evidence=[ev]))
        reported = []
        for result in doc.dmp or []:
            status = str(result.get("status", "fail"))
            if status == "skipped":
                skipped.add(str(result.get("message")))
                continue
            if status not in ("fail", "error", "warn", "review"):
                continue
            bad = bad or status == "fail"
            reported.append(Finding(Status(status), f"{doc.name}: DMP validation: {result.get('message')}",
                                    message_id=result.get("message_id") or f"portability.cda.dmp_{status}",
                                    evidence=[ev],
                                    requirement_ids=(R.CDA, *(result.get("requirement_ids") or ()))))
        validated += doc.dmp is not None and not any(str(r.get("status")) == "skipped" for r in doc.dmp)
        total += len(reported)
        findings.extend(reported[:MAX_DMP_PER_DOCUMENT])
        if len(reported) > MAX_DMP_PER_DOCUMENT:
            findings.append(Finding(worst(f.status for f in reported[MAX_DMP_PER_DOCUMENT:]),
                                    f"{doc.name}: … and {len(reported) - MAX_DMP_PER_DOCUMENT} more DMP validation "
                                    "findings on this document", message_id="portability.cda.dmp_more", evidence=[ev]))
        ok += not bad
    yield from _capped(findings, total, "CDA problems")
    if validated == len(docs):
        note = " and pass the dmp family's CI-SIS validators"
    elif validated:
        note = f"; {validated} of them were handed to the dmp family's CI-SIS validators"
        if source.dmp_state and source.dmp_state != "ok":
            note += f" ({source.dmp_state})"
    else:
        note = f" ({'; '.join(sorted(skipped)) or source.dmp_state or 'DMP validators not used'})"
    if ok:
        yield passed(f"{ok} of {len(docs)} CDA documents are well-formed CDA R2 with a valid header{note}",
                     message_id="portability.cda.ok")


@check("portability.manifest.honest", title="The manifest declares what the export really contains",
       severity="high", requirements=[R.BULK_COMPLETE, R.INTEGRITY], target="export", items=source_items,
       remediation="Generate the manifest from the files actually written: every file listed, with its type and "
                   "true resource count.")
def manifest_honest(target, source: SourceAnalysis):
    """A manifest (the Bulk Data completion manifest, or a ``manifest.json`` inside an archive) is a
    promise: every file it lists must exist, hold only the declared type and exactly the declared
    ``count`` of resources; and the archive must not hold resource files the manifest omits."""
    if source.name == "bulk":
        yield from _bulk_manifest_honest(target, source)
        return
    _available(source)
    if not source.manifests:
        raise NotApplicable("the archive carries no manifest")
    for manifest_name, data in source.manifests:
        base = PurePosixPath(manifest_name).parent
        listed = set()
        problems = 0
        for entry in data.get("output") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                problems += 1
                yield failed(f"{manifest_name}: output entry {entry!r} has no url", message_id="portability.manifest.entry",
                             evidence=[_file_ev(source, manifest_name)])
                continue
            rel = (base / entry["url"]).as_posix() if str(base) != "." else entry["url"]
            listed.add(rel)
            scan = source.scans.get(rel)
            if scan is None:
                problems += 1
                yield failed(f"{manifest_name} lists {entry['url']} ({entry.get('type')}, count {entry.get('count')}), "
                             "absent from the export", message_id="portability.manifest.missing_file",
                             evidence=[_file_ev(source, manifest_name)])
                continue
            found = list(_compare_entry(source, manifest_name, entry, rel, scan))
            problems += len(found)
            yield from found
        for name in sorted(source.scans):
            if name not in listed and name.endswith((".ndjson", ".ndjson.gz", ".jsonl")):
                problems += 1
                yield failed(f"{manifest_name} omits {name} ({source.scans[name].resources:,} resources)",
                             message_id="portability.manifest.unlisted_file", evidence=[_file_ev(source, name)])
        if not problems:
            yield passed(f"{manifest_name}: {len(listed)} files listed, types and counts match",
                         message_id="portability.manifest.ok", evidence=[_file_ev(source, manifest_name)])


def _compare_entry(source: SourceAnalysis, manifest_name: str, entry: dict[str, Any], rel: str, scan) -> Iterator[Finding]:
    declared = entry.get("count")
    actual = scan.lines - scan.blank
    ev = [_file_ev(source, manifest_name), _file_ev(source, rel)]
    if declared is not None and declared != actual:
        yield failed(f"{manifest_name}: {entry['url']} declared with count {declared}, holds {actual:,} resources",
                     message_id="portability.manifest.count", evidence=ev,
                     details={"declared": declared, "actual": actual})
    rtype = entry.get("type")
    others = sorted(t for t in scan.types if t != rtype)
    if rtype and others:
        yield failed(f"{manifest_name}: {entry['url']} declared as {rtype}, also holds {', '.join(others)}",
                     message_id="portability.manifest.type", evidence=ev)


def _bulk_manifest_honest(target: ExportTarget, source: SourceAnalysis) -> Iterator[Finding]:
    main = target.bulk.main if target.bulk else None
    if main is None or main.outcome != "complete" or main.manifest is None:
        raise TargetError(source.unavailable or "the $export job did not complete: no manifest to compare")
    problems = 0
    unverifiable = 0
    for item in main.downloads:
        if item.kind != "output":
            continue
        if item.path is None:
            unverifiable += 1
            continue
        scan = source.scans.get(item.name)
        if scan is None:
            continue
        actual = scan.lines - scan.blank
        ev = [Evidence.file(item.url, sha256=item.sha256)] + _http(main.final)
        if item.declared_count is not None and item.declared_count != actual:
            problems += 1
            yield failed(f"manifest declares {item.declared_count} {item.type} in {item.url}; the file holds "
                         f"{actual:,}", message_id="portability.manifest.count", evidence=ev,
                         details={"declared": item.declared_count, "actual": actual})
        others = sorted(t for t in scan.types if t != item.type)
        if item.type and others:
            problems += 1
            yield failed(f"{item.url} is declared as {item.type} but holds {', '.join(others)}",
                         message_id="portability.manifest.type", evidence=ev)
    if unverifiable:
        yield warned(f"{unverifiable} listed files could not be downloaded, so their counts are unverified "
                     "(see portability.bulk.download)", message_id="portability.manifest.unverifiable")
    if not problems:
        yield passed(f"{len(main.downloads)} files listed; every downloaded file matches its declared type and "
                     "count", message_id="portability.manifest.ok", evidence=_http(main.final))


# ----------------------------------------------------------------------------- Bulk Data flow

@check("portability.bulk.kickoff", title="$export kick-off answers 202 Accepted with an absolute Content-Location",
       severity="high", requirements=[R.BULK_KICKOFF, R.BULK_KICKOFF_RESPONSE], target="export", items=job_items,
       remediation="Answer GET [base]/$export with Prefer: respond-async by 202 and a Content-Location status URL.")
def bulk_kickoff(target, job: Job):
    """Kick-off (system, Patient or Group level) with ``Accept: application/fhir+json`` and
    ``Prefer: respond-async`` must answer ``202 Accepted`` with an absolute ``Content-Location`` status URL;
    an error must come with an OperationOutcome body."""
    evidence = _http(job.kickoff)
    if job.outcome == "transport-error" and job.kickoff_status is None:
        raise TargetError(f"kick-off {job.url} unreachable: {job.outcome_detail}")
    if job.kickoff_status != 202:
        yield failed(f"{job.name} kick-off answered HTTP {job.kickoff_status}, not 202 Accepted",
                     message_id="portability.bulk.kickoff_status", evidence=evidence)
        if not is_operation_outcome(job.kickoff_body):
            yield failed(f"the error body is {_body_kind(job.kickoff_body, job.kickoff.body_excerpt)}",
                         message_id="portability.bulk.error_not_outcome", evidence=evidence)
        return
    if job.status_url is None:
        yield failed(f"{job.name} kick-off answered 202 without a Content-Location: the client cannot poll",
                     message_id="portability.bulk.no_content_location", evidence=evidence)
        return
    if job.status_url_problem:
        yield warned(job.status_url_problem, message_id="portability.bulk.relative_location", evidence=evidence)
    yield passed(f"{job.name} kick-off accepted, status at {job.status_url}", message_id="portability.bulk.kickoff_ok",
                 evidence=evidence)


@check("portability.bulk.status",
       title="The export job completes within the deadline; polling honours Retry-After and reports X-Progress",
       severity="high", requirements=[R.BULK_IN_PROGRESS, R.BULK_ERROR, R.BULK_COMPLETE], target="export",
       items=job_items,
       remediation="Complete export jobs in reasonable time, answer 202 with Retry-After/X-Progress meanwhile, and "
                   "report failures as 4xx/5xx with an OperationOutcome.")
def bulk_status(target, job: Job):
    """The status URL is polled until it answers 200, honouring ``Retry-After`` (capped by the profile's
    ``max_retry_after``, so a huge value never stalls the audit) up to the profile's overall ``deadline``;
    ``X-Progress`` values are reported. A job still running at the deadline fails (it is then cancelled
    with DELETE); an error answer must carry an OperationOutcome; a 5xx OperationOutcome with a transient
    code is retried."""
    if job.status_url is None:
        raise Skip(f"{job.name}: kick-off did not give a status URL; nothing to poll")
    polls = [p for p in job.polls if p.exchange is not None]
    evidence = [e for p in polls[-2:] for e in _http(p.exchange)]
    details = {"polls": job.poll_count, "x_progress": job.progress_values[-5:], "retry_after": job.retry_after_values[-5:],
               "capped_waits": job.capped_waits, "deadline_s": target.bulk_settings.deadline}
    if job.outcome == "transport-error":
        raise TargetError(f"{job.name}: status URL unreachable: {job.outcome_detail}")
    if job.outcome == "deadline":
        asked = f"; Retry-After asked {job.retry_after_values[-1]}s" if job.retry_after_values else ""
        capped = f" (capped to {target.bulk_settings.max_retry_after:g}s)" if job.capped_waits else ""
        progress = f"; last X-Progress {job.progress_values[-1]!r}" if job.progress_values else ""
        yield failed(f"{job.name} export {job.outcome_detail}{asked}{capped}{progress}",
                     message_id="portability.bulk.deadline", evidence=evidence + _http(job.cleanup), details=details)
        return
    if job.outcome == "error":
        yield failed(f"{job.name} export failed: {job.outcome_detail}", message_id="portability.bulk.job_error",
                     evidence=_http(job.final), details=details)
        if not is_operation_outcome(job.final_body):
            yield failed(f"the error body is {_body_kind(job.final_body, job.final.body_excerpt if job.final else None)}",
                         message_id="portability.bulk.error_not_outcome", evidence=_http(job.final))
        return
    in_progress = [p for p in job.polls if p.status == 202]
    if in_progress and not any(p.retry_after for p in in_progress):
        yield warned(f"{job.name}: in-progress answers carry no Retry-After", message_id="portability.bulk.no_retry_after",
                     evidence=evidence)
    progress = f", X-Progress {job.progress_values!r}" if job.progress_values else ""
    yield passed(f"{job.name} export complete after {job.poll_count} status requests{progress}",
                 message_id="portability.bulk.complete", evidence=_http(job.final), details=details)


@check("portability.bulk.manifest",
       title="The completion manifest is well formed: transactionTime, request, requiresAccessToken, output, error",
       severity="high", requirements=[R.BULK_COMPLETE], target="export", items=job_items,
       remediation="Return the manifest as application/json with every required field of the Bulk Data IG.")
def bulk_manifest(target, job: Job):
    """The 200 answer is ``application/json`` with ``transactionTime`` (a FHIR instant), ``request`` (the
    kick-off URL), ``requiresAccessToken`` (boolean), ``output`` (``type`` + absolute ``url`` per file,
    ``count`` optional) and ``error`` (an array, possibly empty)."""
    if job.outcome != "complete":
        raise Skip(f"{job.name}: the export did not complete; no manifest to read")
    evidence = _http(job.final)
    manifest = job.manifest
    if manifest is None:
        yield failed(f"{job.name}: {job.manifest_problem}", message_id="portability.bulk.manifest_not_json",
                     evidence=evidence)
        return
    problems = []
    content_type = (job.final.response_headers.get("content-type") if job.final else "") or ""
    if "json" not in content_type:
        problems.append(("content_type", f"Content-Type is {content_type!r}, not application/json"))
    tt = manifest.get("transactionTime")
    if not isinstance(tt, str) or not INSTANT_RE.match(tt):
        problems.append(("transaction_time", f"transactionTime {tt!r} is not a FHIR instant"))
    request = manifest.get("request")
    if not isinstance(request, str):
        problems.append(("request", "request (the kick-off URL) is missing"))
    elif request.split("://", 1)[-1].split("/", 1)[-1].split("?")[0] != job.url.split("://", 1)[-1].split("/", 1)[-1]:
        problems.append(("request", f"request {request!r} is not the kick-off URL {job.url!r}"))
    if not isinstance(manifest.get("requiresAccessToken"), bool):
        problems.append(("requires_access_token",
                         f"requiresAccessToken is {manifest.get('requiresAccessToken')!r}, not a boolean"))
    output = manifest.get("output")
    if not isinstance(output, list):
        problems.append(("output", "output is not an array"))
    else:
        for i, entry in enumerate(output):
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str) or not isinstance(entry.get("url"), str):
                problems.append(("output_entry", f"output[{i}] lacks a type or url"))
            elif "://" not in entry["url"]:
                problems.append(("output_url", f"output[{i}].url {entry['url']!r} is not absolute"))
            elif "count" in entry and (not isinstance(entry["count"], int) or isinstance(entry["count"], bool)):
                problems.append(("output_count", f"output[{i}].count {entry['count']!r} is not an integer"))
    if not isinstance(manifest.get("error"), list):
        problems.append(("error", "error is missing or not an array (it is required, even empty)"))
    for code, message in problems:
        yield failed(f"{job.name} manifest: {message}", message_id=f"portability.bulk.manifest_{code}", evidence=evidence)
    if not problems:
        yield passed(f"{job.name} manifest well formed: {len(output)} output files, "
                     f"{len(manifest['error'])} error files", message_id="portability.bulk.manifest_ok",
                     evidence=evidence)


@check("portability.bulk.download",
       title="Every listed file downloads as NDJSON, honouring requiresAccessToken; error files hold OperationOutcomes",
       severity="high", requirements=[R.BULK_FILE, R.BULK_COMPLETE], target="export", items=main_job_items,
       remediation="Serve every file listed in the manifest (application/fhir+ndjson), with the access control the "
                   "manifest declares; write errors as OperationOutcome NDJSON.")
def bulk_download(target, job: Job):
    """Each ``output`` file is downloaded (streamed to the work folder with a byte cap and a time box,
    ``Accept: application/fhir+ndjson``). ``requiresAccessToken`` is checked against how files are actually
    served: with ``true`` a download without the token must be refused, with ``false`` files must come
    without one. Each line of each ``error`` file must be an OperationOutcome."""
    if job.outcome != "complete" or job.manifest is None:
        raise Skip(f"{job.name}: the export did not complete; nothing to download")
    if not job.downloads:
        raise NotApplicable("the manifest lists no file")
    bad = 0
    requires = job.manifest.get("requiresAccessToken")
    for item in job.downloads:
        evidence = _http(item.exchange)
        if item.token_withheld:
            yield warned(f"{item.url} is on another origin than the kick-off URL: the access token was not sent "
                         "(credentials go only to the server they were issued for)",
                         message_id="portability.bulk.token_withheld", evidence=evidence)
        if item.status != 200 or item.error:
            bad += 1
            what = f"HTTP {item.status}" if item.status is not None else "no answer"
            yield failed(f"{item.kind} file {item.url} ({item.type}): {what}" + (f": {item.error}" if item.error else ""),
                         message_id="portability.bulk.download_failed", evidence=evidence)
            if item.status in (401, 403) and requires is False:
                yield failed(f"requiresAccessToken is false, but {item.url} demands authorization",
                             message_id="portability.bulk.token_mismatch", evidence=evidence)
            continue
        if item.kind == "output" and "ndjson" not in (item.content_type or ""):
            yield warned(f"{item.url} served as {item.content_type!r}, not application/fhir+ndjson",
                         message_id="portability.bulk.content_type", evidence=evidence)
        if item.kind == "error":
            yield from _error_file(item, evidence)
    probe = job.token_probe
    if probe is not None:
        ev = _http(probe.get("exchange"))
        if probe["mode"] == "without-token" and probe.get("status") == 200:
            bad += 1
            yield failed(f"requiresAccessToken is true, but {probe['url']} is served without the token",
                         message_id="portability.bulk.token_not_enforced", evidence=ev)
        elif probe["mode"] == "no-token-configured":
            bad += 1
            yield failed(f"requiresAccessToken is true, but {probe['url']} was served to a client with no token at all",
                         message_id="portability.bulk.token_not_enforced", evidence=ev)
    ok = sum(1 for d in job.downloads if d.status == 200 and not d.error)
    if not bad:
        how = {True: "with the access token, refused without it", False: "without any token, as declared"}.get(
            requires, "")
        yield passed(f"{ok} files downloaded ({sum(d.bytes for d in job.downloads):,} bytes) {how}".rstrip(),
                     message_id="portability.bulk.download_ok")


def _error_file(item, evidence) -> Iterator[Finding]:
    try:
        with open(item.path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    body = orjson.loads(line)
                except orjson.JSONDecodeError:
                    body = None
                if not is_operation_outcome(body):
                    yield failed(f"error file {item.url} line {number} is {_body_kind(body, line[:80].decode('utf-8', 'replace'))}",
                                 message_id="portability.bulk.error_not_outcome",
                                 evidence=[Evidence.file(item.url, sha256=item.sha256, line=number,
                                                         excerpt=line[:200].decode("utf-8", "replace"))])
                    if number > 20:
                        return
    except OSError as exc:
        yield Finding(Status.ERROR, f"error file {item.url} unreadable: {exc}", message_id="portability.bulk.read_error",
                      evidence=evidence)


@check("portability.bulk.cancel", title="DELETE on the status URL cancels an export job (202, then 404)",
       severity="medium", requirements=[R.BULK_DELETE], target="export", items=cancel_items,
       remediation="Accept DELETE on the status URL with 202 and answer 404 (with an OperationOutcome) afterwards.")
def bulk_cancel(target, probe):
    """A fresh job (``_type`` = the first type probed) is kicked off and immediately cancelled with
    ``DELETE`` on its status URL: the answer must be ``202 Accepted``, and the status URL must then
    answer ``404`` with an OperationOutcome."""
    if probe.error and probe.delete is None:
        raise Skip(f"cancel probe could not start: {probe.error}")
    if probe.delete_status != 202:
        yield failed(f"DELETE {probe.job.status_url} answered HTTP {probe.delete_status}, not 202 Accepted",
                     message_id="portability.bulk.cancel_status", evidence=_http(probe.delete))
        return
    if probe.after_status != 404:
        yield failed(f"after DELETE, the status URL answered HTTP {probe.after_status}, not 404",
                     message_id="portability.bulk.cancel_still_there", evidence=_http(probe.after))
        return
    if not is_operation_outcome(probe.after_body):
        yield warned(f"the 404 after DELETE carries {_body_kind(probe.after_body, probe.after.body_excerpt)}",
                     message_id="portability.bulk.error_not_outcome", evidence=_http(probe.after))
    yield passed("DELETE answered 202 and the status URL then answered 404", message_id="portability.bulk.cancel_ok",
                 evidence=_http(probe.delete) + _http(probe.after))


@check("portability.bulk.params", title="$export honours _type and _since", severity="medium",
       requirements=[R.BULK_PARAMS], target="export", items=param_items,
       remediation="Filter the export by _type (resource types) and _since (meta.lastUpdated), or refuse the "
                   "parameter with an OperationOutcome.")
def bulk_params(target, job: Job):
    """``_type=A,B`` must return only files of types A and B; ``_since=<instant>`` (by default the main
    job's ``transactionTime``) must return only resources changed after it. A server that cannot honour a
    parameter may refuse it with 4xx + OperationOutcome (warn); silently ignoring it fails."""
    if job.kickoff_status is not None and 400 <= job.kickoff_status < 500 and is_operation_outcome(job.kickoff_body):
        yield warned(f"the server refuses {job.name}={job.params.get(job.name)!r} (HTTP {job.kickoff_status}, "
                     "OperationOutcome)", message_id="portability.bulk.param_refused", evidence=_http(job.kickoff))
        return
    if job.outcome != "complete" or job.manifest is None:
        yield failed(f"{job.name} export did not complete: {job.outcome_detail}",
                     message_id="portability.bulk.param_job_failed", evidence=_http(job.final or job.kickoff))
        return
    outputs = [o for o in job.manifest.get("output") or [] if isinstance(o, dict)]
    evidence = _http(job.final)
    if job.name == "_type":
        wanted = set(job.params["_type"].split(","))
        extra = sorted({str(o.get("type")) for o in outputs} - wanted)
        if extra:
            yield failed(f"_type={job.params['_type']} returned other types too: {', '.join(extra)}",
                         message_id="portability.bulk.type_ignored", evidence=evidence)
        else:
            yield passed(f"_type={job.params['_type']} returned only {sorted({o.get('type') for o in outputs})}",
                         message_id="portability.bulk.type_ok", evidence=evidence)
        return
    since = job.params["_since"]
    from .compare import _instant

    _, since_when = _instant(since)
    older = checked = 0
    example = None
    for item in job.downloads:
        if item.kind != "output" or not item.path:
            continue
        with open(item.path, "rb") as handle:
            for line in handle:
                try:
                    resource = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                checked += 1
                updated = (resource.get("meta") or {}).get("lastUpdated") if isinstance(resource, dict) else None
                _, when = _instant(updated) if isinstance(updated, str) else (None, None)
                if when is not None and since_when is not None and when <= since_when:
                    older += 1
                    example = example or f"{resource.get('resourceType')}/{resource.get('id')} (lastUpdated {updated})"
    if older:
        yield failed(f"_since={since} returned {older:,} of {checked:,} sampled resources last updated before it, "
                     f"e.g. {example}", message_id="portability.bulk.since_ignored", evidence=evidence)
    else:
        yield passed(f"_since={since}: {len(outputs)} files, no resource older than _since among {checked:,} sampled",
                     message_id="portability.bulk.since_ok", evidence=evidence)


ALL = [archive_safe, formats_open, formats_csv, formats_pdfa, ndjson_valid, completeness_types, completeness_records,
       references_resolve, attachments_integrity, documents_cda, manifest_honest, bulk_kickoff, bulk_status,
       bulk_manifest, bulk_download, bulk_cancel, bulk_params]
