"""Real-browser smoke test: headless Chromium against the running app."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import app as app_module

pytestmark = pytest.mark.browser


def severe_logs(browser):
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(browser, css, text=None, timeout=20):
    cond = (EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text) if text
            else EC.presence_of_element_located((By.CSS_SELECTOR, css)))
    WebDriverWait(browser, timeout).until(cond)
    return browser.find_element(By.CSS_SELECTOR, css)


def test_overview_shows_30_subjects(live_server, browser):
    browser.get(live_server + "/")
    table = wait_for(browser, "#ov-baseline-table", "Total (N=30)")
    assert "Subjects" in table.text
    assert "SIMULATED DATA" in browser.find_element(By.ID, "sim-badge").text
    assert "Locked 2026-06-30" in browser.find_element(By.ID, "footer-lock").text
    assert severe_logs(browser) == []


def test_overview_tables_show_every_column_at_1280(live_server, browser):
    """At 1280×720 (a laptop, a projector) the disposition and baseline tables show their Total column without
    scrolling sideways: side by side, the disposition card was too narrow for it."""
    browser.get(live_server + "/")
    wait_for(browser, "#ov-baseline-table", "Total (N=30)")
    wait_for(browser, "#ov-disposition-table", "Total")
    widths = browser.execute_script("""
        return ['ov-disposition-table', 'ov-baseline-table'].map(id => {
            const t = document.getElementById(id), box = t.closest('.table-responsive') || t.parentElement;
            const last = t.querySelector('thead th:last-child').getBoundingClientRect();
            return [id, box.scrollWidth, box.clientWidth, last.right, box.getBoundingClientRect().right];
        });""")
    for name, scroll, client, last_right, box_right in widths:
        assert scroll <= client + 1, f"{name} scrolls sideways ({scroll} > {client} px)"
        assert last_right <= box_right + 1, f"{name}: its last column is cut"


@pytest.mark.parametrize("page", app_module.PAGES, ids=lambda p: p.ID)
def test_every_page_renders_without_console_errors(live_server, browser, page):
    browser.get(live_server + page.PATH)
    wait_for(browser, "#page-content h1")
    wait_for(browser, "#footer-lock")
    assert severe_logs(browser) == []


def test_bad_url_values_show_a_notice_and_are_dropped(live_server, browser):
    browser.get(live_server + "/?arm=PLACEBO&weeks=8-24")
    notice = wait_for(browser, "#filter-notice", "Unknown arm ignored: PLACEBO")
    assert notice.is_displayed()
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/?weeks=8-24"))
    assert severe_logs(browser) == []


def test_arm_filter_updates_counts_and_url(live_server, browser):
    browser.get(live_server + "/?arm=IL2")
    wait_for(browser, "#ov-baseline-table", "Ld-IL2 (N=10)")
    counts = wait_for(browser, "#arm-counts", "Ld-IL2: 10")
    assert "Belimumab: 10" not in counts.text
    assert "Belimumab (N=10)" not in browser.find_element(By.ID, "ov-baseline-table").text
