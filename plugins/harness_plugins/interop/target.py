"""The ``[targets.fhir]`` target: a FHIR R4 base URL, its auth, a bounded client and what it declared.

The target owns everything the checks share: the audit client (timeouts,
size limit, same-host redirects, concurrency and rate limits, retries), the
credentials, the parsed CapabilityStatement and a memo so each request and
each probe runs once however many checks need it (``probes.py``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from harness import TargetError

from .auth import AUTH_SCHEMA, INVALID_TOKEN, NoAuth, make_auth
from .http import AuditClient, HttpPolicy, Reply

FHIR_JSON = "application/fhir+json"

#: Resource types audited by default (when the server declares them): the ones a
#: practice-software FHIR API is judged on.
DEFAULT_RESOURCES = ["Patient", "Practitioner", "PractitionerRole", "Organization", "Encounter", "Observation",
                     "Condition", "AllergyIntolerance", "MedicationRequest", "Immunization", "DocumentReference"]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["base_url"],
    "additionalProperties": False,
    "properties": {
        "base_url": {"type": "string", "format": "uri"},
        "auth": AUTH_SCHEMA,
        "resources": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"}},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "read timeout (s)"},
        "connect_timeout": {"type": "number", "exclusiveMinimum": 0},
        "request_timeout": {"type": "number", "exclusiveMinimum": 0, "description": "hard limit per request (s)"},
        "verify_tls": {"type": "boolean"},
        "ca_bundle": {"type": "string"},
        "max_response_bytes": {"type": "integer", "minimum": 1024},
        "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 32},
        "max_requests_per_second": {"type": "number", "minimum": 0},
        "max_retries": {"type": "integer", "minimum": 0, "maximum": 5},
        "max_retry_after": {"type": "number", "minimum": 0, "maximum": 120},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 1000},
        "max_pages": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
}

PATH_KEYS = ("ca_bundle",)


def policy_from(config: Mapping[str, Any]) -> HttpPolicy:
    read = float(config.get("timeout", 15.0))
    return HttpPolicy(
        connect_timeout=float(config.get("connect_timeout", min(5.0, read))),
        read_timeout=read,
        total_timeout=float(config.get("request_timeout", max(30.0, read * 2))),
        max_bytes=int(config.get("max_response_bytes", 20 * 1024 * 1024)),
        max_concurrency=int(config.get("max_concurrency", 4)),
        rate=float(config.get("max_requests_per_second", 10.0)),
        max_retries=int(config.get("max_retries", 2)),
        max_retry_after=float(config.get("max_retry_after", 10.0)),
    )


class Memo:
    """Compute each key once, even when several threads ask at the same time."""

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._guard:
            if key in self._values:
                return self._values[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._values:
                    return self._values[key]
            value = compute()
            with self._guard:
                self._values[key] = value
            return value


@dataclass
class ResourceDecl:
    """What the CapabilityStatement declares for one resource type."""

    type: str
    interactions: set[str] = field(default_factory=set)
    search_params: dict[str, str] = field(default_factory=dict)  # name -> type
    includes: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)  # profile + supportedProfile
    versioning: str | None = None

    def has(self, interaction: str) -> bool:
        return interaction in self.interactions


@dataclass
class Capability:
    """The server's CapabilityStatement as fetched, and what could be read from it."""

    reply: Reply
    body: dict[str, Any] | None
    resources: dict[str, ResourceDecl]
    formats: list[str]

    @property
    def usable(self) -> bool:
        return self.body is not None

    def declared(self, resource_type: str) -> ResourceDecl | None:
        return self.resources.get(resource_type)


def parse_capability(reply: Reply) -> Capability:
    body = reply.resource() if reply.status == 200 else None
    if body is not None and body.get("resourceType") != "CapabilityStatement":
        body = None
    resources: dict[str, ResourceDecl] = {}
    formats: list[str] = []
    if body is not None:
        formats = [f for f in body.get("format") or [] if isinstance(f, str)]
        for rest in body.get("rest") or []:
            if not isinstance(rest, dict) or rest.get("mode") != "server":
                continue
            for res in rest.get("resource") or []:
                if not isinstance(res, dict) or not isinstance(res.get("type"), str):
                    continue
                decl = resources.setdefault(res["type"], ResourceDecl(res["type"]))
                decl.interactions |= {i.get("code") for i in res.get("interaction") or []
                                      if isinstance(i, dict) and isinstance(i.get("code"), str)}
                for sp in res.get("searchParam") or []:
                    if isinstance(sp, dict) and isinstance(sp.get("name"), str):
                        decl.search_params[sp["name"]] = str(sp.get("type", ""))
                decl.includes += [i for i in res.get("searchInclude") or [] if isinstance(i, str)]
                decl.profiles += [p for p in [res.get("profile"), *(res.get("supportedProfile") or [])]
                                  if isinstance(p, str)]
                decl.versioning = res.get("versioning") or decl.versioning
    return Capability(reply, body, resources, formats)


class FhirTarget:
    """A FHIR endpoint under audit. Thread-safe; requests are memoized by URL and headers."""

    kind = "fhir"

    def __init__(self, config: Mapping[str, Any], *, base_dir: Path | None = None,
                 client_factory: Callable[[str, HttpPolicy], AuditClient] | None = None) -> None:
        self.config = dict(config)
        auth_config = dict(config.get("auth") or {"type": "none"})
        if auth_config.get("private_key") and base_dir is not None:
            auth_config["private_key"] = str(base_dir / auth_config["private_key"])
        self.base_url = config["base_url"].rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(f"base_url {self.base_url!r} is not an http(s) URL")
        self.policy = policy_from(config)
        self.verify_tls = bool(config.get("verify_tls", True))
        self.ca_bundle = config.get("ca_bundle")
        self.resource_types = list(config.get("resources") or DEFAULT_RESOURCES)
        self.page_size = int(config.get("page_size", 50))
        self.max_pages = int(config.get("max_pages", 20))
        self._client_factory = client_factory or self._default_client
        self.http = self._client_factory(self.base_url, self.policy)
        self._extra_clients: list[AuditClient] = []
        self.memo = Memo()
        self.auth: NoAuth = NoAuth()
        self.auth = make_auth(auth_config, self.http, self.base_url, client_for=self._client_for)
        self.unreachable: str | None = None
        self.capability = self._load_capability()
        from .probes import Probes

        self._probes = Probes(self)

    # -- plumbing ----------------------------------------------------------------------------

    def _default_client(self, origin: str, policy: HttpPolicy) -> AuditClient:
        return AuditClient(origin, policy, verify=self.verify_tls, ca_bundle=self.ca_bundle,
                           default_headers={"Accept": FHIR_JSON, "User-Agent": "lgc-harness interop"})

    def _client_for(self, url: str) -> AuditClient:
        client = self._client_factory(url, self.policy)
        self._extra_clients.append(client)
        return client

    def _load_capability(self) -> Capability:
        """Fetch ``/metadata``; an unreachable endpoint is a :class:`TargetError` for every check but TLS.

        A TLS failure, and plain HTTP off loopback, are verdicts of ``interop.transport.tls``
        that need no working connection, so the target is still built for that one check."""
        reply = self.get("metadata")
        if reply.error is not None and reply.error_kind != "tls":
            message = f"GET {self.url('metadata')} failed: {reply.error}"
            if urlsplit(self.base_url).scheme != "http" or self.is_loopback():
                raise TargetError(message)
            self.unreachable = message
        return parse_capability(reply)

    @property
    def probes(self):
        """The memoized probes; raises :class:`TargetError` when the endpoint could not be reached."""
        if self.unreachable is not None:
            raise TargetError(self.unreachable)
        return self._probes

    def transport_probe(self):
        """The TLS verdict, which depends on the declared URL and the handshake only."""
        return self._probes.tls()

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def _auth_headers(self, credentials: str) -> dict[str, str]:
        if credentials == "none":
            return {}
        if credentials == "invalid":
            return {"Authorization": f"Bearer {INVALID_TOKEN}"}
        try:
            return dict(self.auth.headers())
        except TargetError:
            raise
        except Exception as exc:  # noqa: BLE001 - a token refresh must not crash a check
            raise TargetError(f"could not obtain credentials: {exc}") from exc

    def request(self, method: str, path: str, *, params: Any = None, headers: Mapping[str, str] | None = None,
                content: bytes | None = None, credentials: str = "auto", idempotent: bool | None = None) -> Reply:
        """One request to the endpoint (not memoized). ``credentials``: auto, none or invalid."""
        sent = self._auth_headers(credentials) | dict(headers or {})
        refresh = self.auth.refresh if credentials == "auto" and self.auth.kind == "smart-backend" else None
        return self.http.request(method, self.url(path), params=params, headers=sent, content=content,
                                 idempotent=idempotent, on_unauthorized=refresh)

    def get(self, path: str, params: Any = None, headers: Mapping[str, str] | None = None,
            credentials: str = "auto") -> Reply:
        """A memoized GET: every check asking the same thing shares one exchange."""
        key_params = tuple(sorted(params.items())) if isinstance(params, Mapping) else tuple(params or ())
        key = ("GET", self.url(path), key_params, tuple(sorted((headers or {}).items())), credentials)
        return self.memo.get(key, lambda: self.request("GET", path, params=params, headers=headers,
                                                       credentials=credentials))

    # -- what the checks see -------------------------------------------------------------------

    def audited_types(self) -> list[str]:
        """Configured resource types the server declares (all configured ones when it declares nothing usable)."""
        if not self.capability.usable:
            return list(self.resource_types)
        return [t for t in self.resource_types if t in self.capability.resources]

    def is_loopback(self) -> bool:
        host = (urlsplit(self.base_url).hostname or "").lower()
        return host in ("localhost", "::1") or host.startswith("127.")

    @property
    def request_count(self) -> int:
        return self.http.stats.requests + sum(c.stats.requests for c in self._extra_clients)

    def rule_packs(self) -> list[dict[str, Any]]:
        from .validation import rule_packs

        return rule_packs()

    def close(self) -> None:
        self.http.close()
        for client in self._extra_clients:
            client.close()
