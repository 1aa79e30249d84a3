"""Exports in headless Chromium: slide-size PNG and SVG drawn by assets/figure_export.js with the
caption strip inside the image, a real download from the SVG button, and the Show-code panel."""

from __future__ import annotations

import base64
import datetime as dt
import struct
import time
import urllib.parse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from data.study import DEFAULT_DATA, load_study
from test_browser import severe_logs, wait_for

pytestmark = pytest.mark.browser

FILTERS = "Filters: Belimumab, Belimumab + Ld-IL2; weeks 0–24; all patients"
EXPORT = ("var done = arguments[arguments.length - 1];"
          "window.trialFigureExport.toImage(arguments[0], arguments[1]).then(done, function (e) { done('ERR ' + e); });")


def image(browser, graph_id, fmt):
    url = browser.execute_async_script(EXPORT, graph_id, fmt)
    assert not url.startswith("ERR"), url
    head, body = url.split(",", 1)
    return base64.b64decode(body) if head.endswith(";base64") else urllib.parse.unquote(body)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def click(browser, element_id):
    el = browser.find_element(By.ID, element_id)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", el)
    el.click()


def test_png_and_svg_exports_carry_the_caption(live_server, browser, tmp_path):
    browser.set_script_timeout(60)
    browser.get(live_server + "/trajectories?arm=BEL,BELIL2&weeks=0-24")
    wait_for(browser, "#traj-graph .main-svg")
    WebDriverWait(browser, 20).until(lambda b: FILTERS in b.find_element(By.ID, "traj-graph").text)
    time.sleep(0.5)
    png = image(browser, "traj-graph", "png")
    assert png_size(png) == (3840, 2160)  # 1920 x 1080 at 2x
    (tmp_path / "trajectories.png").write_bytes(png)
    svg = image(browser, "traj-graph", "svg")
    assert 'width="1920" height="1080"' in svg
    today = dt.date.today().isoformat()
    short = load_study(DEFAULT_DATA).lock.short  # the lock's fingerprint (it covers LOCK.json itself)
    for text in ("SIMULATED DATA — not the trial's results", f"dataset {short}", f"exported {today}", FILTERS,
                 "Method: value, mean ± 95% CI (t)"):
        assert text in svg, text
    # the live figure keeps its own caption: the export works on a copy
    assert f"exported {today}" not in browser.find_element(By.ID, "traj-graph").text

    # a real download from the SVG button
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    button = browser.find_element(By.CSS_SELECTOR, ".fig-export[data-graph='traj-graph'][data-format='svg']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", button)
    button.click()
    target = tmp_path / "LSO-088-trajectories.svg"
    WebDriverWait(browser, 20).until(lambda _b: target.exists() and target.stat().st_size > 1000)
    assert FILTERS in target.read_text()
    assert severe_logs(browser) == []


@pytest.mark.parametrize("path,graph,prefix", [
    ("/", "ov-design", "ov"), ("/comparison", "cmp-fig", "cmp"), ("/safety", "ae-timeline", "ae")])
def test_every_figure_exports_and_shows_its_code(live_server, browser, path, graph, prefix):
    browser.set_script_timeout(60)
    browser.get(live_server + path)
    wait_for(browser, f"#{graph} .main-svg")
    WebDriverWait(browser, 20).until(lambda b: "Filters: all arms" in b.find_element(By.ID, graph).text)
    svg = image(browser, graph, "svg")
    assert "SIMULATED DATA" in svg and "Filters: all arms; weeks 0–48; all patients" in svg and "Method: " in svg
    click(browser, f"{prefix}-code-btn")
    code = wait_for(browser, f"#{prefix}-code", "import pandas as pd", timeout=30)
    assert code.text.startswith("# LSO-088 · ")
    assert browser.find_element(By.ID, f"{prefix}-code-btn").text == "Hide code"
    assert severe_logs(browser) == []
