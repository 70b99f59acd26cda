"""The rule engine on single clauses: negation, exceptions, numbers in words, parties, lying headings."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, status", [
    ("Le contrat ne fait l'objet d'aucune reconduction tacite.", "pass"),
    ("Le renouvellement du contrat n'est pas automatique.", "pass"),
    ("La tacite reconduction est expressément exclue.", "pass"),
    ("Le contrat se renouvelle par tacite reconduction.", "warn"),
    ("Le contrat est reconduit tacitement par périodes de trois ans.", "fail"),
])
def test_negation_of_tacit_renewal(judge, text, status):
    outcome = judge(text, "renewal.tacit")
    assert outcome.clause_found and outcome.status == status, outcome.message


def test_notice_written_in_words(judge):
    outcome = judge("Sauf dénonciation adressée quatre-vingt-dix jours avant son terme, le contrat est prorogé "
                    "de plein droit pour une nouvelle période d'une année.", "renewal.tacit")
    assert outcome.status == "fail"
    assert outcome.numbers() == {"période de renouvellement": "1 an",
                                 "délai pour refuser le renouvellement": "3 mois"}


def test_parties_customer_vs_vendor_notice(judge):
    text = ("L'Éditeur peut résilier le Contrat moyennant un préavis de quinze jours. "
            "Le Client peut résilier le Contrat moyennant un préavis de deux mois.")
    outcome = judge(text, "termination.customer_notice")
    assert outcome.status == "warn"
    assert outcome.numbers() == {"préavis du client": "2 mois", "préavis de l'éditeur": "15 jours"}


def test_a_number_in_the_heading_is_not_the_notice(judge):
    """Headings name a topic (the signals skip them); the body gives the figure, here a shorter one."""
    text = ("Article 9 – Résiliation – préavis de six mois\n"
            "Le Client peut désormais résilier le Contrat à tout moment moyennant un préavis d'un mois.")
    outcome = judge(text, "termination.customer_notice")
    assert outcome.status == "pass", outcome.message
    assert outcome.numbers() == {"préavis du client": "1 mois"}


def test_aliases_defined_by_the_contract(judge):
    text = ("Entre DemoSanté, ci-après « DemoSanté », et le médecin, ci-après « le Client ».\n\n"
            "DemoSanté peut résilier le contrat moyennant un préavis de dix jours. "
            "Le Client peut résilier le contrat moyennant un préavis d'un mois.")
    outcome = judge(text, "termination.customer_notice")
    assert outcome.status == "warn"


@pytest.mark.parametrize("vendor, status", [("MedicaSoft", "pass"), ("Le Client", "fail")])
def test_brand_name_never_defined_is_the_vendor(judge, vendor, status):
    """A CamelCase brand the contract never defines acts as the vendor: its six-month notice is not the doctor's."""
    text = ("Le contrat est reconduit tacitement par périodes d'un an. "
            f"{vendor} peut s'opposer à la reconduction moyennant un préavis de six mois ; "
            "l'Abonné peut s'y opposer jusqu'à un mois avant l'échéance.")
    outcome = judge(text, "renewal.tacit")
    assert outcome.status == status, outcome.message


@pytest.mark.parametrize("text, status", [
    ("Aucun frais n'est facturé au Client, à l'exception des frais d'export de ses données, facturés sur devis.",
     "fail"),
    ("L'export des données est gratuit, à l'exception des prestations de formation au nouveau logiciel.", "pass"),
    ("La restitution des données est effectuée sans frais.", "pass"),
])
def test_exception_windows(judge, text, status):
    assert judge(text, "reversibility.cost").status == status


def test_expletive_and_restrictive_ne_are_not_negations(judge):
    outcome = judge("Aucune donnée ne sera effacée avant que le Client n'ait confirmé par écrit avoir récupéré "
                    "l'intégralité de ses données.", "reversibility.deletion")
    assert outcome.status == "pass"
    outcome = judge("Le sous-traitant ne traite les données que sur instruction documentée du Client.",
                    "gdpr.art28", document=False)
    assert outcome.status == "pass"
    assert outcome.hits["instructions"]


@pytest.mark.parametrize("text", [
    "Article 11 – Réversibilité\nConformément au RGPD, toute personne dispose d'un droit d'accès, de "
    "rectification et de portabilité des données la concernant.",
    "Réversibilité\nLe Prestataire garantit la confidentialité des données du Client pendant toute la durée du "
    "contrat.",
])
def test_a_heading_that_lies(judge, text):
    outcome = judge(text, "reversibility.return")
    assert outcome.clause_found and outcome.status == "fail" and outcome.heading_only


def test_continuity_and_reversibility_article_that_orders_deletion(judge):
    text = ("Article 14 – Continuité et réversibilité\nÀ l'expiration du contrat, le Prestataire procède à la "
            "suppression de l'ensemble des données du Client dans un délai de quinze jours.")
    assert judge(text, "reversibility.return").status == "fail"
    deletion = judge(text, "reversibility.deletion")
    assert deletion.status == "fail" and deletion.numbers() == {"délai avant suppression": "15 jours"}


def test_reversibility_only_as_a_paid_extra(judge):
    text = ("Réversibilité\nLe Prestataire propose, en option, une prestation de réversibilité permettant l'export "
            "des dossiers patients, facturée sur devis.")
    assert judge(text, "reversibility.return").status == "fail"
    assert judge(text, "reversibility.cost").status == "fail"


def test_signed_amendment_is_the_hard_negative(judge):
    assert judge("Le présent contrat ne peut être modifié que par voie d'avenant écrit signé des deux parties.",
                 "change.unilateral_terms").status == "pass"
    assert judge("La poursuite de l'utilisation du service vaut acceptation des nouvelles conditions.",
                 "change.unilateral_terms").status == "fail"


def test_absence_says_what_was_searched(judge, pack):
    outcome = judge("Article 1 - Objet\nLe présent contrat a pour objet la fourniture d'un logiciel.",
                    "reversibility.return")
    assert not outcome.clause_found and outcome.status == "fail"
    assert "restitution" in pack.rules["reversibility.return"].searched


def test_sale_of_health_data_is_critical(judge):
    outcome = judge("Les données de santé des patients pourront être cédées à titre onéreux à des tiers, avec "
                    "l'accord préalable des patients.", "data.vendor_use")
    assert outcome.status == "fail" and outcome.severity == "critical"


def test_consumer_code_review_addendum(judge):
    outcome = judge("Le contrat est conclu pour un an. Le Client, professionnel, ne bénéficie pas du droit de "
                    "rétractation.", "term.long_commitment")
    assert [a["status"] for a in outcome.addenda] == ["review"]
    assert "L221-3" in outcome.addenda[0]["message"]


def test_dated_rule_direct_cost_before_and_after_2027(pack):
    from harness_plugins.contracts.engine import Analysis
    from harness_plugins.contracts.extract import from_text

    text = "La restitution des données est facturée à prix coûtant, sur justificatif des coûts directs."
    rule = pack.rules["reversibility.cost"]
    assert Analysis(from_text(text), pack).apply(rule, today=20261201).status == "warn"
    assert Analysis(from_text(text), pack).apply(rule, today=20270112).status == "fail"


def test_several_problems_of_one_rule_are_all_reported(judge):
    text = ("Le contrat est reconduit tacitement par périodes de trois ans, sauf dénonciation six mois avant "
            "l'échéance.")
    outcome = judge(text, "renewal.tacit")
    assert outcome.status == "fail"
    assert [o["status"] for o in outcome.others] == ["fail"]


def _long_contract_text() -> str:
    from harness_plugins.contracts.evaluate import load_corpus

    clauses = [c.text for c in load_corpus() if c.labels and c.split == "dev"][:700]
    text = "\n\n".join(f"Article {i + 1} - Clause\n{t}" for i, t in enumerate(clauses))
    return text


def _same(a, b) -> bool:
    return (a.status, a.clause_found, a.verdict_key, a.hits, a.quantities, a.evidence, a.topic_clauses) == \
        (b.status, b.clause_found, b.verdict_key, b.hits, b.quantities, b.evidence, b.topic_clauses)


def test_a_long_contract_gives_the_same_outcomes_when_half_the_rules_run_in_a_child(pack):
    from harness_plugins.contracts import engine
    from harness_plugins.contracts.extract import from_text

    analysis = engine.Analysis(from_text(_long_contract_text(), "long.txt"), pack)
    assert len(analysis.folded) >= engine.SPLIT_FROM_CHARS
    serial = {rid: analysis.apply(rule, today=20260601) for rid, rule in pack.rules.items()}
    split = engine.apply_all(engine.Analysis(analysis.doc, pack), pack.rules, today=20260601)
    assert list(split) == list(serial)
    assert all(_same(serial[rid], split[rid]) and split[rid].rule is pack.rules[rid] for rid in serial)
    assert sum(o.status == "fail" for o in split.values()) >= 5


def test_when_the_child_dies_the_parent_applies_its_rules(pack, monkeypatch):
    import os

    from harness_plugins.contracts import engine
    from harness_plugins.contracts.extract import from_text

    doc = from_text(_long_contract_text(), "long.txt")
    serial = {rid: engine.Analysis(doc, pack).apply(rule, today=20260601) for rid, rule in pack.rules.items()}
    monkeypatch.setattr(engine, "_apply_child", lambda *args: os._exit(3))
    split = engine.apply_all(engine.Analysis(doc, pack), pack.rules, today=20260601)
    assert all(_same(serial[rid], split[rid]) for rid in serial)
