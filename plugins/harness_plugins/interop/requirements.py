"""Requirement ids of the interop family: FHIR R4 sections, FR Core profiles, SMART, identifier rules."""

from __future__ import annotations

from harness import Requirement

R4 = "https://hl7.org/fhir/R4"
FRCORE = "https://hl7.fr/ig/fhir/core"
R4_SRC = "HL7 FHIR R4 4.0.1"
FR_SRC = "FR Core 2.0.0 (Interop'Santé)"

CAPABILITY = "FHIR-R4:capabilitystatement"
HTTP_CAPABILITIES = "FHIR-R4:http.capabilities"
MIME = "FHIR-R4:http.mime-type"
FORMAT = "FHIR-R4:http.format"
READ = "FHIR-R4:http.read"
VREAD = "FHIR-R4:http.vread"
HISTORY = "FHIR-R4:http.history"
VERSIONING = "FHIR-R4:http.versioning"
SEARCH = "FHIR-R4:http.search"
SEARCH_PARAMS = "FHIR-R4:search.parameters"
SEARCH_STRING = "FHIR-R4:search.string"
SEARCH_TOKEN = "FHIR-R4:search.token"
SEARCH_DATE = "FHIR-R4:search.date"
SEARCH_REFERENCE = "FHIR-R4:search.reference"
COUNT = "FHIR-R4:search.count"
PAGING = "FHIR-R4:http.paging"
TOTAL = "FHIR-R4:bundle.total"
INCLUDE = "FHIR-R4:search.include"
SEARCH_ERRORS = "FHIR-R4:search.errors"
HTTP_STATUS = "FHIR-R4:http.read-status"
OUTCOME = "FHIR-R4:operationoutcome"
SECURITY = "FHIR-R4:security"
SMART = "SMART-v2:backend-services"
RFC6750 = "RFC6750:3.1"
JSON_FORMAT = "FHIR-R4:json"
VALIDATION = "FHIR-R4:validation"
BINDINGS = "FHIR-R4:terminologies.binding"
FR_PATIENT = "FRCORE:fr-core-patient"
FR_PRACTITIONER = "FRCORE:fr-core-practitioner"
FR_ORGANIZATION = "FRCORE:fr-core-organization"
INS_NIR = "FR-ID:ins-nir"
RPPS = "FR-ID:rpps"
FINESS = "FR-ID:finess"
DECLARED = "FHIR-R4:capabilitystatement.rest"

PARAM_TYPE_REQ = {"string": SEARCH_STRING, "token": SEARCH_TOKEN, "date": SEARCH_DATE, "reference": SEARCH_REFERENCE}
FR_PROFILE_REQ = {"Patient": FR_PATIENT, "Practitioner": FR_PRACTITIONER, "Organization": FR_ORGANIZATION}

REQUIREMENTS = [
    Requirement(CAPABILITY, "CapabilityStatement resource", R4_SRC, f"{R4}/capabilitystatement.html"),
    Requirement(HTTP_CAPABILITIES, "RESTful API: capabilities interaction (GET [base]/metadata)", R4_SRC,
                f"{R4}/http.html#capabilities"),
    Requirement(DECLARED, "CapabilityStatement.rest: the interactions, search parameters and includes a server "
                "declares are the ones it supports", R4_SRC, f"{R4}/capabilitystatement-definitions.html"),
    Requirement(MIME, "RESTful API: content types (application/fhir+json) and content negotiation", R4_SRC,
                f"{R4}/http.html#mime-type"),
    Requirement(FORMAT, "RESTful API: the _format parameter overrides Accept (SHOULD)", R4_SRC,
                f"{R4}/http.html#mime-type"),
    Requirement(READ, "RESTful API: read interaction (GET [base]/[type]/[id]); 404 for unknown, 410 for deleted",
                R4_SRC, f"{R4}/http.html#read"),
    Requirement(VREAD, "RESTful API: vread interaction (GET [base]/[type]/[id]/_history/[vid])", R4_SRC,
                f"{R4}/http.html#vread"),
    Requirement(HISTORY, "RESTful API: history interaction (Bundle of type history)", R4_SRC,
                f"{R4}/http.html#history"),
    Requirement(VERSIONING, "RESTful API: ETag carries meta.versionId (W/\"vid\"), Last-Modified meta.lastUpdated",
                R4_SRC, f"{R4}/http.html#versioning"),
    Requirement(SEARCH, "RESTful API: search interaction (GET/POST [base]/[type]?…, Bundle searchset)", R4_SRC,
                f"{R4}/http.html#search"),
    Requirement(SEARCH_PARAMS, "Search: parameters for all resources and per resource type", R4_SRC,
                f"{R4}/search.html#standard"),
    Requirement(SEARCH_STRING, "Search: string parameters (case- and accent-insensitive, starts-with)", R4_SRC,
                f"{R4}/search.html#string"),
    Requirement(SEARCH_TOKEN, "Search: token parameters ([system]|[code])", R4_SRC, f"{R4}/search.html#token"),
    Requirement(SEARCH_DATE, "Search: date parameters (eq/ge/le … with implicit precision ranges)", R4_SRC,
                f"{R4}/search.html#date"),
    Requirement(SEARCH_REFERENCE, "Search: reference parameters ([type]/[id])", R4_SRC,
                f"{R4}/search.html#reference"),
    Requirement(COUNT, "Search: _count — the server may return fewer results, never more", R4_SRC,
                f"{R4}/search.html#count"),
    Requirement(PAGING, "RESTful API: paging with Bundle.link next/previous, every result once", R4_SRC,
                f"{R4}/http.html#paging"),
    Requirement(TOTAL, "Bundle.total: number of matches in a searchset (same on every page)", R4_SRC,
                f"{R4}/bundle-definitions.html#Bundle.total"),
    Requirement(INCLUDE, "Search: _include of referenced resources (search.mode = include)", R4_SRC,
                f"{R4}/search.html#include"),
    Requirement(SEARCH_ERRORS, "Search: errors (400 with OperationOutcome; Prefer: handling=strict)", R4_SRC,
                f"{R4}/search.html#errors"),
    Requirement(HTTP_STATUS, "RESTful API: HTTP status codes (404 unknown resource or type, 4xx/5xx errors)", R4_SRC,
                f"{R4}/http.html#read"),
    Requirement(OUTCOME, "OperationOutcome: error details returned with an error status (SHOULD)", R4_SRC,
                f"{R4}/operationoutcome.html"),
    Requirement(SECURITY, "Security: TLS for all production exchanges, authenticated access", R4_SRC,
                f"{R4}/security.html"),
    Requirement(SMART, "SMART Backend Services: client_credentials with a signed JWT assertion", "HL7 SMART App Launch",
                "https://hl7.org/fhir/smart-app-launch/backend-services.html"),
    Requirement(RFC6750, "Bearer tokens: missing or invalid token -> 401 with WWW-Authenticate", "IETF RFC 6750",
                "https://www.rfc-editor.org/rfc/rfc6750#section-3.1"),
    Requirement(JSON_FORMAT, "JSON representation of resources", R4_SRC, f"{R4}/json.html"),
    Requirement(VALIDATION, "Resource validation: structure, cardinality, value domains", R4_SRC,
                f"{R4}/validation.html"),
    Requirement(BINDINGS, "Terminology: required bindings", R4_SRC, f"{R4}/terminologies.html#required"),
    Requirement(FR_PATIENT, "FR Core Patient profile (identifiers INS-NIR/INS-NIA, identity reliability)", FR_SRC,
                f"{FRCORE}/StructureDefinition-fr-core-patient.html"),
    Requirement(FR_PRACTITIONER, "FR Core Practitioner profile (RPPS / ADELI identifiers)", FR_SRC,
                f"{FRCORE}/StructureDefinition-fr-core-practitioner.html"),
    Requirement(FR_ORGANIZATION, "FR Core Organization profile (FINESS / SIRET identifiers)", FR_SRC,
                f"{FRCORE}/StructureDefinition-fr-core-organization.html"),
    Requirement(INS_NIR, "INS-NIR (urn:oid:1.2.250.1.213.1.4.8): 13 characters + key 97 - (NIR mod 97)",
                "ANS Référentiel INS / INSEE", "https://esante.gouv.fr/securite/identite-nationale-de-sante"),
    Requirement(RPPS, "RPPS (urn:oid:1.2.250.1.71.4.2.1): 11 digits with a Luhn key, optionally prefixed 8",
                "ANS Annuaire Santé", "https://esante.gouv.fr/securite/annuaire-sante/faq-annuaire"),
    Requirement(FINESS, "FINESS (urn:oid:1.2.250.1.71.4.2.2): 9 characters with a Luhn key", "DREES / ANS FINESS",
                "https://finess.esante.gouv.fr/"),
]
