"""Per-facet aggregates (mean, Bayesian average, interval, minimum count) and suspicious patterns."""

from __future__ import annotations

import datetime as dt

import pytest

from harness_plugins.peers.ratings import FACETS, Rating
from harness_plugins.peers.stats import (
    FACET_FAMILIES,
    Settings,
    bursts,
    facet_stats,
    facets_for_family,
    repeat_reviewers,
    summarise,
    t975,
)


def rating(line, reviewer, day, score10=5.0, facet="global", product="Cab"):
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=day)
    return Rating(line=line, product=product, version="1.0", facet=facet, score10=score10,
                  date=when.date().isoformat(), when=when, reviewer=reviewer)


def test_mean_bayesian_average_and_interval():
    stats = facet_stats([0.0, 2.5, 5.0, 7.5, 10.0])
    assert stats["count"] == 5 and stats["enough"] is True
    assert stats["mean"] == 5.0
    assert stats["bayesian"] == 5.0  # (5 × 5.0 + 25) / (5 + 5)
    # 5 ± t(0.975, 4) × s / √5 with s = √15.625
    assert stats["ci95"] == [0.093, 9.907]


def test_bayesian_average_pulls_a_small_sample_towards_the_prior():
    small = facet_stats([10.0] * 5)
    large = facet_stats([10.0] * 95)
    assert small["mean"] == large["mean"] == 10.0
    assert small["bayesian"] == 7.5  # (5 × 5 + 50) / 10
    assert large["bayesian"] == 9.75  # (25 + 950) / 100
    assert small["ci95"] == [10.0, 10.0]
    custom = facet_stats([10.0] * 5, Settings(prior_mean=8.0, prior_weight=10))
    assert custom["bayesian"] == pytest.approx((10 * 8 + 50) / 15, abs=1e-3)


def test_not_enough_ratings_hides_the_figures_but_keeps_the_count():
    stats = facet_stats([8.0, 9.0, 10.0, 7.0])
    assert stats == {"count": 4, "enough": False, "mean": None, "bayesian": None, "ci95": None}
    assert facet_stats([8.0], Settings(min_count=1))["ci95"] is None  # one rating: no interval


def test_interval_is_clipped_to_the_scale():
    stats = facet_stats([10.0, 10.0, 10.0, 10.0, 0.0])
    assert stats["ci95"][0] >= 0.0 and stats["ci95"][1] == 10.0


@pytest.mark.parametrize(("df", "value"), [(1, 12.706), (4, 2.776), (30, 2.042), (60, 2.000), (120, 1.980),
                                           (10_000, 1.960)])
def test_student_quantiles(df, value):
    assert t975(df) == pytest.approx(value, abs=2e-3)


def test_repeat_reviewer_is_flagged_beyond_repeat_max():
    rows = [rating(i + 1, "rev-x", i * 30) for i in range(3)] + [rating(10, "rev-y", 1), rating(11, "rev-y", 90)]
    flags = repeat_reviewers(rows)
    assert [(f["reviewer"], f["count"], f["lines"]) for f in flags] == [("rev-x", 3, [1, 2, 3])]
    assert repeat_reviewers(rows, Settings(repeat_max=3)) == []
    # the same reviewer on different facets is not a repeat
    assert repeat_reviewers([rating(i, "rev-z", 0, facet=f) for i, f in enumerate(FACETS)]) == []


def test_burst_of_new_reviewers_is_flagged():
    steady = [rating(i, f"r{i}", day=i * 15) for i in range(1, 21)]  # one reviewer a fortnight
    burst = [rating(100 + i, f"b{i}", day=200 + (i % 2)) for i in range(6)]  # six in two days
    flags = bursts(steady + burst)
    assert len(flags) == 1
    flag = flags[0]
    assert flag["kind"] == "burst" and flag["reviewers"] == 6 and flag["of_reviewers"] == 26
    assert flag["start"] == "2026-07-20" and flag["end"] == "2026-07-21"
    assert flag["lines"] == list(range(100, 106))
    assert bursts(steady) == []


def test_steady_popular_product_is_not_a_burst():
    # 600 reviewers over 300 days, two a day: five in two days is the usual pace
    rows = [rating(i, f"r{i}", day=i // 2) for i in range(600)]
    assert bursts(rows) == []


def test_all_ratings_on_one_day_is_a_burst():
    flags = bursts([rating(i, f"r{i}", day=0) for i in range(5)])
    assert [f["reviewers"] for f in flags] == [5]
    assert bursts([rating(i, f"r{i}", day=0) for i in range(4)]) == []  # below burst_min_reviewers


def test_summarise_keeps_flagged_ratings_and_counts_them():
    rows = [rating(i, f"r{i}", day=i * 20, score10=7.5) for i in range(10)]
    rows += [rating(50 + i, "troll", day=i * 40, score10=0.0) for i in range(4)]
    section = summarise(rows + [rating(99, "x", 0, product="Other")], "Cab")
    glob = section["facets"]["global"]
    assert glob["count"] == 14 and glob["flagged"] == 4  # flagged, not removed
    assert glob["mean"] == round((10 * 7.5) / 14, 3)
    assert section["ratings"] == 14 and section["reviewers"] == 11
    assert section["facets"]["support"] == {"count": 0, "enough": False, "mean": None, "bayesian": None,
                                            "ci95": None, "label": "Support", "families": [], "flagged": 0}
    assert [f["kind"] for f in section["flags"]] == ["repeat_reviewer"]
    assert section["method"]["prior_mean"] == 5.0 and section["method"]["min_count"] == 5
    assert section["mapping"]["fiabilite"] == ["dmp", "interop"]


def test_documented_mapping_of_facets_to_objective_families():
    assert FACET_FAMILIES["fiabilite"] == ("dmp", "interop")
    assert FACET_FAMILIES["interoperabilite"] == ("interop",)
    assert FACET_FAMILIES["conditions_portabilite"] == ("contracts", "portability")
    assert set(FACET_FAMILIES) == set(FACETS)
    assert facets_for_family("interop") == ["fiabilite", "interoperabilite"]
    assert facets_for_family("overall") == ["global"]
