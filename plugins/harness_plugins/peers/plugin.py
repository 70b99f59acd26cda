"""peers plugin: the ``peers`` target kind, a ratings-file check and the ``peer_ratings`` section."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness import Evidence, Requirement, TargetKind, check, failed, hookimpl, passed, sha256_file, warned

from .ratings import FACETS, RatingsFile, read_ratings

__version__ = "0.1.0"

SCHEMA = {
    "type": "object",
    "required": ["ratings"],
    "additionalProperties": False,
    "properties": {"ratings": {"type": "string"}, "product": {"type": "string"}},
}


class PeersTarget:
    kind = "peers"

    def __init__(self, config: dict[str, Any], subject: dict[str, str]) -> None:
        self.path = Path(config["ratings"])
        self.product = config.get("product", subject["product"])
        self.data: RatingsFile = read_ratings(self.path)
        self.sha256 = sha256_file(self.path)


@check(
    "peers.ratings.valid",
    title="The peer ratings export is readable and every row is valid",
    severity="low",
    requirements=["PEERS:ratings-format"],
    target="peers",
)
def ratings_valid(target: PeersTarget, _item):
    """Rows with an unknown facet, an out-of-range score or a missing product are
    reported with their line; the valid rows are still imported."""
    evidence = Evidence.file(target.path, sha256=target.sha256)
    data = target.data
    if data.header_error:
        yield failed(f"ratings file unusable: {data.header_error}", message_id="peers.ratings.header",
                     evidence=[evidence])
        return
    for line, problem in data.problems:
        yield warned(f"line {line}: {problem}", message_id="peers.ratings.bad_row",
                     evidence=[Evidence.file(target.path, sha256=target.sha256, line=line)])
    if not data.ratings:
        yield failed("no valid rating in the file", message_id="peers.ratings.empty", evidence=[evidence])
    else:
        yield passed(f"{len(data.ratings)} valid ratings imported", message_id="peers.ratings.ok", evidence=[evidence])


def aggregate(target: PeersTarget) -> dict[str, Any]:
    """Per-facet count and mean (0..10) of the subject product's ratings."""
    by_facet: dict[str, list[float]] = defaultdict(list)
    for rating in target.data.ratings:
        if rating.product == target.product:
            by_facet[rating.facet].append(rating.score10)
    facets = {}
    for facet, label in FACETS.items():
        scores = by_facet.get(facet, [])
        facets[facet] = {"label": label, "count": len(scores),
                         "mean": round(statistics.fmean(scores), 3) if scores else None}
    return {"product": target.product, "source_sha256": target.sha256, "scale": "0-10", "facets": facets}


@hookimpl
def harness_register_target_kinds():
    return [TargetKind("peers", SCHEMA, lambda config, profile: PeersTarget(config, profile.subject),
                       description="The portal's peer ratings export (CSV or JSON)", path_keys=("ratings",))]


@hookimpl
def harness_register_checks():
    return [ratings_valid]


@hookimpl
def harness_register_requirements():
    return [Requirement("PEERS:ratings-format", "Ratings export: one row per rating (product, facet, score, date, "
                        "reviewer)", "lgc-harness", None)]


@hookimpl
def harness_scorecard_sections(session):
    target = session.targets.get("peers")
    if target is None:
        return None
    return {"peer_ratings": aggregate(target)}
