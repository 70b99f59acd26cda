"""SVRL reports -> issues with rule identity, location, line, severity and a stable requirement id.

The ANS hand-written rules carry no ``@role`` and no ``@id``: every one of them
is an error, and its identity is the bracketed tag that starts its message
(``[Entete_LDL-SES] …``). The ART-DECOR generated structuration minimale rules
carry ``role="error" | "warning" | "info"`` and no tag. Requirement ids are
``CI-SIS:<entry point>:<pattern>:<tag>``; with no tag, ``t`` + a hash of the
assert's test (found through the index :func:`.optimize.assert_index` built
when the pack was compiled), or ``m`` + a hash of the message when even that
cannot be told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .optimize import message_tag, norm, short_hash

SVRL = "http://purl.oclc.org/dsdl/svrl"
ERROR_ROLES = {None, "", "error", "fatal", "erreur"}

#: Issues kept per stage; the rest are counted.
MAX_ISSUES = 500


@dataclass
class Issue:
    """One problem a stage found in a document (picklable)."""

    status: str                       # fail | warn | info
    message: str
    requirement: str | None = None
    line: int | None = None
    column: int | None = None
    xpath: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AssertIndex:
    """Lookup of an SVRL finding's assert: by (pattern, rule context), then role and message."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.by_rule: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for e in entries:
            self.by_rule.setdefault((e.get("pattern") or "", e.get("context") or ""), []).append(e)
        self._compiled: dict[str, re.Pattern[str]] = {}

    def find(self, pattern: str, context: str, kind: str, role: str | None, text: str) -> dict[str, Any] | None:
        candidates = [e for e in self.by_rule.get((pattern, context), []) if e["kind"] == kind
                      and (e.get("role") or None) == (role or None)]
        if len(candidates) == 1:
            return candidates[0]
        matching = []
        for e in candidates:
            rx = self._compiled.get(e["regex"])
            if rx is None:
                try:
                    rx = re.compile(e["regex"], re.S)
                except re.error:
                    continue
                self._compiled[e["regex"]] = rx
            if rx.match(text):
                matching.append(e)
        tests = {e["test"] for e in matching}
        return matching[0] if len(tests) == 1 else None


def parse_svrl(svrl: str, stem: str, index: AssertIndex | None, line_of) -> tuple[list[Issue], dict[str, int]]:
    """Issues of one SVRL report, in report order; ``line_of(location)`` maps a location to a line."""
    root = etree.fromstring(svrl.encode("utf-8"), etree.XMLParser(huge_tree=True, resolve_entities=False,
                                                                  no_network=True))
    issues: list[Issue] = []
    counts = {"fail": 0, "warn": 0, "info": 0, "fired_rules": 0}
    pattern, context, rule_id = "", "", None
    for el in root:
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
        if name == "active-pattern":
            pattern, context, rule_id = el.get("id") or el.get("name") or "", "", None
        elif name == "fired-rule":
            context, rule_id = el.get("context") or "", el.get("id")
            counts["fired_rules"] += 1
        elif name in ("failed-assert", "successful-report"):
            role = (el.get("role") or "").strip() or None
            text_el = el.find(f"{{{SVRL}}}text")
            text = norm("".join(text_el.itertext())) if text_el is not None else ""
            lowered = (role or "").lower()
            status = "fail" if lowered in ERROR_ROLES else "warn" if lowered == "warning" else \
                "info" if lowered in ("info", "information") else "fail"
            counts[status] += 1
            if len(issues) >= MAX_ISSUES:
                continue
            tag = message_tag(text)
            hit = index.find(pattern, context, name, role, text) if index else None
            if tag is None and hit is not None:
                tag = hit.get("tag")
            if tag is None:
                tag = "t" + short_hash(hit["test"]) if hit is not None and hit.get("test") else "m" + short_hash(text)
            location = el.get("location")
            details: dict[str, Any] = {"entry_point": stem, "pattern": pattern or None, "rule_context": context or None,
                                       "role": role or ("error" if status == "fail" else None), "svrl": name}
            if rule_id:
                details["rule_id"] = rule_id
            if hit is not None and hit.get("test"):
                details["test"] = hit["test"][:500]
            issues.append(Issue(status, text or f"{name} without text", f"CI-SIS:{stem}:{pattern or '-'}:{tag}",
                                line_of(location), None, location, {k: v for k, v in details.items() if v}))
    return issues, counts
