"""The portal's comparison site, built from what the portal stored.

Every stored scorecard version is handed to
:func:`harness_plugins.report.site.build_site`; the peer ratings the portal
imported replace, product by product, the ``peer_ratings`` section the
scorecard was audited with (the section sits beside the scores and is not
part of them; the stored, signed scorecard is never changed). A product the
portal has no ratings for keeps the section of its scorecard.
"""

from __future__ import annotations

import html
import shutil
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from .dsse import parse_envelope, read_statement
from .store import Store


def ratings_from_rows(rows: list[dict[str, Any]]) -> list[Any]:
    """Stored rating rows back into :class:`harness_plugins.peers.ratings.Rating` objects."""
    from harness_plugins.peers.ratings import Rating, parse_date

    out = []
    for row in rows:
        try:
            when = parse_date(row["date"])
        except ValueError:
            continue  # stored before a stricter reader: left out rather than guessed
        out.append(Rating(line=row["line"], product=row["product"], version=row["version"], facet=row["facet"],
                          score10=row["score10"], date=row["date"], when=when, reviewer=row["reviewer"]))
    return out


def peer_sections(store: Store) -> dict[str, dict[str, Any]]:
    """product -> ``peer_ratings`` section computed from the portal's current ratings."""
    rows = store.current_ratings()
    if not rows:
        return {}
    from harness_plugins.peers.stats import summarise

    imports = {i["digest"]: i for i in store.ratings_imports()}
    by_product: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_product[row["product"]].append(row)
    sections = {}
    for product, product_rows in by_product.items():
        source = imports.get(product_rows[0]["import"], {})
        section = summarise(ratings_from_rows(product_rows), product, source_sha256=source.get("digest"),
                            rejected=len(source.get("problems", [])))
        section["source"] = f"portal import of {source.get('filename', '?')} ({source.get('imported_at', '?')})"
        sections[product] = section
    return sections


def stored_cards(store: Store) -> list[dict[str, Any]]:
    """Every stored scorecard (already verified on the way in), with the portal's peer sections."""
    peers = peer_sections(store)
    cards = []
    for _row, text in store.envelopes():
        envelope = parse_envelope(text.encode("utf-8"))
        card = read_statement(envelope["_payload"])["predicate"]
        product = (card.get("subject") or {}).get("product")
        if product in peers:
            card.setdefault("sections", {})["peer_ratings"] = peers[product]
        cards.append(card)
    return cards


def fallback_site(cards: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """A bare index, only when the report family cannot be imported."""
    rows = []
    for card in cards:
        subject, overall = card.get("subject", {}), card.get("scores", {}).get("overall", {})
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            subject.get("vendor", ""), subject.get("product", ""), subject.get("version", ""),
            overall.get("score"), overall.get("coverage"))) + "</tr>")
    page = ("<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Scorecards</title></head>"
            "<body><main><h1>Scorecards</h1><table><thead><tr><th>Vendor</th><th>Product</th><th>Version</th>"
            "<th>Score</th><th>Coverage</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></main>"
            "</body></html>\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return [path]


def build(cards: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    try:
        from harness_plugins.report.site import build_site
    except ImportError:
        return fallback_site(cards, out_dir)
    return build_site(cards, out_dir)


class SiteCache:
    """The built site on disk, rebuilt (whole, then swapped in) after the store changed."""

    def __init__(self, store: Store, root: Path | None = None,
                 builder: Callable[[list[dict[str, Any]], Path], list[Path]] = build) -> None:
        self.store, self.builder = store, builder
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="harness-portal-site-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._generation = 0  # bumped on every change
        self._built: int | None = None
        self.current: Path | None = None
        self._builds: list[Path] = []

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1

    def ensure(self) -> Path:
        """The folder of an up-to-date build (building it now if needed)."""
        with self._lock:
            if self.current is not None and self._built == self._generation:
                return self.current
            generation = self._generation
            target = self.root / f"build-{generation}-{threading.get_ident()}"
            shutil.rmtree(target, ignore_errors=True)
            self.builder(stored_cards(self.store), target)
            self.current, self._built = target, generation
            self._builds.append(target)
            while len(self._builds) > 2:  # the one before stays for responses still streaming from it
                shutil.rmtree(self._builds.pop(0), ignore_errors=True)
            return target
