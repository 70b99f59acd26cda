"""Reading the portal's ratings export (CSV or JSON) into validated rows.

Every bad row is kept as a problem with its line number; valid rows are still
imported (a ratings file is never rejected whole for one bad line).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

REQUIRED_COLUMNS = ("product", "facet", "score", "date", "reviewer")
OPTIONAL_COLUMNS = ("version", "scale")
FACETS = {
    "global": "Note globale",
    "ergonomie": "Ergonomie",
    "fiabilite": "Fiabilité",
    "gain_de_temps": "Gain de temps",
    "interoperabilite": "Interopérabilité",
    "support": "Support",
    "conditions_portabilite": "Conditions contractuelles / portabilité",
}
SCALES = {"5": 5.0, "10": 10.0}


@dataclass(frozen=True)
class Rating:
    line: int
    product: str
    version: str
    facet: str
    score10: float  # normalised to 0..10
    date: str
    reviewer: str


@dataclass
class RatingsFile:
    path: Path
    ratings: list[Rating]
    problems: list[tuple[int, str]]
    header_error: str | None = None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _row(line: int, row: dict[str, str]) -> Rating:
    facet = (row.get("facet") or "").strip().lower()
    if facet not in FACETS:
        raise ValueError(f"unknown facet {facet!r}")
    scale = SCALES.get((row.get("scale") or "5").strip())
    if scale is None:
        raise ValueError(f"unknown scale {row.get('scale')!r} (5 or 10)")
    try:
        score = float((row.get("score") or "").replace(",", "."))
    except ValueError:
        raise ValueError(f"score {row.get('score')!r} is not a number") from None
    low = 1.0 if scale == 5 else 0.0
    if not low <= score <= scale:
        raise ValueError(f"score {score:g} outside {low:g}..{scale:g}")
    product = (row.get("product") or "").strip()
    if not product:
        raise ValueError("empty product")
    return Rating(line, product, (row.get("version") or "").strip(), facet, round(score * 10 / scale, 4),
                  (row.get("date") or "").strip(), (row.get("reviewer") or "").strip())


def read_ratings(path: Path) -> RatingsFile:
    text = _decode(path.read_bytes())
    result = RatingsFile(path, [], [])
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            result.header_error = f"not valid JSON: {exc}"
            return result
        numbered = [(i + 1, r) for i, r in enumerate(rows if isinstance(rows, list) else [])]
    else:
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            result.header_error = f"missing column(s) {', '.join(missing)} in header {reader.fieldnames!r}"
            return result
        numbered = [(reader.line_num, r) for r in reader]
    for line, row in numbered:
        try:
            result.ratings.append(_row(line, {k: str(v) for k, v in row.items() if k is not None}))
        except (ValueError, AttributeError) as exc:
            result.problems.append((line, str(exc)))
    return result
