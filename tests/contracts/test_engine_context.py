"""Sentences read with another one: a list item with its lead-in, a sentence that points back with
"Cette …" / "Celle-ci …", abbreviations that do not end a sentence."""

from __future__ import annotations


def test_a_list_item_is_read_with_its_lead_in(judge):
    """The price is in the lead-in, the export in the third item."""
    text = ("Prestations complémentaires payantes :\n"
            "– formation supplémentaire ;\n"
            "– paramétrage d'ordonnances-types ;\n"
            "– extraction de la base patients en fin de contrat ;\n"
            "– reprise de données depuis un autre logiciel.")
    outcome = judge(text, "reversibility.cost", document=False)
    assert outcome.clause_found and outcome.status == "fail", outcome.message


def test_list_items_are_not_read_with_each_other(judge):
    """Each item goes with the lead-in, not with its neighbours: the price of the training is not
    the price of the export."""
    text = ("Le Prestataire assure les prestations suivantes :\n"
            "– l'export des données du Client en fin de contrat ;\n"
            "– la formation des nouveaux utilisateurs, facturée 300 € HT par session.")
    outcome = judge(text, "reversibility.cost", document=False)
    assert outcome.status != "fail", outcome.message
