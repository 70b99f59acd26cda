"""Scoring: results -> per-check, per-family and overall scores, with coverage.

Kept apart from the results (OpenSSF Scorecard's raw/evaluation split) and
driven by a policy file, so a different weighting never needs code. A score is
0..10 or ``None`` (inconclusive: nothing conclusive to score); coverage is the
share of applicable weight whose results were conclusive.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from .model import Status, worst

DEFAULT_POLICY = Path(__file__).parent / "policy" / "default.toml"


class PolicyError(Exception):
    """The scoring policy file is unusable."""


def load_policy(path: str | Path | None = None) -> dict[str, Any]:
    """Read a policy TOML and record its sha256 (it goes into the scorecard)."""
    path = Path(path) if path else DEFAULT_POLICY
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"scoring policy {path}: {exc}") from None
    for key in ("name", "version", "status_points", "severity_weights"):
        if key not in data:
            raise PolicyError(f"scoring policy {path}: missing {key!r}")
    for status, points in data["status_points"].items():
        Status(status)
        if not 0 <= float(points) <= 10:
            raise PolicyError(f"scoring policy {path}: points for {status!r} must be within 0..10")
    data.setdefault("family_weights", {})
    data.setdefault("families", {})
    data["sha256"] = hashlib.sha256(raw).hexdigest()
    return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _weighted(pairs: Iterable[tuple[float, float | None]]) -> float | None:
    num = den = 0.0
    for weight, score in pairs:
        if score is None or weight <= 0:
            continue
        num += weight * score
        den += weight
    if den == 0:
        return None
    value = num / den
    if not 0 <= value <= 10:  # pragma: no cover - guarded by the policy's own bounds
        raise ValueError(f"score {value} out of range 0..10")
    return value


def score(checks: list[dict[str, Any]], results: list[dict[str, Any]], policy: dict[str, Any]) -> dict[str, Any]:
    """Score results; see the module docstring and ``docs/architecture.md#scoring``."""
    points = {Status(k): float(v) for k, v in policy["status_points"].items()}
    sev_w = {k: float(v) for k, v in policy["severity_weights"].items()}
    fam_conf = policy.get("families", {})
    unscored = set(fam_conf.get("unscored", []))
    default_fw = float(fam_conf.get("default_family_weight", 1.0))
    fam_w = {k: float(v) for k, v in policy.get("family_weights", {}).items()}

    by_check: dict[str, list[Status]] = defaultdict(list)
    for res in results:
        by_check[res["check_id"]].append(Status(res["status"]))

    families: dict[str, dict[str, Any]] = {}
    per_family: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for meta in checks:
        per_family[meta["family"]].append(meta)

    overall_pairs: list[tuple[float, float | None]] = []
    overall_cov_num = overall_cov_den = 0.0
    for family in sorted(per_family):
        metas = per_family[family]
        all_optional = all(m.get("optional") for m in metas)
        counts: dict[str, int] = defaultdict(int)
        fam_statuses: list[Status] = []
        check_scores: dict[str, Any] = {}
        pairs: list[tuple[float, float | None]] = []
        cov_num = cov_den = 0.0
        for meta in metas:
            statuses = by_check.get(meta["id"], [])
            for s in statuses:
                counts[s.value] += 1
            fam_statuses.extend(statuses)
            weight = sev_w.get(meta["severity"], 0.0)
            if meta.get("optional") and not all_optional:
                weight = 0.0
            applicable = [s for s in statuses if s is not Status.NOT_APPLICABLE]
            conclusive = [points[s] for s in applicable if s in points]
            check_score = sum(conclusive) / len(conclusive) if conclusive else None
            check_scores[meta["id"]] = {
                "score": _round(check_score),
                "weight": weight,
                "status": (worst(statuses) or Status.NOT_APPLICABLE).value,
            }
            pairs.append((weight, check_score))
            if applicable and weight > 0:
                cov_den += weight
                cov_num += weight * len(conclusive) / len(applicable)
        fam_score = _weighted(pairs)
        scored = family not in unscored
        weight = fam_w.get(family, default_fw) if scored else 0.0
        families[family] = {
            "score": _round(fam_score) if scored else None,
            "coverage": _round(cov_num / cov_den) if cov_den else None,
            "status": (worst(fam_statuses) or Status.NOT_APPLICABLE).value,
            "weight": weight,
            "scored": scored,
            "counts": dict(sorted(counts.items())),
            "checks": check_scores,
        }
        if scored:
            overall_pairs.append((weight, fam_score))
            overall_cov_num += weight * cov_num
            overall_cov_den += weight * cov_den
    family_of = {m["id"]: m["family"] for m in checks}
    all_statuses = [Status(r["status"]) for r in results if family_of.get(r["check_id"]) not in unscored]
    return {
        "overall": {
            "score": _round(_weighted(overall_pairs)),
            "coverage": _round(overall_cov_num / overall_cov_den) if overall_cov_den else None,
            "status": (worst(all_statuses) or Status.NOT_APPLICABLE).value,
        },
        "families": families,
    }
