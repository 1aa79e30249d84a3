"""axe-core 4 (the standard accessibility engine, vendored in tests/fixtures/axe) on every page, in headless
Chromium at 1280x720: no critical or serious violation on the default view of each page, nor on the views a
user opens most (the small multiples, the cells grid, an opened filter bar, presentation mode).

Also the keyboard: a skip link is the first Tab stop and moves focus to the page; the timepoint window is
operable from the keyboard."""

import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_browser import wait_for

pytestmark = pytest.mark.browser

AXE = (Path(__file__).parent / "fixtures" / "axe" / "axe.min.js").read_text()
BLOCKING = ("critical", "serious")
VIEWS = {
    "overview": ("/", "#ov-design .main-svg"),
    "trajectories": ("/trajectories", "#traj-graph .main-svg"),
    "trajectories-multiples": ("/trajectories?view=multi", "#traj-forest .main-svg"),
    "comparison": ("/comparison", "#cmp-fig .main-svg"),
    "comparison-grid": ("/comparison?view=grid", "#cmp-fig .main-svg"),
    "safety": ("/safety", "#ae-timeline .main-svg"),
    "patient": ("/patient", "#pt-figure .main-svg"),
    "presenting": ("/trajectories?present=1", "#traj-graph .main-svg"),
}
RUN = """
var done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(function (r) {
  done(JSON.stringify(r.violations.map(function (v) {
    return {id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); })};
  })));
}).catch(function (e) { done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}])); });
"""


def axe_violations(browser):
    browser.set_script_timeout(60)
    if not browser.execute_script("return !!window.axe"):
        browser.execute_script(AXE)
    return json.loads(browser.execute_async_script(RUN))


@pytest.fixture(scope="module")
def page_violations(live_server, browser):
    """{view: violations} for every view, each loaded once (axe takes a few seconds a page)."""
    out = {}
    for name, (path, ready) in VIEWS.items():
        browser.get(live_server + path)
        wait_for(browser, ready, timeout=40)
        wait_for(browser, "#footer-lock")
        if name == "overview":  # the filter bar opened: its controls are checked too
            browser.find_element(By.CSS_SELECTOR, "#filter-details summary").click()
        out[name] = axe_violations(browser)
    return out


@pytest.mark.parametrize("view", list(VIEWS))
def test_no_critical_or_serious_axe_violation(page_violations, view):
    blocking = [v for v in page_violations[view] if v["impact"] in BLOCKING]
    assert blocking == [], json.dumps(blocking, indent=1)


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_the_page(live_server, browser):
    browser.get(live_server + "/trajectories")
    wait_for(browser, "#traj-graph .main-svg")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    active = browser.switch_to.active_element
    assert active.get_attribute("id") == "skip-link" and active.is_displayed()  # visible when focused
    active.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "page-content"
    assert "#" not in browser.current_url


def test_timepoint_window_is_operable_from_the_keyboard(live_server, browser):
    browser.get(live_server + "/")
    wait_for(browser, "#ov-design .main-svg")
    summary = browser.find_element(By.CSS_SELECTOR, "#filter-details summary")
    summary.send_keys(Keys.ENTER)  # the collapsed filter line opens from the keyboard
    WebDriverWait(browser, 5).until(lambda b: b.find_element(By.ID, "f-to").is_displayed())
    to = browser.find_element(By.ID, "f-to")
    to.send_keys(Keys.ARROW_UP)  # a native select: the arrow keys move the end of the window one visit back
    WebDriverWait(browser, 10).until(lambda b: "weeks=0-44" in b.current_url)
    wait_for(browser, "#filter-summary", "weeks 0–44")
    assert Select(browser.find_element(By.ID, "f-to")).first_selected_option.get_attribute("value") == "44"


def test_every_figure_has_its_data_table_one_click_away(live_server, browser):
    """The figure's text alternative: "Data table" shows the numbers the figure draws, per series."""
    browser.get(live_server + "/trajectories")
    wait_for(browser, "#traj-graph .main-svg")
    host = browser.find_element(By.ID, "traj-graph")
    assert host.get_attribute("role") == "figure" and "Data table" in host.get_attribute("aria-label")
    btn = browser.find_element(By.CSS_SELECTOR, ".fig-table-btn[data-graph='traj-graph']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", btn)
    btn.click()
    table = wait_for(browser, "#traj-graph-table table")
    assert btn.get_attribute("aria-expanded") == "true"
    means = browser.execute_script(
        "var gd = document.querySelector('#traj-graph .js-plotly-plot');"
        "var t = gd._fullData.filter(function (t) { return t.name === 'Belimumab'; })[0];"
        "return [Array.from(t.x).length, Math.round(Array.from(t.y)[0] * 1e4) / 1e4];")
    rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    mine = [r for r in rows if r[0] == "Belimumab"]
    assert len(mine) == means[0] and mine[0][1] == "0" and mine[0][2] == f"{means[1]:g}"
    assert "[object" not in " ".join(" ".join(r) for r in rows)
