"""``harness contracts``: evaluate the rule pack on the labelled corpus, analyse a contract file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group("contracts")
def contracts_group() -> None:
    """Contract clauses: evaluate the rule pack, analyse a contract."""


@contracts_group.command("eval")
@click.option("--split", type=click.Choice(["dev", "heldout", "all"]), default="all", show_default=True,
              help="Which part of the corpus to measure (dev was used to write the rules, heldout never was).")
@click.option("--rules", "rules_path", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Another rule pack folder (default: the built-in pack).")
@click.option("--corpus", "corpus_path", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Another labelled corpus folder (default: the built-in corpus).")
@click.option("--goal", type=float, default=0.9, show_default=True, help="Precision and recall goal per rule.")
@click.option("--strict", is_flag=True, help="Exit 1 when a rule misses the goal.")
@click.option("-v", "--verbose", is_flag=True, help="List every false positive and false negative.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
def eval_cmd(split: str, rules_path: Path | None, corpus_path: Path | None, goal: float, strict: bool,
             verbose: bool, as_json: bool) -> None:
    """Print precision and recall per rule on the labelled clause corpus."""
    from .evaluate import CORPUS_DIR, evaluate, load_corpus, report
    from .rules import default_pack, load_pack

    pack = load_pack(rules_path) if rules_path else default_pack()
    clauses = load_corpus(corpus_path or CORPUS_DIR)
    splits = ("dev", "heldout") if split == "all" else (split,)
    results = evaluate(pack, clauses, splits)
    text, ok = report(results, goal=goal, verbose=verbose)
    if as_json:
        data = {s: {r: {"precision": c.precision, "recall": c.recall, "tp": c.tp, "fp": c.fp, "fn": c.fn,
                        "tn": c.tn, "labelled": c.labelled, "exact": c.exact}
                    for r, c in by_rule.items()} for s, by_rule in results.items()}
        click.echo(json.dumps({"rule_pack": {"name": pack.name, "version": pack.version}, "goal": goal,
                               "meets_goal": ok, "results": data}, indent=2))
    else:
        counts = {s: sum(1 for c in clauses if c.split == s) for s in splits}
        click.echo(f"rule pack {pack.name} {pack.version} — corpus: "
                   + ", ".join(f"{n} {s} clauses" for s, n in counts.items()))
        click.echo("P = precision, R = recall of flags (fail or warn); n+ / n- = positive / negative clauses; "
                   "exact = labelled clauses whose verdict matches the label")
        click.echo(text)
        click.echo(f"goal ≥ {goal:.2f} precision and recall for every rule: {'met' if ok else 'NOT met'}")
    if strict and not ok:
        sys.exit(1)


@contracts_group.command("analyse")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rule", "rule_ids", multiple=True, help="Only this rule id (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def analyse_cmd(files: tuple[Path, ...], rule_ids: tuple[str, ...], as_json: bool) -> None:
    """Analyse contract files and print each rule's verdict with its quotes."""
    from .plugin import ContractsTarget, _finding_for

    target = ContractsTarget({"files": [str(f.resolve()) for f in files]}, Path.cwd())
    out = []
    for item_id, item in target.items():
        fa = target.analysis(item_id, item)
        for rule_id, rule in target.pack.rules.items():
            if rule_ids and rule_id not in rule_ids:
                continue
            for finding in _finding_for(target, rule, fa):
                out.append({"file": item_id, "check_id": f"contracts.{rule_id}", **finding.to_dict()})
    if as_json:
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for row in out:
        click.echo(f"{row['status'].upper():<15} contracts.{row['details'].get('rule', '')} [{row['file']}]")
        click.echo(f"    {row['message']}")
        for number in row.get("details", {}).get("numbers_text", []):
            click.echo(f"    - {number}")
        for ev in row.get("evidence", []):
            if ev.get("quote"):
                where = ", ".join(x for x in (f"p. {ev['page']}" if ev.get("page") else "", ev.get("clause", ""),
                                              f"car. {ev.get('start')}-{ev.get('end')}") if x)
                click.echo(f"    « {ev['quote'][:300]} » ({where})")
        click.echo(f"    réf. : {', '.join(row.get('requirement_ids', []))}")
