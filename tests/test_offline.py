"""Offline: with every non-loopback host unreachable, each page renders fully, nothing fails to load."""

import shutil
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import app as app_module

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def offline_browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,720",
                # Every host name resolves to nothing except the loopback address the app is on.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    yield driver
    driver.quit()


def test_every_page_renders_with_no_outside_request(live_server, offline_browser):
    from conftest import REPORT

    b = offline_browser
    origin = urlsplit(live_server).netloc
    total = 0
    for page in app_module.PAGES:
        b.get(live_server + page.PATH)
        WebDriverWait(b, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#page-content .js-plotly-plot .main-svg"))
        WebDriverWait(b, 10).until(lambda d: d.execute_script(
            "return document.querySelectorAll('._dash-loading, [data-dash-is-loading=true]').length === 0"))
        urls = b.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        total += len(urls)
        outside = [u for u in urls if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != origin]
        assert outside == [], page.PATH
        failed = b.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name)")
        assert failed == [], page.PATH
        assert [e for e in b.get_log("browser") if e["level"] == "SEVERE"] == [], page.PATH
    REPORT.append(f"OFFLINE: {len(app_module.PAGES)} pages rendered with outside hosts unreachable; "
                  f"{total} resources loaded, all from {origin}")
