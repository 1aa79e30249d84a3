"""Derived-result cache: memoises, is bounded, shares through Redis, survives Redis going away.

(The attacks on it — planted pickles, a hung Redis, filling it — are in test_attack_cache.py.)"""

import logging
import shutil
import subprocess
import time

import pytest
from flask import Flask

from conftest import free_port
from data.cache import SIMPLE_THRESHOLD, ResultCache, cache_config


def make(fingerprint="f" * 64, config=None):
    return ResultCache(Flask(__name__), fingerprint, config)


def test_memoises_by_name_and_key():
    c = make()
    calls = []
    f = lambda: calls.append(1) or {"v": len(calls)}  # noqa: E731
    assert c.get_or_compute("x", ("BEL", 48.0), f) == {"v": 1}
    assert c.get_or_compute("x", ("BEL", 48.0), f) == {"v": 1}
    assert c.get_or_compute("x", ("IL2", 48.0), f) == {"v": 2}
    assert c.get_or_compute("y", ("BEL", 48.0), f) == {"v": 3}
    assert (c.hits, c.misses) == (1, 3)


def test_a_new_dataset_fingerprint_never_sees_old_results():
    flask_app = Flask(__name__)
    a = ResultCache(flask_app, "a" * 64, {"CACHE_TYPE": "SimpleCache"})
    assert a.get_or_compute("x", 1, lambda: "old") == "old"
    a.fingerprint = "b" * 64
    assert a.get_or_compute("x", 1, lambda: "new") == "new"


def test_simple_cache_is_bounded(monkeypatch):
    monkeypatch.delenv("CACHE_REDIS_URL", raising=False)
    cfg = cache_config()
    assert cfg["CACHE_TYPE"] == "SimpleCache" and cfg["CACHE_THRESHOLD"] == SIMPLE_THRESHOLD
    c = make(config={**cfg, "CACHE_THRESHOLD": 50})
    for i in range(500):
        c.get_or_compute("x", i, lambda i=i: i)
    assert len(c) == 50 and c.evictions == 450


@pytest.fixture()
def redis_url():
    exe = shutil.which("redis-server")
    if not exe:
        pytest.fail("redis-server is required: `make test` installs it")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    r = redis.Redis(port=port)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", proc
    proc.kill()
    proc.wait()


def test_workers_share_results_through_redis(redis_url, monkeypatch):
    url, _ = redis_url
    monkeypatch.setenv("CACHE_REDIS_URL", url)
    monkeypatch.setenv("CACHE_SECRET", "s" * 32)  # what workers of one server share (or CACHE_SECRET across hosts)
    assert cache_config()["CACHE_TYPE"] == "RedisCache"
    w1, w2 = make(), make()  # two workers, two processes' worth of state
    assert w1.get_or_compute("summary", ["IGG", 48], lambda: {"mean": 1.5}) == {"mean": 1.5}
    assert w2.get_or_compute("summary", ["IGG", 48], lambda: pytest.fail("should come from Redis")) == {"mean": 1.5}


def test_app_keeps_serving_when_redis_goes_away(redis_url, monkeypatch, caplog):
    url, proc = redis_url
    monkeypatch.setenv("CACHE_REDIS_URL", url)
    from app import create_app
    from data.study import DEFAULT_DATA
    from conftest import CallbackClient, default_store

    app = create_app(DEFAULT_DATA)
    cb = CallbackClient(app, app.server.test_client())
    store = default_store(app.server.config["STUDY"])
    assert cb.outputs("ov-design", "figure", {"filter-state.data": store}) is not None
    proc.kill()
    proc.wait()
    with caplog.at_level(logging.WARNING, logger="data.cache"):
        out1 = cb.outputs("ov-design", "figure", {"filter-state.data": {**store, "arms": ["IL2"]}})
        out2 = cb.outputs("ov-design", "figure", {"filter-state.data": {**store, "arms": ["BEL"]}})
    assert out1 is not None and out2 is not None
    warnings = [r for r in caplog.records if "result cache unavailable" in r.getMessage()]
    assert len(warnings) == 1


# -- in-process single flight and prefetch ------------------------------------------------------------------
def test_a_prefetch_computes_once_in_the_background_and_a_request_meanwhile_waits_for_it():
    import threading

    c = make()
    started, release, calls = threading.Event(), threading.Event(), []

    def slow():
        calls.append(1)
        started.set()
        release.wait(5)
        return {"view": "next patient"}

    assert c.prefetch("v", ("P2",), slow, delay=0)
    assert started.wait(5)
    assert not c.prefetch("v", ("P3",), slow, delay=0)  # one at a time
    got = []
    asker = threading.Thread(target=lambda: got.append(c.get_or_compute("v", ("P2",), lambda: calls.append(1))))
    asker.start()
    time.sleep(0.2)
    assert got == []  # waiting for the prefetch, not computing beside it
    release.set()
    asker.join(5)
    assert got == [{"view": "next patient"}] and len(calls) == 1
    assert (c.misses, c.waited) == (1, 1)
    for _ in range(50):
        if c.prefetched:
            break
        time.sleep(0.02)
    assert c.prefetched == 1
    assert not c.prefetch("v", ("P2",), slow, delay=0)  # kept already
    assert c.get_or_compute("v", ("P2",), lambda: calls.append(1)) == {"view": "next patient"} and len(calls) == 1


def test_a_failed_prefetch_is_logged_and_the_request_computes(caplog):
    c = make()

    def broken():
        raise ValueError("no such panel")

    with caplog.at_level(logging.ERROR, logger="data.cache"):
        assert c.prefetch("v", 1, broken, delay=0)
        for _ in range(100):
            if not c._prefetching:
                break
            time.sleep(0.02)
    assert "prefetch of v failed" in caplog.text
    assert c.get_or_compute("v", 1, lambda: "computed") == "computed"
    assert c.prefetch("w", 1, broken, delay=0)  # the next prefetch may start


def test_no_prefetch_without_a_cache_to_keep_it():
    c = make(config={"CACHE_TYPE": "NullCache"})
    assert not c.prefetch("v", 1, lambda: "x", delay=0)
    assert c.get_or_compute("v", 1, lambda: "x") == "x" and c.misses == 1
