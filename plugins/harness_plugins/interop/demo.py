"""Demo vendor FHIR endpoints, served on loopback by ``harness demo`` under ``/fhir``.

The data comes from ``fixtures/vendors/demo-<variant>/fhir/`` (``metadata.json``,
``<Type>.ndjson``, ``smart/``) and the behaviour from its ``behaviour.toml``:
every key defaults to conformant behaviour and demo-poor overrides some of them
to play realistic defects. No code path looks at the variant's name.

What is served (relative to ``/fhir``): ``metadata``, ``.well-known/smart-configuration``,
``auth/token`` (SMART Backend Services: client_credentials + signed JWT assertion,
RS384/ES384, checked against ``smart/clients.json``), read, vread, instance history,
search by GET and POST ``_search`` with the parameters the CapabilityStatement declares
(semantics of ``harness_plugins.interop.searchparams``), ``_count`` paging with
offset links, ``_include``, ``_format``, and errors.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import email.utils
import json
import secrets
import time
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from .searchparams import matches, param_def, ref_key

FHIR_JSON = "application/fhir+json"
JSON_FORMATS = {"json", "application/json", FHIR_JSON, "application/fhir+json; fhirversion=4.0", "application/json+fhir"}
CONTROL_PARAMS = {"_count", "_offset", "_format", "_include", "_total", "_sort", "_summary", "_elements", "_pretty"}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

DEFAULTS: dict[str, dict[str, Any]] = {
    "server": {"latency_ms": 0, "default_count": 10, "max_count": 100},
    "content": {"resource_content_type": FHIR_JSON, "format_param": True, "unsupported_accept": "406",
                "unsupported_body": "415", "missing_accept": "json"},
    "read": {"etag": True, "last_modified": True, "broken": [], "vread": True, "history": "bundle"},
    "search": {"ignored_params": {}, "ignore_count": [], "paging": "correct", "total": "accurate", "include": True,
               "strict_handling": True, "post": True},
    "errors": {"not_found": "operation-outcome", "unknown_type": "operation-outcome",
               "invalid_param": "operation-outcome"},
    "auth": {"mode": "none", "token": "", "accept_any_token": False, "www_authenticate": True,
             "token_lifetime": 300},
}


def load_behaviour(path: Path) -> dict[str, dict[str, Any]]:
    """``behaviour.toml`` over the conformant defaults; unknown keys are an error (typos would hide defects)."""
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    merged = {section: dict(values) for section, values in DEFAULTS.items()}
    for section, values in data.items():
        if section not in DEFAULTS or not isinstance(values, dict):
            raise ValueError(f"{path}: unknown section [{section}]")
        unknown = set(values) - set(DEFAULTS[section])
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {sorted(unknown)} in [{section}]")
        merged[section].update(values)
    return merged


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}


HTML_ERROR = ("<!DOCTYPE html><html><head><title>Erreur</title></head><body><h1>Une erreur est survenue</h1>"
              "<p>{message}</p><p>VieuxCabinet serveur d'application</p></body></html>")


class FhirDemo:
    """The state of one demo FHIR server: data, declared capabilities, behaviour, issued tokens."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir
        self.behaviour = load_behaviour(data_dir / "behaviour.toml")
        self.capability = json.loads((data_dir / "metadata.json").read_text(encoding="utf-8"))
        self.store: dict[str, dict[str, dict[str, Any]]] = {}
        for path in sorted(data_dir.glob("*.ndjson")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    resource = json.loads(line)
                    self.store.setdefault(resource["resourceType"], {})[resource["id"]] = resource
        self.declared: dict[str, dict[str, Any]] = {}
        for rest in self.capability.get("rest", []):
            for res in rest.get("resource", []):
                self.declared[res["type"]] = res
        clients_file = data_dir / "smart" / "clients.json"
        self.clients = ({c["client_id"]: c for c in json.loads(clients_file.read_text())["clients"]}
                        if clients_file.is_file() else {})
        self.tokens: dict[str, float] = {}
        self.seen_jti: set[str] = set()

    # -- helpers ---------------------------------------------------------------------------------

    def b(self, section: str, key: str) -> Any:
        return self.behaviour[section][key]

    def fhir(self, body: Any, status: int = 200, headers: dict[str, str] | None = None,
             content_type: str | None = None) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status_code=status, headers=headers,
                        media_type=content_type or FHIR_JSON)

    def resource_response(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return self.fhir(body, status, headers, self.b("content", "resource_content_type"))

    def error(self, kind: str, status: int, code: str, message: str) -> Response:
        """An error answered the way ``[errors] kind`` says."""
        mode = self.b("errors", kind)
        if mode == "html-200":
            return Response(HTML_ERROR.format(message=message), status_code=200, media_type="text/html")
        if mode == "html":
            return Response(HTML_ERROR.format(message=message), status_code=status, media_type="text/html")
        if mode == "plain":
            return Response(message, status_code=status, media_type="text/plain")
        if mode == "server-error":
            return Response(f"java.lang.IllegalArgumentException: {message}\n\tat com.vieux.fhir.Search(...)",
                            status_code=500, media_type="text/plain")
        return self.fhir(outcome(code, message), status)

    def base(self, request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/fhir"

    # -- auth ---------------------------------------------------------------------------------

    def authorized(self, request: Request) -> Response | None:
        mode = self.b("auth", "mode")
        if mode == "none":
            return None
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        valid = False
        if token:
            if self.b("auth", "accept_any_token"):
                valid = True
            elif mode == "bearer":
                valid = secrets.compare_digest(token, self.b("auth", "token"))
            elif mode == "smart-backend":
                expiry = self.tokens.get(token)
                valid = expiry is not None and expiry > time.time()
        if valid:
            return None
        headers = {}
        if self.b("auth", "www_authenticate"):
            error = ', error="invalid_token"' if token else ""
            headers["WWW-Authenticate"] = f'Bearer realm="fhir"{error}'
            return self.fhir(outcome("login", "authentication required"), 401, headers)
        return Response("Unauthorized", status_code=401, media_type="text/plain")

    async def smart_configuration(self, request: Request) -> Response:
        if self.b("auth", "mode") != "smart-backend":
            return self.fhir(outcome("not-found", "no SMART configuration"), 404)
        base = self.base(request)
        body = {"token_endpoint": f"{base}/auth/token", "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                "scopes_supported": ["system/*.read"], "capabilities": ["client-confidential-asymmetric"]}
        return Response(json.dumps(body), media_type="application/json")

    async def token(self, request: Request) -> Response:
        import jwt

        def oauth_error(error: str, description: str, status: int = 400) -> Response:
            return Response(json.dumps({"error": error, "error_description": description}), status_code=status,
                            media_type="application/json", headers={"Cache-Control": "no-store"})

        if self.b("auth", "mode") != "smart-backend":
            return oauth_error("unsupported_grant_type", "no token endpoint", 404)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if form.get("grant_type") != "client_credentials":
            return oauth_error("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            return oauth_error("invalid_request", "a jwt-bearer client_assertion is required")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            return oauth_error("invalid_client", f"unreadable assertion: {exc}", 401)
        client = self.clients.get(str(claims.get("iss")))
        if client is None or claims.get("sub") != claims.get("iss"):
            return oauth_error("invalid_client", "unknown client", 401)
        if header.get("alg") not in ("RS384", "ES384"):
            return oauth_error("invalid_client", "alg must be RS384 or ES384", 401)
        keys = [k for k in client["jwks"]["keys"] if not header.get("kid") or k.get("kid") == header.get("kid")]
        audience = str(request.url).split("?")[0]
        for jwk in keys:
            try:
                key = jwt.PyJWK(jwk, algorithm=header["alg"]).key
                verified = jwt.decode(assertion, key, algorithms=[header["alg"]], audience=audience,
                                      options={"require": ["exp", "iss", "sub", "aud", "jti"]})
            except jwt.PyJWTError:
                continue
            if verified["exp"] > time.time() + 330:
                return oauth_error("invalid_client", "assertion lifetime above 5 minutes", 401)
            if verified["jti"] in self.seen_jti:
                return oauth_error("invalid_client", "jti already used", 401)
            self.seen_jti.add(verified["jti"])
            token = secrets.token_urlsafe(24)
            lifetime = int(self.b("auth", "token_lifetime"))
            self.tokens[token] = time.time() + lifetime
            return Response(json.dumps({"access_token": token, "token_type": "bearer", "expires_in": lifetime,
                                        "scope": form.get("scope") or client.get("scope", "")}),
                            media_type="application/json", headers={"Cache-Control": "no-store"})
        return oauth_error("invalid_client", "assertion signature does not verify with the registered keys", 401)

    # -- content negotiation ------------------------------------------------------------------

    def negotiate(self, request: Request) -> Response | None:
        """None when the request can be answered in FHIR JSON, else the answer to send."""
        fmt = request.query_params.get("_format")
        if fmt and self.b("content", "format_param"):
            if fmt.lower() in JSON_FORMATS:
                return None
            return self.fhir(outcome("not-supported", f"_format {fmt!r} is not supported (JSON only)"), 406)
        accept = request.headers.get("accept", "").lower()
        if not accept and self.b("content", "missing_accept") == "406":
            return self.fhir(outcome("not-supported", "an Accept header is required"), 406)
        if not accept or any(t in accept for t in ("*/*", "application/*", "json")):
            return None
        mode = self.b("content", "unsupported_accept")
        if mode == "406":
            return self.fhir(outcome("not-supported", f"cannot produce {accept!r}; JSON only"), 406)
        if mode == "500":
            return Response("HttpMediaTypeNotAcceptableException: No converter found", status_code=500,
                            media_type="text/plain")
        return None

    async def pause(self) -> None:
        latency = float(self.b("server", "latency_ms"))
        if latency > 0:
            await asyncio.sleep(latency / 1000)

    # -- routes ---------------------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        await self.pause()
        refused = self.negotiate(request)
        return refused or self.fhir(self.capability)

    def stamp_headers(self, resource: dict[str, Any]) -> dict[str, str]:
        headers = {}
        meta = resource.get("meta") or {}
        if self.b("read", "etag") and meta.get("versionId"):
            headers["ETag"] = f'W/"{meta["versionId"]}"'
        if self.b("read", "last_modified") and meta.get("lastUpdated"):
            when = _dt.datetime.fromisoformat(meta["lastUpdated"])
            headers["Last-Modified"] = email.utils.format_datetime(when.astimezone(_dt.timezone.utc), usegmt=True)
        return headers

    async def instance(self, request: Request) -> Response:
        await self.pause()
        rtype, rid = request.path_params["type"], request.path_params["id"]
        denied = self.authorized(request)
        if denied:
            return denied
        refused = self.negotiate(request)
        if refused:
            return refused
        if rtype not in self.declared:
            return self.error("unknown_type", 404, "not-supported", f"resource type {rtype} is not supported")
        if rtype in self.b("read", "broken"):
            return Response("Not Implemented", status_code=501, media_type="text/plain")
        resource = self.store.get(rtype, {}).get(rid)
        if resource is None:
            return self.error("not_found", 404, "not-found", f"{rtype}/{rid} is not known")
        return self.resource_response(resource, headers=self.stamp_headers(resource))

    async def version(self, request: Request) -> Response:
        await self.pause()
        rtype, rid, vid = request.path_params["type"], request.path_params["id"], request.path_params["vid"]
        denied = self.authorized(request)
        if denied:
            return denied
        resource = self.store.get(rtype, {}).get(rid)
        current = str((resource or {}).get("meta", {}).get("versionId", ""))
        if resource is None or not self.b("read", "vread") or vid != current:
            return self.error("not_found", 404, "not-found", f"{rtype}/{rid}/_history/{vid} is not known")
        return self.resource_response(resource, headers=self.stamp_headers(resource))

    async def history(self, request: Request) -> Response:
        await self.pause()
        rtype, rid = request.path_params["type"], request.path_params["id"]
        denied = self.authorized(request)
        if denied:
            return denied
        resource = self.store.get(rtype, {}).get(rid)
        if resource is None:
            return self.error("not_found", 404, "not-found", f"{rtype}/{rid} is not known")
        mode = self.b("read", "history")
        if mode == "html":
            return Response(HTML_ERROR.format(message="Historique indisponible"), status_code=200,
                            media_type="text/html")
        if mode != "bundle":
            return self.error("not_found", 404, "not-supported", "history is not supported")
        base = self.base(request)
        bundle = {"resourceType": "Bundle", "type": "history", "total": 1,
                  "link": [{"relation": "self", "url": f"{base}/{rtype}/{rid}/_history"}],
                  "entry": [{"fullUrl": f"{base}/{rtype}/{rid}", "resource": resource,
                             "request": {"method": "PUT", "url": f"{rtype}/{rid}"},
                             "response": {"status": "200 OK"}}]}
        return self.resource_response(bundle)

    async def type_search(self, request: Request) -> Response:
        await self.pause()
        rtype = request.path_params["type"]
        denied = self.authorized(request)
        if denied:
            return denied
        refused = self.negotiate(request)
        if refused:
            return refused
        if rtype not in self.declared:
            return self.error("unknown_type", 404, "not-supported", f"resource type {rtype} is not supported")
        return self.search(request, rtype, list(request.query_params.multi_items()))

    async def post_search(self, request: Request) -> Response:
        await self.pause()
        rtype = request.path_params["type"]
        denied = self.authorized(request)
        if denied:
            return denied
        if not self.b("search", "post"):
            return self.fhir(outcome("not-supported", "POST search is not supported"), 405)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            mode = self.b("content", "unsupported_body")
            if mode == "415":
                return self.fhir(outcome("not-supported", f"Content-Type {content_type!r} not supported"), 415)
            if mode == "500":
                return Response("org.xml.sax.SAXParseException: Content is not allowed in prolog.",
                                status_code=500, media_type="text/plain")
            items: list[tuple[str, str]] = []
        else:
            items = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        if rtype not in self.declared:
            return self.error("unknown_type", 404, "not-supported", f"resource type {rtype} is not supported")
        return self.search(request, rtype, list(request.query_params.multi_items()) + items)

    def search(self, request: Request, rtype: str, items: list[tuple[str, str]]) -> Response:
        decl = self.declared[rtype]
        declared_params = {p["name"] for p in decl.get("searchParam", [])}
        ignored = set(self.b("search", "ignored_params").get(rtype, []))
        strict = "handling=strict" in request.headers.get("prefer", "") and self.b("search", "strict_handling")
        criteria: list[tuple[Any, str]] = []
        for name, value in items:
            if name in CONTROL_PARAMS:
                continue
            pdef = param_def(rtype, name)
            if name not in declared_params or pdef is None:
                if strict:
                    return self.error("invalid_param", 400, "not-supported", f"unknown search parameter {name!r}")
                continue
            if pdef.type == "date":
                try:
                    _dt.date.fromisoformat(value[:10])
                    if len(value) != 10:
                        raise ValueError(value)
                except ValueError:
                    return self.error("invalid_param", 400, "invalid", f"{name}: {value!r} is not a date")
            if name in ignored:
                continue
            criteria.append((pdef, value))
        params = dict(items)
        try:
            count = int(params.get("_count", self.b("server", "default_count")))
            offset = int(params.get("_offset", 0))
        except ValueError:
            return self.error("invalid_param", 400, "invalid", "_count and _offset must be integers")
        count = max(0, min(count, int(self.b("server", "max_count"))))
        if rtype in self.b("search", "ignore_count"):
            count = int(self.b("server", "max_count"))
        pool = [self.store.get(rtype, {})[k] for k in sorted(self.store.get(rtype, {}))]
        found = [r for r in pool if all(matches(pdef, r, value) is not False for pdef, value in criteria)]
        page = found[offset: offset + count]
        base = self.base(request)
        kept = [(k, v) for k, v in items if k not in ("_offset",)]
        link = [{"relation": "self", "url": f"{base}/{rtype}?{urlencode(kept + [('_offset', str(offset))])}"}]
        if offset + count < len(found) and count > 0:
            step = count + 1 if self.b("search", "paging") == "skip" else count
            link.append({"relation": "next", "url": f"{base}/{rtype}?{urlencode(kept + [('_offset', str(offset + step))])}"})
        entries = [{"fullUrl": f"{base}/{rtype}/{r['id']}", "resource": r, "search": {"mode": "match"}} for r in page]
        includes = [v for k, v in items if k == "_include"]
        if includes and self.b("search", "include"):
            entries += self.included(rtype, page, includes, base)
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
        total_mode = self.b("search", "total")
        if total_mode == "accurate":
            bundle["total"] = len(found)
        elif total_mode == "page":
            bundle["total"] = len(page)
        bundle["link"] = link
        bundle["entry"] = entries
        return self.resource_response(bundle)

    def included(self, rtype: str, page: list[dict[str, Any]], includes: list[str], base: str) -> list[dict[str, Any]]:
        declared = set(self.declared[rtype].get("searchInclude", []))
        seen = {f"{rtype}/{r['id']}" for r in page}
        out = []
        for include in includes:
            parts = include.split(":")
            if include not in declared or len(parts) < 2:
                continue
            pdef = param_def(rtype, parts[1])
            if pdef is None:
                continue
            for resource in page:
                for value in pdef.values(resource):
                    key = ref_key(value.get("reference", "")) if isinstance(value, dict) else ""
                    target_type, _, target_id = key.partition("/")
                    target = self.store.get(target_type, {}).get(target_id)
                    if target is not None and key not in seen:
                        seen.add(key)
                        out.append({"fullUrl": f"{base}/{key}", "resource": target, "search": {"mode": "include"}})
        return out

    def routes(self) -> list[Any]:
        return [
            Route("/metadata", self.metadata),
            Route("/.well-known/smart-configuration", self.smart_configuration),
            Route("/auth/token", self.token, methods=["POST"]),
            Route("/{type}/_search", self.post_search, methods=["POST"]),
            Route("/{type}/{id}/_history/{vid}", self.version),
            Route("/{type}/{id}/_history", self.history),
            Route("/{type}/{id}", self.instance),
            Route("/{type}", self.type_search),
        ]


def routes(vendor_dir: Path, variant: str) -> list[Any]:
    data_dir = vendor_dir / "fhir"
    if not (data_dir / "metadata.json").is_file():
        return []
    return [Mount("/fhir", routes=FhirDemo(data_dir).routes())]
