"""Normalisation keeps every character's origin; French numbers, durations, amounts and dates."""

from __future__ import annotations

import pytest

from harness_plugins.contracts.text import (concat, describe_duration, find_amounts, find_dates, find_durations,
                                            find_percents, fold, normalise, words_to_number)


def test_normalise_french_typography():
    raw = "L\u2019\u00c9diteur \u00ab\u00a0ne\u202fpeut\u00a0\u00bb r\u00e9si-\nlier ; la ﬁn du con\u00adtrat\t\t ici"
    tracked = normalise(raw)
    assert tracked.text == "L'Éditeur \" ne peut \" résilier ; la fin du contrat ici"


def test_combining_accents_are_composed():
    assert normalise("re\u0301siliation").text == "résiliation"


def test_every_character_points_back_to_its_source():
    raw = "  Article 1\u00a0- Dur\u00e9e\n\n\n\nLe  contrat est re-\nconduit \u00ab tacitement \u00bb.  "
    tracked = normalise(raw)
    assert len(tracked.origin) == len(tracked.text)
    for index, char in enumerate(tracked.text):
        source = raw[tracked.origin[index]]
        if char.isalnum():
            assert fold(source) == fold(char), (index, char, source)
    word = tracked.text.index("reconduit")
    assert raw[tracked.origin[word]:tracked.origin[word + len("reconduit") - 1] + 1] == "re-\nconduit"


def test_line_end_hyphen_is_kept_before_a_capital():
    assert normalise("Demo-\nSanté").text == "Demo-\nSanté"


def test_concat_keeps_origins():
    joined = concat([normalise("un"), normalise("deux")], sep="\n")
    assert joined.text == "un\ndeux" and len(joined.origin) == len(joined.text)


def test_fold_keeps_length_and_strips_accents():
    text = "Préavis DE TROIS MOIS — Œuvre, déjà"
    assert len(fold(text)) == len(text)
    assert fold("Préavis À L'ÉCHÉANCE") == "preavis a l'echeance"


@pytest.mark.parametrize("words, value", [
    ("un", 1), ("une", 1), ("douze", 12), ("dix-huit", 18), ("vingt et un", 21), ("vingt-quatre", 24),
    ("trente-six", 36), ("quarante-huit", 48), ("soixante", 60), ("soixante-dix", 70), ("quatre-vingts", 80),
    ("quatre-vingt-dix", 90), ("cent", 100), ("cent vingt", 120), ("cent-vingt", 120), ("deux cents", 200),
    ("mille", 1000), ("trois mille cinq cents", 3500),
])
def test_number_words(words, value):
    assert words_to_number(words) == value


@pytest.mark.parametrize("text, months", [
    ("un préavis de six (6) mois", 6), ("3 mois", 3), ("quatre-vingt-dix jours", 90 / 30.4375),
    ("soixante (60) jours", 60 / 30.4375), ("un an", 12), ("d'un an", 12), ("deux années", 24),
    ("trente-six mois", 36), ("vingt et un trimestres", 63), ("par périodes annuelles", 12),
    ("d'année en année", 12), ("les douze derniers mois", 12), ("six semaines", 42 / 30.4375),
])
def test_durations(text, months):
    found = find_durations(fold(text))
    assert found, text
    assert found[0].months == pytest.approx(months, rel=0.01)


def test_working_days_count_longer():
    assert find_durations(fold("dix jours ouvrés"))[0].value == pytest.approx(14)


def test_amounts_percents_dates():
    assert [a.value for a in find_amounts(fold("un forfait de 1 500 € HT puis 1.500,50 euros et EUR 300"))] \
        == [1500, 1500.5, 300]
    assert [p.value for p in find_percents(fold("3 % ou 2,5 pour cent"))] == [3, 2.5]
    assert [d.value for d in find_dates(fold("le 12 janvier 2027 ou le 01/02/2026"))] == [20270112, 20260201]


def test_describe_duration():
    assert describe_duration(182.6) == "6 mois"
    assert describe_duration(1095.75) == "3 ans"
    assert describe_duration(15) == "15 jours"
