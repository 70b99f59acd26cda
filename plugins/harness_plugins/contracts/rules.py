"""The contract rule pack: one TOML file per rule, written to be read by a lawyer.

A pack is a folder with ``pack.toml`` (name, version, licence), ``language.toml``
(the French vocabulary every rule shares: negation and exception words, the
names of the parties, references to annexes), ``references.toml`` (the legal
texts: id, title, source, Légifrance / EUR-Lex URL) and one ``<rule id>.toml``
per rule. ``docs/contracts.md`` documents the format; in short, a rule has:

- ``id``, ``title`` (English, for the check list), ``titre`` (French),
  ``severity``, ``references`` (requirement ids), ``benchmark`` (references used
  only as a benchmark, such as the consumer code), ``explication`` (plain French
  for the doctor) and ``absent`` (status and message when no clause is found);
- ``[topic]``: the ``patterns`` that make a clause belong to the rule, and the
  ``headings`` that do so from a clause's title alone;
- ``[signals.<name>]``: what to look for, with ``patterns`` (any of them) or
  ``together`` (one pattern of each group in the same sentence), how to treat a
  negation (``negation = "drop" | "only" | "ignore"``), ``unless`` patterns that
  cancel a match in the same sentence, ``void_if_excepted`` patterns that cancel
  it when they follow a "sauf" / "à l'exception de", and the party it must be
  about (``actor = "client" | "vendor"``);
- ``[quantities.<name>]``: numbers to extract (``kind = "duration" | "amount" |
  "percent" | "date"``) near ``anchors``, on one ``side``, for an ``actor``;
- ``[[verdict]]``: ordered ``when`` conditions (``tacite and preavis_refus > 2
  mois``), the first that holds gives the ``status`` and the ``message``.

Patterns use a small language rather than raw regular expressions: words match
whole words, case and accents are ignored, ``*`` ends a word stem (``résili*``),
``(a|b)`` is a choice, ``?`` makes the previous word or group optional,
``~4~`` allows up to four words in between, and ``re:`` starts a raw regular
expression (on lower-case, accent-free text).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .text import DAYS_PER_MONTH, fold_pattern

PACK_DIR = Path(__file__).resolve().parent / "rules"
STATUSES = ("pass", "fail", "warn", "review", "not_applicable")
#: Names every verdict may use besides the rule's own signals and quantities.
BUILTINS = {
    "heading_only": "the clause is on the topic only by its heading; its words say nothing of it",
    "topic_content": "a clause is on the topic by its words",
    "date_du_jour": "the date of the analysis as a number yyyymmdd (20270112 = 12 January 2027)",
}
SEVERITIES = ("critical", "high", "medium", "low", "info")


class RuleError(Exception):
    """A rule file that cannot be used as written; the message names the file and the key."""


# ----------------------------------------------------------------------------- pattern language

#: One word inside a ``~N~`` gap: anything but a sentence end.
_GAP_WORD = r"[^\s;!?]*[^\s;.!?,:]"
#: A space between two words of a pattern: a comma or a colon may stand before it, the colon with
#: the space French typography puts before it ("Reconduction : tacite"). When an optional group that
#: ends with a space has just taken the text's space ("pendant (une )?(période)? ~2~ de" on "pendant
#: six mois"), the space after it is already behind us: the lookbehind accepts that. After an
#: apostrophe there is no space at all: "(de|d') abonné" matches "d'abonné".
_SPACE = r"(?:(?:\s?:|,)?\s+|(?<=[\s']))(?:(?:d|l|qu|j|s|n|m|t)')?"
_TOKEN = re.compile(r"~(\d+)~|\(|\)|\||\?|\*|'|\s+|[^\s()|?*~']+")


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def translate_pattern(pattern: str) -> str:
    """The regular expression of a pattern written in the rule language."""
    pattern = pattern.strip()
    if pattern.startswith("re:"):
        return _strip_accents(pattern[3:].strip())
    text = fold_pattern(pattern)
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if match.group(1):
            out.append(rf"(?:{_SPACE}{_GAP_WORD}){{0,{int(match.group(1))}}}?{_SPACE}")
        elif token == "(":
            out.append("(?:")
        elif token in (")", "|", "?"):
            out.append(token)
        elif token == "*":
            out.append(r"\w*")
        elif token == "'":
            out.append("'")
        elif token.isspace():
            out.append(_SPACE)
        else:
            out.append(re.escape(token))
    # a gap next to a space would ask for two spaces: let the gap absorb them
    regex = "".join(out)
    regex = regex.replace(_SPACE + "(?:" + _SPACE + _GAP_WORD + ")", "(?:" + _SPACE + _GAP_WORD + ")")
    regex = regex.replace(_SPACE + _SPACE, _SPACE)
    first = text.lstrip("(")[:1]
    last = text.rstrip(")?")[-1:] if text.rstrip(")?") else ""
    prefix = r"(?<![\w])" if first and (first.isalnum() or first == "_") else ""
    suffix = r"(?![\w])" if last and (last.isalnum() or last == "_") else ""
    if suffix and text.rstrip().endswith(")?"):
        # the last group may be absent: then the match ends on the space after the word before it
        suffix = r"(?:(?<=[\s'])|(?![\w]))"
    return prefix + regex + suffix


_OPTIONAL_BEFORE_GAP = re.compile(r"\s\)\?\s*~\d+~|~\d+~\s*\([^()]*\)\?")


#: For each compiled pattern set, its patterns one by one with the beginnings of the words each can start
#: with (or None when one of them can start anywhere): the engine then tries each pattern only where such
#: a word starts, instead of trying them all at every character of a long contract. The third item is the
#: pattern's later required words (see :func:`required_words`), or None.
PATTERN_HEADS: dict[re.Pattern[str], list[tuple[frozenset[str], re.Pattern[str], "RequiredWords | None"]] | None] = {}


def _alternatives_heads(tokens: list[str], i: int) -> tuple[set[str] | None, int]:
    """Heads of the group opening at ``tokens[i] == "("``; returns (heads, index after the group)."""
    heads: set[str] | None = set()
    depth, j = 0, i
    starts = [i + 1]
    while j < len(tokens):
        token = tokens[j]
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth == 0:
                break
        elif token == "|" and depth == 1:
            starts.append(j + 1)
        j += 1
    for start in starts:
        found = _first_heads(tokens, start)
        if found is None:
            return None, j + 1
        heads |= found
    return heads, j + 1


#: Short, frequent words: a pattern that starts with one of them is looked up by its first two words.
STOP_WORDS = frozenset({"a", "au", "aux", "en", "de", "des", "du", "le", "la", "les", "l", "d", "ne", "n", "s", "qu",
                        "par", "pour", "sur", "sans", "est", "sont", "un", "une", "que", "et", "ou", "se", "sa", "son",
                        "ses", "y", "il", "elle", "ce", "cet", "cette", "dans", "avec", "tout", "toute", "tous"})


def _first_heads(tokens: list[str], i: int, second: bool = True) -> set[str] | None:
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    if i >= len(tokens):
        return None
    token = tokens[i]
    if token == "(":
        heads, after = _alternatives_heads(tokens, i)
        if heads is None or (after < len(tokens) and tokens[after] == "?"):
            return None
        return heads
    if token in (")", "|", "?", "*", "'") or token.startswith("~"):
        return None
    word = re.match(r"\w+", token)
    if not word:
        return None
    head = word.group(0)
    if i + 1 < len(tokens) and tokens[i + 1] == "?" and head == token:
        head = head[:-1]  # "formats?": the "?" makes the last letter optional
    if not head:
        return None
    if second and head == token and head in STOP_WORDS and i + 2 < len(tokens):
        # "à tout moment", "l'exception", "sans préavis": index by the first two words
        nxt = i + 1
        if tokens[nxt].isspace() or tokens[nxt] == "'":
            follow = _first_heads(tokens, nxt + 1, second=False)
            if follow and all(" " not in f for f in follow):
                return {f"{head} {f}" for f in follow}
    return {head}


def pattern_heads(pattern: str) -> set[str] | None:
    """The beginnings of the words a pattern can start with, or None if it can start anywhere."""
    pattern = pattern.strip()
    if pattern.startswith("re:"):
        return None
    tokens = [m.group(0) for m in _TOKEN.finditer(fold_pattern(pattern))]
    return _first_heads(tokens, 0)


#: What a pattern of the language never matches across: ";", "!", "?" and a "." followed by a space. A gap
#: word (``_GAP_WORD``) excludes ";!?" and cannot end with "."; a space (``_SPACE``) is spaces, "," or
#: ":"; ``*`` is letters. Only a literal word of the pattern could contain one of these characters, and
#: :func:`required_words` gives up on such a pattern.
MATCH_STOPS = re.compile(r"[;!?]|\.(?=\s)")


@dataclass(frozen=True)
class RequiredWords:
    """Words a match of one pattern must contain besides its first one, for a cheap check before the regex.

    ``checks`` holds one small regex per required word of the pattern (``utilisees|exploitees`` for a
    choice): each must occur between the match's start and the next ``MATCH_STOPS`` character, or the
    pattern cannot match there. Searching a plain list of words costs a fraction of trying a pattern
    with ``~N~`` gaps, which re-tries its choice of words after every word of the gap: most tries of
    such a pattern fail, and these checks turn them down first. The words are looked for anywhere,
    not only at word starts: a little less selective, but a search for plain text is much faster."""

    checks: tuple[re.Pattern[str], ...]


def required_words(pattern: str) -> RequiredWords | None:
    """The words every match of ``pattern`` must contain after its first word, or None if none is known.

    Only the pattern's top level is read: a word, or a group of choices not followed by ``?``, must be
    in every match; ``~N~`` gaps, optional groups and what is inside a group's choices are skipped. A
    word counts only where the text must start a word there (after a space, a gap or an apostrophe),
    and by its beginning, as :func:`_first_heads` gives it ("héberg*" → "heberg"). A pattern with a top
    level ``|``, or a literal word holding ".", ";" or "!" (it could cross a sentence end), gives None:
    it is then simply always tried."""
    pattern = pattern.strip()
    if pattern.startswith("re:"):
        return None
    tokens = [m.group(0) for m in _TOKEN.finditer(fold_pattern(pattern))]
    if any(t not in "()|?*'" and not t.isspace() and not t.startswith("~") and any(c in t for c in ".;!")
           for t in tokens):
        return None
    elements: list[set[str] | None] = []  # the heads of each top-level element that every match holds
    i = 0
    while i < len(tokens):
        token = tokens[i]
        word_start = i > 0 and (tokens[i - 1].isspace() or tokens[i - 1] == "'" or tokens[i - 1].startswith("~"))
        if token == "|":
            return None
        if token == "(":
            _heads, after = _alternatives_heads(tokens, i)
            optional = after < len(tokens) and tokens[after] == "?"
            if not optional:
                elements.append(_first_heads(tokens, i, second=False) if word_start or i == 0 else None)
            i = after
            continue
        if token.isspace() or token in (")", "?", "*", "'") or token.startswith("~"):
            i += 1
            continue
        elements.append(_first_heads(tokens, i, second=False) if word_start or i == 0 else None)
        i += 1
    groups = [sorted({h.split(" ")[0] for h in heads}) for heads in elements[1:] if heads]  # the first
    # word is where the engine already tries the pattern; long words are rarer: checked first, they
    # turn a try down sooner ("echeance|facture" before "a|au|de")
    groups.sort(key=lambda words: -min(len(w) for w in words))
    checks = tuple(re.compile("|".join(re.escape(w) for w in words)) for words in groups)
    return RequiredWords(checks) if checks else None


_WORD_START = r"(?<![\w])"


def _top_level_choice(pattern: str) -> bool:
    """Whether a pattern has a ``|`` outside any group ("a|b c"): its regex is then a choice as a whole."""
    depth = 0
    for match in _TOKEN.finditer(fold_pattern(pattern)):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif token == "|" and depth == 0:
            return True
    return False


def alternation(patterns: list[str]) -> str:
    """The regex of "any of ``patterns``", tried in their order, as ``(?:p1)|(?:p2)|…``, except that the
    "a word starts here" check that begins most patterns (``(?<![\\w])``) is written once in front of a
    run of them: ``(?<![\\w])(?:(?:p1)|(?:p2))``.

    Why: the regex engine tries a choice at every character of the text, and each pattern's own
    check at every character made the sentence-wide searches slow; once in front, it turns down the
    characters inside a word at once (measured on the 102-page benchmark contract: the per-sentence
    searches take about half the time, the whole rule application about a quarter less). Same
    matches: the check looks at the same place for every pattern of the run, and the patterns are
    still tried in their order. A ``re:`` pattern, or one with a ``|`` outside any group (whose check
    covers only its first choice), is left as it is."""
    return _alternation([(pattern, translate_pattern(pattern)) for pattern in patterns])


def _alternation(translated: list[tuple[str, str]]) -> str:
    """:func:`alternation` of patterns already translated: ``(pattern, its regex)`` pairs."""
    out: list[str] = []
    run: list[str] = []
    for pattern, regex in translated:
        if (not pattern.strip().startswith("re:") and regex.startswith(_WORD_START)
                and not _top_level_choice(pattern)):
            run.append(f"(?:{regex[len(_WORD_START):]})")
            continue
        if run:
            out.append(f"{_WORD_START}(?:{'|'.join(run)})")
            run = []
        out.append(f"(?:{regex})")
    if run:
        out.append(f"{_WORD_START}(?:{'|'.join(run)})")
    return "|".join(out)


def compile_patterns(patterns: list[str], where: str) -> re.Pattern[str] | None:
    if not patterns:
        return None
    regexes: list[str] = []
    singles: list[re.Pattern[str]] = []  # each pattern on its own: validated here, then tried by the engine
    for pattern in patterns:
        if not pattern.startswith("re:") and _OPTIONAL_BEFORE_GAP.search(pattern):
            raise RuleError(f"{where}: pattern {pattern!r} puts an optional group next to a ~N~ gap, which "
                            "never matches as meant; write the gap alone (~N~ already allows the optional "
                            "words) or make the group required")
        if not pattern.startswith("re:") and "[" in pattern:
            raise RuleError(f"{where}: pattern {pattern!r} uses [ ], which the pattern language reads as plain "
                            "text; write the choice as (a|b), or start the pattern with re:")
        regex = translate_pattern(pattern)
        try:
            singles.append(re.compile(regex))
        except re.error as exc:
            raise RuleError(f"{where}: pattern {pattern!r} is not valid ({exc})") from None
        regexes.append(regex)
    compiled = re.compile(_alternation(list(zip(patterns, regexes))))
    pieces: list[tuple[frozenset[str], re.Pattern[str], RequiredWords | None]] | None = []
    for pattern, single in zip(patterns, singles):
        found = pattern_heads(pattern)
        if found is None:
            pieces = None
            break
        pieces.append((frozenset(found), single, required_words(pattern)))
    PATTERN_HEADS[compiled] = pieces
    return compiled


# ----------------------------------------------------------------------------- verdict expressions

UNITS = {
    "jour": 1.0, "jours": 1.0, "semaine": 7.0, "semaines": 7.0, "mois": DAYS_PER_MONTH, "an": 365.25, "ans": 365.25,
    "annee": 365.25, "annees": 365.25, "€": 1.0, "euro": 1.0, "euros": 1.0, "%": 1.0,
}
_EXPR_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:[.,]\d+)?)|(?P<op>>=|<=|==|!=|>|<)|(?P<par>[()])|(?P<sym>€|%)"
                         r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))")
_AND, _OR, _NOT = {"and", "et"}, {"or", "ou"}, {"not", "non"}


@dataclass
class Expr:
    source: str
    func: Callable[[dict[str, Any]], bool]
    names: tuple[str, ...]


def parse_expr(source: str, known: set[str], quantities: set[str], where: str) -> Expr:
    """Compile ``tacite and (preavis > 2 mois or periode > 12 mois)``."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    src = _strip_accents(source)
    while pos < len(src):
        match = _EXPR_TOKEN.match(src, pos)
        if not match or match.end() == pos:
            if src[pos:].strip() == "":
                break
            raise RuleError(f"{where}: cannot read {source!r} at {src[pos:pos + 12]!r}")
        pos = match.end()
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
    names: list[str] = []
    index = 0

    def peek() -> tuple[str, str] | None:
        return tokens[index] if index < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal index
        if index >= len(tokens):
            raise RuleError(f"{where}: {source!r} ends too early")
        index += 1
        return tokens[index - 1]

    def parse_or():
        left = parse_and()
        while peek() and peek()[0] == "word" and peek()[1].lower() in _OR:
            take()
            right = parse_and()
            left = (lambda a, b: lambda ctx: a(ctx) or b(ctx))(left, right)
        return left

    def parse_and():
        left = parse_not()
        while peek() and peek()[0] == "word" and peek()[1].lower() in _AND:
            take()
            right = parse_not()
            left = (lambda a, b: lambda ctx: a(ctx) and b(ctx))(left, right)
        return left

    def parse_not():
        tok = peek()
        if tok and tok[0] == "word" and tok[1].lower() in _NOT:
            take()
            inner = parse_not()
            return lambda ctx: not inner(ctx)
        return parse_atom()

    def parse_atom():
        kind, value = take()
        if kind == "par" and value == "(":
            inner = parse_or()
            closing = take()
            if closing != ("par", ")"):
                raise RuleError(f"{where}: missing ')' in {source!r}")
            return inner
        if kind != "word":
            raise RuleError(f"{where}: unexpected {value!r} in {source!r}")
        name = value
        if name in ("true", "vrai"):
            return lambda ctx: True
        if name not in known:
            raise RuleError(f"{where}: {source!r} names {name!r}, which is neither a signal nor a quantity "
                            f"(known: {', '.join(sorted(known))})")
        names.append(name)
        nxt = peek()
        if nxt and nxt[0] == "op":
            op = take()[1]
            if name not in quantities:
                raise RuleError(f"{where}: {name!r} is a signal; only quantities can be compared")
            num_kind, num = take()
            if num_kind == "word" and num in quantities:
                other = num
                names.append(other)
                cmp = {">": lambda a, b: a > b + 1e-9, ">=": lambda a, b: a >= b - 1e-9,
                       "<": lambda a, b: a < b - 1e-9, "<=": lambda a, b: a <= b + 1e-9,
                       "==": lambda a, b: abs(a - b) < 1e-6, "!=": lambda a, b: abs(a - b) >= 1e-6}[op]
                return lambda ctx: (ctx.get(name) is not None and ctx.get(other) is not None
                                    and cmp(ctx[name], ctx[other]))
            if num_kind != "num":
                raise RuleError(f"{where}: expected a number or a quantity after {op!r} in {source!r}")
            number = float(num.replace(",", "."))
            unit_tok = peek()
            factor = 1.0
            if unit_tok and unit_tok[0] in ("word", "sym") and unit_tok[1].lower() in UNITS:
                factor = UNITS[take()[1].lower()]
            threshold = number * factor
            compare = {">": lambda a: a > threshold + 1e-9, ">=": lambda a: a >= threshold - 1e-9,
                       "<": lambda a: a < threshold - 1e-9, "<=": lambda a: a <= threshold + 1e-9,
                       "==": lambda a: abs(a - threshold) < 1e-6, "!=": lambda a: abs(a - threshold) >= 1e-6}[op]
            return lambda ctx: ctx.get(name) is not None and compare(ctx[name])
        return lambda ctx: bool(ctx.get(name))

    func = parse_or()
    if index != len(tokens):
        raise RuleError(f"{where}: unexpected {tokens[index][1]!r} in {source!r}")
    return Expr(source, func, tuple(dict.fromkeys(names)))


# ----------------------------------------------------------------------------- rule model

@dataclass
class Signal:
    name: str
    label: str
    regex: re.Pattern[str] | None
    together: list[re.Pattern[str]]
    negation: str = "drop"  # drop | only | ignore
    unless: re.Pattern[str] | None = None
    void_if_excepted: re.Pattern[str] | None = None
    actor: str | None = None  # client | vendor
    scope: str = "topic"  # topic | document
    patterns: list[str] = field(default_factory=list)


@dataclass
class QuantityDef:
    name: str
    label: str
    kind: str
    anchors: re.Pattern[str]
    side: str = "after"  # after | before | both
    distance: int = 80
    actor: str | None = None
    pick: str = "max"
    scope: str = "topic"
    exclude: re.Pattern[str] | None = None
    require: re.Pattern[str] | None = None
    not_followed_by: re.Pattern[str] | None = None
    not_preceded_by: re.Pattern[str] | None = None


@dataclass
class Verdict:
    when: Expr
    status: str
    message: str
    severity: str | None = None
    evidence: tuple[str, ...] = ()
    key: str = ""
    document_only: bool = False
    list_missing: tuple[str, ...] = ()


@dataclass
class Rule:
    id: str
    title: str
    titre: str
    severity: str
    references: tuple[str, ...]
    benchmark: tuple[str, ...]
    explication: str
    topic: re.Pattern[str] | None
    topic_headings: re.Pattern[str] | None
    topic_patterns: list[str]
    signals: dict[str, Signal]
    quantities: dict[str, QuantityDef]
    verdicts: list[Verdict]
    absent_status: str
    absent_message: str
    searched: str
    remediation: str
    path: Path
    topic_exclude: re.Pattern[str] | None = None
    addenda: list["Addendum"] = field(default_factory=list)


@dataclass
class Addendum:
    """A finding added beside the verdict when its condition holds (e.g. a question for a person)."""

    when: Expr
    status: str
    message: str
    key: str
    references: tuple[str, ...] = ()


@dataclass(eq=False)
class Language:
    negation_before: re.Pattern[str]
    negation_after: re.Pattern[str]
    negation_words: int
    negation_sentence: re.Pattern[str] | None
    exception_cues: re.Pattern[str]
    parties: dict[str, list[str]]
    subject_verbs: str
    agent_cues: str
    signals: dict[str, Signal]


@dataclass
class RulePackData:
    name: str
    version: str
    licence: str
    description: str
    path: Path
    language: Language
    references: dict[str, dict[str, str]]
    rules: dict[str, Rule]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path.name}: unreadable: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path.name}: broken TOML: {exc}") from None


def _list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{where}: expected a list of strings")
    return value


def _signal(name: str, data: dict[str, Any], where: str) -> Signal:
    allowed = {"label", "patterns", "together", "negation", "unless", "void_if_excepted", "actor", "scope"}
    unknown = set(data) - allowed
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(allowed))})")
    patterns = _list(data.get("patterns"), f"{where}.patterns")
    together_raw = data.get("together") or []
    if not patterns and not together_raw:
        raise RuleError(f"{where}: a signal needs patterns or together")
    together = []
    for i, group in enumerate(together_raw):
        compiled = compile_patterns(_list(group, f"{where}.together[{i}]"), f"{where}.together[{i}]")
        if compiled is not None:
            together.append(compiled)
    negation = data.get("negation", "drop")
    if negation not in ("drop", "only", "ignore"):
        raise RuleError(f"{where}.negation: {negation!r} is not drop, only or ignore")
    actor = data.get("actor")
    if actor not in (None, "client", "vendor"):
        raise RuleError(f"{where}.actor: {actor!r} is not client or vendor")
    scope = data.get("scope", "topic")
    if scope not in ("topic", "document"):
        raise RuleError(f"{where}.scope: {scope!r} is not topic or document")
    return Signal(name, data.get("label", name), compile_patterns(patterns, f"{where}.patterns"), together,
                  negation, compile_patterns(_list(data.get("unless"), where), f"{where}.unless"),
                  compile_patterns(_list(data.get("void_if_excepted"), where), f"{where}.void_if_excepted"),
                  actor, scope, patterns)


def _quantity(name: str, data: dict[str, Any], where: str) -> QuantityDef:
    allowed = {"label", "kind", "anchors", "side", "distance", "actor", "pick", "scope", "exclude", "require",
               "not_followed_by", "not_preceded_by"}
    unknown = set(data) - allowed
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    kind = data.get("kind", "duration")
    if kind not in ("duration", "amount", "percent", "date"):
        raise RuleError(f"{where}.kind: {kind!r} is not duration, amount, percent or date")
    anchors = compile_patterns(_list(data.get("anchors"), where), f"{where}.anchors")
    if anchors is None:
        raise RuleError(f"{where}: a quantity needs anchors")
    side = data.get("side", "after")
    if side not in ("after", "before", "both"):
        raise RuleError(f"{where}.side: {side!r} is not after, before or both")
    pick = data.get("pick", "max")
    if pick not in ("max", "min", "first"):
        raise RuleError(f"{where}.pick: {pick!r} is not max, min or first")
    return QuantityDef(name, data.get("label", name), kind, anchors, side, int(data.get("distance", 80)),
                       data.get("actor"), pick, data.get("scope", "topic"),
                       compile_patterns(_list(data.get("exclude"), where), f"{where}.exclude"),
                       compile_patterns(_list(data.get("require"), where), f"{where}.require"),
                       compile_patterns(_list(data.get("not_followed_by"), where), f"{where}.not_followed_by"),
                       compile_patterns(_list(data.get("not_preceded_by"), where), f"{where}.not_preceded_by"))


RULE_KEYS = {"id", "version", "title", "titre", "severity", "references", "benchmark", "explication", "topic",
             "signals", "quantities", "verdict", "absent", "searched", "remediation", "addendum"}


def load_rule(path: Path, language: Language, references: dict[str, Any]) -> Rule:
    data = _read_toml(path)
    where = path.name
    unknown = set(data) - RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("id", "title", "titre", "severity", "references", "explication", "topic", "verdict", "absent"):
        if key not in data:
            raise RuleError(f"{where}: missing {key!r}")
    rule_id = data["id"]
    if path.stem != rule_id:
        raise RuleError(f"{where}: file name must be the rule id ({rule_id}.toml)")
    if data["severity"] not in SEVERITIES:
        raise RuleError(f"{where}.severity: {data['severity']!r} is not one of {', '.join(SEVERITIES)}")
    refs = tuple(_list(data["references"], f"{where}.references"))
    bench = tuple(_list(data.get("benchmark"), f"{where}.benchmark"))
    for ref in refs + bench:
        if ref not in references:
            raise RuleError(f"{where}: reference {ref!r} is not in references.toml")
    topic = data["topic"]
    topic_patterns = _list(topic.get("patterns"), f"{where}.topic.patterns")
    signals = dict(language.signals)
    for name, sdata in (data.get("signals") or {}).items():
        signals[name] = _signal(name, sdata, f"{where} [signals.{name}]")
    quantities = {name: _quantity(name, qdata, f"{where} [quantities.{name}]")
                  for name, qdata in (data.get("quantities") or {}).items()}
    clash = set(signals) & set(quantities)
    if clash:
        raise RuleError(f"{where}: {', '.join(sorted(clash))} is both a signal and a quantity")
    known = set(signals) | set(quantities) | set(BUILTINS)
    verdicts = []
    for i, vdata in enumerate(data["verdict"]):
        vwhere = f"{where} [[verdict]] #{i + 1}"
        status = vdata.get("status")
        if status not in STATUSES:
            raise RuleError(f"{vwhere}.status: {status!r} is not one of {', '.join(STATUSES)}")
        if "message" not in vdata or "when" not in vdata:
            raise RuleError(f"{vwhere}: needs when and message")
        severity = vdata.get("severity")
        if severity is not None and severity not in SEVERITIES:
            raise RuleError(f"{vwhere}.severity: {severity!r} is not a severity")
        evidence = tuple(_list(vdata.get("evidence"), f"{vwhere}.evidence"))
        for name in evidence:
            if name not in known:
                raise RuleError(f"{vwhere}.evidence: unknown name {name!r}")
        unknown_v = set(vdata) - {"when", "status", "message", "severity", "evidence", "key", "document_only",
                                  "list_missing"}
        if unknown_v:
            raise RuleError(f"{vwhere}: unknown key(s) {', '.join(sorted(unknown_v))}")
        missing = tuple(_list(vdata.get("list_missing"), f"{vwhere}.list_missing"))
        for name in missing:
            if name not in signals:
                raise RuleError(f"{vwhere}.list_missing: {name!r} is not a signal")
        verdicts.append(Verdict(parse_expr(vdata["when"], known, set(quantities) | {"date_du_jour"}, vwhere), status, vdata["message"],
                                severity, evidence, vdata.get("key", f"{status}.{i + 1}"),
                                bool(vdata.get("document_only", False)), missing))
    addenda = []
    for i, adata in enumerate(data.get("addendum") or []):
        awhere = f"{where} [[addendum]] #{i + 1}"
        if adata.get("status") not in STATUSES or "when" not in adata or "message" not in adata:
            raise RuleError(f"{awhere}: needs when, a status and a message")
        arefs = tuple(_list(adata.get("references"), f"{awhere}.references"))
        for ref in arefs:
            if ref not in references:
                raise RuleError(f"{awhere}: reference {ref!r} is not in references.toml")
        addenda.append(Addendum(parse_expr(adata["when"], known, set(quantities) | {"date_du_jour"}, awhere),
                                adata["status"], adata["message"], adata.get("key", f"addendum.{i + 1}"), arefs))
    absent = data["absent"]
    if absent.get("status") not in STATUSES:
        raise RuleError(f"{where}.absent.status: {absent.get('status')!r} is not a status")
    return Rule(
        id=rule_id, title=data["title"], titre=data["titre"], severity=data["severity"], references=refs,
        benchmark=bench, explication=data["explication"].strip(),
        topic=compile_patterns(topic_patterns, f"{where}.topic.patterns"),
        topic_headings=compile_patterns(_list(topic.get("headings"), f"{where}.topic.headings"),
                                        f"{where}.topic.headings"),
        topic_patterns=topic_patterns, signals=signals, quantities=quantities, verdicts=verdicts,
        absent_status=absent["status"], absent_message=absent.get("message", ""),
        searched=data.get("searched", ""), remediation=data.get("remediation", ""), path=path,
        topic_exclude=compile_patterns(_list(topic.get("exclude"), f"{where}.topic.exclude"),
                                       f"{where}.topic.exclude"),
        addenda=addenda,
    )


def load_language(path: Path) -> Language:
    data = _read_toml(path)
    neg = data.get("negation", {})
    parties = data.get("parties", {})
    signals = {name: _signal(name, sdata, f"{path.name} [signals.{name}]")
               for name, sdata in (data.get("signals") or {}).items()}
    for key in ("client", "vendor", "both"):
        if not parties.get(key):
            raise RuleError(f"{path.name}: [parties] needs {key}")
    return Language(
        negation_before=re.compile(alternation(_list(neg.get("before"), "negation.before"))),
        negation_after=re.compile(alternation(_list(neg.get("after"), "negation.after"))),
        negation_words=int(neg.get("words", 5)),
        negation_sentence=compile_patterns(_list(neg.get("sentence"), "negation.sentence"), "negation.sentence"),
        exception_cues=re.compile(alternation(_list(data.get("exceptions", {}).get("cues"), "exceptions"))),
        parties={k: _list(parties[k], f"parties.{k}") for k in ("client", "vendor", "both")},
        subject_verbs=alternation(_list(parties.get("verbs"), "parties.verbs")),
        agent_cues=alternation(_list(parties.get("agents"), "parties.agents")),
        signals=signals,
    )


def load_pack(path: str | Path | None = None) -> RulePackData:
    """Load and check a whole pack (the built-in one by default)."""
    root = Path(path) if path else PACK_DIR
    if not root.is_dir():
        raise RuleError(f"contract rule pack {root} is not a folder")
    meta = _read_toml(root / "pack.toml")
    for key in ("name", "version"):
        if key not in meta:
            raise RuleError(f"pack.toml: missing {key!r}")
    language = load_language(root / "language.toml")
    references = _read_toml(root / "references.toml")
    for ref_id, ref in references.items():
        for key in ("title", "source"):
            if key not in ref:
                raise RuleError(f"references.toml [{ref_id}]: missing {key!r}")
    rules = {}
    for rule_path in sorted(root.glob("*.toml")):
        if rule_path.name in ("pack.toml", "language.toml", "references.toml"):
            continue
        rule = load_rule(rule_path, language, references)
        rules[rule.id] = rule
    if not rules:
        raise RuleError(f"rule pack {root} has no rule")
    return RulePackData(meta["name"], str(meta["version"]), meta.get("licence", ""), meta.get("description", ""),
                        root, language, references, rules)


_CACHE: dict[str, RulePackData] = {}


def default_pack() -> RulePackData:
    key = str(PACK_DIR)
    if key not in _CACHE:
        _CACHE[key] = load_pack(PACK_DIR)
    return _CACHE[key]
