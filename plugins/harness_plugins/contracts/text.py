"""Text layer: normalisation that remembers where every character came from, and French numbers.

Every string the rules look at is the *normalised* text of a document. Each of
its characters carries the offset of the raw character it came from (an
``array('i')``), so a quote found in the normalised text can be pointed at in
the text the extractor produced (pypdf page text, DOCX paragraphs, HTML text).

Normalisation, in order:

1. per character: Unicode NFKC (ligatures ``ﬁ``, full-width forms, non-breaking
   and thin spaces), French apostrophes and quotes to ``'`` and ``"``, dashes to
   ``-``, soft hyphens and zero-width characters dropped, tabs to spaces;
2. end-of-line hyphenation joined (``régle-\\nment`` -> ``réglement``) when a
   lower-case letter follows;
3. spaces collapsed, lines stripped, runs of blank lines reduced to one.

:func:`fold` then gives a lower-case, accent-free copy of the same length
(one character for one character), which is what the rule patterns match.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from array import array
from dataclasses import dataclass

# --------------------------------------------------------------------------- characters

_PUNCT_MAP = {
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'", "\u00b4": "'", "`": "'", "\u201b": "'",
    "\u00ab": '"', "\u00bb": '"', "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2039": '"', "\u203a": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2022": "-", "\u25cf": "-", "\u25aa": "-", "\u2023": "-", "\uf0b7": "-",
    "\t": " ", "\r": "\n", "\x0b": "\n", "\x0c": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n",
    "\u2026": "...",
}
_DROP = {"\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\x00"}


@functools.lru_cache(maxsize=4096)
def _char_form(ch: str) -> str:
    """The normalised form of one character (possibly empty or longer)."""
    if ch in _DROP:
        return ""
    mapped = _PUNCT_MAP.get(ch)
    if mapped is not None:
        return mapped
    form = unicodedata.normalize("NFKC", ch)
    if len(form) == 1:
        again = _PUNCT_MAP.get(form)
        if again is not None:
            return again
        if form != "\n" and unicodedata.category(form) in ("Zs", "Cc"):
            return " "
    return "".join(_PUNCT_MAP.get(c, c) for c in form)


# Non-ASCII runs (and the ASCII letter a combining accent belongs to: "e\u0301" -> "é").
_NON_ASCII_OR_CTRL = re.compile(r"(?:[\x21-\x7e](?=[\u0300-\u036f]))?[^\x20-\x7e\n]+|`")


class Tracked:
    """A string plus, for each of its characters, the offset of its raw source character."""

    __slots__ = ("text", "origin")

    def __init__(self, text: str, origin: array) -> None:
        self.text = text
        self.origin = origin

    def __len__(self) -> int:
        return len(self.text)


def _char_pass(raw: str, base: int = 0) -> Tracked:
    """Step 1: per-character normalisation; ASCII runs are copied in bulk."""
    parts: list[str] = []
    origin = array("i")
    pos = 0
    for match in _NON_ASCII_OR_CTRL.finditer(raw):
        start, end = match.span()
        if start > pos:
            parts.append(raw[pos:start])
            origin.extend(range(base + pos, base + start))
        i = start
        seg = raw
        while i < end:
            ch = seg[i]
            # Keep a base character with its combining marks so NFKC can compose them (e + ́ -> é).
            j = i + 1
            while j < len(seg) and unicodedata.combining(seg[j]):
                j += 1
            if j > i + 1:
                form = unicodedata.normalize("NFKC", seg[i:j])
            else:
                form = _char_form(ch)
            if form:
                parts.append(form)
                origin.extend([base + i] * len(form))
            i = j
        pos = max(end, i)
    if pos < len(raw):
        parts.append(raw[pos:])
        origin.extend(range(base + pos, base + len(raw)))
    return Tracked("".join(parts), origin)


def _sub(tracked: Tracked, pattern: re.Pattern[str], repl) -> Tracked:
    """``re.sub`` that keeps the origin array in step; ``repl(match) -> str``.

    Replacement characters take the origin of the first character of the match
    (or of the character before it for an empty match).
    """
    text, origin = tracked.text, tracked.origin
    parts: list[str] = []
    new_origin = array("i")
    pos = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        parts.append(text[pos:start])
        new_origin.extend(origin[pos:start])
        replacement = repl(match)
        if replacement:
            anchor = origin[start] if start < len(origin) else (origin[-1] if len(origin) else 0)
            parts.append(replacement)
            # keep the origin of the kept characters when the replacement is a prefix of the match
            if match.group(0).startswith(replacement):
                new_origin.extend(origin[start:start + len(replacement)])
            else:
                new_origin.extend([anchor] * len(replacement))
        pos = end
    parts.append(text[pos:])
    new_origin.extend(origin[pos:])
    return Tracked("".join(parts), new_origin)


_HYPHEN_EOL = re.compile(r"(?<=[a-zà-öø-ÿœ])-[ ]*\n[ ]*(?=[a-zà-öø-ÿœ])")
_SPACES = re.compile(r"[ ]{2,}")
_LINE_EDGES = re.compile(r"[ ]+\n|\n[ ]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalise(raw: str, base: int = 0) -> Tracked:
    """Normalise raw extracted text; origins are ``base + offset in raw``."""
    tracked = _char_pass(raw, base)
    tracked = _sub(tracked, _HYPHEN_EOL, lambda m: "")
    tracked = _sub(tracked, _SPACES, lambda m: " ")
    tracked = _sub(tracked, _LINE_EDGES, lambda m: "\n")
    tracked = _sub(tracked, _BLANK_LINES, lambda m: "\n\n")
    text = tracked.text
    # strip the whole text
    lead = len(text) - len(text.lstrip())
    trail = len(text.rstrip())
    if lead or trail < len(text):
        tracked = Tracked(text[lead:trail], tracked.origin[lead:trail])
    return tracked


def concat(pieces: list[Tracked], sep: str = "\n\n") -> Tracked:
    """Join tracked pieces; separators take the origin of the end of the previous piece."""
    parts: list[str] = []
    origin = array("i")
    for index, piece in enumerate(pieces):
        if index and sep:
            anchor = origin[-1] if len(origin) else 0
            parts.append(sep)
            origin.extend([anchor] * len(sep))
        parts.append(piece.text)
        origin.extend(piece.origin)
    return Tracked("".join(parts), origin)


# --------------------------------------------------------------------------- folding

def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x80, 0x250):
        ch = chr(code)
        base = unicodedata.normalize("NFD", ch)[0]
        low = base.lower()
        if len(low) == 1 and low != ch and (low.isascii() or low != base):
            table[code] = low if len(low) == 1 else ch
    for code in range(ord("A"), ord("Z") + 1):
        table[code] = chr(code + 32)
    table[ord("\n")] = " "
    table[ord("Œ")] = "œ"
    table[ord("Æ")] = "æ"
    table[ord("ß")] = "ß"
    return table


FOLD_TABLE = _fold_table()


def fold(text: str) -> str:
    """Lower-case, accent-free copy of ``text`` with exactly the same length (newlines become spaces)."""
    folded = text.translate(FOLD_TABLE)
    if len(folded) != len(text):  # pragma: no cover - the table maps one char to one char
        raise AssertionError("fold changed the length")
    return folded


def fold_pattern(text: str) -> str:
    """Fold a pattern written by a person (accents and capitals allowed)."""
    return unicodedata.normalize("NFC", text).translate(FOLD_TABLE)


# --------------------------------------------------------------------------- French numbers

UNITS = {
    "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15,
    "seize": 16, "vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
}
_NUMBER_WORD = "|".join(sorted(list(UNITS) + ["cent", "cents", "mille"], key=len, reverse=True))
#: A number written in (folded) French words: "trois", "vingt-quatre", "soixante et un", "quatre-vingt-dix".
NUMBER_WORDS_RE = rf"(?:(?:{_NUMBER_WORD})(?:(?:[- ]et[- ]|[- ])(?:{_NUMBER_WORD}))*)"
_WORD_SPLIT = re.compile(r"[- ]+")


def words_to_number(words: str) -> int | None:
    """Value of a folded French number in words, or None."""
    total, current = 0, 0
    seen = False
    for token in _WORD_SPLIT.split(words.strip()):
        if not token or token == "et":
            continue
        if token in ("cent", "cents"):
            current = (current or 1) * 100
        elif token == "mille":
            total += (current or 1) * 1000
            current = 0
        elif token in UNITS:
            value = UNITS[token]
            if value == 20 and current % 100 == 4:
                current = current - 4 + 80  # quatre-vingt
            else:
                current += value
        else:
            return None
        seen = True
    return total + current if seen else None


def parse_number(text: str) -> float | None:
    """A number written in digits (``1 500``, ``1.500,50``, ``3,5``) or in French words."""
    text = text.strip()
    if not text:
        return None
    if text[0].isdigit():
        digits = text.replace(" ", "").replace("\u00a0", "")
        if "," in digits:
            digits = digits.replace(".", "").replace(",", ".")
        elif re.fullmatch(r"\d{1,3}(?:\.\d{3})+", digits):
            digits = digits.replace(".", "")
        try:
            return float(digits)
        except ValueError:
            return None
    value = words_to_number(fold_pattern(text))
    return float(value) if value is not None else None


@dataclass(frozen=True)
class Quantity:
    """A number found in the text, with its unit and where it is (offsets in the folded clause text)."""

    kind: str  # duration | amount | percent | date
    value: float  # duration in days; amount in its currency; percent; date as yyyymmdd
    unit: str
    text: str
    start: int
    end: int

    @property
    def months(self) -> float:
        return self.value / DAYS_PER_MONTH

    def describe(self) -> str:
        return self.text.strip()


DAYS_PER_MONTH = 30.4375
_DURATION_UNITS = {
    "jour": 1.0, "jours": 1.0, "j": 1.0, "semaine": 7.0, "semaines": 7.0, "mois": DAYS_PER_MONTH,
    "an": 365.25, "ans": 365.25, "annee": 365.25, "annees": 365.25, "trimestre": 3 * DAYS_PER_MONTH,
    "trimestres": 3 * DAYS_PER_MONTH, "semestre": 6 * DAYS_PER_MONTH, "semestres": 6 * DAYS_PER_MONTH,
    "heure": 1 / 24, "heures": 1 / 24, "h": 1 / 24,
}
_ADJ_DURATIONS = {
    "annuel": 365.25, "annuelle": 365.25, "annuels": 365.25, "annuelles": 365.25,
    "mensuel": DAYS_PER_MONTH, "mensuelle": DAYS_PER_MONTH, "mensuels": DAYS_PER_MONTH, "mensuelles": DAYS_PER_MONTH,
    "trimestriel": 3 * DAYS_PER_MONTH, "trimestrielle": 3 * DAYS_PER_MONTH, "trimestriels": 3 * DAYS_PER_MONTH,
    "trimestrielles": 3 * DAYS_PER_MONTH, "semestriel": 6 * DAYS_PER_MONTH, "semestrielle": 6 * DAYS_PER_MONTH,
    "semestriels": 6 * DAYS_PER_MONTH, "semestrielles": 6 * DAYS_PER_MONTH,
    "biennal": 730.5, "biennale": 730.5, "biennales": 730.5, "triennal": 1095.75, "triennale": 1095.75,
    "triennales": 1095.75, "quinquennal": 1826.25, "quinquennale": 1826.25,
}

_NUM = rf"(?:\d{{1,3}}(?:[ .]\d{{3}})+(?:,\d+)?|\d+(?:[.,]\d+)?|{NUMBER_WORDS_RE})"
# "trois (3) mois", "3 (trois) mois", "six mois", "90 jours calendaires", "un an", "d'un an"
_ORDER_ADJ = (r"(?:(?:derniers|dernieres|premiers|premieres|prochains|prochaines|precedents|precedentes|"
              r"consecutifs|consecutives|entiers|entieres|pleins|pleines|suivants|suivantes)\s+)?")
DURATION_RE = re.compile(
    rf"(?<![\w.,])(?P<num>{_NUM})(?:\s*\(\s*(?:\d+|{NUMBER_WORDS_RE})\s*\))?\s*{_ORDER_ADJ}"
    rf"(?P<unit>jours?|semaines?|mois|ans|an|annees?|trimestres?|semestres?|heures?|h|j)"
    rf"(?P<qual>\s+(?:ouvres|ouvrables|calendaires|francs|pleins|civils|entiers))?(?!\w)"
)
ADJ_DURATION_RE = re.compile(
    r"\b(?:periodes?|durees?|echeances?|cycles?|engagements?|abonnements?)\s+(?:successives?\s+)?"
    r"(?P<adj>annuel(?:le)?s?|mensuel(?:le)?s?|trimestriel(?:le)?s?|semestriel(?:le)?s?|biennales?|biennal|"
    r"triennales?|triennal|quinquennale?)\b"
    r"|\b(?P<yy>d'annee en annee|d'an en an)\b|\b(?P<mm>de mois en mois)\b"
)
#: The same number repeated in brackets before the unit, as contracts write amounts and rates:
#: "mille deux cents (1 200) euros", "1 200 (mille deux cents) €", "quinze (15) %".
_REPEATED = rf"(?:\s*\(\s*{_NUM}\s*\))?"
AMOUNT_RE = re.compile(
    rf"(?<![\w.,])(?:(?P<num>{_NUM}){_REPEATED}\s*(?:(?P<cur>€|euros?|eur)\b|(?P<cur2>€))"
    rf"|(?P<cur3>€|eur)\s*(?P<num2>\d[\d .]*(?:,\d+)?))"
)
PERCENT_RE = re.compile(rf"(?<![\w.,])(?P<num>{_NUM}){_REPEATED}\s*(?:%|pour ?cent\b|p\.? ?100\b)")
_MONTHS = ["janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre",
           "novembre", "decembre"]
DATE_RE = re.compile(
    r"\b(?P<d>\d{1,2}|1er)\s+(?P<m>" + "|".join(_MONTHS) + r")\s+(?P<y>\d{4})\b"
    r"|\b(?P<d2>\d{1,2})/(?P<m2>\d{1,2})/(?P<y2>\d{4})\b"
)


def _num_value(raw: str) -> float | None:
    raw = raw.strip()
    return parse_number(raw)


def find_durations(folded: str) -> list[Quantity]:
    out: list[Quantity] = []
    for match in DURATION_RE.finditer(folded):
        value = _num_value(match.group("num"))
        unit = match.group("unit")
        if value is None or unit not in _DURATION_UNITS:
            continue
        if unit in ("h", "j") and not match.group("num")[0].isdigit():
            continue
        days = value * _DURATION_UNITS[unit]
        if match.group("qual") and "ouvr" in match.group("qual"):
            days = days * 7 / 5
        out.append(Quantity("duration", days, unit, match.group(0), match.start(), match.end()))
    for match in ADJ_DURATION_RE.finditer(folded):
        if match.group("adj"):
            days = _ADJ_DURATIONS.get(match.group("adj"))
            if days is None:
                continue
            start = match.start("adj")
            out.append(Quantity("duration", days, match.group("adj"), match.group("adj"), start, match.end("adj")))
        elif match.group("yy"):
            out.append(Quantity("duration", 365.25, "an", match.group("yy"), match.start(), match.end()))
        else:
            out.append(Quantity("duration", DAYS_PER_MONTH, "mois", match.group("mm"), match.start(), match.end()))
    out.sort(key=lambda q: q.start)
    return out


def find_amounts(folded: str) -> list[Quantity]:
    out = []
    for match in AMOUNT_RE.finditer(folded):
        raw = match.group("num") or match.group("num2") or ""
        value = _num_value(raw)
        if value is None:
            continue
        out.append(Quantity("amount", value, "EUR", match.group(0), match.start(), match.end()))
    return out


def find_percents(folded: str) -> list[Quantity]:
    out = []
    for match in PERCENT_RE.finditer(folded):
        value = _num_value(match.group("num"))
        if value is not None:
            out.append(Quantity("percent", value, "%", match.group(0), match.start(), match.end()))
    return out


def find_dates(folded: str) -> list[Quantity]:
    out = []
    for match in DATE_RE.finditer(folded):
        if match.group("d"):
            day = 1 if match.group("d") == "1er" else int(match.group("d"))
            month = _MONTHS.index(match.group("m")) + 1
            year = int(match.group("y"))
        else:
            day, month, year = int(match.group("d2")), int(match.group("m2")), int(match.group("y2"))
        if not (1 <= day <= 31 and 1 <= month <= 12):
            continue
        out.append(Quantity("date", year * 10000 + month * 100 + day, "date", match.group(0), match.start(),
                            match.end()))
    return out


FINDERS = {"duration": find_durations, "amount": find_amounts, "percent": find_percents, "date": find_dates}


def describe_duration(days: float) -> str:
    """A readable French form of a duration in days ("6 mois", "30 jours", "3 ans")."""
    years = days / 365.25
    if days >= 365 and abs(years - round(years)) < 0.02:
        n = round(years)
        return f"{n} an" + ("s" if n > 1 else "")
    months = days / DAYS_PER_MONTH
    if days >= 28 and abs(months - round(months)) < 0.05:
        return f"{round(months)} mois"
    if days < 1:
        hours = round(days * 24)
        return f"{hours} heure" + ("s" if hours > 1 else "")
    n = round(days)
    return f"{n} jour" + ("s" if n > 1 else "")
