"""Per-facet aggregates of peer ratings and the patterns worth a second look.

Everything here is documented in ``docs/peers.md``; the numbers in one place:

- scores are on 0..10 (see :func:`harness_plugins.peers.ratings.normalise_score`);
- **mean**: arithmetic mean of the facet's ratings;
- **Bayesian average**: ``(C·m + Σx) / (C + n)`` with the prior ``m`` =
  ``prior_mean`` (default 5.0, the middle of the scale) weighing ``C`` =
  ``prior_weight`` virtual ratings (default 5). It pulls a small sample
  towards "no opinion" and leaves a large one almost at its mean; the prior
  does not depend on the other products in the export, so the same ratings
  always give the same figure;
- **95 % interval** of the mean: Student's t, ``mean ± t(0.975, n−1)·s/√n``,
  clipped to 0..10 (None for fewer than two ratings);
- below ``min_count`` ratings (default 5) a facet is "not enough ratings": its
  count is shown, its mean, average and interval are not (they are None).

Suspicious patterns are flagged, never removed: flagged ratings stay in every
aggregate, and each facet says how many of its ratings are flagged.
"""

from __future__ import annotations

import datetime as _dt
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from .ratings import FACETS, Rating

#: Which objective families speak to which peer facet. Shown beside each other,
#: never combined: a reader compares them, the harness does not.
FACET_FAMILIES: dict[str, tuple[str, ...]] = {
    "global": ("overall",),
    "ergonomie": (),
    "fiabilite": ("dmp", "interop"),
    "gain_de_temps": (),
    "interoperabilite": ("interop",),
    "support": (),
    "conditions_portabilite": ("contracts", "portability"),
}

#: Why each mapping holds (shown in the report and in docs/peers.md).
FACET_MAPPING_NOTES: dict[str, str] = {
    "global": "the overall objective score",
    "ergonomie": "no objective check measures ergonomics",
    "fiabilite": "DMP document error rates (dmp) and FHIR API error rates (interop)",
    "gain_de_temps": "no objective check measures time saved",
    "interoperabilite": "FHIR API conformance (interop)",
    "support": "no objective check measures vendor support",
    "conditions_portabilite": "contract clauses (contracts) and data export (portability)",
}


def families_for_facet(facet: str) -> tuple[str, ...]:
    return FACET_FAMILIES.get(facet, ())


def facets_for_family(family: str) -> list[str]:
    """Peer facets that speak to an objective family (``overall`` for the overall score)."""
    return [f for f, fams in FACET_FAMILIES.items() if family in fams]


@dataclass(frozen=True)
class Settings:
    """The knobs of aggregation and flagging; their values go into the scorecard."""

    min_count: int = 5
    prior_mean: float = 5.0
    prior_weight: float = 5.0
    repeat_max: int = 2
    burst_window_days: float = 2.0
    burst_min_reviewers: int = 5
    burst_factor: float = 5.0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Settings":
        known = {k: config[k] for k in cls.__dataclass_fields__ if k in config}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Student's t quantile t(0.975, df) for df 1..30; larger df use a series around z.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
_Z975 = 1.959964


def t975(df: int) -> float:
    """Two-sided 95 % Student quantile (Cornish–Fisher expansion beyond the table)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def facet_stats(scores: list[float], settings: Settings = Settings()) -> dict[str, Any]:
    """count, mean, Bayesian average, 95 % interval and ``enough`` for one facet's 0..10 scores."""
    n = len(scores)
    enough = n >= max(settings.min_count, 1)
    out: dict[str, Any] = {"count": n, "enough": enough, "mean": None, "bayesian": None, "ci95": None}
    if not enough:
        return out
    mean = statistics.fmean(scores)
    out["mean"] = _r(mean)
    out["bayesian"] = _r((settings.prior_weight * settings.prior_mean + sum(scores)) / (settings.prior_weight + n))
    if n >= 2:
        half = t975(n - 1) * statistics.stdev(scores) / math.sqrt(n)
        out["ci95"] = [_r(max(0.0, mean - half)), _r(min(10.0, mean + half))]
    return out


# --------------------------------------------------------------------------
# Suspicious patterns.
# --------------------------------------------------------------------------

_MAX_LINES = 50


def repeat_reviewers(ratings: Iterable[Rating], settings: Settings = Settings()) -> list[dict[str, Any]]:
    """Reviewers with more than ``repeat_max`` ratings of the same product and facet."""
    groups: dict[tuple[str, str, str], list[Rating]] = defaultdict(list)
    for rating in ratings:
        groups[(rating.product, rating.reviewer, rating.facet)].append(rating)
    flags = []
    for (product, reviewer, facet), rows in sorted(groups.items()):
        if len(rows) > settings.repeat_max:
            flags.append({
                "kind": "repeat_reviewer",
                "product": product,
                "reviewer": reviewer,
                "facet": facet,
                "count": len(rows),
                "lines": [r.line for r in rows][:_MAX_LINES],
                "message": (f"reviewer {reviewer!r} rated {FACETS[facet]} of {product} {len(rows)} times "
                            f"(more than {settings.repeat_max})"),
            })
    return flags


def bursts(ratings: Iterable[Rating], settings: Settings = Settings()) -> list[dict[str, Any]]:
    """Windows of ``burst_window_days`` in which unusually many distinct reviewers rated one product.

    Each reviewer counts once, at their first rating of the product. A window
    holding ``k`` reviewers is flagged when ``k >= burst_min_reviewers`` *and*
    ``k >= burst_factor × e``, where ``e`` is what the product's other reviewers
    would put in such a window at their average pace:
    ``e = (N − k) × window / span`` (``N`` reviewers in all, ``span`` the days
    from the product's first to its last rating, at least one window). So five
    reviewers in two days stand out for a product rated twice a month, not for
    one rated every day. Overlapping flagged windows are merged into one flag.
    """
    by_product: dict[str, list[Rating]] = defaultdict(list)
    for rating in ratings:
        by_product[rating.product].append(rating)
    window = _dt.timedelta(days=settings.burst_window_days)
    flags = []
    for product, rows in sorted(by_product.items()):
        first_seen: dict[str, Rating] = {}
        for rating in sorted(rows, key=lambda r: (r.when, r.line)):
            first_seen.setdefault(rating.reviewer, rating)
        events = sorted(first_seen.values(), key=lambda r: (r.when, r.line))
        total = len(events)
        if total < settings.burst_min_reviewers:
            continue
        span = max(events[-1].when - events[0].when, window)
        spans: list[list[int]] = []  # [first index, last index] into events
        j = 0
        for i, start in enumerate(events):
            while j < len(events) and events[j].when - start.when < window:
                j += 1
            k = j - i
            expected = (total - k) * (window / span)
            if k >= settings.burst_min_reviewers and k >= settings.burst_factor * expected:
                if spans and i <= spans[-1][1]:
                    spans[-1][1] = j - 1
                else:
                    spans.append([i, j - 1])
        for a, b in spans:
            members = events[a:b + 1]
            reviewers = {r.reviewer for r in members}
            lines = sorted(r.line for r in rows if r.reviewer in reviewers)
            start, end = members[0].when.date().isoformat(), members[-1].when.date().isoformat()
            flags.append({
                "kind": "burst",
                "product": product,
                "start": start,
                "end": end,
                "reviewers": len(reviewers),
                "of_reviewers": total,
                "count": len(lines),
                "lines": lines[:_MAX_LINES],
                "message": (f"{len(reviewers)} of {product}'s {total} reviewers first rated it between "
                            f"{start} and {end}"),
            })
    return flags


def suspicious(ratings: list[Rating], settings: Settings = Settings()) -> list[dict[str, Any]]:
    return repeat_reviewers(ratings, settings) + bursts(ratings, settings)


def _flagged_lines(flags: list[dict[str, Any]], ratings: list[Rating]) -> set[int]:
    lines: set[int] = set()
    for flag in flags:
        if flag["kind"] == "repeat_reviewer":
            lines.update(r.line for r in ratings if r.reviewer == flag["reviewer"] and r.facet == flag["facet"]
                         and r.product == flag["product"])
        else:
            lines.update(flag["lines"])
    return lines


# --------------------------------------------------------------------------
# The ``peer_ratings`` section.
# --------------------------------------------------------------------------


def summarise(ratings: list[Rating], product: str, settings: Settings = Settings(), *,
              source_sha256: str | None = None, rejected: int = 0) -> dict[str, Any]:
    """The ``peer_ratings`` scorecard section for one product (all its versions).

    :param ratings: valid ratings (any products; only ``product``'s are used).
    :param rejected: number of rows of the export that could not be imported.
    """
    mine = [r for r in ratings if r.product == product]
    flags = suspicious(mine, settings)
    flagged = _flagged_lines(flags, mine)
    by_facet: dict[str, list[Rating]] = defaultdict(list)
    for rating in mine:
        by_facet[rating.facet].append(rating)
    facets = {}
    for facet, label in FACETS.items():
        rows = by_facet.get(facet, [])
        stats = facet_stats([r.score10 for r in rows], settings)
        stats.update(label=label, families=list(FACET_FAMILIES[facet]),
                     flagged=sum(1 for r in rows if r.line in flagged))
        facets[facet] = stats
    versions = Counter(r.version or "unknown" for r in mine)
    section = {
        "product": product,
        "scale": "0-10",
        "ratings": len(mine),
        "reviewers": len({r.reviewer for r in mine}),
        "versions": dict(sorted(versions.items())),
        "rejected_rows": rejected,
        "method": {
            "normalisation": "linear onto 0..10: 1–5 scale (s−1)×2.5, 0–10 scale unchanged",
            "bayesian": "(prior_weight·prior_mean + sum) / (prior_weight + count)",
            "interval": "95 % Student t interval of the mean, clipped to 0..10",
            **settings.to_dict(),
        },
        "facets": facets,
        "flags": flags,
        "mapping": {facet: list(fams) for facet, fams in FACET_FAMILIES.items()},
        "note": "Opinions of doctors who use the product; shown beside the objective scores, never inside them.",
    }
    if source_sha256:
        section["source_sha256"] = source_sha256
    return section
