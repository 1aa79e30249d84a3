"""The deck tray in headless Chromium, as a presenter uses it: views prepared on three pages (a non-default
parameter and scale, a non-default subset, the AE table), added to the deck, reordered and retitled in
the tray, downloaded as PPTX and opened with python-pptx: slides in the chosen order, titles naming the
chosen parameters, native charts with the numbers the app shows, slide font sizes, speaker notes. Then
the same tray as the offline HTML report, opened with every outside host unreachable."""

from __future__ import annotations

import json
import time

import pytest
from lxml import etree
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import severe_logs, wait_for
from test_browser_views import click_label, pick, settled

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# the arms' summary lines as plotly drew them (its full data: typed arrays decoded)
ARM_MEANS = """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
var out = {};
gd._fullData.forEach(function (t) {
  if (t.name === 'Belimumab' || t.name === 'Belimumab + Ld-IL2') out[t.name] = Array.from(t.y);
});
return JSON.stringify(out);
"""
NS = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}


def add_id(part: str) -> str:
    return json.dumps({"part": part, "type": "deck-add"}, separators=(",", ":"))


def click(browser, element):
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element)
    browser.execute_script("arguments[0].click()", element)


def add_view(browser, part, expect):
    button = WebDriverWait(browser, 10).until(
        lambda b: b.execute_script("return document.getElementById(arguments[0])", add_id(part)))
    click(browser, button)
    WebDriverWait(browser, 20).until(lambda b: expect in b.find_element(By.ID, "deck-flash").text)


def tray_titles(browser):
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#deck-list .deck-title')).map(function (e) { return e.value; })")


def title_of(slide):
    return next(sh.text_frame.text for sh in slide.shapes if sh.name == "Title")


def test_a_deck_from_views_prepared_on_three_pages(live_server, browser, tmp_path):
    from pptx import Presentation
    from pptx.util import Pt

    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get(live_server + "/")
    browser.execute_script("window.localStorage.removeItem('deck-tray')")
    try:
        # -- Trajectories: anti-dsDNA (not the default IgG), % change, two arms
        browser.get(live_server + "/trajectories?arm=BEL,BELIL2")
        wait_for(browser, "#traj-graph .main-svg")
        pick(browser, "traj-param", "Anti-dsDNA antibody (IU/mL)")
        click_label(browser, "% change from baseline")
        WebDriverWait(browser, 20).until(lambda b: "param=DSDNA" in b.current_url and "scale=pchg" in b.current_url)
        wait_for(browser, "#traj-graph .ytitle", "% change in Anti-dsDNA")
        settled(browser, "traj-graph")
        shown = json.loads(browser.execute_script(ARM_MEANS, "traj-graph"))
        add_view(browser, "figure", "Added: Anti-dsDNA")

        # -- Comparison: regulatory T cells (not the default naive B cells)
        browser.get(live_server + "/comparison")
        wait_for(browser, "#cmp-fig .main-svg")
        pick(browser, "cmp-param", "Regulatory T cells")
        WebDriverWait(browser, 20).until(lambda b: "param=TREG" in b.current_url)
        settled(browser, "cmp-fig")
        add_view(browser, "figure", "Added: Regulatory T cells")

        # -- Safety: the AE incidence table at >= 10%
        browser.get(live_server + "/safety?threshold=10")
        wait_for(browser, "#ae-incidence-grid .ag-row")
        WebDriverWait(browser, 20).until(lambda b: "Injection site reaction" in
                                         b.find_element(By.ID, "ae-incidence-grid").text)
        row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#ae-incidence-grid .ag-row")
                   if "Injection site reaction" in r.text)
        isr_app = [c.text for c in row.find_elements(By.CSS_SELECTOR, ".ag-cell")][1:4]  # "0 (0%)", "5 (50%)", …
        add_view(browser, "incidence", "Added: AE incidence")

        # -- the tray: three views; safety first, then comparison, then trajectories; retitle one
        click(browser, browser.find_element(By.ID, "deck-open"))
        WebDriverWait(browser, 10).until(lambda b: len(tray_titles(b)) == 3)
        assert [t.split(":")[0] for t in tray_titles(browser)] == [
            "Anti-dsDNA antibody (IU/mL)", "Regulatory T cells (% of CD4+)", "AE incidence by arm"]
        def up(n, then):
            browser.execute_script("document.querySelector('#deck-item-' + arguments[0] + ' .deck-up').click()", n)
            WebDriverWait(browser, 10).until(then)

        up(3, lambda b: tray_titles(b)[1].startswith("AE incidence"))
        up(2, lambda b: tray_titles(b)[0].startswith("AE incidence"))
        assert tray_titles(browser)[1].startswith("Anti-dsDNA")
        box = browser.find_elements(By.CSS_SELECTOR, "#deck-list .deck-title")[0]
        box.clear()
        box.send_keys("Injection-site reactions lead\n")
        WebDriverWait(browser, 10).until(lambda b: tray_titles(b)[0] == "Injection-site reactions lead")
        # the tray survives a page change and a reload (local storage)
        browser.get(live_server + "/patient")
        WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "deck-open").text == "Deck · 3")

        # -- Download deck
        click(browser, browser.find_element(By.ID, "deck-open"))
        WebDriverWait(browser, 10).until(lambda b: len(tray_titles(b)) == 3)
        click(browser, browser.find_element(By.ID, "deck-download-btn"))
        target = tmp_path / "LSO-088-deck.pptx"
        WebDriverWait(browser, 120).until(lambda _b: target.exists() and target.stat().st_size > 20_000)
        wait_for(browser, "#deck-status", "Deck ready: 3 view(s)", timeout=30)
        time.sleep(0.5)

        prs = Presentation(str(target))
        slides = list(prs.slides)[1:]
        titles = [title_of(s) for s in slides]
        # chosen order: the retitled AE incidence, anti-dsDNA, Tregs (each with its table slides after it)
        first = [next(i for i, t in enumerate(titles) if t.startswith(p))
                 for p in ("Injection-site reactions lead", "Anti-dsDNA", "Regulatory T cells")]
        assert first == sorted(first) and first[0] == 0
        dsdna = next(s for s in slides if "Anti-dsDNA" in title_of(s) and any(sh.has_chart for sh in s.shapes))
        assert "% change from baseline" in title_of(dsdna) and "weeks 0–48" in title_of(dsdna)
        assert any("Regulatory T cells" in title_of(s) for s in slides)

        # native charts with the app's numbers
        chart = next(sh.chart for sh in dsdna.shapes if sh.has_chart)
        xml = etree.fromstring(chart._chartSpace.xml.encode())
        got = {ser.find("c:tx//c:v", NS).text: [float(v.text) for v in ser.iterfind("c:yVal//c:pt/c:v", NS)]
               for ser in xml.iterfind(".//c:ser", NS)}
        assert set(got) == set(shown)
        for arm, ys in shown.items():
            assert got[arm] == pytest.approx([y for y in ys if y is not None], rel=1e-6)
        assert xml.find(".//c:errBars/c:plus", NS) is not None  # the 95% CI as error bars
        ae = next(s for s in slides if title_of(s).startswith("Injection-site reactions lead") and
                  any(sh.has_chart for sh in s.shapes))
        bar = next(sh.chart for sh in ae.shapes if sh.has_chart)
        cats = list(bar.plots[0].categories)
        k = cats.index("Injection site reaction")
        pct = {s.name: list(s.values)[k] for s in bar.plots[0].series}
        app_pct = [float(c.split("(")[1].rstrip("%)")) for c in isr_app]
        assert [pct[a] for a in ("Belimumab", "Ld-IL2", "Belimumab + Ld-IL2")] == pytest.approx(app_pct, abs=0.5)

        # slide typography and notes
        for s in slides:
            assert title_of(s) and next(sh for sh in s.shapes if sh.name == "Title") \
                .text_frame.paragraphs[0].runs[0].font.size >= Pt(28)
            notes = s.notes_slide.notes_text_frame.text
            assert "Filters: " in notes and "Reopen this view in the app: /" in notes
            foot = next(sh.text_frame.text for sh in s.shapes if sh.name == "Provenance")
            assert foot.startswith("SIMULATED DATA")
            for sh in s.shapes:
                if sh.has_chart:
                    c = sh.chart
                    assert c.value_axis.tick_labels.font.size >= Pt(14)
                    assert c.category_axis.tick_labels.font.size >= Pt(14)
                if sh.has_table:
                    assert all(r.font.size >= Pt(14) for row in sh.table.rows for cell in row.cells
                               for p in cell.text_frame.paragraphs for r in p.runs)
        pictures = [sh for s in slides for sh in s.shapes if sh.shape_type == 13]
        assert pictures and all(p.image.size[0] >= 2 * 1280 for p in pictures)  # ≥ 2× the slide at 96 dpi

        # -- the same tray as the offline report
        click(browser, browser.find_element(By.ID, "deck-report-btn"))
        report = tmp_path / "LSO-088-report.html"
        WebDriverWait(browser, 60).until(lambda _b: report.exists() and report.stat().st_size > 1_000_000)
        text = report.read_text()
        assert "Injection-site reactions lead" in text and "Regulatory T cells" in text and "SIMULATED DATA" in text and "<script src" not in text
        assert severe_logs(browser) == []
    finally:
        browser.execute_script("window.localStorage.removeItem('deck-tray')")
