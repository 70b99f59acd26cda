"""contracts plugin: the ``contracts`` target kind, one check per rule of the contract rule pack,
the legal references as requirements, and ``harness contracts eval|analyse``.

A check ``contracts.<rule id>`` runs on every contract file of the target. The
file is extracted and analysed once (all rules at a time) and the result is
shared by the eighteen checks. Each check reports one finding: the verdict, the
quoted clause(s) with page, clause number and raw offsets, the numbers found,
``clause_found`` and the legal references; an unreadable file gives ``review``
(a person can read it: encrypted, scanned, empty) or ``error`` (it cannot be
read) with the reason, and the run goes on.
"""

from __future__ import annotations

import glob
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import Check, Evidence, Finding, Requirement, Severity, Status, TargetError, TargetKind, hookimpl

from . import engine
from .extract import DEFAULT_MAX_PAGES, DEFAULT_TIMEOUT, Document, extract
from .rules import PACK_DIR, Rule, RuleError, RulePackData, default_pack, load_pack

__version__ = "0.1.0"

FAMILY = "contracts"

SCHEMA = {
    "type": "object",
    "required": ["files"],
    "additionalProperties": False,
    "properties": {
        "files": {
            "description": "contract files or globs (PDF, DOCX, HTML, text), relative to the profile",
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
        },
        "rules": {"type": "string", "description": "another contract rule pack (folder or installed name)"},
        "bundle": {"type": "boolean",
                   "description": "analyse all files as one contract (general terms + annexes) instead of one by one"},
        "as_of": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$",
                  "description": "date the dated rules are judged at (default: today)"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "seconds to extract one PDF"},
        "max_pages": {"type": "integer", "minimum": 1},
    },
}


@dataclass
class FileAnalysis:
    """One contract file (or bundle): its document, or the problem that stopped the analysis."""

    item_id: str
    path: Path
    doc: Document | None
    outcomes: dict[str, engine.Outcome]
    clauses: list
    problem_status: str | None = None
    problem: str | None = None
    sha256: str | None = None


class ContractsTarget:
    """The contract files of a vendor, analysed lazily and once each."""

    kind = "contracts"

    def __init__(self, config: dict[str, Any], base_dir: Path) -> None:
        self.base_dir = base_dir
        patterns = config["files"] if isinstance(config["files"], list) else [config["files"]]
        files: list[Path] = []
        for pattern in patterns:
            matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            for name in matched:
                path = Path(name)
                if path.is_file() and path not in files:
                    files.append(path)
        if not files:
            raise TargetError(f"no contract file found in {patterns}")
        self.files = files
        self.bundle = bool(config.get("bundle", False))
        self.timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        self.max_pages = int(config.get("max_pages", DEFAULT_MAX_PAGES))
        as_of = config.get("as_of")
        self.today = int(as_of.replace("-", "")) if as_of else None
        try:
            if config.get("rules"):
                from harness import rulepacks

                ref = rulepacks.resolve(config["rules"], base_dir)
                self.pack = load_pack(ref.path)
                self.pack_record = ref.record()
            else:
                self.pack = default_pack()
                self.pack_record = pack_record(self.pack)
        except (RuleError, Exception) as exc:  # noqa: BLE001 - a broken pack makes every check an error
            raise TargetError(f"contract rule pack unusable: {exc}") from None
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, FileAnalysis] = {}

    def rule_packs(self) -> list[dict[str, Any]]:
        return [self.pack_record]

    def relative(self, path: Path) -> str:
        try:
            return Path(os.path.relpath(path, self.base_dir)).as_posix()
        except ValueError:  # pragma: no cover - another drive on Windows
            return path.as_posix()

    def items(self):
        if self.bundle:
            yield "contract", self.files
        else:
            for path in self.files:
                yield self.relative(path), path

    def analysis(self, item_id: str, item: Any) -> FileAnalysis:
        with self._lock:
            lock = self._locks.setdefault(item_id, threading.Lock())
        with lock:
            if item_id not in self._cache:
                self._cache[item_id] = self._analyse(item_id, item)
            return self._cache[item_id]

    def _analyse(self, item_id: str, item: Any) -> FileAnalysis:
        paths = item if isinstance(item, list) else [item]
        docs = [extract(p, timeout=self.timeout, max_pages=self.max_pages) for p in paths]
        problems = [d for d in docs if d.problem is not None]
        readable = [d for d in docs if d.problem is None]
        first = paths[0]
        if not readable:
            worst = "error" if any(d.problem.status == "error" for d in problems) else "review"
            reason = "; ".join(f"{self.relative(d.path)}: {d.problem.reason}" for d in problems)
            return FileAnalysis(item_id, first, None, {}, [], worst, reason, problems[0].sha256)
        doc = readable[0] if len(readable) == 1 else _merge(readable)
        analysis = engine.Analysis(doc, self.pack)
        outcomes = engine.apply_all(analysis, self.pack.rules, today=self.today, timeout=self.timeout)
        result = FileAnalysis(item_id, doc.path, doc, outcomes, analysis.clauses, sha256=doc.sha256)
        if problems:
            result.problem = "; ".join(f"{self.relative(d.path)}: {d.problem.reason}" for d in problems)
        return result


def _merge(docs: list[Document]) -> Document:
    """One document made of several (bundle mode): the texts are joined, each keeps its pages."""
    from .extract import build

    pages: list[str] = []
    for doc in docs:
        pages.extend(doc.pages)
    merged = build(docs[0].path, docs[0].kind, b"".join(d.sha256.encode() for d in docs), pages)
    merged.notes = [n for d in docs for n in d.notes]
    return merged


def pack_record(pack: RulePackData) -> dict[str, Any]:
    from harness import rulepacks

    described = rulepacks.open_pack(pack.path, name=pack.name, version=pack.version, licence=pack.licence,
                                    source="harness_plugins.contracts (built in)")
    return described.record()


# ----------------------------------------------------------------------------- findings

def _severity(name: str) -> Severity:
    return Severity(name)


def _finding_for(target: ContractsTarget, rule: Rule, fa: FileAnalysis) -> list[Finding]:
    artefact = target.relative(fa.path)
    references = rule.references + rule.benchmark
    if fa.doc is None:
        status = Status.ERROR if fa.problem_status == "error" else Status.REVIEW
        return [Finding(status, f"Contrat non analysé : {fa.problem}", message_id="contracts.unreadable",
                        severity=Severity.INFO if status == Status.ERROR else _severity(rule.severity),
                        requirement_ids=references,
                        evidence=(Evidence.file(artefact, sha256=fa.sha256) if fa.sha256 else
                                  Evidence.file(artefact),),
                        details={"clause_found": False, "analysed": False, "reason": fa.problem,
                                 "rule": rule.id, "rule_pack": target.pack.version})]
    outcome = fa.outcomes.get(rule.id)
    if outcome is None:
        return [Finding(Status.SKIPPED, f"rule {rule.id} is not in the rule pack {target.pack.name} "
                                        f"{target.pack.version}", message_id="contracts.rule_missing")]
    doc = fa.doc
    evidence = []
    quotes = []
    for hit in outcome.evidence:
        quote = engine.quote(doc, fa.clauses, hit)
        quotes.append({"clause": quote.clause, "page": quote.page, "quote": quote.text})
        evidence.append(Evidence.quoted(artefact, quote.text, page=quote.page, clause=quote.clause,
                                        start=quote.start, end=quote.end, sha256=doc.sha256,
                                        values={"match": quote.match, "signal": _label(rule, hit.name)}))
    numbers = outcome.numbers()
    details: dict[str, Any] = {
        "clause_found": outcome.clause_found,
        "rule": rule.id,
        "rule_pack": f"{target.pack.name} {target.pack.version}",
        "verdict": outcome.verdict_key,
        "explication": rule.explication,
    }
    if numbers:
        details["numbers"] = numbers
        details["numbers_text"] = [f"{label} : {value}" for label, value in numbers.items()]
    found = sorted({_label(rule, name) for name, hits in outcome.hits.items() if hits and name in rule.signals})
    if found:
        details["signals"] = found
    if outcome.topic_clauses:
        details["clauses"] = [fa.clauses[i].display() for i in outcome.topic_clauses[:12]]
    if outcome.heading_only and outcome.hits.get("heading_only"):
        details["lying_headings"] = [fa.clauses[h.clause].display() for h in outcome.hits["heading_only"]]
    if not outcome.clause_found:
        details["searched"] = rule.searched or ", ".join(rule.topic_patterns)
    if rule.benchmark:
        details["benchmark"] = {
            "references": list(rule.benchmark),
            "note": "Code de la consommation cité comme repère seulement : le médecin contracte en professionnel, "
                    "ces textes ne lient pas directement l'éditeur.",
        }
    if doc.notes:
        details["extraction_notes"] = doc.notes[:10]
    if fa.problem:
        details["unreadable_files"] = fa.problem
    if not evidence:
        evidence.append(Evidence.file(artefact, sha256=doc.sha256,
                                      excerpt=f"recherché : {details.get('searched', rule.searched)}"[:500]))
    message = outcome.message or ("Clause trouvée." if outcome.clause_found else "Aucune clause trouvée.")
    status = Status(outcome.status)
    findings = [Finding(status, message, message_id=f"contracts.{rule.id}.{outcome.verdict_key}",
                        severity=_severity(outcome.severity), requirement_ids=references,
                        evidence=tuple(evidence), details=details,
                        remediation=rule.remediation if status in (Status.FAIL, Status.WARN) else None)]
    for other in outcome.others:
        other_evidence = []
        for hit in other["evidence"]:
            quote = engine.quote(doc, fa.clauses, hit)
            other_evidence.append(Evidence.quoted(artefact, quote.text, page=quote.page, clause=quote.clause,
                                                  start=quote.start, end=quote.end, sha256=doc.sha256,
                                                  values={"match": quote.match, "signal": _label(rule, hit.name)}))
        findings.append(Finding(Status(other["status"]), other["message"],
                                message_id=f"contracts.{rule.id}.{other['key']}",
                                severity=_severity(other["severity"]), requirement_ids=references,
                                evidence=tuple(other_evidence) or (Evidence.file(artefact, sha256=doc.sha256),),
                                details={"clause_found": outcome.clause_found, "rule": rule.id,
                                         "verdict": other["key"]},
                                remediation=rule.remediation or None))
    for addendum in outcome.addenda:
        add_evidence = []
        for hit in addendum["hits"]:
            quote = engine.quote(doc, fa.clauses, hit)
            add_evidence.append(Evidence.quoted(artefact, quote.text, page=quote.page, clause=quote.clause,
                                                start=quote.start, end=quote.end, sha256=doc.sha256))
        findings.append(Finding(Status(addendum["status"]), addendum["message"],
                                message_id=f"contracts.{rule.id}.{addendum['key']}",
                                severity=_severity(rule.severity),
                                requirement_ids=tuple(addendum["references"]) or references,
                                evidence=tuple(add_evidence) or (Evidence.file(artefact, sha256=doc.sha256),),
                                details={"clause_found": outcome.clause_found, "rule": rule.id}))
    return findings


def _label(rule: Rule, name: str) -> str:
    if name in rule.signals:
        return rule.signals[name].label
    if name in rule.quantities:
        return rule.quantities[name].label
    return name


def make_check(rule: Rule) -> Check:
    def run(target: ContractsTarget, item: Any, _rule_id: str = rule.id):
        item_id = target.relative(item) if isinstance(item, Path) else "contract"
        fa = target.analysis(item_id, item)
        current = target.pack.rules.get(_rule_id)
        if current is None:
            return [Finding(Status.SKIPPED, f"rule {_rule_id} is not in the rule pack {target.pack.name} "
                                            f"{target.pack.version}", message_id="contracts.rule_missing")]
        return _finding_for(target, current, fa)

    description = f"{rule.titre}\n\n{rule.explication}"
    return Check(
        id=f"{FAMILY}.{rule.id}",
        title=rule.title,
        family=FAMILY,
        severity=Severity(rule.severity),
        requirements=rule.references + rule.benchmark,
        target="contracts",
        func=run,
        items=lambda target: list(target.items()),
        description=description,
        remediation=rule.remediation or None,
        tags=("contracts", "legal"),
    )


def checks() -> list[Check]:
    return [make_check(rule) for rule in default_pack().rules.values()]


def requirements() -> list[Requirement]:
    pack = default_pack()
    return [Requirement(ref_id, data["title"], data["source"], data.get("url"))
            for ref_id, data in sorted(pack.references.items())]


# ----------------------------------------------------------------------------- hooks

@hookimpl
def harness_register_target_kinds():
    return [TargetKind("contracts", SCHEMA, lambda config, profile: ContractsTarget(config, profile.base_dir),
                       description="A vendor's contract files: CGV, CGU, licence or subscription contract "
                                   "(PDF, DOCX, HTML or text)",
                       path_keys=("files",))]


@hookimpl
def harness_register_checks():
    return checks()


@hookimpl
def harness_register_requirements():
    return requirements()


@hookimpl
def harness_register_commands(cli):
    from .commands import contracts_group

    cli.add_command(contracts_group)


__all__ = ["ContractsTarget", "SCHEMA", "checks", "requirements", "make_check", "PACK_DIR"]
