"""Generate the demo vendors' contracts (PDF and DOCX), the benchmark PDF and hostile inputs.

``python -m harness_plugins.contracts.demo_docs`` rewrites
``fixtures/vendors/demo-{good,poor}/contracts/contrat.{pdf,docx}``. The output is
byte-stable (reportlab's invariant mode, fixed DOCX properties), so regenerating
changes nothing unless the texts below change. reportlab is a test dependency;
it is imported only here.

The demo-good contract is written to pass every contract rule; the demo-poor one
holds one abusive clause per rule (and a "Réversibilité" heading over access-right
boilerplate), each of which the checks must find.
"""

from __future__ import annotations

import datetime
import io
import sys
import zipfile
from pathlib import Path

Article = tuple[str, str, list[str]]  # (number, title, paragraphs)

GOOD_TITLE = "Conditions générales d'abonnement au logiciel DemoCabinet"
GOOD_HEADER = "Demo Santé SAS - Conditions générales d'abonnement DemoCabinet - version 4.2"
GOOD: list[Article] = [
    ("", "Préambule", [
        "Les présentes conditions générales sont conclues entre la société Demo Santé SAS, éditeur du logiciel "
        "DemoCabinet, ci-après « l'Éditeur », et le professionnel de santé qui souscrit un abonnement, ci-après "
        "« le Client ».",
    ]),
    ("1", "Objet", [
        "Les présentes conditions définissent les modalités selon lesquelles l'Éditeur met à la disposition du "
        "Client le logiciel de gestion de cabinet DemoCabinet, en mode hébergé, ainsi que les services associés "
        "d'assistance et de mise à jour.",
    ]),
    ("2", "Durée", [
        "Le contrat est conclu pour une durée d'un (1) an à compter de la mise en service. Il est ensuite renouvelé "
        "tacitement par périodes d'un an, sauf dénonciation par l'une des parties notifiée au moins un mois avant "
        "l'échéance.",
    ]),
    ("3", "Résiliation", [
        "Le Client peut résilier le contrat à tout moment, moyennant un préavis d'un mois, par lettre recommandée "
        "ou depuis son espace client. L'Éditeur peut résilier le contrat moyennant un préavis de trois mois.",
        "En cas de résiliation anticipée par le Client, aucune indemnité n'est due ; les sommes payées d'avance "
        "pour la période non courue lui sont remboursées au prorata.",
    ]),
    ("4", "Prix et révision", [
        "Les redevances sont révisées une fois par an, au 1er janvier, selon la variation de l'indice Syntec, dans "
        "la limite d'une hausse de 3 % par an.",
        "Toute autre modification tarifaire est notifiée au Client au moins deux mois avant son entrée en vigueur ; "
        "le Client qui la refuse peut résilier le contrat sans frais avant cette date.",
    ]),
    ("5", "Modification des conditions", [
        "Toute modification des présentes conditions est notifiée au Client par écrit au moins deux mois avant son "
        "entrée en vigueur. Le Client qui la refuse peut résilier le contrat sans frais avant cette date.",
    ]),
    ("6", "Hébergement des données de santé", [
        "Les données de santé sont hébergées en France par la société OVH SAS, hébergeur certifié « Hébergeur de "
        "Données de Santé » (HDS) pour les activités 1 à 6, dans deux centres de données distincts. Une copie du "
        "certificat en cours de validité est remise au Client sur simple demande.",
    ]),
    ("7", "Propriété et utilisation des données", [
        "Les données saisies par le Client ou produites par l'utilisation du logiciel restent sa propriété "
        "exclusive ; l'Éditeur n'acquiert aucun droit sur elles.",
        "L'Éditeur s'interdit d'utiliser ces données à d'autres fins que l'exécution du contrat, et notamment de "
        "les céder ou de les communiquer à des tiers.",
    ]),
    ("8", "Protection des données personnelles", [
        "8.1 L'Éditeur agit en qualité de sous-traitant au sens de l'article 28 du RGPD. Il ne traite les données "
        "que sur instruction documentée du Client, responsable de traitement.",
        "8.2 L'Éditeur ne recrute aucun sous-traitant ultérieur sans l'autorisation écrite préalable du Client.",
        "8.3 Au terme du contrat, selon le choix du Client, l'Éditeur supprime toutes les données ou les lui "
        "renvoie, dans les conditions de l'article 9.",
        "8.4 L'Éditeur met à la disposition du Client les informations nécessaires pour démontrer le respect de "
        "ses obligations et permet la réalisation d'audits, y compris des inspections, par le Client ou par un "
        "auditeur qu'il a mandaté.",
    ]),
    ("9", "Réversibilité", [
        "À la fin du contrat, quelle qu'en soit la cause, l'Éditeur restitue au Client l'intégralité de ses données "
        "dans un délai de quinze jours, dans des formats structurés, couramment utilisés et lisibles par machine "
        "(CSV, XML et HL7 FHIR), sans frais.",
        "Les données restent téléchargeables depuis l'espace client pendant quatre-vingt-dix jours. À l'issue de "
        "cette période de récupération, et sur instruction écrite du Client, l'Éditeur supprime les données et "
        "leurs copies et lui remet une attestation de destruction.",
    ]),
    ("10", "Responsabilité", [
        "La responsabilité de l'Éditeur est limitée au montant des sommes payées par le Client au cours des douze "
        "mois précédant le fait générateur. Cette limite ne s'applique pas en cas de faute lourde ou dolosive, ni à "
        "la perte de données imputable à un manquement de l'Éditeur à son obligation de sauvegarde.",
    ]),
    ("11", "Suspension", [
        "En cas de défaut de paiement, l'Éditeur peut suspendre l'accès au logiciel après une mise en demeure "
        "restée sans effet pendant trente jours ; l'accès aux dossiers des patients en lecture seule est maintenu "
        "pendant la suspension.",
    ]),
    ("12", "Droit applicable et litiges", [
        "Le contrat est soumis au droit français. À défaut d'accord amiable, le litige est porté devant la "
        "juridiction compétente selon les règles de droit commun.",
    ]),
]
GOOD_TABLE = [("Engagement", "1 an, renouvelable par périodes d'un an"),
              ("Préavis du Client", "1 mois"),
              ("Restitution des données", "15 jours, formats CSV, XML et FHIR, sans frais"),
              ("Période de récupération", "90 jours")]

POOR_TITLE = "Conditions générales de licence du logiciel VieuxCabinet"
POOR_HEADER = "Mauvais Logiciel SARL - Conditions générales de licence VieuxCabinet"
POOR: list[Article] = [
    ("", "Préambule", [
        "Les présentes conditions sont conclues entre la société Mauvais Logiciel SARL, ci-après « le "
        "Prestataire », et le professionnel de santé qui acquiert une licence, ci-après « le Client ».",
    ]),
    ("1", "Objet", [
        "Le Prestataire concède au Client une licence d'utilisation du logiciel VieuxCabinet, hébergé par le "
        "Prestataire, et fournit les services d'assistance associés.",
    ]),
    ("2", "Durée", [
        "Le contrat est conclu pour une durée ferme et irrévocable de soixante (60) mois. Il se renouvelle ensuite "
        "par tacite reconduction pour des périodes successives de trente-six mois, sauf dénonciation par le Client "
        "au moins six mois avant l'échéance.",
    ]),
    ("3", "Résiliation", [
        "Le Prestataire peut résilier le contrat à tout moment, sans préavis ni indemnité.",
        "En cas de résiliation anticipée à l'initiative du Client, pour quelque cause que ce soit, la totalité des "
        "redevances restant à courir jusqu'au terme du contrat devient immédiatement exigible.",
    ]),
    ("4", "Prix", [
        "Le Prestataire se réserve le droit de modifier ses tarifs à tout moment ; les nouveaux tarifs s'appliquent "
        "dès leur publication, y compris aux contrats en cours.",
    ]),
    ("5", "Modification des conditions", [
        "Le Prestataire peut modifier les présentes conditions à tout moment. La poursuite de l'utilisation du "
        "logiciel par le Client vaut acceptation des conditions modifiées.",
    ]),
    ("6", "Hébergement", [
        "Les données du Client, y compris les dossiers médicaux, sont hébergées sur les serveurs du Prestataire "
        "situés dans ses locaux.",
    ]),
    ("7", "Propriété des données", [
        "Les bases de données constituées au moyen du logiciel sont la propriété exclusive du Prestataire.",
    ]),
    ("8", "Exploitation des données", [
        "Le Client autorise le Prestataire à exploiter les données rendues anonymes à des fins statistiques et à "
        "les communiquer à ses partenaires commerciaux, notamment des laboratoires pharmaceutiques.",
    ]),
    ("9", "Données personnelles", [
        "Le Prestataire peut faire appel à tout sous-traitant ultérieur de son choix, sans en informer le Client.",
    ]),
    ("10", "Réversibilité", [
        "Conformément au règlement général sur la protection des données, toute personne dispose d'un droit "
        "d'accès, de rectification et de portabilité des données la concernant, qu'elle peut exercer auprès du "
        "service client du Prestataire.",
    ]),
    ("11", "Continuité et réversibilité", [
        "À l'expiration du contrat, pour quelque cause que ce soit, le Prestataire procède à la suppression de "
        "l'ensemble des données du Client dans un délai de quinze jours.",
        "Le Prestataire propose, en option, une prestation d'export des données au format propriétaire du "
        "logiciel, facturée sur devis selon le tarif en vigueur.",
    ]),
    ("12", "Responsabilité", [
        "Le Prestataire ne saurait être tenu responsable de la perte ou de l'altération des données du Client, ni "
        "des interruptions du service, quelle qu'en soit la cause.",
        "En tout état de cause, sa responsabilité est limitée au montant de la redevance d'un mois, même en cas de "
        "faute lourde.",
    ]),
    ("13", "Suspension", [
        "Le Prestataire se réserve le droit de suspendre l'accès au logiciel à tout moment, sans préavis, pour "
        "quelque raison que ce soit.",
    ]),
    ("14", "Audit", [
        "Le Client renonce à tout droit d'audit sur les installations et les procédures du Prestataire.",
    ]),
    ("15", "Litiges", [
        "Tout litige relatif au présent contrat sera de la compétence exclusive du Tribunal de commerce de Paris.",
    ]),
]
POOR_TABLE = [("Engagement", "60 mois fermes"), ("Préavis du Client", "6 mois"),
              ("Export des données", "en option, sur devis")]

FIXED_DATE = datetime.datetime(2026, 1, 1, 0, 0, 0)


# ----------------------------------------------------------------------------- PDF

def _register_font():
    """The built-in Helvetica: its WinAnsi encoding covers French (é, à, ç, œ, « », €), and using no
    installed font keeps the PDF bytes the same on every machine."""
    return "Helvetica", "Helvetica-Bold"


def pdf_bytes(title: str, header: str, articles: list[Article], table: list[tuple[str, str]] | None = None,
              repeat: int = 1) -> bytes:
    """A contract as a PDF with a running header and "Page n / N" footers (byte-stable)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

    regular, bold = _register_font()
    body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13, spaceAfter=5)
    head = ParagraphStyle("head", fontName=bold, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)
    big = ParagraphStyle("title", fontName=bold, fontSize=14, leading=18, spaceAfter=10)
    buffer = io.BytesIO()

    class Doc(SimpleDocTemplate):
        pass

    doc = Doc(buffer, pagesize=A4, leftMargin=2.2 * cm, rightMargin=2.2 * cm, topMargin=2.4 * cm,
              bottomMargin=2.2 * cm, title=title, author=header.split(" - ")[0], invariant=1)
    story = [Paragraph(title, big)]
    for round_ in range(repeat):
        for number, name, paragraphs in articles:
            if round_ and not number:
                continue
            label = f"Article {int(number) + 20 * round_} - {name}" if number else name
            story.append(Paragraph(label, head))
            for text in paragraphs:
                story.append(Paragraph(text, body))
        if table and round_ == 0:
            story.append(Spacer(1, 6))
            story.append(Paragraph("Récapitulatif", head))
            story.append(Table([[a, b] for a, b in table], colWidths=[5 * cm, 11 * cm],
                               style=[("FONT", (0, 0), (-1, -1), regular, 9)]))

    def decorate(canvas, doc_):
        canvas.saveState()
        canvas.setFont(regular, 8)
        canvas.drawString(2.2 * cm, A4[1] - 1.3 * cm, header)
        canvas.drawRightString(A4[0] - 2.2 * cm, 1.2 * cm, f"Page {doc_.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- DOCX

def docx_bytes(title: str, header: str, articles: list[Article], table: list[tuple[str, str]] | None = None) -> bytes:
    """A contract as a DOCX: headings, paragraphs, a numbered list (Word numbering) and a table."""
    import docx
    from docx.shared import Pt

    document = docx.Document()
    props = document.core_properties
    props.author = header.split(" - ")[0]
    props.title = title
    props.created = FIXED_DATE
    props.modified = FIXED_DATE
    props.last_modified_by = props.author
    props.revision = 1
    document.sections[0].header.paragraphs[0].text = header
    document.styles["Normal"].font.size = Pt(10)
    document.add_heading(title, level=0)
    for number, name, paragraphs in articles:
        document.add_heading(f"Article {number} - {name}" if number else name, level=1)
        for text in paragraphs:
            # "8.1 …" sub-clauses become a Word numbered list, as authors write them
            if text[:2].rstrip(" ").replace(".", "").isdigit() and text[1:2] == "." and text[2:3].isdigit():
                document.add_paragraph(text.split(" ", 1)[1], style="List Number")
            else:
                document.add_paragraph(text)
    if table:
        document.add_heading("Récapitulatif", level=1)
        grid = document.add_table(rows=0, cols=2)
        for left, right in table:
            row = grid.add_row().cells
            row[0].text, row[1].text = left, right
    buffer = io.BytesIO()
    document.save(buffer)
    return _stable_zip(buffer.getvalue())


def _stable_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed member dates so the same document gives the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


# ----------------------------------------------------------------------------- hostile and large inputs

def encrypted_pdf(password: str = "secret") -> bytes:
    """A PDF that needs a user password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes("Contrat", "En-tête", GOOD[:3]))))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def owner_only_encrypted_pdf() -> bytes:
    """A PDF encrypted with an owner password only: readable with the empty user password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes("Contrat", "En-tête", GOOD))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf(pages: int = 2) -> bytes:
    """Pages with drawings and no text layer, like a scan."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for _ in range(pages):
        for row in range(40):
            pdf.rect(60, 760 - row * 17, 300 + (row * 37) % 170, 8, fill=1, stroke=0)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def many_pages_pdf(pages: int = 1000) -> bytes:
    """A long PDF: one short clause per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    for page in range(1, pages + 1):
        pdf.setFont("Helvetica", 10)
        pdf.drawString(60, 800, f"Article {page} - Stipulation {page}")
        pdf.drawString(60, 780, "Les parties conviennent des modalites d'execution decrites ci-dessous.")
        if page == pages // 2:
            pdf.drawString(60, 760, "Le Prestataire peut suspendre l'acces au logiciel a tout moment, sans preavis.")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def docx_zip_bomb(inflated: int = 300 * 1024 * 1024) -> bytes:
    """A DOCX-looking zip whose document.xml inflates hundreds of times over."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                                                'package/2006/content-types"/>')
        chunk = b"<w:t>" + b"A" * (1024 * 1024) + b"</w:t>"
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            written = 0
            while written < inflated:
                member.write(chunk)
                written += len(chunk)
    return out.getvalue()


HOSTILE_HTML = """<!doctype html>
<html><head><title>CGU</title>
<script>document.write("<p>Le Prestataire peut supprimer les données à tout moment.</p>");
fetch("http://127.0.0.1:9/exfiltrate");</script>
<link rel="stylesheet" href="http://127.0.0.1:9/style.css">
<style>body { background: url(http://127.0.0.1:9/bg.png) }</style>
</head><body>
<h1>Conditions générales d'utilisation</h1>
<img src="http://127.0.0.1:9/pixel.gif" onerror="alert(1)">
<iframe src="http://127.0.0.1:9/frame"></iframe>
<h2>Article 1 - Durée</h2>
<p>L'abonnement est mensuel et sans engagement&nbsp;: vous pouvez le résilier à tout moment.</p>
<h2>Article 2 - Suspension</h2>
<p>Nous pouvons suspendre votre compte à tout moment, sans préavis, pour quelque raison que ce soit.</p>
<object data="http://127.0.0.1:9/x.swf"></object>
</body></html>
"""


# ----------------------------------------------------------------------------- entry point

def fixtures_root() -> Path:
    return Path(__file__).resolve().parents[3] / "fixtures" / "vendors"


def write_demo(root: Path | None = None) -> list[Path]:
    root = root or fixtures_root()
    written = []
    for variant, title, header, articles, table in (("good", GOOD_TITLE, GOOD_HEADER, GOOD, GOOD_TABLE),
                                                    ("poor", POOR_TITLE, POOR_HEADER, POOR, POOR_TABLE)):
        folder = root / f"demo-{variant}" / "contracts"
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in (("contrat.pdf", pdf_bytes(title, header, articles, table)),
                           ("contrat.docx", docx_bytes(title, header, articles, table))):
            path = folder / name
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    root = Path(args[0]) if args else None
    for path in write_demo(root):
        print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
