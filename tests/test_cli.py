"""Command line and production server."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, free_port, wait_http


def test_help_lists_options():
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for opt in ("--data DIR", "--host", "--port", "--debug"):
        assert opt in r.stdout


def test_missing_folder_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--data", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a folder" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_gunicorn_serves_the_app_with_debug_off():
    port = free_port()
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen([gunicorn, "app:server", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                             "--no-control-socket"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=60, proc=proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout") as r:
            body = r.read().decode()
        assert "SIMULATED DATA" in body and "filter-state" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            html = r.read().decode()
        assert '"ui":false' in html.replace(" ", "")  # dev tools UI is off: debug is off
    finally:
        proc.terminate()
        proc.wait(15)
