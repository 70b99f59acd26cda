"""The rule pack as data: loading, the pattern language, verdict expressions, errors that name the file."""

from __future__ import annotations

import re
import shutil

import pytest

from harness_plugins.contracts.rules import PACK_DIR, RuleError, load_pack, parse_expr, translate_pattern


def test_pack_loads_with_version_and_rules(pack):
    assert pack.name == "lgc-contracts" and re.match(r"\d+\.\d+\.\d+$", pack.version)
    assert len(pack.rules) == 18
    for rule in pack.rules.values():
        assert rule.titre and rule.explication and rule.verdicts and rule.searched
        assert rule.path.name == f"{rule.id}.toml"


@pytest.mark.parametrize("pattern, text, found", [
    ("préavis", "PREAVIS", True),
    ("résili*", "la résiliation", True),
    ("(tacite reconduction|reconduction tacite)", "la reconduction  tacite", True),
    ("renouvel* ~3~ tacitement", "renouvelé chaque année, tacitement", True),
    ("renouvel* ~3~ tacitement", "renouvelé. Tacitement", False),
    ("droit ~2~ audit", "droit d'audit", True),
    ("mois", "moisson", False),
    ("formats?", "format", True),
])
def test_pattern_language(pattern, text, found):
    from harness_plugins.contracts.text import fold

    assert bool(re.search(translate_pattern(pattern), fold(text))) is found


def test_expressions_with_units_and_quantities():
    known, quantities = {"a", "b", "q", "r"}, {"q", "r"}
    expr = parse_expr("a and (q > 2 mois or not b)", known, quantities, "test")
    assert expr.func({"a": True, "q": 91.0}) and not expr.func({"a": True, "q": 60.0, "b": True})
    assert parse_expr("q < r", known, quantities, "t").func({"q": 1.0, "r": 2.0})
    assert parse_expr("q <= 1000 €", known, quantities, "t").func({"q": 500.0})
    assert parse_expr("a et non b", known, quantities, "t").func({"a": True, "b": False})


@pytest.mark.parametrize("source, message", [
    ("a and", "ends too early"),
    ("unknown_name", "neither a signal nor a quantity"),
    ("a > 2 mois", "only quantities can be compared"),
    ("(a", "ends too early"),
    ("(a b)", "missing ')'"),
])
def test_expression_errors(source, message):
    with pytest.raises(RuleError, match=re.escape(message)):
        parse_expr(source, {"a", "q"}, {"q"}, "x.toml [[verdict]] #1")


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace('severity = "high"', 'severity = "terrible"', 1), "renewal.tacit.toml.severity"),
    (lambda s: s + '\n[signals.bad]\nlabel = "x"\npatterns = ["("]\n', "is not valid"),
    (lambda s: s.replace('references = [', 'references = ["NOPE:1", ', 1), "'NOPE:1' is not in references.toml"),
    (lambda s: s + '\nsurprise = 1\n', "unknown key(s) surprise"),
    (lambda s: s + '\n[signals.gap]\npatterns = ["a ~2~ (b )?c"]\n', "optional group"),
])
def test_broken_rule_files_are_reported_with_their_name(tmp_path, edit, message):
    folder = tmp_path / "pack"
    shutil.copytree(PACK_DIR, folder)
    path = folder / "renewal.tacit.toml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(RuleError, match=re.escape(message)):
        load_pack(folder)
