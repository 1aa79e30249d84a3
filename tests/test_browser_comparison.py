"""Cell subsets page in headless Chromium: the figure draws, the grid view works, no console errors."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import severe_logs, wait_for

pytestmark = pytest.mark.browser


def test_cells_page_single_and_grid(live_server, browser):
    browser.get(live_server + "/comparison?patient=LSO-088-025")
    wait_for(browser, "#cmp-fig .main-svg")
    WebDriverWait(browser, 20).until(
        lambda b: "p = " in b.find_element(By.ID, "cmp-fig").text or "p < " in b.find_element(By.ID, "cmp-fig").text)
    fig_text = browser.find_element(By.ID, "cmp-fig").text
    assert "Belimumab + Ld-IL2" in fig_text and "025" in fig_text
    assert "SIMULATED DATA" in fig_text
    wait_for(browser, "#cmp-summary-table", "Belimumab + Ld-IL2")
    assert "Wilcoxon signed-rank" in browser.find_element(By.ID, "cmp-stats-table").text

    browser.find_element(By.XPATH, "//label[contains(., 'Figure 2 grid')]").click()
    wait_for(browser, "#cmp-grid-table", "Follicular helper T cells")
    WebDriverWait(browser, 20).until(lambda b: "Regulatory T cells" in b.find_element(By.ID, "cmp-fig").text)
    assert severe_logs(browser) == []
