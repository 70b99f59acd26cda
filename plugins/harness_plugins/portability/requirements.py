"""Requirements the portability checks trace to: Bulk Data IG v2 sections, FHIR R4, formats, reversibility."""

from __future__ import annotations

from harness import Requirement

BULK = "https://hl7.org/fhir/uv/bulkdata/STU2/export.html"
R4 = "https://hl7.org/fhir/R4"
BULK_SRC = "HL7 FHIR Bulk Data Access IG 2.0.0 (STU2)"
R4_SRC = "HL7 FHIR R4 4.0.1"
REV_SRC = ("Reversibility obligation: when a doctor leaves a vendor, the patients' records leave with them, "
           "complete, unchanged and readable by the next software (cf. GDPR art. 20, Data Act (EU) 2023/2854 ch. VI)")

BULK_KICKOFF = "BulkData-2.0:kick-off"
BULK_KICKOFF_RESPONSE = "BulkData-2.0:kick-off-response"
BULK_PARAMS = "BulkData-2.0:query-parameters"
BULK_IN_PROGRESS = "BulkData-2.0:status-in-progress"
BULK_ERROR = "BulkData-2.0:status-error"
BULK_COMPLETE = "BulkData-2.0:status-complete"
BULK_DELETE = "BulkData-2.0:delete"
BULK_FILE = "BulkData-2.0:file-request"
NDJSON = "FHIR-R4:nd-json"
VALIDATION = "FHIR-R4:validation"
REFERENCES = "FHIR-R4:references"
ATTACHMENT = "FHIR-R4:datatypes.attachment"
CDA = "HL7-CDA-R2:clinical-document"
RFC4180 = "RFC-4180:text-csv"
CSVW = "W3C-CSVW:dialect"
PDFA = "ISO-19005:pdf-a"
COMPLETE = "REVERSIBILITY:complete"
UNCHANGED = "REVERSIBILITY:unchanged"
OPEN_FORMATS = "REVERSIBILITY:open-formats"
INTEGRITY = "REVERSIBILITY:integrity"
READABLE = "REVERSIBILITY:readable"

REQUIREMENTS = [
    Requirement(BULK_KICKOFF, "Bulk Data kick-off request (system, Patient, Group level; Prefer: respond-async)",
                BULK_SRC, f"{BULK}#bulk-data-kick-off-request"),
    Requirement(BULK_KICKOFF_RESPONSE, "Kick-off success: 202 Accepted with a Content-Location status URL",
                BULK_SRC, f"{BULK}#response---success"),
    Requirement(BULK_PARAMS, "Kick-off query parameters (_type, _since, _outputFormat)", BULK_SRC,
                f"{BULK}#query-parameters"),
    Requirement(BULK_IN_PROGRESS, "Status request: in-progress 202 with X-Progress and Retry-After", BULK_SRC,
                f"{BULK}#response---in-progress-status"),
    Requirement(BULK_ERROR, "Status request: error 4xx/5xx with an OperationOutcome (transient codes retried)",
                BULK_SRC, f"{BULK}#response---error-status-1"),
    Requirement(BULK_COMPLETE, "Status request: complete 200 with the JSON manifest (transactionTime, request, "
                "requiresAccessToken, output, error)", BULK_SRC, f"{BULK}#response---complete-status"),
    Requirement(BULK_DELETE, "Delete request: 202 Accepted, then 404 on the status URL", BULK_SRC,
                f"{BULK}#bulk-data-delete-request"),
    Requirement(BULK_FILE, "File request: NDJSON of one resource type per file, requiresAccessToken honoured",
                BULK_SRC, f"{BULK}#file-request"),
    Requirement(NDJSON, "NDJSON format: one resource per line, UTF-8", R4_SRC, f"{R4}/nd-json.html"),
    Requirement(VALIDATION, "Resource validation (structure, cardinality, value domains, profiles)", R4_SRC,
                f"{R4}/validation.html"),
    Requirement(REFERENCES, "Resource references (relative, absolute, contained, urn)", R4_SRC,
                f"{R4}/references.html"),
    Requirement(ATTACHMENT, "Attachment: size (bytes) and hash (base64 SHA-1) of the data", R4_SRC,
                f"{R4}/datatypes.html#Attachment"),
    Requirement(CDA, "HL7 CDA R2 ClinicalDocument (with the French header: INS, author, custodian)",
                "HL7 CDA Release 2 / ANS CI-SIS", "https://www.hl7.org/implement/standards/product_brief.cfm?product_id=7"),
    Requirement(RFC4180, "text/csv: header row and charset", "IETF RFC 4180", "https://www.rfc-editor.org/rfc/rfc4180"),
    Requirement(CSVW, "CSV on the Web metadata: dialect (encoding, header, delimiter)",
                "W3C Metadata Vocabulary for Tabular Data", "https://www.w3.org/TR/tabular-metadata/#dialect-descriptions"),
    Requirement(PDFA, "PDF/A: PDF for long-term archiving (XMP identification, output intent)", "ISO 19005",
                "https://www.iso.org/standard/38920.html"),
    Requirement(COMPLETE, "Every record entrusted to the vendor comes back in the export", REV_SRC,
                "https://eur-lex.europa.eu/eli/reg/2023/2854/oj"),
    Requirement(UNCHANGED, "Records come back unchanged: identity (INS), dates and time zones, full text", REV_SRC,
                "https://eur-lex.europa.eu/eli/reg/2016/679/oj#art_20"),
    Requirement(OPEN_FORMATS, "Data comes back in open, documented, machine-readable formats", REV_SRC,
                "https://eur-lex.europa.eu/eli/reg/2016/679/oj#art_20"),
    Requirement(INTEGRITY, "The export is internally consistent: references, attachments, manifest", REV_SRC,
                "https://eur-lex.europa.eu/eli/reg/2023/2854/oj"),
    Requirement(READABLE, "The export can be opened safely by the doctor and the next vendor", REV_SRC,
                "https://eur-lex.europa.eu/eli/reg/2023/2854/oj"),
]
