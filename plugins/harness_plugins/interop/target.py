"""The ``[targets.fhir]`` target: a FHIR R4 base URL, an HTTP client and the exchanges it made."""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx

from harness import TargetError
from harness.safety import Fetched, HttpLimits, fetch

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["base_url"],
    "additionalProperties": False,
    "properties": {
        "base_url": {"type": "string", "format": "uri"},
        "auth": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["none", "bearer"]},
                "token_env": {"type": "string"},
            },
        },
        "timeout": {"type": "number", "exclusiveMinimum": 0},
        "verify_tls": {"type": "boolean"},
        "max_response_bytes": {"type": "integer", "minimum": 1024},
    },
}


class FhirTarget:
    """A FHIR endpoint: thread-safe GETs with bounded bodies, results cached per URL."""

    kind = "fhir"

    def __init__(self, config: dict[str, Any]) -> None:
        self.base_url = config["base_url"].rstrip("/")
        headers = {"Accept": "application/fhir+json"}
        auth = config.get("auth", {"type": "none"})
        if auth.get("type") == "bearer":
            env = auth.get("token_env")
            token = os.environ.get(env or "")
            if not token:
                raise TargetError(f"bearer token variable {env!r} is not set")
            headers["Authorization"] = f"Bearer {token}"
        timeout = float(config.get("timeout", 10.0))
        self.limits = HttpLimits(max_bytes=int(config.get("max_response_bytes", 20 * 1024 * 1024)),
                                 total_timeout=timeout * 3)
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout),
                                   verify=config.get("verify_tls", True), follow_redirects=False)
        self._cache: dict[str, Fetched | Exception] = {}
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str) -> Fetched:
        """GET once per path (checks share the exchange); raises the transport error each time."""
        with self._lock:
            cached = self._cache.get(path)
        if cached is None:
            try:
                cached = fetch(self.client, "GET", self.url(path), limits=self.limits)
            except Exception as exc:  # noqa: BLE001 - remembered and re-raised to every caller
                cached = exc
            with self._lock:
                self._cache[path] = cached
        if isinstance(cached, Exception):
            raise cached
        return cached

    def close(self) -> None:
        self.client.close()
