"""The labelled corpus and ``harness contracts eval``: precision and recall per rule."""

from __future__ import annotations

import json

from click.testing import CliRunner

from harness.cli import cli
from harness_plugins.contracts.evaluate import evaluate, load_corpus

from .test_checks import RULE_IDS


def test_corpus_size_and_labels():
    clauses = load_corpus()
    assert len(clauses) >= 200
    labelled = {rule: {"fail": 0, "warn": 0, "pass": 0} for rule in RULE_IDS}
    for clause in clauses:
        for rule, label in clause.labels.items():
            labelled[rule][label] += 1
    for rule, counts in labelled.items():
        assert counts["fail"] + counts["warn"] >= 3 and counts["pass"] >= 2, (rule, counts)
    assert {c.split for c in clauses} == {"dev", "heldout"}


def test_dev_split_meets_the_goal(pack):
    results = evaluate(pack, splits=("dev",))["dev"]
    for rule, counts in results.items():
        assert counts.precision is None or counts.precision >= 0.9, (rule, counts.errors)
        assert counts.recall is None or counts.recall >= 0.9, (rule, counts.errors)


def test_eval_command_prints_precision_and_recall():
    result = CliRunner().invoke(cli, ["contracts", "eval"])
    assert result.exit_code == 0, result.output
    assert "dev" in result.output and "heldout" in result.output
    for rule in RULE_IDS:
        assert rule in result.output


def test_eval_command_json():
    result = CliRunner().invoke(cli, ["contracts", "eval", "--json", "--split", "dev"])
    data = json.loads(result.output)
    assert set(data["results"]["dev"]) == set(RULE_IDS)


def test_analyse_command(tmp_path):
    path = tmp_path / "cgv.txt"
    path.write_text("Article 4 - Durée\nLe contrat est reconduit tacitement par périodes de trois ans.",
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["contracts", "analyse", str(path), "--rule", "renewal.tacit"])
    assert result.exit_code == 0, result.output
    assert "FAIL" in result.output and "3 ans" in result.output and "Article 4 - Durée" in result.output
