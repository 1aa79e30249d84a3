"""A blinded study in headless Chromium (issue 20): its own live server on a free port serving a copy of
LSO-088 locked as blinded, without authentication (everyone gets the pooled view) and with an audit trail.
The pages show one group and no arm; PNG exports, which the browser draws, are reported to the trail by
assets/audit.js (the export strip's button and plotly's camera alike); page views are in the trail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from blinded_fixture import blinded_copy, leaks
from conftest import ROOT, free_port, wait_http
from data.blinding import POOLED_LABEL
from test_browser import severe_logs, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def blinded_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("blinded-live")
    folder = blinded_copy(root / "lso088")
    trail = root / "audit.log"
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRIAL_AUDIT_LOG": str(trail)}
    log = tempfile.NamedTemporaryFile("w+b", prefix="blinded-server-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--data", str(folder), "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc=proc)
        yield url, trail
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        os.unlink(log.name)


def lines(trail):
    return [json.loads(x) for x in trail.read_text().splitlines() if x.strip()]


def test_the_blinded_pages_show_one_group_and_exports_are_in_the_trail(blinded_server, browser):
    url, trail = blinded_server
    browser.get(url + "/trajectories?param=C3")
    graph = wait_for(browser, "#traj-graph .main-svg")
    WebDriverWait(browser, 20).until(lambda b: POOLED_LABEL in b.find_element(By.ID, "traj-graph").text)
    wait_for(browser, "#traj-stats", "Between arms (MMRM): not applicable in a blinded view")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert not leaks(text) and not leaks(graph.get_attribute("innerHTML"))
    WebDriverWait(browser, 10).until(lambda b: any(r["action"] == "page-view" for r in lines(trail)))
    # the strip's PNG button, then plotly's camera
    btn = browser.find_element(By.CSS_SELECTOR, ".fig-export[data-graph='traj-graph'][data-format='png']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", btn)
    btn.click()
    browser.execute_script("document.querySelector('#traj-graph .modebar-btn[data-title^=\"Download plot\"]').click();")
    deadline = time.time() + 15
    while time.time() < deadline:
        exports = [r for r in lines(trail) if r["action"] == "export"]
        if len(exports) >= 2:
            break
        time.sleep(0.2)
    assert [(r["detail"]["format"], r["detail"]["size"], r["detail"]["reported_by"]) for r in exports] == \
        [("png", "screen", "browser"), ("png", "modebar", "browser")]
    assert all(r["blinded_view"] and r["view"] == "/trajectories?param=C3" and r["user"] == "" for r in exports)
    assert [r["detail"]["page"] for r in lines(trail) if r["action"] == "page-view"] == ["/trajectories"]
    assert not [e for e in severe_logs(browser) if "audit" in e["message"]]
