"""Shared fixtures: the real study, the real app, its callback endpoint, a live server, a browser."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("SM_FORMULA_ENGINE", "patsy")
# The start cache (data/startcache.py) is off in tests, servers started by them included: a test that changes
# the data layer in-process must see it; tests/test_startcache.py switches it on in its own state directory.
os.environ.setdefault("TRIAL_START_CACHE", "0")

from app import create_app  # noqa: E402
from data.study import DEFAULT_DATA, load_study  # noqa: E402
from static_markup import decode_all  # noqa: E402


@pytest.fixture(scope="session")
def study():
    return load_study(DEFAULT_DATA)


@pytest.fixture(scope="session")
def dash_app():
    return create_app(DEFAULT_DATA)


@pytest.fixture()
def client(dash_app):
    return dash_app.server.test_client()


@pytest.fixture()
def data_copy(tmp_path):
    """A writable copy of the locked LSO-088 folder."""
    dst = tmp_path / "lso088"
    shutil.copytree(DEFAULT_DATA, dst)
    return dst


class CallbackClient:
    """Posts to Dash's callback endpoint exactly as a browser does (or as a forger would)."""

    def __init__(self, app, client):
        self.app, self.client = app, client
        self._defaults = None

    def defaults(self) -> dict:
        """{"id.prop": value} of every component of the app's pages as its layout sets it: what a browser
        sends for an input the test does not name (a page callback reads all of the page's controls)."""
        if self._defaults is None:
            out = {}
            for comp in self.app.validation_layout._traverse():
                cid = getattr(comp, "id", None)
                if not isinstance(cid, str):
                    continue
                for prop in comp._prop_names:
                    if prop not in ("id", "children") and getattr(comp, prop, None) is not None:
                        out.setdefault(f"{cid}.{prop}", getattr(comp, prop))
            self._defaults = out
        return self._defaults

    @staticmethod
    def split_key(key: str) -> list[str]:
        # Dash names a multi-output callback "..a.x...b.y.." and a single one "a.x".
        return key[2:-2].split("...") if key.startswith("..") else [key]

    def key_for(self, output_id: str, prop: str) -> str:
        for key in self.app.callback_map:
            if f"{output_id}.{prop}" in self.split_key(key):
                return key
        raise KeyError(f"no callback outputs {output_id}.{prop}")

    def code_gate(self, prefix: str, inputs: dict) -> dict:
        """What the browser's "Show code" gate (assets/viewstate.js, figureTools.codeGate) sends the server:
        the view's values as one list while the panel is open, nothing while it is closed."""
        spec = self.app.callback_map[self.key_for(f"{prefix}-code-req", "data")]
        if inputs.get(f"{prefix}-code-collapse.is_open") is not True:
            return {f"{prefix}-code-req.data": None}
        defaults = self.defaults()
        names = [f"{i['id']}.{i['property']}" for i in spec["inputs"][1:]]
        return {f"{prefix}-code-req.data": [inputs[k] if k in inputs else defaults.get(k) for k in names]}

    def post(self, output_id: str, prop: str, inputs: dict, state: dict | None = None, changed: list | None = None):
        """inputs/state: {"id.prop": value}. Returns the Flask response."""
        if output_id.endswith("-code") and prop == "children" and any(k.endswith("-code-collapse.is_open")
                                                                    for k in inputs):
            inputs, changed = self.code_gate(output_id[:-len("-code")], inputs), None
        key = self.key_for(output_id, prop)
        spec = self.app.callback_map[key]
        outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in self.split_key(key)]
        given = {**inputs, **(state or {})}
        defaults = self.defaults()

        def value(k):  # a value the test names, else the layout's (as the browser would send it)
            return given[k] if k in given else defaults.get(k)

        in_list = []
        for item in spec["inputs"]:
            k = f"{item['id']}.{item['property']}"
            in_list.append({"id": item["id"], "property": item["property"], "value": value(k)})
        st_list = []
        for item in spec.get("state", []):
            k = f"{item['id']}.{item['property']}"
            st_list.append({"id": item["id"], "property": item["property"], "value": value(k)})
        body = {
            "output": key,
            "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": in_list,
            "state": st_list,
            "changedPropIds": changed if changed is not None else list(inputs)[:1],
        }
        return self.client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")

    def outputs(self, output_id, prop, inputs, state=None, changed=None) -> dict | None:
        """The response as {"id.prop": value}; None for a 204 (no update)."""
        r = self.post(output_id, prop, inputs, state, changed)
        assert r.status_code in (200, 204), (r.status_code, r.get_data(as_text=True)[:500])
        if r.status_code == 204:
            return None
        resp = r.get_json()["response"]
        return {f"{cid}.{p}": decode_all(v) for cid, props in resp.items() for p, v in props.items()}


@pytest.fixture()
def cb(dash_app, client):
    return CallbackClient(dash_app, client)


def default_store(study):
    from data import filters as F

    return F.default_state(study).to_store()


# -- live server and browser --------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc=None) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


@pytest.fixture(scope="session")
def live_server():
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Output to a file, not a pipe: a pipe nobody reads fills up and freezes the server.
    log = tempfile.NamedTemporaryFile("w+b", prefix="live-server-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/", proc=proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        os.unlink(log.name)


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium and chromedriver are required: `make test` installs them")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,720", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_window_size(1280, 720)
    _BROWSERS.append(driver)
    yield driver
    _BROWSERS.remove(driver)
    driver.quit()


_BROWSERS: list = []


@pytest.fixture(autouse=True, scope="module")
def _browser_left_blank():
    """The shared browser leaves each test module on a blank page with its console read: a page of the
    module's server, stopped at the module's end, must not log its failed requests into the next module's
    console assertions."""
    yield
    for driver in _BROWSERS:
        try:
            driver.get("about:blank")
            driver.get_log("browser")
        except Exception:  # a browser that died is the failing test's business, not this clean-up's
            pass


# -- figures the suite reports (fuzz, offline) -----------------------------------------------
REPORT: list[str] = []


def pytest_sessionfinish(session):
    """Under pytest-xdist (`make test`), each worker hands its figures to the controller."""
    out = getattr(session.config, "workeroutput", None)
    if out is not None:
        out["reliability_report"] = list(REPORT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    REPORT.extend(getattr(node, "workeroutput", {}).get("reliability_report", []))


def pytest_terminal_summary(terminalreporter):
    """Print the reliability figures at the end of every run, even when output is captured."""
    if REPORT:
        terminalreporter.section("reliability figures")
        for line in REPORT:
            terminalreporter.write_line(line)
