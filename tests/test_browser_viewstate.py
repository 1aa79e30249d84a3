"""The view a user builds stays put, in headless Chromium: on each page, build a view with the real controls,
leave the page and come back with the navigation bar, then use Back and Forward; each time the controls, the
URL and the copied link must match what is on the screen.

History: [page, default view] -> one entry per action of the build -> [another page] -> [page, built view
again], so Back twice lands on the built view (restored from the URL), one Back per action more on the
default view, and as many Forward on the built view again.
"""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import severe_logs, wait_for
from test_browser_views import checked, click_label, copy_link, pick

pytestmark = pytest.mark.browser


def text_of(browser, cid):
    return browser.find_element(By.ID, cid).text.strip()


def until(browser, cond, timeout=30):
    return WebDriverWait(browser, timeout, poll_frequency=0.3).until(cond)


PATHS = {"overview": "/", "trajectories": "/trajectories", "comparison": "/comparison", "safety": "/safety",
         "patient": "/patient"}


def nav(browser, page_id):
    browser.execute_script("window.scrollTo({top: 0, behavior: 'instant'})")
    browser.find_element(By.ID, f"nav-{page_id}").click()


def step(browser, move):
    """Back or Forward, once the URL has moved."""
    before = browser.current_url
    move()
    until(browser, lambda b: b.current_url != before)


def check_round_trip(browser, live_server, path, ready, build, read, built, default, marks, away="overview"):
    """build(): set the view; read(): what the controls show; built/default: read() of the built and the
    default view; marks: query parts of the built view."""
    browser.get(live_server + path)
    wait_for(browser, ready, timeout=40)
    until(browser, lambda b: read() == default)
    build()
    until(browser, lambda b: all(m in b.current_url for m in marks))
    until(browser, lambda b: read() == built)
    built_url = browser.current_url
    assert copy_link(browser) == built_url  # the copied link is the screen's

    # away and back with the navigation bar: the page's last view comes back
    away_path = PATHS[away]
    nav(browser, away)
    until(browser, lambda b: b.current_url.split("?")[0] == live_server + away_path)
    nav(browser, path.strip("/").split("?")[0] or "overview")
    until(browser, lambda b: b.current_url == built_url)
    until(browser, lambda b: read() == built)

    # Back: the other page, then the built view, then the default view; Forward: the built view again
    browser.back()
    until(browser, lambda b: b.current_url.split("?")[0] == live_server + away_path)
    browser.back()
    until(browser, lambda b: b.current_url == built_url)
    until(browser, lambda b: read() == built)
    for _ in marks:  # each action of the build made its own history entry
        step(browser, browser.back)
    until(browser, lambda b: not any(m in b.current_url for m in marks) and path.split("?")[0] in b.current_url)
    until(browser, lambda b: read() == default)
    assert copy_link(browser) == browser.current_url
    for _ in marks:
        step(browser, browser.forward)
    until(browser, lambda b: b.current_url == built_url)
    until(browser, lambda b: read() == built)
    assert copy_link(browser) == built_url
    assert severe_logs(browser) == []


def test_trajectories_view_survives_navigation_and_history(live_server, browser):
    def build():
        pick(browser, "traj-param", "Complement C3 (g/L)")
        until(browser, lambda b: "param=C3" in b.current_url)
        click_label(browser, "% change from baseline")

    def read():
        return text_of(browser, "traj-param"), checked(browser, "traj-scale")

    check_round_trip(browser, live_server, "/trajectories", "#traj-graph .main-svg", build, read,
                     ("Complement C3 (g/L)", ["pchg"]), ("IgG (g/L)", ["raw"]), ["param=C3", "scale=pchg"])


def test_comparison_view_survives_navigation_and_history(live_server, browser):
    def build():
        pick(browser, "cmp-param", "Regulatory T cells")
        until(browser, lambda b: "param=TREG" in b.current_url)
        click_label(browser, "Between arms")

    def read():
        return text_of(browser, "cmp-param"), checked(browser, "cmp-annot")

    check_round_trip(browser, live_server, "/comparison", "#cmp-fig .main-svg", build, read,
                     ("Regulatory T cells", ["between"]), ("Naive B cells", ["within"]),
                     ["param=TREG", "annot=between"], away="safety")


def test_safety_view_with_quick_search_survives_navigation_and_history(live_server, browser):
    def build():
        browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})",
                               browser.find_element(By.ID, "ae-threshold"))
        pick(browser, "ae-threshold", "PTs ≥10% in any arm")
        until(browser, lambda b: "threshold=10" in b.current_url)
        box = browser.find_element(By.ID, "ae-quick")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", box)
        box.click()
        box.send_keys("headache")
        box.send_keys(Keys.ENTER)  # (the search box sends its text on Enter or when it loses focus)

    def read():
        return text_of(browser, "ae-threshold"), browser.find_element(By.ID, "ae-quick").get_attribute("value")

    check_round_trip(browser, live_server, "/safety", "#ae-timeline .main-svg", build, read,
                     ("PTs ≥10% in any arm", "headache"), ("All preferred terms", ""),
                     ["threshold=10", "q=headache"])


def test_patient_view_survives_navigation_and_history(live_server, browser):
    def build():
        browser.find_element(By.ID, "pt-next").click()
        until(browser, lambda b: "subject=LSO-088-002" in b.current_url)
        pick(browser, "pt-group", "No group panel")

    def read():
        return text_of(browser, "pt-header").split("\n")[0], text_of(browser, "pt-group")

    browser.get(live_server + "/patient")
    wait_for(browser, "#pt-figure .main-svg")
    until(browser, lambda b: read()[0] == "LSO-088-001")
    default = read()
    assert default[0] == "LSO-088-001" and default[1] != "No group panel"
    check_round_trip(browser, live_server, "/patient", "#pt-figure .main-svg", build, read,
                     ("LSO-088-002", "No group panel"), default, ["subject=LSO-088-002", "group=none"],
                     away="trajectories")


def test_overview_filter_view_survives_navigation_and_history(live_server, browser):
    """The overview's view is the filter: an arm unticked stays unticked across pages and history."""
    def build():
        browser.find_element(By.CSS_SELECTOR, "#filter-details summary").click()
        box = next(i for i in browser.find_elements(By.CSS_SELECTOR, "#f-arm input") if i.get_attribute("value") == "IL2")
        browser.execute_script("arguments[0].click()", box)

    def read():
        return checked(browser, "f-arm"), "Total (N=30)" in text_of(browser, "ov-baseline-table")

    check_round_trip(browser, live_server, "/", "#ov-design .main-svg", build, read,
                     (["BEL", "BELIL2"], False), (["BEL", "IL2", "BELIL2"], True), ["arm=BEL,BELIL2"],
                     away="safety")


def test_arm_boxes_and_window_write_the_link_from_the_browser(live_server, browser):
    """The arm boxes and the timepoint window write the URL from the browser's change event (no Dash round):
    each click is a link; unticking the last arm leaves every arm, ticked again; a window chosen backwards
    is read forwards."""
    from selenium.webdriver.support.ui import Select

    browser.get(live_server + "/")
    wait_for(browser, "#ov-design .main-svg")
    browser.find_element(By.CSS_SELECTOR, "#filter-details summary").click()

    def box(code):
        return next(i for i in browser.find_elements(By.CSS_SELECTOR, "#f-arm input") if i.get_attribute("value") == code)

    box("IL2").click()
    until(browser, lambda b: b.current_url.endswith("/?arm=BEL,BELIL2"))
    wait_for(browser, "#filter-summary", "Belimumab, Belimumab + Ld-IL2")
    box("BEL").click()
    until(browser, lambda b: b.current_url.endswith("/?arm=BELIL2"))
    box("BELIL2").click()  # no arm is not a view: every arm, and the boxes say so
    until(browser, lambda b: b.current_url.rstrip("/").endswith(live_server.split("//")[1]) and
          checked(b, "f-arm") == ["BEL", "IL2", "BELIL2"])
    wait_for(browser, "#filter-summary", "All arms")
    Select(browser.find_element(By.ID, "f-from")).select_by_value("24")
    until(browser, lambda b: "weeks=24-48" in b.current_url)
    Select(browser.find_element(By.ID, "f-to")).select_by_value("8")
    until(browser, lambda b: "weeks=8-24" in b.current_url)
    wait_for(browser, "#filter-summary", "weeks 8–24")
    browser.back()  # each change was a history entry
    until(browser, lambda b: "weeks=24-48" in b.current_url)
    wait_for(browser, "#filter-summary", "weeks 24–48")
    assert severe_logs(browser) == []
