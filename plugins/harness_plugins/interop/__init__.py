"""interop family: FHIR R4 API conformance of a vendor endpoint."""
