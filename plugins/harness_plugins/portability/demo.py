"""Demo FHIR Bulk Data ``$export`` endpoints, mounted at ``/bulk`` by ``harness demo``.

The files served are the NDJSON members of the demo vendor's export archive
(``fixtures/vendors/demo-<variant>/export/``); how the endpoint behaves —
honest or lying manifest, cancel supported or not, a job that never
completes, a 500 on one download — is data, in
``fixtures/vendors/demo-<variant>/portability/bulk.json`` (written by
``demo_data.py``), not code paths.

Routes (all under ``/bulk``): ``GET /fhir/$export``, ``GET /fhir/Patient/$export``,
``GET /fhir/Group/{id}/$export`` (kick-off); ``GET|DELETE /jobs/{job}`` (status,
cancel); ``GET /files/{job}/{Type}.ndjson``; ``GET /errors/{job}.ndjson``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tarfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
NOT_IN_PATIENT_COMPARTMENT = {"Practitioner", "Organization", "Binary"}


def outcome(code: str, text: str, severity: str = "error") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": text}]}


def _oo(status: int, code: str, text: str) -> JSONResponse:
    return JSONResponse(outcome(code, text), status_code=status, media_type=FHIR_JSON)


def _parse_instant(value: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else None


class _Data:
    """The archive's NDJSON lines by type, loaded on first use."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self._lines: dict[str, list[bytes]] | None = None
        self._lock = threading.Lock()

    def lines(self) -> dict[str, list[bytes]]:
        with self._lock:
            if self._lines is None:
                self._lines = self._load()
            return self._lines

    def _load(self) -> dict[str, list[bytes]]:
        members: dict[str, bytes] = {}
        if self.archive.name.endswith(".zip"):
            from harness.safety import iter_zip

            members = {name: data for name, data in iter_zip(self.archive) if name.endswith(".ndjson")}
        else:
            with tarfile.open(self.archive, "r:*") as archive:
                for member in archive:
                    if member.isreg() and member.name.endswith(".ndjson") and ".." not in member.name:
                        handle = archive.extractfile(member)
                        if handle is not None:
                            members[member.name] = handle.read()
        out: dict[str, list[bytes]] = {}
        for name, data in sorted(members.items()):
            rtype = PurePosixPath(name).stem
            out[rtype] = [line for line in data.split(b"\n") if line.strip()]
        return out


def routes(vendor_dir: Path, variant: str) -> list:
    config_path = vendor_dir / "portability" / "bulk.json"
    if not config_path.is_file():
        return []
    config = json.loads(config_path.read_text(encoding="utf-8"))
    data = _Data((config_path.parent / config["archive"]).resolve())
    jobs: dict[str, dict[str, Any]] = {}
    counters: dict[str, int] = {}

    def origin(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    async def kickoff(request: Request) -> Response:
        path = request.url.path
        if path.endswith("/Patient/$export"):
            level = "patient"
        elif "/Group/" in path:
            level = "group"
            if request.path_params.get("gid") not in config.get("groups", []):
                return _oo(404, "not-found", f"Group/{request.path_params.get('gid')} not found")
        else:
            level = "system"
        behaviour = config.get("levels", {}).get(level, "ok")
        honest = config.get("honour_type", True)
        if honest and request.headers.get("prefer", "").strip() != "respond-async":
            return _oo(400, "required", "Prefer: respond-async is required for $export")
        types = [t for t in request.query_params.get("_type", "").split(",") if t]
        since = request.query_params.get("_since")
        if since and config.get("honour_since", True) and _parse_instant(since) is None:
            return _oo(400, "invalid", f"_since {since!r} is not a FHIR instant")
        key = f"{level}|{','.join(types)}|{since or ''}|{request.path_params.get('gid', '')}"
        counters[key] = counters.get(key, 0) + 1
        job_id = hashlib.sha1(key.encode()).hexdigest()[:10] + f"-{counters[key]}"
        jobs[job_id] = {"level": level, "types": types, "since": since, "polls": 0, "cancelled": False,
                        "behaviour": behaviour, "request": str(request.url),
                        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
        headers = {} if behaviour == "no_content_location" else {"Content-Location": f"{origin(request)}/bulk/jobs/{job_id}"}
        return JSONResponse(outcome("informational", "export accepted", "information"), status_code=202,
                            headers=headers, media_type=FHIR_JSON)

    def selected(job: dict[str, Any]) -> dict[str, list[bytes]]:
        lines = data.lines()
        out = {}
        for rtype, items in lines.items():
            if job["level"] != "system" and rtype in NOT_IN_PATIENT_COMPARTMENT:
                continue
            if job["types"] and config.get("honour_type", True) and rtype not in job["types"]:
                continue
            if job["since"] and config.get("honour_since", True):
                since = _parse_instant(job["since"])
                kept = []
                for line in items:
                    try:
                        updated = _parse_instant(json.loads(line).get("meta", {}).get("lastUpdated", ""))
                    except ValueError:
                        updated = None
                    if updated is None or since is None or updated > since:
                        kept.append(line)
                items = kept
            if items:
                out[rtype] = items
        return out

    async def status(request: Request) -> Response:
        job = jobs.get(request.path_params["job"])
        if job is None or job["cancelled"]:
            return _oo(404, "not-found", "no such export job (deleted or unknown)")
        job["polls"] += 1
        never = job["behaviour"] == "never_completes"
        if never or job["polls"] <= config.get("complete_after_polls", 1):
            progress = config.get("progress") or ["in progress"]
            headers = {"Retry-After": "120" if never else str(config.get("retry_after", 1)),
                       "X-Progress": progress[min(job["polls"] - 1, len(progress) - 1)]}
            return Response(status_code=202, headers=headers)
        base = origin(request)
        job_id = request.path_params["job"]
        output = []
        for rtype, items in sorted(selected(job).items()):
            count = len(items) + config.get("count_delta", {}).get(rtype, 0)
            output.append({"type": rtype, "url": f"{base}/bulk/files/{job_id}/{rtype}.ndjson", "count": count})
        manifest: dict[str, Any] = {"transactionTime": config.get("transaction_time") or job["created"],
                                    "request": job["request"]}
        if config.get("requires_access_token") is not None:
            manifest["requiresAccessToken"] = config["requires_access_token"]
        manifest["output"] = output
        manifest["error"] = ([{"type": "OperationOutcome", "url": f"{base}/bulk/errors/{job_id}.ndjson"}]
                             if config.get("error_file") else [])
        return JSONResponse(manifest, media_type="application/json", headers={"Expires": "Tue, 31 Dec 2030 23:59:59 GMT"})

    async def cancel(request: Request) -> Response:
        if config.get("cancel") != "supported":
            return Response("Method Not Allowed", status_code=405, media_type="text/plain")
        job = jobs.get(request.path_params["job"])
        if job is None or job["cancelled"]:
            return _oo(404, "not-found", "no such export job")
        job["cancelled"] = True
        return JSONResponse(outcome("informational", "export job deleted", "information"), status_code=202,
                            media_type=FHIR_JSON)

    async def file(request: Request) -> Response:
        job = jobs.get(request.path_params["job"])
        rtype = request.path_params["name"].removesuffix(".ndjson")
        if job is None or job["cancelled"]:
            return _oo(404, "not-found", "no such export job")
        if rtype in config.get("fail_downloads", []):
            return Response("<html><body><h1>500 Internal Server Error</h1></body></html>", status_code=500,
                            media_type="text/html")
        items = selected(job).get(rtype)
        if items is None:
            return _oo(404, "not-found", f"no {rtype} file in this export")
        return Response(b"\n".join(items) + b"\n", media_type=NDJSON)

    async def errors(request: Request) -> Response:
        if request.path_params["job"] not in jobs:
            return _oo(404, "not-found", "no such export job")
        return Response(config.get("error_file", "").encode("utf-8"), media_type=NDJSON)

    return [Mount("/bulk", routes=[
        Route("/fhir/$export", kickoff, methods=["GET"]),
        Route("/fhir/Patient/$export", kickoff, methods=["GET"]),
        Route("/fhir/Group/{gid}/$export", kickoff, methods=["GET"]),
        Route("/jobs/{job}", status, methods=["GET"]),
        Route("/jobs/{job}", cancel, methods=["DELETE"]),
        Route("/files/{job}/{name}", file, methods=["GET"]),
        Route("/errors/{job}.ndjson", errors, methods=["GET"]),
    ])]
