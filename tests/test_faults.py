"""Faults: a read-only dataset folder, and a worker killed mid-request."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

import app as app_module
from conftest import ROOT, free_port, wait_http
from data.study import DEFAULT_DATA

pytestmark = pytest.mark.slow


@pytest.fixture()
def readonly_data(tmp_path):
    """The dataset on a read-only bind mount (root can write through permission bits, not this)."""
    src = tmp_path / "src"
    shutil.copytree(DEFAULT_DATA, src)
    dst = tmp_path / "ro"
    dst.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True).returncode == 0 and \
        subprocess.run(["mount", "-o", "remount,bind,ro", str(dst)], capture_output=True).returncode == 0
    if not mounted:
        subprocess.run(["umount", str(dst)], capture_output=True)
        pytest.fail("could not make a read-only bind mount (needs root)")
    try:
        with pytest.raises(OSError):
            (dst / "probe").write_text("x")
        yield dst
    finally:
        subprocess.run(["umount", str(dst)], check=False)


@pytest.mark.browser
def test_every_page_works_on_a_read_only_folder(readonly_data, browser):
    port = free_port()
    log = readonly_data.parent / "server.log"  # a file, not a pipe that could fill up
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--data", str(readonly_data), "--port", str(port)],
                            cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        for page in app_module.PAGES:
            browser.get(f"http://127.0.0.1:{port}{page.PATH}")
            WebDriverWait(browser, 30).until(
                lambda b: b.find_elements(By.CSS_SELECTOR, "#page-content .js-plotly-plot .main-svg")
                or b.find_elements(By.CSS_SELECTOR, "#page-content table"))
            assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == [], page.PATH
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in log.read_text()


def test_killed_worker_is_replaced_and_next_request_succeeds():
    port = free_port()
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen([gunicorn, "app:server", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                             "--no-control-socket", "--timeout", "30"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/_dash-layout"
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=60, proc=proc)

        def workers():
            out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
            return {int(p) for p in out.split()}

        # The master answers as soon as one worker is up; wait for both (counting earlier was flaky).
        deadline = time.time() + 30
        while time.time() < deadline and len(workers()) < 2:
            time.sleep(0.1)
        before = workers()
        assert len(before) == 2
        # Requests in flight while every worker is SIGKILLed.
        errors = []
        threads = [threading.Thread(target=lambda: _get(url, errors)) for _ in range(6)]
        for t in threads:
            t.start()
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        for t in threads:
            t.join()
        deadline = time.time() + 30
        while time.time() < deadline and (len(workers()) < 2 or workers() & before):
            time.sleep(0.2)
        after = workers()
        assert len(after) == 2 and not (after & before)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(15)


def _get(url, errors):
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except OSError as exc:  # a request on a killed worker may fail; the next one must not
        errors.append(exc)
