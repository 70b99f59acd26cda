"""Checks of the dmp family: pure functions over the per-document validation reports and the XDM packages."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any, Iterable

from harness import Evidence, Finding, NotApplicable, Skip, check, errored, failed, passed, warned
from harness.safety import UnsafeInput
from harness_plugins._common.identifiers import OID_INS_NIR, OID_INS_NIR_TEST, OID_RPPS, check_nir, check_rpps, \
    luhn_ok

from . import xdm
from .engine import DocumentReport, Source, StageResult
from .svrl import Issue

ITEMS_DOCS = lambda target: target.documents()  # noqa: E731 - one item per CDA document (files and XDM members)
ITEMS_XDM = lambda target: target.xdm_packages()  # noqa: E731 - one item per XDM package

R_WF = "XML-1.0:well-formed"
R_XSD = "CI-SIS:XSD:CDA_extended"
R_SM = "CI-SIS:ASIP-STRUCT-MIN-StrucMin"
R_MC = "CI-SIS:CI-SIS_ModelesDeContenusCDA"
R_ANS = "CI-SIS:CI-SIS_Modeles_ANS"
R_VOLET = "CI-SIS:volet"
R_INS = "CI-SIS:INS"
R_RPPS = "CI-SIS:RPPS"
R_OID = "ISO-IEC-9834-1:OID"
R_HEADER = "CI-SIS:header"
R_CODES = "CI-SIS:JDV"
R_EMBED = "CI-SIS:embedded-document"
R_XDM = "IHE-ITI-TF:XDM"
R_XDM_META = "IHE-ITI-TF3:DocumentEntry"

#: Findings one check reports per document before summarising the rest.
_TS_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"


# ----------------------------------------------------------------------------- helpers


def _ev(report: DocumentReport, line: int | None = None, xpath: str | None = None, column: int | None = None,
        **kw: Any) -> Evidence:
    return Evidence.file(report.artefact, sha256=report.sha256, line=line, column=column, xpath=xpath, **kw)


def _issue_finding(report: DocumentReport, issue: Issue, message_id: str) -> Finding:
    status = {"fail": "fail", "warn": "warn", "info": "pass"}.get(issue.status, "fail")
    severity = "info" if issue.status == "info" else None
    return Finding(status, issue.message, message_id=issue.requirement or message_id, severity=severity,
                   requirement_ids=(issue.requirement,) if issue.requirement else (),
                   evidence=(_ev(report, issue.line, issue.xpath, issue.column),), details=dict(issue.details))


def _gate(stage: StageResult, report: DocumentReport) -> Iterable[Finding]:
    """Turn a stage that did not run into the right outcome (error / skipped / not applicable)."""
    if stage.status == "error":
        defect = (stage.reason or "").startswith("rule pack defect")
        yield errored(stage.reason or "the stage could not run",
                      message_id="dmp.rule_pack_defect" if defect else "dmp.engine_error",
                      evidence=(_ev(report),), details=_stage_details(stage))
        return
    if stage.status == "skipped":
        raise Skip(stage.reason or "not validated", message_id="dmp.skipped")
    if stage.status == "not_applicable":
        raise NotApplicable(stage.reason or "not applicable", message_id="dmp.not_applicable")


def _stage_details(stage: StageResult) -> dict[str, Any]:
    details = {"entry_point": stage.entry, **{k: v for k, v in stage.details.items() if k != "traceback"}}
    if stage.counts:
        details["counts"] = dict(stage.counts)
    return {k: v for k, v in details.items() if v not in (None, {}, [])}


def _stage_check(target, source: Source, name: str, what: str) -> Iterable[Finding]:
    report = target.report(source)
    stage = report.stage(name)
    gated = list(_gate(stage, report))
    if gated:
        yield from gated
        return
    for issue in stage.issues:
        yield _issue_finding(report, issue, f"dmp.{name}")
    truncated = sum(stage.counts.get(k, 0) for k in ("fail", "warn", "info")) - len(stage.issues)
    if truncated > 0:
        yield Finding(stage.status if stage.status in ("fail", "warn") else "fail",
                      f"{truncated} more {what} findings not listed", message_id=f"dmp.{name}.truncated",
                      evidence=(_ev(report),), details=_stage_details(stage))
    if stage.status == "pass":
        yield passed(f"{what}: no error", message_id=f"dmp.{name}.ok", evidence=(_ev(report),),
                     details=_stage_details(stage))


# ----------------------------------------------------------------------------- parse and schemas


@check("dmp.cda.well_formed", title="The CDA document parses safely as well-formed XML with an honest encoding",
       severity="critical", requirements=[R_WF], target="dmp", items=ITEMS_DOCS,
       remediation="Produce UTF-8, well-formed XML without DOCTYPE or entity declarations.")
def well_formed(target, source):
    """Parsed with no DTD loading, no network access and no entity expansion: DOCTYPEs that declare entities
    (XXE, billion laughs, quadratic blowup) or reference an external DTD, truncated XML, documents over the
    size limit and declarations that lie about the encoding all fail with the reason."""
    report = target.report(source)
    stage = report.stage("well_formed")
    if stage.status == "error":
        yield errored(stage.reason or "cannot read the document", message_id="dmp.read_error",
                      evidence=(_ev(report),))
        return
    for issue in stage.issues:
        yield _issue_finding(report, issue, "dmp.well_formed")
    if stage.status == "pass":
        enc = report.encoding.get("effective", "UTF-8")
        yield passed(f"well-formed XML, {report.size:,} bytes, {enc}", message_id="dmp.well_formed.ok",
                     evidence=(_ev(report),))


@check("dmp.cda.xsd", title="The document is valid against the CDA R2 XSD with the ANS extensions",
       severity="critical", requirements=[R_XSD], target="dmp", items=ITEMS_DOCS)
def xsd(target, source):
    """``infrastructure/cda/CDA_extended.xsd`` of the rule pack (lxml); each error with its line and path."""
    yield from _stage_check(target, source, "xsd", "CDA XSD")


@check("dmp.cda.structuration_minimale", title="The document meets the CI-SIS structuration minimale",
       severity="critical", requirements=[R_SM], target="dmp", items=ITEMS_DOCS)
def structuration_minimale(target, source):
    """The ASIP-STRUCT-MIN-StrucMin schematron (header rules common to every DMP document). Its rules carry
    role error / warning / info: error is a failure, warning a warning, info a note."""
    yield from _stage_check(target, source, "structuration_minimale", "structuration minimale")


@check("dmp.cda.modeles_contenus", title="Sections and entries follow the CI-SIS content models (IHE/FR)",
       severity="high", requirements=[R_MC], target="dmp", items=ITEMS_DOCS)
def modeles_contenus(target, source):
    """The generic CI-SIS_ModelesDeContenusCDA schematron the official tool runs on every document."""
    yield from _stage_check(target, source, "modeles_contenus", "modèles de contenus CDA")


@check("dmp.cda.modeles_ans", title="Sections and entries created by ANS follow their models",
       severity="high", requirements=[R_ANS], target="dmp", items=ITEMS_DOCS)
def modeles_ans(target, source):
    """The generic CI-SIS_Modeles_ANS schematron the official tool runs on every document."""
    yield from _stage_check(target, source, "modeles_ans", "modèles ANS")


@check("dmp.cda.volet", title="The document meets the schematron of its CI-SIS volet",
       severity="high", requirements=[R_VOLET], target="dmp", items=ITEMS_DOCS)
def volet(target, source):
    """The volet is chosen from the document's templateIds (data: ``volets.toml``); a document of a volet the
    pack does not have is not applicable, naming the template ids it carried."""
    report = target.report(source)
    stage = report.stage("volet")
    if stage.status == "not_applicable":
        templates = ", ".join(report.volet.get("templates") or []) or "none"
        raise NotApplicable(f"{stage.reason} — templateIds carried: {templates}", message_id="dmp.volet.not_in_pack")
    yield from _stage_check(target, source, "volet", f"volet {report.volet.get('name') or ''}".strip())


# ----------------------------------------------------------------------------- identity


def _header(target, source) -> tuple[DocumentReport, dict[str, Any]]:
    report = target.report(source)
    wf = report.stage("well_formed")
    if wf.status == "error":
        raise Skip(wf.reason or "the document could not be read", message_id="dmp.skipped")
    if not report.header:
        raise Skip("the document could not be parsed", message_id="dmp.skipped")
    if not report.header.get("is_cda"):
        raise NotApplicable(f"not a CDA document (root element {report.header.get('root_element')})",
                            message_id="dmp.not_cda")
    return report, report.header


def _nir_consistency(nir: str, patient: dict[str, Any]) -> list[str]:
    """Sex, year and month of birth carried by the NIR against the header's patient."""
    notes = []
    sex = nir[0]
    gender = patient.get("gender")
    if gender in ("M", "F") and sex in "12" and {"1": "M", "2": "F"}[sex] != gender:
        notes.append(f"the NIR says sex {sex} but administrativeGenderCode is {gender}")
    birth = patient.get("birthTime") or ""
    if len(birth) >= 6 and birth[:6].isdigit():
        if nir[1:3] != birth[2:4]:
            notes.append(f"the NIR year of birth {nir[1:3]} differs from birthTime {birth[:4]}")
        month = nir[3:5]
        if month.isdigit() and 1 <= int(month) <= 12 and month != birth[4:6]:
            notes.append(f"the NIR month of birth {month} differs from birthTime {birth[:6]}")
    return notes


@check("dmp.cda.ins", title="The patient is identified by a valid INS (NIR and its key)",
       severity="critical", requirements=[R_INS], target="dmp", items=ITEMS_DOCS,
       remediation="Carry the patient's matricule INS in recordTarget/patientRole/id with root 1.2.250.1.213.1.4.8.")
def ins(target, source):
    """recordTarget/patientRole/id with root 1.2.250.1.213.1.4.8 (or the test OIDs .10/.11): 13 characters
    and a key of 97 − (number mod 97), Corsica 2A/2B read as 19/18; sex and birth date consistent with the
    header. A document without an INS cannot be filed in the DMP."""
    report, header = _header(target, source)
    patients = header.get("patients") or []
    if not patients:
        yield failed("no recordTarget/patientRole: the document names no patient", message_id="dmp.ins.no_patient",
                     requirement_ids=(f"{R_INS}:present",), evidence=(_ev(report, 1, "/ClinicalDocument"),))
        return
    for patient in patients:
        ins_ids = [i for i in patient["ids"] if i["root"] in (OID_INS_NIR, *OID_INS_NIR_TEST)]
        if not ins_ids:
            roots = ", ".join(sorted({i["root"] or "?" for i in patient["ids"]})) or "none"
            yield failed(f"no INS in the patient's identifiers (roots: {roots}); expected root {OID_INS_NIR}",
                         message_id="dmp.ins.missing", requirement_ids=(f"{R_INS}:present",),
                         evidence=(_ev(report, patient["line"], patient["xpath"]),))
            continue
        for ident in ins_ids:
            ev = (_ev(report, ident["line"], ident["xpath"]),)
            value = (ident.get("extension") or "").strip()
            if ident.get("nullFlavor") or not value:
                yield failed("the INS identifier has no extension (nullFlavor or empty)",
                             message_id="dmp.ins.empty", requirement_ids=(f"{R_INS}:present",), evidence=ev)
                continue
            problem = check_nir(value)
            if problem:
                yield failed(f"invalid INS: {problem}", message_id="dmp.ins.nir_invalid",
                             requirement_ids=(f"{R_INS}:nir-key",), evidence=ev,
                             details={"oid": ident["root"]})
                continue
            for note in _nir_consistency(value.upper(), patient):
                yield warned(note, message_id="dmp.ins.inconsistent", requirement_ids=(f"{R_INS}:traits",),
                             evidence=ev)
            test = ident["root"] != OID_INS_NIR
            yield passed(f"INS with a valid key{' (test OID ' + ident['root'] + ')' if test else ''}",
                         message_id="dmp.ins.ok", evidence=ev, details={"oid": ident["root"], "test_oid": test})


def _national_ps_id(value: str) -> tuple[str, str | None]:
    """Classify an IdNatPs (OID 1.2.250.1.71.4.2.1) extension: (kind, problem or None)."""
    if value.startswith("8"):
        return "RPPS", check_rpps(value)
    if value.startswith("0") and len(value) == 10:
        digits = value[1:]
        if not digits.isdigit():
            return "ADELI", f"ADELI must be 9 digits, got {digits!r}"
        return "ADELI", None if luhn_ok(digits) else f"ADELI {digits} fails its Luhn key"
    if value[:1] in ("3", "4", "5") and "/" in value:
        return "structure-local", None
    return "unknown", (f"{value!r} is neither 8 + RPPS (11 digits), 0 + ADELI (9 digits) nor a structure-local "
                       f"identifier (3/4/5 + FINESS/SIREN/SIRET + '/' + local id)")


@check("dmp.cda.rpps", title="Authors and other professionals carry valid national identifiers (RPPS)",
       severity="high", requirements=[R_RPPS], target="dmp", items=ITEMS_DOCS)
def rpps(target, source):
    """Identifiers with root 1.2.250.1.71.4.2.1 (IdNatPs) of authors, authenticators, performers: ``8`` + an
    11-digit RPPS whose last digit is its Luhn key (``0`` + ADELI, structure-local ids classified)."""
    report, header = _header(target, source)
    actors = header.get("actors") or []
    seen = 0
    for actor in actors:
        national = [i for i in actor["ids"] if i["root"] == OID_RPPS]
        if not national:
            if actor["role"] == "author" and actor.get("kind") == "person":
                seen += 1
                yield warned("a person author has no national professional identifier (root 1.2.250.1.71.4.2.1)",
                             message_id="dmp.rpps.author_unidentified", requirement_ids=(f"{R_RPPS}:author",),
                             evidence=(_ev(report, actor["line"], actor["xpath"]),))
            continue
        for ident in national:
            seen += 1
            value = (ident.get("extension") or "").strip()
            ev = (_ev(report, ident["line"], ident["xpath"]),)
            kind, problem = _national_ps_id(value)
            if problem:
                yield failed(f"{actor['role']} identifier: {problem}", message_id=f"dmp.rpps.{kind.lower()}_invalid",
                             requirement_ids=(f"{R_RPPS}:luhn" if kind == "RPPS" else f"{R_RPPS}:format",),
                             evidence=ev, details={"role": actor["role"], "kind": kind})
            else:
                yield passed(f"{actor['role']} identified by {kind} {value}", message_id="dmp.rpps.ok", evidence=ev,
                             details={"role": actor["role"], "kind": kind})
    if not seen:
        raise NotApplicable("no identifier with root 1.2.250.1.71.4.2.1 in the header", message_id="dmp.rpps.none")


@check("dmp.cda.oids", title="Every @root and @codeSystem is a syntactically valid OID (or UUID)",
       severity="medium", requirements=[R_OID], target="dmp", items=ITEMS_DOCS)
def oids(target, source):
    """HL7 II.root is an OID or a UUID; a codeSystem is an OID. OIDs are dot-separated arcs without leading
    zeros, starting with 0, 1 or 2."""
    report, _header_data = _header(target, source)
    scan = report.oids
    for attr, value, line, xpath in scan.listed:
        yield failed(f"@{attr} {value!r} is not a valid OID" + (" or UUID" if attr == "root" else ""),
                     message_id="dmp.oids.invalid", evidence=(_ev(report, line, xpath),))
    if scan.invalid > len(scan.listed):
        yield failed(f"{scan.invalid - len(scan.listed)} more invalid OIDs not listed", message_id="dmp.oids.truncated",
                     evidence=(_ev(report),))
    if not scan.invalid:
        yield passed(f"{scan.checked} @root/@codeSystem values, all valid", message_id="dmp.oids.ok",
                     evidence=(_ev(report),))


# ----------------------------------------------------------------------------- header sanity and codes


def parse_ts(value: str | None) -> tuple[dt.datetime | None, str | None, bool]:
    """(datetime, problem, has_timezone) of an HL7 TS."""
    if not value:
        return None, "no value", False
    m = _TS_RE.match(value.strip())
    if not m:
        return None, f"{value!r} is not an HL7 TS (YYYYMMDDhhmmss±zzzz)", False
    year, month, day, hour, minute, second, _frac, tz = m.groups()
    try:
        tzinfo = dt.timezone.utc
        if tz:
            offset = dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
            tzinfo = dt.timezone(offset if tz[0] == "+" else -offset)
        stamp = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                            tzinfo=tzinfo)
    except ValueError as exc:
        return None, f"{value!r} is not a real date/time ({exc})", bool(tz)
    return stamp, None, bool(tz)


@check("dmp.cda.header", title="Confidentiality, language and effectiveTime of the header are sane",
       severity="medium", requirements=[R_HEADER], target="dmp", items=ITEMS_DOCS)
def header_sanity(target, source):
    """confidentialityCode N/R/V in HL7 Confidentiality (2.16.840.1.113883.5.25); languageCode a RFC 5646
    tag (fr-FR expected); effectiveTime a real date, precise to the second with its time zone, not in the
    future and not absurdly old; a title."""
    report, header = _header(target, source)
    problems = 0
    conf = header.get("confidentialityCode")
    if conf is None:
        problems += 1
        yield failed("no confidentialityCode", message_id="dmp.header.confidentiality_missing",
                     requirement_ids=(f"{R_HEADER}:confidentialityCode",), evidence=(_ev(report, 1),))
    elif conf.get("code") not in ("N", "R", "V") or conf.get("codeSystem") != CONFIDENTIALITY_SYSTEM:
        problems += 1
        yield failed(f"confidentialityCode {conf.get('code')!r} / {conf.get('codeSystem')!r} is not N, R or V of "
                     f"{CONFIDENTIALITY_SYSTEM}", message_id="dmp.header.confidentiality_invalid",
                     requirement_ids=(f"{R_HEADER}:confidentialityCode",),
                     evidence=(_ev(report, conf["line"], conf["xpath"]),))
    lang = header.get("languageCode")
    if lang is None or not lang.get("value"):
        problems += 1
        yield failed("no languageCode", message_id="dmp.header.language_missing",
                     requirement_ids=(f"{R_HEADER}:languageCode",), evidence=(_ev(report, 1),))
    elif not _LANG_RE.match(lang["value"]):
        problems += 1
        yield failed(f"languageCode {lang['value']!r} is not a language tag like fr-FR",
                     message_id="dmp.header.language_invalid", requirement_ids=(f"{R_HEADER}:languageCode",),
                     evidence=(_ev(report, lang["line"], lang["xpath"]),))
    elif lang["value"] != "fr-FR":
        yield warned(f"languageCode is {lang['value']!r}; CI-SIS documents are fr-FR",
                     message_id="dmp.header.language_not_fr", requirement_ids=(f"{R_HEADER}:languageCode",),
                     evidence=(_ev(report, lang["line"], lang["xpath"]),))
    eff = header.get("effectiveTime")
    if eff is None:
        problems += 1
        yield failed("no effectiveTime", message_id="dmp.header.effective_time_missing",
                     requirement_ids=(f"{R_HEADER}:effectiveTime",), evidence=(_ev(report, 1),))
    else:
        ev = (_ev(report, eff["line"], eff["xpath"]),)
        stamp, problem, has_tz = parse_ts(eff.get("value"))
        if problem:
            problems += 1
            yield failed(f"effectiveTime: {problem}", message_id="dmp.header.effective_time_invalid",
                         requirement_ids=(f"{R_HEADER}:effectiveTime",), evidence=ev)
        else:
            now = dt.datetime.now(dt.timezone.utc)
            if stamp > now + dt.timedelta(days=1):
                problems += 1
                yield failed(f"effectiveTime {eff['value']} is in the future", message_id="dmp.header.effective_time_future",
                             requirement_ids=(f"{R_HEADER}:effectiveTime",), evidence=ev)
            elif stamp < now - dt.timedelta(days=365 * target.max_age_years):
                yield warned(f"effectiveTime {eff['value']} is more than {target.max_age_years} years old",
                             message_id="dmp.header.effective_time_old", requirement_ids=(f"{R_HEADER}:effectiveTime",),
                             evidence=ev)
            if not has_tz or len(eff["value"]) < 14:
                yield warned(f"effectiveTime {eff['value']} should be precise to the second with a time zone "
                             f"(YYYYMMDDhhmmss+zzzz)", message_id="dmp.header.effective_time_precision",
                             requirement_ids=(f"{R_HEADER}:effectiveTime",), evidence=ev)
    if not header.get("title"):
        problems += 1
        yield failed("the document has no title", message_id="dmp.header.title_missing",
                     requirement_ids=(f"{R_HEADER}:title",), evidence=(_ev(report, 1),))
    if not problems:
        yield passed("confidentiality, language, effectiveTime and title are sane", message_id="dmp.header.ok",
                     evidence=(_ev(report),))


#: Header codes and the pack value set (``jeuxDeValeurs/<name>.xml``) they must be drawn from.
HEADER_CODES = (
    ("document type (ClinicalDocument/code)", "JDV_J07_XdsTypeCode_CISIS", lambda h: [h.get("code")]),
    ("healthcare facility type (healthCareFacility/code)", "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS",
     lambda h: [h.get("healthcareFacilityType")]),
    ("author specialty (assignedAuthor/code)", "JDV_J01_XdsAuthorSpecialty_CISIS",
     lambda h: [a.get("specialty") for a in h.get("actors", []) if a["role"] == "author" and a.get("kind") == "person"]),
)


@check("dmp.cda.codes", title="Header codes are drawn from the CI-SIS value sets the pack ships",
       severity="medium", requirements=[R_CODES], target="dmp", items=ITEMS_DOCS)
def codes(target, source):
    """ClinicalDocument/code in JDV_J07 (XDS typeCode), healthCareFacility/code in JDV_J02, person authors'
    specialty in JDV_J01: the codes the DMP indexes documents by."""
    report, header = _header(target, source)
    checked, bad = 0, 0
    for label, name, pick in HEADER_CODES:
        values = [c for c in pick(header) if c and not c.get("nullFlavor")]
        if not values:
            continue
        try:
            allowed = target.value_sets.get(name)
        except FileNotFoundError as exc:
            yield errored(str(exc), message_id="dmp.rule_pack_defect", evidence=(_ev(report),))
            continue
        for coded in values:
            checked += 1
            ev = (_ev(report, coded["line"], coded["xpath"]),)
            pair = (coded.get("code"), coded.get("codeSystem"))
            if pair in allowed:
                continue
            bad += 1
            yield failed(f"{label} {pair[0]!r} ({pair[1]}) is not in {name}", message_id="dmp.codes.not_in_value_set",
                         requirement_ids=(f"{R_CODES}:{name}",), evidence=ev, details={"value_set": name})
    if not checked:
        raise NotApplicable("no coded header element to look up", message_id="dmp.codes.none")
    if not bad:
        yield passed(f"{checked} header code(s) found in the pack's value sets", message_id="dmp.codes.ok",
                     evidence=(_ev(report),))


# ----------------------------------------------------------------------------- embedded documents


@check("dmp.cda.embedded", title="Embedded documents (base64 PDF…) decode, are what they claim, and are PDF/A "
                                 "where required", severity="high", requirements=[R_EMBED], target="dmp",
       items=ITEMS_DOCS)
def embedded(target, source):
    """Every base64 ED (nonXMLBody/text, observationMedia/value…): decodes, is bounded in size, its bytes
    match its mediaType; a PDF is complete (%%EOF), not encrypted, and identifies as PDF/A (XMP
    pdfaid:part) where the volet requires it (CR-BIO's PDF copy, or every PDF with ``require_pdfa``);
    a level-1 (nonXMLBody) PDF without PDF/A identification is a warning otherwise."""
    report, header = _header(target, source)
    if not report.embedded:
        raise NotApplicable("no base64-embedded object in the document", message_id="dmp.embedded.none")
    volet = target.schematrons.mapping
    required_by_volet = any(v.name == report.volet.get("name") and v.pdfa == "required" for v in volet.volets)
    for obj in report.embedded:
        ev = (_ev(report, obj["line"], obj["xpath"]),)
        kind = obj.get("mediaType") or "object"
        for code, message in obj["problems"]:
            yield failed(f"{obj['where']} {kind}: {message}", message_id=f"dmp.embedded.{code}",
                         requirement_ids=(f"{R_EMBED}:{code}",), evidence=ev)
        pdf = obj.get("pdf")
        if obj["problems"] or pdf is None:
            if not obj["problems"]:
                yield passed(f"{obj['where']} {kind} of {obj.get('bytes', 0):,} bytes decodes",
                             message_id="dmp.embedded.ok", evidence=ev)
            continue
        if not pdf["is_pdf"]:
            continue  # the magic-number problem above already says so
        bad = False
        if not pdf["eof"]:
            bad = True
            yield failed(f"{obj['where']} PDF has no %%EOF marker: truncated", message_id="dmp.embedded.pdf_truncated",
                         requirement_ids=(f"{R_EMBED}:pdf",), evidence=ev)
        if pdf["encrypted"]:
            bad = True
            yield failed(f"{obj['where']} PDF is encrypted: the DMP cannot display it", message_id="dmp.embedded.pdf_encrypted",
                         requirement_ids=(f"{R_EMBED}:pdf",), evidence=ev)
        if pdf["pdfa_part"]:
            if not bad:
                yield passed(f"{obj['where']} PDF/A-{pdf['pdfa_part']}{(pdf['pdfa_conformance'] or '').lower()} of "
                             f"{obj['bytes']:,} bytes", message_id="dmp.embedded.pdfa_ok", evidence=ev)
            continue
        required = target.require_pdfa or required_by_volet
        message = f"{obj['where']} PDF of {obj['bytes']:,} bytes has no PDF/A identification (XMP pdfaid:part)"
        if required:
            why = "require_pdfa is set for this audit" if target.require_pdfa else \
                f"the {report.volet.get('name')} volet requires a PDF/A"
            yield failed(f"{message}; {why}", message_id="dmp.embedded.not_pdfa",
                         requirement_ids=(f"{R_EMBED}:pdfa",), evidence=ev)
        elif obj["where"] == "nonXMLBody":
            yield warned(f"{message}; CI-SIS level-1 documents should be PDF/A", message_id="dmp.embedded.not_pdfa",
                         requirement_ids=(f"{R_EMBED}:pdfa",), evidence=ev)
        elif not bad:
            yield passed(f"{obj['where']} PDF of {obj['bytes']:,} bytes (not PDF/A-identified, not required here)",
                         message_id="dmp.embedded.ok", evidence=ev)


# ----------------------------------------------------------------------------- XDM


def _xdm_ev(package, member: str | None = None, line: int | None = None, sha256: str | None = None,
            **kw: Any) -> Evidence:
    artefact = f"{package.item_id}!{member}" if member else package.item_id
    return Evidence.file(artefact, sha256=sha256, line=line, **kw)


@check("dmp.xdm.package", title="The XDM package is a safe zip with the IHE XDM layout",
       severity="high", requirements=[R_XDM], target="dmp", items=ITEMS_XDM)
def xdm_package(target, package):
    """IHE_XDM/<subset>/METADATA.XML beside the documents it lists, INDEX.HTM and README.TXT at the root;
    zip bombs, path traversal (zip-slip) and symbolic links are refused."""
    data = target.xdm(package)
    sha = target.file_sha256(package.path)
    if data.error:
        yield failed(f"XDM package refused: {data.error}", message_id="dmp.xdm.unsafe", evidence=(
            _xdm_ev(package, sha256=sha),), requirement_ids=(f"{R_XDM}:archive",))
        return
    names = set(data.members)
    upper = {n.upper() for n in names}
    if not data.subsets:
        yield failed("no IHE_XDM/<subset>/METADATA.XML in the package", message_id="dmp.xdm.no_metadata",
                     evidence=(_xdm_ev(package, sha256=sha),), requirement_ids=(f"{R_XDM}:layout",))
        return
    for root_file in ("INDEX.HTM", "README.TXT"):
        if root_file not in upper:
            yield warned(f"{root_file} is missing at the root of the package", message_id="dmp.xdm.root_file_missing",
                         evidence=(_xdm_ev(package, sha256=sha),), requirement_ids=(f"{R_XDM}:layout",))
    ok = True
    for subset in data.subsets:
        if not subset.folder.upper().startswith("IHE_XDM/"):
            ok = False
            yield failed(f"{subset.metadata_member} is not under IHE_XDM/", message_id="dmp.xdm.layout",
                         evidence=(_xdm_ev(package, subset.metadata_member, sha256=sha),),
                         requirement_ids=(f"{R_XDM}:layout",))
        if subset.error:
            ok = False
            yield failed(subset.error, message_id="dmp.xdm.metadata_unreadable",
                         evidence=(_xdm_ev(package, subset.metadata_member, sha256=subset.metadata_sha256),),
                         requirement_ids=(f"{R_XDM}:metadata",))
            continue
        if not subset.entries:
            ok = False
            yield failed(f"{subset.metadata_member} lists no DocumentEntry", message_id="dmp.xdm.empty",
                         evidence=(_xdm_ev(package, subset.metadata_member, sha256=subset.metadata_sha256),),
                         requirement_ids=(f"{R_XDM}:metadata",))
        referenced = set()
        for entry in subset.entries:
            member = xdm.member_for_uri(data, subset, entry.slot("URI"))
            if member is None:
                ok = False
                yield failed(f"DocumentEntry {entry.id} names URI {entry.slot('URI')!r}, which is not in the package",
                             message_id="dmp.xdm.uri_missing", requirement_ids=(f"{R_XDM_META}.URI",),
                             evidence=(_xdm_ev(package, subset.metadata_member, entry.slot_lines.get("URI") or entry.line,
                                               sha256=subset.metadata_sha256),))
            else:
                referenced.add(member)
        for name in sorted(names):
            if name.startswith(subset.folder + "/") and name != subset.metadata_member and name not in referenced:
                yield warned(f"{name} is in the subset but no DocumentEntry describes it",
                             message_id="dmp.xdm.unlisted_file", evidence=(_xdm_ev(package, name, sha256=sha),),
                             requirement_ids=(f"{R_XDM}:layout",))
    if ok:
        count = sum(len(s.entries) for s in data.subsets)
        yield passed(f"{len(data.subsets)} subset(s), {count} DocumentEntry(ies), {len(names)} files",
                     message_id="dmp.xdm.ok", evidence=(_xdm_ev(package, sha256=sha),))


def _coded(entry: xdm.DocumentEntry, scheme: str) -> list[xdm.Coded]:
    return entry.classifications.get(scheme, [])


@check("dmp.xdm.metadata", title="XDM DocumentEntry metadata match the CDA header and the document file",
       severity="high", requirements=[R_XDM_META], target="dmp", items=ITEMS_XDM)
def xdm_metadata(target, package):
    """For each DocumentEntry of METADATA.XML, against the CDA document it points to: patientId (INS),
    uniqueId, typeCode, confidentialityCode, healthcareFacilityTypeCode, author (IdNatPs), creationTime
    (effectiveTime in UTC), languageCode, title, mimeType, and the SHA-1 hash and size of the file."""
    data = target.xdm(package)
    if data.error:
        raise Skip(f"the package was refused: {data.error}", message_id="dmp.xdm.refused")
    entries = [(s, e) for s in data.subsets if not s.error for e in s.entries]
    if not entries:
        raise Skip("no readable DocumentEntry", message_id="dmp.xdm.no_entries")
    for subset, entry in entries:
        yield from _compare_entry(target, package, data, subset, entry)


def _compare_entry(target, package, data, subset, entry) -> Iterable[Finding]:
    meta_ev = lambda line=None: _xdm_ev(package, subset.metadata_member, line or entry.line,  # noqa: E731
                                        sha256=subset.metadata_sha256)
    member = xdm.member_for_uri(data, subset, entry.slot("URI"))
    if member is None:
        yield failed(f"DocumentEntry {entry.id}: its URI {entry.slot('URI')!r} names no file of the package",
                     message_id="dmp.xdm.uri_missing", requirement_ids=(f"{R_XDM_META}.URI",), evidence=(meta_ev(),))
        return
    try:
        content = xdm.read_member(package.path, member, target.options.zip_limits)
    except UnsafeInput as exc:
        yield failed(f"{member} refused: {exc}", message_id="dmp.xdm.unsafe", evidence=(meta_ev(),))
        return
    sha1 = hashlib.sha1(content).hexdigest()
    doc_sha256 = hashlib.sha256(content).hexdigest()
    doc_ev = lambda line=None, xpath=None: _xdm_ev(package, member, line, sha256=doc_sha256, xpath=xpath)  # noqa: E731
    problems = 0

    def mismatch(field: str, message: str, line: int | None = None, cda: tuple | None = None) -> Finding:
        nonlocal problems
        problems += 1
        evidence = [meta_ev(line)]
        if cda:
            evidence.append(doc_ev(*cda))
        return failed(f"DocumentEntry {entry.id} ({member}): {message}", message_id=f"dmp.xdm.{field}",
                      requirement_ids=(f"{R_XDM_META}.{field}",), evidence=tuple(evidence))

    declared_hash = (entry.slot("hash") or "").lower()
    if not declared_hash:
        yield mismatch("hash", "no hash slot")
    elif declared_hash != sha1:
        yield mismatch("hash", f"hash slot {declared_hash} but the file's SHA-1 is {sha1}",
                       entry.slot_lines.get("hash"))
    declared_size = entry.slot("size")
    if not declared_size:
        yield mismatch("size", "no size slot")
    elif declared_size.strip() != str(len(content)):
        yield mismatch("size", f"size slot {declared_size} but the file has {len(content)} bytes",
                       entry.slot_lines.get("size"))
    if entry.mime_type not in ("text/xml", "application/xml"):
        yield mismatch("mimeType", f"mimeType {entry.mime_type!r} for a CDA document (text/xml expected)")
    source = target.source_of(package.path, member)
    report = target.report(source) if source else None
    header = report.header if report else {}
    if not header.get("is_cda"):
        yield mismatch("document", "the file is not a readable CDA document, so its header cannot be compared")
        return
    # patient
    pid, pid_line = entry.identifiers.get(xdm.PATIENT_ID, (None, None))
    ident, authority = xdm.cx_id(pid)
    ins_ids = [i for p in header.get("patients", []) for i in p["ids"] if i["root"] in (OID_INS_NIR, *OID_INS_NIR_TEST)]
    cda_ins = ins_ids[0] if ins_ids else None
    if not pid:
        yield mismatch("patientId", "no patientId external identifier")
    elif cda_ins is None:
        yield mismatch("patientId", f"patientId {pid} but the CDA carries no INS", pid_line)
    elif (ident, authority) != (cda_ins.get("extension"), cda_ins.get("root")):
        yield mismatch("patientId", f"patientId {pid} does not match the CDA INS {cda_ins.get('extension')} "
                                    f"({cda_ins.get('root')})", pid_line, (cda_ins["line"], cda_ins["xpath"]))
    # uniqueId
    uid, uid_line = entry.identifiers.get(xdm.UNIQUE_ID, (None, None))
    cid = header.get("id") or {}
    expected_uid = cid.get("root") + (f"^{cid['extension']}" if cid.get("extension") else "") if cid.get("root") else None
    if not uid:
        yield mismatch("uniqueId", "no uniqueId external identifier")
    elif uid != expected_uid:
        yield mismatch("uniqueId", f"uniqueId {uid} but ClinicalDocument/id is {expected_uid}", uid_line,
                       (cid.get("line"), cid.get("xpath")))
    # typeCode
    code = header.get("code") or {}
    types = _coded(entry, xdm.TYPE_CODE)
    if not types:
        yield mismatch("typeCode", "no typeCode classification")
    elif (types[0].code, types[0].scheme) != (code.get("code"), code.get("codeSystem")):
        yield mismatch("typeCode", f"typeCode {types[0].code} ({types[0].scheme}) but the CDA code is "
                                   f"{code.get('code')} ({code.get('codeSystem')})", types[0].line,
                       (code.get("line"), code.get("xpath")))
    if not _coded(entry, xdm.CLASS_CODE):
        yield mismatch("classCode", "no classCode classification")
    if not _coded(entry, xdm.FORMAT_CODE):
        yield mismatch("formatCode", "no formatCode classification")
    # confidentiality
    conf = header.get("confidentialityCode") or {}
    confs = {(c.code, c.scheme) for c in _coded(entry, xdm.CONFIDENTIALITY)}
    if (conf.get("code"), conf.get("codeSystem")) not in confs:
        yield mismatch("confidentialityCode", f"confidentialityCode {sorted(c for c, _ in confs)} does not include the "
                                              f"CDA's {conf.get('code')}", None, (conf.get("line"), conf.get("xpath")))
    # facility
    facility = header.get("healthcareFacilityType") or {}
    facilities = _coded(entry, xdm.FACILITY_TYPE)
    if facility.get("code") and facilities and (facilities[0].code, facilities[0].scheme) != (
            facility.get("code"), facility.get("codeSystem")):
        yield mismatch("healthcareFacilityTypeCode", f"healthcareFacilityTypeCode {facilities[0].code} but the CDA "
                                                     f"has {facility.get('code')}", facilities[0].line,
                       (facility.get("line"), facility.get("xpath")))
    # author
    cda_authors = [i for a in header.get("actors", []) if a["role"] == "author" for i in a["ids"]]
    authors = _coded(entry, xdm.AUTHOR)
    if not authors:
        yield mismatch("author", "no author classification")
    else:
        for author in authors:
            person = (author.slots.get("authorPerson") or [None])[0]
            if person is None:
                continue
            aid, aauth = xdm.xcn_id(person)
            if not any(i.get("extension") == aid and i.get("root") == aauth for i in cda_authors):
                cda_list = ", ".join(f"{i.get('extension')} ({i.get('root')})" for i in cda_authors) or "none"
                yield mismatch("author", f"authorPerson {aid} ({aauth}) is not an author of the CDA ({cda_list})",
                               author.line)
    # creationTime
    eff = header.get("effectiveTime") or {}
    expected = xdm.to_utc(eff.get("value"))
    creation = entry.slot("creationTime")
    if not creation:
        yield mismatch("creationTime", "no creationTime slot")
    elif expected is None or not (expected.startswith(creation) or creation.startswith(expected)):
        yield mismatch("creationTime", f"creationTime {creation} (UTC) but the CDA effectiveTime {eff.get('value')} "
                                       f"is {expected} UTC", entry.slot_lines.get("creationTime"),
                       (eff.get("line"), eff.get("xpath")))
    # language
    lang = (header.get("languageCode") or {}).get("value")
    if entry.slot("languageCode") and lang and entry.slot("languageCode") != lang:
        yield mismatch("languageCode", f"languageCode {entry.slot('languageCode')} but the CDA says {lang}",
                       entry.slot_lines.get("languageCode"))
    if entry.title and header.get("title") and " ".join(entry.title.split()) != header["title"]:
        yield warned(f"DocumentEntry {entry.id} ({member}): title {entry.title!r} differs from the CDA title "
                     f"{header['title']!r}", message_id="dmp.xdm.title", requirement_ids=(f"{R_XDM_META}.title",),
                     evidence=(meta_ev(),))
    if not problems:
        yield passed(f"DocumentEntry {entry.id} ({member}) matches the CDA header, hash and size",
                     message_id="dmp.xdm.metadata_ok", evidence=(meta_ev(), doc_ev()))


ALL_CHECKS = [well_formed, xsd, structuration_minimale, modeles_contenus, modeles_ans, volet, ins, rpps, oids,
              header_sanity, codes, embedded, xdm_package, xdm_metadata]
