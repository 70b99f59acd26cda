"""SARIF 2.1.0 reporter (``results.sarif``), for code-scanning interfaces.

- one rule (``reportingDescriptor``) per check: title, description, remediation
  and requirement ids (as properties, and as relationships to the taxa of a
  ``requirements`` taxonomy);
- one result per non-passing finding: ``fail`` (level from the severity),
  ``warn`` (``warning``), ``review`` (kind ``review``) and harness ``error``
  (kind ``open``, also listed as a tool execution notification);
- locations from the evidence: files become physical locations (URI relative
  to the working directory under ``%SRCROOT%`` when inside it, line/column,
  excerpt as snippet), quotes keep their page and clause, XPaths become
  logical locations, HTTP exchanges become logical locations of kind
  ``resource`` plus ``properties.http``; a result with no file location points
  at the ``[targets.<kind>]`` line of the vendor profile when the profile is
  known (code-scanning interfaces need a file to show a result on).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "SRCROOT"
MAX_LOCATIONS = 10

#: run id -> the profile file it audited, filled by ``harness_session_finish``.
PROFILES: dict[str, Path] = {}

_LEVEL_BY_SEVERITY = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def _camel(check_id: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._\-]+", check_id) if part)


def _help(meta: dict[str, Any], requirements: dict[str, dict[str, Any]]) -> tuple[str, str]:
    doc = meta.get("documentation", {})
    description = (doc.get("description") or meta["title"]).strip()
    text = [description]
    md = [description]
    if meta.get("remediation"):
        text += ["", f"Remediation: {meta['remediation']}"]
        md += ["", f"**Remediation:** {meta['remediation']}"]
    if meta.get("requirements"):
        text += ["", "Requirements:"]
        md += ["", "**Requirements:**", ""]
        for rid in meta["requirements"]:
            req = requirements.get(rid, {})
            title = req.get("title", "")
            text.append(f"- {rid}" + (f": {title}" if title else "") + (f" ({req['url']})" if req.get("url") else ""))
            label = f"`{rid}`" + (f" — {title}" if title else "")
            md.append(f"- [{label}]({req['url']})" if req.get("url") else f"- {label}")
    return "\n".join(text), "\n".join(md)


class _Artifacts:
    """``run.artifacts`` with their hashes, and URIs relative to %SRCROOT% when possible."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()
        self.items: list[dict[str, Any]] = []
        self.index: dict[tuple[str, str | None], int] = {}

    def location(self, path: str, sha256: str | None = None) -> dict[str, Any]:
        uri, base_id = self._uri(path)
        key = (uri, base_id)
        if key not in self.index:
            loc: dict[str, Any] = {"uri": uri}
            if base_id:
                loc["uriBaseId"] = base_id
            artifact: dict[str, Any] = {"location": dict(loc)}
            if sha256:
                artifact["hashes"] = {"sha-256": sha256}
            self.index[key] = len(self.items)
            self.items.append(artifact)
        elif sha256 and "hashes" not in self.items[self.index[key]]:
            self.items[self.index[key]]["hashes"] = {"sha-256": sha256}
        loc = {"uri": uri, "index": self.index[key]}
        if base_id:
            loc["uriBaseId"] = base_id
        return loc

    def _uri(self, path: str) -> tuple[str, str | None]:
        p = Path(path)
        if not p.is_absolute():
            return p.as_posix(), SRCROOT
        try:
            return p.resolve().relative_to(self.base).as_posix(), SRCROOT
        except ValueError:
            return p.as_uri(), None


def _is_url(text: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", text or "", re.I)) and not text.startswith("file:")


def _section_line(profile: Path | None, kind: str | None) -> int | None:
    if profile is None or not kind:
        return None
    try:
        from harness.profile import find_line

        return find_line(profile.read_text(encoding="utf-8"), ("targets", kind))
    except (OSError, UnicodeDecodeError):
        return None


def _locations(finding: dict[str, Any], artifacts: _Artifacts, profile: Path | None, target_kind: str | None
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(locations, http exchanges) of one finding."""
    locations: list[dict[str, Any]] = []
    exchanges: list[dict[str, Any]] = []
    for ev in finding.get("evidence", []) or []:
        kind = ev.get("kind")
        artefact = ev.get("artefact", "")
        location: dict[str, Any] = {}
        if kind == "http" or _is_url(artefact):
            http = ev.get("http", {})
            method = http.get("method", "GET")
            url = http.get("url", artefact)
            location["logicalLocations"] = [{"name": url.split("?", 1)[0].rsplit("/", 1)[-1] or url,
                                             "fullyQualifiedName": f"{method} {url}", "kind": "resource"}]
            exchange = {k: http[k] for k in ("method", "url", "status", "error") if k in http}
            if ev.get("sha256"):
                exchange["body_sha256"] = ev["sha256"]
            exchanges.append(exchange or {"url": artefact})
        elif kind in ("file", "quote") or (kind == "data" and artefact and Path(artefact).is_absolute()):
            physical: dict[str, Any] = {"artifactLocation": artifacts.location(artefact, ev.get("sha256"))}
            region: dict[str, Any] = {}
            if ev.get("line"):
                region["startLine"] = int(ev["line"])
                if ev.get("column"):
                    region["startColumn"] = int(ev["column"])
            snippet = ev.get("quote") if kind == "quote" else ev.get("excerpt")
            if snippet:
                region["snippet"] = {"text": snippet}
            props = {k: ev[k] for k in ("page", "clause", "start", "end") if ev.get(k) is not None}
            if props:
                region["properties"] = props
            if region:
                physical["region"] = region
            location["physicalLocation"] = physical
            if ev.get("xpath"):
                location["logicalLocations"] = [{"fullyQualifiedName": ev["xpath"], "kind": "element"}]
            if kind == "quote" and (ev.get("page") or ev.get("clause")):
                where = ", ".join(w for w in (f"page {ev['page']}" if ev.get("page") else "",
                                              f"clause {ev['clause']}" if ev.get("clause") else "") if w)
                location["message"] = {"text": where}
        else:
            continue
        locations.append(location)
        if len(locations) >= MAX_LOCATIONS:
            break
    if profile is not None and not any("physicalLocation" in loc for loc in locations):
        physical = {"artifactLocation": artifacts.location(str(profile))}
        line = _section_line(profile, target_kind)
        if line:
            physical["region"] = {"startLine": line}
        if locations:
            locations[0]["physicalLocation"] = physical
        else:
            locations.append({"physicalLocation": physical})
    return locations, exchanges


def _fingerprint(check_id: str, item_id: str, finding: dict[str, Any]) -> str:
    key = "\x1f".join((check_id, item_id, finding.get("message_id") or finding.get("message", "")))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def to_sarif(card: dict[str, Any], base_dir: str | Path | None = None, profile: Path | None = None) -> dict[str, Any]:
    """The SARIF 2.1.0 log of a scorecard."""
    base = Path(base_dir) if base_dir else Path(os.getcwd())
    if profile is None:
        profile = PROFILES.get(card.get("run", {}).get("id", ""))
    artifacts = _Artifacts(base)
    requirements = {r["id"]: r for r in card.get("requirements", [])}
    taxa_ids = sorted({rid for c in card["checks"] for rid in c.get("requirements", [])} |
                      {rid for r in card["results"] for f in r["findings"] for rid in f.get("requirement_ids", [])})
    taxa_index = {rid: i for i, rid in enumerate(taxa_ids)}
    taxa = []
    for rid in taxa_ids:
        req = requirements.get(rid, {})
        taxon: dict[str, Any] = {"id": rid}
        if req.get("title"):
            taxon["name"] = req["title"]
            taxon["shortDescription"] = {"text": req["title"]}
        if req.get("url"):
            taxon["helpUri"] = req["url"]
        if req.get("source"):
            taxon["properties"] = {"source": req["source"]}
        taxa.append(taxon)

    rules = []
    rule_index: dict[str, int] = {}
    check_meta = {c["id"]: c for c in card["checks"]}
    for meta in card["checks"]:
        help_text, help_md = _help(meta, requirements)
        rule: dict[str, Any] = {
            "id": meta["id"],
            "name": _camel(meta["id"]),
            "shortDescription": {"text": meta["title"]},
            "fullDescription": {"text": (meta.get("documentation", {}).get("description") or meta["title"]).strip()},
            "help": {"text": help_text, "markdown": help_md},
            "defaultConfiguration": {"level": _LEVEL_BY_SEVERITY.get(meta["severity"], "warning")},
            "properties": {
                "family": meta["family"],
                "severity": meta["severity"],
                "requirements": list(meta.get("requirements", [])),
                "target": meta.get("target"),
                "tags": ["conformity", meta["family"], f"severity:{meta['severity']}"],
                "problem.severity": {"error": "error", "warning": "warning"}.get(
                    _LEVEL_BY_SEVERITY.get(meta["severity"], "warning"), "recommendation"),
            },
        }
        first_url = next((requirements[r]["url"] for r in meta.get("requirements", [])
                          if requirements.get(r, {}).get("url")), None)
        if first_url:
            rule["helpUri"] = first_url
        if meta.get("requirements"):
            rule["relationships"] = [
                {"target": {"id": rid, "index": taxa_index[rid], "toolComponent": {"name": "requirements", "index": 0}},
                 "kinds": ["relevant"]}
                for rid in meta["requirements"] if rid in taxa_index
            ]
        rule_index[meta["id"]] = len(rules)
        rules.append(rule)

    results = []
    notifications = []
    for result in card["results"]:
        check_id, item_id = result["check_id"], result["item_id"]
        meta = check_meta.get(check_id, {})
        for finding in result["findings"]:
            status = finding["status"]
            if status not in ("fail", "warn", "review", "error"):
                continue
            severity = finding.get("severity") or meta.get("severity", "medium")
            if status == "fail":
                kind, level = "fail", _LEVEL_BY_SEVERITY.get(severity, "warning")
            elif status == "warn":
                kind, level = "fail", "warning"
            elif status == "review":
                kind, level = "review", "none"
            else:
                kind, level = "open", "none"
            text = finding["message"] + ("" if item_id == "-" else f" (item: {item_id})")
            locations, exchanges = _locations(finding, artifacts, profile, meta.get("target"))
            entry: dict[str, Any] = {
                "ruleId": check_id,
                "kind": kind,
                "level": level,
                "message": {"text": text},
                "partialFingerprints": {"harnessFinding/v1": _fingerprint(check_id, item_id, finding)},
                "properties": {
                    "item_id": item_id,
                    "status": status,
                    "severity": severity,
                    "requirement_ids": list(finding.get("requirement_ids", [])),
                },
            }
            if check_id in rule_index:
                entry["ruleIndex"] = rule_index[check_id]
            if finding.get("message_id"):
                entry["properties"]["message_id"] = finding["message_id"]
            if finding.get("remediation"):
                entry["properties"]["remediation"] = finding["remediation"]
            if exchanges:
                entry["properties"]["http"] = exchanges
            if locations:
                entry["locations"] = locations
            results.append(entry)
            if status == "error":
                note: dict[str, Any] = {"level": "error", "message": {"text": f"{check_id} [{item_id}]: {finding['message']}"},
                                        "descriptor": {"id": finding.get("message_id") or "harness.error"}}
                if check_id in rule_index:
                    note["associatedRule"] = {"id": check_id, "index": rule_index[check_id]}
                notifications.append(note)

    run_info = card.get("run", {})
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if run_info.get("started_at"):
        invocation["startTimeUtc"] = _utc(run_info["started_at"])
    if run_info.get("finished_at"):
        invocation["endTimeUtc"] = _utc(run_info["finished_at"])
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    subject = card.get("subject", {})
    category = "/".join(_slug(subject.get(k, "")) for k in ("vendor", "product"))
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "lgc-harness",
            "fullName": "lgc-harness vendor conformity harness",
            "version": card["harness"]["version"],
            "semanticVersion": card["harness"]["version"],
            "rules": rules,
            "supportedTaxonomies": [{"name": "requirements", "index": 0}],
        }},
        "taxonomies": [{"name": "requirements",
                        "shortDescription": {"text": "Requirements the checks trace to (CI-SIS, FHIR, law, contracts)"},
                        "taxa": taxa}],
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": base.resolve().as_uri() + "/",
                                         "description": {"text": "the working directory of the audit"}}},
        "automationDetails": {"id": f"harness/{category}/"},
        "artifacts": artifacts.items,
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "subject": subject,
            "profile": card.get("profile", {}),
            "scores": {"overall": card["scores"]["overall"],
                       "families": {name: {k: fam.get(k) for k in ("score", "coverage", "status")}
                                    for name, fam in card["scores"]["families"].items()}},
        },
    }
    if not artifacts.items:
        del run["artifacts"]
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "subject"


def _utc(stamp: str) -> str:
    """ISO 8601 in UTC with a ``Z``, as SARIF's date-time properties want."""
    import datetime as _dt

    try:
        value = _dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if value.tzinfo is not None:
        value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def write_sarif(card: dict[str, Any], out_dir: Path) -> Path:
    import json

    path = Path(out_dir) / "results.sarif"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_sarif(card), indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    return path
