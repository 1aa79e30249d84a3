"""'Copy link to this view' and presentation mode in headless Chromium.

The link test sets a non-default view on two pages with the real controls, copies the link with
the button (read back from the link box the button fills), opens it in a fresh page load and
checks that the controls and the figure's data are the same.
"""

import json

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import severe_logs, wait_for

pytestmark = pytest.mark.browser

FIGURE_DATA = """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd.data) return null;
return JSON.stringify(gd.data.map(function (t) {
  return [t.name || '', Array.from(t.x || []), Array.from(t.y || [])];
}));
"""


def figure_data(browser, gid):
    return browser.execute_script(FIGURE_DATA, gid)


def settled(browser, gid, timeout=20):
    """The figure's data once it has stopped changing."""
    last = [None]

    def same(b):
        now = figure_data(b, gid)
        ok = now is not None and now == last[0]
        last[0] = now
        return ok

    WebDriverWait(browser, timeout, poll_frequency=0.7).until(same)
    return json.loads(last[0])


def checked(browser, cid):
    return [i.get_attribute("value") for i in browser.find_elements(By.CSS_SELECTOR, f"#{cid} input")
            if i.is_selected()]


def click_label(browser, text):
    label = next(el for el in browser.find_elements(By.CSS_SELECTOR, "label") if el.text.strip() == text)
    browser.execute_script("arguments[0].click()", label)


def pick(browser, cid, text):
    """Choose an option of a (Dash 4) dcc.Dropdown: open it, click the option."""
    browser.find_element(By.ID, cid).click()

    def option(b):
        opts = b.find_elements(By.CSS_SELECTOR, ".dash-dropdown-content .dash-options-list-option")
        return next((o for o in opts if o.text.strip() == text), None)

    browser.execute_script("arguments[0].click()", WebDriverWait(browser, 10).until(option))
    WebDriverWait(browser, 10).until(lambda b: not b.find_elements(By.CSS_SELECTOR, ".dash-dropdown-content"))


def copy_link(browser):
    browser.execute_script("window.scrollTo({top: 0, behavior: 'instant'})")  # (Bootstrap scrolls smoothly)
    browser.find_element(By.ID, "copy-link").click()
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "copy-link-url").get_attribute("value"))
    # "Link to this view copied…", or "Copy this link…" where the browser refuses the clipboard
    WebDriverWait(browser, 10).until(lambda b: "link" in b.find_element(By.ID, "copy-link-status").text.lower())
    return browser.find_element(By.ID, "copy-link-url").get_attribute("value")


def test_copy_link_reproduces_serology_and_cells_views(live_server, browser):
    # -- serology: a parameter, a scale, a summary and individual patients, within an arm filter
    browser.get(live_server + "/trajectories?arm=BEL,BELIL2")
    wait_for(browser, "#traj-graph .main-svg")
    pick(browser, "traj-param", "Complement C3 (g/L)")
    WebDriverWait(browser, 20).until(lambda b: "param=C3" in b.current_url)
    click_label(browser, "% change from baseline")
    click_label(browser, "Median with IQR")
    click_label(browser, "Individual patients")
    WebDriverWait(browser, 20).until(lambda b: "opts=indiv" in b.current_url and "stat=median" in b.current_url)
    # the figure of this view (its statistics are computed with it: wait for it, not for a pause)
    # (plotly may redraw between finding the title and reading it: a stale title is read again)
    WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda b: b.find_element(By.CSS_SELECTOR, "#traj-graph .ytitle").text == "% change in Complement C3")
    before = settled(browser, "traj-graph")
    state = (checked(browser, "traj-scale"), checked(browser, "traj-stat"), checked(browser, "traj-opts"))
    url = copy_link(browser)
    assert url == browser.current_url and "arm=BEL,BELIL2" in url and "scale=pchg" in url

    browser.get("about:blank")
    browser.get(url)  # a fresh page load
    wait_for(browser, "#traj-graph .main-svg")
    after = settled(browser, "traj-graph")
    assert (checked(browser, "traj-scale"), checked(browser, "traj-stat"), checked(browser, "traj-opts")) == state
    assert state == (["pchg"], ["median"], ["indiv"])
    assert "Complement C3" in browser.find_element(By.ID, "traj-param").text
    assert after == before
    ytitle = browser.find_element(By.CSS_SELECTOR, "#traj-graph .ytitle").text
    assert ytitle == "% change in Complement C3"
    assert browser.current_url == url

    # -- cells: another subset, other timepoints, between-arm brackets, log axis
    browser.get(live_server + "/comparison?weeks=0-24")
    wait_for(browser, "#cmp-fig .main-svg")
    pick(browser, "cmp-param", "Regulatory T cells")
    WebDriverWait(browser, 20).until(lambda b: "param=TREG" in b.current_url)
    pick(browser, "cmp-visit-a", "Week 8")
    click_label(browser, "Between arms")
    browser.execute_script("arguments[0].click()", browser.find_element(By.CSS_SELECTOR, "#cmp-log input"))
    WebDriverWait(browser, 20).until(lambda b: all(k in b.current_url for k in ("v1=8", "annot=between", "log=log")))
    before = settled(browser, "cmp-fig")
    url = copy_link(browser)

    browser.get("about:blank")
    browser.get(url)
    wait_for(browser, "#cmp-fig .main-svg")
    after = settled(browser, "cmp-fig")
    assert "Week 8" in browser.find_element(By.ID, "cmp-visit-a").text
    assert "Week 24" in browser.find_element(By.ID, "cmp-visit-b").text
    assert "Regulatory T cells" in browser.find_element(By.ID, "cmp-param").text
    assert checked(browser, "cmp-annot") == ["between"]
    assert after == before
    assert browser.current_url == url
    assert severe_logs(browser) == []


TICK_SIZES = """
var g = '#' + arguments[0] + ' ';
var sel = g + '.xaxislayer-above text' + (arguments[1] === 'x' ? '' : ', ' + g + '.yaxislayer-above text');
return Array.from(document.querySelectorAll(sel)).map(function (e) { return parseFloat(getComputedStyle(e).fontSize); });
"""


def tick_sizes(browser, gid, axes="xy"):
    """Font sizes (px) of the figure's tick labels, as drawn."""
    return set(browser.execute_script(TICK_SIZES, gid, axes))


def test_presentation_mode(live_server, browser):
    browser.get(live_server + "/trajectories")
    wait_for(browser, "#traj-graph .main-svg")
    settled(browser, "traj-graph")
    assert max(tick_sizes(browser, "traj-graph")) < 18
    browser.find_element(By.ID, "present-toggle").click()
    WebDriverWait(browser, 10).until(lambda b: "present=1" in b.current_url)
    WebDriverWait(browser, 10).until(lambda b: "presenting" in b.find_element(By.ID, "app-root").get_attribute("class"))
    assert not browser.find_element(By.CSS_SELECTOR, ".filter-bar").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, ".traj-controls").is_displayed()
    # axis labels readable from the back of the room; the figure fits the window
    WebDriverWait(browser, 10).until(lambda b: min(tick_sizes(b, "traj-graph") or {0}) >= 15
                                     and max(tick_sizes(b, "traj-graph")) >= 18)
    assert min(tick_sizes(browser, "traj-graph", "x")) >= 18  # (the n-per-visit strip is a table: ≥ 15 px)
    # read afresh: fitting the figure to the window redraws it, replacing the title element
    title_px = ("var t = document.querySelector('#traj-graph .ytitle');"
                "return t ? parseFloat(getComputedStyle(t).fontSize) : 0;")
    WebDriverWait(browser, 10).until(lambda b: b.execute_script(title_px) >= 18)
    rect = browser.execute_script("return document.querySelector('#traj-graph .js-plotly-plot')"
                                  ".getBoundingClientRect().bottom - window.scrollY")
    assert rect <= browser.execute_script("return window.innerHeight") + 2
    # → steps to the next parameter (and the URL follows)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(browser, 20).until(lambda b: "param=DSDNA" in b.current_url)
    wait_for(browser, "#traj-graph .ytitle", "Anti-dsDNA")
    # the mode survives a reload from the link, and leaving it restores the page
    browser.get(browser.current_url)
    WebDriverWait(browser, 10).until(lambda b: "presenting" in b.find_element(By.ID, "app-root").get_attribute("class"))
    wait_for(browser, "#traj-graph .ytitle", "Anti-dsDNA")
    browser.find_element(By.ID, "present-toggle").click()
    WebDriverWait(browser, 10).until(lambda b: "present=1" not in b.current_url)
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.CSS_SELECTOR, ".filter-bar").is_displayed())
    WebDriverWait(browser, 10).until(lambda b: max(tick_sizes(b, "traj-graph")) < 18)
    assert "param=DSDNA" in browser.current_url
    assert severe_logs(browser) == []


def test_presentation_mode_on_cells_steps_subsets(live_server, browser):
    browser.get(live_server + "/comparison?present=1")
    wait_for(browser, "#cmp-fig .main-svg")
    WebDriverWait(browser, 10).until(lambda b: "presenting" in b.find_element(By.ID, "app-root").get_attribute("class"))
    WebDriverWait(browser, 20).until(lambda b: min(tick_sizes(b, "cmp-fig") or {0}) >= 18)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(browser, 20).until(lambda b: "param=PLASMA" in b.current_url)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    WebDriverWait(browser, 20).until(lambda b: "param=" not in b.current_url)  # back to the default subset
    assert severe_logs(browser) == []
