"""Round trips per user action, counted in headless Chromium (performance resource entries): a click on a
page's control or on the Arm filter costs one round trip (URL, filter store, chips and navigation links are
kept in step in the browser): one request, or two sent together for a filter change on the Safety page;
opening a page from the navigation bar costs two sequential round trips (the router, then the page's
callbacks). Counts, not times: the times are the benchmark's (bench/roundtrips.py).
"""

import pytest
from selenium.webdriver.common.by import By

from bench.roundtrips import RECORDER, REQUESTS, _quiet, one_action, rounds

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


@pytest.mark.parametrize("page, graph", [("comparison", "cmp-fig"), ("safety", "ae-timeline")])
def test_opening_a_page_from_the_navbar_costs_two_round_trips(live_server, browser, page, graph):
    browser.get(live_server + "/")
    assert _quiet(browser, "ov-design")
    browser.execute_script("performance.clearResourceTimings()")
    browser.execute_script(RECORDER)
    t0 = browser.execute_script("return performance.now()")
    browser.find_element(By.ID, f"nav-{page}").click()
    assert _quiet(browser, graph)
    reqs = browser.execute_script(REQUESTS, t0)
    callbacks = [r for r in reqs if "_dash-update-component" in r[0]]
    assert any(r[3] == "page-content.children" for r in callbacks), reqs  # the router's request was recorded
    assert len(callbacks) >= 2 and rounds(reqs) == 2, reqs


def r(start, end, out, changed=()):
    return ["/_dash-update-component", start, end, out, list(changed)]


def test_rounds_follow_what_triggered_each_request():
    router = r(0, 10, "page-content.children", ["url.pathname"])
    # the page's initial calls and the callbacks of its new buttons: one round after the router's answer,
    # however late each leaves
    page = [r(20, 30, "..ae-summary.children...ae-timeline.figure.."), r(22, 28, "deck-tray.data", ["x.n_clicks"]),
            r(35, 50, "..ae-listing.rowData...ae-listing-note.children..")]
    assert rounds([router, *page]) == 2
    # a request triggered by an answer's output is one round later, even when it overlaps others
    chained = r(31, 40, "ae-listing-count.children", ["ae-summary.children"])
    assert rounds([router, *page, chained]) == 3
    # a click's requests: triggered by no answer, sent together
    assert rounds([r(0, 20, "a.figure", ["filter-state.data"]), r(25, 30, "b.rowData", ["filter-state.data"])]) == 1
    # without bodies (not a callback): after every answer of the wave, a new round trip
    assert rounds([["/x", 0, 10], ["/y", 12, 20]]) == 2
