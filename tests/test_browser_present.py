"""Presentation mode on every page in headless Chromium at 1280×720 and 1920×1080: the whole figure (or
table section) is inside the window without scrolling, ← / → or ↓ / ↑ step, the deck dock stays on
screen. Screenshots go to $PRESENT_SHOTS when set (the README says how they were looked at)."""

from __future__ import annotations

import os
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import app as app_module
from test_browser import severe_logs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FITS = """
var figs = Array.from(document.querySelectorAll('#page-content .js-plotly-plot')).filter(function (g) {
  return g.offsetParent; });
var dock = document.getElementById('deck-add-current').getBoundingClientRect();
return {scroll: document.documentElement.scrollHeight, inner: window.innerHeight,
        figs: figs.map(function (g) { var r = g.getBoundingClientRect(); return [r.top, r.bottom, r.height]; }),
        dock: dock.top >= 0 && dock.bottom <= window.innerHeight};
"""


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_every_page_fits_the_screen_while_presenting(live_server, browser, size):
    w, h = size
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False})
    shots = os.environ.get("PRESENT_SHOTS")
    try:
        for page in app_module.PAGES:
            browser.get(live_server + page.PATH + "?present=1")
            WebDriverWait(browser, 20).until(
                lambda b: "presenting" in b.find_element(By.ID, "app-root").get_attribute("class"))
            WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#page-content .main-svg"))
            for k in range(3):  # each section of the page
                def fitted(b):
                    got = b.execute_script(FITS)
                    return got if got["scroll"] <= got["inner"] + 1 and all(
                        f[0] >= 0 and f[1] <= got["inner"] + 1 and f[2] >= 200 for f in got["figs"]) else None

                got = WebDriverWait(browser, 20, poll_frequency=0.5).until(fitted)
                assert got["dock"], page.ID  # "+ Add to deck" is on screen
                if shots:
                    time.sleep(0.8)
                    browser.save_screenshot(os.path.join(shots, f"present-{w}-{page.ID}-{k + 1}.png"))
                pos = browser.execute_script("var m = document.getElementById('present-section-pos');"
                                             "return m ? m.textContent : '';")
                if not pos or pos.startswith(pos.split(" / ")[-1] + " /"):
                    break
                before = pos
                browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_DOWN)
                WebDriverWait(browser, 10).until(lambda b: b.execute_script(
                    "return document.getElementById('present-section-pos').textContent") != before)
        assert severe_logs(browser) == []
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_arrows_step_sections_on_overview_and_safety(live_server, browser):
    for path in ("/?present=1", "/safety?present=1"):
        browser.get(live_server + path)
        WebDriverWait(browser, 20).until(lambda b: b.execute_script(
            "var m = document.getElementById('present-section-pos'); return m && m.textContent.startsWith('1 /');"))
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        WebDriverWait(browser, 10).until(lambda b: b.execute_script(
            "return document.getElementById('present-section-pos').textContent.startsWith('2 /')"))
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
        WebDriverWait(browser, 10).until(lambda b: b.execute_script(
            "return document.getElementById('present-section-pos').textContent.startsWith('1 /')"))
