"""Synthetic CDA documents, PDFs and IHE XDM packages the project writes itself.

Used for the demo vendors (``fixtures/vendors/demo-*/dmp/``), the tests and the
benchmark. Everything is fictional and deterministic: names are invented,
NIRs are built with valid keys but carried with the *test* INS OID
(1.2.250.1.213.1.4.10), RPPS numbers are made up with valid Luhn keys.

    python -m harness_plugins.dmp.fixtures fixtures/vendors   # regenerate both demo vendors
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator
from xml.sax.saxutils import escape, quoteattr

from harness_plugins._common.identifiers import luhn_digit, nir_key

OID_INS_TEST = "1.2.250.1.213.1.4.10"
OID_IDNATPS = "1.2.250.1.71.4.2.1"
OID_IDNATST = "1.2.250.1.71.4.2.2"
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def make_nir(body13: str) -> str:
    return body13 + f"{nir_key(body13):02d}"


def make_rpps(body10: str) -> str:
    """``8`` + an 11-digit RPPS whose last digit is its Luhn key."""
    return "8" + body10 + luhn_digit(body10)


# ----------------------------------------------------------------------------- PDF


def pdf_bytes(text: str = "Document de démonstration", pdfa: bool = True) -> bytes:
    """A small, valid one-page PDF 1.4; with ``pdfa`` it carries an XMP packet identifying PDF/A-1b."""
    safe = text.encode("latin-1", "replace").decode("latin-1").replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1")
    xmp = (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
        '<pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Demo</rdf:li></rdf:Alt></dc:title></rdf:Description>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode("utf-8")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + (b" /Metadata 6 0 R" if pdfa else b"") + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if pdfa:
        objects.append(b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(xmp) + xmp + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


# ----------------------------------------------------------------------------- CDA


@dataclass(frozen=True)
class Person:
    family: str
    given: str
    prefix: str = "M"


@dataclass(frozen=True)
class Doc:
    """The facts of one synthetic CDA document; :func:`cda` renders it."""

    kind: str = "vsm"                                  # vsm | level1
    doc_id: str = "1.2.250.1.999.1.1.1"
    set_id: str = "1.2.250.1.999.1.1"
    effective: str = "20240315103000+0100"
    title: str = "Synthèse médicale"
    confidentiality: str = "N"
    language: str = "fr-FR"
    ins: str | None = field(default_factory=lambda: make_nir("2850575056042"))
    ins_oid: str = OID_INS_TEST
    patient: Person = Person("DEMOPATIENT", "CAMILLE", "")
    gender: str = "F"
    birth: str = "19850512"
    rpps: str = field(default_factory=lambda: make_rpps("9990000001"))
    author: Person = Person("DEMODOC", "Alex", "M")
    specialty: tuple[str, str, str] = ("G15_10/SM26", "1.2.250.1.213.1.1.4.5", "Médecin - Qualifié en Médecine Générale (SM)")
    facility: tuple[str, str, str] = ("SA07", "1.2.250.1.71.4.2.4", "Cabinet individuel")
    org_id: str = "3999000017"
    org_name: str = "Cabinet de démonstration"
    volet_template: tuple[str, str | None] | None = ("1.2.250.1.213.1.1.1.13", "201310")
    type_code: tuple[str, str, str] = ("SYNTH", "1.2.250.1.213.1.1.4.12", "Synthèse")
    pdf: bytes | None = None
    encoding: str = "UTF-8"
    extra_root_attr: str = ""
    section_code: str = "46612-8"
    results_code: str = "30954-2"
    comment_fr_template: bool | None = None          # None: no comment entry; False: the FR templateId is missing


ADDR_PS = ("<addr><houseNumber>1</houseNumber><streetName>Rue de la Démo</streetName><postalCode>75001</postalCode>"
           "<city>PARIS</city></addr>")


def _name(person: Person) -> str:
    prefix = f"<prefix>{escape(person.prefix)}</prefix>" if person.prefix else ""
    return f"<name>{prefix}<given>{escape(person.given)}</given><family>{escape(person.family)}</family></name>"


def _org(d: Doc, industry: bool = False) -> str:
    sic = ('<standardIndustryClassCode code="AMBULATOIRE" displayName="Ambulatoire" '
           'codeSystem="1.2.250.1.213.1.1.4.9" codeSystemName="practiceSettingCode"/>') if industry else ""
    return (f'<representedOrganization><id root="{OID_IDNATST}" extension="{d.org_id}"/>'
            f'<name>{escape(d.org_name)}</name><telecom value="tel:0100000000" use="WP"/>'
            f'{ADDR_PS}{sic}</representedOrganization>')


def _ps(d: Doc, tag: str = "assignedEntity", industry: bool = True, code: bool = True) -> str:
    spec = d.specialty
    code_el = (f'<code code="{spec[0]}" codeSystem="{spec[1]}" codeSystemName="RPPS" '
               f'displayName={quoteattr(spec[2])}/>') if code else ""
    return (f'<{tag}><id root="{OID_IDNATPS}" extension="{d.rpps}"/>{code_el}'
            f'{ADDR_PS}<telecom value="tel:0100000000" use="WP"/>'
            f'<assignedPerson>{_name(d.author)}</assignedPerson>{_org(d, industry)}</{tag}>')


def _header(d: Doc) -> str:
    templates = ['<templateId root="2.16.840.1.113883.2.8.2.1"/>', '<templateId root="1.2.250.1.213.1.1.1.1"/>']
    if d.kind == "level1":
        templates.append('<templateId root="1.3.6.1.4.1.19376.1.2.20"/>')
    if d.volet_template:
        root, ext = d.volet_template
        templates.append(f'<templateId root="{root}"' + (f' extension="{ext}"' if ext else "") + "/>")
    patient_ids = (f'<id root="{d.ins_oid}" extension="{d.ins}"/>' if d.ins else "") + \
        '<id root="1.2.250.1.999.1.2" extension="DEMO-IPP-0001"/>'
    participant = ""
    if d.kind == "vsm":
        participant = (f'<participant typeCode="INF"><functionCode code="PCP" displayName="Médecin Traitant" '
                       f'codeSystem="2.16.840.1.113883.5.88"/><time xsi:type="IVL_TS"><low value="{d.effective}"/></time>'
                       f'<associatedEntity classCode="PROV"><id root="{OID_IDNATPS}" extension="{d.rpps}"/>'
                       f'<associatedPerson>{_name(d.author)}</associatedPerson></associatedEntity></participant>')
    service_code = ('<code code="34117-2" displayName="Historique et clinique" codeSystem="2.16.840.1.113883.6.1" '
                    'codeSystemName="LOINC"/>') if d.kind == "vsm" else \
        '<code code="GLQP012" displayName="Acte de démonstration" codeSystem="1.2.250.1.213.2.5"/>'
    tc = d.type_code
    return f"""<?xml version="1.0" encoding="{d.encoding}"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"{d.extra_root_attr}>
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  {''.join(templates)}
  <id root="{d.doc_id}"/>
  <code code="{tc[0]}" codeSystem="{tc[1]}" displayName={quoteattr(tc[2])}/>
  <title>{escape(d.title)}</title>
  <effectiveTime value="{d.effective}"/>
  <confidentialityCode code="{d.confidentiality}" codeSystem="2.16.840.1.113883.5.25" displayName="Normal"/>
  <languageCode code="{d.language}"/>
  <setId root="{d.set_id}"/>
  <versionNumber value="1"/>
  <recordTarget>
    <patientRole>
      {patient_ids}
      <addr><houseNumber>2</houseNumber><streetName>Avenue Imaginaire</streetName><postalCode>75002</postalCode><city>PARIS</city></addr>
      <patient classCode="PSN">
        <name><family qualifier="BR">{escape(d.patient.family)}</family><given>{escape(d.patient.given)}</given><given qualifier="BR">{escape(d.patient.given.split()[0])}</given></name>
        <administrativeGenderCode code="{d.gender}" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="{d.birth}"/>
        <birthplace><place><addr><county>75056</county><city>PARIS</city></addr></place></birthplace>
      </patient>
    </patientRole>
  </recordTarget>
  <author>
    <time value="{d.effective}"/>
    {_ps(d, "assignedAuthor", industry=False)}
  </author>
  <custodian>
    <assignedCustodian>
      <representedCustodianOrganization>
        <id root="{OID_IDNATST}" extension="{d.org_id}"/>
        <name>{escape(d.org_name)}</name>
        <telecom value="tel:0100000000" use="WP"/>
        {ADDR_PS}
      </representedCustodianOrganization>
    </assignedCustodian>
  </custodian>
  <legalAuthenticator>
    <time value="{d.effective}"/>
    <signatureCode code="S"/>
    {_ps(d)}
  </legalAuthenticator>
  {participant}
  <documentationOf>
    <serviceEvent>
      {service_code}
      <effectiveTime><low value="{d.effective}"/></effectiveTime>
      <performer typeCode="PRF">{_ps(d)}</performer>
    </serviceEvent>
  </documentationOf>
  <componentOf>
    <encompassingEncounter>
      <effectiveTime><low value="{d.effective}"/></effectiveTime>
      <location>
        <healthCareFacility>
          <code code="{d.facility[0]}" codeSystem="{d.facility[1]}" displayName={quoteattr(d.facility[2])}/>
        </healthCareFacility>
      </location>
    </encompassingEncounter>
  </componentOf>
"""


def _section(template_roots: list[str], code: tuple[str, str], title: str, text: str | None, section_id: str,
             subsections: str = "") -> str:
    templates = "".join(f'<templateId root="{r}"/>' for r in template_roots)
    text_el = f"<text>{text}</text>" if text is not None else ""
    return (f'<component><section>{templates}<id root="{section_id}"/>'
            f'<code code="{code[0]}" displayName={quoteattr(code[1])} codeSystem="2.16.840.1.113883.6.1" '
            f'codeSystemName="LOINC"/><title>{escape(title)}</title>{text_el}{subsections}</section></component>')


def _comment_entry(d: Doc) -> str:
    if d.comment_fr_template is None:
        return ""
    fr = '<templateId root="1.2.250.1.213.1.1.3.32"/>' if d.comment_fr_template else ""
    return ('<entry><act classCode="ACT" moodCode="EVN"><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.2"/>' + fr +
            '<code code="48767-8" displayName="Commentaire" codeSystem="2.16.840.1.113883.6.1"/>'
            '<text><reference value="#comment-1"/></text><statusCode code="completed"/></act></entry>')


def _vsm_body(d: Doc) -> str:
    sections = [
        _section(["1.2.250.1.213.1.1.2.29"], (d.section_code, "Conclusions de synthèse"),
                 "Pathologie en cours, antécédents, allergies et facteurs de risques", None,
                 "5BD8E00D-0000-4D65-8899-000000000001",
                 _section(["1.2.250.1.213.1.1.2.30"], ("34117-2", "Historique et physique"),
                          "Pathologies en cours, antécédents et allergies",
                          '<paragraph ID="comment-1">Aucune pathologie connue (document de démonstration).</paragraph>',
                          "5BD8E00D-0000-4D65-8899-000000000011", _comment_entry(d))
                 + _section(["1.2.250.1.213.1.1.2.31"], ("57207-3", "Facteurs de risque"), "Facteurs de risque",
                            "<paragraph>Aucun facteur de risque connu.</paragraph>",
                            "5BD8E00D-0000-4D65-8899-000000000012")),
        _section(["1.3.6.1.4.1.19376.1.5.3.1.3.27", "1.2.250.1.213.1.1.2.150"], (d.results_code, "Résultats d'examens"),
                 "Points de vigilance", "<paragraph>Aucun point de vigilance.</paragraph>",
                 "5BD8E00D-0000-4D65-8899-000000000002"),
        _section(["1.2.250.1.213.1.1.2.32"], ("18776-5", "Plan de traitement"), "Traitement au long cours",
                 "<paragraph>Aucun traitement au long cours.</paragraph>", "5BD8E00D-0000-4D65-8899-000000000003"),
    ]
    return "  <component>\n    <structuredBody>\n      " + "\n      ".join(sections) + \
        "\n    </structuredBody>\n  </component>\n"


def cda(d: Doc) -> bytes:
    """Render a synthetic CDA document."""
    if d.kind == "level1":
        data = d.pdf if d.pdf is not None else pdf_bytes(d.title)
        b64 = base64.b64encode(data).decode("ascii")
        lines = "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
        body = f'  <component>\n    <nonXMLBody>\n      <text mediaType="application/pdf" representation="B64">\n{lines}\n      </text>\n    </nonXMLBody>\n  </component>\n'
    else:
        body = _vsm_body(d)
    text = _header(d) + body + "</ClinicalDocument>\n"
    return _pretty(text.encode("utf-8"), d.encoding)


def _pretty(data: bytes, encoding: str) -> bytes:
    """Indent the document so that findings point at distinct lines (the text of base64 bodies is kept)."""
    from lxml import etree

    root = etree.fromstring(data, etree.XMLParser(huge_tree=True))
    etree.indent(root, space="  ")
    body = etree.tostring(root, encoding="unicode")
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n'
    return (declaration + body + "\n").encode("utf-8")


# ----------------------------------------------------------------------------- XDM


def _slot(name: str, *values: str) -> str:
    vals = "".join(f"<rim:Value>{escape(v)}</rim:Value>" for v in values)
    return f'<rim:Slot name="{name}"><rim:ValueList>{vals}</rim:ValueList></rim:Slot>'


def _classification(scheme: str, obj: str, node: str, coding: str, display: str, ident: str,
                    extra_slots: str = "") -> str:
    return (f'<rim:Classification id="{ident}" classificationScheme="{scheme}" classifiedObject="{obj}" '
            f'nodeRepresentation="{escape(node)}">{_slot("codingScheme", coding)}{extra_slots}'
            f'<rim:Name><rim:LocalizedString value={quoteattr(display)}/></rim:Name></rim:Classification>')


def to_utc(ts: str) -> str:
    from .xdm import to_utc as convert

    return convert(ts) or ts


@dataclass(frozen=True)
class Entry:
    """One document of an XDM package, with what its DocumentEntry metadata says about it."""

    filename: str
    doc: Doc
    content: bytes
    hash_override: str | None = None
    size_override: str | None = None
    patient_override: str | None = None


def metadata_xml(entries: list[Entry]) -> bytes:
    """An ebRIM SubmitObjectsRequest with one DocumentEntry per document and a SubmissionSet."""
    from . import xdm as X

    objs = []
    for n, e in enumerate(entries, start=1):
        d = e.doc
        eo = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        pid = e.patient_override or f"{d.ins}^^^&{d.ins_oid}&ISO"
        digest = e.hash_override or hashlib.sha1(e.content).hexdigest()
        size = e.size_override or str(len(e.content))
        author = (_slot("authorPerson", f"{d.rpps}^{d.author.family}^{d.author.given}^^^^^^&{OID_IDNATPS}&ISO")
                  + _slot("authorSpecialty", f"{d.specialty[0]}^{d.specialty[2]}^^^^^^^&{d.specialty[1]}&ISO"))
        tc = d.type_code
        objs.append(
            f'<rim:ExtrinsicObject id="{eo}" mimeType="text/xml" objectType="{X.DOCUMENT_ENTRY}">'
            + _slot("creationTime", to_utc(d.effective))
            + _slot("hash", digest)
            + _slot("languageCode", d.language)
            + _slot("serviceStartTime", to_utc(d.effective))
            + _slot("size", size)
            + _slot("sourcePatientId", pid)
            + _slot("sourcePatientInfo", f"PID-5|{d.patient.family}^{d.patient.given}^^^^^L",
                    f"PID-7|{d.birth}", f"PID-8|{d.gender}")
            + _slot("URI", e.filename)
            + f'<rim:Name><rim:LocalizedString value={quoteattr(d.title)}/></rim:Name>'
            + _classification(X.AUTHOR, eo, "", "", "", f"cl-author-{n}", author).replace(
                _slot("codingScheme", ""), "")
            + _classification(X.CLASS_CODE, eo, "10", "1.2.250.1.213.1.1.4.1", "Compte rendu", f"cl-class-{n}")
            + _classification(X.CONFIDENTIALITY, eo, d.confidentiality, "2.16.840.1.113883.5.25", "Normal",
                              f"cl-conf-{n}")
            + _classification(X.FORMAT_CODE, eo, "urn:ihe:iti:xds-sd:pdf:2008" if d.kind == "level1" else
                              "urn:asip:ci-sis:vsm:2012", "1.2.250.1.213.1.1.4.2.282", "Format", f"cl-format-{n}")
            + _classification(X.FACILITY_TYPE, eo, d.facility[0], d.facility[1], d.facility[2], f"cl-facility-{n}")
            + _classification(X.PRACTICE_SETTING, eo, "AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire",
                              f"cl-practice-{n}")
            + _classification(X.TYPE_CODE, eo, tc[0], tc[1], tc[2], f"cl-type-{n}")
            + f'<rim:ExternalIdentifier id="ei-pid-{n}" registryObject="{eo}" identificationScheme="{X.PATIENT_ID}" '
              f'value="{escape(pid)}"><rim:Name><rim:LocalizedString value="XDSDocumentEntry.patientId"/></rim:Name>'
              f'</rim:ExternalIdentifier>'
            + f'<rim:ExternalIdentifier id="ei-uid-{n}" registryObject="{eo}" identificationScheme="{X.UNIQUE_ID}" '
              f'value="{d.doc_id}"><rim:Name><rim:LocalizedString value="XDSDocumentEntry.uniqueId"/></rim:Name>'
              f'</rim:ExternalIdentifier>'
            + "</rim:ExtrinsicObject>")
    first = entries[0].doc
    objs.append(
        '<rim:RegistryPackage id="urn:uuid:00000000-0000-4000-9000-000000000001">'
        + _slot("submissionTime", to_utc(first.effective))
        + '<rim:ExternalIdentifier id="ei-ss-pid" registryObject="urn:uuid:00000000-0000-4000-9000-000000000001" '
          'identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446" '
          f'value="{escape(first.ins or "")}^^^&amp;{first.ins_oid}&amp;ISO"/>'
        + "</rim:RegistryPackage>")
    body = "".join(objs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" '
            'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">\n<rim:RegistryObjectList>\n'
            + body.replace("><rim:", ">\n<rim:") + "\n</rim:RegistryObjectList>\n</lcm:SubmitObjectsRequest>\n"
            ).encode("utf-8")


def _zip_write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def xdm_zip(entries: list[Entry], subset: str = "SUBSET01", omit: tuple[str, ...] = ()) -> bytes:
    """An IHE_XDM.ZIP: README.TXT, INDEX.HTM, IHE_XDM/<subset>/METADATA.XML and the documents."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        _zip_write(archive, "README.TXT", b"Demo XDM package written by lgc-harness fixtures (synthetic data).\r\n")
        index = "".join(f"<li>{escape(e.doc.title)}: IHE_XDM/{subset}/{e.filename}</li>" for e in entries)
        _zip_write(archive, "INDEX.HTM", f"<html><body><ul>{index}</ul></body></html>".encode("utf-8"))
        _zip_write(archive, f"IHE_XDM/{subset}/METADATA.XML", metadata_xml(entries))
        for e in entries:
            if e.filename not in omit:
                _zip_write(archive, f"IHE_XDM/{subset}/{e.filename}", e.content)
    return out.getvalue()


# ----------------------------------------------------------------------------- demo vendors


def good_documents() -> dict[str, bytes]:
    vsm = Doc(comment_fr_template=True)
    level1 = Doc(kind="level1", doc_id="1.2.250.1.999.1.2.1", set_id="1.2.250.1.999.1.2", title="Compte rendu scanné",
                 volet_template=None, type_code=("11488-4", "2.16.840.1.113883.6.1", "Compte rendu de consultation"),
                 pdf=pdf_bytes("Compte rendu de consultation (démonstration)", pdfa=True))
    return {"cda/synthese-vsm.xml": cda(vsm), "cda/compte-rendu-pdfa.xml": cda(level1)}


def good_xdm() -> dict[str, bytes]:
    vsm = Doc(doc_id="1.2.250.1.999.1.3.1", set_id="1.2.250.1.999.1.3")
    content = cda(vsm)
    return {"xdm/IHE_XDM.ZIP": xdm_zip([Entry("DOC0001.XML", vsm, content)])}


def poor_documents() -> dict[str, bytes]:
    """One realistic defect per document, each found by a named check (see ``docs/dmp.md``)."""
    base = Doc(doc_id="1.2.250.1.998.1.1.1", set_id="1.2.250.1.998.1.1", author=Person("VIEUXDOC", "Claude"),
               org_name="Cabinet VieuxCabinet", org_id="3998000019", rpps=make_rpps("9980000001"))
    level1 = replace(base, kind="level1", volet_template=None, title="Compte rendu",
                     type_code=("11488-4", "2.16.840.1.113883.6.1", "Compte rendu de consultation"))
    docs = {
        # dmp.cda.ins: no INS at all
        "cda/sans-ins.xml": replace(base, doc_id="1.2.250.1.998.1.1.2", ins=None),
        # dmp.cda.ins: NIR whose key is wrong
        "cda/nir-cle-fausse.xml": replace(base, doc_id="1.2.250.1.998.1.1.3", ins="285057505604299"),
        # dmp.cda.volet: a synthèse (VSM content, code SYNTH) declared with the LDL-SES templateId
        "cda/template-ldl-sur-vsm.xml": replace(base, doc_id="1.2.250.1.998.1.1.4",
                                                volet_template=("1.2.250.1.213.1.1.1.29", "2022.01")),
        # dmp.cda.xsd: an attribute CDA does not know
        "cda/erreur-xsd.xml": replace(base, doc_id="1.2.250.1.998.1.1.5", extra_root_attr=' classCodeX="DOCCLIN"'),
        # dmp.cda.structuration_minimale + dmp.cda.header: confidentiality code outside the value set
        "cda/confidentialite-invalide.xml": replace(base, doc_id="1.2.250.1.998.1.1.6", confidentiality="X"),
        # dmp.cda.rpps: RPPS with a wrong Luhn key
        "cda/rpps-faux.xml": replace(base, doc_id="1.2.250.1.998.1.1.7", rpps="899800000010"),
        # dmp.cda.embedded: level-1 PDF that is not PDF/A (require_pdfa = true in the profile)
        "cda/pdf-non-pdfa.xml": replace(level1, doc_id="1.2.250.1.998.1.2.1", set_id="1.2.250.1.998.1.2",
                                        pdf=pdf_bytes("Compte rendu non PDF/A", pdfa=False)),
        # dmp.cda.header: effectiveTime in the future
        "cda/date-future.xml": replace(base, doc_id="1.2.250.1.998.1.1.8", effective="20990101120000+0100"),
        # dmp.cda.oids (+ xsd, structuration minimale): malformed OID as document id
        "cda/oid-invalide.xml": replace(base, doc_id="1.2.250.01.998"),
        # dmp.cda.modeles_ans: the ANS section with the wrong LOINC code
        "cda/section-code-faux.xml": replace(base, doc_id="1.2.250.1.998.1.1.9", section_code="00000-0"),
        # dmp.cda.modeles_contenus: a Comment entry (IHE PCC) without its CI-SIS templateId
        "cda/commentaire-sans-template-fr.xml": replace(base, doc_id="1.2.250.1.998.1.1.10", comment_fr_template=False),
        # dmp.cda.codes: a document type code that is not in JDV_J07
        "cda/type-inconnu.xml": replace(level1, doc_id="1.2.250.1.998.1.2.2", set_id="1.2.250.1.998.1.2",
                                        type_code=("99999-9", "2.16.840.1.113883.6.1", "Type inventé"),
                                        pdf=pdf_bytes("Type inconnu", pdfa=True)),
    }
    out = {name: cda(doc) for name, doc in docs.items()}
    # dmp.cda.well_formed: truncated
    out["cda/tronque.xml"] = cda(replace(base, doc_id="1.2.250.1.998.1.1.11"))[:1500]
    return out


def poor_xdm() -> dict[str, bytes]:
    vsm = Doc(doc_id="1.2.250.1.998.1.3.1", set_id="1.2.250.1.998.1.3", author=Person("VIEUXDOC", "Claude"),
              org_name="Cabinet VieuxCabinet", org_id="3998000019", rpps=make_rpps("9980000001"))
    content = cda(vsm)
    other = make_nir("2900175056099")
    # dmp.xdm.metadata: the hash and the patient of DOC0001 are wrong;
    # dmp.xdm.package: DOC0002 is listed but not in the archive
    entries = [Entry("DOC0001.XML", vsm, content, hash_override="0" * 40,
                     patient_override=f"{other}^^^&{OID_INS_TEST}&ISO"),
               Entry("DOC0002.XML", replace(vsm, doc_id="1.2.250.1.998.1.3.2"), b"", size_override="1234")]
    return {"xdm/IHE_XDM.ZIP": xdm_zip(entries, omit=("DOC0002.XML",))}


def write_demo(vendors_dir: Path) -> list[Path]:
    written = []
    for variant, parts in (("good", (good_documents(), good_xdm())), ("poor", (poor_documents(), poor_xdm()))):
        root = vendors_dir / f"demo-{variant}" / "dmp"
        for part in parts:
            for rel, data in part.items():
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a developer tool
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/vendors")
    for written_path in write_demo(target):
        print(written_path)


# ----------------------------------------------------------------------------- variants (tests, benchmark)


def mutate(data: bytes, seed: int, operations: int = 2) -> bytes:
    """A deterministic variant of a CDA document with a few realistic defects.

    Each operation drops an element, rewrites a @code or @root, duplicates an element or
    removes a templateId, chosen by ``seed``; the result is still well-formed XML.
    """
    import random

    from lxml import etree

    rng = random.Random(seed)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)
    root = etree.fromstring(data, parser)
    elements = [el for el in root.iter() if isinstance(el.tag, str) and el is not root]
    for _ in range(operations):
        if not elements:
            break
        op = rng.choice(("drop", "code", "root", "duplicate", "template"))
        el = rng.choice(elements)
        if op == "drop" and el.getparent() is not None:
            el.getparent().remove(el)
        elif op == "code":
            coded = [e for e in elements if e.get("code") is not None]
            if coded:
                rng.choice(coded).set("code", rng.choice(("XXX", "0000-0", "INCONNU")))
        elif op == "root":
            rooted = [e for e in elements if e.get("root") is not None]
            if rooted:
                rng.choice(rooted).set("root", rng.choice(("1.2.250.1.999.9", "1.2.250.01.7", "not-an-oid")))
        elif op == "duplicate" and el.getparent() is not None:
            el.addnext(etree.fromstring(etree.tostring(el, with_tail=False)))
        elif op == "template":
            templates = [e for e in elements if etree.QName(e).localname == "templateId"]
            if templates:
                victim = rng.choice(templates)
                if victim.getparent() is not None:
                    victim.getparent().remove(victim)
        elements = [e for e in root.iter() if isinstance(e.tag, str) and e is not root]
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="utf-8")


def iter_variants(sources: list[bytes], count: int, seed: int = 0) -> Iterator[bytes]:
    """``count`` mutated documents built round-robin from ``sources`` (deterministic), one at a time."""
    for i in range(count):
        yield mutate(sources[i % len(sources)], seed * 100_003 + i, operations=1 + i % 3)


def variants(sources: list[bytes], count: int, seed: int = 0) -> list[bytes]:
    """The documents of :func:`iter_variants` as a list."""
    return list(iter_variants(sources, count, seed))
