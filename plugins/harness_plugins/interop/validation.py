"""Adapter to the resource validator shared with the portability family.

``harness_plugins.fhir.validator`` owns structure, cardinality, types,
required bindings and FR Core profile constraints; this module only maps its
issues onto finding statuses:

- ``fatal``/``error`` -> ``fail``; ``warning`` -> ``warn``; ``information`` -> ignored;
- an issue about a code system or value set the rule pack does not hold
  (terminology the harness cannot check) -> ``review``, never ``fail``.
"""

from __future__ import annotations

import copy
from typing import Any

from harness import Status

FR_CORE_BASE = "http://hl7.fr/ig/fhir/core/StructureDefinition/"
# Issue codes / wordings meaning "the pack cannot judge this code": a person must look.
_REVIEW_CODES = frozenset({"not-supported", "unknown", "code-unknown", "terminology-unavailable",
                           "unknown-codesystem", "unknown-valueset", "not-in-pack"})
_REVIEW_WORDS = ("not in the rule pack", "not in the pack", "unknown code system", "unknown value set",
                 "cannot check", "not available")


class ValidatorUnavailable(Exception):
    """The shared validator module is not installed."""


def _validator():
    try:
        from harness_plugins.fhir.validator import default_validator
    except ImportError as exc:
        raise ValidatorUnavailable(f"the shared FHIR validator (harness_plugins.fhir.validator) is unavailable: "
                                   f"{exc}") from None
    try:
        return default_validator()
    except Exception as exc:  # noqa: BLE001 - a missing or broken rule pack: the checks say error, not fail
        raise ValidatorUnavailable(f"the FHIR rule pack could not be loaded: {type(exc).__name__}: {exc}") from None


def rule_packs() -> list[dict[str, Any]]:
    try:
        packs = _validator().rule_packs()
    except ValidatorUnavailable:
        return []
    except Exception:  # noqa: BLE001 - a broken pack shows up in the checks, not here
        return []
    return [dict(p) for p in packs or []]


def issue_status(issue: Any) -> Status | None:
    severity = str(getattr(issue, "severity", "error")).lower()
    code = str(getattr(issue, "code", "")).lower()
    message = str(getattr(issue, "message", "")).lower()
    if severity in ("information", "info"):
        return None
    if code in _REVIEW_CODES or any(w in message for w in _REVIEW_WORDS):
        return Status.REVIEW
    if severity in ("fatal", "error"):
        return Status.FAIL
    if severity == "warning":
        return Status.WARN
    return None


def without_profiles(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy validated as plain R4: profile claims removed."""
    data = copy.deepcopy(resource)
    meta = data.get("meta")
    if isinstance(meta, dict) and "profile" in meta:
        meta = dict(meta)
        meta.pop("profile")
        if meta:
            data["meta"] = meta
        else:
            data.pop("meta")
    return data


def with_profiles(resource: dict[str, Any], profiles: list[str]) -> dict[str, Any]:
    """A copy claiming ``profiles`` (the CapabilityStatement's claim made explicit)."""
    data = copy.deepcopy(resource)
    meta = dict(data.get("meta") or {})
    claimed = list(meta.get("profile") or [])
    meta["profile"] = claimed + [p for p in profiles if p not in claimed]
    data["meta"] = meta
    return data


#: Identifier-key issues the validator also reports; interop.resources.identifiers owns them.
IDENTIFIER_PREFIXES = ("INS-NIR (", "RPPS/IDNPS (", "FINESS (")


def is_identifier_issue(issue: Any) -> bool:
    return str(getattr(issue, "message", "")).startswith(IDENTIFIER_PREFIXES)


def validate(resource: dict[str, Any]) -> list[Any]:
    """Issues of one resource (raises :class:`ValidatorUnavailable`)."""
    return list(_validator().validate(resource) or [])


def fr_core_profiles(urls: list[str]) -> list[str]:
    return [u.split("|", 1)[0] for u in urls if isinstance(u, str) and u.startswith(FR_CORE_BASE)]
