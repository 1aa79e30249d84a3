"""Safety page in headless Chromium: tables, grid search and export, SOC toggle, timeline click."""

import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import severe_logs, wait_for

pytestmark = pytest.mark.browser


def into_view(browser, el):
    browser.execute_script("document.documentElement.style.scrollBehavior='auto';"
                           "arguments[0].scrollIntoView({block: 'center'});", el)
    time.sleep(0.3)
    return el


def open_safety(live_server, browser, query=""):
    browser.get(live_server + "/safety" + query)
    wait_for(browser, "#ae-summary-table", "Total (N=30)")
    wait_for(browser, "#ae-timeline .main-svg")
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#ae-listing .ag-row"))
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#ae-incidence-grid .ag-row"))


def test_safety_page_renders_tables_grid_and_timeline(live_server, browser):
    open_safety(live_server, browser)
    assert "Simulated data" in browser.find_element(By.ID, "ae-caption").text
    summary = browser.find_element(By.ID, "ae-summary-table").text
    assert "Any serious TEAE" in summary and "Number of TEAEs (events)" in summary
    assert "64 of 64 adverse events shown" in browser.find_element(By.ID, "ae-listing-count").text
    assert "Newcombe hybrid score" in browser.find_element(By.ID, "ae-incidence-note").text
    # the timeline's left margin is set from its row labels (no automargin): every label is drawn whole
    left, labels = browser.execute_script("""
        const g = document.querySelector('#ae-timeline .main-svg').getBoundingClientRect();
        return [g.left, [...document.querySelectorAll('#ae-timeline .ytick text')].map(t => {
            const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.width]; })];""")
    assert {"Belimumab + Ld-IL2", "001"} <= {t for t, _, _ in labels}
    assert all(x >= left and w > 0 for _, x, w in labels), labels
    assert severe_logs(browser) == []


def test_soc_row_click_hides_its_preferred_terms(live_server, browser):
    open_safety(live_server, browser)

    def n_rows():
        return len(browser.find_elements(By.CSS_SELECTOR, "#ae-incidence-grid .ag-center-cols-container .ag-row"))

    before = n_rows()
    cell = browser.find_element(By.CSS_SELECTOR, "#ae-incidence-grid .ag-row[row-index='0'] [col-id='label']")
    assert cell.text.startswith("▾ Infections")
    into_view(browser, cell).click()
    WebDriverWait(browser, 10).until(lambda b: n_rows() == before - 4)
    cell = browser.find_element(By.CSS_SELECTOR, "#ae-incidence-grid .ag-row[row-index='0'] [col-id='label']")
    assert cell.text.startswith("▸ Infections")
    assert severe_logs(browser) == []


def test_quick_search_then_export_writes_those_rows(live_server, browser, tmp_path):
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    open_safety(live_server, browser)
    box = into_view(browser, browser.find_element(By.ID, "ae-quick"))
    box.send_keys("pneumonia", Keys.ENTER)
    wait_for(browser, "#ae-listing-count", "1 of 64 adverse events shown")
    into_view(browser, browser.find_element(By.ID, "ae-export")).click()
    WebDriverWait(browser, 15).until(lambda b: list(Path(tmp_path).glob("*.csv")))
    text = next(Path(tmp_path).glob("*.csv")).read_text()
    lines = text.splitlines()
    assert lines[0] == "# SIMULATED DATA — not the trial's results"
    data = [line for line in lines if not line.startswith("#")]
    assert len(data) == 2 and data[0].startswith("Subject,Arm") and "community-acquired pneumonia" in data[1]
    assert severe_logs(browser) == []


def test_clicking_a_timeline_row_sets_the_patient_filter(live_server, browser):
    open_safety(live_server, browser)
    bars = browser.find_elements(By.CSS_SELECTOR, "#ae-timeline g.trace.bars")
    bar = bars[-1].find_elements(By.CSS_SELECTOR, "path")[0]  # last grade trace: a grade 3 event
    into_view(browser, bar)
    ActionChains(browser).move_to_element(bar).perform()
    hover = wait_for(browser, "#ae-timeline .hovertext")
    assert "Grade 3" in hover.text
    ActionChains(browser).click(bar).perform()
    WebDriverWait(browser, 10).until(lambda b: "patient=LSO-088-0" in b.current_url)
    wait_for(browser, "#ae-summary-table", "Total (N=1)")
    assert severe_logs(browser) == []
