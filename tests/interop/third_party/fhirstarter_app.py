"""A third-party FHIR server for the interop suite: FHIRStarter (PyPI ``fhirstarter``, FastAPI).

The framework owns the REST layer (CapabilityStatement, routing, content negotiation,
errors and OperationOutcomes); this file only plugs the demo-good resources into it
with read and search-type handlers. Run with an interpreter that has ``fhirstarter``
installed (it pins FastAPI, so keep it in its own virtualenv):

    FHIR_SEQUENCE=R4B python fhirstarter_app.py PORT DATA_DIR
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("FHIR_SEQUENCE", "R4B")

import uvicorn  # noqa: E402
from fhir.resources.R4B.bundle import Bundle  # noqa: E402
from fhir.resources.R4B.patient import Patient  # noqa: E402
from fhir.resources.R4B.practitioner import Practitioner  # noqa: E402

from fhirstarter import FHIRProvider, FHIRStarter, InteractionContext  # noqa: E402
from fhirstarter.exceptions import FHIRResourceNotFoundError  # noqa: E402

DATA: dict[str, dict[str, dict]] = {}
app = FHIRStarter(title="interop third-party check")
provider = FHIRProvider()


def bundle(resources):
    return Bundle(**{"type": "searchset", "total": len(resources),
                     "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources] or None})


def token_ok(value, query):
    if query is None:
        return True
    system, _, code = query.rpartition("|")
    return value.get("value") == code and (not system or value.get("system") == system)


@provider.read(Patient)
async def patient_read(context: InteractionContext, id_: str) -> Patient:
    if id_ not in DATA["Patient"]:
        raise FHIRResourceNotFoundError
    return Patient.model_validate(DATA["Patient"][id_])


@provider.search_type(Patient)
async def patient_search(context: InteractionContext, family: str | None, gender: str | None,
                         identifier: str | None, birthdate: str | None) -> Bundle:
    found = [p for p in DATA["Patient"].values()
             if (family is None or any(n.get("family", "").lower().startswith(family.lower()) for n in p["name"]))
             and (gender is None or p.get("gender") == gender)
             and (birthdate is None or p.get("birthDate") == birthdate)
             and (identifier is None or any(token_ok(i, identifier) for i in p.get("identifier", [])))]
    return bundle(found)


@provider.read(Practitioner)
async def practitioner_read(context: InteractionContext, id_: str) -> Practitioner:
    if id_ not in DATA["Practitioner"]:
        raise FHIRResourceNotFoundError
    return Practitioner.model_validate(DATA["Practitioner"][id_])


@provider.search_type(Practitioner)
async def practitioner_search(context: InteractionContext, family: str | None) -> Bundle:
    return bundle([p for p in DATA["Practitioner"].values()
                   if family is None or any(n.get("family", "").lower().startswith(family.lower())
                                            for n in p["name"])])


app.add_providers(provider)

if __name__ == "__main__":
    port, data_dir = int(sys.argv[1]), Path(sys.argv[2])
    for rtype in ("Patient", "Practitioner"):
        DATA[rtype] = {}
        for line in (data_dir / f"{rtype}.ndjson").read_text(encoding="utf-8").splitlines():
            resource = json.loads(line)
            DATA[rtype][resource["id"]] = resource
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
