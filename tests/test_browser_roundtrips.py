"""Round trips per user action, counted in headless Chromium (performance resource entries): a click on a
page's control or on the Arm filter costs one round trip (URL, filter store, chips and navigation links are
kept in step in the browser): one request, or two sent together for a filter change on the Safety page;
opening a page from the navigation bar costs two sequential round trips (the router, then the page's
callbacks). Counts, not times: the times are the benchmark's (bench/roundtrips.py).
"""

import pytest
from selenium.webdriver.common.by import By

from bench.roundtrips import REQUESTS, _quiet, one_action, rounds

pytestmark = pytest.mark.browser

CLICKS = [
    ("/trajectories", "traj-graph", "#traj-scale input[value='chg']", None),
    ("/comparison", "cmp-fig", "#cmp-annot input[value='between']", None),
    ("/patient", "pt-figure", "#pt-next", None),
    ("/safety", "ae-timeline", "#f-arm input[value='IL2']", "#filter-details summary"),
]


@pytest.mark.parametrize("path, graph, selector, opener", CLICKS, ids=[c[0] + " " + c[2] for c in CLICKS])
def test_a_click_costs_one_request(live_server, browser, path, graph, selector, opener):
    browser.get(live_server + path)
    got = one_action(browser, graph, selector, opener)
    assert got is not None, "the figure did not change or the page did not settle"
    # the Safety page's filter click: its overview + timeline and its grids, two requests sent together
    assert got["requests"] == (2 if path == "/safety" else 1), got["detail"]
    assert rounds(got["detail"]) == 1, got["detail"]
    assert got["figure_ms"] is not None


def test_opening_a_page_from_the_navbar_costs_two_round_trips(live_server, browser):
    browser.get(live_server + "/")
    assert _quiet(browser, "ov-design")
    browser.execute_script("performance.clearResourceTimings()")
    t0 = browser.execute_script("return performance.now()")
    browser.find_element(By.ID, "nav-comparison").click()
    assert _quiet(browser, "cmp-fig")
    reqs = browser.execute_script(REQUESTS, t0)
    assert rounds(reqs) <= 2, reqs
