"""The report and the site in a real headless Chromium: no console error, filters, expanders, comparison.

Debian's chromium and chromium-driver are required (the project's test script
installs them); without them these tests fail with the reason, they are never
skipped. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import base64
import time

import pytest

from harness import scorecard
from harness_plugins.report.render import write_report
from harness_plugins.report.samples import synthetic_scorecard
from harness_plugins.report.site import build_site

pytestmark = pytest.mark.browser


def By():  # selenium is imported lazily so that a missing browser fails in the fixture with its message
    from selenium.webdriver.common.by import By as _By

    return _By


def console_errors(driver) -> list[str]:
    return [f"{e['level']}: {e['message']}" for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def open_page(driver, url: str) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"


def shown(driver, selector: str) -> list:
    return [e for e in driver.find_elements(By().CSS_SELECTOR, selector) if e.is_displayed()]


def shown_count(driver) -> str:
    return driver.find_element(By().ID, "shown-count").text


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, annotated_poor):
    card = dict(annotated_poor, subject=dict(annotated_poor["subject"], vendor="Mauvais <script>alert(1)</script>"))
    scorecard.validate(card)
    out = tmp_path_factory.mktemp("report")
    write_report(card, out / "report.html")
    return out, card


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory, poor_card, good_card):
    out = tmp_path_factory.mktemp("site")
    cards = [poor_card, good_card]
    for i in range(4):
        for version in ("1.0", "1.1", "2.0"):
            cards.append(synthetic_scorecard(f"Éditeur {i}", f"Logiciel {i}", version, findings=40, seed=i))
    build_site(cards, out)
    return out


def test_report_loads_with_working_filters_and_expanders(chrome, serve_dir, report_dir, artifacts, screenshot):
    folder, card = report_dir
    url = serve_dir(folder) + "report.html"
    open_page(chrome, url)
    assert console_errors(chrome) == []
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):  # the vendor's <script> is text, it did not run
        chrome.switch_to.alert.text  # noqa: B018
    assert "Mauvais <script>alert(1)</script>" in chrome.find_element(By().TAG_NAME, "h1").text

    form = chrome.find_element(By().ID, "filters")
    assert form.is_displayed()  # hidden without JavaScript, shown by it
    total = len(card["results"])
    not_shown_at_first = sum(1 for r in card["results"] if r["status"] in ("pass", "not_applicable"))
    assert shown_count(chrome) == f"Showing {total - not_shown_at_first} of {total} results."

    # Status filter: show the passing results too.
    pass_box = chrome.find_element(By().CSS_SELECTOR, 'input[name="status"][value="pass"]')
    pass_box.click()
    assert len(shown(chrome, 'div.result[data-status="pass"]')) == sum(r["status"] == "pass" for r in card["results"])

    # Family filter, operated from the keyboard.
    peers_box = chrome.find_element(By().CSS_SELECTOR, 'input[name="family"][value="peers"]')
    from selenium.webdriver.common.keys import Keys

    peers_box.send_keys(Keys.SPACE)
    assert not peers_box.is_selected()
    assert shown(chrome, 'div.result[data-family="peers"]') == []
    assert shown(chrome, 'div.result[data-family="interop"]')
    peers_box.send_keys(Keys.SPACE)

    # Severity filter: only "info" leaves the peers.ratings.enough results.
    for box in chrome.find_elements(By().CSS_SELECTOR, 'input[name="severity"]'):
        if box.get_attribute("value") != "info" and box.is_selected():
            box.click()
    assert {e.get_attribute("data-severity") for e in shown(chrome, "div.result")} == {"info"}
    chrome.find_element(By().CSS_SELECTOR, 'form#filters button[type="reset"]').click()
    time.sleep(0.1)

    # Text filter.
    search = chrome.find_element(By().ID, "filter-q")
    search.send_keys("suspicious")
    visible = shown(chrome, "div.result")
    assert len(visible) == 1 and visible[0].get_attribute("data-status") == "review"
    assert shown(chrome, "#no-match") == []
    search.send_keys("-nothing-matches")
    assert shown(chrome, "div.result") == [] and shown(chrome, "#no-match")
    search.clear()
    search.send_keys(Keys.BACKSPACE)

    # Expanders: a click opens one, Enter on a focused summary closes it, "Expand all" opens them all.
    result = shown(chrome, 'div.result[data-status="review"]')[0]
    details = result.find_element(By().TAG_NAME, "details")
    summary = details.find_element(By().TAG_NAME, "summary")
    assert details.get_attribute("open") is None
    summary.click()
    assert details.get_attribute("open") == "true"
    annotation = details.find_element(By().CSS_SELECTOR, "aside.annotation")
    assert annotation.is_displayed() and "Auditor note" in annotation.text
    summary.send_keys(Keys.ENTER)
    assert details.get_attribute("open") is None
    chrome.find_element(By().ID, "expand-all").click()
    assert all(d.get_attribute("open") == "true"
               for d in chrome.find_elements(By().CSS_SELECTOR, "div.result:not([hidden]) > details"))
    evidence = shown(chrome, "div.result[data-family='interop'][data-status='fail'] .evidence")
    assert evidence and any(e.text.startswith("HTTP GET") for e in evidence)
    chrome.find_element(By().ID, "collapse-all").click()

    # The family links of the summary table narrow the findings to that family.
    chrome.find_element(By().CSS_SELECTOR, 'a[data-family-link="peers"]').click()
    assert {e.get_attribute("data-family") for e in shown(chrome, "div.result")} == {"peers"}
    assert console_errors(chrome) == []
    open_page(chrome, url)  # back to the top, filters as they open
    assert console_errors(chrome) == []
    screenshot(chrome, artifacts / "report.png")
    assert (artifacts / "report.png").stat().st_size > 10_000


def test_report_print_layout(chrome, report_dir, tmp_path):
    folder, _card = report_dir
    open_page(chrome, (folder / "report.html").as_uri())  # file:// works too
    assert console_errors(chrome) == []
    chrome.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not chrome.find_element(By().ID, "filters").is_displayed()
        assert not chrome.find_element(By().CSS_SELECTOR, "nav.toc").is_displayed()
        assert chrome.find_element(By().ID, "family-table").is_displayed()
    finally:
        chrome.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    # Printing unfolds every shown finding; a small report keeps the PDF quick to make.
    write_report(synthetic_scorecard("Print", "Cab", "1.0", findings=30, annotations=2), tmp_path / "small.html")
    open_page(chrome, (tmp_path / "small.html").as_uri())
    pdf = base64.b64decode(chrome.print_page())
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    assert console_errors(chrome) == []


def test_site_index_compare_and_product_pages(chrome, serve_dir, site_dir, artifacts, screenshot):
    base = serve_dir(site_dir)
    open_page(chrome, base + "index.html")
    assert console_errors(chrome) == []
    rows = shown(chrome, "#products tbody tr")
    assert len(rows) == 6
    screenshot(chrome, artifacts / "site-index.png")
    assert (artifacts / "site-index.png").stat().st_size > 10_000

    box = chrome.find_element(By().ID, "product-filter")
    box.send_keys("logiciel 2")
    assert [r.find_element(By().TAG_NAME, "th").text for r in shown(chrome, "#products tbody tr")] == ["Logiciel 2"]
    box.clear()
    box.send_keys(" ")
    box.clear()
    chrome.execute_script("document.getElementById('product-filter').dispatchEvent(new Event('input'))")
    assert len(shown(chrome, "#products tbody tr")) == 6

    button = chrome.find_element(By().ID, "compare-button")
    assert not button.is_enabled()
    boxes = chrome.find_elements(By().CSS_SELECTOR, 'input[name="compare"]')
    boxes[0].click()
    assert not button.is_enabled()
    boxes[-1].click()
    assert button.is_enabled()
    button.click()
    assert "compare.html?p=" in chrome.current_url
    table = chrome.find_element(By().ID, "comparison")
    header = [th.text.split("\n")[0] for th in table.find_elements(By().CSS_SELECTOR, "thead th")]
    assert header == ["Measure", "DemoCabinet", "VieuxCabinet"]
    body = table.text
    assert "Objective score (overall)" in body and "Peers: Note globale" in body
    assert "not enough ratings (4)" in body  # VieuxCabinet's "gain de temps"
    assert console_errors(chrome) == []

    # Add a third product from the page's own selectors.
    from selenium.webdriver.support.ui import Select

    Select(chrome.find_element(By().ID, "cmp-2")).select_by_index(3)
    header = chrome.find_elements(By().CSS_SELECTOR, "#comparison thead th")
    assert len(header) == 4
    screenshot(chrome, artifacts / "site-compare.png")

    # A product page with its history and a regression marker (synthetic versions differ).
    open_page(chrome, base + "index.html")
    chrome.find_element(By().LINK_TEXT, "Logiciel 1").click()
    history = chrome.find_elements(By().CSS_SELECTOR, "#history tbody tr")
    assert [r.find_element(By().TAG_NAME, "th").text.split()[0] for r in history] == ["2.0", "1.1", "1.0"]
    assert console_errors(chrome) == []
    chrome.find_element(By().CSS_SELECTOR, "#history tbody tr a").click()
    assert "Logiciel 1" in chrome.find_element(By().TAG_NAME, "h1").text
    assert console_errors(chrome) == []
    screenshot(chrome, artifacts / "site-product-report.png")


def test_ten_thousand_findings_stay_usable(chrome, tmp_path, artifacts):
    card = synthetic_scorecard("Big", "Cabinet", "9.9", findings=10_000, annotations=10)
    write_report(card, tmp_path / "report.html")
    started = time.perf_counter()
    open_page(chrome, (tmp_path / "report.html").as_uri())
    loaded = time.perf_counter() - started
    assert console_errors(chrome) == []
    box = chrome.find_element(By().CSS_SELECTOR, 'input[name="status"][value="pass"]')
    started = time.perf_counter()
    box.click()
    filtered = time.perf_counter() - started
    assert shown_count(chrome).startswith("Showing ")
    assert loaded < 60 and filtered < 10, (loaded, filtered)
    print(f"10,000 findings: page loaded in {loaded:.1f} s, filter applied in {filtered:.2f} s")
