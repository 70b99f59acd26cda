"""Demo vendor FHIR endpoints, served on loopback by ``harness demo``.

Data comes from ``fixtures/vendors/demo-<variant>/fhir/``; the variant's
behaviour (defects for demo-poor) is decided by that data, not by code paths.
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

FHIR_JSON = "application/fhir+json"


def routes(vendor_dir: Path, variant: str) -> list:
    data_dir = vendor_dir / "fhir"
    if not data_dir.is_dir():
        return []

    async def metadata(request: Request) -> Response:
        body = (data_dir / "metadata.json").read_bytes()
        return Response(body, media_type=FHIR_JSON)

    async def not_found(request: Request) -> Response:
        outcome = {"resourceType": "OperationOutcome",
                   "issue": [{"severity": "error", "code": "not-found", "diagnostics": f"{request.url.path} not found"}]}
        return Response(json.dumps(outcome), status_code=404, media_type=FHIR_JSON)

    return [Mount("/fhir", routes=[Route("/metadata", metadata), Route("/{rest:path}", not_found)])]
