"""From a list of export files to everything the checks judge: one :class:`SourceAnalysis` per source.

A *source* is one way the export reached the auditor: ``archive`` (folder, zip,
tar.gz) or ``bulk`` (files downloaded from ``$export``). Analysis classifies
every file, scans the resource files in parallel (:mod:`.scan`), merges the
per-task reports, resolves references partition by partition (bounded memory),
checks attachments against the Binary resources and files they point to, and
inspects CSV, PDF and CDA files. Checks only read the result.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from . import formats
from .archive import Refusal
from .scan import (AttachmentInfo, BinaryInfo, ChunkReport, Problem, ScanOptions, Task, classify_reference, run_tasks,
                   split_ranges)

MAX_DANGLING_KEPT = 200


@dataclass
class FileEntry:
    name: str
    path: Path
    size: int
    cls: formats.FileClass | None = None
    sha256: str | None = None
    url: str | None = None          # bulk: where it was downloaded from


@dataclass
class FileScan:
    name: str
    lines: int = 0
    blank: int = 0
    resources: int = 0
    bad_lines: int = 0
    bytes: int = 0
    sha256: str | None = None
    types: Counter = field(default_factory=Counter)
    problem_counts: Counter = field(default_factory=Counter)
    issue_counts: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)


@dataclass
class Dangling:
    file: str
    line: int | None
    owner: str
    ref: str


@dataclass
class Document:
    name: str           # file name in the export, or "Binary/<id>"
    kind: str           # cda, xml, pdf
    path: Path
    where: str          # the file that carries it
    line: int | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    pdfa: str | None = None
    dmp: list[dict[str, Any]] | None = None


@dataclass
class AttachmentProblem:
    file: str
    line: int | None
    owner: str
    code: str
    message: str
    severity: str = "error"


@dataclass
class SourceAnalysis:
    name: str                      # archive or bulk
    label: str                     # archive file name or kick-off URL
    unavailable: str | None = None
    files: list[FileEntry] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    aborted: str | None = None
    origin_sha256: str | None = None
    scans: dict[str, FileScan] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    known_found: dict[str, dict[str, Any]] = field(default_factory=dict)
    refs_total: int = 0
    ref_kinds: Counter = field(default_factory=Counter)
    dangling: list[Dangling] = field(default_factory=list)
    dangling_total: int = 0
    dangling_targets: Counter = field(default_factory=Counter)
    duplicates: int = 0
    attachments_checked: int = 0
    attachment_problems: list[AttachmentProblem] = field(default_factory=list)
    attachment_counts: Counter = field(default_factory=Counter)
    binaries: int = 0
    documents: list[Document] = field(default_factory=list)
    csv: dict[str, formats.CsvReport] = field(default_factory=dict)
    manifests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    validator_state: str | None = None
    dmp_state: str | None = None
    fhir_base: str | None = None   # bulk: absolute references under this base are local

    def file(self, name: str) -> FileEntry | None:
        return next((f for f in self.files if f.name == name), None)

    def artefact(self, name: str) -> str:
        entry = self.file(name)
        if entry is not None and entry.url:
            return entry.url
        return f"{self.label}/{name}" if self.name == "archive" else name

    def sha(self, name: str) -> str | None:
        entry = self.file(name)
        return entry.sha256 if entry else None

    @property
    def resource_files(self) -> list[FileEntry]:
        return [f for f in self.files if f.cls and f.cls.kind in ("ndjson", "fhir-json")]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _file_sha1_b64(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode("ascii")


@dataclass
class AnalysisSettings:
    options: ScanOptions = field(default_factory=ScanOptions)
    workers: int = 0
    inline_bytes: int = 16 * 1024 * 1024
    chunk_bytes: int | None = None   # None: sized so every worker gets several tasks
    known_keys: frozenset = frozenset()
    cda_validator: Callable[[bytes, str], list[dict[str, Any]]] | None = None
    cda_validator_state: str | None = None
    #: dmp results by document sha256: the archive and ``$export`` usually carry the same documents.
    cda_results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: export bytes per key/reference spill partition (resolution holds one partition's keys in memory)
    partition_bytes: int = 256 * 1024 * 1024
    #: distinct CDA documents handed to the dmp validators (≈ 17 ms each, inside the target's time box)
    max_dmp_documents: int = 1000


def analyze(source: SourceAnalysis, work_dir: Path, settings: AnalysisSettings, progress=None) -> SourceAnalysis:
    """Fill ``source`` (whose ``files`` are listed) with everything the checks need."""
    for entry in source.files:
        if entry.cls is None:
            try:
                entry.cls = formats.classify(entry.path, entry.name)
            except OSError as exc:
                entry.cls = formats.FileClass("proprietary", f"unreadable: {exc}")
    _scan_resources(source, work_dir, settings, progress)
    _inspect_documents(source, settings)
    _inspect_csv(source)
    for entry in source.files:
        if entry.cls and entry.cls.kind == "manifest":
            source.manifests.append((entry.name, entry.cls.info["data"]))
        if entry.sha256 is None and entry.size <= 512 * 1024 * 1024:
            entry.sha256 = _file_sha256(entry.path)
    return source


def _scan_resources(source: SourceAnalysis, work_dir: Path, settings: AnalysisSettings, progress) -> None:
    files = source.resource_files
    spill = work_dir / f"spill-{source.name}"
    spill.mkdir(parents=True, exist_ok=True)
    total = sum(f.size for f in files)
    partitions = max(1, min(64, total // settings.partition_bytes + 1))
    workers = settings.workers or os.cpu_count() or 1
    chunk_bytes = settings.chunk_bytes or max(8 << 20, min(64 << 20, total // (workers * 4) + 1))
    tasks: list[Task] = []
    for entry in files:
        cls = entry.cls
        gz = cls.kind == "ndjson" and cls.detail == "gzip"
        base = dict(path=str(entry.path), name=entry.name, spill_dir=str(spill), partitions=partitions,
                    options=settings.options, known=settings.known_keys, expected_type=cls.resource_type)
        if cls.kind == "fhir-json":
            tasks.append(Task(index=len(tasks), json_doc=True, **base))
        elif not gz and workers > 1 and entry.size > chunk_bytes * 1.5:
            ranges, digest = split_ranges(entry.path, chunk_bytes)
            entry.sha256 = digest
            for start, end, first_line in ranges:
                tasks.append(Task(index=len(tasks), start=start, end=end, first_line=first_line, whole=False, **base))
        else:
            # Hash while reading, once; a .gz is hashed as stored (after the scan), not as inflated.
            tasks.append(Task(index=len(tasks), gz=gz, whole=entry.sha256 is None and not gz, **base))
    task_progress = None
    if progress is not None and tasks:
        task_id = progress.add_task(f"validating {source.name} ({len(files)} files)", total=len(tasks))
        task_progress = lambda n: progress.update(task_id, advance=n)  # noqa: E731
    reports = run_tasks(tasks, workers, settings.inline_bytes, task_progress)
    if task_progress is not None:
        progress.remove_task(task_id)
    binaries: dict[str, BinaryInfo] = {}
    attachments: list[AttachmentInfo] = []
    states = set()
    for task, report in zip(tasks, reports):
        _merge(source, task, report)
        if report.validator:
            states.add(report.validator)
        for info in report.binaries:
            binaries.setdefault(info.id, info)
        attachments.extend(report.attachments)
        source.attachments_checked += report.attachments_total
        source.known_found.update({k: v for k, v in report.known.items() if k not in source.known_found})
    source.binaries = len(binaries)
    bad_states = sorted(s for s in states if s != "ok")
    source.validator_state = bad_states[0] if bad_states else ("ok" if states else None)
    for scan in source.scans.values():
        scan.problems.sort(key=lambda p: (p.line or 0, p.code))
        del scan.problems[settings.options.max_problems * 2:]
    _resolve(source, spill, tasks, partitions)
    _check_attachments(source, attachments, binaries)
    for info in binaries.values():
        if info.doc_path:
            kind = Path(info.doc_path).suffix.lstrip(".")
            source.documents.append(Document(f"Binary/{info.id}", kind, Path(info.doc_path), info.file, info.line))


def _merge(source: SourceAnalysis, task: Task, report: ChunkReport) -> None:
    scan = source.scans.setdefault(task.name, FileScan(task.name))
    scan.lines += report.lines
    scan.blank += report.blank
    scan.resources += report.resources
    scan.bad_lines += report.bad_lines
    scan.bytes += report.bytes
    if report.sha256:
        scan.sha256 = report.sha256
        entry = source.file(task.name)
        if entry is not None and entry.sha256 is None:
            entry.sha256 = report.sha256
    scan.types.update(report.types)
    scan.problem_counts.update(report.problem_counts)
    scan.issue_counts.update(report.issue_counts)
    scan.problems.extend(report.problems)
    if report.fatal:
        scan.fatal.append(report.fatal)
    source.counts.update(report.types)
    source.refs_total += report.refs
    source.ref_kinds.update(report.ref_kinds)


def _resolve(source: SourceAnalysis, spill: Path, tasks: list[Task], partitions: int) -> None:
    """Every relative or urn reference against every defined key, one key partition at a time."""
    for p in range(partitions):
        defined: set[str] = set()
        added = 0
        for task in tasks:
            path = spill / f"defs-{task.index}-{p}.txt"
            if path.exists():
                with open(path, encoding="utf-8") as handle:
                    keys = handle.read().split("\n")
                keys.pop()  # the empty string after the last newline
                added += len(keys)
                defined.update(keys)
        source.duplicates += added - len(defined)
        for task in tasks:
            path = spill / f"refs-{task.index}-{p}.tsv"
            if not path.exists():
                continue
            with open(path, encoding="utf-8") as handle:
                for row in handle:
                    key, line, owner, ref = row.rstrip("\n").split("\t", 3)
                    if key in defined:
                        continue
                    source.dangling_total += 1
                    source.dangling_targets[key.split("/", 1)[0] if "/" in key and "://" not in key
                                            else key.split(":", 2)[0]] += 1
                    if len(source.dangling) < MAX_DANGLING_KEPT:
                        source.dangling.append(Dangling(task.name, int(line) or None, owner, ref))
    source.dangling.sort(key=lambda d: (d.file, d.line or 0, d.ref))


def _is_sha1_b64(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 20
    except (ValueError, base64.binascii.Error):
        return False


def _check_attachments(source: SourceAnalysis, attachments: list[AttachmentInfo],
                       binaries: dict[str, BinaryInfo]) -> None:
    names = {f.name: f for f in source.files}
    bases = (source.fhir_base,) if source.fhir_base else ()
    hashed: dict[str, tuple[int, str]] = {}

    def problem(att: AttachmentInfo, code: str, message: str, severity: str = "error") -> None:
        source.attachment_counts[code] += 1
        if len(source.attachment_problems) < MAX_DANGLING_KEPT:
            source.attachment_problems.append(AttachmentProblem(att.file, att.line, att.owner, code,
                                                                f"{att.owner} {att.path}: {message}", severity))

    for att in attachments:
        if att.hash is not None and not _is_sha1_b64(att.hash):
            problem(att, "hash_format", f"hash {str(att.hash)[:60]!r} is not a base64 SHA-1 (FHIR R4 Attachment.hash)")
        if att.size is not None and (not isinstance(att.size, int) or isinstance(att.size, bool) or att.size < 0):
            problem(att, "size_format", f"size {att.size!r} is not an unsigned integer")
        if att.inline_error:
            problem(att, "inline_data", att.inline_error)
            continue
        if att.inline_size is not None:
            actual_size, actual_hash, where = att.inline_size, att.inline_sha1, "its inline data"
        elif att.has_data:
            problem(att, "unverifiable", "inline data without size or hash: its integrity cannot be checked",
                    severity="warning")
            continue
        elif isinstance(att.url, str) and att.url:
            kind, key = classify_reference(att.url, bases)
            if kind == "relative" and key.startswith("Binary/"):
                binary = binaries.get(key.split("/", 1)[1])
                if binary is None:
                    problem(att, "missing", f"points to {key}, which is not in the export")
                    continue
                if binary.error:
                    problem(att, "binary_data", f"{key}: {binary.error}")
                    continue
                if binary.size is None:
                    problem(att, "binary_empty", f"{key} has no data")
                    continue
                actual_size, actual_hash, where = binary.size, binary.sha1, key
            elif kind == "external" and att.url.startswith(("http://", "https://")):
                problem(att, "external", f"content at {att.url} lies outside the export; not verifiable",
                        severity="warning")
                continue
            else:
                rel = att.url.removeprefix("file://").removeprefix("./")
                candidates = [rel, (PurePosixPath(att.file).parent / rel).as_posix()]
                entry = next((names[c] for c in candidates if c in names), None)
                if entry is None:
                    problem(att, "missing", f"points to {att.url!r}, absent from the export")
                    continue
                if entry.name not in hashed:
                    hashed[entry.name] = (entry.size, _file_sha1_b64(entry.path))
                actual_size, actual_hash = hashed[entry.name]
                where = entry.name
        else:
            problem(att, "no_content", "attachment carries neither data nor url", severity="warning")
            continue
        if isinstance(att.size, int) and att.size != actual_size:
            problem(att, "size_mismatch", f"declares {att.size:,} bytes, {where} has {actual_size:,}")
        if _is_sha1_b64(att.hash) and att.hash != actual_hash:
            problem(att, "hash_mismatch", f"declares SHA-1 {att.hash}, {where} hashes to {actual_hash}")
        if att.size is None and att.hash is None:
            problem(att, "unverifiable", "declares neither size nor hash: its integrity cannot be checked",
                    severity="warning")
    source.attachment_problems.sort(key=lambda a: (a.file, a.line or 0, a.code))


def _inspect_documents(source: SourceAnalysis, settings: AnalysisSettings) -> None:
    skipped_dmp = 0
    for entry in source.files:
        if entry.cls and entry.cls.kind in ("cda", "pdf"):
            source.documents.append(Document(entry.name, entry.cls.kind, entry.path, entry.name))
    for doc in source.documents:
        if doc.kind == "pdf":
            doc.pdfa, problems = formats.inspect_pdf(doc.path)
            doc.problems.extend(("portability.pdf.not_pdfa", p) for p in problems)
            continue
        data = doc.path.read_bytes() if doc.path.stat().st_size <= 64 * 1024 * 1024 else None
        if data is None:
            doc.problems.append(("portability.cda.too_large", "document larger than 64 MiB; not parsed"))
            continue
        if doc.kind == "xml":
            if formats._root_of(data[:65536]) != ("ClinicalDocument", formats.CDA_NS):
                continue  # XML that is not CDA: only its format matters (formats.open)
            doc.kind = "cda"
        doc.problems.extend(formats.inspect_cda(data))
        if settings.cda_validator is not None and not any(c.endswith(("not_well_formed", "unsafe")) for c, _ in doc.problems):
            digest = hashlib.sha256(data).hexdigest()
            if digest not in settings.cda_results and len(settings.cda_results) >= settings.max_dmp_documents:
                skipped_dmp += 1
                continue
            if digest not in settings.cda_results:
                try:
                    settings.cda_results[digest] = list(settings.cda_validator(data, doc.name))
                except Exception as exc:  # noqa: BLE001 - another family's bug must not stop this one
                    settings.cda_results[digest] = [{"status": "error", "message": "DMP validator failed: "
                                                     f"{type(exc).__name__}: {exc}"}]
            doc.dmp = settings.cda_results[digest]
    source.dmp_state = settings.cda_validator_state
    if skipped_dmp:
        source.dmp_state = (f"{skipped_dmp:,} CDA documents not handed to the DMP validators: more than "
                            f"max_dmp_documents = {settings.max_dmp_documents:,}")


def _inspect_csv(source: SourceAnalysis) -> None:
    csvw = {}
    media_types: dict[str, str] = {}
    for entry in source.files:
        if entry.cls and entry.cls.kind == "csvw":
            csvw[entry.name] = entry.cls.info["data"]
        if entry.cls and entry.cls.kind == "manifest":
            base = PurePosixPath(entry.name).parent
            for item in _walk_dicts(entry.cls.info["data"]):
                url, media = item.get("url"), item.get("mediaType") or item.get("contentType")
                if isinstance(url, str) and isinstance(media, str):
                    media_types[(base / url).as_posix() if str(base) != "." else url] = media
    for entry in source.files:
        if entry.cls and entry.cls.kind == "csv":
            meta = formats.csvw_for(entry.name, csvw)
            try:
                source.csv[entry.name] = formats.inspect_csv(entry.path, meta, media_types.get(entry.name))
            except OSError as exc:
                source.csv[entry.name] = formats.CsvReport(None, None, None, False, str(exc), 0,
                                                           [("portability.csv.unreadable", str(exc))])


def _walk_dicts(value: Any):
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk_dicts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_dicts(item)

