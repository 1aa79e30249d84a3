"""Attack run (issue 18) in the browser: items 2, 7 and 13 as a user's Chromium sees them.

2.  No figure offers a modebar button that talks to another origin ("Share chart…").
7.  Links in the data (an ``<a href>`` or a bare https://… in PARAM, AE terms, arm and visit labels)
    are shown as text, never as clickable anchors.
13. A study with a 100,000-character arm label, thousands of visits and a visit at week 10^9
    renders every page (it crashed or hung tabs before).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import app as app_module
from conftest import ROOT, free_port, wait_http
from data.study import DEFAULT_DATA

pytestmark = [pytest.mark.browser, pytest.mark.slow]
EVIL = "evil.example"
LINK = f'<a href="https://{EVIL}/%s">%s</a>'


def _wait_page(browser, url):
    browser.get(url)
    WebDriverWait(browser, 40).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#page-content .js-plotly-plot .main-svg")
        or b.find_elements(By.CSS_SELECTOR, "#page-content table"))
    # every callback answered: no loading state left
    WebDriverWait(browser, 40).until(lambda b: b.execute_script(
        "return !document.querySelector('[data-dash-is-loading=\"true\"]')"))


def _serve(folder, tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--data", str(folder), "--port", str(port)],
                            cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/", timeout=90, proc=proc)
    return proc, f"http://127.0.0.1:{port}", log


# -- 2. modebar ---------------------------------------------------------------------------------------
MODEBAR = """
const out = [];
for (const gd of document.querySelectorAll('.js-plotly-plot')) {
  const ctx = gd._context || {};
  out.push({id: gd.id || (gd.parentElement && gd.parentElement.id),
            send: ctx.showSendToCloud, server: ctx.plotlyServerURL, logo: ctx.displaylogo,
            buttons: [...gd.querySelectorAll('.modebar-btn')].map(b => [b.getAttribute('data-title'),
                                                                          b.getAttribute('data-attr'),
                                                                          b.getAttribute('href')])});
}
return out;
"""


def test_no_figure_offers_a_button_that_talks_to_another_origin(live_server, browser):
    seen = 0
    for page in app_module.PAGES:
        _wait_page(browser, live_server + page.PATH)
        graphs = browser.execute_script(MODEBAR)
        for g in graphs:
            seen += 1
            titles = [str(t).lower() for t, _, _ in g["buttons"]]
            assert g["buttons"], f"{page.PATH} {g['id']}: modebar not rendered"
            assert not any("share" in t or "cloud" in t or "chart studio" in t for t in titles), (page.PATH, titles)
            assert not any(h and not h.startswith(("#", "/", "javascript:void")) for _, _, h in g["buttons"])
            assert g["send"] is False and not g["server"] and g["logo"] is False, (page.PATH, g)
    assert seen >= len(app_module.PAGES)


def test_every_graph_in_every_layout_uses_the_safe_config(study):
    from dash import dcc

    from components.theme import OUTSIDE_BUTTONS

    def graphs(node):
        if isinstance(node, dcc.Graph):
            yield node
        children = getattr(node, "children", None)
        for c in children if isinstance(children, (list, tuple)) else [children]:
            if c is not None and hasattr(c, "to_plotly_json"):
                yield from graphs(c)

    found = [g for page in app_module.PAGES for g in graphs(page.layout(study))]
    assert len(found) >= len(app_module.PAGES)
    for g in found:
        cfg = g.config
        assert cfg["showSendToCloud"] is False and cfg["plotlyServerURL"] == "" and cfg["displaylogo"] is False, g.id
        assert set(OUTSIDE_BUTTONS) <= set(cfg["modeBarButtonsToRemove"]), g.id


# -- 7 and 13. a hostile study ---------------------------------------------------------------------
def hostile_study(folder, links=True, sizes=True):
    """LSO-088 with links in every kind of label (``links``); a 100k-character arm label, 2,000 visits,
    a visit at week 1e9 (``sizes``)."""
    shutil.copytree(DEFAULT_DATA, folder)
    (folder / "LOCK.json").unlink()
    (folder / "study.toml").unlink()  # another study: not LSO-088's words nor its reference arm
    arm_label = (LINK % ("arm", "Belimumab") if links else "Belimumab") + (" " + "x" * 100_000 if sizes else "")
    for p in folder.glob("*.parquet"):
        df = pd.read_parquet(p)
        if "TRT01A" in df.columns:
            df["TRT01A"] = df["TRT01A"].replace({"Belimumab": arm_label})
        if links and "PARAM" in df.columns:
            first = df["PARAMCD"].iloc[0]
            df.loc[df["PARAMCD"] == first, "PARAM"] = LINK % ("param", "IgG") + f" https://{EVIL}/bare"
        if links and "AEDECOD" in df.columns:
            df.loc[df.index % 2 == 0, "AEDECOD"] = LINK % ("ae", "Rash")
            df.loc[df.index % 2 == 1, "AETERM"] = f"see https://{EVIL}/term"
        if sizes and p.name == "adcell.parquet":  # many visits: daily AVISITN after week 0
            post = df["AVISITN"] > 0
            k = np.arange(post.sum())
            df.loc[post, "AVISITN"] = 0.5 + (k % 2000) * 0.02
            df.loc[post, "AVISIT"] = [f"Day {v:.2f}" for v in df.loc[post, "AVISITN"]]
        if links and p.name == "adlb.parquet":
            last = df["AVISITN"] == df["AVISITN"].max()
            df.loc[last, "AVISIT"] = LINK % ("visit", "Week 48")
        if sizes and p.name == "adlb.parquet":
            df.loc[df.index[:1], "AVISITN"] = 1e9
            df.loc[df.index[:1], "AVISIT"] = "Week 1e9"
        df.to_parquet(p, index=False)
    return folder


ANCHORS = """
return [...document.querySelectorAll('a')].map(a => a.getAttribute('href') || a.getAttribute('xlink:href') || '')
  .filter(h => h.includes('evil'));
"""


@pytest.mark.parametrize("attack", ["links", "sizes", "both"])
def test_a_hostile_study_renders_every_page_with_data_as_text(browser, tmp_path, attack):
    folder = hostile_study(tmp_path / "hostile", links=attack != "sizes", sizes=attack != "links")
    proc, url, log = _serve(folder, tmp_path)
    try:
        shown_as_text = 0
        for page in app_module.PAGES:
            _wait_page(browser, url + page.PATH)
            assert browser.execute_script(ANCHORS) == [], f"{page.PATH}: a link from the data is clickable"
            longest = browser.execute_script(
                "return Math.max(...[...document.querySelectorAll('#page-content *')].map(e => "
                "e.childElementCount ? 0 : (e.textContent || '').length))")
            assert longest < 5_000, f"{page.PATH}: a {longest}-character text was drawn"
            shown_as_text += EVIL in browser.execute_script("return document.body.innerHTML")
            severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert severe == [], (page.PATH, severe)
        assert attack == "sizes" or shown_as_text >= 3  # the hostile text is on the pages, as text
    finally:
        proc.terminate()
        proc.wait(15)
    assert "Traceback" not in log.read_text()
