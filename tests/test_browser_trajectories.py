"""Serology & activity page in headless Chromium: the figure, the statistics and the controls work."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import severe_logs, wait_for

pytestmark = pytest.mark.browser


def click_label(browser, text):
    label = next(el for el in browser.find_elements(By.CSS_SELECTOR, "label") if el.text.strip() == text)
    browser.execute_script("arguments[0].click()", label)


def test_serology_page_renders_figure_and_statistics(live_server, browser):
    browser.get(live_server + "/trajectories")
    wait_for(browser, "#traj-graph .main-svg")
    WebDriverWait(browser, 20).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "#traj-graph .scatterlayer .trace")) >= 3)
    legend = wait_for(browser, "#traj-graph .legend", "Belimumab + Ld-IL2")
    assert "Ld-IL2" in legend.text
    within = wait_for(browser, "#traj-within", "Wilcoxon signed-rank, exact")
    assert "IgG (g/L) · baseline vs week 48" in within.text
    wait_for(browser, "#traj-mmrm", "Kenward–Roger df")
    wait_for(browser, "#traj-table-IGG", "Week 48")
    assert "SIMULATED DATA" in browser.find_element(By.ID, "sim-badge").text
    assert severe_logs(browser) == []


def test_small_multiples_with_highlighted_patients(live_server, browser):
    browser.get(live_server + "/trajectories?patient=LSO-088-021,LSO-088-025")
    wait_for(browser, "#traj-graph .main-svg")
    click_label(browser, "Small multiples")
    WebDriverWait(browser, 20).until(
        lambda b: "D · Anti-nucleosome antibody" in b.find_element(By.ID, "traj-graph").text)
    graph = browser.find_element(By.ID, "traj-graph")
    assert "LSO-088-021 (Ld-IL2)" in graph.text and "A · IgG (g/L)" in graph.text
    wait_for(browser, "#traj-within", "Holm")
    assert severe_logs(browser) == []
