"""fhir (see its plugin module)."""
