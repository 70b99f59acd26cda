"""The deterministic seeded dataset the demo vendors were "loaded with", and their exports.

``python -m harness_plugins.portability.demo_data`` (re)writes, byte for byte
the same on every run:

- ``fixtures/vendors/demo-good/export/demo-good-export.zip``: a complete, honest
  export (FHIR NDJSON per type, a Bulk-style ``manifest.json``, a CSV with its
  CSVW metadata, a README), the documents as ``Binary`` resources (CDA and PDF/A);
- ``fixtures/vendors/demo-poor/export/demo-poor-export.tar.gz``: the same
  dataset with realistic defects (see :data:`POOR_DEFECTS`);
- ``fixtures/vendors/demo-*/portability/expected.json`` (counts per type) and
  ``known-records.ndjson`` (records that must come back unchanged);
- ``fixtures/vendors/demo-*/portability/bulk.json``: how each demo ``$export``
  endpoint behaves (defects for demo-poor are data here, not code paths).

Everything comes from ``random.Random(SEED)``; no clock, no locale, no zlib
level left to chance (archives are written with fixed timestamps).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import random
import re
import struct
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Iterable

from harness_plugins._common.identifiers import OID_INS_NIR, SYSTEM_RPPS, luhn_digit, nir_key

SEED = 20240611
DATASET = "lgc-demo-seed"
DATASET_VERSION = 1
FIXED_ZIP_TIME = (2024, 6, 11, 12, 0, 0)
FIXED_MTIME = 1718107200  # 2024-06-11T12:00:00Z

SYSTEM_INS = f"urn:oid:{OID_INS_NIR}"
INS_TYPE = {"coding": [{"system": "http://interopsante.org/fhir/CodeSystem/fr-v2-0203", "code": "INS-NIR"}]}
LOINC, SNOMED, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
CIM10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
CVX = "http://hl7.org/fhir/sid/cvx"

#: Resource counts of the seeded dataset (the "what the vendor was loaded with").
COUNTS = {
    "Organization": 2,
    "Practitioner": 12,
    "Patient": 120,
    "Encounter": 360,
    "Observation": 900,
    "Condition": 240,
    "AllergyIntolerance": 90,
    "MedicationRequest": 360,
    "Immunization": 150,
    "DocumentReference": 48,
    "Binary": 48,
    "Appointment": 160,
}

POOR_DEFECTS = {
    "missing_types": ["AllergyIntolerance", "Immunization"],
    "dangling_observation_subjects": 6,
    "dangling_encounter_practitioners": 3,
    "truncated_line": "fhir/Observation.ndjson (last line)",
    "manifest_lies": "Observation count +45, lists fhir/Immunization.ndjson (absent), omits fhir/Appointment.ndjson",
    "csv_without_encoding": "csv/patients.csv in windows-1252, no BOM, no metadata",
    "proprietary_blob": "data/cabinet.vcdb",
    "altered_known_records": "INS dropped, time zone lost, date truncated, note cut at 255 characters, accents mangled",
    "attachment_mismatch": "one Binary altered after hashing, one DocumentReference pointing to a missing Binary",
    "pdf_not_pdfa": "every PDF lacks its PDF/A identification",
    "broken_cda": "one CDA document truncated",
    "cda_without_legal_authenticator": "one well-formed CDA document without its CI-SIS legalAuthenticator",
    "symlink_member": "documents/dernier.pdf -> /srv/vieuxcabinet/docs/last.pdf",
}

FIRST_F = ["Hélène", "Françoise", "Zoé", "Anaïs", "Léa", "Maëlle", "Chloé", "Inès", "Céline", "Agnès", "Noémie",
           "Louise", "Émilie", "Juliette", "Gaëlle"]
FIRST_M = ["François", "Jérôme", "Noël", "Loïc", "Gaël", "Benoît", "Théo", "Raphaël", "Hervé", "Sébastien", "Mathéo",
           "Joël", "Cédric", "Aurélien", "Étienne"]
FAMILY = ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Fournier", "Girard", "Lambert", "Bonnet", "François",
          "Mercier", "Rousseau", "Chevalier", "Gauthier", "Perrin", "Müller", "Lefébure", "N'Diaye", "Le Gall",
          "Ménard", "Bécaud", "Caron", "Aubert", "Renaud-Lévêque"]
CITIES = [("Lyon", "69003", "69"), ("Villeurbanne", "69100", "69"), ("Paris", "75011", "75"),
          ("Marseille", "13005", "13"), ("Ajaccio", "20000", "2A"), ("Bastia", "20200", "2B"),
          ("Saint-Étienne", "42000", "42"), ("Besançon", "25000", "25")]
STREETS = ["rue de la République", "avenue Jean-Jaurès", "place Bellecour", "boulevard des Belges", "rue Mercière",
           "chemin des Érables", "impasse du Moulin"]

VITALS = [  # code, display, unit, low, high, decimals
    ("8867-4", "Fréquence cardiaque", "/min", 52, 110, 0),
    ("29463-7", "Poids corporel", "kg", 48, 112, 1),
    ("8302-2", "Taille", "cm", 150, 195, 0),
    ("8310-5", "Température corporelle", "Cel", 36.0, 39.2, 1),
    ("4548-4", "Hémoglobine A1c", "%", 4.8, 9.5, 1),
    ("2093-3", "Cholestérol total", "mmol/L", 3.5, 7.8, 2),
]
CONDITIONS = [("I10", "Hypertension essentielle (primitive)"), ("E11.9", "Diabète sucré de type 2, sans complication"),
              ("J45.9", "Asthme, sans précision"), ("F32.1", "Épisode dépressif moyen"),
              ("M54.5", "Lombalgie basse"), ("E78.0", "Hypercholestérolémie essentielle"),
              ("K21.9", "Reflux gastro-œsophagien sans œsophagite"), ("J30.1", "Rhinite allergique due au pollen")]
ALLERGENS = [("227493005", "Noix de cajou"), ("91936005", "Allergie à la pénicilline"), ("300913006", "Crustacés"),
             ("418689008", "Pollen de graminées"), ("232347008", "Acariens")]
DRUGS = [("C09AA05", "Ramipril 5 mg, comprimé"), ("A10BA02", "Metformine 1000 mg, comprimé pelliculé"),
         ("C10AA05", "Atorvastatine 20 mg, comprimé"), ("R03AC02", "Salbutamol 100 µg/dose, suspension pour inhalation"),
         ("N02BE01", "Paracétamol 1 g, comprimé"), ("N06AB06", "Sertraline 50 mg, gélule"),
         ("A02BC01", "Oméprazole 20 mg, gélule gastro-résistante")]
VACCINES = [("141", "Grippe saisonnière"), ("208", "COVID-19, ARNm"), ("115", "dTcaP (diphtérie, tétanos, coqueluche)"),
            ("33", "Pneumocoque polysaccharidique")]
NOTE_SENTENCES = [
    "Patient(e) revu(e) ce jour, bonne observance du traitement.",
    "Tension artérielle contrôlée à domicile, carnet de suivi présenté.",
    "Pas d'effet indésirable rapporté depuis la dernière consultation.",
    "Conseils hygiéno-diététiques réexpliqués : activité physique régulière, réduction du sel.",
    "Bilan biologique à prévoir dans trois mois, ordonnance remise.",
    "Antécédents familiaux : père diabétique, mère hypertendue.",
    "Douleurs lombaires améliorées après kinésithérapie (dix séances).",
    "Vaccination à jour selon le calendrier vaccinal en vigueur.",
    "Orientation vers le cardiologue si la dyspnée d'effort persiste.",
]


# ----------------------------------------------------------------------------- helpers

def paris_offset(when: dt.datetime) -> str:
    """Europe/Paris offset (EU rule: summer time from last Sunday of March to last Sunday of October, 01:00 UTC)."""

    def last_sunday(year: int, month: int) -> dt.date:
        day = dt.date(year, month, 31)
        return day - dt.timedelta(days=(day.weekday() + 1) % 7)

    start = dt.datetime.combine(last_sunday(when.year, 3), dt.time(2, 0))
    end = dt.datetime.combine(last_sunday(when.year, 10), dt.time(3, 0))
    return "+02:00" if start <= when < end else "+01:00"


def local_dt(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S") + paris_offset(when)


def sha1_b64(data: bytes) -> str:
    """FHIR Attachment.hash: base64 of the SHA-1 of the data."""
    return base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


def dumps(resource: dict[str, Any]) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def ndjson(resources: Iterable[dict[str, Any]]) -> bytes:
    return "".join(dumps(r) + "\n" for r in resources).encode("utf-8")


# ----------------------------------------------------------------------------- documents

def minimal_icc_profile() -> bytes:
    """A small, structurally valid ICC v2 RGB display profile (gamma 2.2, D65 primaries of sRGB)."""

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    def text_desc(text: str) -> bytes:
        ascii_ = text.encode("ascii") + b"\0"
        body = b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_
        body += struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67
        return body

    def curve(gamma: float) -> bytes:
        return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"

    tags = [
        (b"desc", text_desc("sRGB-like demo profile")),
        (b"cprt", b"text\0\0\0\0" + b"CC0 lgc-harness demo\0"),
        (b"wtpt", xyz(0.9505, 1.0, 1.089)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve(2.2)), (b"gTRC", curve(2.2)), (b"bTRC", curve(2.2)),
    ]
    table_len = 4 + 12 * len(tags)
    offset = 128 + table_len
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = 128 + len(table) + len(data)
    header = struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
    header += struct.pack(">6H", 2024, 6, 11, 12, 0, 0) + b"acsp" + b"\0" * 4 + struct.pack(">I", 0)
    header += b"\0" * 8 + b"\0" * 8 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249)
    header += b"\0" * 4 + b"\0" * 44
    assert len(header) == 128, len(header)
    return header + table + data


def make_pdf(title: str, doc_id: str, pdfa: bool = True) -> bytes:
    """A one-page PDF (vector drawing only, so no font to embed) declaring PDF/A-1b when ``pdfa``."""
    created = "2024-06-11T12:00:00+02:00"
    objects: list[bytes] = []
    objects.append(b"<< /Type /Catalog /Pages 2 0 R" + (b" /Metadata 5 0 R /OutputIntents [6 0 R]" if pdfa else b"")
                   + b" >>")
    objects.append(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>")
    seed = int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16)
    bars = "".join(f"0.2 0.3 0.5 rg 60 {700 - 40 * i} {120 + (seed >> i) % 300} 18 re f\n" for i in range(8))
    content = f"0 0 0 RG 2 w 50 50 495 742 re S\n{bars}".encode("ascii")
    objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    if pdfa:
        xmp = (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            'xmlns:pdf="http://ns.adobe.com/pdf/1.3/">'
            '<pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>'
            f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>'
            f'<xmp:CreateDate>{created}</xmp:CreateDate><pdf:Producer>lgc-harness demo_data</pdf:Producer>'
            '</rdf:Description></rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
        ).encode("utf-8")
        objects.append(b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(xmp) + xmp + b"\nendstream")
        objects.append(b"<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (sRGB IEC61966-2.1) "
                       b"/Info (sRGB-like) /DestOutputProfile 7 0 R >>")
        icc = minimal_icc_profile()
        objects.append(b"<< /N 3 /Length %d >>\nstream\n" % len(icc) + icc + b"\nendstream")
    title_pdf = title.encode("latin-1", "replace").replace(b"(", b"[").replace(b")", b"]")
    objects.append(b"<< /Title (" + title_pdf + b") /Producer (lgc-harness demo_data) "
                   b"/CreationDate (D:20240611120000+02'00') >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    file_id = hashlib.md5(doc_id.encode()).hexdigest().encode()
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, len(objects), file_id, file_id, xref))
    return bytes(out)


BIRTHPLACE = {"69": ("69123", "Lyon"), "75": ("75056", "Paris"), "13": ("13055", "Marseille"),
              "2A": ("2A004", "Ajaccio"), "2B": ("2B033", "Bastia"), "42": ("42218", "Saint-Étienne"),
              "25": ("25056", "Besançon")}
GP_CODE = ('code="G15_10/SM26" codeSystem="1.2.250.1.213.1.1.4.5" codeSystemName="RPPS" '
           'displayName="Médecin - Qualifié en Médecine Générale (SM)"')
CABINET_ADDR = ("<addr><houseNumber>12</houseNumber><streetName>rue d'Austerlitz</streetName>"
                "<postalCode>69004</postalCode><city>Lyon</city></addr>")


def make_cda(doc: dict[str, Any], patient: dict[str, Any], author: dict[str, Any], text: str) -> bytes:
    """A CDA R2 document with the CI-SIS French header (INS and its traits, RPPS, encounter) and one section.

    The header carries everything the CI-SIS *structuration minimale* requires, so the dmp family's
    validators accept it: demo-good's documents must pass ``portability.documents.cda`` either way.
    The birthplace is derived from the INS (its department digits), so no random draw is consumed.
    """
    ins = next(i["value"] for i in patient["identifier"] if i["system"] == SYSTEM_INS)
    name = patient["name"][0]
    rpps = author["identifier"][0]["value"]
    when = doc["date"].replace("-", "").replace(":", "").replace("T", "")[:14] + doc["date"][-6:].replace(":", "")
    gender = {"female": "F", "male": "M"}.get(patient["gender"], "UN")
    birth = patient["birthDate"].replace("-", "")
    place_code, place_city = BIRTHPLACE.get(ins[5:7], ("99999", "Inconnu"))
    esc = (lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    addr = patient["address"][0]
    number, street = addr["line"][0].split(" ", 1)
    given, family = esc(name["given"][0]), esc(name["family"])
    person = (f"<assignedPerson><name><prefix>M</prefix><given>{esc(author['name'][0]['given'][0])}</given>"
              f"<family>{esc(author['name'][0]['family'])}</family></name></assignedPerson>")
    org = ('<representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1690000000"/>'
           '<name>Cabinet médical démo</name><telecom value="tel:0478000000" use="WP"/>'
           f'{CABINET_ADDR}{{sic}}</representedOrganization>')
    sic = ('<standardIndustryClassCode code="AMBULATOIRE" displayName="Ambulatoire" '
           'codeSystem="1.2.250.1.213.1.1.4.9" codeSystemName="practiceSettingCode"/>')
    entity = (f'<id root="1.2.250.1.71.4.2.1" extension="8{rpps}"/><code {GP_CODE}/>'
              f'{CABINET_ADDR}<telecom value="tel:0478000000" use="WP"/>{person}')
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.5.3.1.1.1"/>
  <id root="1.2.250.1.999.1.1" extension="{doc['id']}"/>
  <code code="11488-4" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC" displayName="Compte rendu de consultation"/>
  <title>{esc(doc['description'])}</title>
  <effectiveTime value="{when}"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25" displayName="Normal"/>
  <languageCode code="fr-FR"/>
  <setId root="1.2.250.1.999.1.2" extension="{doc['id']}"/>
  <versionNumber value="1"/>
  <recordTarget><patientRole>
    <id root="{OID_INS_NIR}" extension="{ins}"/>
    <addr><houseNumber>{number}</houseNumber><streetName>{esc(street)}</streetName><postalCode>{addr['postalCode']}</postalCode><city>{esc(addr['city'])}</city></addr>
    <patient classCode="PSN"><name><family qualifier="BR">{family}</family><given>{given}</given><given qualifier="BR">{given}</given></name>
      <administrativeGenderCode code="{gender}" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="{birth}"/>
      <birthplace><place><addr><county>{place_code}</county><city>{esc(place_city)}</city></addr></place></birthplace></patient>
  </patientRole></recordTarget>
  <author><time value="{when}"/><assignedAuthor>{entity}{org.format(sic="")}</assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1690000000"/><name>Cabinet médical démo</name>
    <telecom value="tel:0478000000" use="WP"/>
    {CABINET_ADDR}
  </representedCustodianOrganization></assignedCustodian></custodian>
  <legalAuthenticator><time value="{when}"/><signatureCode code="S"/><assignedEntity>{entity}{org.format(sic=sic)}</assignedEntity></legalAuthenticator>
  <documentationOf><serviceEvent>
    <code code="GLQP012" displayName="Consultation" codeSystem="1.2.250.1.213.2.5"/>
    <effectiveTime><low value="{when}"/></effectiveTime>
    <performer typeCode="PRF"><assignedEntity>{entity}{org.format(sic=sic)}</assignedEntity></performer>
  </serviceEvent></documentationOf>
  <componentOf><encompassingEncounter>
    <effectiveTime><low value="{when}"/></effectiveTime>
    <location><healthCareFacility><code code="SA07" codeSystem="1.2.250.1.71.4.2.4" displayName="Cabinet individuel"/></healthCareFacility></location>
  </encompassingEncounter></componentOf>
  <component><structuredBody><component><section>
    <code code="29545-1" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC" displayName="Examen physique"/>
    <title>Synthèse</title>
    <text><paragraph>{esc(text)}</paragraph></text>
  </section></component></structuredBody></component>
</ClinicalDocument>
"""
    return xml.encode("utf-8")


# ----------------------------------------------------------------------------- dataset

class Dataset:
    """The seeded resources, by type, in a stable order."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.by_type: dict[str, list[dict[str, Any]]] = {t: [] for t in COUNTS}
        self.documents: dict[str, bytes] = {}
        self._build()

    # -- generators
    def _when(self, start_year: int = 2019, end_year: int = 2024) -> dt.datetime:
        rng = self.rng
        day = dt.date(start_year, 1, 1) + dt.timedelta(days=rng.randrange((dt.date(end_year, 6, 1) - dt.date(start_year, 1, 1)).days))
        return dt.datetime.combine(day, dt.time(rng.randrange(8, 19), rng.choice([0, 15, 30, 45])))

    def _meta(self) -> dict[str, Any]:
        when = self._when(2024, 2024)
        return {"versionId": "1", "lastUpdated": local_dt(when)}

    def _note(self, sentences: int) -> str:
        return " ".join(self.rng.choice(NOTE_SENTENCES) for _ in range(sentences))

    def _build(self) -> None:
        rng = self.rng
        orgs = self.by_type["Organization"]
        orgs.append({"resourceType": "Organization", "id": "org-cabinet", "meta": self._meta(),
                     "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1690000000"}],
                     "active": True, "name": "Cabinet médical démo — Croix-Rousse",
                     "address": [{"line": ["12 rue d'Austerlitz"], "city": "Lyon", "postalCode": "69004", "country": "FR"}]})
        orgs.append({"resourceType": "Organization", "id": "org-labo", "meta": self._meta(),
                     "active": True, "name": "Laboratoire de biologie médicale des Pentes"})
        for n in range(1, COUNTS["Practitioner"] + 1):
            body = "1" + "".join(str(rng.randrange(10)) for _ in range(9))
            female = rng.random() < 0.5
            self.by_type["Practitioner"].append({
                "resourceType": "Practitioner", "id": f"prac-{n:02d}", "meta": self._meta(),
                "identifier": [{"system": SYSTEM_RPPS, "value": body + luhn_digit(body)}],
                "active": True,
                "name": [{"family": rng.choice(FAMILY), "given": [rng.choice(FIRST_F if female else FIRST_M)],
                          "prefix": ["Dr"]}],
                "gender": "female" if female else "male"})
        for n in range(1, COUNTS["Patient"] + 1):
            female = rng.random() < 0.52
            birth = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(365 * 80))
            city, zipcode, dept = rng.choice(CITIES)
            body = f"{2 if female else 1}{birth.year % 100:02d}{birth.month:02d}{dept}{rng.randrange(1, 999):03d}{rng.randrange(1, 999):03d}"
            ins = body + f"{nir_key(body):02d}"
            given = rng.choice(FIRST_F if female else FIRST_M)
            family = rng.choice(FAMILY)
            patient = {
                "resourceType": "Patient", "id": f"pat-{n:04d}", "meta": self._meta(),
                "identifier": [
                    {"use": "official", "type": INS_TYPE, "system": SYSTEM_INS, "value": ins},
                    {"use": "usual", "system": "https://demo-cabinet.example/patients", "value": f"DOS-{10000 + n}"},
                ],
                "active": True,
                "name": [{"use": "official", "family": family, "given": [given]}],
                "telecom": [{"system": "phone", "value": f"06 {rng.randrange(10, 99)} {rng.randrange(10, 99)} "
                                                          f"{rng.randrange(10, 99)} {rng.randrange(10, 99)}", "use": "mobile"}],
                "gender": "female" if female else "male",
                "birthDate": birth.isoformat(),
                "address": [{"use": "home", "line": [f"{rng.randrange(1, 120)} {rng.choice(STREETS)}"], "city": city,
                             "postalCode": zipcode, "country": "FR"}],
                "generalPractitioner": [{"reference": f"Practitioner/prac-{rng.randrange(1, COUNTS['Practitioner'] + 1):02d}"}],
                "managingOrganization": {"reference": "Organization/org-cabinet"},
            }
            self.by_type["Patient"].append(patient)
        patients = self.by_type["Patient"]
        pracs = self.by_type["Practitioner"]
        for n in range(1, COUNTS["Encounter"] + 1):
            patient = patients[(n - 1) % len(patients)]
            start = self._when()
            end = start + dt.timedelta(minutes=rng.choice([15, 20, 30]))
            self.by_type["Encounter"].append({
                "resourceType": "Encounter", "id": f"enc-{n:04d}", "meta": self._meta(), "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
                "type": [{"coding": [{"system": SNOMED, "code": "11429006", "display": "Consultation"}]}],
                "subject": {"reference": f"Patient/{patient['id']}"},
                "participant": [{"individual": {"reference": f"Practitioner/{rng.choice(pracs)['id']}"}}],
                "period": {"start": local_dt(start), "end": local_dt(end)},
                "serviceProvider": {"reference": "Organization/org-cabinet"}})
        encounters = self.by_type["Encounter"]

        def enc_for(i: int) -> dict[str, Any]:
            return encounters[i % len(encounters)]

        def patient_of(enc: dict[str, Any]) -> str:
            return enc["subject"]["reference"]

        for n in range(1, COUNTS["Observation"] + 1):
            enc = enc_for(rng.randrange(len(encounters)))
            code, display, unit, low, high, decimals = rng.choice(VITALS)
            value = round(rng.uniform(low, high), decimals)
            obs = {
                "resourceType": "Observation", "id": f"obs-{n:04d}", "meta": self._meta(), "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": "laboratory" if code in ("4548-4", "2093-3") else "vital-signs"}]}],
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "subject": {"reference": patient_of(enc)},
                "encounter": {"reference": f"Encounter/{enc['id']}"},
                "effectiveDateTime": enc["period"]["start"],
                "performer": [dict(enc["participant"][0]["individual"])],
                "valueQuantity": {"value": value if decimals else int(value), "unit": unit, "system": UCUM, "code": unit},
            }
            if n % 15 == 0:
                obs["note"] = [{"text": self._note(7)}]
            self.by_type["Observation"].append(obs)
        for n in range(1, COUNTS["Condition"] + 1):
            enc = enc_for(rng.randrange(len(encounters)))
            code, display = rng.choice(CONDITIONS)
            self.by_type["Condition"].append({
                "resourceType": "Condition", "id": f"cond-{n:04d}", "meta": self._meta(),
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                "code": {"coding": [{"system": CIM10, "code": code, "display": display}], "text": display},
                "subject": {"reference": patient_of(enc)}, "encounter": {"reference": f"Encounter/{enc['id']}"},
                "onsetDateTime": enc["period"]["start"], "recordedDate": enc["period"]["start"][:10]})
        for n in range(1, COUNTS["AllergyIntolerance"] + 1):
            patient = patients[rng.randrange(len(patients))]
            code, display = rng.choice(ALLERGENS)
            self.by_type["AllergyIntolerance"].append({
                "resourceType": "AllergyIntolerance", "id": f"alg-{n:04d}", "meta": self._meta(),
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
                "type": "allergy", "category": ["food" if code in ("227493005", "300913006") else "environment" if code in ("418689008", "232347008") else "medication"],
                "criticality": rng.choice(["low", "high"]),
                "code": {"coding": [{"system": SNOMED, "code": code, "display": display}]},
                "patient": {"reference": f"Patient/{patient['id']}"},
                "recordedDate": local_dt(self._when()),
                "note": [{"text": self._note(2)}]})
        for n in range(1, COUNTS["MedicationRequest"] + 1):
            enc = enc_for(rng.randrange(len(encounters)))
            code, display = rng.choice(DRUGS)
            self.by_type["MedicationRequest"].append({
                "resourceType": "MedicationRequest", "id": f"medrx-{n:04d}", "meta": self._meta(),
                "status": rng.choice(["active", "completed"]), "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": ATC, "code": code, "display": display}], "text": display},
                "subject": {"reference": patient_of(enc)}, "encounter": {"reference": f"Encounter/{enc['id']}"},
                "authoredOn": enc["period"]["start"], "requester": dict(enc["participant"][0]["individual"]),
                "dosageInstruction": [{"text": f"{rng.choice(['Un', 'Deux'])} comprimé(s) {rng.choice(['le matin', 'matin et soir', 'au coucher'])} "
                                               f"pendant {rng.choice([7, 30, 90])} jours, à prendre au cours du repas."}]})
        for n in range(1, COUNTS["Immunization"] + 1):
            patient = patients[rng.randrange(len(patients))]
            code, display = rng.choice(VACCINES)
            self.by_type["Immunization"].append({
                "resourceType": "Immunization", "id": f"imm-{n:04d}", "meta": self._meta(), "status": "completed",
                "vaccineCode": {"coding": [{"system": CVX, "code": code}], "text": display},
                "patient": {"reference": f"Patient/{patient['id']}"},
                "occurrenceDateTime": local_dt(self._when()),
                "lotNumber": f"LOT{rng.randrange(100000, 999999)}",
                "performer": [{"actor": {"reference": f"Practitioner/{rng.choice(pracs)['id']}"}}]})
        for n in range(1, COUNTS["DocumentReference"] + 1):
            enc = enc_for(rng.randrange(len(encounters)))
            patient = next(p for p in patients if f"Patient/{p['id']}" == patient_of(enc))
            author = next(p for p in pracs if f"Practitioner/{p['id']}" == enc["participant"][0]["individual"]["reference"])
            is_cda = n % 2 == 1
            doc_id, bin_id = f"doc-{n:04d}", f"bin-{n:04d}"
            doc = {"resourceType": "DocumentReference", "id": doc_id, "meta": self._meta(), "status": "current",
                   "type": {"coding": [{"system": LOINC, "code": "11488-4" if is_cda else "34133-9",
                                        "display": "Note de consultation" if is_cda else "Synthèse"}]},
                   "subject": {"reference": f"Patient/{patient['id']}"},
                   "date": enc["period"]["start"],
                   "author": [{"reference": f"Practitioner/{author['id']}"}],
                   "description": f"{'Compte rendu de consultation' if is_cda else 'Synthèse médicale'} du {enc['period']['start'][:10]}"}
            if is_cda:
                content = make_cda(doc, patient, author, self._note(4))
                mime = "application/xml"
            else:
                content = make_pdf(doc["description"], doc_id)
                mime = "application/pdf"
            doc["content"] = [{"attachment": {"contentType": mime, "url": f"Binary/{bin_id}", "size": len(content),
                                              "hash": sha1_b64(content), "title": doc["description"]},
                               "format": {"system": "http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem",
                                          "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient"}}]
            doc["context"] = {"encounter": [{"reference": f"Encounter/{enc['id']}"}]}
            self.by_type["DocumentReference"].append(doc)
            self.by_type["Binary"].append({"resourceType": "Binary", "id": bin_id, "meta": self._meta(),
                                           "contentType": mime, "data": base64.b64encode(content).decode("ascii")})
            self.documents[bin_id] = content
        for n in range(1, COUNTS["Appointment"] + 1):
            patient = patients[rng.randrange(len(patients))]
            start = self._when(2024, 2025)
            self.by_type["Appointment"].append({
                "resourceType": "Appointment", "id": f"appt-{n:04d}", "meta": self._meta(),
                "status": rng.choice(["booked", "fulfilled", "cancelled", "noshow"]),
                "description": rng.choice(["Consultation de suivi", "Renouvellement d'ordonnance", "Certificat de sport",
                                           "Vaccination", "Bilan annuel"]),
                "start": local_dt(start), "end": local_dt(start + dt.timedelta(minutes=20)), "minutesDuration": 20,
                "participant": [{"actor": {"reference": f"Patient/{patient['id']}"}, "status": "accepted"},
                                {"actor": {"reference": f"Practitioner/{rng.choice(pracs)['id']}"}, "status": "accepted"}]})
        for rtype, expected in COUNTS.items():
            assert len(self.by_type[rtype]) == expected, (rtype, len(self.by_type[rtype]))

    # -- selections
    def known_records(self) -> list[dict[str, Any]]:
        """Records that must come back unchanged: a spread over every type, incl. the tricky ones."""
        picks: list[dict[str, Any]] = []
        for rtype, items in self.by_type.items():
            if rtype == "Binary":
                continue
            step = max(1, len(items) // 4)
            picks.extend(items[::step][:4])
        noted = [o for o in self.by_type["Observation"] if "note" in o][:2]
        picks.extend(o for o in noted if o not in picks)
        return picks


def csv_patients(ds: Dataset, encoding: str = "utf-8", bom: bool = False) -> bytes:
    rows = ["id;ins;nom;prenom;sexe;date_naissance;ville"]
    for p in ds.by_type["Patient"]:
        ins = next(i["value"] for i in p["identifier"] if i["system"] == SYSTEM_INS)
        rows.append(";".join([p["id"], ins, p["name"][0]["family"], p["name"][0]["given"][0], p["gender"],
                              p["birthDate"], p["address"][0]["city"]]))
    text = "\r\n".join(rows) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding, "replace")


def csvw_metadata(name: str) -> bytes:
    meta = {"@context": "http://www.w3.org/ns/csvw", "url": name,
            "dialect": {"encoding": "utf-8", "delimiter": ";", "header": True},
            "tableSchema": {"columns": [{"name": c, "titles": c, "datatype": "string"} for c in
                                        ["id", "ins", "nom", "prenom", "sexe", "date_naissance", "ville"]]}}
    return (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def export_manifest(files: dict[str, bytes], *, lie: bool = False) -> bytes:
    """A Bulk-Data-shaped manifest of the archive's NDJSON files (relative urls), plus the other files."""
    output, other = [], []
    for name, data in sorted(files.items()):
        if name.endswith(".ndjson"):
            count = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
            output.append({"type": Path(name).stem, "url": name, "count": count})
        elif name.endswith(".csv"):
            other.append({"url": name, "mediaType": "text/csv; charset=utf-8" if not lie else "text/csv"})
    if lie:
        for entry in output:
            if entry["type"] == "Observation":
                entry["count"] += 45
        output = [e for e in output if e["type"] != "Appointment"]
        output.append({"type": "Immunization", "url": "fhir/Immunization.ndjson", "count": 150})
        output.sort(key=lambda e: e["url"])
    manifest = {"transactionTime": "2024-06-11T12:00:00+02:00", "request": "export://full",
                "requiresAccessToken": False, "output": output, "error": [],
                "extension": {"https://lgc-harness.example/export-files": other}}
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


README_GOOD = """Export complet du dossier patient — DemoCabinet 4.2.0
=====================================================

Contenu (formats ouverts et documentés) :
- fhir/<Type>.ndjson : ressources FHIR R4, une par ligne (NDJSON, UTF-8) ;
- fhir/Binary.ndjson : documents (CDA R2 en XML, PDF/A-1b) encodés en base64 ;
- manifest.json : manifeste au format FHIR Bulk Data (nombre de ressources par fichier) ;
- csv/patients.csv : liste des patients, CSV séparé par « ; », UTF-8, décrit par
  csv/patients.csv-metadata.json (W3C CSVW).
"""

README_POOR = """EXPORT VIEUXCABINET
fichiers de donnees. Pour relire cabinet.vcdb utiliser VieuxCabinet 1.x.
"""


def good_files(ds: Dataset) -> dict[str, bytes]:
    files = {f"fhir/{rtype}.ndjson": ndjson(items) for rtype, items in ds.by_type.items()}
    files["csv/patients.csv"] = csv_patients(ds)
    files["csv/patients.csv-metadata.json"] = csvw_metadata("patients.csv")
    files["manifest.json"] = export_manifest(files)
    files["README.txt"] = README_GOOD.encode("utf-8")
    return files


def poor_dataset(ds: Dataset) -> dict[str, list[dict[str, Any]]]:
    """The poor vendor's resources: the seeded ones, altered the way real exports get altered."""
    by_type = json.loads(json.dumps(ds.by_type))
    for rtype in POOR_DEFECTS["missing_types"]:
        by_type.pop(rtype)
    known = {(r["resourceType"], r["id"]) for r in ds.known_records()}
    obs = by_type["Observation"]
    for i in range(POOR_DEFECTS["dangling_observation_subjects"]):
        target = obs[100 + 37 * i]
        if (target["resourceType"], target["id"]) not in known:
            target["subject"] = {"reference": f"Patient/pat-{9000 + i:04d}"}
    for i in range(POOR_DEFECTS["dangling_encounter_practitioners"]):
        by_type["Encounter"][50 + 11 * i]["participant"] = [{"individual": {"reference": "Practitioner/prac-ancien-01"}}]

    def find(rtype: str, rid: str) -> dict[str, Any]:
        return next(r for r in by_type[rtype] if r["id"] == rid)

    picks = [r for r in ds.known_records()]
    patients = [r for r in picks if r["resourceType"] == "Patient"]
    encounters = [r for r in picks if r["resourceType"] == "Encounter"]
    noted = [r for r in picks if r["resourceType"] == "Observation" and "note" in r]
    p0 = find("Patient", patients[0]["id"])
    p0["identifier"] = [i for i in p0["identifier"] if i["system"] != SYSTEM_INS]        # INS dropped
    p1 = find("Patient", patients[1]["id"])
    p1["name"][0]["given"] = [p1["name"][0]["given"][0].encode("ascii", "replace").decode()]  # accents mangled
    e0 = find("Encounter", encounters[0]["id"])
    start = dt.datetime.fromisoformat(e0["period"]["start"])
    e0["period"]["start"] = start.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # time zone lost
    e1 = find("Encounter", encounters[1]["id"])
    e1["period"]["end"] = e1["period"]["end"][:10]                                          # precision lost
    o0 = find("Observation", noted[0]["id"])
    o0["note"][0]["text"] = o0["note"][0]["text"][:255]                                     # VARCHAR(255)
    docs = by_type["DocumentReference"]
    docs[3]["content"][0]["attachment"]["url"] = "Binary/bin-absent"
    return by_type


def poor_files(ds: Dataset) -> dict[str, bytes]:
    by_type = poor_dataset(ds)
    binaries = by_type["Binary"]
    for b in binaries:
        content = ds.documents[b["id"]]
        if b["contentType"] == "application/pdf":
            doc_id = "doc-" + b["id"].split("-", 1)[1]
            content = make_pdf("document", doc_id, pdfa=False)
            b["data"] = base64.b64encode(content).decode("ascii")
    # The DocumentReferences still carry the hashes of the PDF/A originals: a Binary altered after hashing.
    # Keep the PDFs' hash mismatch confined to one document: re-hash the others.
    docs = {d["content"][0]["attachment"]["url"]: d for d in by_type["DocumentReference"]}
    for b in binaries:
        doc = docs.get(f"Binary/{b['id']}")
        if doc is None:
            continue
        raw = base64.b64decode(b["data"])
        if b["id"] != "bin-0002":
            doc["content"][0]["attachment"]["size"] = len(raw)
            doc["content"][0]["attachment"]["hash"] = sha1_b64(raw)
    broken = next(b for b in binaries if b["contentType"] == "application/xml")
    raw = base64.b64decode(broken["data"])
    broken["data"] = base64.b64encode(raw[: len(raw) // 2]).decode("ascii")
    doc = docs[f"Binary/{broken['id']}"]
    doc["content"][0]["attachment"]["size"] = len(raw) // 2
    doc["content"][0]["attachment"]["hash"] = sha1_b64(raw[: len(raw) // 2])
    # Well-formed, but without the legal authenticator the CI-SIS header requires: for the dmp validators.
    bare = [b for b in binaries if b["contentType"] == "application/xml"][1]
    raw = base64.b64decode(bare["data"])
    raw = re.sub(rb"<legalAuthenticator>.*?</legalAuthenticator>\n  ", b"", raw, flags=re.S)
    bare["data"] = base64.b64encode(raw).decode("ascii")
    doc = docs[f"Binary/{bare['id']}"]
    doc["content"][0]["attachment"]["size"] = len(raw)
    doc["content"][0]["attachment"]["hash"] = sha1_b64(raw)
    files = {f"fhir/{rtype}.ndjson": ndjson(items) for rtype, items in by_type.items()}
    obs = files["fhir/Observation.ndjson"]
    last_start = obs.rstrip(b"\n").rfind(b"\n") + 1
    files["fhir/Observation.ndjson"] = obs[: last_start + (len(obs) - last_start) // 2]   # truncated last line
    files["csv/patients.csv"] = csv_patients(ds, encoding="cp1252")
    files["manifest.json"] = export_manifest(files, lie=True)
    blob_rng = random.Random(SEED + 1)
    files["data/cabinet.vcdb"] = b"VCDB\x01\x00\x07\x00" + bytes(blob_rng.randrange(256) for _ in range(6000))
    files["LISEZMOI.txt"] = README_POOR.encode("utf-8")
    return files


# ----------------------------------------------------------------------------- archives

def write_zip(path: Path, files: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, files[name], compresslevel=9)
    path.write_bytes(buffer.getvalue())


def write_tar_gz(path: Path, files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            info = tarfile.TarInfo(f"export-vieuxcabinet/{name}")
            info.size, info.mtime, info.mode, info.uname, info.gname = len(files[name]), FIXED_MTIME, 0o644, "", ""
            archive.addfile(info, io.BytesIO(files[name]))
        for name, target in sorted((symlinks or {}).items()):
            info = tarfile.TarInfo(f"export-vieuxcabinet/{name}")
            info.type, info.linkname, info.mtime, info.mode = tarfile.SYMTYPE, target, FIXED_MTIME, 0o777
            archive.addfile(info)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=9, filename="") as gz:
        gz.write(raw.getvalue())
    path.write_bytes(out.getvalue())


def expected_json(ds: Dataset) -> bytes:
    data = {"dataset": DATASET, "version": DATASET_VERSION, "seed": SEED,
            "description": "Seeded reference dataset the demo vendors were loaded with "
                           "(plugins/harness_plugins/portability/demo_data.py).",
            "counts": dict(sorted(COUNTS.items())), "known_records": "known-records.ndjson"}
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


BULK_GOOD = {
    "archive": "../export/demo-good-export.zip",
    "complete_after_polls": 1,
    "retry_after": 1,
    "progress": ["0 %", "50 %"],
    "requires_access_token": False,
    "transaction_time": "2024-06-11T12:00:00Z",   # fixed: two audits of the same demo give the same scorecard
    "honour_type": True,
    "honour_since": True,
    "cancel": "supported",
    "levels": {"patient": "ok", "group": "ok"},
    "groups": ["cabinet"],
}

BULK_POOR = {
    "archive": "../export/demo-poor-export.tar.gz",
    "complete_after_polls": 1,
    "retry_after": 1,
    "progress": ["en cours"],
    "requires_access_token": None,
    "transaction_time": "11/06/2024 12:00",
    "honour_type": False,
    "honour_since": False,
    "cancel": "unsupported",
    "levels": {"patient": "no_content_location", "group": "never_completes"},
    "groups": ["cabinet"],
    "count_delta": {"Observation": 45},
    "fail_downloads": ["Condition"],
    "error_file": "Erreur interne: export des allergies impossible\n",
}


def write_fixtures(root: Path) -> list[Path]:
    """Write every demo portability fixture under ``root`` (the ``fixtures/vendors`` folder)."""
    ds = Dataset()
    written = []
    known = ndjson(ds.known_records())
    for variant, bulk in (("good", BULK_GOOD), ("poor", BULK_POOR)):
        base = root / f"demo-{variant}"
        (base / "export").mkdir(parents=True, exist_ok=True)
        (base / "portability").mkdir(parents=True, exist_ok=True)
        for name, data in (("expected.json", expected_json(ds)), ("known-records.ndjson", known),
                           ("bulk.json", (json.dumps(bulk, indent=2, ensure_ascii=False) + "\n").encode())):
            (base / "portability" / name).write_bytes(data)
            written.append(base / "portability" / name)
    good = root / "demo-good" / "export" / "demo-good-export.zip"
    write_zip(good, good_files(ds))
    poor = root / "demo-poor" / "export" / "demo-poor-export.tar.gz"
    write_tar_gz(poor, poor_files(ds), symlinks={"documents/dernier.pdf": "/srv/vieuxcabinet/docs/last.pdf"})
    written += [good, poor]
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[3] / "fixtures" / "vendors"
    for path in write_fixtures(root):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
