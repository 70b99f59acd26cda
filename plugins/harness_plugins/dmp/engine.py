"""The raw-data stage: validate one document completely, in whatever process runs it.

A :class:`Validator` holds one Saxon processor with every compiled stylesheet
of the pack and the lxml XSD; it is built once per worker process (see
:func:`init_worker` / :func:`run_one`) and never recompiles anything. The
result of :meth:`Validator.validate` is a :class:`DocumentReport` of plain,
picklable data; the checks are pure functions of it.

Untrusted bytes only ever reach lxml's hardened parser (no DTD loading, no
network, no entity expansion); Saxon is given lxml's re-serialisation of a
document that passed, so it never sees an external entity or DTD.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import threading
import time
import traceback
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from harness.rulepacks import RulePack
from harness.safety import UnsafeInput, ZipLimits, read_zip_member, safe_zip_members, xml_parser
from harness_plugins._common.system import available_cpus

from . import cda
from .optimize import SELECT_FAILED
from .pack import Entry, SchematronPack, looks_like_pack_defect
from .svrl import MAX_ISSUES, AssertIndex, Issue, parse_svrl

#: The stages every document goes through, in order; each is a check of its own.
STAGES = ("well_formed", "xsd", "structuration_minimale", "modeles_contenus", "modeles_ans", "volet")
SCHEMATRON_STAGES = ("structuration_minimale", "modeles_contenus", "modeles_ans", "volet")
PRE_EVALUATE_DOC = "http://saxon.sf.net/feature/preEvaluateDocFunction"
_DECL_RE = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']")


@dataclass(frozen=True)
class Source:
    """Where a document is: a file, or a member of an (XDM) zip."""

    item_id: str
    path: str
    member: str | None = None

    @property
    def display(self) -> str:
        return f"{self.path}!{self.member}" if self.member else self.path


@dataclass(frozen=True)
class Options:
    max_document_bytes: int = 20 * 1024 * 1024
    max_embedded_bytes: int = 20 * 1024 * 1024
    optimize: bool = True
    max_xsd_errors: int = 200
    zip_limits: ZipLimits = field(default_factory=ZipLimits)


@dataclass
class StageResult:
    """What one stage said about one document."""

    name: str
    status: str = "pass"                # pass | fail | warn | error | not_applicable | skipped
    reason: str | None = None           # for error / not_applicable / skipped
    entry: str | None = None            # schematron entry point (stem) that ran
    issues: list[Issue] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DocumentReport:
    item_id: str
    artefact: str
    sha256: str | None = None
    size: int | None = None
    refused: str | None = None
    stages: dict[str, StageResult] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    embedded: list[dict[str, Any]] = field(default_factory=list)
    oids: cda.OidScan = field(default_factory=cda.OidScan)
    encoding: dict[str, Any] = field(default_factory=dict)
    volet: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    worker: int | None = None

    def stage(self, name: str) -> StageResult:
        return self.stages.get(name) or StageResult(name, "skipped", "the document was not validated")


# ----------------------------------------------------------------------------- reading


def read_source(src: Source, options: Options) -> bytes:
    """The document's bytes, refusing oversize input before reading it."""
    if src.member is None:
        size = os.path.getsize(src.path)
        if size > options.max_document_bytes:
            raise UnsafeInput(f"{size:,} bytes exceeds the {options.max_document_bytes:,}-byte document limit "
                              f"(raise max_document_bytes in [targets.dmp] to validate it)")
        with open(src.path, "rb") as handle:
            return handle.read(options.max_document_bytes + 1)
    try:
        archive = zipfile.ZipFile(src.path)
    except zipfile.BadZipFile as exc:
        raise UnsafeInput(f"not a readable zip archive ({exc})") from None
    with archive:
        infos = {i.filename: i for i in safe_zip_members(archive, options.zip_limits)}
        info = infos.get(src.member)
        if info is None:
            raise UnsafeInput(f"archive has no member {src.member!r}")
        if info.file_size > options.max_document_bytes:
            raise UnsafeInput(f"{info.file_size:,} bytes exceeds the {options.max_document_bytes:,}-byte document limit")
        return read_zip_member(archive, info, options.zip_limits)


def parse_untrusted(data: bytes, base_url: str | None = None):
    """lxml parse with no DTD, no network, no entity expansion; refuses DTDs with entities or external ids."""
    parser = xml_parser(huge=len(data) > 8 * 1024 * 1024)
    tree = etree.ElementTree(etree.fromstring(data, parser=parser, base_url=base_url))
    info = tree.docinfo
    dtd = info.internalDTD
    if dtd is not None and list(dtd.iterentities()):
        names = ", ".join(e.name for e in list(dtd.iterentities())[:5])
        raise UnsafeInput(f"the document declares entities in its DOCTYPE ({names}): XXE / entity expansion refused")
    if info.system_url or info.public_id:
        raise UnsafeInput(f"the document references an external DTD ({info.system_url or info.public_id}); "
                          f"not loaded, document refused")
    for node in tree.getroot().iter(etree.Entity):
        raise UnsafeInput(f"the document references the undeclared entity &{node.name};; refused")
    return tree


def encoding_facts(data: bytes) -> dict[str, Any]:
    """Declared encoding vs the bytes: a declaration that lies is a finding of its own."""
    facts: dict[str, Any] = {"bom": None, "declared": None, "problems": []}
    if data.startswith(b"\xef\xbb\xbf"):
        facts["bom"] = "UTF-8"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        facts["bom"] = "UTF-16"
    head = data[3:300] if facts["bom"] == "UTF-8" else data[:300]
    m = _DECL_RE.match(head)
    declared = m.group(1).decode("ascii").upper() if m else None
    facts["declared"] = declared
    effective = declared or facts["bom"] or "UTF-8"
    facts["effective"] = effective
    if facts["bom"] == "UTF-16":
        return facts
    non_ascii = any(b > 127 for b in data[:1 << 20]) if len(data) < 64 << 20 else True
    if effective.replace("_", "-") in ("UTF-8", "UTF8"):
        return facts
    if effective in ("ISO-8859-1", "LATIN1", "LATIN-1", "ISO-8859-15", "WINDOWS-1252", "CP1252", "US-ASCII", "ASCII"):
        if non_ascii:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                facts["problems"].append(("lying_encoding", f"the declaration says {declared} but the bytes are UTF-8 "
                                                            f"(accented characters would be read wrongly)"))
        if effective in ("US-ASCII", "ASCII") and non_ascii:
            facts["problems"].append(("lying_encoding", f"the declaration says {declared} but the document has "
                                                        f"non-ASCII bytes"))
    return facts


# ----------------------------------------------------------------------------- the validator


class Validator:
    """Everything needed to validate documents, compiled once (one per worker process)."""

    def __init__(self, pack: RulePack, options: Options) -> None:
        from saxonche import PySaxonProcessor

        self.options = options
        self.schematrons = SchematronPack(pack)
        self.manifest = self.schematrons.ensure_compiled()
        self.cache = self.schematrons.cache_dir
        self.lock = threading.Lock()
        self.proc = PySaxonProcessor(license=False)
        self.proc.set_configuration_property(PRE_EVALUATE_DOC, "true")
        self.xslt = self.proc.new_xslt30_processor()
        self._executables: dict[tuple[str, str], Any] = {}
        self._load_errors: dict[tuple[str, str], str] = {}
        self._indexes: dict[str, AssertIndex] = {}
        self.available = self.schematrons.available_entries()
        self.xsd_error: str | None = None
        self.xsd = None
        try:
            xsd_parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
            self.xsd = etree.XMLSchema(etree.parse(str(self.schematrons.xsd_path), xsd_parser))
        except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            self.xsd_error = f"rule pack defect: the CDA XSD {self.schematrons.mapping.xsd} cannot be loaded: {exc}"
        self.load_seconds = 0.0
        for role in ("structuration_minimale", "modeles_contenus", "modeles_ans"):
            entry = self.schematrons.entry_for_role(role)
            if entry is not None:
                self.executable(entry)

    # ------------------------------------------------------------ stylesheets
    def entry_status(self, entry: Entry) -> dict[str, Any]:
        return self.manifest.get("entries", {}).get(entry.stem, {"status": "absent"})

    def executable(self, entry: Entry, variant: str | None = None):
        """The compiled stylesheet of an entry point (built on first use), or raises RuntimeError.

        ``variant`` names one of :meth:`Entry.files`: ``opt`` (the default), ``shared`` (the
        fallback, and the default with ``optimize = false``) or ``xsl`` (the skeleton's output).
        """
        variant = variant or ("opt" if self.options.optimize else "shared")
        key = (entry.stem, variant)
        if key in self._executables:
            return self._executables[key]
        if key in self._load_errors:
            raise RuntimeError(self._load_errors[key])
        record = self.entry_status(entry)
        if record.get("status") != "ok":
            raise RuntimeError(record.get("error") or f"{entry.sch} is not in the pack")
        path = entry.files(self.cache)[variant]
        t0 = time.perf_counter()
        try:
            builder = self.proc.new_document_builder()
            # The value-set paths in the stylesheet are relative to the .sch inside the pack.
            builder.set_base_uri(self.schematrons.sch_path(entry).resolve().as_uri())
            node = builder.parse_xml(xml_text=path.read_text(encoding="utf-8"))
            executable = self.xslt.compile_stylesheet(stylesheet_node=node)
        except Exception as exc:  # noqa: BLE001 - a stylesheet that does not compile is a pack defect
            message = f"rule pack defect: the compiled {entry.sch} does not load: {' '.join(str(exc).split())[:400]}"
            self._load_errors[key] = message
            raise RuntimeError(message) from None
        self.load_seconds += time.perf_counter() - t0
        self._executables[key] = executable
        return executable

    def index(self, entry: Entry) -> AssertIndex | None:
        if entry.stem not in self._indexes:
            try:
                data = json.loads(entry.files(self.cache)["index"].read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                data = []
            self._indexes[entry.stem] = AssertIndex(data)
        return self._indexes[entry.stem]

    # ------------------------------------------------------------ validation
    def validate(self, src: Source, data: bytes | None = None) -> DocumentReport:
        """Validate one document (read from ``src``, or the given bytes) through every stage."""
        with self.lock:
            t0 = time.perf_counter()
            report = DocumentReport(src.item_id, src.display)
            try:
                self._validate(src, report, data)
            except Exception as exc:  # noqa: BLE001 - one document never stops the others
                for name in STAGES:
                    if name not in report.stages:
                        report.stages[name] = StageResult(name, "error", f"validation crashed: {type(exc).__name__}: "
                                                                         f"{exc}", details={"traceback": traceback.format_exc()[-2000:]})
            report.seconds = time.perf_counter() - t0
            report.worker = os.getpid()
            return report

    def _validate(self, src: Source, report: DocumentReport, data: bytes | None = None) -> None:
        wf = StageResult("well_formed")
        report.stages["well_formed"] = wf
        from_file = data is None
        try:
            if data is None:
                data = read_source(src, self.options)
            elif len(data) > self.options.max_document_bytes:
                raise UnsafeInput(f"{len(data):,} bytes exceeds the {self.options.max_document_bytes:,}-byte "
                                  f"document limit")
        except UnsafeInput as exc:
            report.refused = str(exc)
            wf.status, wf.reason = "fail", str(exc)
            wf.issues.append(Issue("fail", f"document refused: {exc}", "XML-1.0:well-formed",
                                   details={"refused": True}))
            self._skip_rest(report, "the document was refused before parsing")
            return
        except OSError as exc:
            wf.status, wf.reason = "error", f"cannot read the document: {exc}"
            self._skip_rest(report, "the document could not be read")
            return
        report.size = len(data)
        report.sha256 = hashlib.sha256(data).hexdigest()
        report.encoding = encoding_facts(data)
        t0 = time.perf_counter()
        try:
            tree = parse_untrusted(data)
        except UnsafeInput as exc:
            wf.status, wf.reason = "fail", str(exc)
            wf.issues.append(Issue("fail", f"document refused: {exc}", "XML-1.0:well-formed",
                                   details={"refused": True}))
            report.refused = str(exc)
            self._skip_rest(report, "the document was refused (hostile XML)")
            return
        except etree.XMLSyntaxError as exc:
            line, column = (exc.position if exc.position else (None, None))
            wf.status = "fail"
            if re.search(r"amplification|entity reference loop|entities", exc.msg or "", re.I):
                report.refused = exc.msg
                wf.issues.append(Issue("fail", f"document refused: entity expansion (billion laughs / quadratic "
                                               f"blowup): {exc.msg}", "XML-1.0:well-formed", line, column,
                                       {"refused": True}))
            else:
                wf.issues.append(Issue("fail", f"not well-formed XML: {exc.msg}", "XML-1.0:well-formed", line,
                                       column))
            self._skip_rest(report, "the document is not well-formed XML")
            return
        del data
        for code, message in report.encoding.get("problems", []):
            wf.issues.append(Issue("fail", message, "XML-1.0:encoding", 1, details={"problem": code}))
        declared = report.encoding.get("effective", "UTF-8").replace("_", "-")
        if declared not in ("UTF-8", "UTF8") and not report.encoding.get("problems"):
            wf.issues.append(Issue("warn", f"the document is encoded in {declared}; CI-SIS documents are UTF-8",
                                   "XML-1.0:encoding", 1))
        wf.status = _worst(wf.issues)
        wf.seconds = time.perf_counter() - t0
        root = tree.getroot()
        paths = cda.PathIndex(root)
        report.header = cda.header(root, paths)
        report.embedded = cda.embedded_objects(root, paths, self.options.max_embedded_bytes)
        report.oids = cda.scan_oids(root, paths)
        self._xsd(tree, paths, report)
        # Saxon reads the file itself when nothing in it could make a parser reach out (no DOCTYPE at
        # all): that is what the official engine parses, and it spares a copy of a large document.
        # Otherwise it gets lxml's re-serialisation. Either way the lxml tree is released first:
        # only the location -> line map is kept for the SVRL findings.
        text = None
        if src.member is None and from_file and not tree.docinfo.doctype:
            saxon_source = ("file", src.path)
        else:
            text = etree.tostring(tree, encoding="unicode")
            saxon_source = ("text", None)
        lines = paths.line_map()
        del tree, root, paths
        self._schematrons(saxon_source, text, lines, report)

    def _skip_rest(self, report: DocumentReport, reason: str) -> None:
        for name in STAGES[1:]:
            report.stages[name] = StageResult(name, "skipped", reason)

    def _xsd(self, tree, paths: cda.PathIndex, report: DocumentReport) -> None:
        stage = StageResult("xsd", entry=self.schematrons.mapping.xsd)
        report.stages["xsd"] = stage
        if self.xsd is None:
            stage.status, stage.reason = "error", self.xsd_error
            return
        t0 = time.perf_counter()
        ok = self.xsd.validate(tree)
        stage.seconds = time.perf_counter() - t0
        if ok:
            return
        errors = list(self.xsd.error_log)
        stage.counts = {"fail": len(errors)}
        for err in errors[: self.options.max_xsd_errors]:
            stage.issues.append(Issue("fail", err.message, "CI-SIS:XSD:CDA_extended", err.line or None,
                                      err.column or None, _xsd_path(tree, paths, err.path), {"type": err.type_name}))
        stage.status = "fail"

    def _schematrons(self, saxon_source: tuple[str, str | None], text: str | None, lines: "cda.LineMap",
                     report: DocumentReport) -> None:
        node = None
        header = report.header
        plan: list[tuple[str, Entry | None, str | None]] = []
        for role in ("structuration_minimale", "modeles_contenus", "modeles_ans"):
            plan.append((role, self.schematrons.entry_for_role(role), None))
        volet, why = (None, "the document is not a CDA ClinicalDocument")
        if header.get("is_cda"):
            code = (header.get("code") or {}).get("code")
            volet, why = self.schematrons.mapping.choose_volet(header.get("templates", []), code, self.available)
        report.volet = {"name": volet.name if volet else None, "entry": volet.entry if volet else None,
                        "reason": why, "templates": [r for r, _ in header.get("templates", [])]}
        if volet is None:
            report.stages["volet"] = StageResult("volet", "not_applicable", why,
                                                 details={"templates": report.volet["templates"]})
        else:
            plan.append(("volet", self.schematrons.entry_for_sch(volet.entry), why))
        for role, entry, why in plan:
            stage = StageResult(role, entry=entry.stem if entry else None)
            report.stages[role] = stage
            if why:
                stage.details["volet"] = volet.name if volet else None
                stage.details["chosen_by"] = why
            if entry is None:
                stage.status, stage.reason = "error", f"rule pack defect: no {role} schematron configured"
                continue
            try:
                executable = self.executable(entry)
            except RuntimeError as exc:
                stage.status, stage.reason = "error", _defect(str(exc))
                continue
            if node is None:
                if saxon_source[0] == "file":
                    node = self.proc.parse_xml(xml_file_name=saxon_source[1])
                else:
                    node = self.proc.parse_xml(xml_text=text)
                    text = None
            t0 = time.perf_counter()
            svrl, failure = self._run(executable, node)
            if failure is not None and self.options.optimize and SELECT_FAILED in failure:
                # Only a flattened select can fail where the original walk would not (see
                # optimize._guard_select); the fallback stylesheet is loaded for that case alone.
                stage.details["optimized_run_failed"] = failure[:300]
                try:
                    svrl, failure = self._run(self.executable(entry, "shared"), node)
                except RuntimeError as exc:
                    svrl, failure = None, str(exc)
            stage.seconds = time.perf_counter() - t0
            if failure is not None:
                if looks_like_pack_defect(failure):
                    stage.status, stage.reason = "error", _defect(failure)
                elif report.stage("xsd").status == "fail":
                    # The official engine stops on such a document too (no SVRL). Its structure is
                    # already invalid against the CDA XSD, so the failure is the document's, not ours.
                    stage.status = "fail"
                    stage.issues = [Issue("fail", f"the {entry.stem} schematron cannot evaluate this XSD-invalid "
                                                  f"document (the official engine stops too): {failure[:300]}",
                                          f"CI-SIS:{entry.stem}:not-evaluable", details={"engine_error": True})]
                    stage.counts = {"fail": 1}
                else:
                    stage.status = "error"
                    stage.reason = f"the schematron engine stopped on this document: {failure[:400]}"
                continue
            issues, counts = parse_svrl(svrl, entry.stem, self.index(entry), lines.line)
            stage.issues, stage.counts = issues, counts
            if counts.get("fail", 0) + counts.get("warn", 0) + counts.get("info", 0) > MAX_ISSUES:
                stage.details["issues_truncated"] = True
            stage.status = "fail" if counts.get("fail") else "warn" if counts.get("warn") else "pass"

    @staticmethod
    def _run(executable, node) -> tuple[str | None, str | None]:
        try:
            return executable.transform_to_string(xdm_node=node), None
        except Exception as exc:  # noqa: BLE001 - a dynamic error of the stylesheet on this document
            return None, " ".join(str(exc).split()) or type(exc).__name__


def _xsd_path(tree, paths: cda.PathIndex, lxml_path: str | None) -> str | None:
    """lxml's ``/*/*[6]`` as the readable path findings use elsewhere."""
    if not lxml_path:
        return None
    try:
        found = tree.xpath(lxml_path)
    except etree.XPathError:
        return lxml_path
    return paths.path(found[0]) if found and isinstance(found[0], etree._Element) else lxml_path


def _defect(message: str) -> str:
    return message if message.startswith("rule pack defect") else f"rule pack defect: {message}"


def _worst(issues: list[Issue]) -> str:
    statuses = {i.status for i in issues}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"


# ----------------------------------------------------------------------------- process-pool entry points

_VALIDATOR: Validator | None = None
_SHARED: dict[tuple, Validator] = {}
_SHARED_LOCK = threading.Lock()


def shared_validator(pack: RulePack, options: Options) -> Validator:
    """One validator per pack content and options in this process (in-process mode, tests, small audits)."""
    key = (pack.sha256, str(pack.path), options)
    with _SHARED_LOCK:
        validator = _SHARED.get(key)
        if validator is None:
            validator = _SHARED[key] = Validator(pack, options)
        return validator


def init_worker(pack: RulePack, options: Options) -> None:
    """ProcessPoolExecutor initializer: compile (or load from cache) once in this process."""
    global _VALIDATOR
    _VALIDATOR = Validator(pack, options)


def run_one(src: Source) -> DocumentReport:
    assert _VALIDATOR is not None, "init_worker was not called"
    return _VALIDATOR.validate(src)


def run_one_packed(src: Source) -> bytes:
    """:func:`run_one`, packed in the worker (see :func:`pack_report`)."""
    return pack_report(run_one(src))


def pack_report(report: DocumentReport) -> bytes:
    """A report as compressed pickle bytes.

    An audit keeps every document's report until the last of its checks has read it (checks
    run one after another over all documents). As Python objects a report weighs tens of kB,
    packed about 3 kB: this is what bounds the audit process's memory on 10,000 documents.
    """
    return zlib.compress(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unpack_report(packed: bytes) -> DocumentReport:
    return pickle.loads(zlib.decompress(packed))


def warm_up() -> dict[str, Any]:
    """Nothing to validate: report what this worker loaded (used by the target to start workers early)."""
    assert _VALIDATOR is not None
    return {"pid": os.getpid(), "load_seconds": _VALIDATOR.load_seconds,
            "entries": sorted(k for k, _ in _VALIDATOR._executables)}


def default_workers() -> int:
    return available_cpus()


__all__ = ["Source", "Options", "StageResult", "DocumentReport", "Validator", "init_worker", "run_one", "run_one_packed",
           "pack_report", "unpack_report", "STAGES",
           "SCHEMATRON_STAGES", "Path"]
