"""Default redaction: secrets and French patient identifiers never reach a scorecard.

Applied by the core's ``harness_redact`` implementation to every finding. A
NIR/INS is replaced by a short tag derived from its hash, so two findings about
the same patient can still be matched without showing the number.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token"}
)
SECRET_PARAMS = frozenset(
    {"access_token", "token", "id_token", "refresh_token", "client_secret", "password", "api_key", "apikey", "code",
     "client_assertion"}
)
MASK = "[redacted]"

# NIR / INS: sex, year, month, department (2A/2B for Corsica), commune, order, optional 2-digit key.
NIR_RE = re.compile(r"\b([12378])\s?(\d{2})\s?(\d{2})\s?(\d{2}|2[AaBb])\s?(\d{3})\s?(\d{3})(?:\s?(\d{2}))?\b")
BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{6,}=*")
JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
JSON_SECRET_RE = re.compile(
    r'("(?:access_token|refresh_token|id_token|client_secret|password|client_assertion)"\s*:\s*")[^"]*(")'
)
QUERY_SECRET_RE = re.compile(
    r"(?i)([?&](?:access_token|token|id_token|refresh_token|client_secret|password|api_key|apikey|client_assertion)=)[^&\s\"'<>]+"
)


def _nir_tag(match: re.Match[str]) -> str:
    digits = "".join(g for g in match.groups()[:6] if g).upper()
    return f"[NIR redacted #{hashlib.sha256(digits.encode()).hexdigest()[:4]}]"


def redact_text(text: str) -> str:
    """Mask NIR/INS numbers, bearer/basic credentials, JWTs and token parameters in free text."""
    text = JWT_RE.sub("[redacted JWT]", text)
    text = BEARER_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = JSON_SECRET_RE.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
    text = QUERY_SECRET_RE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return NIR_RE.sub(_nir_tag, text)


def redact_url(url: str) -> str:
    """Mask secret query parameters and user:password in a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="[]")
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in headers.items():
        if key.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value and key.lower().endswith("authorization") else None
            out[key] = f"{scheme} {MASK}" if scheme else MASK
        else:
            out[key] = redact_text(str(value))
    return out


def redact_value(value: Any, key: str = "") -> Any:
    """Walk a JSON value and mask what should not be published; keys ending in sha256 are kept."""
    if isinstance(value, str):
        if key in ("url", "artefact") and "://" in value:
            return redact_url(value)
        if key.endswith("sha256"):
            return value
        return redact_text(value)
    if isinstance(value, dict):
        if key.endswith("headers"):
            return redact_headers(value)
        return {k: redact_value(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, key) for v in value]
    return value


def redact_finding(finding: dict[str, Any]) -> None:
    """In-place redaction of a serialized finding (the core's ``harness_redact``)."""
    redacted = redact_value(finding)
    finding.clear()
    finding.update(redacted)
