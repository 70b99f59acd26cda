"""The comparison site: index, product history with regressions, comparison data, escaping and the CLI."""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html

from harness import scorecard
from harness.cli import cli
from harness.scoring import load_policy, score
from harness_plugins.report.samples import synthetic_scorecard
from harness_plugins.report.site import build_site, collect_products, product_slug, version_key


def parse(path: Path):
    return lxml_html.document_fromstring(path.read_text(encoding="utf-8"))


def rescore(card: dict) -> dict:
    card["scores"] = score(card["checks"], card["results"], load_policy())
    scorecard.validate(card)
    return card


def with_version(card: dict, version: str, date: str, fail: set[tuple[str, str]] = frozenset()) -> dict:
    """A copy of ``card`` at another version where exactly the results in ``fail`` fail."""
    card = copy.deepcopy(card)
    card["subject"]["version"] = version
    card["run"]["started_at"] = card["run"]["finished_at"] = date
    for result in card["results"]:
        status = "fail" if (result["check_id"], result["item_id"]) in fail else "pass"
        result["status"] = status
        result.pop("error", None)
        for finding in result["findings"]:
            finding["status"] = status
    return rescore(card)


@pytest.fixture(scope="module")
def history_cards():
    base = synthetic_scorecard("Acme Santé", "Cabinet+", "1.0", findings=40, seed=1)
    broken = (base["results"][0]["check_id"], base["results"][0]["item_id"])
    return [
        with_version(base, "1.10", "2026-05-01T00:00:00+00:00", {broken}),  # regression, given out of order
        with_version(base, "1.9", "2026-04-01T00:00:00+00:00"),
        with_version(base, "1.2", "2026-03-01T00:00:00+00:00", {broken}),
    ], broken


def test_public_signature_for_the_portal():
    params = list(inspect.signature(build_site).parameters.values())
    assert [p.name for p in params[:2]] == ["cards", "out_dir"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[2:])


def test_site_pages_for_every_product_and_version(tmp_path, poor_card, good_card):
    cards = [poor_card, good_card] + [synthetic_scorecard(f"V{i}", f"P{i}", f"1.{v}", findings=30, seed=v)
                                      for i in range(3) for v in range(2)]
    written = build_site(cards, tmp_path)
    assert all(isinstance(p, Path) and p.exists() for p in written)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"index.html", "compare.html", "data.json"} <= names
    assert sum(n.startswith("products/") for n in names) == 5
    assert sum(n.startswith("reports/") for n in names) == 8
    index = parse(tmp_path / "index.html")
    rows = index.xpath('//table[@id="products"]/tbody/tr')
    assert [r.xpath("string(th)") for r in rows] == ["DemoCabinet", "P0", "P1", "P2", "VieuxCabinet"]
    poor = next(r for r in rows if r.xpath("string(th)") == "VieuxCabinet").text_content()
    overall = poor_card["scores"]["overall"]
    assert f"{overall['score']:.1f}/10" in poor and f"{overall['coverage'] * 100:.0f} %" in poor
    assert "4.0/10 (52 ratings" in poor  # peer average with its count
    link = rows[0].xpath(".//th/a/@href")[0]
    product = parse(tmp_path / link)
    report_link = product.xpath('//table[@id="history"]//a/@href')[0]
    report = parse((tmp_path / link).parent / report_link)
    assert "DemoCabinet" in report.xpath("string(//h1)")
    assert report.xpath("//nav[@aria-label='Site']//a/@href")[0] == "../../index.html"


def test_history_orders_versions_and_highlights_regressions(tmp_path, history_cards):
    cards, broken = history_cards
    build_site(cards, tmp_path)
    slug = product_slug("Acme Santé", "Cabinet+")
    page = parse(tmp_path / "products" / f"{slug}.html")
    rows = page.xpath('//table[@id="history"]/tbody/tr')
    assert [r.xpath("string(th)").split()[0] for r in rows] == ["1.10", "1.9", "1.2"]  # newest first
    assert [r.get("class") for r in rows] == ["regressed", None, None]
    assert "▼" in rows[0].text_content() and "regression" in rows[0].text_content()
    regressions = page.xpath('//ul[@id="regressions"]/li')
    assert len(regressions) == 1
    assert "1 result(s) that passed before now fail" in regressions[0].text_content()
    assert broken[0] in regressions[0].text_content()
    index = parse(tmp_path / "index.html")
    assert index.xpath('//table[@id="products"]/tbody/tr/@class') == ["regressed"]
    assert "1 result(s) newly failing" in index.xpath('string(//table[@id="products"]/tbody/tr)')


def test_version_order_is_natural():
    assert sorted(["1.10", "1.9", "1.2", "2.0-beta", "2.0"], key=version_key) == ["1.2", "1.9", "1.10", "2.0",
                                                                                 "2.0-beta"]


def test_comparison_data_holds_scores_and_peer_facets(tmp_path, poor_card):
    cards = [poor_card, synthetic_scorecard("Other", "Autre", "3.0", findings=30)]
    build_site(cards, tmp_path)
    page = parse(tmp_path / "compare.html")
    data = json.loads(page.xpath('//script[@id="site-data"]')[0].text)
    assert data == json.loads((tmp_path / "data.json").read_text(encoding="utf-8"))
    assert len(page.xpath("//form[@id='compare-form']//select")) == 4
    poor = next(p for p in data["products"] if p["product"] == "VieuxCabinet")
    assert poor["overall"]["score"] == poor_card["scores"]["overall"]["score"]
    assert poor["peers"]["global"]["count"] == 52
    assert poor["peers"]["gain_de_temps"]["enough"] is False
    assert "peers" not in data["families"]  # unscored: shown as peer facets, not as a family score
    assert poor["url"] == f"products/{poor['slug']}.html"


def test_annotations_of_the_latest_version_are_shown(tmp_path, poor_card, annotate):
    card = annotate(poor_card, {"check_id": poor_card["results"][0]["check_id"], "kind": "vendor_dispute",
                                "text": "Corrigé en 1.0.4", "author": "Mauvais Logiciel", "date": "2026-11-22"})
    build_site([card], tmp_path)
    page = parse(next((tmp_path / "products").glob("*.html")))
    assert "Corrigé en 1.0.4" in page.xpath("string(//aside[contains(@class,'annotation')])")


def test_html_injection_in_product_and_vendor_names(tmp_path, payload):
    card = synthetic_scorecard(payload, "Cab" + payload, "1.0" + payload, findings=20, annotations=2)
    card["annotations"][0]["text"] = payload
    card["sections"]["peer_ratings"]["facets"]["global"]["label"] = payload
    build_site([card, synthetic_scorecard("B", "B", "1", findings=10)], tmp_path)
    for page in sorted(tmp_path.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        doc = lxml_html.document_fromstring(text)
        assert not doc.xpath("//img | //*[@onerror] | //*[@onmouseover]"), page
        scripts = doc.xpath("//script")
        assert [s.get("type") for s in scripts] in ([None], ["application/json", None]), page
        assert "<script>alert" not in text, page
    index = parse(tmp_path / "index.html")
    assert payload in index.xpath("string(//table[@id='products']/tbody)")
    compare = parse(tmp_path / "compare.html")
    data = json.loads(compare.xpath('//script[@id="site-data"]')[0].text)
    assert {p["vendor"] for p in data["products"]} == {payload, "B"}


def test_same_version_audited_twice_is_kept_in_date_order(tmp_path):
    a = synthetic_scorecard("V", "P", "1.0", findings=10, date="2026-01-01T00:00:00+00:00")
    b = synthetic_scorecard("V", "P", "1.0", findings=10, seed=3, date="2026-02-01T00:00:00+00:00")
    products = collect_products([b, a])
    assert [v["date"][:10] for v in products[0]["versions"]] == ["2026-01-01", "2026-02-01"]
    written = build_site([a, b], tmp_path, reports=True)
    assert len([p for p in written if "reports" in p.parts]) == 2


def test_site_without_reports(tmp_path):
    written = build_site([synthetic_scorecard("V", "P", "1", findings=5)], tmp_path, reports=False)
    assert not any("reports" in p.parts for p in written)


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------


def test_site_build_command(tmp_path, poor_card):
    src = tmp_path / "cards"
    scorecard.write(poor_card, src / "vieux" / "scorecard.json")
    scorecard.write(synthetic_scorecard("V", "P", "1", findings=5), src / "p-1.json")
    result = CliRunner().invoke(cli, ["site", "build", str(src), "-o", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    assert "2 products, 2 scorecards" in result.output
    assert (tmp_path / "site" / "index.html").exists()


def test_site_build_lists_what_it_could_not_use(tmp_path, poor_card):
    src = tmp_path / "cards"
    scorecard.write(poor_card, src / "ok.json")
    (src / "future.json").write_text(json.dumps(dict(poor_card, schema_version="9.0")), encoding="utf-8")
    (src / "broken.json").write_text("{", encoding="utf-8")
    (src / "envelope.json").write_text(json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": "e30=",
                                                   "signatures": []}), encoding="utf-8")
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["site", "build", str(src), "-o", str(out)])
    assert result.exit_code == 2
    assert f"skipped {src / 'future.json'}: scorecard schema version '9.0' is not supported" in result.output
    assert f"skipped {src / 'broken.json'}: cannot read scorecard" in result.output
    assert f"skipped {src / 'envelope.json'}: a signed envelope, not a scorecard" in result.output
    assert "1 products, 1 scorecards" in result.output and (out / "index.html").exists()
    again = CliRunner().invoke(cli, ["site", "build", str(src), "-o", str(out), "--skip-invalid"])
    assert again.exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    none = CliRunner().invoke(cli, ["site", "build", str(empty), "-o", str(out)])
    assert none.exit_code == 2 and "no valid scorecard under" in none.output
