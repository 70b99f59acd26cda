"""What each file of an export is, and whether the next software can read it.

Classification sniffs content first (magic bytes, XML root, JSON shape) and
uses the extension only as a hint, so a renamed blob is still a blob. Open and
documented formats: FHIR NDJSON/JSON/XML, CDA R2, CSV (with a header and a
declared encoding), PDF (PDF/A for documents), plain text/HTML/Markdown, common
images, DICOM, HL7 v2. Databases and unknown binaries are proprietary or
undocumented dumps; nested archives are not audited and say so.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.safety import UnsafeInput, parse_xml_bytes

SNIFF_BYTES = 64 * 1024
SMALL_JSON = 4 * 1024 * 1024
CDA_NS = "urn:hl7-org:v3"
FHIR_NS = "http://hl7.org/fhir"

#: kind -> (open and documented?, description)
KINDS: dict[str, tuple[bool | None, str]] = {
    "ndjson": (True, "FHIR NDJSON"),
    "fhir-json": (True, "FHIR JSON"),
    "manifest": (True, "export manifest (FHIR Bulk Data JSON)"),
    "csvw": (True, "CSV metadata (W3C CSVW JSON)"),
    "json": (None, "JSON of unknown vocabulary"),
    "cda": (True, "CDA R2 document (XML)"),
    "fhir-xml": (True, "FHIR XML"),
    "xml": (None, "XML of unknown vocabulary"),
    "csv": (True, "CSV"),
    "pdf": (True, "PDF"),
    "text": (True, "text (plain, Markdown, HTML)"),
    "image": (True, "image (PNG, JPEG, TIFF, GIF)"),
    "dicom": (True, "DICOM"),
    "hl7v2": (True, "HL7 v2 messages"),
    "empty": (True, "empty file"),
    "archive": (None, "nested archive (not audited)"),
    "database": (False, "database file (undocumented schema)"),
    "proprietary": (False, "proprietary or undocumented binary"),
    "unknown-text": (None, "text of undocumented format"),
}

TEXT_EXT = {".txt", ".md", ".markdown", ".html", ".htm", ".rtf"}
IMAGE_MAGIC = [(b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
               (b"GIF87a", "GIF"), (b"GIF89a", "GIF")]
DATABASE_MAGIC = [(b"SQLite format 3\x00", "SQLite database"), (b"\x00\x01\x00\x00Standard Jet DB", "MS Access database"),
                  (b"\x00\x01\x00\x00Standard ACE DB", "MS Access database")]
ARCHIVE_MAGIC = [(b"PK\x03\x04", "zip"), (b"\x1f\x8b", "gzip"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!", "rar"),
                 (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz")]
_TYPE_FROM_NAME = re.compile(r"^([A-Z][A-Za-z]+)(?:[._-]\d+)*(?:[._-]part\d+)?$")


@dataclass
class FileClass:
    kind: str
    detail: str = ""
    resource_type: str | None = None        # declared by the file name (Bulk: one type per file)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def open_format(self) -> bool | None:
        return KINDS[self.kind][0]

    @property
    def description(self) -> str:
        return KINDS[self.kind][1] + (f" ({self.detail})" if self.detail else "")


def type_from_name(name: str) -> str | None:
    """``Patient.ndjson``, ``Patient-2.ndjson``, ``1.Patient.ndjson`` → ``Patient``."""
    stem = PurePosixPath(name).name
    for suffix in (".gz", ".ndjson", ".jsonl", ".json"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    for part in [stem] + stem.split("."):
        match = _TYPE_FROM_NAME.match(part)
        if match:
            return match.group(1)
    return None


def _looks_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4  # cut in the middle of a multi-byte sequence


def classify(path: Path, name: str) -> FileClass:
    """Sniff one file of an export."""
    lower = name.lower()
    ext = PurePosixPath(lower).suffix
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        return FileClass("empty")
    if lower.endswith((".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")):
        return FileClass("ndjson", "gzip" if lower.endswith(".gz") else "", type_from_name(name))
    for magic, what in DATABASE_MAGIC:
        if head.startswith(magic):
            return FileClass("database", what)
    for magic, what in ARCHIVE_MAGIC:
        if head.startswith(magic):
            if what == "zip" and ext in (".docx", ".xlsx", ".odt", ".ods"):  # office documents are zips too
                return FileClass("text", f"office document {ext}")
            return FileClass("archive", what)
    if head.startswith(b"%PDF-"):
        return FileClass("pdf", head[5:8].decode("ascii", "replace"))
    for magic, what in IMAGE_MAGIC:
        if head.startswith(magic):
            return FileClass("image", what)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return FileClass("dicom")
    if head.startswith(b"MSH|"):
        return FileClass("hl7v2")
    if ext == ".json" or head.lstrip()[:1] in (b"{", b"["):
        return _classify_json(path, name, head)
    if ext in (".xml", ".cda") or head.lstrip().startswith(b"<?xml") or head.lstrip().startswith(b"<"):
        return _classify_xml(path, head)
    if ext in (".csv", ".tsv"):
        return FileClass("csv", ext[1:])
    if not _looks_text(head):
        return FileClass("proprietary", f"starts with {head[:8].hex(' ')}")
    if ext in TEXT_EXT or lower.endswith("readme") or PurePosixPath(lower).name.startswith(("readme", "lisezmoi")):
        return FileClass("text", ext[1:] if ext else "")
    return FileClass("unknown-text", ext or "no extension")


def _classify_json(path: Path, name: str, head: bytes) -> FileClass:
    size = path.stat().st_size
    if size > SMALL_JSON:
        # Too big to parse just to classify: a large JSON in an export is a Bundle or a resource.
        return FileClass("fhir-json", "large", type_from_name(name))
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        if PurePosixPath(name.lower()).suffix == ".json":
            return FileClass("fhir-json", f"unparsable: {exc}", type_from_name(name))
        return FileClass("unknown-text", "not JSON")
    if isinstance(data, dict):
        if isinstance(data.get("resourceType"), str):
            return FileClass("fhir-json", data["resourceType"], data["resourceType"])
        if "output" in data and ("transactionTime" in data or "request" in data):
            return FileClass("manifest", info={"data": data})
        if "@context" in data and ("tableSchema" in data or "dialect" in data or "tables" in data):
            return FileClass("csvw", info={"data": data})
    return FileClass("json")


def _root_of(head: bytes) -> tuple[str, str] | None:
    match = re.search(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s>/]", re.sub(rb"<[?!][^>]*>", b"", head))
    if not match:
        return None
    local = match.group(2).decode()
    prefix = (match.group(1) or b"").decode().rstrip(":")
    ns_match = re.search(rb"xmlns" + (rb":" + prefix.encode() if prefix else b"") + rb"\s*=\s*[\"']([^\"']+)[\"']", head)
    return local, ns_match.group(1).decode() if ns_match else ""


def _classify_xml(path: Path, head: bytes) -> FileClass:
    root = _root_of(head)
    if root is None:
        return FileClass("unknown-text", "XML-like, no root element") if _looks_text(head) else \
            FileClass("proprietary", f"starts with {head[:8].hex(' ')}")
    local, ns = root
    if local == "ClinicalDocument" and ns == CDA_NS:
        return FileClass("cda")
    if ns == FHIR_NS:
        return FileClass("fhir-xml", local, local)
    return FileClass("xml", f"root {local}" + (f" in {ns}" if ns else ""))


# ----------------------------------------------------------------------------- CSV

BOMS = [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]


@dataclass
class CsvReport:
    declared_encoding: str | None
    declared_by: str | None
    header: list[str] | None
    header_ok: bool
    decode_error: str | None
    rows: int
    problems: list[tuple[str, str]]   # (message_id, message)


def declared_charset(media_type: str | None) -> str | None:
    if not media_type:
        return None
    match = re.search(r"charset\s*=\s*\"?([A-Za-z0-9._-]+)", media_type)
    return match.group(1) if match else None


def _decode_check(path: Path, encoding: str, skip: int) -> tuple[str | None, int]:
    """Stream-decode the whole file: (the first error as 'line L: byte 0x.. …', the number of records)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    newlines, last = 0, ""
    with open(path, "rb") as handle:
        handle.seek(skip)
        while block := handle.read(1 << 20):
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = newlines + 1 + block[: exc.start].count(b"\n")
                return f"line {line}: byte 0x{block[exc.start]:02x} is not valid {encoding}", newlines
            newlines += text.count("\n")
            last = text[-1:] or last
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return f"end of file: truncated {encoding} sequence ({exc.reason})", newlines
    return None, newlines + (1 if last and last != "\n" else 0)


def _header_plausible(header: list[str], first_row: list[str] | None) -> bool:
    if not header or any(not h.strip() for h in header) or len(set(header)) != len(header):
        return False
    numeric = re.compile(r"^[-+]?\d+([.,]\d+)?$|^\d{4}-\d{2}-\d{2}")
    if any(numeric.match(h.strip()) for h in header):
        return False
    return first_row is None or len(first_row) == len(header)


def inspect_csv(path: Path, csvw: dict[str, Any] | None, manifest_media_type: str | None) -> CsvReport:
    """Header and declared encoding of a CSV; the declaration may come from a BOM, CSVW metadata or the manifest."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    declared, declared_by, skip = None, None, 0
    for bom, enc in BOMS:
        if head.startswith(bom):
            declared, declared_by, skip = enc, "byte order mark", len(bom)
            break
    dialect = (csvw or {}).get("dialect") or {}
    if declared is None and isinstance(dialect, dict) and dialect.get("encoding"):
        declared, declared_by = str(dialect["encoding"]), "CSVW metadata (dialect.encoding)"
    if declared is None and declared_charset(manifest_media_type):
        declared, declared_by = declared_charset(manifest_media_type), f"manifest media type {manifest_media_type!r}"
    problems: list[tuple[str, str]] = []
    decode_error = None
    encoding = declared or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        problems.append(("portability.csv.unknown_encoding", f"declared encoding {encoding!r} is unknown"))
        encoding = "utf-8"
    decode_error, records = _decode_check(path, encoding, skip)
    if declared is None:
        how = ("and it is not even valid UTF-8 (" + decode_error + "): accents will be garbled"
               if decode_error else "(it happens to decode as UTF-8, but nothing says so)")
        problems.append(("portability.csv.no_encoding",
                         f"no declared encoding (no byte order mark, no CSVW metadata, no charset in the manifest) {how}"))
    elif decode_error:
        problems.append(("portability.csv.wrong_encoding", f"declared {declared} by {declared_by}, but {decode_error}"))
    text = head[skip:].decode(encoding, "replace")
    delimiter = dialect.get("delimiter") if isinstance(dialect, dict) else None
    if not delimiter:
        try:
            delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    first = next(reader, None)
    header_flag = dialect.get("header") if isinstance(dialect, dict) else None
    header_ok = _header_plausible(header or [], first) if header_flag is not False else False
    if header_flag is False:
        problems.append(("portability.csv.no_header", "CSVW metadata declares the file has no header row"))
    elif not header_ok:
        problems.append(("portability.csv.no_header",
                         f"first row {header[:6] if header else []!r} is not a header (empty, duplicate or numeric "
                         "names, or a different column count)"))
    return CsvReport(declared, declared_by, header, header_ok, decode_error, max(records - 1, 0), problems)


def csvw_for(csv_name: str, csvw_files: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """CSVW metadata locating: ``<file>-metadata.json``, then ``csv-metadata.json`` in the same folder."""
    path = PurePosixPath(csv_name)
    for candidate in (f"{csv_name}-metadata.json", (path.parent / "csv-metadata.json").as_posix()):
        meta = csvw_files.get(candidate.lstrip("./"))
        if meta is not None:
            return meta
    return None


# ----------------------------------------------------------------------------- PDF

def inspect_pdf(data_or_path: bytes | Path, max_bytes: int = 200 * 1024 * 1024) -> tuple[str | None, list[str]]:
    """(PDF/A identification like '1B', problems). Declaration-based: veraPDF-level validation is out of scope."""
    import pypdf

    problems: list[str] = []
    if isinstance(data_or_path, Path):
        if data_or_path.stat().st_size > max_bytes:
            return None, [f"PDF of {data_or_path.stat().st_size:,} bytes exceeds the {max_bytes:,}-byte limit; not read"]
        data = data_or_path.read_bytes()
    else:
        data = data_or_path
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return None, ["PDF is encrypted: the next software cannot read it without the vendor's key"]
        root = reader.trailer["/Root"]
        xmp = reader.xmp_metadata
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on broken input
        return None, [f"PDF cannot be read: {type(exc).__name__}: {exc}"]
    part = conformance = None
    if xmp is not None:
        try:
            raw = xmp.stream.get_data()
            match_part = re.search(rb"pdfaid:part(?:>|=\")\s*(\d)", raw)
            match_conf = re.search(rb"pdfaid:conformance(?:>|=\")\s*([ABUabu])", raw)
            part = match_part.group(1).decode() if match_part else None
            conformance = match_conf.group(1).decode().upper() if match_conf else None
        except Exception:  # noqa: BLE001
            part = None
    if part is None:
        problems.append("no PDF/A identification (XMP pdfaid:part) : not an archival PDF")
        return None, problems
    intents = root.get("/OutputIntents")
    try:
        intents = intents.get_object() if intents is not None else None
        has_intent = bool(intents) and any(str(i.get_object().get("/S")) == "/GTS_PDFA1" for i in intents)
    except Exception:  # noqa: BLE001
        has_intent = False
    if not has_intent:
        problems.append(f"declares PDF/A-{part} but has no GTS_PDFA1 output intent")
    return f"{part}{conformance or ''}", problems


# ----------------------------------------------------------------------------- CDA

def inspect_cda(data: bytes, max_bytes: int = 50 * 1024 * 1024) -> list[tuple[str, str]]:
    """Problems of a CDA R2 document readable without the DMP rule packs: safety, root, header, INS key."""
    from harness_plugins._common.identifiers import OID_INS_NIR, OID_INS_NIR_TEST, check_nir

    try:
        tree = parse_xml_bytes(data, max_bytes=max_bytes)
    except UnsafeInput as exc:
        return [("portability.cda.unsafe", str(exc))]
    except Exception as exc:  # noqa: BLE001 - lxml XMLSyntaxError carries the line
        return [("portability.cda.not_well_formed", f"not well-formed XML: {exc}")]
    root = tree.getroot()
    ns = {"h": CDA_NS}
    if root.tag != f"{{{CDA_NS}}}ClinicalDocument":
        return [("portability.cda.not_cda", f"root element is {root.tag}, not a CDA R2 ClinicalDocument")]
    problems = []
    for element in ("typeId", "id", "code", "effectiveTime", "recordTarget", "author", "custodian"):
        if root.find(f"h:{element}", ns) is None:
            problems.append(("portability.cda.header", f"CDA header lacks <{element}>"))
    ids = root.findall("h:recordTarget/h:patientRole/h:id", ns)
    ins = [i for i in ids if i.get("root") in (OID_INS_NIR, *OID_INS_NIR_TEST)]
    if not ins:
        problems.append(("portability.cda.no_ins", "recordTarget carries no INS (OID 1.2.250.1.213.1.4.8)"))
    for element in ins:
        reason = check_nir(element.get("extension") or "")
        if reason:
            problems.append(("portability.cda.bad_ins", f"INS in recordTarget: {reason}"))
    return problems
