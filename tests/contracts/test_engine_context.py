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


def test_a_sentence_that_points_back_is_read_with_the_one_before(judge):
    """"Cette prestation" is the return of the sentence before: the flat fee is its price."""
    text = ("Le Prestataire restitue au Client l'intégralité de ses données dans un délai de trente jours "
            "suivant la fin du contrat et les laisse à sa disposition pendant soixante jours. Cette prestation "
            "est facturée au forfait de 1 200 € HT (1 440 € TTC).")
    outcome = judge(text, "reversibility.cost", document=False)
    assert outcome.clause_found and outcome.status == "fail", outcome.message


def test_an_impersonal_il_points_at_nothing(judge):
    text = ("Le Prestataire restitue au Client ses données en fin de contrat. Il est précisé que la formation "
            "des nouveaux utilisateurs est facturée 300 € HT par session.")
    outcome = judge(text, "reversibility.cost", document=False)
    assert outcome.status != "fail", outcome.message


def test_what_the_second_sentence_says_of_its_own_verb_stays_there(judge):
    """"sans délai" is how fast the Client is told, not a change made without notice."""
    text = ("En cas de faille de sécurité avérée, l'Éditeur peut interrompre immédiatement le service, le temps "
            "strictement nécessaire pour y remédier ; il en informe le Client sans délai.")
    outcome = judge(text, "change.unilateral_terms", document=False)
    assert outcome.status != "fail", outcome.message


def test_a_negation_in_the_second_sentence_bears_on_a_match_that_runs_into_it(judge):
    text = ("Le Sous-traitant informe le Responsable de traitement de tout recours envisagé à un nouveau "
            "sous-traitant au moins trente jours à l'avance ; il ne peut y procéder a posteriori sans l'accord "
            "du Client.")
    outcome = judge(text, "gdpr.art28", document=False)
    assert outcome.status != "fail", outcome.message


def _quote(pack, text: str, rule_id: str) -> str:
    """The quote a user sees for the rule's first piece of evidence."""
    from harness_plugins.contracts.engine import Analysis, quote
    from harness_plugins.contracts.extract import from_text

    analysis = Analysis(from_text(text), pack)
    outcome = analysis.apply(pack.rules[rule_id], today=20260601)
    assert outcome.evidence, outcome.message
    return quote(analysis.doc, analysis.clauses, outcome.evidence[0]).text


def test_initials_with_dots_do_not_end_the_sentence(pack):
    text = "Le contrat est conclu avec MediSoft S.A.S. pour une durée ferme et irrévocable de quarante-huit mois."
    assert _quote(pack, text, "term.long_commitment") == text


def test_a_code_citation_does_not_end_the_sentence_but_etc_before_a_capital_does(pack):
    text = ("Conformément à l'art. L. 1111-8 C. santé publ. et à l'art. 28 du RGPD, al. 3, les dossiers, "
            "agendas, etc. sont hébergés par la société HébergeSanté, certifiée HDS. Le Client règle les "
            "redevances, les frais de formation, etc. Le contrat est conclu pour une durée ferme de 36 mois.")
    assert _quote(pack, text, "hds.host").endswith("agendas, etc. sont hébergés par la société HébergeSanté, "
                                                    "certifiée HDS.")
    assert _quote(pack, text, "hds.host").startswith("Conformément à l'art. L. 1111-8")
    assert _quote(pack, text, "term.long_commitment") == "Le contrat est conclu pour une durée ferme de 36 mois."


def test_a_negation_stops_where_a_new_clause_begins(judge):
    """"mais il peut…", ", et le Prestataire peut…": what follows is affirmed, not negated."""
    outcome = judge("Le Client ne peut en aucun cas s'opposer aux modifications, et le Prestataire peut modifier "
                    "les présentes conditions à tout moment.", "change.unilateral_terms", document=False)
    assert outcome.status == "fail", outcome.message
    outcome = judge("Le Prestataire s'interdit de céder les données à des tiers, mais il peut les utiliser pour "
                    "améliorer ses produits.", "data.vendor_use", document=False)
    assert outcome.status == "fail", outcome.message


def test_a_negation_still_covers_a_list_of_objects(judge):
    outcome = judge("Le Prestataire s'interdit de céder les données à des tiers, et notamment de les utiliser pour "
                    "améliorer ses produits.", "data.vendor_use", document=False)
    assert outcome.status != "fail", outcome.message


def test_an_object_pronoun_is_not_the_party_acting(judge):
    """In "il vous suffit de nous en informer", the customer is the one who gives notice; "nous" (the
    vendor) is told: the notice is the customer's."""
    outcome = judge("Vous pouvez résilier votre abonnement à tout moment : il vous suffit de nous en informer "
                    "quinze jours avant la date souhaitée.", "termination.customer_notice")
    assert outcome.status == "pass" and "(15 jours)" in outcome.message, outcome.message


def test_lines_of_an_order_form_are_sentences_of_their_own(judge):
    """No period ends "… : 1 200 € HT (forfait)", but the next line is another entry: its "offerts"
    is not said of the early-termination fee."""
    outcome = judge("Frais de résiliation anticipée : 1 200 € HT (forfait)\nFrais de mise en service : offerts",
                    "termination.early_fees", document=False)
    assert outcome.status == "warn", outcome.message


def test_a_wrapped_line_is_not_cut(judge):
    outcome = judge("Résiliation : le Client peut résilier le contrat moyennant un préavis de\nsix mois adressé "
                    "par lettre recommandée : le préavis court à compter de sa réception.",
                    "termination.customer_notice")
    assert outcome.status == "fail", outcome.message


def test_an_amount_repeated_in_brackets_before_its_unit(judge):
    """"cinq cents (500) euros": the unit comes after the number and its repetition in digits."""
    outcome = judge("La responsabilité totale du Prestataire est limitée à la somme de cinq cents (500) euros, "
                    "tous préjudices confondus.", "liability.limit")
    assert outcome.status == "fail", outcome.message
    assert "500 €" in outcome.numbers().values(), outcome.numbers()


def test_a_hyphenated_non_compound_is_not_a_negation(judge):
    """"non-respect", "non-paiement" name a situation; only the word "non" negates."""
    text = "En cas de non-paiement, l'Éditeur pourra verrouiller à distance les postes du cabinet, sans préavis."
    outcome = judge(text, "suspension.unilateral", document=False)
    assert outcome.clause_found and outcome.status == "fail", outcome.message
    refused = judge("L'Éditeur ne pourra en aucun cas verrouiller les postes du cabinet.", "suspension.unilateral",
                    document=False)
    assert refused.status != "fail", refused.message
