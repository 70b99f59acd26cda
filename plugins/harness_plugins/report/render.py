"""The HTML report: one self-contained, offline file rendered from a scorecard.

- Jinja2 with autoescaping on every template: every string from the scorecard
  (vendor name, messages, evidence, annotations…) is rendered as text; links
  are emitted only for ``http(s)`` URLs.
- CSS and JavaScript are inlined from this package (``templates/``); a
  Content-Security-Policy meta tag allows only those exact inline blocks (by
  sha256) and no network access at all, so the file works offline and an
  injected ``<script>`` could not run even if escaping ever failed.
- Findings are listed worst first; :data:`DEFAULT_MAX_FINDINGS` bounds how many
  are rendered with their evidence (the rest are counted, the scorecard keeps them).

``build_view(card)`` is the template's whole input (tests read it directly);
``render_report(card)`` returns the HTML text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

import jinja2
import orjson

TEMPLATES = Path(__file__).parent / "templates"

STATUS_ORDER = ("error", "fail", "review", "warn", "skipped", "pass", "not_applicable")
STATUS_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}
STATUS_LABELS = {
    "error": "error", "fail": "fail", "review": "review", "warn": "warning", "skipped": "skipped",
    "pass": "pass", "not_applicable": "not applicable",
}
#: Statuses shown when the report opens (the filters can show the others).
DEFAULT_STATUSES = ("error", "fail", "review", "warn", "skipped")
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}
ANNOTATION_LABELS = {"vendor_dispute": "Vendor dispute", "auditor_note": "Auditor note"}

#: Findings rendered with their evidence; beyond this they are counted only.
DEFAULT_MAX_FINDINGS = 20_000
#: Longest text shown for one body excerpt, quote or value block.
MAX_TEXT = 20_000


# --------------------------------------------------------------------------
# Jinja environment and filters.
# --------------------------------------------------------------------------


def safe_url(value: Any) -> str | None:
    """The URL when it is http(s) with a host, else None (no ``javascript:`` links)."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.netloc:
        return value.strip()
    return None


def fmt_score(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f}"


def fmt_pct(value: Any) -> str:
    return "–" if value is None else f"{float(value) * 100:.0f} %"


def clip(value: Any, limit: int = MAX_TEXT) -> str:
    text = "" if value is None else str(value)
    if len(text) > limit:
        return text[:limit] + f"\n… ({len(text) - limit} more characters, see the scorecard)"
    return text


def pretty_json(value: Any) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                            default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return clip(text)


class View(dict):
    """A dict whose keys read as attributes in templates without Jinja's failing ``getattr`` first.

    Jinja tries ``getattr(obj, name)`` before ``obj[name]``; on a plain dict that
    raises and is caught for every field of every finding, which is most of the
    rendering time of a big report. Missing keys read as None.
    """

    __slots__ = ()
    __getattr__ = dict.get


def _evidence_view(evidence: Any) -> Any:
    if not isinstance(evidence, dict):
        return View()
    view = View(evidence)
    if isinstance(evidence.get("http"), dict):
        view["http"] = View(evidence["http"])
    return view


def _read(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


@lru_cache(maxsize=1)
def assets() -> dict[str, str]:
    """The inline CSS and JS and the Content-Security-Policy allowing exactly them."""
    css, js = _read("report.css"), _read("report.js")
    csp = (f"default-src 'none'; style-src {csp_hash(css)}; script-src {csp_hash(js)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return {"css": css, "js": js, "csp": csp}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its extension
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(safe_url=safe_url, score=fmt_score, pct=fmt_pct, clip=clip, pretty_json=pretty_json)
    env.globals.update(STATUS_LABELS=STATUS_LABELS, ANNOTATION_LABELS=ANNOTATION_LABELS)
    return env


# --------------------------------------------------------------------------
# View model.
# --------------------------------------------------------------------------


def _peer_facet_view(key: str, facet: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": key,
        "label": facet.get("label", key),
        "count": facet.get("count", 0),
        "mean": facet.get("mean"),
        "bayesian": facet.get("bayesian"),
        "ci95": facet.get("ci95"),
        "enough": facet.get("enough", facet.get("mean") is not None),
        "flagged": facet.get("flagged", 0),
        "families": facet.get("families", []),
    }


def peers_view(card: dict[str, Any]) -> dict[str, Any] | None:
    """The ``peer_ratings`` section shaped for display, with each facet's objective families' scores."""
    section = (card.get("sections") or {}).get("peer_ratings")
    if not isinstance(section, dict):
        return None
    from harness_plugins.peers.stats import FACET_FAMILIES, FACET_MAPPING_NOTES

    families = card["scores"]["families"]
    overall = card["scores"]["overall"]
    mapping = section.get("mapping") or {k: list(v) for k, v in FACET_FAMILIES.items()}
    facets = []
    for key, facet in (section.get("facets") or {}).items():
        if not isinstance(facet, dict):
            continue
        view = _peer_facet_view(key, facet)
        objective = []
        for fam in mapping.get(key, []):
            if fam == "overall":
                objective.append({"family": "overall", "score": overall.get("score"),
                                  "coverage": overall.get("coverage"), "audited": True})
            else:
                data = families.get(fam)
                objective.append({"family": fam, "score": data.get("score") if data else None,
                                  "coverage": data.get("coverage") if data else None, "audited": data is not None})
        view["objective"] = objective
        view["note"] = FACET_MAPPING_NOTES.get(key, "")
        facets.append(view)
    method = section.get("method") or {}
    return {
        "product": section.get("product"),
        "ratings": section.get("ratings"),
        "reviewers": section.get("reviewers"),
        "versions": section.get("versions") or {},
        "rejected_rows": section.get("rejected_rows", 0),
        "source": section.get("source"),
        "source_sha256": section.get("source_sha256"),
        "method": method,
        "facets": facets,
        "by_key": {f["key"]: f for f in facets},
        "flags": [f for f in section.get("flags") or [] if isinstance(f, dict)],
        "note": section.get("note"),
    }


def _annotation_index(annotations: Iterable[dict[str, Any]]):
    by_check: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, ann in enumerate(annotations):
        if isinstance(ann, dict) and isinstance(ann.get("check_id"), str):
            by_check[ann["check_id"]].append((i, View(ann)))
    return by_check


def _result_severity(result: dict[str, Any], check_severity: str) -> str:
    sevs = [f.get("severity") for f in result["findings"] if f.get("status") != "pass" and f.get("severity")]
    sevs = [s for s in sevs if s in SEVERITY_RANK]
    return min(sevs, key=SEVERITY_RANK.__getitem__) if sevs else check_severity


def build_view(card: dict[str, Any], *, max_findings: int | None = DEFAULT_MAX_FINDINGS,
               scorecard_sha256: str | None = None) -> dict[str, Any]:
    """Everything the report template shows, computed once.

    ``scorecard_sha256`` is shown as the report's provenance; when None it is
    computed from the card's canonical JSON (what ``scorecard.json`` holds).
    """
    checks = {c["id"]: c for c in card.get("checks", [])}
    requirements = {r["id"]: r for r in card.get("requirements", [])}
    req_anchor = {rid: f"req-{i}" for i, rid in enumerate(requirements)}
    ann_by_check = _annotation_index(card.get("annotations") or [])
    used_annotations: set[int] = set()
    peers = peers_view(card)

    groups: dict[str, dict[str, Any]] = {}
    total_findings = rendered_findings = hidden_results = 0
    results = sorted(card.get("results", []),
                     key=lambda r: (STATUS_RANK.get(r["status"], 99), r["check_id"], r["item_id"]))
    for index, result in enumerate(results):
        if max_findings is not None and rendered_findings >= max_findings and result.get("findings"):
            # Past the limit: counted, not rendered (the scorecard keeps everything).
            hidden_results += 1
            total_findings += len(result["findings"])
            continue
        meta = checks.get(result["check_id"], {})
        family = meta.get("family") or result["check_id"].split(".", 1)[0]
        check_sev = meta.get("severity", "medium")
        group = groups.get(result["check_id"])
        if group is None:
            group = groups[result["check_id"]] = View({
                "id": result["check_id"], "anchor": f"check-{len(groups)}", "title": meta.get("title", ""),
                "family": family, "severity": check_sev,
                "description": (meta.get("documentation") or {}).get("description", ""),
                "remediation": meta.get("remediation"),
                "requirements": [_req_ref(r, requirements, req_anchor) for r in meta.get("requirements", [])],
                "results": [], "statuses": defaultdict(int),
            })
        anns = [(i, a) for i, a in ann_by_check.get(result["check_id"], [])
                if a.get("item_id") in (None, "", result["item_id"])]
        findings = []
        for finding in result.get("findings", []):
            total_findings += 1
            if max_findings is not None and rendered_findings >= max_findings:
                continue
            rendered_findings += 1
            f_anns = [a for i, a in anns if a.get("message_id") and a.get("message_id") == finding.get("message_id")]
            findings.append(View({
                "status": finding.get("status"),
                "severity": finding.get("severity", check_sev),
                "message": finding.get("message", ""),
                "message_id": finding.get("message_id"),
                "requirements": [_req_ref(r, requirements, req_anchor) for r in finding.get("requirement_ids", [])],
                "evidence": [_evidence_view(e) for e in finding.get("evidence", [])],
                "details": finding.get("details"),
                "remediation": finding.get("remediation"),
                "annotations": f_anns,
            }))
        # An annotation naming a message_id sits on that finding; otherwise (or when that
        # finding is not rendered) on the result.
        shown_ids = {f["message_id"] for f in findings if f["message_id"]}
        r_anns = [a for _i, a in anns if not a.get("message_id") or a.get("message_id") not in shown_ids]
        used_annotations.update(i for i, _a in anns)
        first = next((f for f in result.get("findings", []) if f.get("status") == result["status"]), None)
        group["results"].append(View({
            "anchor": f"r{index}",
            "item_id": result["item_id"],
            "status": result["status"],
            "severity": _result_severity(result, check_sev),
            "family": family,
            "summary": (first or {}).get("message", "") if first else "",
            "findings": findings,
            "hidden_findings": len(result.get("findings", [])) - len(findings),
            "error": result.get("error"),
            "annotations": r_anns,
            "annotation_count": len(anns),
        }))
        group["statuses"][result["status"]] += 1

    ordered = sorted(groups.values(), key=lambda g: (
        min((STATUS_RANK.get(r["status"], 99) for r in g["results"]), default=99),
        SEVERITY_RANK.get(g["severity"], 9), g["id"]))
    for g in ordered:
        g["status"] = min((r["status"] for r in g["results"]), key=lambda s: STATUS_RANK.get(s, 99))
        g["statuses"] = dict(g["statuses"])

    orphans = [a for i, a in enumerate(card.get("annotations") or []) if i not in used_annotations
               and isinstance(a, dict)]

    fam_scores = card["scores"]["families"]
    family_rows = []
    for name in sorted(fam_scores):
        fam = fam_scores[name]
        peer_facets = []
        if peers:
            from harness_plugins.peers.stats import facets_for_family

            peer_facets = [peers["by_key"][k] for k in facets_for_family(name) if k in peers["by_key"]]
        family_rows.append({"name": name, **fam, "peer_facets": peer_facets,
                            "results": sum(fam.get("counts", {}).values())})
    overall_peers = [peers["by_key"]["global"]] if peers and "global" in peers["by_key"] else []

    present_status = {r["status"] for r in card.get("results", [])}
    present_sev = {r["severity"] for g in ordered for r in g["results"]}
    statuses = [{"value": s, "label": STATUS_LABELS[s], "checked": s in DEFAULT_STATUSES,
                 "count": sum(1 for r in card.get("results", []) if r["status"] == s)}
                for s in STATUS_ORDER if s in present_status]
    subject = card.get("subject", {})
    return {
        "subject": subject,
        "title": " ".join(x for x in (subject.get("vendor"), "—", subject.get("product"), subject.get("version"))
                          if x),
        "harness": card.get("harness", {}),
        "run": card.get("run", {}),
        "policy": card.get("policy", {}),
        "profile": card.get("profile", {}),
        "plugins": card.get("plugins", []),
        "rule_packs": card.get("rule_packs", []),
        "overall": card["scores"]["overall"],
        "overall_peers": overall_peers,
        "families": family_rows,
        "peers": peers,
        "groups": ordered,
        "requirements": [{**r, "anchor": req_anchor[r["id"]]} for r in requirements.values()],
        "filter_families": sorted({g["family"] for g in ordered}),
        "filter_severities": [s for s in SEVERITY_ORDER if s in present_sev],
        "filter_statuses": statuses,
        "total_results": len(card.get("results", [])),
        "total_findings": total_findings,
        "rendered_findings": rendered_findings,
        "hidden_findings": total_findings - rendered_findings,
        "hidden_results": hidden_results,
        "annotations": card.get("annotations") or [],
        "orphan_annotations": orphans,
        "scorecard_sha256": scorecard_sha256 or canonical_sha256(card),
        "scorecard_version": card.get("schema_version"),
        "assets": assets(),
    }


def _req_ref(rid: str, requirements: dict[str, dict[str, Any]], anchors: dict[str, str]) -> dict[str, Any]:
    req = requirements.get(rid, {})
    return View({"id": rid, "title": req.get("title"), "source": req.get("source"), "url": req.get("url"),
                 "anchor": anchors.get(rid)})


def canonical_sha256(card: dict[str, Any]) -> str:
    """sha256 of the scorecard's canonical JSON (what ``scorecard.json`` holds)."""
    from harness import scorecard

    return hashlib.sha256(scorecard.dumps(card).encode("utf-8")).hexdigest()


def render_report(card: dict[str, Any], *, max_findings: int | None = DEFAULT_MAX_FINDINGS,
                  site_nav: dict[str, str] | None = None, scorecard_sha256: str | None = None) -> str:
    """The report's HTML text. ``site_nav`` adds links back to a comparison site's pages."""
    view = build_view(card, max_findings=max_findings, scorecard_sha256=scorecard_sha256)
    view["site_nav"] = site_nav
    return environment().get_template("report.html.j2").render(**view)


def write_report(card: dict[str, Any], path: str | Path, **kw: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(card, **kw), encoding="utf-8")
    return path
