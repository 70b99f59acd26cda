"""Streaming scan of FHIR resource files: parse, validate, count, index — in bounded memory, in parallel.

Work is cut into *tasks*: one per file, and large NDJSON files are further cut
into byte ranges that start and end on line boundaries (a fast pre-pass counts
the newlines so every range knows its first line number). Tasks run in a
``spawn`` process pool (threads elsewhere in the harness make ``fork`` unsafe);
small exports run inline, since spawning workers would cost more than the work.

Per line a worker: reads at most ``max_line_bytes`` (a longer line is skipped
in 1 MiB steps, never held in memory), reports NUL bytes, invalid UTF-8,
truncated or broken JSON with file, line and column, parses with orjson,
validates with the shared FHIR validator (``harness_plugins.fhir.validator``),
counts per type, hashes ``Type/id`` into 64-bit keys and finds references with a
byte-level regex (no tree walk). Keys and references are spilled to files in
the work folder, partitioned by hash, so resolving millions of references holds
only one partition's keys in memory at a time. Problem lists are capped per
task; counts are always complete.
"""

from __future__ import annotations

import base64
import binascii
import gc
import gzip
import hashlib
import json
import os
import re
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

LINE_STEP = 1 << 20
#: A reference value; group 1 when it is a plain ``Type/id`` (the common case, handled without decoding JSON
#: escapes or classifying), else group 2 with the raw JSON string content.
REF_RE = re.compile(rb'"reference"\s*:\s*"(?:([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})"|((?:[^"\\]|\\.)*)")')
RELATIVE_RE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")
TYPE_RE = re.compile(r"^[A-Z][A-Za-z]+$")
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DOC_TYPES = {"application/pdf": "pdf", "application/xml": "xml", "text/xml": "xml", "application/hl7-v3+xml": "xml",
             "application/x-hl7-cda+xml": "xml"}


@dataclass(frozen=True)
class ScanOptions:
    max_line_bytes: int = 32 * 1024 * 1024
    max_problems: int = 100          # detailed problems kept per task (all are counted)
    max_attachments: int = 100_000   # attachment records kept per task
    validate: bool = True
    base_urls: tuple[str, ...] = ()  # absolute references under these bases are local to the export
    extract_documents: bool = True
    max_document_bytes: int = 64 * 1024 * 1024
    max_json_bytes: int = 256 * 1024 * 1024
    max_gzip_ratio: float = 200.0    # .ndjson.gz inflating more than this (above 16 MiB) is a bomb


@dataclass(frozen=True)
class Task:
    index: int
    path: str
    name: str
    spill_dir: str
    partitions: int
    options: ScanOptions
    known: frozenset = frozenset()
    expected_type: str | None = None
    gz: bool = False
    json_doc: bool = False
    start: int = 0
    end: int | None = None
    first_line: int = 1
    whole: bool = True               # hash the file while reading it (False: a range, or already hashed)


@dataclass
class Problem:
    file: str
    line: int | None
    code: str
    message: str
    severity: str = "error"
    column: int | None = None
    path: str | None = None
    excerpt: str | None = None


@dataclass
class BinaryInfo:
    id: str
    file: str
    line: int | None
    size: int | None
    sha1: str | None
    content_type: str | None
    doc_path: str | None = None
    error: str | None = None


@dataclass
class AttachmentInfo:
    owner: str
    file: str
    line: int | None
    path: str
    url: str | None
    content_type: str | None
    size: Any
    hash: Any
    inline_size: int | None = None
    inline_sha1: str | None = None
    inline_error: str | None = None
    has_data: bool = False


@dataclass
class ChunkReport:
    index: int
    name: str
    start: int = 0
    lines: int = 0
    blank: int = 0
    bytes: int = 0
    resources: int = 0
    bad_lines: int = 0
    sha256: str | None = None
    types: Counter = field(default_factory=Counter)
    problem_counts: Counter = field(default_factory=Counter)
    issue_counts: Counter = field(default_factory=Counter)   # (severity, code) from the validator
    problems: list[Problem] = field(default_factory=list)
    refs: int = 0
    ref_kinds: Counter = field(default_factory=Counter)
    defs: int = 0
    binaries: list[BinaryInfo] = field(default_factory=list)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    attachments_total: int = 0
    known: dict[str, dict[str, Any]] = field(default_factory=dict)
    validator: str | None = None          # "ok" or why validation did not run
    fatal: str | None = None


# ----------------------------------------------------------------------------- helpers

def partition_of(key: str, partitions: int) -> int:
    """Stable across processes (``hash()`` is salted per process)."""
    return zlib.crc32(key.encode("utf-8")) % partitions if partitions > 1 else 0


def fhir_base(url: str) -> str:
    """``http://h/fhir/Group/x/$export?..`` → ``http://h/fhir``."""
    url = url.split("?", 1)[0].rstrip("/")
    if url.endswith("/$export"):
        url = url[: -len("/$export")]
    parts = url.split("/")
    if len(parts) >= 2 and parts[-2] == "Group":
        parts = parts[:-2]
    elif parts and parts[-1] in ("Patient", "Group"):
        parts = parts[:-1]
    return "/".join(parts)


def classify_reference(ref: str, base_urls: tuple[str, ...] = ()) -> tuple[str, str]:
    """(kind, key): kind is relative, contained, urn, external or invalid; key is ``Type/id`` when relative."""
    match = RELATIVE_RE.match(ref)
    if match:
        return "relative", f"{match.group(1)}/{match.group(2)}"
    if ref.startswith("#"):
        return "contained", ref[1:]
    if ref.startswith("urn:"):
        return "urn", ref
    for base in base_urls:
        if ref.startswith(base.rstrip("/") + "/"):
            ref = ref[len(base.rstrip("/")) + 1:]
            break
    if "://" in ref:
        return "external", ref
    parts = ref.split("/")
    if len(parts) >= 2 and TYPE_RE.match(parts[0]) and ID_RE.match(parts[1]) and (
            len(parts) == 2 or (len(parts) == 4 and parts[2] == "_history")):
        return "relative", f"{parts[0]}/{parts[1]}"
    return "invalid", ref


def _excerpt(raw: bytes, around: int | None = None, width: int = 120) -> str:
    if around is None or around < width // 2:
        piece = raw[:width]
    else:
        piece = raw[max(0, around - width // 2): around + width // 2]
    text = piece.decode("utf-8", "replace").replace("\x00", "\\0")
    return text + ("…" if len(raw) > width else "")


def _severity_of(issue: Any) -> str:
    sev = getattr(issue, "severity", "error")
    sev = getattr(sev, "value", sev)
    return str(sev).lower()


_VALIDATOR: Any = None
_VALIDATOR_STATE: str | None = None


def get_validator() -> tuple[Any, str]:
    """The shared FHIR validator of this process, or None and the reason it is unavailable."""
    global _VALIDATOR, _VALIDATOR_STATE
    if _VALIDATOR_STATE is None:
        try:
            from harness_plugins.fhir.validator import default_validator

            _VALIDATOR = default_validator()
            _VALIDATOR_STATE = "ok"
            # The compiled validator is a large, long-lived object graph: frozen out of the cyclic GC, it is
            # no longer traversed by every collection the scan's allocations trigger (≈15% of scan time).
            gc.collect()
            gc.freeze()
        except Exception as exc:  # noqa: BLE001 - a missing or broken validator must not stop the scan
            _VALIDATOR = None
            _VALIDATOR_STATE = f"shared FHIR validator unavailable ({type(exc).__name__}: {exc})"
    return _VALIDATOR, _VALIDATOR_STATE


def _attachments_in(value: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """(FHIRPath-like path, attachment) for every Attachment-shaped object inside ``value``.

    Hand-written walk (no library walks parsed JSON by shape): path strings are joined only for the
    attachments found, since most visited nodes are not one and building every node's path cost more
    than the walk itself.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    trail = [path]

    def walk(node: Any) -> None:
        if type(node) is dict:
            if ("url" in node or "data" in node) and ("contentType" in node or "size" in node or "hash" in node):
                found.append(("".join(trail), node))
                return
            for key, item in node.items():
                kind = type(item)
                if kind is dict or kind is list:
                    trail.append("." + key)
                    walk(item)
                    trail.pop()
        else:
            for i, item in enumerate(node):
                kind = type(item)
                if kind is dict or kind is list:
                    trail.append(f"[{i}]")
                    walk(item)
                    trail.pop()

    if type(value) is dict or type(value) is list:
        walk(value)
    return found


def b64decode(data: str) -> bytes:
    """Strict base64 (no stray characters, correct padding): 2-3x faster than ``base64.b64decode(validate=True)``."""
    return binascii.a2b_base64(data, strict_mode=True)


def sha1_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


# ----------------------------------------------------------------------------- the worker

class _Scanner:
    """Processes the resources of one task; every per-line rule lives here."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.opts = task.options
        self.report = ChunkReport(task.index, task.name, start=task.start)
        self.validator = None
        if self.opts.validate:
            self.validator, self.report.validator = get_validator()
        else:
            self.report.validator = "validation disabled in the profile"
        spill = Path(task.spill_dir)
        self.def_files = [open(spill / f"defs-{task.index}-{p}.txt", "w", encoding="utf-8", newline="\n")
                          for p in range(task.partitions)]
        self.ref_files = [open(spill / f"refs-{task.index}-{p}.tsv", "w", encoding="utf-8", newline="\n")
                          for p in range(task.partitions)]
        self.doc_dir = spill / "documents"

    def define(self, key: str) -> None:
        partitions = self.task.partitions
        self.def_files[partition_of(key, partitions) if partitions > 1 else 0].write(key + "\n")

    def close(self) -> None:
        for handle in self.def_files + self.ref_files:
            handle.close()

    def problem(self, line: int | None, code: str, message: str, raw: bytes | None = None, *, severity: str = "error",
                column: int | None = None, path: str | None = None, around: int | None = None) -> None:
        report = self.report
        report.problem_counts[code] += 1
        if len(report.problems) < self.opts.max_problems:
            report.problems.append(Problem(self.task.name, line, code, message, severity, column, path,
                                           _excerpt(raw, around) if raw is not None else None))

    # -- one NDJSON line
    def line(self, raw: bytes, lineno: int) -> None:
        report = self.report
        report.lines += 1
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw or raw.isspace():
            report.blank += 1
            self.problem(lineno, "blank_line", "blank line (NDJSON carries one resource per line)", severity="warning")
            return
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            report.bad_lines += 1
            self._parse_error(raw, lineno, exc)
            return
        if b"\\u0000" in raw:
            self.problem(lineno, "escaped_nul", "a string contains an escaped NUL (\\u0000); FHIR strings forbid "
                                                "control characters", raw, severity="warning", around=raw.find(b"\\u0000"))
        self.guarded(obj, raw, lineno, None)

    def guarded(self, obj: Any, raw: bytes | None, lineno: int | None, where: str | None) -> None:
        """``resource()``, but JSON nested deeper than Python's recursion limit (orjson accepts 1,024 levels,
        the walks here and in the validator do not) is reported on its line instead of ending the task."""
        before = self.report.bad_lines
        try:
            self.resource(obj, raw, lineno, where)
        except RecursionError:
            if self.report.bad_lines == before:
                self.report.bad_lines += 1
            self.problem(lineno, "too_deep", "JSON nested too deeply to be processed (beyond the recursion "
                                             "limit); this resource was not fully checked", raw, path=where)

    def _parse_error(self, raw: bytes, lineno: int, exc: Exception) -> None:
        nul = raw.find(b"\x00")
        if nul >= 0:
            self.problem(lineno, "nul_byte", f"NUL byte at column {nul + 1}", raw, column=nul + 1, around=nul)
            return
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            self.problem(lineno, "invalid_utf8",
                         f"invalid UTF-8 at column {uexc.start + 1} (byte 0x{raw[uexc.start]:02x}): {uexc.reason}",
                         raw, column=uexc.start + 1, around=uexc.start)
            return
        pos = getattr(exc, "pos", None)
        message = str(exc).split(": line")[0]
        stripped = raw.rstrip()
        if pos is not None and pos >= len(stripped) - 1 or "EOF" in str(exc) or "unexpected end" in str(exc).lower():
            self.problem(lineno, "truncated", f"truncated line: the JSON ends after {len(raw):,} bytes before the "
                                              f"resource is closed ({message})", raw, around=len(raw))
        else:
            self.problem(lineno, "json_syntax", f"invalid JSON at column {(pos or 0) + 1}: {message}", raw,
                         column=(pos or 0) + 1, around=pos)

    # -- one resource (an NDJSON line or a Bundle entry)
    def resource(self, obj: Any, raw: bytes | None, lineno: int | None, where: str | None) -> None:
        report = self.report
        if not isinstance(obj, dict) or not isinstance(obj.get("resourceType"), str):
            report.bad_lines += 1
            what = type(obj).__name__ if not isinstance(obj, dict) else "an object without resourceType"
            self.problem(lineno, "not_a_resource", f"{what} is not a FHIR resource", raw, path=where)
            return
        rtype = obj["resourceType"]
        report.resources += 1
        report.types[rtype] += 1
        bad = False
        expected = self.task.expected_type
        if expected and rtype != expected and not self.task.json_doc:
            bad = True
            self.problem(lineno, "type_mismatch", f"{rtype} resource in a file of {expected} (Bulk Data: one type "
                                                  "per file)", raw, path=where)
        rid = obj.get("id")
        key = None
        if not isinstance(rid, str) or not rid:
            bad = True
            self.problem(lineno, "no_id", f"{rtype} without an id: nothing can reference it", raw, path=where)
        else:
            key = f"{rtype}/{rid}"
            self.define(key if "\n" not in key else key.replace("\n", " "))
            report.defs += 1
            if key in self.task.known and key not in report.known:
                report.known[key] = {"resource": obj, "file": self.task.name, "line": lineno, "path": where}
        if self.validator is not None:
            try:
                issues = self.validator.validate(obj)
            except Exception as exc:  # noqa: BLE001 - a validator bug on one resource is reported, not fatal
                issues = []
                self.problem(lineno, "validator_crash", f"validator failed on this resource: "
                                                        f"{type(exc).__name__}: {exc}", raw, severity="warning",
                             path=where)
            first_error = True
            for issue in issues or ():
                severity = _severity_of(issue)
                code = str(getattr(issue, "code", "invalid"))
                report.issue_counts[(severity, code)] += 1
                if severity in ("fatal", "error"):
                    bad = True
                    if first_error:
                        first_error = False
                        ipath = getattr(issue, "path", None)
                        self.problem(lineno, "invalid", f"{rtype}: {getattr(issue, 'message', issue)}"
                                                        + (f" (at {ipath})" if ipath else ""), raw,
                                     path=where or (str(ipath) if ipath else None))
                elif severity == "warning" and len(report.problems) < self.opts.max_problems // 2:
                    ipath = getattr(issue, "path", None)
                    self.problem(lineno, "validation_warning", f"{rtype}: {getattr(issue, 'message', issue)}"
                                 + (f" (at {ipath})" if ipath else ""), raw, severity="warning",
                                 path=where or (str(ipath) if ipath else None))
                elif severity == "warning":
                    report.problem_counts["validation_warning"] += 1
        if bad:
            report.bad_lines += 1
        if raw is None:
            raw = orjson.dumps(obj)
        if b'"reference"' in raw:
            self._references(obj, raw, lineno, key or rtype)
        if rtype == "Binary":
            self._binary(obj, lineno)
        elif b'"contentType"' in raw or b'"hash"' in raw:
            self._attachments(obj, lineno, key or rtype)

    def _references(self, obj: dict[str, Any], raw: bytes, lineno: int | None, owner: str) -> None:
        report = self.report
        kinds = report.ref_kinds
        contained_ids = None
        partitions = self.task.partitions
        files = self.ref_files
        bases = self.opts.base_urls
        where = f"{lineno or 0}\t{owner}\t"
        rows: list[str] = []
        found = REF_RE.findall(raw)
        report.refs += len(found)
        plain = 0
        for simple, value in found:
            if simple:
                plain += 1
                key = simple.decode("ascii")
                rows.append(f"{key}\t{where}{key}\n")
                continue
            try:
                ref = json.loads(b'"' + value + b'"') if b"\\" in value else value.decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                report.refs -= 1
                continue
            kind, key = classify_reference(ref, bases)
            kinds[kind] += 1
            if kind == "relative" or kind == "urn":
                clean = ref if "\t" not in ref and "\n" not in ref else ref.replace("\t", " ").replace("\n", " ")
                rows.append(f"{key}\t{where}{clean}\n")
            elif kind == "contained":
                if contained_ids is None:
                    contained_ids = {c.get("id") for c in obj.get("contained") or [] if isinstance(c, dict)}
                if key and key not in contained_ids:
                    self.problem(lineno, "dangling_contained", f"{owner}: reference {ref!r} names no contained "
                                                               "resource", severity="error")
            elif kind == "invalid":
                self.problem(lineno, "invalid_reference", f"{owner}: reference {ref!r} is neither Type/id, a "
                                                          "contained #id nor an absolute URL", severity="error")
        if plain:
            kinds["relative"] += plain
        if not rows:
            return
        if partitions == 1:
            files[0].write("".join(rows))
        else:
            for row in rows:
                files[partition_of(row.split("\t", 1)[0], partitions)].write(row)

    def _binary(self, obj: dict[str, Any], lineno: int | None) -> None:
        report = self.report
        data = obj.get("data")
        info = BinaryInfo(str(obj.get("id")), self.task.name, lineno, None, None, obj.get("contentType"))
        if isinstance(data, str):
            try:
                raw = b64decode(data)
            except (binascii.Error, ValueError) as exc:
                info.error = f"Binary.data is not valid base64: {exc}"
            else:
                info.size, info.sha1 = len(raw), sha1_b64(raw)
                kind = DOC_TYPES.get((info.content_type or "").split(";")[0].strip().lower())
                if kind is None and raw.startswith(b"%PDF-"):
                    kind = "pdf"
                if self.opts.extract_documents and kind and len(raw) <= self.opts.max_document_bytes:
                    self.doc_dir.mkdir(exist_ok=True)
                    safe_id = re.sub(r"[^A-Za-z0-9.-]", "_", info.id)[:64]
                    target = self.doc_dir / f"{self.task.index}-{lineno or 0}-{safe_id}.{kind}"
                    target.write_bytes(raw)
                    info.doc_path = str(target)
        if len(report.binaries) < self.opts.max_attachments:
            report.binaries.append(info)

    def _attachments(self, obj: dict[str, Any], lineno: int | None, owner: str) -> None:
        report = self.report
        for path, att in _attachments_in(obj, obj["resourceType"]):
            report.attachments_total += 1
            if len(report.attachments) >= self.opts.max_attachments:
                continue
            info = AttachmentInfo(owner, self.task.name, lineno, path, att.get("url"), att.get("contentType"),
                                  att.get("size"), att.get("hash"))
            data = att.get("data")
            info.has_data = isinstance(data, str)
            if isinstance(data, str) and (info.size is not None or info.hash is not None):
                try:
                    raw = b64decode(data)
                    info.inline_size, info.inline_sha1 = len(raw), sha1_b64(raw)
                except (binascii.Error, ValueError) as exc:
                    info.inline_error = f"attachment data is not valid base64: {exc}"
            report.attachments.append(info)

    # -- drivers
    def run_ndjson(self) -> None:
        task, report = self.task, self.report
        cap = self.opts.max_line_bytes
        digest = hashlib.sha256() if task.whole else None
        opener = gzip.open if task.gz else open
        lineno = task.first_line - 1
        gz_limit = max(16 << 20, os.path.getsize(task.path) * self.opts.max_gzip_ratio) if task.gz else None
        with opener(task.path, "rb") as handle:
            if task.start:
                handle.seek(task.start)
            pos = task.start
            end = task.end
            while end is None or pos < end:
                raw = handle.readline(cap + 1)
                if not raw:
                    break
                pos += len(raw)
                if digest is not None:
                    digest.update(raw)
                lineno += 1
                if gz_limit is not None and pos > gz_limit:
                    report.bad_lines += 1
                    self.problem(lineno, "gzip_bomb", f"inflates beyond {gz_limit:,.0f} bytes "
                                                      f"({self.opts.max_gzip_ratio:.0f}x its size): reading stopped")
                    break
                if len(raw) > cap and not raw.endswith(b"\n"):
                    skipped = len(raw)
                    head = raw[:200]
                    while True:  # skip the rest of the line without holding it
                        more = handle.readline(LINE_STEP)
                        if not more:
                            break
                        pos += len(more)
                        skipped += len(more)
                        if digest is not None:
                            digest.update(more)
                        if more.endswith(b"\n"):
                            break
                    report.lines += 1
                    report.bad_lines += 1
                    self.problem(lineno, "line_too_long", f"line of {skipped:,} bytes exceeds the {cap:,}-byte line cap; "
                                                          "skipped without reading it into memory", head)
                    continue
                self.line(raw[:-1] if raw.endswith(b"\n") else raw, lineno)
            report.bytes = pos - task.start
        if digest is not None:
            report.sha256 = digest.hexdigest()

    def run_json(self) -> None:
        task, report = self.task, self.report
        size = os.path.getsize(task.path)
        report.bytes = size
        with open(task.path, "rb") as handle:
            if size > self.opts.max_json_bytes:
                report.sha256 = _sha256_stream(handle)
                self.problem(None, "too_large", f"JSON file of {size:,} bytes exceeds the {self.opts.max_json_bytes:,}"
                                                "-byte limit for whole-document JSON; use NDJSON for large exports")
                report.bad_lines += 1
                return
            data = handle.read()
        report.sha256 = hashlib.sha256(data).hexdigest()
        report.lines = 1
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            report.bad_lines += 1
            self._parse_error(data, 1, exc)
            return
        if isinstance(obj, dict) and obj.get("resourceType") == "Bundle":
            entries = obj.get("entry") or []
            for i, entry in enumerate(entries if isinstance(entries, list) else []):
                if not isinstance(entry, dict):
                    continue
                full_url = entry.get("fullUrl")
                if isinstance(full_url, str) and full_url.startswith("urn:"):
                    self.define(full_url.replace("\n", " "))
                if "resource" in entry:
                    self.guarded(entry["resource"], None, None, f"Bundle.entry[{i}].resource")
            report.lines = len(entries) if isinstance(entries, list) else 1
        else:
            self.guarded(obj, None, None, None)


def _sha256_stream(handle) -> str:
    digest = hashlib.sha256()
    while block := handle.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


def scan_task(task: Task) -> ChunkReport:
    """Worker entry point (top level, picklable)."""
    scanner = _Scanner(task)
    try:
        if task.json_doc:
            scanner.run_json()
        else:
            scanner.run_ndjson()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        scanner.report.fatal = f"{task.name}: reading stopped: {type(exc).__name__}: {exc}"
    finally:
        scanner.close()
    return scanner.report


# ----------------------------------------------------------------------------- planning and running

def split_ranges(path: Path, chunk_bytes: int) -> tuple[list[tuple[int, int, int]], str]:
    """Cut a file into (start, end, first_line) ranges on line boundaries, and hash it, in one pass."""
    digest = hashlib.sha256()
    ranges: list[tuple[int, int, int]] = []
    start, first_line = 0, 1
    lines_before = 0          # newlines before ``pos + offset``
    pos = 0                   # file offset of the current block
    next_target = chunk_bytes
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            offset = 0
            while True:
                rel = next_target - pos
                if rel >= len(block):
                    break
                nl = block.find(b"\n", max(rel, offset))
                if nl < 0:
                    break  # the boundary falls in a later block, at its first newline
                lines_before += block.count(b"\n", offset, nl + 1)
                boundary = pos + nl + 1
                ranges.append((start, boundary, first_line))
                start, first_line = boundary, lines_before + 1
                offset = nl + 1
                next_target = boundary + chunk_bytes
            lines_before += block.count(b"\n", offset)
            pos += len(block)
    if pos > start or not ranges:
        ranges.append((start, pos, first_line))
    return ranges, digest.hexdigest()


def run_tasks(tasks: list[Task], workers: int, inline_bytes: int, progress=None) -> list[ChunkReport]:
    """Run tasks inline (small work) or in a spawn process pool; a crashed worker becomes a fatal report."""
    total = 0
    for t in tasks:
        try:
            total += (t.end - t.start) if t.end is not None else os.path.getsize(t.path)
        except OSError:
            pass
    if workers <= 1 or total <= inline_bytes or len(tasks) <= 1 and total <= inline_bytes * 4:
        reports = []
        for task in tasks:
            reports.append(scan_task(task))
            if progress:
                progress(1)
        return reports
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    order = sorted(range(len(tasks)), key=lambda i: -((tasks[i].end or 0) - tasks[i].start
                                                      if tasks[i].end is not None else os.path.getsize(tasks[i].path)))
    results: dict[int, ChunkReport] = {}
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        futures = {pool.submit(scan_task, tasks[i]): i for i in order}
        for future, i in futures.items():
            try:
                results[i] = future.result()
            except Exception as exc:  # noqa: BLE001 - BrokenProcessPool, pickling errors
                results[i] = ChunkReport(tasks[i].index, tasks[i].name, start=tasks[i].start,
                                         fatal=f"{tasks[i].name}: worker failed: {type(exc).__name__}: {exc}")
            if progress:
                progress(1)
    return [results[i] for i in range(len(tasks))]
