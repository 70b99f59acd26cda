"""Apply the rule pack to one extracted document.

For each rule: find the clauses on its topic (by their words or by their
heading), look for the rule's signals and quantities in them (with negation,
exception and party handling), then take the first verdict whose condition
holds. Everything found is kept with its place in the normalised text, so the
plugin can quote it with its page, clause number and raw offsets.

All patterns run once over the whole folded text of the document and their
matches are sorted into clauses and sentences afterwards, which keeps a
1,000-page document cheap.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import multiprocessing
import pickle
import re
from dataclasses import dataclass, field
from typing import Any

from harness_plugins._common.system import available_cpus

from .extract import Document
from .rules import MATCH_STOPS, PATTERN_HEADS, STOP_WORDS, Language, QuantityDef, Rule, RulePackData, Signal, alternation
from .segment import Clause, bridges, segment, sentences
from .text import FINDERS, Quantity, describe_duration
from .text import fold as fold_title


@dataclass
class Hit:
    """One place in the document: a signal match or a quantity, inside a clause and a sentence."""

    name: str
    clause: int
    start: int  # normalised-text offsets of the match
    end: int
    sentence: tuple[int, int]
    value: Quantity | None = None


@dataclass
class Outcome:
    """The verdict of one rule on one document."""

    rule: Rule
    status: str
    message: str
    severity: str
    clause_found: bool
    verdict_key: str
    topic_clauses: list[int]
    hits: dict[str, list[Hit]]
    quantities: dict[str, Hit]
    evidence: list[Hit]
    heading_only: bool = False
    addenda: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)

    def numbers(self) -> dict[str, str]:
        """Extracted numbers, e.g. ``{"préavis du client": "6 mois"}``."""
        out = {}
        for name, hit in self.quantities.items():
            qdef = self.rule.quantities[name]
            out[qdef.label] = describe(hit.value)
        return out


def describe(quantity: Quantity | None) -> str:
    if quantity is None:
        return ""
    if quantity.kind == "duration":
        return describe_duration(quantity.value)
    if quantity.kind == "amount":
        value = f"{quantity.value:,.2f}".replace(",", " ").replace(".", ",").replace(",00", "")
        return f"{value} €"
    if quantity.kind == "percent":
        return f"{quantity.value:g} %"
    if quantity.kind == "date":
        v = int(quantity.value)
        return f"{v % 100:02d}/{v // 100 % 100:02d}/{v // 10000}"
    return quantity.text


#: The "ne" after "avant que", "à moins que"… is not a negation ("avant que le client n'ait récupéré").
_EXPLETIVE_NE = re.compile(r"((?:avant|a moins|de peur|de crainte|sans) qu(?:e |')(?:\S+ ){0,4}?)n(?:e |')")


_WORD = re.compile(r"\w+")
@functools.lru_cache(maxsize=8)
def _actor_regexes(language: Language) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """What makes a party the actor: the subject of a verb, or the agent of a passive."""
    verbs = re.compile(rf"^\s*(?:,[^,]{{0,40}},\s*)?(?:(?:ne|n'|se|s'|lui|y|en)\s*)*(?:[\w']+\s+){{0,2}}?"
                       rf"(?:{language.subject_verbs})")
    agents = re.compile(rf"(?:{language.agent_cues})\s+(?:le |la |l'|les |du |des |de la |de l')?$")
    return verbs, agents


@functools.lru_cache(maxsize=8)
def _known_party_word(language: Language) -> re.Pattern[str]:
    words = [w for ws in language.parties.values() for w in ws]
    return re.compile(alternation(words))


@functools.lru_cache(maxsize=64)
def _party_words(language: Language, aliases: tuple[str, ...]) -> re.Pattern[str]:
    parties = {k: list(v) for k, v in language.parties.items()}
    parties["vendor"].extend(aliases)
    groups = [f"(?P<{key}>{alternation(words)})" for key, words in
              (("both", parties["both"]), ("client", parties["client"]), ("vendor", parties["vendor"]))]
    return re.compile("|".join(groups))


#: A brand name in CamelCase ("MedicaSoft", "OrdoPlus"): an upper-case letter, lower-case ones, then
#: at least one more upper-case letter followed by lower-case letters or digits, inside one word.
_BRAND = re.compile(r"\b[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ0-9]+(?:[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ0-9]+)+\b")


#: "ne … que" restricts, it does not negate ("il ne traite les données que sur instruction").
_RESTRICTIVE_NE = re.compile(r"\bn(?:e |')(?:(?!pas\b|plus\b|jamais\b|aucun)\S+ ){0,5}?qu(?:e\b|')")


#: A "sans …" closed by a comma is a circumstance of what follows, not its negation
#: ("de plein droit et sans formalité préalable, couper l'accès").
_SANS_CLOSED = re.compile(r"\bsans\b[^,;:]*,")


#: Where a negation's reach ends inside a sentence: a clause joined by "mais", "tandis que"… or by
#: ", et" with a new subject ("le Client ne peut pas résilier, mais le Prestataire peut suspendre…",
#: "s'interdit de céder les données, mais il peut les utiliser…"). An object list ("s'interdit de céder
#: les données, et notamment de…") goes on.
_NEGATION_SCOPE_END = re.compile(
    r"(?:^|[\s,;])(?:mais|tandis qu|alors qu|en revanche|par contre|cependant|toutefois|neanmoins)\b"
    r"|,\s*et\s+(?:il|elle|ils|elles|nous|vous|(?:le|la|l'|les) ?(?:client|prestataire|editeur|fournisseur|societe|"
    r"praticien|medecin|abonne|utilisateur|licencie|concedant|sous-traitant|responsable|cabinet)s?)\b"
)


#: "nous" / "vous" after a subject, a conjugated verb or a preposition is an object, not the actor:
#: "vous devez nous en informer", "il vous suffit de", "de nous notifier", "nous vous informons".
_OBJECT_PRONOUN_BEFORE = re.compile(
    r"(?:\b(?:il|elle|ils|elles|on|nous|vous|je|qui|ne|de|pour|sans|a|doit|doivent|devra|devront|peut|peuvent|pourra|"
    r"pourront|faut|suffit|permet|permettent|permettra)|n'|d'|\w+ez|\w+ons)\s+$"
)


class Analysis:
    """A document prepared for the rules: clauses, sentences, numbers, parties."""

    def __init__(self, doc: Document, pack: RulePackData) -> None:
        self.doc = doc
        self.pack = pack
        self.text = doc.text
        self.clauses: list[Clause] = segment(self.text)
        # a pattern must not run from a heading into the clause's text: mark the end of heading lines
        folded = doc.folded
        marks = [c.heading_end for c in self.clauses
                 if c.start < c.heading_end < len(folded) and self.text[c.heading_end] == "\n"]
        if marks:
            chars = list(folded)
            for pos in marks:
                chars[pos] = ";"
            folded = "".join(chars)
        self.folded = folded
        self.clause_starts = [c.start for c in self.clauses]
        self.heading_folded = [self._fold_heading(c) for c in self.clauses]
        self.title_folded = [fold_title(c.title) for c in self.clauses]
        spans: list[tuple[int, int]] = []
        #: (antecedent, sentence, clause): a sentence read with another one (a list item with its lead-in,
        #: "Cette prestation…" with the sentence before it); see :func:`segment.bridges`
        self.bridges: list[tuple[tuple[int, int], tuple[int, int], int]] = []
        related: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for index, clause in enumerate(self.clauses):
            body = clause.heading_end if clause.start < clause.heading_end <= clause.end else clause.start
            if body > clause.start:
                spans.append((clause.start, body))  # the heading line is a sentence of its own
            own = sentences(self.folded, body, clause.end, self.text)
            spans.extend(own)
            for i, j, kind in bridges(self.folded, own):
                self.bridges.append((own[i], own[j], index))
                # a ``together`` group found in one sentence looks for the others in the sentences it is
                # read with: an item and its lead-in both ways; a sentence that points back in the one it
                # points at, but not the other way ("… peut interrompre le service ; il en informe le
                # Client sans délai": the "sans délai" is the notice's, not the interruption's)
                related.setdefault(own[j], []).append(own[i])
                if kind == "list":
                    related.setdefault(own[i], []).append(own[j])
        self.sentences = spans
        self.related = related
        self._followers: dict[int, list[tuple[tuple[int, int], int]]] = {}
        for antecedent, follower, clause in self.bridges:
            self._followers.setdefault(antecedent[0], []).append((follower, clause))
        self._antecedent_starts = sorted(self._followers)
        self._antecedent_ends = {a[0]: a[1] for a, _f, _c in self.bridges}
        #: 1 at the offsets that lie in an antecedent: the cheap test made at every candidate position
        self._in_antecedent = bytearray(len(folded) + 1)
        for start, end in self._antecedent_ends.items():
            self._in_antecedent[start:end] = b"\x01" * (end - start)
        self._joined_cache: dict[tuple[int, int], tuple[str, int]] = {}
        self.sentence_starts = [s for s, _e in spans]
        self._regex_cache: dict[int, list[tuple[int, int]]] = {}
        self._stops: list[int] | None = None
        self._words: tuple[dict[str, dict[str, list[int]]], dict[str, dict[str, list[int]]]] | None = None
        self._heads: dict[str, dict[int, dict[int, int]]] = {}
        self._first_cache: dict[tuple[int, tuple[int, int]], tuple[int, int] | None] = {}
        self._neg_cache: dict[tuple[int, int], bool] = {}
        self._numbers: dict[str, list[Quantity]] = {}
        self.language: Language = pack.language
        self.party_re = self._party_regex()
        self._actor_cache: dict[tuple[int, int], list[tuple[int, str]]] = {}

    @staticmethod
    def _fold_heading(clause: Clause) -> str:
        from .text import fold

        return fold(clause.heading_titles)

    # -------------------------------------------------------------- lookups

    def clause_at(self, pos: int) -> int:
        return max(0, bisect.bisect_right(self.clause_starts, pos) - 1)

    def sentence_at(self, pos: int) -> tuple[int, int]:
        index = bisect.bisect_right(self.sentence_starts, pos) - 1
        if index >= 0:
            start, end = self.sentences[index]
            if start <= pos < end:
                return start, end
        clause = self.clauses[self.clause_at(pos)]
        return clause.start, clause.end

    def in_heading(self, pos: int) -> bool:
        """True when ``pos`` is on a clause's heading line (its title), not in its text."""
        clause = self.clauses[self.clause_at(pos)]
        return clause.start <= pos < clause.heading_end

    def _word_index(self) -> tuple[dict[str, dict[str, list[int]]], dict[str, dict[str, list[int]]]]:
        """The document's words, for :meth:`_head_positions`.

        ``by_key["res"]["resiliation"]`` lists where the word "resiliation" starts (words grouped by their
        first three letters); ``after_stop["a"]["tout"]`` lists where a word of STOP_WORDS ("a") starts
        when the next word is "tout". Keeping each distinct word once lets a head be compared with the
        distinct words of its group instead of with every occurrence of them."""
        if self._words is None:
            words: dict[str, list[int]] = {}
            after_stop: dict[str, dict[str, list[int]]] = {}
            previous: str | None = None
            previous_pos = 0
            for match in _WORD.finditer(self.folded):
                word = match.group(0)
                start = match.start()
                starts = words.get(word)
                if starts is None:
                    words[word] = [start]
                else:
                    starts.append(start)
                if previous is not None:
                    after_stop.setdefault(previous, {}).setdefault(word, []).append(previous_pos)
                if word in STOP_WORDS:
                    previous, previous_pos = word, start
                else:
                    previous = None
            by_key: dict[str, dict[str, list[int]]] = {}
            for word, starts in words.items():
                by_key.setdefault(word[:3], {})[word] = starts
            self._words = (by_key, after_stop)
        return self._words

    def matches(self, regex: re.Pattern[str], within: set[int] | None = None) -> list[tuple[int, int]]:
        """Every match of ``regex`` in the document, left to right and without overlap (as ``finditer``).

        A pattern set whose words are known is only tried where one of its first words starts; one
        that can start anywhere is run over the clauses ``within`` only, when they are given."""
        heads = PATTERN_HEADS.get(regex)
        if within is not None:
            if heads is None:
                found: list[tuple[int, int]] = []
                for index in sorted(within):
                    clause = self.clauses[index]
                    found.extend(m.span() for m in regex.finditer(self.folded, clause.start, clause.end))
                return found + self._bridged(regex, within)
            return self._indexed(regex, heads, within)
        key = id(regex)
        if key not in self._regex_cache:
            if heads is None:
                self._regex_cache[key] = [m.span() for m in regex.finditer(self.folded)] + self._bridged(regex, None)
            else:
                self._regex_cache[key] = self._indexed(regex, heads, None)
        return self._regex_cache[key]

    def _joined(self, antecedent: tuple[int, int], follower: tuple[int, int]) -> tuple[str, int]:
        """The antecedent (without its final ";" or ".") and the follower as one string, and where
        the follower starts in it: what a pattern reads when it runs from one into the other."""
        key = (antecedent[0], follower[0])
        found = self._joined_cache.get(key)
        if found is None:
            head = self.folded[antecedent[0]:antecedent[1]].rstrip(" ;.")
            found = self._joined_cache[key] = (f"{head} {self.folded[follower[0]:follower[1]]}", len(head) + 1)
        return found

    def _bridge_match(self, part: re.Pattern[str], pos: int, out: dict[int, int]) -> None:
        """Matches of ``part`` at ``pos`` (inside an antecedent) that run on into a sentence read with it."""
        a_start = self._antecedent_starts[bisect.bisect_right(self._antecedent_starts, pos) - 1]
        for follower, _clause in self._followers[a_start]:
            joined, offset = self._joined((a_start, self._antecedent_ends[a_start]), follower)
            match = part.match(joined, pos - a_start)
            if match and match.end() > offset:
                end = follower[0] + match.end() - offset
                out[pos] = max(out.get(pos, 0), end)

    def _bridged(self, regex: re.Pattern[str], within: set[int] | None) -> list[tuple[int, int]]:
        """For a pattern that may start anywhere: its matches that run from an antecedent into its follower."""
        found: dict[int, int] = {}
        for antecedent, follower, clause in self.bridges:
            if within is not None and clause not in within:
                continue
            joined, offset = self._joined(antecedent, follower)
            for match in regex.finditer(joined):
                if match.start() < offset <= match.end() - 1:
                    pos = antecedent[0] + match.start()
                    found[pos] = max(found.get(pos, 0), follower[0] + match.end() - offset)
        return sorted(found.items())

    def _head_positions(self, head: str) -> dict[int, dict[int, int]]:
        """The words that begin with ``head``, by clause: ``{clause index: {offset: stop}}`` in text order;
        ``stop`` is where a match starting there must end at the latest (the next ``MATCH_STOPS``
        character). Grouped by clause, the places in a rule's topic clauses are found without looking
        at the others.

        A head is one word ("resili": every word that begins with it and shares its first three letters)
        or a word of STOP_WORDS and the beginning of the next word ("a tout": the word "a" followed by a
        word that begins with "tout" and shares its first three letters)."""
        found = self._heads.get(head)
        if found is None:
            by_key, after_stop = self._word_index()
            first, _, second = head.partition(" ")
            if second:
                words, wanted = after_stop.get(first, {}), second
            else:
                words, wanted = by_key.get(head[:3], {}), head
            positions = sorted(pos for word, starts in words.items()
                               if word[:3] == wanted[:3] and word.startswith(wanted) for pos in starts)
            if self._stops is None:
                self._stops = [m.start() for m in MATCH_STOPS.finditer(self.folded)] + [len(self.folded)]
            starts, stops = self.clause_starts, self._stops
            found = {}
            for pos in positions:
                clause = bisect.bisect_right(starts, pos) - 1
                found.setdefault(clause, {})[pos] = stops[bisect.bisect_right(stops, pos)]
            self._heads[head] = found
        return found

    def _indexed(self, regex: re.Pattern[str], pieces, within: set[int] | None) -> list[tuple[int, int]]:
        folded = self.folded
        found: dict[int, int] = {}
        bridged: dict[int, int] = {}
        in_antecedent = self._in_antecedent
        for heads, part, required in pieces:
            candidates: dict[int, int] = {}  # where to try the pattern -> its stop
            for head in heads:
                places = self._head_positions(head)
                for clause in (places if within is None else within.intersection(places)):
                    candidates.update(places[clause])
            checks = required.checks if required is not None else ()
            for pos in sorted(candidates):
                stop = candidates[pos]
                if in_antecedent[pos]:
                    # may run on into the sentence read with this one: past ``stop``, so unchecked
                    self._bridge_match(part, pos, bridged)
                # cheap checks first: the regex runs only if none of them fails (for ... else)
                for check in checks:
                    if check.search(folded, pos, stop) is None:
                        break
                else:
                    match = part.match(folded, pos)
                    if match and match.end() > pos:
                        found[pos] = max(found.get(pos, 0), match.end())
        spans = []
        last = -1
        for pos in sorted(found):
            if pos >= last:
                spans.append((pos, found[pos]))
                last = found[pos]
        if bridged:
            # a match that runs into a following sentence overlaps the ones in between: kept apart
            spans.extend((pos, end) for pos, end in sorted(bridged.items()) if found.get(pos, -1) < end)
        return spans

    def prepare(self, rules: list[Rule]) -> None:
        """Build what the rules share: the word index, the places where their patterns start, the numbers.

        :func:`apply_all` calls this before it forks, so that the child inherits this work instead of
        doing it again (measured on the 102-page benchmark contract: about 0.13 s of CPU saved)."""
        for rule in rules:
            regexes = [rule.topic] + [q.anchors for q in rule.quantities.values()]
            for signal in rule.signals.values():
                regexes.append(signal.regex)
                regexes.extend(signal.together[:1])
            for regex in regexes:
                for heads, _part, _required in PATTERN_HEADS.get(regex) or ():
                    for head in heads:
                        self._head_positions(head)
            for qdef in rule.quantities.values():
                self.numbers(qdef.kind)

    def numbers(self, kind: str) -> list[Quantity]:
        if kind not in self._numbers:
            self._numbers[kind] = FINDERS[kind](self.folded)
        return self._numbers[kind]

    # -------------------------------------------------------------- parties

    def _party_regex(self) -> re.Pattern[str]:
        """The parties' names, with the aliases the contract defines (« ci-après "DemoSanté" ») and
        the brand names it uses without defining them (a word in CamelCase, « MedicaSoft s'engage… »,
        is taken for the vendor: a doctor or a practice is not named that way)."""
        known = _known_party_word(self.language)
        aliases = []
        for match in re.finditer(r"ci-?apres,?\s+(?:(?:denomme|designe|appele)e?s?\s+)?\"?\s*"
                                 r"(?:le |la |l'|les )?([a-z][\w-]{2,30})", self.folded):
            alias = match.group(1)
            if not known.fullmatch(alias) and alias not in ("le", "la", "les", "denomme", "designe", "appele"):
                aliases.append(alias)
        for brand in set(_BRAND.findall(self.text)):
            alias = fold_title(brand)
            if not known.fullmatch(alias):
                aliases.append(alias)
        return _party_words(self.language, tuple(sorted(set(aliases))))

    def _actors(self, sentence: tuple[int, int]) -> list[tuple[int, str]]:
        """(position, side) of the parties acting in a sentence (subjects of a verb, agents of a passive)."""
        if sentence in self._actor_cache:
            return self._actor_cache[sentence]
        start, end = sentence
        text = self.folded[start:end]
        verbs, agents = _actor_regexes(self.language)
        found = []
        for match in self.party_re.finditer(text):
            side = match.lastgroup or "both"
            after = text[match.end():match.end() + 80]
            before = text[max(0, match.start() - 40):match.start()]
            if match.group(0) in ("nous", "vous") and _OBJECT_PRONOUN_BEFORE.search(before):
                continue
            if verbs.match(after) or agents.search(before):
                found.append((start + match.start(), side))
        self._actor_cache[sentence] = found
        return found

    def actor(self, pos: int) -> str | None:
        """Side of the party acting at ``pos``: client, vendor, both, or None when unknown."""
        acting = self._actors(self.sentence_at(pos))
        if not acting:
            return None
        before = [a for a in acting if a[0] <= pos]
        return (before[-1] if before else acting[0])[1]

    @staticmethod
    def actor_ok(wanted: str | None, actual: str | None) -> bool:
        if wanted is None or actual is None or actual == "both":
            return True
        return wanted == actual

    # -------------------------------------------------------------- negation and exceptions

    def sentence_has(self, regex: re.Pattern[str], sentence: tuple[int, int]) -> bool:
        """Whether ``regex`` occurs in a sentence (remembered: several rules ask the same)."""
        return self.first_in_sentence(regex, sentence) is not None

    def first_in_sentence(self, regex: re.Pattern[str], sentence: tuple[int, int]) -> tuple[int, int] | None:
        """Span of the first match of ``regex`` in a sentence (remembered: several rules, and the
        several words of a ``together`` group's first list, ask the same sentence again)."""
        key = (id(regex), sentence)
        if key not in self._first_cache:
            match = regex.search(self.folded, sentence[0], sentence[1])
            self._first_cache[key] = match.span() if match else None
        return self._first_cache[key]

    def first_in_context(self, regex: re.Pattern[str], sentence: tuple[int, int]) -> tuple[int, int] | None:
        """As :meth:`first_in_sentence`, also looking in the sentences read with this one (a list's
        lead-in and its items; the sentence a "Cette …" points back at)."""
        span = self.first_in_sentence(regex, sentence)
        if span is None:
            for other in self.related.get(sentence, ()):
                span = self.first_in_sentence(regex, other)
                if span is not None:
                    break
        return span

    def negated(self, start: int, end: int) -> bool:
        key = (start, end)
        found = self._neg_cache.get(key)
        if found is None:
            found = self._neg_cache[key] = self._negated(start, end)
        return found

    def _negated(self, start: int, end: int) -> bool:
        """A negation word just before the match, a sentence-wide one earlier in the sentence
        ("s'interdit de …"), or a negation right after the match's first word ("le renouvellement
        n'est pas automatique")."""
        sent_start, sent_end = self.sentence_at(start)
        lang = self.language
        prefix = self.folded[sent_start:start]
        scope_end = None
        for scope_end in _NEGATION_SCOPE_END.finditer(prefix):
            pass
        if scope_end is not None:
            prefix = prefix[scope_end.end():]
        before = _SANS_CLOSED.sub(" ", _RESTRICTIVE_NE.sub(" ", _EXPLETIVE_NE.sub(r"\1", prefix[-160:])))
        words = before.split()
        window = " ".join(words[-lang.negation_words:]) if words else ""
        if window and lang.negation_before.search(" " + window + " "):
            return True
        if lang.negation_sentence is not None and lang.negation_sentence.search(prefix):
            return True
        first_word = re.match(r"\S+", self.folded[start:end])
        after_start = start + (first_word.end() if first_word else 0)
        after = self.folded[after_start:sent_end]
        head = " ".join(after.split()[:7])
        if head and lang.negation_after.search(head):
            return True
        if end > sent_end:
            # a match that runs on into a sentence read with this one ("… recours à un sous-traitant ; il
            # ne peut y procéder a posteriori …"): a negation in that sentence, before the match ends, counts
            follower = self.sentence_at(end - 1)
            if follower[0] >= sent_end:
                words = self.folded[follower[0]:end].split()
                return bool(words and lang.negation_before.search(" " + " ".join(words) + " "))
        return False

    def excepted_by(self, regex: re.Pattern[str], start: int, end: int) -> bool:
        """True when a "sauf" / "à l'exception de" after the match is followed by ``regex``."""
        _s, sent_end = self.sentence_at(start)
        after = self.folded[end:sent_end]
        cue = self.language.exception_cues.search(after)
        return bool(cue and regex.search(after, cue.end()))

    # -------------------------------------------------------------- rule application

    def topic(self, rule: Rule) -> tuple[list[int], set[int]]:
        """Clauses on the rule's topic, and those found by their words (not only by their heading)."""
        content: set[int] = set()
        if rule.topic is not None:
            for start, end in self.matches(rule.topic):
                if self.in_heading(start):
                    continue
                if rule.topic_exclude is not None and self.sentence_has(rule.topic_exclude, self.sentence_at(start)):
                    continue
                content.add(self.clause_at(start))
        by_heading: set[int] = set()
        if rule.topic_headings is not None:
            seen: dict[str, bool] = {}
            for index, heading in enumerate(self.heading_folded):
                if not heading:
                    continue
                hit = seen.get(heading)
                if hit is None:
                    hit = seen[heading] = bool(rule.topic_headings.search(heading))
                if hit:
                    by_heading.add(index)
        return sorted(content | by_heading), content

    def lying_headings(self, rule: Rule, content: set[int]) -> list[int]:
        """Clauses whose own title announces the rule's topic while neither they nor the clauses
        under them say a word of it (a "Réversibilité" article about the patients' access rights)."""
        if rule.topic_headings is None:
            return []
        lying = []
        for index, clause in enumerate(self.clauses):
            if not clause.title or not rule.topic_headings.search(self.title_folded[index]):
                continue
            group = [index]
            for j in range(index + 1, len(self.clauses)):
                if self.clauses[j].level <= clause.level:
                    break
                group.append(j)
            text = " ".join(self.folded[self.clauses[j].heading_end:self.clauses[j].end] for j in group).strip()
            if len(text.split()) < 5:
                continue  # an empty heading is not a lie
            if not any(j in content for j in group):
                lying.append(index)
        return lying

    def signal_hits(self, signal: Signal, allowed: set[int] | None) -> list[Hit]:
        hits: list[Hit] = []
        candidates: list[tuple[int, int]] = []
        if signal.regex is not None:
            candidates.extend(self.matches(signal.regex, allowed))
        parts: dict[tuple[int, int], list[tuple[int, int]]] = {}
        if signal.together:
            first = self.matches(signal.together[0], allowed)
            for start, end in first:
                sent = self.sentence_at(start)
                spans = [(start, end)]
                for other in signal.together[1:]:
                    span = self.first_in_context(other, sent)
                    if span is None:
                        spans = []
                        break
                    spans.append(span)
                if spans:
                    span = (min(s for s, _ in spans), max(e for _, e in spans))
                    candidates.append(span)
                    parts[span] = spans[:1]  # negation is judged on the first group's word
        seen = set()
        for start, end in sorted(candidates):
            clause = self.clause_at(start)
            if allowed is not None and clause not in allowed:
                continue
            if self.in_heading(start):
                continue
            sent = self.sentence_at(start)
            if (sent, signal.name) in seen:
                continue
            if signal.negation != "ignore":
                pieces = parts.get((start, end), [(start, end)])
                negs = [self.negated(s, e) for s, e in pieces]
                if (signal.negation == "drop" and any(negs)) or (signal.negation == "only" and not any(negs)):
                    continue
            if signal.unless is not None and self.sentence_has(signal.unless, sent):
                continue
            if signal.void_if_excepted is not None and self.excepted_by(signal.void_if_excepted, start, end):
                continue
            if signal.actor and not self.actor_ok(signal.actor, self.actor(start)):
                continue
            seen.add((sent, signal.name))
            hits.append(Hit(signal.name, clause, start, end, sent))
        return hits

    def quantity_hits(self, qdef: QuantityDef, allowed: set[int] | None) -> list[Hit]:
        numbers = self.numbers(qdef.kind)
        starts = [q.start for q in numbers]
        hits = []
        used: set[int] = set()
        for a_start, a_end in self.matches(qdef.anchors, allowed):
            clause = self.clause_at(a_start)
            if allowed is not None and clause not in allowed:
                continue
            if self.in_heading(a_start):  # as for signals: a heading names a topic, its body decides
                continue
            sent = self.sentence_at(a_start)
            if qdef.exclude is not None and self.sentence_has(qdef.exclude, sent):
                continue
            if qdef.require is not None and not self.sentence_has(qdef.require, sent):
                continue
            best: Quantity | None = None
            best_gap = None
            lo = bisect.bisect_left(starts, max(sent[0], a_start - qdef.distance))
            for q in numbers[lo:]:
                if q.start >= sent[1] or q.start > a_end + qdef.distance:
                    break
                if q.end > sent[1]:
                    continue
                if qdef.not_followed_by is not None and qdef.not_followed_by.match(
                        self.folded, q.end, min(sent[1], q.end + 40)):
                    continue
                if qdef.not_preceded_by is not None and qdef.not_preceded_by.search(
                        self.folded, max(sent[0], q.start - 40), q.start):
                    continue
                if q.start >= a_end - 1 and qdef.side in ("after", "both"):
                    gap = q.start - a_end
                elif q.end <= a_start + 1 and qdef.side in ("before", "both"):
                    gap = a_start - q.end + 1
                else:
                    continue
                if gap > qdef.distance:
                    continue
                if best_gap is None or gap < best_gap:
                    best, best_gap = q, gap
            if best is None or best.start in used:
                continue
            if qdef.actor and not self.actor_ok(qdef.actor, self.actor(a_start)):
                continue
            used.add(best.start)
            hits.append(Hit(qdef.name, clause, best.start, best.end, sent, best))
        return hits

    def apply(self, rule: Rule, *, document: bool = True, today: int | None = None) -> Outcome:
        """The rule's verdict. ``document=False`` (one clause judged alone, as in the corpus
        evaluation) skips the verdicts marked ``document_only``."""
        topic_clauses, content = self.topic(rule)
        allowed = set(topic_clauses)
        hits: dict[str, list[Hit]] = {}
        for name, signal in rule.signals.items():
            scope = None if signal.scope == "document" else allowed
            if scope is not None and not scope:
                hits[name] = []
                continue
            hits[name] = self.signal_hits(signal, scope)
        quantities: dict[str, Hit] = {}
        for name, qdef in rule.quantities.items():
            scope = None if qdef.scope == "document" else allowed
            if scope is not None and not scope:
                continue
            found = self.quantity_hits(qdef, scope)
            if found:
                if qdef.pick == "max":
                    chosen = max(found, key=lambda h: h.value.value)
                elif qdef.pick == "min":
                    chosen = min(found, key=lambda h: h.value.value)
                else:
                    chosen = found[0]
                quantities[name] = chosen
        lying = self.lying_headings(rule, content)
        heading_only = bool(lying)
        if lying:
            hits["heading_only"] = [self._first_sentence_hit("heading_only", i) for i in lying]
        ctx: dict[str, Any] = {name: bool(h) for name, h in hits.items()}
        ctx.update({name: hit.value.value for name, hit in quantities.items()})
        ctx["heading_only"] = heading_only
        ctx["topic_content"] = bool(content)
        ctx["date_du_jour"] = float(today if today is not None else _today())
        addenda = []
        for addendum in rule.addenda:
            if addendum.when.func(ctx):
                names = addendum.when.names
                shown = [h for n in names for h in hits.get(n, [])[:2]]
                addenda.append({"status": addendum.status, "message": addendum.message, "key": addendum.key,
                                "references": addendum.references, "hits": shown})
        if not topic_clauses:
            return Outcome(rule, rule.absent_status, rule.absent_message, rule.severity, False, "absent",
                           [], hits, quantities, [], False, addenda)
        chosen: Outcome | None = None
        chosen_names: tuple[str, ...] = ()
        for verdict in rule.verdicts:
            if verdict.document_only and not document:
                continue
            if chosen is not None and (verdict.status not in ("fail", "warn") or not verdict.when.names):
                continue
            if verdict.when.func(ctx):
                evidence = self._evidence(verdict.evidence or verdict.when.names, hits, quantities, topic_clauses)
                message = self._format(verdict.message, rule, quantities, hits)
                if verdict.list_missing:
                    missing = [rule.signals[n].label for n in verdict.list_missing if not hits.get(n)]
                    if missing:
                        message = f"{message} Manque : {' ; '.join(missing)}."
                if chosen is None:
                    chosen_names = verdict.when.names
                    chosen = Outcome(rule, verdict.status, message, verdict.severity or rule.severity,
                                     bool(topic_clauses), verdict.key, topic_clauses, hits, quantities, evidence,
                                     heading_only, addenda)
                    if verdict.status not in ("fail", "warn"):
                        break
                elif len(chosen.others) < 3 and not set(verdict.when.names) <= set(chosen_names):
                    # a further problem on the same rule, reported beside the main verdict
                    chosen.others.append({"status": verdict.status, "message": message, "key": verdict.key,
                                          "severity": verdict.severity or rule.severity, "evidence": evidence})
        if chosen is not None:
            return chosen
        evidence = self._evidence((), hits, quantities, topic_clauses)
        return Outcome(rule, "pass", "", rule.severity, bool(topic_clauses), "default", topic_clauses, hits,
                       quantities, evidence, heading_only, addenda)

    def _first_sentence_hit(self, name: str, index: int) -> Hit:
        clause = self.clauses[index]
        body = clause.heading_end if clause.heading_end < clause.end else clause.start
        sents = sentences(self.folded, body, clause.end) or [(clause.start, clause.end)]
        return Hit(name, index, sents[0][0], sents[0][1], sents[0])

    def _evidence(self, names, hits, quantities, topic_clauses) -> list[Hit]:
        out: list[Hit] = []
        for name in names:
            if name in quantities:
                out.append(quantities[name])
            for hit in hits.get(name, [])[:3]:
                out.append(hit)
        if not out:
            for index in topic_clauses[:3]:
                out.append(self._first_sentence_hit("topic", index))
        unique: dict[tuple[int, int], Hit] = {}
        for hit in out:
            unique.setdefault(hit.sentence, hit)
        return sorted(unique.values(), key=lambda h: h.start)[:4]

    @staticmethod
    def _format(message: str, rule: Rule, quantities: dict[str, Hit], hits: dict[str, list[Hit]]) -> str:
        values = {name: describe(hit.value) for name, hit in quantities.items()}

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            return values.get(name, "non précisé")

        return re.sub(r"\{(\w+)\}", repl, message).strip()


#: From this length (about 35 pages) half of the rules run in a forked process while this one runs
#: the other half: the rules are independent and the document is already in memory.
SPLIT_FROM_CHARS = 100_000


def _apply_child(analysis: "Analysis", rules: list[Rule], document: bool, today: int | None, conn) -> None:
    """In the forked process: the outcomes without their rule (rules hold functions, which do not pickle)."""
    try:
        conn.send({rule.id: dataclasses.replace(analysis.apply(rule, document=document, today=today), rule=None)
                   for rule in rules})
    except Exception:  # noqa: BLE001 - the parent applies these rules itself
        pass
    finally:
        conn.close()


def apply_all(analysis: "Analysis", rules: dict[str, Rule], *, document: bool = True, today: int | None = None,
              timeout: float = 120.0) -> dict[str, Outcome]:
    """Every rule's outcome, in the order of ``rules``.

    On a long document and a machine with two CPUs or more, every other rule is applied in a
    forked child while this process applies the rest. Whatever the child does not send back in
    time (crash, deadline) is applied here: the result is the same, only slower.

    Every other rule is a fair split: on the 102-page benchmark contract the two halves cost 0.21 s
    and 0.22 s of CPU (after 0.12 s of :meth:`Analysis.prepare`), while a split by an estimate of each
    rule's work (the places its patterns are tried at) was measured worse.
    """
    ids = list(rules)

    def here(rid: str) -> Outcome:
        return analysis.apply(rules[rid], document=document, today=today)

    if len(analysis.folded) < SPLIT_FROM_CHARS or available_cpus() < 2 or len(ids) < 2:
        return {rid: here(rid) for rid in ids}
    analysis.prepare(list(rules.values()))  # shared work, done once: the child inherits it
    theirs, received = ids[1::2], {}
    try:
        ctx = multiprocessing.get_context("fork")
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_apply_child, args=(analysis, [rules[r] for r in theirs], document, today, sender),
                            daemon=True)
        child.start()
        sender.close()
    except (ValueError, OSError):  # no fork on this platform, or no process left
        return {rid: here(rid) for rid in ids}
    outcomes = {rid: here(rid) for rid in ids[0::2]}
    try:
        if receiver.poll(timeout):
            received = receiver.recv()
    except (EOFError, OSError, pickle.UnpicklingError):
        received = {}
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    for rid in theirs:
        outcome = received.get(rid)
        outcomes[rid] = dataclasses.replace(outcome, rule=rules[rid]) if outcome is not None else here(rid)
    return {rid: outcomes[rid] for rid in ids}


def _today() -> int:
    import datetime

    day = datetime.date.today()
    return day.year * 10000 + day.month * 100 + day.day


def analyse(doc: Document, pack: RulePackData, rule_ids: list[str] | None = None, *, document: bool = True,
            today: int | None = None) -> dict[str, Outcome]:
    """Every rule's outcome on a document."""
    analysis = Analysis(doc, pack)
    ids = rule_ids or list(pack.rules)
    return apply_all(analysis, {rid: pack.rules[rid] for rid in ids}, document=document, today=today)


@dataclass
class Quote:
    """A located quote, ready for :class:`harness.Evidence`."""

    text: str
    page: int | None
    clause: str
    start: int
    end: int
    match: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def quote(analysis_doc: Document, clauses: list[Clause], hit: Hit, max_chars: int = 700) -> Quote:
    """The sentence around a hit, as it reads in the normalised text, with its location in the raw text."""
    start, end = hit.sentence
    if end - start > max_chars:
        centre = (hit.start + hit.end) // 2
        start = max(start, centre - max_chars // 2)
        end = min(end, start + max_chars)
    text = re.sub(r"\s+", " ", analysis_doc.text[start:end]).strip()
    page, raw_start, raw_end = analysis_doc.locate(start, end)
    clause = clauses[hit.clause]
    return Quote(text, page if analysis_doc.paginated else None, clause.display(), raw_start, raw_end,
                 re.sub(r"\s+", " ", analysis_doc.text[hit.start:hit.end]).strip())
