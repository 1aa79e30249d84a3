"""Attack run (issue 18), items 9 and 11 against the production server (gunicorn with gunicorn.conf.py).

11. Two slow clients (request bodies trickling in) took every sync worker: nothing served for 60 s.
9.  Workers are recycled (--max-requests with jitter) without a failed request.
"""

from __future__ import annotations

import gc
import os
import runpy
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import ROOT, free_port, wait_http

pytestmark = pytest.mark.slow
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def _workers(master: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def _start(port, tmp_path, *extra):
    """The production server as documented: gunicorn reads ./gunicorn.conf.py from the project folder."""
    log = tmp_path / f"gunicorn-{port}.log"
    proc = subprocess.Popen([GUNICORN, "app:server", "--bind", f"127.0.0.1:{port}", *extra], cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/", timeout=90, proc=proc)
    deadline = time.time() + 30
    while time.time() < deadline and len(_workers(proc.pid)) < 2:
        time.sleep(0.1)
    return proc, log


def _slow_client(port, head: bytes, stop: threading.Event):
    """Sends ``head`` then one byte every half second until told to stop: a client on a bad line."""
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(head)
        while not stop.wait(0.5):
            try:
                s.sendall(b"x")
            except OSError:
                return
    finally:
        s.close()


def test_production_config():
    cfg = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert cfg["worker_class"] == "gthread" and cfg["threads"] >= 4
    assert cfg["max_requests"] > 0 and 0 < cfg["max_requests_jitter"] < cfg["max_requests"]
    assert cfg["preload_app"] is True
    # the preloaded objects are kept out of the workers' full garbage collections
    try:
        cfg["pre_fork"](None, None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    make = (ROOT / "Makefile").read_text()
    serve = make[make.index("serve-prod:"):].split("\n\n")[0]
    assert "-c gunicorn.conf.py" in serve


def test_slow_clients_do_not_take_the_app_down(tmp_path):
    port = free_port()
    proc, log = _start(port, tmp_path)
    stop = threading.Event()
    body = (b"POST /_dash-update-component HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{")
    header = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    slow = [threading.Thread(target=_slow_client, args=(port, h, stop), daemon=True)
            for h in (body, body, header, header)]
    try:
        for t in slow:
            t.start()
        time.sleep(1.0)  # every slow client is connected and holding whatever it holds
        times, failures = [], []
        for _ in range(12):
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=5) as r:
                    assert r.status == 200
            except OSError as exc:
                failures.append(repr(exc))
            times.append(time.monotonic() - t0)
            time.sleep(0.3)
        assert failures == [], f"{len(failures)} of 12 requests failed while 4 clients trickled: {failures[:2]}"
        print(f"SLOW CLIENTS: 4 trickling, 12 requests, max {max(times) * 1000:.0f} ms")
    finally:
        stop.set()
        proc.terminate()
        proc.wait(20)


def test_workers_are_recycled_without_a_failed_request(tmp_path):
    port = free_port()
    proc, log = _start(port, tmp_path, "--max-requests", "20", "--max-requests-jitter", "5")
    try:
        first = _workers(proc.pid)
        failures = 0
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=20) as r:
                    failures += r.status != 200
            except OSError:
                failures += 1
        assert failures == 0
        deadline = time.time() + 20
        while time.time() < deadline and not (_workers(proc.pid) - first):
            time.sleep(0.2)
        assert _workers(proc.pid) - first, "no worker was replaced after 120 requests with --max-requests 20"
    finally:
        proc.terminate()
        proc.wait(20)
    assert "Traceback" not in log.read_text()
