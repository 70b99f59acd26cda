"""The reference portal import service (Starlette): ``harness portal serve``.

API (JSON; errors are RFC 9457 problem details, ``application/problem+json``,
with a stable ``code``):

=======  ===================================  =================================================
method   path                                 what
=======  ===================================  =================================================
POST     /api/v1/scorecards                   a DSSE envelope (bearer token; ``Idempotency-Key``)
GET      /api/v1/scorecards                   every stored version (metadata)
GET      /api/v1/scorecards/{digest}          one scorecard
GET      /api/v1/scorecards/{digest}/envelope the envelope exactly as received
POST     /api/v1/ratings                      a peer ratings export, CSV / JSON / JSON Lines (bearer token)
GET      /api/v1/ratings/imports              the ratings exports received
GET      /api/v1/keys                         registered auditor keys
GET      /healthz                             liveness, schema version, counts
GET      /site/…                              the comparison site built from the stored data
=======  ===================================  =================================================

Submission outcomes: 201 stored; 200 the same scorecard was already stored
(identical replay; header ``Idempotent-Replayed: true``); 400 malformed or
non-canonical envelope, bad idempotency key; 401 missing/wrong token; 403
signed by a key that is not registered; 409 idempotency key already used for
a different scorecard; 413 too large; 415 wrong media type; 422 unsigned,
bad signature, statement/digest mismatch, schema-invalid, unknown rule pack;
503 storage unavailable (retry).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .dsse import VerificationError, parse_envelope, read_statement, verify_envelope
from .keys import KeyFileError, TrustedKey, public_key_from_pem
from .site import SiteCache
from .store import IdempotencyConflict, Store, StoreError

PROBLEM_BASE = "https://lgc-harness.example/problems/"
IDEMPOTENCY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")
TITLES = {
    "unauthorized": "Missing or invalid bearer token",
    "malformed-envelope": "Malformed DSSE envelope",
    "non-canonical-envelope": "Envelope modified after signing",
    "unsigned": "Unsigned envelope",
    "payload-type": "Wrong payload type",
    "unknown-key": "Unknown signing key",
    "bad-signature": "Signature does not verify",
    "statement-invalid": "Invalid in-toto statement",
    "digest-mismatch": "Scorecard does not match its digest",
    "schema-invalid": "Scorecard does not match its schema",
    "unknown-rule-pack": "Unknown rule pack",
    "idempotency-conflict": "Idempotency key reused for different content",
    "bad-idempotency-key": "Invalid Idempotency-Key header",
    "too-large": "Request body too large",
    "unsupported-media-type": "Unsupported media type",
    "ratings-unusable": "Ratings export unusable",
    "not-found": "Not found",
    "storage-unavailable": "Storage unavailable",
    "internal-error": "Internal error",
}


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def problem_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_BASE + code, "title": TITLES.get(code, code), "status": status, "detail": detail,
            "code": code, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


@dataclass
class PortalConfig:
    store: Store
    tokens: list[str]
    known_packs: set[str] | None = None
    site_dir: Path | None = None
    max_body: int = 256 * 1024 * 1024


def _authorize(request: Request, tokens: list[str]) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Problem(401, "unauthorized", "send 'Authorization: Bearer <token>'")
    given = value.strip().encode("utf-8")
    if not any(hmac.compare_digest(given, t.encode("utf-8")) for t in tokens):
        raise Problem(401, "unauthorized", "the bearer token is not valid for this portal")


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "too-large", f"the body is {int(declared)} bytes; this portal accepts at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "too-large", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def trusted_keys(store: Store) -> dict[str, TrustedKey]:
    keys = {}
    for keyid, name, pem in store.keys():
        try:
            keys[keyid] = TrustedKey(keyid, name, public_key_from_pem(pem, Path(f"<db key {keyid[:12]}>")))
        except KeyFileError:
            continue
    return keys


def product_page(vendor: str, product: str) -> str | None:
    try:
        from harness_plugins.report.site import product_slug
    except ImportError:
        return None
    return f"/site/products/{product_slug(vendor, product)}.html"


def create_app(config: PortalConfig) -> Starlette:
    store = config.store
    site = SiteCache(store, config.site_dir)

    def answer_for(row: Any, signers: list[str]) -> dict[str, Any]:
        return row.to_dict() | {"signers": signers,
                                "links": {"scorecard": f"/api/v1/scorecards/{row.digest}",
                                          "envelope": f"/api/v1/scorecards/{row.digest}/envelope",
                                          "site": product_page(row.vendor, row.product)}}

    def known_replay(body: bytes, idem_key: str | None) -> dict[str, Any] | None:
        """The answer to a byte-identical re-post of an envelope stored under this key (no re-verification)."""
        digest = store.idempotency_digest(idem_key) if idem_key else None
        stored = store.envelope(digest) if digest else None
        if stored is None or stored.encode("utf-8") != body:
            return None
        row = store.scorecard_row(digest)
        names = {keyid: name for keyid, name, _ in store.keys()}
        return answer_for(row, [names.get(k, k) for k in row.keyids])

    def accept_envelope(body: bytes, idem_key: str | None) -> tuple[bool, dict[str, Any]]:
        replay = known_replay(body, idem_key)
        if replay is not None:
            return False, replay
        try:
            verified = verify_envelope(body, trusted_keys(store), config.known_packs)
        except VerificationError as exc:
            raise Problem(exc.status, exc.code, exc.message, step=exc.step) from None
        if idem_key is not None and idem_key.startswith("sha256:") and idem_key != f"sha256:{verified.digest}":
            raise Problem(409, "idempotency-conflict",
                          f"the idempotency key names scorecard {idem_key} but this envelope carries sha256 "
                          f"{verified.digest}", received_digest=verified.digest)
        if idem_key is not None:
            stored = store.idempotency_digest(idem_key)
            if stored is not None and stored != verified.digest:
                raise Problem(409, "idempotency-conflict",
                              f"idempotency key {idem_key!r} was first used for scorecard sha256 {stored}; this "
                              f"envelope carries sha256 {verified.digest}", stored_digest=stored,
                              received_digest=verified.digest)
        try:
            created, row = store.add_scorecard(digest=verified.digest, subject_name=verified.subject_name,
                                               card=verified.scorecard, keyids=verified.keyids,
                                               envelope=body.decode("utf-8"), idempotency_key=idem_key)
        except IdempotencyConflict as exc:
            raise Problem(409, "idempotency-conflict", str(exc), stored_digest=exc.stored,
                          received_digest=exc.received) from None
        if created:
            site.invalidate()
        return created, answer_for(row, verified.signers)

    async def post_scorecard(request: Request) -> Response:
        _authorize(request, config.tokens)
        media = _media_type(request)
        if media and "json" not in media:
            raise Problem(415, "unsupported-media-type",
                          f"send the envelope as application/vnd.dsse.envelope.v1+json, not {media}")
        idem_key = request.headers.get("idempotency-key")
        if idem_key is not None and not IDEMPOTENCY_RE.match(idem_key):
            raise Problem(400, "bad-idempotency-key", "Idempotency-Key must be 1–200 visible ASCII characters")
        body = await _body(request, config.max_body)
        created, answer = await run_in_threadpool(accept_envelope, body, idem_key)
        if created:
            return JSONResponse(answer, status_code=201, headers={"Location": answer["links"]["scorecard"]})
        return JSONResponse(answer, status_code=200, headers={"Idempotent-Replayed": "true"})

    async def list_scorecards(request: Request) -> Response:
        rows = await run_in_threadpool(store.scorecards, request.query_params.get("vendor"),
                                       request.query_params.get("product"))
        return JSONResponse({"scorecards": [r.to_dict() for r in rows]})

    async def get_envelope(request: Request) -> Response:
        text = await run_in_threadpool(store.envelope, request.path_params["digest"])
        if text is None:
            raise Problem(404, "not-found", f"no scorecard with sha256 {request.path_params['digest']}")
        return Response(text, media_type="application/vnd.dsse.envelope.v1+json")

    async def get_scorecard(request: Request) -> Response:
        text = await run_in_threadpool(store.envelope, request.path_params["digest"])
        if text is None:
            raise Problem(404, "not-found", f"no scorecard with sha256 {request.path_params['digest']}")
        card = read_statement(parse_envelope(text.encode("utf-8"))["_payload"])["predicate"]
        return JSONResponse(card)

    def accept_ratings(body: bytes, filename: str, fmt: str | None) -> tuple[bool, dict[str, Any]]:
        from harness_plugins.peers.ratings import parse_ratings

        parsed = parse_ratings(body, name=filename, fmt=fmt)
        problems = [{"line": p.line, "message": p.message, "rejected": getattr(p, "rejected", True)}
                    for p in parsed.problems]
        if parsed.header_error:
            raise Problem(422, "ratings-unusable", f"{filename}: {parsed.header_error}", problems=problems)
        if not parsed.ratings:
            raise Problem(422, "ratings-unusable", f"{filename}: no valid rating in {parsed.rows} row(s)",
                          problems=problems)
        digest = hashlib.sha256(body).hexdigest()
        rows = [{"line": r.line, "product": r.product, "version": r.version, "facet": r.facet,
                 "score10": r.score10, "date": r.date, "reviewer": r.reviewer} for r in parsed.ratings]
        created = store.add_ratings(digest=digest, filename=filename, ratings=rows,
                                    problems=[(p.line, p.message) for p in parsed.problems])
        if created:
            site.invalidate()
        known = {r.product for r in store.scorecards()}
        return created, {"import": digest, "filename": filename, "imported": len(rows),
                         "rejected": parsed.rejected, "problems": problems,
                         "unknown_products": sorted({r["product"] for r in rows} - known)}

    async def post_ratings(request: Request) -> Response:
        _authorize(request, config.tokens)
        media = _media_type(request)
        fmt = request.query_params.get("format") or {"text/csv": "csv", "application/json": "json",
                                                      "application/x-ndjson": "jsonl",
                                                      "application/jsonl": "jsonl"}.get(media)
        if fmt not in (None, "csv", "json", "jsonl"):
            raise Problem(415, "unsupported-media-type", f"ratings format {fmt!r}: use csv, json or jsonl")
        filename = request.query_params.get("filename") or f"ratings.{fmt or 'csv'}"
        body = await _body(request, config.max_body)
        created, answer = await run_in_threadpool(accept_ratings, body, filename, fmt)
        return JSONResponse(answer, status_code=201 if created else 200,
                            headers=None if created else {"Idempotent-Replayed": "true"})

    async def ratings_imports(_request: Request) -> Response:
        return JSONResponse({"imports": await run_in_threadpool(store.ratings_imports)})

    async def keys(_request: Request) -> Response:
        return JSONResponse({"keys": [{"keyid": k, "name": n} for k, n, _ in await run_in_threadpool(store.keys)]})

    async def health(_request: Request) -> Response:
        def info() -> dict[str, Any]:
            return {"status": "ok", "storage": store.describe(), "schema_version": store.schema_version(),
                    **store.stats()}

        return JSONResponse(await run_in_threadpool(info))

    async def site_file(request: Request) -> Response:
        root = (await run_in_threadpool(site.ensure)).resolve()
        rel = request.path_params.get("path", "") or "index.html"
        path = (root / rel).resolve()
        if path.is_dir():
            path = path / "index.html"
        if not path.is_relative_to(root) or not path.is_file():
            return HTMLResponse("<!doctype html><title>Not found</title><h1>Not found</h1>", status_code=404)
        return FileResponse(path, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})

    async def root(_request: Request) -> Response:
        return RedirectResponse("/site/", status_code=307)

    async def on_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.status, exc.code, exc.detail, headers=headers, **exc.extra)

    async def on_store_error(_request: Request, exc: Exception) -> Response:
        return problem_response(503, "storage-unavailable", str(exc), headers={"Retry-After": "5"})

    async def on_error(_request: Request, exc: Exception) -> Response:
        return problem_response(500, "internal-error", f"{type(exc).__name__}: {exc}")

    routes = [
        Route("/", root),
        Route("/healthz", health),
        Route("/api/v1/scorecards", post_scorecard, methods=["POST"]),
        Route("/api/v1/scorecards", list_scorecards, methods=["GET"]),
        Route("/api/v1/scorecards/{digest:str}", get_scorecard, methods=["GET"]),
        Route("/api/v1/scorecards/{digest:str}/envelope", get_envelope, methods=["GET"]),
        Route("/api/v1/ratings", post_ratings, methods=["POST"]),
        Route("/api/v1/ratings/imports", ratings_imports, methods=["GET"]),
        Route("/api/v1/keys", keys, methods=["GET"]),
        Route("/site", root),
        Route("/site/", site_file),
        Route("/site/{path:path}", site_file),
    ]
    app = Starlette(routes=routes, exception_handlers={Problem: on_problem, StoreError: on_store_error,
                                                       Exception: on_error})
    app.state.config, app.state.site = config, site
    return app


def register_keys(store: Store, keys: dict[str, TrustedKey]) -> list[str]:
    """Register auditor keys in the store; returns the keyids that were new."""
    return [k.keyid for k in keys.values() if store.register_key(k.keyid, k.name, k.pem)]
