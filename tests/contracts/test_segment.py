"""Segmentation into clauses by their numbering, with titles and parents."""

from __future__ import annotations

from harness_plugins.contracts.segment import heading, segment, sentences
from harness_plugins.contracts.text import fold

TEXT = """CONDITIONS GÉNÉRALES D'ABONNEMENT
Entre les soussignés.
ARTICLE XII
RÉVERSIBILITÉ
Texte de l'article douze.
Article 13 - Durée
13.1 Le contrat est conclu pour un an.
13.2. Il est renouvelé conformément à l'article 3 des présentes,
dans les conditions de l'article 14.
1. Le Client peut résilier.
§ 4 Juridiction
Tout litige.
Art. 15 : Audit
Le Client peut auditer."""


def test_numbering_styles():
    labels = [(c.label, c.title) for c in segment(TEXT)]
    assert labels == [
        ("CONDITIONS GÉNÉRALES D'ABONNEMENT", "CONDITIONS GÉNÉRALES D'ABONNEMENT"),
        ("Article XII", "RÉVERSIBILITÉ"),
        ("Article 13", "Durée"),
        ("13.1", ""),
        ("13.2", ""),
        ("1", ""),
        ("§ 4", "Juridiction"),
        ("Article 15", "Audit"),
    ]


def test_parents_and_body():
    clauses = {c.label: c for c in segment(TEXT)}
    assert clauses["13.1"].parents == ["Durée"]
    assert TEXT[clauses["13.1"].heading_end:clauses["13.1"].end].startswith("Le contrat est conclu")
    assert "Durée" in clauses["1"].parents


def test_references_are_not_headings():
    assert heading("Article 3 des présentes ne s'applique pas.") is None
    assert heading("30 jours après la fin du contrat") is None
    assert heading("2.1 Le Client peut résilier")[0] == "2.1"


def test_a_wrapped_sentence_is_not_a_title():
    text = "8.3 Au terme du contrat, l'Éditeur supprime toutes les données ou les lui\nrenvoie au Client."
    clause = segment(text)[0]
    assert clause.label == "8.3" and clause.title == ""
    assert text[clause.heading_end:].startswith("Au terme")


def test_no_numbering_falls_back_to_paragraphs():
    clauses = segment("Premier paragraphe.\n\nSecond paragraphe.")
    assert [c.label for c in clauses] == ["¶ 1", "¶ 2"]


def test_sentences_ignore_abbreviations_and_numbers():
    folded = fold("Voir l'art. 12.3 du contrat. Le délai est de 1.5 mois ; il court. Fin")
    spans = [folded[s:e] for s, e in sentences(folded)]
    assert spans == ["voir l'art. 12.3 du contrat.", "le delai est de 1.5 mois ;", "il court.", "fin"]
