"""Phrasings the first rule pack missed: synonyms, passive voice, « nous / vous » terms, circumstances
that are not negations, periods that are not notices. Each case is a way real contracts say it."""

from __future__ import annotations

import pytest

from harness_plugins.contracts.evaluate import evaluate


@pytest.mark.parametrize("rule_id, text, status", [
    # a "sans …" closed by a comma describes how, it does not negate what follows
    ("suspension.unilateral", "L'Éditeur pourra, de plein droit et sans formalité préalable, couper l'accès au "
                              "Logiciel de tout Utilisateur dont le comportement lui paraîtrait contraire aux présentes.",
     "fail"),
    ("suspension.unilateral", "L'Éditeur s'interdit de suspendre l'accès aux dossiers des patients.", "pass"),
    ("suspension.unilateral", "L'Éditeur pourra suspendre l'accès au Service en cas de manquement du Client à "
                              "l'une quelconque de ses obligations.", "fail"),
    # an audit right stated in the negative
    ("audit.rights", "Vous ne pouvez pas réaliser d'audit de nos installations.", "fail"),
    ("audit.rights", "Toute demande d'audit est subordonnée à l'accord préalable de l'Éditeur, libre de la refuser.",
     "fail"),
    ("audit.rights", "En lieu et place de tout audit, l'Éditeur transmet au Client son certificat HDS.", "warn"),
    # tacit renewal without the words "tacite" or "automatique"
    ("renewal.tacit", "À l'expiration de la période initiale, l'abonnement se poursuivra par périodes successives "
                      "de douze mois, sauf dénonciation six mois avant l'échéance.", "fail"),
    # all the remaining fees, said without "totalité"
    ("termination.early_fees", "En cas de résiliation par l'Abonné avant l'expiration de la période d'engagement, "
                               "les mensualités non encore échues deviendront immédiatement exigibles.", "fail"),
    ("termination.early_fees", "La résiliation avant le terme donne lieu au paiement d'une indemnité forfaitaire "
                               "égale à trois mois d'abonnement.", "warn"),
    # the terms change by publication, or by the user's silence
    ("change.unilateral_terms", "Les conditions générales applicables sont celles dont la dernière version est "
                                "publiée sur le site internet de l'Éditeur au jour de la connexion.", "fail"),
    ("change.unilateral_terms", "À défaut d'opposition écrite du Client dans un délai de huit jours, les conditions "
                                "modifiées sont réputées acceptées.", "fail"),
    ("change.unilateral_terms", "Toute modification du présent contrat fera l'objet d'un avenant écrit signé par "
                                "chacune des Parties.", "pass"),
    # data reuse named by its purpose rather than by "vendre" or "partenaires"
    ("data.vendor_use", "Le Client autorise l'Éditeur à utiliser les données saisies dans le Logiciel afin "
                        "d'entraîner et d'améliorer ses algorithmes d'aide à la décision.", "fail"),
    ("data.vendor_use", "Les données du Client ne seront en aucun cas cédées, louées ou communiquées à des tiers.",
     "pass"),
    # processor terms: subcontracting freely, instructions set aside
    ("gdpr.art28", "Le Prestataire pourra sous-traiter tout ou partie de l'hébergement des données à caractère "
                   "personnel sans l'accord préalable du Client.", "fail"),
    ("gdpr.art28", "Le Prestataire n'est pas tenu de suivre les instructions du Client lorsqu'il les estime "
                   "incompatibles avec son organisation.", "fail"),
    # French typography: a space before the colon, in tables and summaries
    ("renewal.tacit", "Conditions particulières\nReconduction : tacite, par périodes de 24 mois", "fail"),
    ("reversibility.format", "Format d'export : fichier propriétaire (.mdb chiffré).", "fail"),
    ("audit.rights", "Droit d'audit du Client : non.", "fail"),
    ("gdpr.art28", "Pour les données des patients, le Prestataire agit en qualité de responsable de traitement.",
     "fail"),
    ("suspension.unilateral", "En cas de non-paiement d'une seule échéance, le Prestataire pourra suspendre l'accès "
                              "au Logiciel, sans qu'il soit besoin d'une mise en demeure préalable.", "fail"),
    # formats and deletion
    ("reversibility.format", "L'export fourni au Client est compatible uniquement avec le logiciel de l'Éditeur.",
     "fail"),
    ("reversibility.format", "Les données sont restituées dans un format à convenir entre les Parties.", "warn"),
    ("reversibility.deletion", "La clôture du compte entraîne la suppression automatique et irréversible de "
                               "l'ensemble des données qui y sont enregistrées.", "fail"),
])
def test_realistic_phrasings(judge, rule_id, text, status):
    outcome = judge(text, rule_id, document=False)
    assert outcome.clause_found, (rule_id, text)
    assert outcome.status == status, outcome.message


def test_deletion_delay_written_before_its_anchor(judge):
    outcome = judge("Les données du Client sont purgées de nos systèmes trente jours après l'expiration de "
                    "l'abonnement, sans autre formalité.", "reversibility.deletion", document=False)
    assert outcome.status == "warn"
    assert outcome.numbers() == {"délai avant suppression": "1 mois"}  # 30 days, shown in months


def test_a_period_is_not_a_notice(judge):
    """« abonnement annuel » is how long the subscription lasts, not a one-year notice to leave it."""
    outcome = judge("Si vous résiliez votre abonnement annuel avant son terme, le montant restant dû pour l'année "
                    "en cours vous sera facturé.", "termination.customer_notice", document=False)
    assert "préavis du client" not in outcome.numbers()


@pytest.mark.parametrize("rule_id, text", [
    ("renewal.tacit", "La durée du contrat peut être prolongée par avenant pour des périodes successives d'un an."),
    ("renewal.tacit", "Les obligations des parties sont suspendues et les délais d'exécution prolongés de plein droit "
                      "d'une durée égale à celle de l'événement de force majeure."),
    ("hds.host", "L'Utilisateur ne dispose d'aucun droit d'inspection sur les infrastructures de ses hébergeurs."),
    ("reversibility.cost", "Les données ne pourront être restituées qu'une fois l'intégralité des factures réglée."),
])
def test_other_topics_are_left_alone(judge, rule_id, text):
    outcome = judge(text, rule_id, document=False)
    assert not (outcome.clause_found and outcome.status in ("fail", "warn")), outcome.message


def test_dev_split_stays_above_095(pack):
    """The brief of the generalisation round: widen the rules without losing the dev set."""
    results = evaluate(pack, splits=("dev",))["dev"]
    for rule, counts in results.items():
        assert counts.precision is None or counts.precision >= 0.95, (rule, counts.errors)
        assert counts.recall is None or counts.recall >= 0.95, (rule, counts.errors)
