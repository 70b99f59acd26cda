"""Benchmark: HTML report rendering and comparison-site building.

    python bench/report_render.py                 # 10,000 findings; 200 products × 5 versions
    python bench/report_render.py --quick         # 2,000 findings; 20 products × 5 versions

Prints wall-clock times and, as a named peer, the ratio against ``json.dumps``
of the same scorecard with the harness's canonical options (sorted keys,
indent 2) — the cost of writing ``scorecard.json`` itself, the floor any
rendering of the same data is compared with. Results also go to
``bench/results/report_render.json`` (git-ignored).

Scorecards are synthetic (``harness_plugins.report.samples``): deterministic,
schema-valid, with evidence of every kind, annotations and peer ratings.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from harness import scorecard
from harness_plugins.report.render import build_view, render_report
from harness_plugins.report.samples import synthetic_scorecard
from harness_plugins.report.site import build_site


def timed(func, repeat: int = 3) -> tuple[float, object]:
    """Best of ``repeat`` runs (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def bench_report(findings: int, repeat: int) -> dict:
    card = synthetic_scorecard("Bench Santé", "Cabinet", "1.0", findings=findings, annotations=50)
    scorecard.validate(card)
    n_findings = sum(len(r["findings"]) for r in card["results"])
    t_dumps, _ = timed(lambda: scorecard.dumps(card), repeat)
    t_json, _ = timed(lambda: json.dumps(card), repeat)
    t_view, _ = timed(lambda: build_view(card, scorecard_sha256="0" * 64), repeat)
    t_render, html = timed(lambda: render_report(card, scorecard_sha256="0" * 64), repeat)
    out = {
        "findings": n_findings,
        "html_mb": round(len(html.encode("utf-8")) / 1e6, 2),
        "render_s": round(t_render, 3),
        "view_s": round(t_view, 3),
        "template_s": round(t_render - t_view, 3),
        "peer_canonical_json_dumps_s": round(t_dumps, 3),
        "peer_compact_json_dumps_s": round(t_json, 3),
        "ratio_vs_canonical_json": round(t_render / t_dumps, 2),
        "ratio_vs_compact_json": round(t_render / t_json, 2),
        "findings_per_s": round(n_findings / t_render),
    }
    print(f"report: {n_findings} findings -> {out['html_mb']} MB of HTML in {t_render:.2f} s "
          f"(view {t_view:.2f} s + template {t_render - t_view:.2f} s; {out['findings_per_s']} findings/s)")
    print(f"  peer json.dumps(sort_keys, indent=2) of the same scorecard: {t_dumps:.3f} s "
          f"-> render is {out['ratio_vs_canonical_json']}x")
    print(f"  peer json.dumps() compact (C encoder): {t_json:.3f} s -> render is {out['ratio_vs_compact_json']}x")
    return out


def bench_site(products: int, versions: int, findings: int, reports: bool) -> dict:
    started = time.perf_counter()
    cards = [synthetic_scorecard(f"Éditeur {p:03d}", f"Logiciel {p:03d}", f"{1 + v // 3}.{v % 3}",
                                 findings=findings, seed=v, annotations=2)
             for p in range(products) for v in range(versions)]
    t_make = time.perf_counter() - started
    t_dumps, _ = timed(lambda: [scorecard.dumps(c) for c in cards], 1)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        written = build_site(cards, Path(tmp) / "site", reports=reports)
        t_site = time.perf_counter() - started
        size = sum(p.stat().st_size for p in written)
        started = time.perf_counter()
        build_site(cards, Path(tmp) / "site-index-only", reports=False)
        t_pages = time.perf_counter() - started
    out = {
        "products": products, "versions": versions, "scorecards": len(cards), "findings_per_scorecard": findings,
        "files": len(written), "site_mb": round(size / 1e6, 1), "build_s": round(t_site, 2),
        "index_product_compare_pages_s": round(t_pages, 2), "per_scorecard_ms": round(1000 * t_site / len(cards), 1),
        "peer_canonical_json_dumps_s": round(t_dumps, 2), "ratio_vs_canonical_json": round(t_site / t_dumps, 2),
        "synthetic_scorecards_s": round(t_make, 2),
    }
    print(f"site: {products} products × {versions} versions ({len(cards)} scorecards, {findings} findings each) -> "
          f"{len(written)} files, {out['site_mb']} MB in {t_site:.2f} s ({out['per_scorecard_ms']} ms per scorecard)")
    print(f"  without per-version reports (index, {products} product pages, comparison): {t_pages:.2f} s")
    print(f"  peer json.dumps(sort_keys, indent=2) of the {len(cards)} scorecards: {t_dumps:.2f} s "
          f"-> site build is {out['ratio_vs_canonical_json']}x")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000, help="findings in the report benchmark")
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--site-findings", type=int, default=100, help="findings per scorecard of the site")
    parser.add_argument("--no-reports", action="store_true", help="site without each version's full report")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 findings, 20 products")
    args = parser.parse_args(argv)
    if args.quick:
        args.findings, args.products, args.repeat = 2_000, 20, 1
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    results = {"report": bench_report(args.findings, args.repeat),
               "site": bench_site(args.products, args.versions, args.site_findings, not args.no_reports)}
    out = Path(__file__).parent / "results" / "report_render.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
