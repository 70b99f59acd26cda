"""Precision and recall of every rule on the labelled clause corpus.

Each corpus clause is analysed alone, as a one-clause document (verdicts about
the contract as a whole are skipped). A rule *flags* a clause when it finds the
clause on its topic and its verdict is ``fail`` or ``warn``; a clause is
*positive* for a rule when its label for that rule is ``fail`` or ``warn``.
Clauses without a label for a rule are negatives for it. Precision and recall
are reported per rule and per split (``dev`` was used to write the rules,
``heldout`` never was).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .engine import Analysis
from .extract import from_text
from .rules import RulePackData, default_pack

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
FLAGS = ("fail", "warn")
# The evaluation date is fixed so that the figures do not move with the calendar.
EVAL_DAY = 20260601


@dataclass
class Clause:
    id: str
    split: str
    text: str
    labels: dict[str, str]
    source: str
    note: str = ""


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    found: int = 0
    labelled: int = 0
    exact: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def add(self, other: "Counts") -> None:
        for name in ("tp", "fp", "fn", "tn", "found", "labelled", "exact"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


def load_corpus(directory: Path = CORPUS_DIR) -> list[Clause]:
    clauses: list[Clause] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for raw in data.get("clause", []):
            cid = raw["id"]
            if cid in seen:
                raise ValueError(f"{path.name}: duplicate clause id {cid!r}")
            seen.add(cid)
            split = raw.get("split", "dev")
            if split not in ("dev", "heldout"):
                raise ValueError(f"{path.name} {cid}: split must be dev or heldout")
            labels = dict(raw.get("labels", {}))
            for rule_id, label in labels.items():
                if label not in ("fail", "warn", "pass"):
                    raise ValueError(f"{path.name} {cid}: label {label!r} for {rule_id} is not fail, warn or pass")
            clauses.append(Clause(cid, split, raw["text"], labels, path.name, raw.get("note", "")))
    return clauses


def evaluate(pack: RulePackData | None = None, clauses: list[Clause] | None = None,
             splits: tuple[str, ...] = ("dev", "heldout")) -> dict[str, dict[str, Counts]]:
    """``{split: {rule_id: Counts}}`` over the corpus."""
    pack = pack or default_pack()
    clauses = load_corpus() if clauses is None else clauses
    for clause in clauses:
        unknown = set(clause.labels) - set(pack.rules)
        if unknown:
            raise ValueError(f"{clause.id}: labels name unknown rule(s) {', '.join(sorted(unknown))}")
    results: dict[str, dict[str, Counts]] = {s: {r: Counts() for r in pack.rules} for s in splits}
    for clause in clauses:
        if clause.split not in results:
            continue
        analysis = Analysis(from_text(clause.text, f"{clause.id}.txt"), pack)
        for rule_id, rule in pack.rules.items():
            outcome = analysis.apply(rule, document=False, today=EVAL_DAY)
            counts = results[clause.split][rule_id]
            flagged = outcome.clause_found and outcome.status in FLAGS
            label = clause.labels.get(rule_id)
            positive = label in FLAGS
            if label is not None:
                counts.labelled += 1
                counts.found += int(outcome.clause_found)
                shown = outcome.status if outcome.clause_found else "absent"
                counts.exact += int(shown == label or (label == "pass" and shown in ("absent", "not_applicable")))
            if flagged and positive:
                counts.tp += 1
            elif flagged:
                counts.fp += 1
                counts.errors.append(f"FP {clause.id} ({clause.split}): {outcome.status} — {outcome.message}")
            elif positive:
                counts.fn += 1
                counts.errors.append(f"FN {clause.id} ({clause.split}): expected {label}, got "
                                     f"{outcome.status if outcome.clause_found else 'absent'} — {outcome.message}")
            else:
                counts.tn += 1
    return results


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:5.2f}"


def report(results: dict[str, dict[str, Counts]], goal: float = 0.9, verbose: bool = False) -> tuple[str, bool]:
    """A printable table, and whether every rule meets the goal on every split."""
    lines: list[str] = []
    ok = True
    rules = sorted(next(iter(results.values())))
    header = f"{'rule':<30}" + "".join(
        f" | {split:^27}" for split in results) + ""
    sub = f"{'':<30}" + "".join(" |   P     R    n+  n-  exact" for _ in results)
    lines += [header, sub, "-" * len(sub)]
    totals = {split: Counts() for split in results}
    for rule_id in rules:
        row = f"{rule_id:<30}"
        for split, by_rule in results.items():
            c = by_rule[rule_id]
            totals[split].add(c)
            exact = f"{c.exact}/{c.labelled}" if c.labelled else "-"
            row += f" | {_fmt(c.precision)} {_fmt(c.recall)} {c.tp + c.fn:3d} {c.fp + c.tn:3d} {exact:>6}"
            for value in (c.precision, c.recall):
                if value is not None and value < goal:
                    ok = False
        lines.append(row)
    lines.append("-" * len(sub))
    row = f"{'all rules (micro)':<30}"
    for split in results:
        c = totals[split]
        exact = f"{c.exact}/{c.labelled}" if c.labelled else "-"
        row += f" | {_fmt(c.precision)} {_fmt(c.recall)} {c.tp + c.fn:3d} {c.fp + c.tn:3d} {exact:>6}"
    lines.append(row)
    if verbose:
        for split, by_rule in results.items():
            for rule_id in rules:
                for error in by_rule[rule_id].errors:
                    lines.append(f"  [{rule_id}] {error}")
    return "\n".join(lines), ok
