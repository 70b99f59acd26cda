"""Scorecard v1: validated on write and load, with errors that name the JSON path."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core_support import toy_audit, toy_profile
from harness import scorecard
from harness.cli import EXIT_USAGE, cli


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return toy_audit(toy_profile(tmp_path_factory.mktemp("card"), {"a.txt": "OK", "b.txt": "FAIL"}))


@pytest.mark.parametrize("path, value, expected", [
    (("results", 1, "status"), "maybe", "scorecard invalid at results/1/status: 'maybe' is not one of"),
    (("run", "started_at"), "yesterday", 'scorecard invalid at run/started_at: "yesterday" is not a "date-time"'),
    (("scores", "overall", "score"), 11, "scorecard invalid at scores/overall/score: 11 is greater than the maximum"),
    (("schema_version",), "2.0", "scorecard schema version '2.0' is not supported"),
])
def test_invalid_scorecards_are_refused_with_their_path(card, path, value, expected):
    bad = json.loads(json.dumps(card))
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(scorecard.ScorecardError) as info:
        scorecard.validate(bad)
    assert str(info.value).startswith(expected), str(info.value)


def test_write_load_round_trip_is_canonical(card, tmp_path):
    path = scorecard.write(card, tmp_path / "scorecard.json")
    text = path.read_text(encoding="utf-8")
    assert scorecard.load(path) == card
    assert scorecard.dumps(scorecard.load(path)) == text


def test_validate_scorecard_command(card, tmp_path):
    good = scorecard.write(card, tmp_path / "good.json")
    result = CliRunner().invoke(cli, ["validate-scorecard", str(good)])
    assert result.exit_code == 0 and "valid scorecard 1.0 for ToyCabinet" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text(good.read_text()[:-40])
    result = CliRunner().invoke(cli, ["validate-scorecard", str(broken)])
    assert result.exit_code == EXIT_USAGE and "cannot read scorecard" in result.output
