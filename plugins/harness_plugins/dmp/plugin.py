"""dmp plugin: the ``dmp`` target kind (CDA documents and IHE XDM packages) and its checks.

CDA R2 documents are validated the way the ANS TestContenuCDA tool does it —
CDA XSD with the ANS extensions, the structuration minimale schematron, the two
generic content-model schematrons and the schematron of the document's volet —
with the official CI-SIS rule pack compiled once by its own ISO skeleton, plus
the French identifiers (INS/NIR, RPPS), OIDs, header sanity, value sets,
embedded PDFs and the XDM metadata that carries documents to the DMP.
"""

from __future__ import annotations

from harness import Requirement, TargetKind, hookimpl

from . import checks
from .target import SCHEMA, DmpTarget

__version__ = "0.1.0"

CISIS = "ANS CI-SIS (TestContenuCDA 3.0)"
CISIS_URL = "https://github.com/ansforge/TestContenuCDA-3-0"
ESANTE = "https://esante.gouv.fr/interoperabilite/ci-sis"
ITI = "https://profiles.ihe.net/ITI/TF/Volume3/ch-4.2.html"


@hookimpl
def harness_register_target_kinds():
    return [TargetKind("dmp", SCHEMA, lambda config, profile: DmpTarget(config, profile.base_dir).start(),
                       description="CDA R2 documents and IHE XDM packages for the DMP, with the CI-SIS rule pack",
                       path_keys=("documents", "xdm"))]


@hookimpl
def harness_register_checks():
    return list(checks.ALL_CHECKS)


@hookimpl
def harness_register_requirements():
    r = Requirement
    return [
        r(checks.R_WF, "XML 1.0 well-formedness (and no DTD/entity processing of untrusted input)", "W3C XML 1.0",
          "https://www.w3.org/TR/xml/#sec-well-formed"),
        r("XML-1.0:encoding", "Character encoding declared and used consistently (CI-SIS: UTF-8)", "W3C XML 1.0",
          "https://www.w3.org/TR/xml/#charencoding"),
        r(checks.R_XSD, "CDA R2 XML schema with ANS/IHE extensions (infrastructure/cda/CDA_extended.xsd)", CISIS,
          CISIS_URL),
        r(checks.R_SM, "CI-SIS structuration minimale des documents de santé (ASIP-STRUCT-MIN-StrucMin)", CISIS,
          CISIS_URL),
        r(checks.R_MC, "CI-SIS modèles de contenus CDA: IHE PCC/Lab/Pharm and FR sections and entries", CISIS,
          CISIS_URL),
        r(checks.R_ANS, "CI-SIS sections and entries created by ANS (CI-SIS_Modeles_ANS)", CISIS, CISIS_URL),
        r(checks.R_VOLET, "CI-SIS volet (document type) specifications, chosen from the document's templateIds",
          CISIS, CISIS_URL),
        r(checks.R_INS, "Identité nationale de santé: matricule INS (NIR) with OID 1.2.250.1.213.1.4.8",
          "Référentiel INS (ANS) / CI-SIS", "https://esante.gouv.fr/produits-services/referentiel-ins"),
        r(f"{checks.R_INS}:present", "The patient carries an INS identifier", "Référentiel INS (ANS) / CI-SIS",
          "https://esante.gouv.fr/produits-services/referentiel-ins"),
        r(f"{checks.R_INS}:nir-key", "NIR of 13 characters with key 97 − (number mod 97); 2A/2B as 19/18",
          "INSEE NIR", "https://esante.gouv.fr/produits-services/referentiel-ins"),
        r(f"{checks.R_INS}:traits", "INS consistent with the patient's sex and date of birth",
          "Référentiel INS (ANS)", "https://esante.gouv.fr/produits-services/referentiel-ins"),
        r(checks.R_RPPS, "Professionals identified by IdNatPs (OID 1.2.250.1.71.4.2.1): 8 + RPPS", CISIS, ESANTE),
        r(f"{checks.R_RPPS}:luhn", "RPPS: 11 digits, the last a Luhn key", "RPPS (ANS)", ESANTE),
        r(f"{checks.R_RPPS}:format", "IdNatPs type prefix and layout (8 RPPS, 0 ADELI, 3/4/5 structure-local)",
          CISIS, ESANTE),
        r(f"{checks.R_RPPS}:author", "A person author is identified by a national professional identifier", CISIS,
          ESANTE),
        r(checks.R_OID, "Object identifiers: dot-separated arcs, no leading zeros (HL7 II.root OID or UUID)",
          "ISO/IEC 9834-1, HL7 V3 datatypes", "https://www.hl7.org/implement/standards/product_brief.cfm?product_id=7"),
        r(checks.R_HEADER, "CDA header: confidentialityCode, languageCode, effectiveTime, title", CISIS, CISIS_URL),
        r(f"{checks.R_HEADER}:confidentialityCode", "confidentialityCode N, R or V of HL7 Confidentiality", CISIS,
          CISIS_URL),
        r(f"{checks.R_HEADER}:languageCode", "languageCode: a language tag, fr-FR for CI-SIS documents", CISIS,
          CISIS_URL),
        r(f"{checks.R_HEADER}:effectiveTime", "effectiveTime: a real date-time to the second with its time zone",
          CISIS, CISIS_URL),
        r(f"{checks.R_HEADER}:title", "The document has a title", CISIS, CISIS_URL),
        r(checks.R_CODES, "Header codes drawn from the CI-SIS value sets (jeuxDeValeurs J01/J02/J07)", CISIS,
          "https://mos.esante.gouv.fr/NOS/"),
        r(checks.R_EMBED, "Embedded documents (nonXMLBody, observationMedia): decodable, typed, PDF/A where required",
          CISIS, CISIS_URL),
        r(f"{checks.R_EMBED}:pdfa", "PDF documents identify as PDF/A (XMP pdfaid) where the volet requires it",
          "ISO 19005 / CI-SIS", CISIS_URL),
        r(f"{checks.R_EMBED}:pdf", "Embedded PDF complete and not encrypted", "ISO 32000 / CI-SIS", CISIS_URL),
        r(checks.R_XDM, "IHE XDM: ZIP layout IHE_XDM/<subset>/METADATA.XML, INDEX.HTM, README.TXT", "IHE ITI TF-1/2 XDM",
          "https://profiles.ihe.net/ITI/TF/Volume2/ITI-32.html"),
        r(f"{checks.R_XDM}:archive", "A package is a safe zip: no traversal, no bomb, no links", "IHE ITI XDM",
          "https://profiles.ihe.net/ITI/TF/Volume2/ITI-32.html"),
        r(f"{checks.R_XDM}:layout", "XDM file layout", "IHE ITI XDM", "https://profiles.ihe.net/ITI/TF/Volume2/ITI-32.html"),
        r(f"{checks.R_XDM}:metadata", "METADATA.XML is a readable ebRIM SubmitObjectsRequest", "IHE ITI XDM",
          "https://profiles.ihe.net/ITI/TF/Volume2/ITI-32.html"),
        r(checks.R_XDM_META, "XDS DocumentEntry metadata consistent with the document", "IHE ITI TF-3 4.2.3.2", ITI),
        *[r(f"{checks.R_XDM_META}.{name}", f"DocumentEntry.{name}", "IHE ITI TF-3 4.2.3.2", ITI)
          for name in ("hash", "size", "mimeType", "patientId", "uniqueId", "typeCode", "classCode", "formatCode",
                       "confidentialityCode", "healthcareFacilityTypeCode", "author", "creationTime", "languageCode",
                       "title", "URI", "document")],
    ]
