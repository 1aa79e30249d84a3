"""Patient profile in headless Chromium: the profile draws, previous/next step, arriving with a chosen patient."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import severe_logs, wait_for

pytestmark = pytest.mark.browser


def panel_titles(browser):
    return browser.execute_script(
        "var gd = document.querySelector('#pt-figure .js-plotly-plot');"
        "return gd ? (gd.layout.annotations || []).map(function (a) { return a.text; }) : [];")


def test_patient_profile_renders_and_steps(live_server, browser):
    browser.get(live_server + "/patient")
    wait_for(browser, "#pt-figure .main-svg")
    wait_for(browser, "#pt-header", "patient 1 of 30 in the arm filter")
    header = browser.find_element(By.ID, "pt-header").text
    assert "LSO-088-001" in header and "Belimumab" in header and "Baseline SLEDAI-2K score" in header
    WebDriverWait(browser, 20).until(lambda b: "Adverse events" in " ".join(panel_titles(b)))
    titles = panel_titles(browser)
    assert titles[0] == "Dosing (ADEX)" and "IgG (g/L)" in titles and "SLEDAI-2K score" in titles
    assert "SIMULATED DATA" in browser.find_element(By.ID, "pt-figure").text
    browser.find_element(By.ID, "pt-next").click()
    wait_for(browser, "#pt-header", "LSO-088-002")
    WebDriverWait(browser, 10).until(lambda b: "subject=LSO-088-002" in b.current_url)
    # the graph is as tall as the figure it holds (its own height), and the caption sits below it, uncovered
    WebDriverWait(browser, 10).until(lambda b: "LSO-088-002" in b.find_element(By.ID, "pt-figure").text)
    graph, plot, caption_gap = browser.execute_script(
        "var g = document.getElementById('pt-figure'), gd = g.querySelector('.js-plotly-plot');"
        "return [g.getBoundingClientRect().height, gd._fullLayout.height,"
        "        document.getElementById('pt-caption').getBoundingClientRect().top - g.getBoundingClientRect().bottom];")
    assert abs(graph - plot) < 2 and plot > 1000 and caption_gap >= 0
    browser.find_element(By.ID, "pt-prev").click()
    wait_for(browser, "#pt-header", "LSO-088-001")
    assert severe_logs(browser) == []


def test_arriving_with_a_chosen_patient_shows_that_patient(live_server, browser):
    # what the safety timeline (or a click on a serology / cell-subset figure) leaves in the URL
    browser.get(live_server + "/safety?patient=LSO-088-012")
    link = wait_for(browser, "#patient-link", "Patient profile")
    link.click()
    wait_for(browser, "#pt-header", "LSO-088-012")
    # Previous/Next step through the patients of the arm filter, the chosen one among them (not "1 of 1")
    assert "patient 12 of 30 in the arm filter" in browser.find_element(By.ID, "pt-header").text
    assert not browser.find_element(By.ID, "pt-next").get_attribute("disabled")
    browser.find_element(By.ID, "pt-next").click()
    wait_for(browser, "#pt-header", "LSO-088-013")
    WebDriverWait(browser, 10).until(lambda b: "subject=LSO-088-013" in b.current_url)
    assert severe_logs(browser) == []


def test_unknown_subject_in_a_link_is_dropped_with_a_notice(live_server, browser):
    browser.get(live_server + "/patient?subject=LSO-088-999")
    wait_for(browser, "#filter-notice", "Unknown subject ignored: LSO-088-999")
    wait_for(browser, "#pt-header", "LSO-088-001")
    assert severe_logs(browser) == []
