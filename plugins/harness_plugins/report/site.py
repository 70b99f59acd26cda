"""The comparison site: static pages built from many scorecards.

``build_site(cards, out_dir)`` is the public entry point (the portal serves its
pages from it, ``harness site build`` calls it). It writes:

- ``index.html``: every product with its latest objective score, coverage and
  peer average (with its count), a text filter and the choice of 2–4 products
  to compare;
- ``products/<slug>.html``: one page per product with its history across
  versions, regressions highlighted (a family or overall score lower than the
  previous version's, results that passed and now fail), its peer facets and
  the annotations of its latest version;
- ``compare.html``: 2–4 products side by side (chosen on the page or from the
  index; the data is embedded in the page, no request is made);
- ``reports/<slug>/<n>-<version>.html``: the full HTML report of each scorecard;
- ``data.json``: the index as data.

Every page is self-contained (inline CSS/JS under a hash-based
Content-Security-Policy), works from ``file://`` and escapes every scorecard
string. Scorecards are taken as given: callers validate them first
(``harness site build`` loads them with :func:`harness.scorecard.load`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from .render import STATUS_RANK, assets, environment, render_report

#: A score drop larger than this (out of 10) between two versions is a regression.
REGRESSION_EPSILON = 0.05
#: Statuses that count as "now failing" after a pass.
FAILING = ("fail", "warn")
MAX_LISTED_REGRESSIONS = 50


def slugify(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return slug or "x"


def product_slug(vendor: str, product: str) -> str:
    """Stable across builds: readable part plus a short hash of vendor and product."""
    digest = hashlib.sha256(f"{vendor}\0{product}".encode("utf-8")).hexdigest()[:8]
    return f"{slugify(product)}-{digest}"


def version_key(version: str) -> tuple:
    """Natural order: 1.10 after 1.9, numbers before words."""
    parts = re.split(r"(\d+)", version or "")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def _score(obj: Any, key: str = "score") -> float | None:
    if isinstance(obj, dict):
        value = obj.get(key)
        return value if isinstance(value, (int, float)) else None
    return None


def _peer_summary(card: dict[str, Any]) -> dict[str, Any] | None:
    section = (card.get("sections") or {}).get("peer_ratings")
    if not isinstance(section, dict) or not isinstance(section.get("facets"), dict):
        return None
    out = {}
    for key, facet in section["facets"].items():
        if isinstance(facet, dict):
            out[key] = {"label": str(facet.get("label", key)), "count": int(facet.get("count") or 0),
                        "mean": _score(facet, "mean"), "bayesian": _score(facet, "bayesian"),
                        "ci95": facet.get("ci95"),
                        "enough": bool(facet.get("enough", facet.get("mean") is not None))}
    return out


def _item_statuses(card: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r.get("check_id", ""), r.get("item_id", "")): r.get("status", "") for r in card.get("results", [])}


def _version_view(card: dict[str, Any]) -> dict[str, Any]:
    scores = card.get("scores") or {}
    families = {name: {"score": _score(f), "coverage": _score(f, "coverage"), "scored": f.get("scored", True),
                       "status": f.get("status")}
                for name, f in (scores.get("families") or {}).items() if isinstance(f, dict)}
    overall = scores.get("overall") or {}
    subject = card.get("subject") or {}
    return {
        "version": subject.get("version") or "",
        "date": (card.get("run") or {}).get("finished_at", ""),
        "overall": {"score": _score(overall), "coverage": _score(overall, "coverage"),
                    "status": overall.get("status")},
        "families": families,
        "peers": _peer_summary(card),
        "annotations": [a for a in card.get("annotations") or [] if isinstance(a, dict)],
        "counts": _status_counts(card),
    }


def _status_counts(card: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for r in card.get("results", []):
        counts[r.get("status", "")] += 1
    return dict(sorted(counts.items(), key=lambda kv: STATUS_RANK.get(kv[0], 99)))


def _compare(prev: dict[str, Any], cur: dict[str, Any], prev_items, cur_items) -> dict[str, Any]:
    """Score deltas and regressions of ``cur`` against the version before it."""
    deltas: dict[str, float | None] = {}
    regressed: list[str] = []
    pairs = [("overall", prev["overall"], cur["overall"])]
    pairs += [(name, prev["families"].get(name), fam) for name, fam in cur["families"].items()]
    for name, before, after in pairs:
        b, a = _score(before), _score(after)
        if b is None or a is None:
            deltas[name] = None
            continue
        deltas[name] = round(a - b, 3)
        if a < b - REGRESSION_EPSILON:
            regressed.append(name)
    broken = sorted(key for key, status in cur_items.items()
                    if status in FAILING and prev_items.get(key) == "pass")
    return {"deltas": deltas, "regressed_scores": regressed,
            "regressed_results": [{"check_id": c, "item_id": i} for c, i in broken[:MAX_LISTED_REGRESSIONS]],
            "regressed_result_count": len(broken)}


def _report_name(index: int, version: str) -> str:
    return f"{index + 1}-{slugify(version or 'unversioned', 30)}.html"


def collect_products(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards grouped per product, versions in order, each compared with the one before."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for card in cards:
        subject = card.get("subject") or {}
        grouped[(str(subject.get("vendor", "")), str(subject.get("product", "")))].append(card)
    products = []
    for (vendor, product), group in grouped.items():
        group.sort(key=lambda c: (version_key((c.get("subject") or {}).get("version") or ""),
                                  (c.get("run") or {}).get("finished_at", "")))
        slug = product_slug(vendor, product)
        versions = []
        prev_view = prev_items = None
        for i, card in enumerate(group):
            view = _version_view(card)
            items = _item_statuses(card)
            view["report"] = f"reports/{slug}/{_report_name(i, view['version'])}"
            if prev_view is not None:
                view["change"] = _compare(prev_view, view, prev_items, items)
                view["regression"] = bool(view["change"]["regressed_scores"]
                                          or view["change"]["regressed_result_count"])
            else:
                view["change"] = None
                view["regression"] = False
            versions.append(view)
            prev_view, prev_items = view, items
        latest = versions[-1]
        products.append({"slug": slug, "vendor": vendor, "product": product, "versions": versions,
                         "latest": latest, "cards": group})
    products.sort(key=lambda p: (version_key(p["product"].lower()), version_key(p["vendor"].lower()), p["slug"]))
    return products


def _facet_list(products: list[dict[str, Any]]) -> list[dict[str, str]]:
    from harness_plugins.peers.ratings import FACETS

    seen: dict[str, str] = dict(FACETS)
    for p in products:
        for key, facet in (p["latest"]["peers"] or {}).items():
            seen.setdefault(key, facet["label"])
    used = {k for p in products for k in (p["latest"]["peers"] or {})}
    return [{"key": k, "label": v} for k, v in seen.items() if k in used]


def site_data(products: list[dict[str, Any]]) -> dict[str, Any]:
    """What the comparison page and ``data.json`` hold: the latest version of each product."""
    families = sorted({f for p in products for f, fam in p["latest"]["families"].items() if fam["scored"]})
    return {
        "families": families,
        "facets": _facet_list(products),
        "products": [{
            "slug": p["slug"], "vendor": p["vendor"], "product": p["product"],
            "version": p["latest"]["version"], "date": p["latest"]["date"],
            "url": f"products/{p['slug']}.html",
            "overall": p["latest"]["overall"],
            "families": {k: {"score": v["score"], "coverage": v["coverage"]}
                         for k, v in p["latest"]["families"].items() if v["scored"]},
            "peers": p["latest"]["peers"],
            "regressions": (p["latest"]["change"] or {}).get("regressed_result_count", 0)
            + len((p["latest"]["change"] or {}).get("regressed_scores", [])),
            "versions": len(p["versions"]),
        } for p in products],
    }


def _write(path: Path, text: str, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(path)


def build_site(cards: list[dict], out_dir: Path, *, reports: bool = True,
               title: str = "LGC conformity: objective scores beside peer ratings") -> list[Path]:
    """Build the static comparison site from scorecards; returns the files written.

    :param cards: scorecard dicts (validated by the caller), any products and
        versions, in any order; two cards of the same vendor, product and
        version are both kept (ordered by audit date).
    :param out_dir: created if needed; existing files of the same names are replaced.
    :param reports: also write each scorecard's full HTML report (linked from the product pages).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    common = {"assets": assets(), "site_title": title}
    products = collect_products(list(cards))
    data = site_data(products)
    written: list[Path] = []

    index = env.get_template("site_index.html.j2")
    _write(out_dir / "index.html", index.render(**common, root="", products=products, data=data,
                                                 cards=len(cards)), written)
    compare = env.get_template("site_compare.html.j2")
    _write(out_dir / "compare.html", compare.render(**common, root="", data=data), written)
    page = env.get_template("site_product.html.j2")
    families_all = data["families"]
    for product in products:
        families = sorted({f for v in product["versions"] for f, fam in v["families"].items() if fam["scored"]})
        _write(out_dir / "products" / f"{product['slug']}.html",
               page.render(**common, root="../", p=product, families=families or families_all), written)
        if reports:
            for version, card in zip(product["versions"], product["cards"]):
                nav = {"index": "../../index.html", "product": f"../../products/{product['slug']}.html"}
                _write(out_dir / version["report"], render_report(card, site_nav=nav), written)
    _write(out_dir / "data.json", json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n", written)
    return written
