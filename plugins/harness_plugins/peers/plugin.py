"""peers plugin: the ``peers`` target kind, three checks on the ratings export and the ``peer_ratings`` section.

The checks say whether the peer figures can be trusted as data (readable rows,
enough ratings per facet, no suspicious pattern); the family is listed as
``unscored`` in the scoring policy, so none of this enters an objective score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import Evidence, Requirement, TargetError, TargetKind, check, failed, hookimpl, passed, review, \
    sha256_file, warned

from .ratings import FACETS, RatingsFile, read_ratings
from .stats import Settings, summarise, suspicious

__version__ = "0.2.0"

#: Bad rows reported one by one; beyond this a single finding counts the rest.
MAX_ROW_FINDINGS = 100

SCHEMA = {
    "type": "object",
    "required": ["ratings"],
    "additionalProperties": False,
    "properties": {
        "ratings": {"type": "string", "description": "the portal's export: .csv, .json or .jsonl"},
        "product": {"type": "string", "description": "product name in the export (default: [subject] product)"},
        "known_products": {"type": "array", "items": {"type": "string"},
                           "description": "products the export may name (default: just `product`)"},
        "scale": {"enum": ["5", "10"], "description": "scale of rows without a `scale` column (default 5)"},
        "min_count": {"type": "integer", "minimum": 1},
        "prior_mean": {"type": "number", "minimum": 0, "maximum": 10},
        "prior_weight": {"type": "number", "minimum": 0},
        "repeat_max": {"type": "integer", "minimum": 1},
        "burst_window_days": {"type": "number", "exclusiveMinimum": 0},
        "burst_min_reviewers": {"type": "integer", "minimum": 2},
        "burst_factor": {"type": "number", "minimum": 0},
    },
}


class PeersTarget:
    """The ratings export, read once; checks and the section share it."""

    kind = "peers"

    def __init__(self, config: dict[str, Any], subject: dict[str, str]) -> None:
        self.path = Path(config["ratings"])
        self.product = config.get("product", subject["product"])
        self.known_products = sorted(set(config.get("known_products") or []) | {self.product})
        self.settings = Settings.from_config(config)
        try:
            self.data: RatingsFile = read_ratings(self.path, default_scale=config.get("scale", "5"),
                                                  known_products=self.known_products)
            self.sha256 = sha256_file(self.path)
        except OSError as exc:
            raise TargetError(f"cannot read the ratings export {self.path}: {exc}") from None

    @property
    def mine(self):
        return [r for r in self.data.ratings if r.product == self.product]

    def evidence(self, line: int | None = None, **kw: Any) -> Evidence:
        return Evidence.file(self.path, sha256=self.sha256, line=line, **kw)

    def section(self) -> dict[str, Any]:
        section = summarise(self.data.ratings, self.product, self.settings, source_sha256=self.sha256,
                            rejected=self.data.rejected)
        section["source"] = self.path.name
        return section


@check(
    "peers.ratings.valid",
    title="The peer ratings export is readable and every row is valid",
    severity="low",
    requirements=["PEERS:ratings-format"],
    target="peers",
)
def ratings_valid(target: PeersTarget, _item):
    """Rows with wrong columns, an unknown product or facet, an out-of-range score,
    a bad date or no reviewer are reported with their line and left out; lines that
    are not UTF-8 are read as Windows-1252 and noted. The valid rows are still
    imported. A file without a usable header, or without a single valid row, fails."""
    data = target.data
    if data.header_error:
        yield failed(f"ratings export unusable: {data.header_error}", message_id="peers.ratings.header",
                     evidence=[target.evidence(1)])
        return
    for problem in data.problems[:MAX_ROW_FINDINGS]:
        yield warned(str(problem), message_id=f"peers.ratings.{problem.code}",
                     details={"rejected": problem.rejected},
                     evidence=[target.evidence(problem.line or None)])
    hidden = len(data.problems) - MAX_ROW_FINDINGS + data.more_problems
    if hidden > 0:
        yield warned(f"{hidden} more problem rows not listed", message_id="peers.ratings.more_problems",
                     evidence=[target.evidence()])
    if not target.mine:
        yield failed(f"no valid rating of {target.product!r} in the export ({data.rows} rows read)",
                     message_id="peers.ratings.empty", evidence=[target.evidence()])
    else:
        yield passed(f"{len(target.mine)} valid ratings of {target.product} imported "
                     f"({data.rows} rows read, {data.rejected} rejected)",
                     message_id="peers.ratings.ok", evidence=[target.evidence()])


def _facets(_target: PeersTarget):
    return [(facet, facet) for facet in FACETS]


@check(
    "peers.ratings.enough",
    title="Each peer facet has enough ratings to be shown",
    severity="info",
    requirements=["PEERS:sample-size"],
    target="peers",
    items=_facets,
)
def ratings_enough(target: PeersTarget, item):
    """Below ``min_count`` ratings (default 5) a facet's mean, Bayesian average and
    interval are not shown: the report says "not enough ratings" instead."""
    facet, label = item, FACETS[item]
    count = sum(1 for r in target.mine if r.facet == facet)
    minimum = target.settings.min_count
    values = {"facet": facet, "count": count, "min_count": minimum}
    if count < minimum:
        yield warned(f"not enough ratings for {label}: {count} < {minimum}", message_id="peers.ratings.too_few",
                     evidence=[Evidence(kind="data", artefact=target.path.name, sha256=target.sha256,
                                        values=values)])
    else:
        yield passed(f"{count} ratings for {label}", message_id="peers.ratings.enough",
                     evidence=[Evidence(kind="data", artefact=target.path.name, sha256=target.sha256,
                                        values=values)])


@check(
    "peers.ratings.suspicious",
    title="No suspicious pattern in the peer ratings (repeated reviewer, burst)",
    severity="low",
    requirements=["PEERS:integrity"],
    target="peers",
)
def ratings_suspicious(target: PeersTarget, _item):
    """Flags, for a person to review, a reviewer who rated the same facet of the
    product more than ``repeat_max`` times (default 2) and bursts: at least
    ``burst_min_reviewers`` (5) distinct reviewers within ``burst_window_days`` (2),
    at least ``burst_factor`` (5) times what the product's usual pace would put there.
    Nothing is deleted: flagged ratings stay in the aggregates."""
    flags = suspicious(target.mine, target.settings)
    for flag in flags:
        lines = flag["lines"]
        yield review(flag["message"], message_id=f"peers.ratings.{flag['kind']}",
                     details={k: v for k, v in flag.items() if k not in ("message",)},
                     evidence=[target.evidence(lines[0] if lines else None,
                                               excerpt=f"lines {', '.join(map(str, lines[:20]))}"
                                                       + (" …" if len(lines) > 20 else ""))])
    if not flags:
        yield passed(f"no repeated reviewer or burst among {len(target.mine)} ratings",
                     message_id="peers.ratings.clean", evidence=[target.evidence()])


@hookimpl
def harness_register_target_kinds():
    return [TargetKind("peers", SCHEMA, lambda config, profile: PeersTarget(config, profile.subject),
                       description="The portal's peer ratings export (CSV, JSON or JSON Lines)",
                       path_keys=("ratings",))]


@hookimpl
def harness_register_checks():
    return [ratings_valid, ratings_enough, ratings_suspicious]


@hookimpl
def harness_register_requirements():
    return [
        Requirement("PEERS:ratings-format", "Ratings export: one row per rating (product, version, facet, score, "
                    "scale, date, pseudonymous reviewer)", "lgc-harness docs/peers.md", "docs/peers.md"),
        Requirement("PEERS:sample-size", "A facet's figures are shown only from a minimum number of ratings",
                    "lgc-harness docs/peers.md", "docs/peers.md"),
        Requirement("PEERS:integrity", "Suspicious rating patterns are flagged for review, never deleted",
                    "lgc-harness docs/peers.md", "docs/peers.md"),
    ]


@hookimpl
def harness_scorecard_sections(session):
    target = session.targets.get("peers")
    if not isinstance(target, PeersTarget):
        return None
    return {"peer_ratings": target.section()}
