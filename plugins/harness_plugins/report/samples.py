"""Synthetic, schema-valid scorecards for tests, benchmarks and demos of the report and the site.

Deterministic for a given seed: ``synthetic_scorecard("Acme", "Cab", "1.0", findings=10_000)``
has about that many findings spread over the four scored families, with
evidence of every kind, scores computed by the real scoring code, a
``peer_ratings`` section computed by the real peers statistics, and optional
annotations.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import random
from typing import Any

from harness import __version__ as harness_version
from harness.scoring import load_policy, score

FAMILIES = {
    "dmp": ("dmp.cda.xsd", "dmp.cda.ins", "dmp.xdm.metadata", "dmp.pdf.embedded"),
    "interop": ("interop.capability.statement", "interop.search.paging", "interop.error.outcome"),
    "portability": ("portability.export.complete", "portability.ndjson.valid"),
    "contracts": ("contracts.renewal.tacit", "contracts.exit.reversibility", "contracts.hosting.hds"),
}
SEVERITIES = ("critical", "high", "medium", "low", "info")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _evidence(rng: random.Random, family: str, n: int) -> dict[str, Any]:
    if family == "interop":
        url = f"https://fhir.example.test/fhir/Patient?_count=50&page={n}"
        return {"kind": "http", "artefact": url, "sha256": _sha(url), "http": {
            "method": "GET", "url": url, "status": rng.choice([200, 400, 404, 500]),
            "request_headers": {"accept": "application/fhir+json", "authorization": "Bearer ***"},
            "response_headers": {"content-type": "application/fhir+json"},
            "body_excerpt": '{"resourceType": "OperationOutcome", "issue": [{"severity": "error", '
                            f'"code": "processing", "diagnostics": "page {n} failed"}}]}}',
            "body_sha256": _sha(url + "body")}}
    if family == "contracts":
        return {"kind": "quote", "artefact": "contrat-licence.pdf", "sha256": _sha("contrat"), "page": 1 + n % 12,
                "clause": f"{1 + n % 9}.{n % 4}", "start": 100 * n, "end": 100 * n + 80,
                "quote": "Le contrat est renouvelé par tacite reconduction pour une durée de trois ans, sauf "
                         "dénonciation six mois avant son terme."}
    if family == "dmp":
        return {"kind": "file", "artefact": f"documents/cr-{n % 50:03d}.xml", "sha256": _sha(f"doc{n % 50}"),
                "line": 10 + n % 400, "column": 1 + n % 60,
                "xpath": "/ClinicalDocument/recordTarget/patientRole/id[1]",
                "excerpt": '<id root="1.2.250.1.213.1.4.8" extension="***"/>'}
    return {"kind": "data", "artefact": "export/Patient.ndjson", "sha256": _sha("export"),
            "values": {"expected": 1200, "found": 1200 - n % 37, "line": n}}


def synthetic_ratings_section(product: str, rng: random.Random, reviewers: int = 30,
                              level: float = 3.0) -> dict[str, Any]:
    from harness_plugins.peers.ratings import FACETS, Rating
    from harness_plugins.peers.stats import summarise

    ratings = []
    start = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
    line = 1
    for r in range(reviewers):
        when = start + _dt.timedelta(days=(r * 11) % 330)
        for facet in FACETS:
            line += 1
            stars = min(5, max(1, round(rng.gauss(level, 0.9))))
            ratings.append(Rating(line=line, product=product, version="", facet=facet,
                                  score10=(stars - 1) * 2.5, date=when.date().isoformat(), when=when,
                                  reviewer=f"rev-{r:04d}"))
    return summarise(ratings, product, source_sha256=_sha(product + "ratings"))


def synthetic_scorecard(vendor: str, product: str, version: str, *, findings: int = 200, seed: int = 0,
                        fail_rate: float = 0.3, annotations: int = 0, peers: bool = True,
                        date: str = "2026-06-01T12:00:00+00:00") -> dict[str, Any]:
    """A schema-valid scorecard with about ``findings`` findings (one per result, plus pass results)."""
    rng = random.Random(f"{seed}:{vendor}:{product}:{version}")
    checks = []
    for family, ids in FAMILIES.items():
        for i, cid in enumerate(ids):
            checks.append({"id": cid, "title": f"{cid.split('.', 1)[1].replace('.', ' ').capitalize()} is conformant",
                           "family": family, "severity": SEVERITIES[i % 4], "requirements": [f"REQ:{cid}"],
                           "target": family, "documentation": {"short": cid, "description": f"Checks {cid}."}})
    if peers:
        checks.append({"id": "peers.ratings.valid", "title": "The peer ratings export is readable", "family": "peers",
                       "severity": "low", "requirements": ["PEERS:ratings-format"], "target": "peers",
                       "documentation": {"short": "ratings"}})
    results = []
    per_check = max(1, findings // len(checks))
    n = 0
    for meta in checks:
        for k in range(per_check):
            n += 1
            roll = rng.random()
            status = ("fail" if roll < fail_rate else "warn" if roll < fail_rate * 1.3
                      else "error" if roll < fail_rate * 1.35 else "pass")
            finding = {"status": status, "severity": meta["severity"],
                       "message": f"{meta['id']}: item {k} is {'not ' if status != 'pass' else ''}conformant",
                       "message_id": f"{meta['id']}.m{k % 3}", "requirement_ids": meta["requirements"],
                       "evidence": [_evidence(rng, meta["family"], n)]}
            result = {"check_id": meta["id"], "item_id": f"item-{k:05d}", "status": status, "findings": [finding]}
            if status == "error":
                result["error"] = "TimeoutError: the endpoint did not answer within 60 s"
            results.append(result)
    policy = load_policy()
    scores = score(checks, results, policy)
    card: dict[str, Any] = {
        "schema_version": "1.0",
        "harness": {"name": "lgc-harness", "version": harness_version},
        "run": {"id": f"run-{_sha(vendor + product + version)[:12]}", "started_at": date, "finished_at": date,
                "duration_s": 1.0},
        "subject": {"vendor": vendor, "product": product, "version": version},
        "profile": {"name": "vendor.toml", "sha256": _sha(product), "targets": sorted(FAMILIES)},
        "plugins": [{"name": "core-runner", "module": "harness.builtin", "version": harness_version,
                     "dist": "lgc-harness", "status": "loaded", "hooks": []}],
        "rule_packs": [{"name": "ci-sis", "version": "2024.01", "sha256": _sha("ci-sis")}],
        "policy": {k: policy[k] for k in ("name", "version", "sha256")},
        "scores": scores,
        "checks": checks,
        "results": results,
        "requirements": [{"id": r, "title": f"Requirement {r}", "source": "synthetic",
                          "url": f"https://example.test/req/{r}"}
                         for r in sorted({r for c in checks for r in c["requirements"]})],
        "sections": {},
        "annotations": [],
    }
    if peers:
        card["sections"]["peer_ratings"] = synthetic_ratings_section(product, rng, level=1.5 + 3 * rng.random())
    failing = [r for r in results if r["status"] == "fail"]
    for i in range(min(annotations, len(failing))):
        r = failing[i]
        card["annotations"].append({
            "check_id": r["check_id"], "item_id": r["item_id"],
            "kind": "vendor_dispute" if i % 2 == 0 else "auditor_note",
            "text": "Fixed in the next release." if i % 2 == 0 else "Reproduced on 2026-06-01.",
            "author": vendor if i % 2 == 0 else "Auditeur", "date": date[:10]})
    return card
