"""Shared helpers for the portability tests: small exports written to disk."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Dupont", "given": ["Hélène"]}],
           "gender": "female", "birthDate": "1970-03-02",
           "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "270037512345647"}]}
PRACTITIONER = {"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Martin"}]}
ENCOUNTER = {"resourceType": "Encounter", "id": "e1", "status": "finished",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
             "subject": {"reference": "Patient/p1"},
             "participant": [{"individual": {"reference": "Practitioner/dr1"}}],
             "period": {"start": "2024-03-05T09:30:00+01:00", "end": "2024-03-05T09:50:00+01:00"}}
OBSERVATION = {"resourceType": "Observation", "id": "o1", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
               "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
               "effectiveDateTime": "2024-03-05T09:35:00+01:00",
               "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
               "note": [{"text": "Fréquence cardiaque normale au repos, patiente asymptomatique."}]}


def line(resource: dict) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def write_export(root: Path, files: dict[str, bytes | dict | list]) -> Path:
    """Write an export folder: bytes as-is, a dict as JSON, a list of resources as NDJSON."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, list):
            content = b"".join(line(r) for r in content)
        elif isinstance(content, dict):
            content = json.dumps(content, ensure_ascii=False).encode()
        path.write_bytes(content)
    return root


def small_export() -> dict[str, list]:
    return {"fhir/Patient.ndjson": [PATIENT], "fhir/Practitioner.ndjson": [PRACTITIONER],
            "fhir/Encounter.ndjson": [ENCOUNTER], "fhir/Observation.ndjson": [OBSERVATION]}


