"""Reading the portal's ratings export (CSV, JSON or JSON Lines) into validated rows.

One row is one rating: ``product``, ``version`` (optional), ``facet``, ``score``,
``scale`` (optional), ``date`` and a pseudonymous ``reviewer`` id.

Every bad row is kept as a :class:`Problem` with its line number and the valid
rows are still imported: a ratings file is never rejected whole for one bad
line. Only a file that cannot be read at all (no usable header, broken JSON)
gets a ``header_error``.

Scores are normalised to 0..10 linearly from the row's scale: on the 1–5 scale
1 → 0 and 5 → 10 (``(score − 1) × 2.5``); on the 0–10 scale the score is kept.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

REQUIRED_COLUMNS = ("product", "facet", "score", "date", "reviewer")
OPTIONAL_COLUMNS = ("version", "scale")
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: Facet key -> label shown to readers (the portal's French wording).
FACETS: dict[str, str] = {
    "global": "Note globale",
    "ergonomie": "Ergonomie",
    "fiabilite": "Fiabilité",
    "gain_de_temps": "Gain de temps",
    "interoperabilite": "Interopérabilité",
    "support": "Support",
    "conditions_portabilite": "Conditions contractuelles / portabilité",
}

#: Other spellings the portal (or a spreadsheet) may use, after normalisation.
_ALIASES = {
    "note_globale": "global",
    "globale": "global",
    "overall": "global",
    "gain_temps": "gain_de_temps",
    "interop": "interoperabilite",
    "conditions": "conditions_portabilite",
    "portabilite": "conditions_portabilite",
    "conditions_contractuelles": "conditions_portabilite",
    "conditions_contractuelles_portabilite": "conditions_portabilite",
}

#: Accepted scales: name -> (lowest, highest). Rows without a scale use the reader's default.
SCALES: dict[str, tuple[float, float]] = {"5": (1.0, 5.0), "10": (0.0, 10.0)}
_SCALE_ALIASES = {"1-5": "5", "/5": "5", "5": "5", "0-10": "10", "/10": "10", "10": "10"}

#: At most this many problems are kept one by one; the rest are counted.
MAX_PROBLEMS = 1000


def facet_key(raw: str) -> str | None:
    """The facet key for a label as the portal may spell it (accents, case, spaces), or None."""
    text = unicodedata.normalize("NFKD", raw or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if text in FACETS:
        return text
    return _ALIASES.get(text)


def normalise_score(score: float, scale: str) -> float:
    """A score on ``scale`` ("5" or "10") mapped linearly onto 0..10."""
    low, high = SCALES[scale]
    return round((score - low) * 10.0 / (high - low), 4)


@dataclass(frozen=True)
class Rating:
    """One valid rating, its score normalised to 0..10."""

    line: int
    product: str
    version: str
    facet: str
    score10: float
    date: str  # ISO 8601 as read (date or date-time)
    when: _dt.datetime = field(compare=False, repr=False)
    reviewer: str


@dataclass(frozen=True)
class Problem:
    """A row (or a line) that could not be imported as is.

    ``rejected`` rows are left out of every aggregate; the others (a line that
    was not UTF-8, an unknown extra column) were imported and are only noted.
    """

    line: int
    message: str
    rejected: bool = True
    code: str = "bad_row"

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class RatingsFile:
    """What was read: the valid ratings, the problems and, when unusable, why."""

    path: Path
    ratings: list[Rating]
    problems: list[Problem]
    header_error: str | None = None
    rows: int = 0  # data rows seen (valid + rejected)
    more_problems: int = 0  # problems beyond MAX_PROBLEMS, counted only

    @property
    def rejected(self) -> int:
        return sum(1 for p in self.problems if p.rejected) + self.more_problems

    def add_problem(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more_problems += 1

    def products(self) -> list[str]:
        return sorted({r.product for r in self.ratings})


# --------------------------------------------------------------------------
# Decoding: per line, so one Windows-1252 line does not spoil a UTF-8 file.
# --------------------------------------------------------------------------


def decode_lines(raw: bytes) -> tuple[str, list[Problem]]:
    """Decode ``raw`` line by line: UTF-8 (BOM stripped), else Windows-1252 with a note.

    UTF-16 files (with their BOM) are decoded whole. Returns the text and one
    :class:`Problem` (not rejecting) per line that was not UTF-8.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    notes: list[Problem] = []
    parts: list[str] = []
    for number, line in enumerate(raw.splitlines(keepends=True), start=1):
        try:
            parts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            text = line.decode("cp1252", errors="replace")
            parts.append(text)
            shown = text.strip()
            if len(shown) > 80:
                shown = shown[:77] + "..."
            notes.append(Problem(number, f"not UTF-8; read as Windows-1252: {shown!r}", rejected=False,
                                 code="encoding"))
    return "".join(parts), notes


# --------------------------------------------------------------------------
# One row.
# --------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d")


def parse_date(text: str) -> _dt.datetime:
    """ISO 8601 date or date-time (``Z`` or offset), or ``DD/MM/YYYY``; naive values are UTC."""
    text = (text or "").strip()
    if not text:
        raise ValueError("empty date")
    for fmt in _DATE_FORMATS:
        try:
            return _dt.datetime.strptime(text, fmt).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            pass
    try:
        value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD, an ISO 8601 date-time or DD/MM/YYYY") from None
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    return str(value).strip()


def parse_row(line: int, row: dict[str, Any], *, default_scale: str = "5",
              known_products: set[str] | None = None) -> Rating:
    """Validate one row; raise ``ValueError`` with a reader-friendly reason."""
    product = _text(row, "product")
    if not product:
        raise ValueError("empty product")
    if known_products is not None and product not in known_products:
        known = ", ".join(sorted(known_products)) or "none"
        raise ValueError(f"unknown product {product!r} (known: {known})")
    raw_facet = _text(row, "facet")
    facet = facet_key(raw_facet)
    if facet is None:
        raise ValueError(f"unknown facet {raw_facet!r} (expected one of: {', '.join(FACETS)})")
    raw_scale = _text(row, "scale") or default_scale
    scale = _SCALE_ALIASES.get(raw_scale.replace(" ", ""))
    if scale is None:
        raise ValueError(f"unknown scale {raw_scale!r} (expected 5 for 1–5 or 10 for 0–10)")
    raw_score = row.get("score")
    if isinstance(raw_score, bool):
        raise ValueError(f"score {raw_score!r} is not a number")
    if isinstance(raw_score, (int, float)):
        score = float(raw_score)
    else:
        text = _text(row, "score").replace(",", ".")
        if not text:
            raise ValueError("empty score")
        try:
            score = float(text)
        except ValueError:
            raise ValueError(f"score {_text(row, 'score')!r} is not a number") from None
    if score != score or score in (float("inf"), float("-inf")):
        raise ValueError(f"score {raw_score!r} is not a finite number")
    low, high = SCALES[scale]
    if not low <= score <= high:
        raise ValueError(f"score {score:g} outside {low:g}..{high:g} (scale {scale})")
    when = parse_date(_text(row, "date"))
    reviewer = _text(row, "reviewer")
    if not reviewer:
        raise ValueError("empty reviewer id")
    return Rating(line=line, product=product, version=_text(row, "version"), facet=facet,
                  score10=normalise_score(score, scale), date=_text(row, "date"), when=when, reviewer=reviewer)


# --------------------------------------------------------------------------
# Whole files.
# --------------------------------------------------------------------------


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(text: str, result: RatingsFile) -> Iterable[tuple[int, dict[str, Any]]]:
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=_sniff_delimiter(first))
    try:
        header = next(reader)
    except StopIteration:
        result.header_error = "empty file: no header line"
        return
    except csv.Error as exc:
        result.header_error = f"line 1: unreadable header: {exc}"
        return
    columns = [h.strip().lstrip("\ufeff").lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        result.header_error = (f"line 1: missing column(s) {', '.join(missing)}; header is {header!r} "
                               f"(expected {', '.join(REQUIRED_COLUMNS)}, optionally {', '.join(OPTIONAL_COLUMNS)})")
        return
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    if unknown:
        result.add_problem(Problem(1, f"unknown column(s) {', '.join(map(repr, unknown))} ignored", rejected=False,
                                   code="extra_column"))
    dupes = sorted({c for c in columns if columns.count(c) > 1 and c in KNOWN_COLUMNS})
    if dupes:
        result.header_error = f"line 1: column(s) {', '.join(dupes)} appear more than once in the header"
        return
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            result.rows += 1
            result.add_problem(Problem(start, f"unreadable CSV: {exc}"))
            return
        if not cells or all(not c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(columns):
            result.rows += 1
            result.add_problem(Problem(start, f"expected {len(columns)} fields ({', '.join(columns)}), "
                                              f"found {len(cells)}"))
            continue
        yield start, dict(zip(columns, cells))


def _json_rows(text: str, result: RatingsFile) -> Iterable[tuple[int, dict[str, Any]]]:
    """Rows of a JSON array (or ``{"ratings": [...]}``) with the line each element starts on."""
    decoder = json.JSONDecoder()
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    try:
        top, _end = decoder.raw_decode(text, offset)
    except json.JSONDecodeError as exc:
        result.header_error = f"not valid JSON: {exc}"
        return
    if isinstance(top, dict) and isinstance(top.get("ratings"), list):
        # Find where the "ratings" array starts to keep line numbers right.
        match = re.search(r'"ratings"\s*:\s*\[', text)
        array_at = match.end() - 1 if match else offset
    elif isinstance(top, list):
        array_at = offset
    else:
        result.header_error = 'JSON must be an array of ratings or an object {"ratings": [...]}'
        return
    pos = array_at + 1
    ws = re.compile(r"[\s,]*")
    while True:
        pos = ws.match(text, pos).end()
        if pos >= len(text) or text[pos] == "]":
            return
        line = text.count("\n", 0, pos) + 1
        try:
            element, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:  # pragma: no cover - the whole text parsed above
            result.add_problem(Problem(line, f"unreadable JSON element: {exc}"))
            return
        if not isinstance(element, dict):
            result.rows += 1
            result.add_problem(Problem(line, f"expected an object, found {type(element).__name__}"))
            continue
        yield line, {str(k).lower(): v for k, v in element.items()}


def _jsonl_rows(text: str, result: RatingsFile) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            element = json.loads(line)
        except json.JSONDecodeError as exc:
            result.rows += 1
            result.add_problem(Problem(number, f"not valid JSON: {exc.msg}"))
            continue
        if not isinstance(element, dict):
            result.rows += 1
            result.add_problem(Problem(number, f"expected an object, found {type(element).__name__}"))
            continue
        yield number, {str(k).lower(): v for k, v in element.items()}


def detect_format(name: str, text: str) -> str:
    """``csv``, ``json`` or ``jsonl`` from the file name, else from the content."""
    suffix = Path(name).suffix.lower()
    if suffix in (".json",):
        return "json"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    head = text.lstrip()[:1]
    if head == "[":
        return "json"
    if head == "{":
        return "jsonl" if "\n{" in text.strip() else "json"
    return "csv"


def parse_ratings(raw: bytes, *, name: str = "ratings.csv", fmt: str | None = None, default_scale: str = "5",
                  known_products: Iterable[str] | None = None) -> RatingsFile:
    """Parse an export held in memory (the portal's upload, a test's bytes).

    :param raw: the file's bytes (UTF-8, UTF-8 with BOM, UTF-16 with BOM, or
        lines of Windows-1252 mixed in — each reported).
    :param name: file name, used for the format and in messages.
    :param fmt: ``csv``, ``json`` or ``jsonl``; guessed from ``name`` and content when None.
    :param default_scale: ``"5"`` or ``"10"`` for rows without a ``scale``.
    :param known_products: when given, rows about any other product are rejected as unknown.
    """
    text, notes = decode_lines(raw)
    result = RatingsFile(Path(name), [], [])
    for note in notes:
        result.add_problem(note)
    fmt = fmt or detect_format(name, text)
    known = set(known_products) if known_products is not None else None
    rows = {"csv": _csv_rows, "json": _json_rows, "jsonl": _jsonl_rows}[fmt](text, result)
    for line, row in rows:
        result.rows += 1
        try:
            result.ratings.append(parse_row(line, row, default_scale=default_scale, known_products=known))
        except ValueError as exc:
            result.add_problem(Problem(line, str(exc)))
    result.problems.sort(key=lambda p: p.line)
    return result


def read_ratings(path: str | Path, *, default_scale: str = "5",
                 known_products: Iterable[str] | None = None) -> RatingsFile:
    """Read a ratings export from disk; see :func:`parse_ratings`."""
    path = Path(path)
    result = parse_ratings(path.read_bytes(), name=path.name, default_scale=default_scale,
                           known_products=known_products)
    result.path = path
    return result
