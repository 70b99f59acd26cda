"""Segmentation of a normalised contract into clauses, by their numbering.

A heading is a line that starts with a clause number ("Article 12", "ARTICLE XII",
"Art. 3 -", "12.3", "12.", "§ 4", "Titre II", "Annexe 2") or a short line in
capitals ("RÉVERSIBILITÉ DES DONNÉES"). Each heading opens a clause that runs to
the next heading; text before the first heading is the preamble. A document with
no heading at all is cut into paragraphs. Every clause keeps its start and end in
the normalised text (so its page and raw offsets can be found) and the titles of
the headings above it (a "12.3" under "Article 12 - Réversibilité" knows both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import fold


@dataclass
class Clause:
    label: str  # "Article 12", "12.3", "§ 4", "préambule", "¶ 3"
    title: str  # the heading's words ("Réversibilité"), may be empty
    start: int  # offsets in the normalised document text
    end: int
    level: int
    parents: list[str] = field(default_factory=list)  # labels + titles of enclosing headings
    heading_end: int = 0  # where the heading line ends (body starts)

    @property
    def heading_titles(self) -> str:
        """The clause's own title and its parents' titles, for topic matching."""
        return " / ".join([*self.parents, self.title])

    def display(self) -> str:
        return f"{self.label} - {self.title}" if self.title else self.label


_ROMAN = r"[ivxlcdm]{1,7}"
_ARTICLE = re.compile(
    rf"^(?P<kw>article|art\.?)\s*(?P<num>premier|1er|\d{{1,3}}(?:\.\d{{1,3}}){{0,3}}|{_ROMAN})\b\.?"
    r"(?P<sep>\s*[-:.)/]+)?\s*(?P<rest>.*)$"
)
_GROUP = re.compile(rf"^(?P<kw>titre|chapitre|section|partie|annexe|sous-section)\s+(?P<num>\d{{1,3}}|{_ROMAN}|[a-z])\b"
                    r"\.?(?P<sep>\s*[-:.)]+)?\s*(?P<rest>.*)$")
_DOTTED = re.compile(r"^(?P<num>\d{1,3}(?:\.\d{1,3}){1,4})\.?(?P<sep>\s*[-:)]+)?\s+(?P<rest>\S.*)$|^(?P<alone>\d{1,3}(?:\.\d{1,3}){1,4})\.?$")
_SIMPLE = re.compile(r"^(?P<num>\d{1,3})(?P<sep>[.)]|\s+-)\s+(?P<rest>\S.*)$")
_ROMAN_HEAD = re.compile(r"^(?P<num>[IVXLC]{1,6})(?P<sep>[.)]|\s+-)\s+(?P<rest>\S.*)$")
_SECTION = re.compile(r"^§\s*(?P<num>\d{1,3}(?:\.\d{1,3})*)\.?(?P<sep>\s*[-:.)]+)?\s*(?P<rest>.*)$")

TITLE_MAX = 110


def _starts_upper(text: str) -> bool:
    for ch in text:
        if ch.isalpha():
            return ch.isupper()
        if ch.isdigit():
            return False
        if ch in "\"'(":
            continue
        return False
    return True


_LOWER = re.compile(r"[a-zß-öø-ÿœ]")
_DIGITS_ONLY = re.compile(r"^[\d\W]+$|\|")
_LETTERS = re.compile(r"[^\W\d_]")


def _caps_title(line: str) -> bool:
    if len(line) > 90 or line.endswith((".", ",", ";")) or _LOWER.search(line):
        return False
    return len(_LETTERS.findall(line)) >= 4


def _title_and_body(rest: str) -> str:
    """The title part of a heading line ("Réversibilité" in "Article 12 - Réversibilité")."""
    rest = rest.strip()
    if not rest:
        return ""
    if len(rest) <= TITLE_MAX and not rest.rstrip().endswith((".", ";", ",")):
        return rest.strip(" -:")
    return ""


def heading(line: str) -> tuple[str, str, int, str, int] | None:
    """(label, title, level, kind, body) if ``line`` opens a clause.

    ``body`` is where the clause's own text starts on the line: the end of the line for a
    heading line ("Article 12 - Réversibilité"), right after the number when the clause's
    text follows it ("12.3 Le Client peut…")."""
    found = _heading(line)
    if found is None:
        return None
    label, title, level, kind, rest = found
    stripped = line.strip()
    lead = len(line) - len(line.lstrip())
    if rest and not title:
        return label, title, level, kind, lead + len(stripped) - len(rest)
    return label, title, level, kind, len(line)


def _heading(line: str) -> tuple[str, str, int, str, str] | None:
    stripped = line.strip()
    if not stripped or len(stripped) > 400:
        return None
    first = stripped[0]
    if first.isdigit():
        low = stripped
    elif first in "aAtTcCsSpP§IVXLCivxlc" or not _LOWER.search(stripped):
        low = fold(stripped)
    else:  # starts with another letter and holds lower case: a plain title at most
        return (stripped, stripped, 1, "line", "") if _plain_title(stripped) else None
    match = _ARTICLE.match(low)
    if match:
        rest = stripped[match.start("rest"):]
        if not rest or match.group("sep") or _starts_upper(rest):
            num = stripped[match.start("num"):match.end("num")]
            return f"Article {num}", _title_and_body(rest), 1, "article", rest
    match = _GROUP.match(low)
    if match:
        rest = stripped[match.start("rest"):]
        if not rest or match.group("sep") or _starts_upper(rest):
            kw = stripped[: match.end("kw")].capitalize()
            num = stripped[match.start("num"):match.end("num")]
            return f"{kw} {num}", _title_and_body(rest), 0, "group", rest
    match = _SECTION.match(stripped)
    if match:
        rest = match.group("rest") or ""
        return f"§ {match.group('num')}", _title_and_body(rest), 2, "section", rest
    match = _DOTTED.match(stripped)
    if match:
        if match.group("alone"):
            return match.group("alone"), "", 1 + match.group("alone").count("."), "dotted", ""
        rest = match.group("rest")
        if _starts_upper(rest):
            num = match.group("num")
            return num, _title_and_body(rest), 1 + num.count("."), "dotted", rest
    match = _SIMPLE.match(stripped)
    if match and _starts_upper(match.group("rest")):
        return match.group("num"), _title_and_body(match.group("rest")), 1, "simple", match.group("rest")
    match = _ROMAN_HEAD.match(stripped)
    if match and _starts_upper(match.group("rest")):
        return match.group("num"), _title_and_body(match.group("rest")), 1, "roman", match.group("rest")
    if _caps_title(stripped):
        return stripped, stripped, 1, "caps", ""
    if _plain_title(stripped):
        return stripped, stripped, 1, "line", ""
    return None


def _plain_title(line: str) -> bool:
    """A short line that reads like a title ("Réversibilité", "Fin du contrat"); whether it stands
    alone between paragraphs is checked by :func:`segment`."""
    return (len(line) <= 60 and len(line.split()) <= 7 and line[:1].isupper()
            and not line.endswith((".", ",", ";", ":", "!", "?", ")")) and not _DIGITS_ONLY.search(line))


def _title_line(line: str) -> bool:
    line = line.strip()
    return bool(line) and len(line) <= 90 and not line.endswith((".", ",", ";", ":")) and _starts_upper(line)


def segment(text: str) -> list[Clause]:
    """Cut a normalised text into clauses."""
    lines = text.split("\n")
    starts = []
    pos = 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    heads: list[tuple[int, int, str, str, int, str]] = []
    skip = -1
    for index, line in enumerate(lines):
        if index == skip:
            continue
        found = heading(line)
        if not found:
            continue
        label, title, level, kind, body = found
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if kind == "line":
            # a plain title line must stand alone: after a blank line or a finished sentence, before text
            before = lines[index - 1].rstrip() if index else ""
            nxt = following.strip()
            if (before and not before.endswith((".", ";", ":", "!", "?"))) or not nxt or not (
                    nxt[0].isupper() or nxt[0].isdigit() or nxt[0] in "\"'«-"):
                continue
        if title and kind != "caps" and following[:1].islower():
            # "8.3 Au terme du contrat, l'Éditeur supprime les données ou les lui" + "renvoie…": the
            # rest of the line is the start of a wrapped sentence, not a title
            stripped = line.strip()
            lead = len(line) - len(line.lstrip())
            rest_at = stripped.find(title)
            if rest_at >= 0:
                title, body = "", lead + rest_at
        line_end = starts[index] + body
        if not title and kind in ("article", "group", "dotted", "section") and index + 1 < len(lines):
            following = lines[index + 1]
            if _title_line(following) and not (heading(following) or ("", "", 0, "", 0))[3] in ("article", "dotted"):
                title = following.strip().strip(" -:")
                line_end = starts[index + 1] + len(following)
                skip = index + 1
        heads.append((starts[index], line_end, label, title, level, kind))
    if not heads:
        return paragraphs(text)
    clauses: list[Clause] = []
    if heads[0][0] > 0 and text[: heads[0][0]].strip():
        clauses.append(Clause("préambule", "", 0, heads[0][0], 0, heading_end=0))
    stack: list[tuple[int, str, str]] = []  # (level, "title or label", kind)
    for index, (start, line_end, label, title, level, kind) in enumerate(heads):
        end = heads[index + 1][0] if index + 1 < len(heads) else len(text)
        if kind == "simple" and any(k in ("article", "dotted") for _l, _t, k in stack):
            level = max(l for l, _t, k in stack if k in ("article", "dotted")) + 1
        while stack and stack[-1][0] >= level:
            stack.pop()
        clause = Clause(label, title, start, end, level, parents=[t for _l, t, _k in stack], heading_end=line_end)
        clauses.append(clause)
        stack.append((level, title or label, kind))
    return clauses


def paragraphs(text: str) -> list[Clause]:
    """Fallback for documents without numbered headings: one clause per paragraph."""
    out = []
    number = 0
    for match in re.finditer(r"[^\n](?:.|\n(?!\n))*", text):
        number += 1
        out.append(Clause(f"¶ {number}", "", match.start(), match.end(), 1, heading_end=match.start()))
    return out


# ----------------------------------------------------------------------------- sentences

#: Abbreviations that announce a word or a number and so never end a sentence ("art. L. 1111-8",
#: "al. 2", "cf. annexe", "M. Dupont", "Règl. (UE)").
#: "HT." and "TTC." stay here although they may end a sentence: a price line ("Frais de réversibilité :
#: 0 € HT.") cut from the next line is read by reversibility.cost as a price of its own.
_ABBREV = {"art", "cf", "n", "no", "al", "ex", "p", "pp", "ss", "ann", "mme", "mlle", "m", "mm", "me", "dr", "st",
           "ste", "av", "bd", "vol", "chap", "sect", "i.e", "e.g", "c", "pr", "l", "r", "reg", "regl", "cod", "ord",
           "dec", "jo", "v", "ht", "ttc"}
#: Abbreviations that may also end a sentence ("… C. civ. Le Client…", "… agendas, etc. Le
#: Prestataire…"): a sentence ends there only when the next word has a capital.
_ABBREV_MAY_END = {"etc", "civ", "com", "conso", "proc", "sante", "publ", "min", "max", "env"}
#: Initials with dots ("S.A.S.", "S.A.R.L.", "S.A."): as above.
_INITIALS = re.compile(r"(?:[a-z]\.)+[a-z]")
_NEXT_CHAR = re.compile(r"\s*(\S)")
_BOUNDARY = re.compile(r"[.;!?](?=\s|$|\")|\s{2,}|:\s+(?=-)")


def sentences(folded: str, start: int = 0, end: int | None = None, text: str | None = None) -> list[tuple[int, int]]:
    """Sentence spans inside ``folded[start:end]`` (folded text: lower case, newlines as spaces).

    ``text`` is the same text before folding (same offsets): where a period may or may not end a
    sentence ("HT.", "etc.", "S.A.S."), a capital on the next word decides. Without it, such a period
    never ends one."""
    end = len(folded) if end is None else end
    spans = []
    begin = start
    for match in _BOUNDARY.finditer(folded, start, end):
        cut = match.start()
        if folded[cut] == ".":
            word = re.search(r"([\w.]+)$", folded[begin:cut])
            token = word.group(1).lower() if word else ""
            if token in _ABBREV or (len(token) == 1 and token.isalpha()):
                continue
            if token in _ABBREV_MAY_END or _INITIALS.fullmatch(token):
                following = _NEXT_CHAR.match(text, cut + 1, end) if text is not None else None
                if following is None or not following.group(1).isupper():
                    continue
            if re.fullmatch(r"[\d.]+|[ivxlc]+", token) and not folded[begin:cut - len(token)].strip():
                continue  # a clause number ("2.2.", "1.", "xii.") opening the sentence
            if cut + 1 < end and folded[cut + 1: cut + 2].isdigit():
                continue
        stop = match.end() if folded[cut] in ".;!?" else cut
        if folded[begin:stop].strip():
            spans.append((begin, stop))
        begin = match.end()
    if begin < end and folded[begin:end].strip():
        spans.append((begin, end))
    if text is not None and "\n" in text[start:end]:
        spans = _split_form_lines(text, spans)
    # trim leading spaces
    out = []
    for s, e in spans:
        while s < e and folded[s] == " ":
            s += 1
        out.append((s, e))
    return out


#: One line of a form or an order form: a short label with a capital, a colon, a value ("Frais de
#: résiliation anticipée : 1 200 € HT", "Durée d'engagement : 36 mois").
_FORM_LINE = re.compile(r"[A-ZÀ-Ý][^\n:;.!?]{0,60}?\s?:\s*[^\s:][^\n:]*")


def _split_form_lines(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Two lines that are both "Label : value" are two sentences, though no period ends the first:
    "Frais de résiliation anticipée : 1 200 € HT" and "Frais de mise en service : offerts" say two
    things."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        begin = start
        cut = text.find("\n", start, end)
        while cut != -1:
            line_start = text.rfind("\n", 0, cut) + 1
            next_end = text.find("\n", cut + 1, end)
            next_end = end if next_end == -1 else next_end
            if (line_start >= begin and text.find(":", line_start, cut) != -1
                    and text.find(":", cut + 1, next_end) != -1 and _FORM_LINE.fullmatch(text, line_start, cut)
                    and _FORM_LINE.fullmatch(text, cut + 1, next_end)):
                out.append((begin, cut))
                begin = cut + 1
            cut = text.find("\n", cut + 1, end)
        out.append((begin, end))
    return out


# ----------------------------------------------------------------------------- sentences that lean on another

#: What opens a list item once the text is folded: a dash (bullets are normalised to "-"), "a)", "2)",
#: "2°", "iv)".
_ITEM_OPENER = r"(?:-|\*|[a-z]\)|\d{1,2}[)°]|[ivx]{1,5}\))\s"
_ITEM = re.compile(_ITEM_OPENER)
#: A lead-in whose first item sits in the same span ("facturées : a) l'export ;").
_LEAD_IN_WITH_ITEM = re.compile(r":\s+" + _ITEM_OPENER)


#: A sentence that opens on a word pointing back at the one before: "Cette prestation est facturée…",
#: "Celle-ci…", "Ces frais…", "Ce service…", "Elle est…", "Dans ce cas…". The impersonal "il" ("Il est
#: convenu que…", "Il appartient au Client…") points at nothing.
_ANAPHORA = re.compile(
    r"(?:cette|cet|ces|ledit|ladite|lesdits|lesdites|celle-ci|celui-ci|celles-ci|ceux-ci|cela)\b"
    r"|ce (?!qui\b|que\b|qu'|dont\b)\w"
    r"|(?:dans|en) (?:ce cas|cette hypothese|pareil cas)\b|a (?:cet effet|cette fin|ce titre)\b|pour ce faire\b"
    r"|(?:il|elle|ils|elles) (?!(?:est|sera|etait|serait) (?:\w+ )?(?:convenu|entendu|precise|rappele|stipule"
    r"|interdit|possible|permis|loisible|necessaire|indique|prevu|admis|souhaitable|recommande)\b"
    r"|appartient\b|appartiendra\b|incombe\b|incombera\b|convient\b|revient\b|suffit\b|existe\b|y a\b"
    r"|s'agit\b|resulte\b|est (?:\w+ )?(?:que|qu')|va de soi\b)"
)


def bridges(folded: str, spans: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """(i, j, kind) for the sentences of one clause where sentence ``j`` must be read with sentence ``i``;
    ``kind`` is "list" or "anaphora".

    A list item completes its lead-in: in "Les prestations suivantes sont facturées :" + "- l'export des
    données ;" + "- la restitution.", each item is read with the lead-in (not with the other items), so a
    price in the lead-in bears on the topic of an item. A sentence that points back ("Cette prestation
    est facturée 1 200 € HT.") is read with the sentence before it, which says what it points at."""
    pairs: list[tuple[int, int, str]] = []
    lead: int | None = None
    for index, (start, end) in enumerate(spans):
        text = folded[start:end]
        if lead is not None and _ITEM.match(text):
            pairs.append((lead, index, "list"))
            continue
        if index and _ANAPHORA.match(text):
            pairs.append((index - 1, index, "anaphora"))
        stripped = text.rstrip()
        lead = index if (folded.startswith(":", end) or stripped.endswith(":") or (
            stripped.endswith(";") and _LEAD_IN_WITH_ITEM.search(text))) else None
    return pairs
