"""Authentication of the audit client: none, a static bearer token, or SMART Backend Services.

SMART Backend Services (``client_credentials`` with a signed JWT assertion,
https://hl7.org/fhir/smart-app-launch/backend-services.html): the client signs a
short-lived JWT (``iss`` = ``sub`` = client id, ``aud`` = token endpoint, ``exp``
at most 5 minutes ahead, unique ``jti``) with its private key (RS384 or ES384),
posts it to the token endpoint and uses the access token it gets until shortly
before it expires. The token endpoint comes from the profile or from
``[base]/.well-known/smart-configuration``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization

from harness import HttpExchange, TargetError

from .http import AuditClient, Reply, same_origin_allowed

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
INVALID_TOKEN = "harness-invalid-token-0000"

# The [targets.<kind>.auth] table that make_auth reads, shared with the portability family (Bulk Data
# uses the same auth).
AUTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["none", "bearer", "smart-backend"]},
        "token_env": {"type": "string", "description": "bearer: variable holding the token"},
        "token": {"type": "string", "description": "bearer: the token itself (demo / ${VAR} use only)"},
        "client_id": {"type": "string"},
        "private_key": {"type": "string", "description": "smart-backend: PEM file of the client key"},
        "private_key_env": {"type": "string", "description": "smart-backend: variable holding the PEM"},
        "alg": {"enum": list(ALGORITHMS)},
        "kid": {"type": "string"},
        "scope": {"type": "string"},
        "token_url": {"type": "string", "format": "uri"},
    },
}


class NoAuth:
    kind = "none"

    def headers(self) -> Mapping[str, str]:
        return {}

    def refresh(self) -> Mapping[str, str] | None:
        return None

    @property
    def exchanges(self) -> tuple[HttpExchange, ...]:
        return ()


class BearerAuth(NoAuth):
    kind = "bearer"

    def __init__(self, token: str) -> None:
        self.token = token

    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def load_private_key(config: Mapping[str, Any]) -> Any:
    """The client's private key from ``private_key`` (PEM path) or ``private_key_env`` (PEM text)."""
    pem: bytes | None = None
    if config.get("private_key"):
        path = Path(config["private_key"])
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise TargetError(f"SMART private key {path} unreadable: {exc}") from None
    elif config.get("private_key_env"):
        text = os.environ.get(config["private_key_env"], "")
        if not text:
            raise TargetError(f"SMART private key variable {config['private_key_env']!r} is not set")
        pem = text.encode()
    else:
        raise TargetError("SMART backend auth needs private_key (PEM file) or private_key_env")
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TargetError(f"SMART private key is not an unencrypted PEM private key: {exc}") from None


def sign_assertion(key: Any, alg: str, client_id: str, audience: str, kid: str | None = None,
                   lifetime: int = 300, now: float | None = None) -> str:
    """A SMART Backend Services client assertion."""
    issued = int(now if now is not None else time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "exp": issued + min(lifetime, 300),
              "iat": issued, "jti": uuid.uuid4().hex}
    headers = {"typ": "JWT"}
    if kid:
        headers["kid"] = kid
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


class SmartBackendAuth(NoAuth):
    """Access tokens from a SMART Backend Services token endpoint, cached until near expiry."""

    kind = "smart-backend"

    def __init__(self, config: Mapping[str, Any], client: AuditClient, base_url: str,
                 client_for: Callable[[str], AuditClient] | None = None) -> None:
        self.client_id = config.get("client_id") or ""
        if not self.client_id:
            raise TargetError("SMART backend auth needs client_id")
        self.alg = config.get("alg", "ES384")
        if self.alg not in ALGORITHMS:
            raise TargetError(f"SMART backend alg must be one of {', '.join(ALGORITHMS)}, not {self.alg!r}")
        self.kid = config.get("kid")
        self.scope = config.get("scope", "system/*.read")
        self.key = load_private_key(config)
        self.base_url = base_url
        self.client = client
        self._client_for = client_for
        self.token_client = client
        self.token_url = config.get("token_url")
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self._exchanges: list[HttpExchange] = []

    @property
    def exchanges(self) -> tuple[HttpExchange, ...]:
        return tuple(self._exchanges)

    def discover(self) -> str:
        url = f"{self.base_url}/.well-known/smart-configuration"
        reply = self.client.request("GET", url, headers={"Accept": "application/json"})
        self._exchanges.extend(reply.exchanges)
        if reply.error or reply.status != 200:
            raise TargetError(f"no token_url configured and {url} answered "
                              f"{reply.error or f'HTTP {reply.status}'}")
        try:
            endpoint = reply.json().get("token_endpoint")
        except (AttributeError, ValueError):
            endpoint = None
        if not isinstance(endpoint, str) or not endpoint:
            raise TargetError(f"{url} declares no token_endpoint")
        return endpoint

    def assertion(self, key: Any = None) -> str:
        return sign_assertion(key or self.key, self.alg, self.client_id, self.token_url or "", self.kid)

    def request_token(self, assertion: str) -> Reply:
        """POST a client-credentials grant with ``assertion``; the reply is returned as is."""
        form = {"grant_type": "client_credentials", "scope": self.scope,
                "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
        return self.token_client.request(
            "POST", self.token_url or "", content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            idempotent=False)

    def _fetch_token(self) -> None:
        if not self.token_url:
            self.token_url = self.discover()
        scheme = urlsplit(self.token_url).scheme
        host = urlsplit(self.token_url).hostname or ""
        if scheme != "https" and host not in ("127.0.0.1", "localhost", "::1"):
            raise TargetError(f"refusing to send a client assertion over plain HTTP to {self.token_url}")
        if not same_origin_allowed(self.client.origin, self.token_url) and self._client_for is not None:
            self.token_client = self._client_for(self.token_url)
        reply = self.request_token(self.assertion())
        self._exchanges.extend(reply.exchanges)
        if reply.error:
            raise TargetError(f"token request to {self.token_url} failed: {reply.error}")
        if reply.status != 200:
            raise TargetError(f"token endpoint {self.token_url} answered HTTP {reply.status}: "
                              f"{reply.body[:200].decode('utf-8', 'replace')}")
        try:
            body = reply.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            raise TargetError(f"token endpoint {self.token_url} returned no access_token") from None
        self._token = str(token)
        self._expires = time.monotonic() + max(1.0, lifetime - 30)

    def headers(self) -> Mapping[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}

    def refresh(self) -> Mapping[str, str] | None:
        """Called on a 401: forget the token and get a new one (once per request)."""
        with self._lock:
            self._token = None
        try:
            return self.headers()
        except TargetError:
            return None


def make_auth(config: Mapping[str, Any] | None, client: AuditClient, base_url: str,
              client_for: Callable[[str], AuditClient] | None = None) -> NoAuth:
    config = dict(config or {"type": "none"})
    kind = config.get("type", "none")
    if kind == "none":
        return NoAuth()
    if kind == "bearer":
        token = None
        if config.get("token_env"):
            token = os.environ.get(config["token_env"])
            if not token:
                raise TargetError(f"bearer token variable {config['token_env']!r} is not set")
        elif config.get("token"):
            token = config["token"]
        if not token:
            raise TargetError("bearer auth needs token_env (the variable holding the token)")
        return BearerAuth(token)
    if kind == "smart-backend":
        auth = SmartBackendAuth(config, client, base_url, client_for)
        auth.headers()  # fail fast: a target without a token is unusable
        return auth
    raise TargetError(f"unknown auth type {kind!r}")
