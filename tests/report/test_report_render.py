"""The HTML report: contents, self-containment, escaping, annotations, accessibility, size and the CLI."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import time

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html

from harness import scorecard
from harness.cli import cli
from harness.plugins import PluginHost
from harness.registry import Registry
from harness_plugins.report.render import build_view, render_report, safe_url
from harness_plugins.report.samples import synthetic_scorecard


def parse(text: str):
    return lxml_html.document_fromstring(text)


def inject(value, payload: str):
    """Append the payload to every string of a JSON value (keys kept)."""
    if isinstance(value, dict):
        return {k: inject(v, payload) for k, v in value.items()}
    if isinstance(value, list):
        return [inject(v, payload) for v in value]
    if isinstance(value, str):
        return value + payload
    return value


@pytest.fixture(scope="module")
def poor_html(poor_card) -> str:
    return render_report(poor_card)


def test_html_reporter_is_registered_as_a_default_format():
    reporters = Registry.build(PluginHost().pm).reporters
    assert reporters["html"].default is True and reporters["html"].plugin == "report"


def test_summary_shows_families_with_peer_facets_beside_them(poor_card, poor_html):
    doc = parse(poor_html)
    rows = {row.xpath("string(th)").strip(): row for row in doc.xpath('//table[@id="family-table"]/tbody/tr')}
    assert set(rows) == set(poor_card["scores"]["families"]) | {"overall"}
    interop, fam = rows["interop"].text_content(), poor_card["scores"]["families"]["interop"]
    assert f"{fam['score']:.1f}/10" in interop and f"{fam['coverage'] * 100:.0f} %" in interop
    assert "Fiabilité" in interop and "Interopérabilité" in interop  # the facets that speak to interop
    assert "not scored" in rows["peers"].text_content()
    assert "Note globale" in rows["overall"].text_content()


def test_peer_section_with_counts_intervals_and_not_enough_ratings(poor_card, poor_html):
    doc = parse(poor_html)
    rows = {r.xpath("string(th)").strip(): r.text_content() for r in doc.xpath('//table[@id="peer-table"]/tbody/tr')}
    assert "not enough ratings" in rows["Gain de temps"]
    assert "52" in rows["Note globale"] and "12 flagged" in rows["Note globale"]
    assert "interop: " in rows["Interopérabilité"] and "/10" in rows["Interopérabilité"]
    families = poor_card["scores"]["families"]
    for fam in ("contracts", "portability"):
        shown = (f"{fam}: {families[fam]['score']:.1f}/10" if fam in families and families[fam]["score"] is not None
                 else f"{fam}: –/10" if fam in families else f"{fam}: not audited")
        assert shown in rows["Conditions contractuelles / portabilité"]
    flags = doc.xpath('//ul[@id="peer-flags"]/li')
    assert len(flags) == 2 and "rev-p666" in flags[0].text_content()


def test_every_non_passing_result_is_listed_with_its_evidence(poor_card, poor_html, failing_result):
    doc = parse(poor_html)
    items = doc.xpath('//div[@class="result"]')
    assert len(items) == len(poor_card["results"])
    finding = next(f for f in failing_result["findings"] if f["status"] == "fail")
    http = next(e["http"] for e in finding["evidence"] if e["kind"] == "http")
    li = next(i for i in items if finding["message"] in i.text_content())
    assert li.get("data-status") == "fail" and li.get("data-family") == "interop"
    text = li.text_content()
    assert f"{http['method']} {http['url']}" in text  # the HTTP exchange
    if http.get("body_excerpt"):
        assert http["body_excerpt"].strip().splitlines()[0] in text  # the response body excerpt
    for requirement in finding.get("requirement_ids", []):
        assert requirement in text
    valid = [i for i in items if i.get("data-status") == "warn" and "line 246" in i.text_content()]
    assert valid and "ratings.csv:246" in valid[0].text_content()  # file:line


def test_requirements_and_references_link_only_to_http(poor_html):
    doc = parse(poor_html)
    links = doc.xpath('//section[@id="requirements"]//a/@href')
    assert "https://hl7.org/fhir/R4/capabilitystatement.html" in links
    assert safe_url("javascript:alert(1)") is None and safe_url("data:text/html,x") is None
    assert safe_url(" https://example.test/a ") == "https://example.test/a"


def test_filters_for_family_severity_and_status(poor_card, poor_html):
    doc = parse(poor_html)
    form = doc.get_element_by_id("filters")
    values = {name: [i.get("value") for i in form.xpath(f'.//input[@name="{name}"]')]
              for name in ("family", "severity", "status")}
    families = {c["family"] for c in poor_card["checks"] if any(r["check_id"] == c["id"] for r in poor_card["results"])}
    assert values["family"] == sorted(families) and {"interop", "peers"} <= families
    assert values["severity"][-2:] == ["low", "info"] and "high" in values["severity"]
    present = {r["status"] for r in poor_card["results"]}
    order = ["error", "fail", "review", "warn", "skipped", "pass", "not_applicable"]
    assert values["status"] == [s for s in order if s in present]
    unchecked = [i.get("value") for i in form.xpath('.//input[@name="status"][not(@checked)]')]
    assert unchecked == [s for s in ("pass", "not_applicable") if s in present]  # one click away


def test_self_contained_and_offline(poor_html):
    doc = parse(poor_html)
    assert not doc.xpath("//link[@rel='stylesheet'] | //script[@src] | //img[@src] | //iframe")
    assert doc.xpath("//link[@rel='icon']/@href") == ["data:,"]
    style = doc.xpath("//style")[0].text
    assert "@import" not in style and "url(" not in style and "@media print" in style
    csp = doc.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0]
    assert csp.startswith("default-src 'none';")
    for tag in ("style", "script"):
        body = doc.xpath(f"//{tag}")[0].text
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp, f"inline {tag} not allowed by the page's CSP"


def test_accessibility_landmarks_headings_and_labels(poor_html):
    doc = parse(poor_html)
    assert doc.get("lang") == "en"
    assert len(doc.xpath("//main")) == 1 and doc.xpath("//header") and doc.xpath("//footer")
    assert doc.xpath("//a[@class='skip-link']/@href") == ["#main"]
    assert len(doc.xpath("//h1")) == 1
    levels = [int(h.tag[1]) for h in doc.xpath("//h1|//h2|//h3|//h4")]
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:])), "a heading level is skipped"
    for inp in doc.xpath("//input[not(@type='hidden')]"):
        assert inp.getparent().tag == "label" or doc.xpath(f"//label[@for='{inp.get('id')}']"), inp.get("name")
    for table in doc.xpath("//table"):
        assert table.xpath("caption") or table.xpath("thead"), "table without caption or header"
    assert doc.xpath("//*[@role='status'][@aria-live='polite']")
    assert all(s.tag == "summary" for s in doc.xpath("//details/*[1]"))  # native keyboard expanders
    assert 'lang="fr"' in poor_html  # French facet labels are marked as such


def test_annotations_are_shown_on_their_findings(annotated_poor, failing_result):
    doc = parse(render_report(annotated_poor))
    items = doc.xpath('//div[@class="result"]')
    target = next(li for li in items if li.get("data-search").startswith(
        f"{failing_result['check_id']} {failing_result['item_id']}".lower()))
    notes = target.xpath('.//aside[contains(@class,"annotation")]')
    assert len(notes) == 1
    assert "Vendor dispute" in notes[0].text_content() and "Mauvais Logiciel SARL" in notes[0].text_content()
    assert "<b>next month</b>" in notes[0].text_content()  # escaped, shown as text
    assert not notes[0].xpath(".//b")
    assert sum(len(li.xpath('.//aside[contains(@class,"annotation")]')) for li in items) == 2
    burst = next(li for li in items if li.get("data-status") == "review")
    finding = burst.xpath('.//div[contains(@class,"finding")][.//aside]')
    assert len(finding) == 1 and "peers.ratings.burst" in finding[0].text_content()
    assert "Auditor note" in finding[0].text_content()
    assert len(doc.xpath('//section[@id="annotations"]//tbody/tr')) == 2


def test_orphan_annotations_are_counted(poor_card, annotate):
    card = annotate(poor_card, {"check_id": "dmp.nothing.here", "kind": "auditor_note", "text": "t", "author": "a"})
    view = build_view(card)
    assert len(view["orphan_annotations"]) == 1
    assert "name a check or item that is not in this scorecard" in render_report(card)


def test_html_injection_in_every_free_text_field_renders_as_text(poor_card, annotate, payload, failing_result):
    card = annotate(poor_card, {"check_id": failing_result["check_id"], "kind": "vendor_dispute",
                                "text": "dispute", "author": "vendor", "date": "2026-01-01"})
    card["requirements"][0]["url"] = "javascript:alert(3)"
    hostile = inject(card, payload)
    text = render_report(hostile)
    doc = parse(text)
    assert len(doc.xpath("//script")) == 1  # ours, and nothing else
    assert not doc.xpath("//img | //b | //*[@onerror] | //*[@onmouseover]")
    assert "javascript:" not in " ".join(doc.xpath("//@href"))
    assert payload in doc.xpath("string(//h1)")  # the vendor name shows as typed
    assert "<script>alert('x')</script>" not in text
    assert text.count("<script>") == 1


def test_ten_thousand_findings_render_in_reasonable_time():
    card = synthetic_scorecard("Big", "Cabinet", "9.9", findings=10_000, annotations=20)
    scorecard.validate(card)
    started = time.perf_counter()
    text = render_report(card)
    elapsed = time.perf_counter() - started
    assert elapsed < 30, f"10,000 findings took {elapsed:.1f} s"
    assert text.count('<div class="result"') == len(card["results"]) >= 9_900
    assert "are not shown in this report" not in text


def test_beyond_the_limit_findings_are_counted_not_rendered():
    card = synthetic_scorecard("Big", "Cabinet", "9.9", findings=500)
    text = render_report(card, max_findings=100)
    assert text.count('<div class="result"') == 100
    assert re.search(r"\d+ findings \(\d+ results\) are not shown in this report", text)


def test_report_without_peer_ratings(poor_card):
    card = copy.deepcopy(poor_card)
    card["sections"] = {}
    doc = parse(render_report(card))
    assert not doc.xpath('//section[@id="peers"]') and doc.xpath('//table[@id="family-table"]')


# --------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------


def test_demo_writes_report_html_beside_the_scorecard(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--vendor", "good", "--fail-on", "none", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = tmp_path / "report.html"
    assert report.exists() and (tmp_path / "scorecard.json").exists()
    doc = parse(report.read_text(encoding="utf-8"))
    assert "DemoCabinet" in doc.xpath("string(//h1)")
    assert "Note globale" in doc.xpath("string(//table[@id='family-table'])")  # peers beside the scores


def test_report_command(tmp_path, poor_card):
    path = scorecard.write(poor_card, tmp_path / "scorecard.json")
    result = CliRunner().invoke(cli, ["report", str(path)])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'report.html'}" in result.output
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert hashlib.sha256(path.read_bytes()).hexdigest() in text  # the report names the scorecard it shows
    other = tmp_path / "out" / "r.html"
    assert CliRunner().invoke(cli, ["report", str(path), "-o", str(other), "--max-findings", "3"]).exit_code == 0
    assert "are not shown in this report" in other.read_text(encoding="utf-8")


def test_report_command_rejects_unknown_schema_versions_clearly(tmp_path, poor_card):
    card = dict(poor_card, schema_version="2.0")
    path = tmp_path / "future.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", str(path)])
    assert result.exit_code == 2
    assert "scorecard schema version '2.0' is not supported (this harness reads 1.x)" in result.output
    assert not (tmp_path / "future.html").exists()
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", str(broken)])
    assert result.exit_code == 2 and "cannot read scorecard" in result.output


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_colours_meet_wcag_aa_contrast():
    from harness_plugins.report.render import TEMPLATES

    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    white, ink = "#ffffff", "#1a1a1a"
    pairs = {
        "text": (var["fg"], var["bg"]), "muted text": (var["muted"], var["bg"]),
        "muted on panel": (var["muted"], var["panel"]), "link": (var["link"], var["bg"]),
        "link on a regressed row": (var["link"], "#fdecea"), "regression": (var["fail"], "#fdecea"),
        "fail badge": (white, var["fail"]), "error badge": (white, var["error"]),
        "review badge": (white, var["review"]), "pass badge": (white, var["pass"]),
        "warning badge": (ink, var["warn-bg"]), "skipped badge": (ink, var["muted-bg"]),
        "vendor dispute": ("#5c3200", "#fff4e0"), "auditor note": ("#0b3d7a", "#e8f0fb"),
    }
    low = {name: round(contrast(*p), 2) for name, p in pairs.items() if contrast(*p) < 4.5}
    assert low == {}
