"""Extraction: PDF, DOCX, HTML and plain text to one normalised, located text.

A :class:`Document` keeps the raw text of every page exactly as the extractor
produced it (pypdf ``extract_text`` per page; DOCX paragraphs and table rows;
HTML text; the decoded text file), the normalised text the rules read, and for
every normalised character the offset of its raw source. :meth:`Document.locate`
turns a span of normalised text back into ``(page, start, end)`` where the
offsets count from the start of that page's raw text (a span that runs over a
page break counts on through a form feed).

Untrusted input is handled here, never by raising into the check:

- an encrypted PDF is opened with the empty password when it has one (owner
  password only); otherwise the document is ``review`` with the reason;
- a PDF page without text (a scan) -> ``review``: "no text layer; no OCR done";
- a malformed PDF is read in a child process killed after ``timeout`` seconds;
- a DOCX is vetted with :mod:`harness.safety` before python-docx opens it
  (zip bombs, huge members, path tricks);
- HTML is parsed by lxml with no network; scripts, styles and embedded objects
  are dropped and no external resource is ever fetched;
- empty files, and documents over ``max_pages`` or ``max_chars``, are reported.
"""

from __future__ import annotations

import io
import multiprocessing
import re
import time
import zipfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import sha256_bytes
from harness.safety import UnsafeInput, ZipLimits, safe_zip_members
from harness_plugins._common.system import available_cpus

from .text import Tracked, fold, normalise

PAGE_SEP = "\f"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_PAGES = 5000
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_CHARS = 20_000_000
DOCX_LIMITS = ZipLimits(max_members=2000, max_total_bytes=200 * 1024**2, max_member_bytes=100 * 1024**2,
                        max_ratio=100.0)

KINDS = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".xhtml": "html", ".txt": "text",
         ".text": "text", ".md": "text"}


class ExtractionProblem(Exception):
    """The file cannot be analysed; ``status`` is ``review`` (a person can) or ``error`` (unreadable)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Document:
    """One contract file, extracted and normalised."""

    path: Path
    kind: str
    sha256: str
    pages: list[str]
    text: str = ""
    origin: array = field(default_factory=lambda: array("i"))
    page_starts: list[int] = field(default_factory=list)
    removed_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem: ExtractionProblem | None = None
    _folded: str | None = field(default=None, repr=False)

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = fold(self.text)
        return self._folded

    @property
    def paginated(self) -> bool:
        return self.kind == "pdf" or len(self.pages) > 1

    def raw_offset(self, index: int) -> int:
        if not len(self.origin):
            return 0
        index = max(0, min(index, len(self.origin) - 1))
        return self.origin[index]

    def page_of(self, raw: int) -> int:
        """1-based page of a raw (global) offset."""
        lo, hi = 0, len(self.page_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.page_starts[mid] <= raw:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    def locate(self, start: int, end: int) -> tuple[int, int, int]:
        """(page, start, end) of a normalised span, offsets relative to the page's raw text."""
        raw_start = self.raw_offset(start)
        raw_end = self.raw_offset(end - 1) + 1 if end > start else raw_start
        page = self.page_of(raw_start)
        base = self.page_starts[page - 1] if self.page_starts else 0
        return page, raw_start - base, max(raw_end - base, raw_start - base)

    def raw_span(self, page: int, start: int, end: int) -> str:
        """The raw text at page-relative offsets (what :meth:`locate` points at)."""
        return PAGE_SEP.join(self.pages)[self.page_starts[page - 1] + start:self.page_starts[page - 1] + end]


# ----------------------------------------------------------------------------- headers and footers

_PAGE_MARK = re.compile(r"^(?:page\s*)?#+(?:\s*(?:/|sur|de)\s*#+)?$|^-\s*#+\s*-$")
_HAS_PAGE_NUMBER = re.compile(r"\bpage\s*#|#\s*(?:/|sur)\s*#|^\W*#\W*$")


def _line_key(line: str) -> str:
    """The line as compared across pages: folded, and with its numbers masked when it carries a page
    number ("Page 3 / 12", "- 3 -"), so that a running footer matches itself on every page while a
    numbered heading ("Article 12 - Durée") does not."""
    key = re.sub(r"\s+", " ", fold(line)).strip()
    masked = re.sub(r"\d+", "#", key)
    return masked if _HAS_PAGE_NUMBER.search(masked) else key


def _edge_lines(page: str, count: int = 3) -> list[tuple[int, int, str]]:
    """(start, end, key) of the first and last ``count`` non-empty lines of a page."""
    spans = []
    pos = 0
    for line in page.split("\n"):
        if line.strip():
            spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    if len(spans) > 2 * count:
        spans = spans[:count] + spans[-count:]
    return [(start, end, _line_key(page[start:end])) for start, end in spans]


def blank_headers_footers(pages: list[str]) -> tuple[list[str], list[str]]:
    """Replace repeated page headers/footers and bare page numbers by spaces (lengths unchanged)."""
    if not pages:
        return pages, []
    edges = [_edge_lines(p) for p in pages]
    counts: dict[str, int] = {}
    for spans in edges:
        for key in {k for _s, _e, k in spans}:
            counts[key] = counts.get(key, 0) + 1
    n = len(pages)
    threshold = max(2, int(0.5 * n + 0.5)) if n >= 2 else 10**9
    repeated = {k for k, c in counts.items() if c >= threshold and len(k) <= 160}
    removed: list[str] = []
    out = []
    for page, spans in zip(pages, edges):
        chars = list(page)
        changed = False
        for start, end, key in spans:
            if key in repeated or _PAGE_MARK.match(key):
                chars[start:end] = " " * (end - start)
                changed = True
                if key not in removed:
                    removed.append(key)
        out.append("".join(chars) if changed else page)
    return out, removed


def build(path: Path, kind: str, data: bytes, pages: list[str], notes: list[str] | None = None,
          max_chars: int = DEFAULT_MAX_CHARS) -> Document:
    """Normalise extracted pages into a :class:`Document`."""
    doc = Document(path=path, kind=kind, sha256=sha256_bytes(data), pages=pages, notes=list(notes or []))
    total = sum(len(p) for p in pages)
    if total > max_chars:
        raise ExtractionProblem("error", f"{total:,} characters of text exceed the {max_chars:,} limit")
    starts, pos = [], 0
    for page in pages:
        starts.append(pos)
        pos += len(page) + len(PAGE_SEP)
    doc.page_starts = starts
    blanked, removed = blank_headers_footers(pages) if kind in ("pdf", "docx") and len(pages) > 1 else (pages, [])
    doc.removed_lines = removed
    tracked: Tracked = normalise(PAGE_SEP.join(blanked))
    doc.text, doc.origin = tracked.text, tracked.origin
    return doc


# ----------------------------------------------------------------------------- PDF

def _pdf_pages(data: bytes, max_pages: int, part: tuple[int, int] = (0, 1)) -> dict[str, Any]:
    """Runs in a child process: returns pages or a problem (never raises).

    ``part = (k, n)`` extracts only the pages ``k, k+n, k+2n…`` (the other pages are left empty), so
    that ``n`` children can share a long document."""
    try:
        import logging

        logging.getLogger("pypdf").setLevel(logging.ERROR)
        from pypdf import PdfReader
        from pypdf.errors import FileNotDecryptedError, PdfReadError

        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
        except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
            return {"problem": ("error", f"malformed PDF: {exc}")}
        notes = []
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # noqa: BLE001 - pypdf raises many types here
                return {"problem": ("review", f"encrypted PDF; it cannot be decrypted ({exc}); "
                                              "ask the vendor for an unprotected copy")}
            if not ok:
                return {"problem": ("review", "encrypted PDF protected by a password; not analysed — "
                                              "ask the vendor for an unprotected copy")}
            notes.append("encrypted PDF opened with the empty user password")
        try:
            count = len(reader.pages)
        except (FileNotDecryptedError, PdfReadError) as exc:
            return {"problem": ("review", f"encrypted PDF; not analysed ({exc})")}
        if count > max_pages:
            return {"problem": ("error", f"{count:,} pages exceed the {max_pages:,}-page limit")}
        pages = []
        first, step = part
        for index in range(count):
            if index % step != first:
                pages.append("")
                continue
            try:
                pages.append(reader.pages[index].extract_text() or "")
            except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
                pages.append("")
                notes.append(f"page {index + 1}: text not extracted ({type(exc).__name__}: {exc})")
        return {"pages": pages, "notes": notes}
    except Exception as exc:  # noqa: BLE001 - the child reports, never crashes
        return {"problem": ("error", f"malformed PDF: {type(exc).__name__}: {exc}")}


def _child(conn, data: bytes, max_pages: int, part: tuple[int, int]) -> None:
    try:
        conn.send(_pdf_pages(data, max_pages, part))
    finally:
        conn.close()


#: Above this size a PDF is shared between several child processes (one page in n each): about 40
#: pages of text. Each child parses the file again, which is cheap next to extracting the text
#: (measured on a 102-page, 260 KB contract: 0.75 s with one child, 0.40 s with two).
PARALLEL_FROM_BYTES = 100_000


def pdf_pages(data: bytes, *, timeout: float = DEFAULT_TIMEOUT, max_pages: int = DEFAULT_MAX_PAGES,
              isolate: bool = True, workers: int | None = None) -> tuple[list[str], list[str]]:
    """Text of each page with pypdf, in child processes killed after ``timeout`` seconds.

    A malformed PDF cannot hang the run: the children are killed at the deadline. A large PDF is
    shared between up to ``workers`` children (default: the CPUs available, at most 4), each
    extracting one page in n, and the pages are put back in order.
    """
    if not isolate:
        result = _pdf_pages(data, max_pages)
        if "problem" in result:
            raise ExtractionProblem(*result["problem"])
        return result["pages"], result["notes"]
    if workers is None:
        workers = min(4, available_cpus())
    workers = max(1, workers if len(data) >= PARALLEL_FROM_BYTES else 1)
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = multiprocessing.get_context("spawn")
    children = []
    for k in range(workers):
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(sender, data, max_pages, (k, workers)), daemon=True)
        proc.start()
        sender.close()
        children.append((proc, receiver))
    deadline = time.monotonic() + timeout
    results = []
    try:
        for proc, receiver in children:
            if not receiver.poll(max(0.0, deadline - time.monotonic())):
                raise ExtractionProblem("error", f"PDF text extraction did not finish within {timeout:g} s "
                                                 "(malformed or hostile PDF); stopped")
            try:
                results.append(receiver.recv())
            except EOFError:
                raise ExtractionProblem("error", "PDF text extraction crashed (malformed PDF)") from None
    finally:
        for proc, receiver in children:
            receiver.close()
            if proc.is_alive():
                proc.kill()
            proc.join(5)
    for result in results:
        if "problem" in result:
            raise ExtractionProblem(*result["problem"])
    pages = list(results[0]["pages"])
    for k, result in enumerate(results[1:], start=1):
        for index in range(k, len(pages), workers):
            pages[index] = result["pages"][index]
    notes = sorted({note for result in results for note in result["notes"]})
    return pages, notes


# ----------------------------------------------------------------------------- DOCX

_ROMAN = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
          (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def _roman(n: int) -> str:
    out = ""
    for value, letters in _ROMAN:
        while n >= value:
            out += letters
            n -= value
    return out


def _format_number(n: int, fmt: str) -> str:
    if fmt == "upperRoman":
        return _roman(n)
    if fmt == "lowerRoman":
        return _roman(n).lower()
    if fmt in ("upperLetter", "lowerLetter"):
        letters = ""
        while n > 0:
            n, rem = divmod(n - 1, 26)
            letters = chr(65 + rem) + letters
        return letters if fmt == "upperLetter" else letters.lower()
    if fmt in ("bullet", "none"):
        return ""
    return str(n)


class _Numbering:
    """Renders Word automatic numbering ("Article 3", "3.2", "a)") into the text, as Word shows it."""

    def __init__(self, document) -> None:
        from docx.oxml.ns import qn

        self.qn = qn
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        self.abstract_of: dict[str, str] = {}
        self.counters: dict[str, dict[int, int]] = {}
        try:
            part = document.part.numbering_part
        except (KeyError, NotImplementedError, AttributeError):
            return
        root = part.element
        for abstract in root.findall(qn("w:abstractNum")):
            aid = abstract.get(qn("w:abstractNumId"))
            levels = {}
            for lvl in abstract.findall(qn("w:lvl")):
                ilvl = int(lvl.get(qn("w:ilvl"), "0"))
                fmt = lvl.find(qn("w:numFmt"))
                text = lvl.find(qn("w:lvlText"))
                start = lvl.find(qn("w:start"))
                levels[ilvl] = (fmt.get(qn("w:val")) if fmt is not None else "decimal",
                                text.get(qn("w:val")) if text is not None else "",
                                int(start.get(qn("w:val"))) if start is not None else 1)
            self.levels[aid] = levels
        for num in root.findall(qn("w:num")):
            ref = num.find(qn("w:abstractNumId"))
            if ref is not None:
                self.abstract_of[num.get(qn("w:numId"))] = ref.get(qn("w:val"))

    def label(self, paragraph) -> str:
        qn = self.qn
        ppr = paragraph._p.pPr
        numpr = ppr.find(qn("w:numPr")) if ppr is not None else None
        if numpr is None:
            style = paragraph.style
            while style is not None and numpr is None:
                spr = style.element.pPr
                numpr = spr.find(qn("w:numPr")) if spr is not None else None
                style = style.base_style
        if numpr is None:
            return ""
        num_el, lvl_el = numpr.find(qn("w:numId")), numpr.find(qn("w:ilvl"))
        num_id = num_el.get(qn("w:val")) if num_el is not None else None
        ilvl = int(lvl_el.get(qn("w:val"))) if lvl_el is not None else 0
        aid = self.abstract_of.get(num_id or "")
        levels = self.levels.get(aid or "")
        if not levels or ilvl not in levels:
            return ""
        counters = self.counters.setdefault(aid, {})
        counters[ilvl] = counters.get(ilvl, levels[ilvl][2] - 1) + 1
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]
        fmt, text, _start = levels[ilvl]
        if fmt in ("bullet", "none"):
            return "-"

        def repl(match: re.Match[str]) -> str:
            level = int(match.group(1)) - 1
            lfmt = levels.get(level, ("decimal", "", 1))[0]
            value = counters.get(level, levels.get(level, ("", "", 1))[2])
            return _format_number(value, lfmt)

        return re.sub(r"%(\d)", repl, text).strip()


def docx_pages(path: Path, data: bytes) -> tuple[list[str], list[str]]:
    """Paragraphs (with their automatic numbers) and table rows, in body order; pages split at explicit breaks."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ExtractionProblem("error", f"not a readable DOCX (zip) file: {exc}") from None
    try:
        safe_zip_members(archive, DOCX_LIMITS)
        names = set(archive.namelist())
    except UnsafeInput as exc:
        raise ExtractionProblem("error", f"DOCX refused: {exc}") from None
    finally:
        archive.close()
    if "word/document.xml" not in names:
        raise ExtractionProblem("error", "not a Word document: word/document.xml is missing")
    try:
        import docx
        from docx.oxml.ns import qn
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises many types on broken files
        raise ExtractionProblem("error", f"unreadable DOCX: {type(exc).__name__}: {exc}") from None
    numbering = _Numbering(document)
    pages: list[list[str]] = [[]]
    notes: list[str] = []

    def paragraph_text(par) -> str:
        label = numbering.label(par)
        text = par.text
        return f"{label} {text}".strip() if label and label != "-" else (f"- {text}" if label == "-" else text)

    def breaks_before(par) -> bool:
        ppr = par._p.pPr
        return ppr is not None and ppr.find(qn("w:pageBreakBefore")) is not None

    def page_breaks(par) -> int:
        return sum(1 for br in par._p.iter(qn("w:br")) if br.get(qn("w:type")) == "page")

    def walk(parent_elm, parent):
        for child in parent_elm.iterchildren():
            if child.tag == qn("w:p"):
                par = Paragraph(child, parent)
                if breaks_before(par) and pages[-1]:
                    pages.append([])
                pages[-1].append(paragraph_text(par))
                for _ in range(page_breaks(par)):
                    pages.append([])
            elif child.tag == qn("w:tbl"):
                table = Table(child, parent)
                for row in table.rows:
                    cells = []
                    seen = set()
                    for cell in row.cells:
                        if id(cell._tc) in seen:
                            continue  # merged cells repeat
                        seen.add(id(cell._tc))
                        cells.append(" ".join(p.text for p in cell.paragraphs).strip())
                    line = " | ".join(c for c in cells if c)
                    if line:
                        pages[-1].append(line)
            elif child.tag == qn("w:sdt"):
                content = child.find(qn("w:sdtContent"))
                if content is not None:
                    walk(content, parent)

    walk(document.element.body, document)
    texts = ["\n".join(lines) for lines in pages]
    while len(texts) > 1 and not texts[-1].strip():
        texts.pop()
    return texts, notes


# ----------------------------------------------------------------------------- HTML

_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table",
               "ul", "ol", "dd", "dt", "blockquote", "header", "footer", "pre", "hr", "td", "th", "main", "nav"}
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "head",
              "link", "meta", "form", "button", "select", "canvas", "audio", "video", "source", "img", "frame",
              "frameset", "applet")


def html_pages(data: bytes) -> tuple[list[str], list[str]]:
    """Visible text of an HTML page; nothing is executed and nothing is fetched."""
    import lxml.html
    from lxml import etree

    declared = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", data[:4096], re.I)
    encoding = declared.group(1).decode("ascii", "replace") if declared else None
    if encoding is None:
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    try:
        parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, recover=True,
                                      huge_tree=False, encoding=encoding)
    except LookupError:  # an encoding name lxml does not know
        parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, recover=True,
                                      huge_tree=False, encoding="utf-8")
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionProblem("error", f"unreadable HTML: {exc}") from None
    notes = []
    dropped = 0
    for tag in _DROP_TAGS:
        for element in root.iter(tag):
            dropped += 1
    etree.strip_elements(root, *_DROP_TAGS, with_tail=False)
    if dropped:
        notes.append(f"{dropped} script/style/embedded element(s) ignored; nothing was executed or fetched")
    parts: list[str] = []

    def walk(element) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        block = tag.lower() in _BLOCK_TAGS
        if block:
            parts.append("\n")
        if tag.lower() in ("td", "th"):
            parts.append(" | ")
        if element.text and tag:
            parts.append(element.text)
        for child in element:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append("\n")

    body = root.find("body")
    walk(body if body is not None else root)
    text = "".join(parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n\|\s*", "\n", text)
    return [text.strip()], notes


# ----------------------------------------------------------------------------- text

def decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def sniff_kind(path: Path, data: bytes) -> str:
    if data.startswith(b"%PDF") or b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "docx"
    suffix = KINDS.get(path.suffix.lower())
    if suffix:
        return suffix
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "html"
    return "text"


# ----------------------------------------------------------------------------- entry point

def extract(path: str | Path, *, timeout: float = DEFAULT_TIMEOUT, max_pages: int = DEFAULT_MAX_PAGES,
            max_bytes: int = DEFAULT_MAX_BYTES, max_chars: int = DEFAULT_MAX_CHARS, isolate: bool = True) -> Document:
    """Extract and normalise one file. Problems are kept in ``Document.problem``, never raised."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ExtractionProblem("error", f"{size:,} bytes exceed the {max_bytes:,}-byte limit; not analysed")
        data = path.read_bytes()
    except OSError as exc:
        doc = Document(path=path, kind="unknown", sha256=sha256_bytes(b""), pages=[])
        doc.problem = ExtractionProblem("error", f"cannot read the file: {exc}")
        return doc
    except ExtractionProblem as problem:
        doc = Document(path=path, kind="unknown", sha256="0" * 64, pages=[])
        doc.problem = problem
        return doc
    kind = sniff_kind(path, data)
    try:
        if not data.strip():
            raise ExtractionProblem("review", "empty file: there is no text to analyse")
        if kind == "pdf":
            pages, notes = pdf_pages(data, timeout=timeout, max_pages=max_pages, isolate=isolate)
            if not any(p.strip() for p in pages):
                raise ExtractionProblem("review", f"no text layer; no OCR done ({len(pages)} page(s) without "
                                                  "extractable text, probably a scan)")
            empty = [str(i + 1) for i, p in enumerate(pages) if not p.strip()]
            if empty:
                notes.append(f"page(s) {', '.join(empty[:20])} have no text layer; no OCR done")
        elif kind == "docx":
            pages, notes = docx_pages(path, data)
        elif kind == "html":
            pages, notes = html_pages(data)
        else:
            text = decode_text(data)
            pages, notes = (text.split("\f") if "\f" in text else [text]), []
        if len(pages) > max_pages:
            raise ExtractionProblem("error", f"{len(pages):,} pages exceed the {max_pages:,}-page limit")
        doc = build(path, kind, data, pages, notes, max_chars=max_chars)
        if not doc.text.strip():
            raise ExtractionProblem("review", "the file holds no readable text")
        return doc
    except ExtractionProblem as problem:
        doc = Document(path=path, kind=kind, sha256=sha256_bytes(data), pages=[])
        doc.problem = problem
        return doc


def from_text(text: str, name: str = "clause.txt") -> Document:
    """A document made from a string (the corpus and the tests use this)."""
    data = text.encode("utf-8")
    return build(Path(name), "text", data, [text])
