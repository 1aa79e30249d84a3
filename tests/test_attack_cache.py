"""Attack run (issue 18), items 1, 8, 9, 10: the shared cache, expensive misses, memory, a hung Redis.

1. A value written to Redis by someone else must never run code or replace a result.
8. The small-multiples statistics must not be recomputed when only the highlighted patients change,
   and p-value adjustment must not run a full garbage collection.
9. The in-process cache is bounded by bytes.
10. A hung Redis (SIGSTOP) must not stop the app.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import signal
import sys
import threading
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from flask import Flask

from conftest import ROOT, CallbackClient, default_store
from data.study import DEFAULT_DATA
from test_cache import redis_url  # noqa: F401  (fixture: a private redis-server)

sys.path.insert(0, str(ROOT / "loadtest"))  # the emulator: the payloads a browser sends


class _Planted:
    """What the attacker wrote: a pickle whose loading runs a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _app(monkeypatch, url):
    from app import create_app

    monkeypatch.setenv("CACHE_REDIS_URL", url)
    monkeypatch.setenv("CACHE_SECRET", "a-key-only-the-app-holds-0123456789")  # as workers of one server share
    app = create_app(DEFAULT_DATA)
    return app, CallbackClient(app, app.server.test_client())


class _Session:
    """The loadtest emulator's session interface over a Flask test client."""

    def __init__(self, client):
        self.c = client

    def get(self, url):
        return _Resp(self.c.get(url))

    def post(self, url, data=None, headers=None):
        return _Resp(self.c.post(url, data=data, content_type="application/json"))


class _Resp:
    def __init__(self, r):
        self.status_code, self._r = r.status_code, r

    def json(self):
        return self._r.get_json()


def _all_page_responses(app) -> dict:
    """Every callback a browser fires on every page, for two filter states: {payload: response text}."""
    from emulator import FILTER_STATES, Emulator

    client = app.server.test_client()
    em = Emulator(_Session(client), "")
    out = {}
    for path in em.paths:
        for fs in FILTER_STATES[:2]:
            for p in em.page_callbacks(path, fs):
                body = json.dumps(p, sort_keys=True)
                r = client.post("/_dash-update-component", data=body, content_type="application/json")
                out[body] = (r.status_code, r.get_json() if r.status_code == 200 else None)  # JSON: key order aside
    return out


# -- 1. nothing executes, nothing is replaced --------------------------------------------------------
def test_a_pickle_planted_in_redis_never_runs(redis_url, monkeypatch, tmp_path):  # noqa: F811
    import redis

    url, _ = redis_url
    a, cb_a = _app(monkeypatch, url)
    store = default_store(a.server.config["STUDY"])
    first = cb_a.outputs("ov-design", "figure", {"filter-state.data": store})
    r = redis.Redis.from_url(url)
    keys = r.keys("*")
    assert keys, "the app stored nothing in Redis"
    marker = tmp_path / "ran"
    for k in keys:  # the attack: overwrite every cached value with a pickle that runs a command
        r.set(k, b"!" + pickle.dumps(_Planted(str(marker))))
    b, cb_b = _app(monkeypatch, url)  # another worker, fresh memory
    again = cb_b.outputs("ov-design", "figure", {"filter-state.data": store})
    assert not marker.exists(), "a value from Redis was unpickled and ran"
    assert again == first


def test_a_result_moved_to_another_key_is_not_served(redis_url, monkeypatch):  # noqa: F811
    import redis

    url, _ = redis_url
    a, cb_a = _app(monkeypatch, url)
    store = default_store(a.server.config["STUDY"])
    r = redis.Redis.from_url(url)
    outs = {}
    for arms in (["BEL"], ["IL2"]):
        before = set(r.keys("*"))
        outs[arms[0]] = cb_a.outputs("ov-design", "figure", {"filter-state.data": {**store, "arms": arms}})
        new = set(r.keys("*")) - before
        outs[arms[0] + "-keys"] = sorted(new)
    # The attack: swap the stored results of the two filters (valid entries, wrong keys).
    for kb, ki in zip(outs["BEL-keys"], outs["IL2-keys"]):
        vb, vi = r.get(kb), r.get(ki)
        r.set(kb, vi)
        r.set(ki, vb)
    b, cb_b = _app(monkeypatch, url)
    got = cb_b.outputs("ov-design", "figure", {"filter-state.data": {**store, "arms": ["IL2"]}})
    assert got == outs["IL2"]


def test_every_page_is_identical_from_a_worker_that_reads_redis(redis_url, monkeypatch):  # noqa: F811
    url, _ = redis_url
    a, _ = _app(monkeypatch, url)
    computed = _all_page_responses(a)
    b, _ = _app(monkeypatch, url)
    cache_b = b.server.config["RESULT_CACHE"]
    shared = _all_page_responses(b)
    assert shared == computed
    assert {status for status, _ in computed.values()} <= {200, 204}
    assert cache_b.hits > 0 and cache_b.rejected == 0
    assert cache_b.misses == 0, "some results were not shared through Redis"


def test_entries_in_redis_are_not_pickles(redis_url, monkeypatch):  # noqa: F811
    import redis

    url, _ = redis_url
    a, cb = _app(monkeypatch, url)
    cb.outputs("ov-design", "figure", {"filter-state.data": default_store(a.server.config["STUDY"])})
    r = redis.Redis.from_url(url)
    for k in r.keys("*"):
        v = r.get(k)
        assert not v.startswith(b"!") and b"\x80\x04" not in v[:8]
        with pytest.raises(Exception):
            pickle.loads(v)


# -- 10. a hung Redis ----------------------------------------------------------------------------------
def test_a_hung_redis_does_not_stop_the_app(redis_url, monkeypatch):  # noqa: F811
    url, proc = redis_url
    monkeypatch.setenv("CACHE_REDIS_RETRY_SECONDS", "2")
    a, cb = _app(monkeypatch, url)
    store = default_store(a.server.config["STUDY"])
    assert cb.outputs("ov-design", "figure", {"filter-state.data": store}) is not None
    os.kill(proc.pid, signal.SIGSTOP)  # the attack: Redis hangs (75 s stopped nothing for 60 s)
    try:
        times, results = [], []

        def requests():
            for arms in (["IL2"], ["BEL"], ["BELIL2"], ["BEL", "IL2"]):
                t = time.monotonic()
                results.append(cb.outputs("ov-design", "figure", {"filter-state.data": {**store, "arms": arms}}))
                times.append(time.monotonic() - t)

        th = threading.Thread(target=requests, daemon=True)
        th.start()
        th.join(30)
        assert not th.is_alive(), "requests hang while Redis is stopped"
        assert all(r is not None for r in results)
        # The first request pays one short timeout; then the breaker skips Redis entirely.
        assert times[0] < 5 and sum(times[1:]) < times[0] + 3, times
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    time.sleep(2.2)  # the breaker closes; Redis is used again
    import redis

    before = len(redis.Redis.from_url(url).keys("*"))
    cb.outputs("ov-design", "figure", {"filter-state.data": {**store, "arms": ["BELIL2", "IL2"]}})
    assert len(redis.Redis.from_url(url).keys("*")) > before


# -- 9. bounded by bytes -------------------------------------------------------------------------------
def test_the_local_cache_is_bounded_by_bytes():
    from data.cache import ResultCache

    c = ResultCache(Flask(__name__), "f" * 64, {"CACHE_TYPE": "SimpleCache", "CACHE_MAX_BYTES": 20 << 20})
    for i in range(60):  # 60 results of about 1.6 MB each: 96 MB if nothing is evicted
        c.get_or_compute("frame", i, lambda i=i: pd.DataFrame({"a": np.arange(100_000.0) + i,
                                                               "b": np.arange(100_000.0)}))
    assert c.bytes <= 20 << 20
    assert 8 <= len(c) <= 13
    c.get_or_compute("frame", 59, lambda: pytest.fail("the most recent result was evicted"))


def test_size_estimates_are_not_far_below_the_real_size():
    from data.cache import approx_size

    df = pd.DataFrame({"x": np.arange(1_000_000.0), "s": ["AE term %d" % (i % 50) for i in range(1_000_000)]})
    assert approx_size(df) >= 8_000_000
    fig = go.Figure(go.Scatter(x=np.arange(100_000.0), y=np.arange(100_000.0)))
    assert approx_size(fig) >= 1_600_000
    assert approx_size((fig, [df])) >= 9_600_000


def test_hundreds_of_filter_states_stay_within_the_bound(monkeypatch):
    """The attack's cache fill (distinct valid filter states, each a miss), on a 1 MB budget."""
    from app import create_app

    monkeypatch.delenv("CACHE_REDIS_URL", raising=False)
    monkeypatch.setenv("CACHE_MAX_MB", "1")
    app = create_app(DEFAULT_DATA)
    cache = app.server.config["RESULT_CACHE"]
    cb = CallbackClient(app, app.server.test_client())
    study = app.server.config["STUDY"]
    weeks = [v for v, _ in study.visits]
    n = 0
    for i, lo in enumerate(weeks[:6]):
        for hi in weeks[i + 1:]:
            for arms in ([], ["BELIL2"]):
                store = {"arms": arms, "weeks": [lo, hi], "patients": []}
                assert cb.outputs("ov-design", "figure", {"filter-state.data": store}) is not None
                n += 1
    assert n > 80 and cache.misses >= n
    assert cache.bytes <= 1 << 20 and cache.evictions > 0


# -- 8. an expensive callback that never cached ---------------------------------------------------------
def test_small_multiple_statistics_do_not_depend_on_highlighted_patients(monkeypatch):
    from app import create_app
    from components import trajectories as T

    monkeypatch.delenv("CACHE_REDIS_URL", raising=False)
    calls = []
    real = T.param_stats
    monkeypatch.setattr(T, "param_stats", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    app = create_app(DEFAULT_DATA)
    cb = CallbackClient(app, app.server.test_client())
    study = app.server.config["STUDY"]
    codes = list(study.params)[:3]
    store = default_store(study)
    controls = {"traj-mode.value": "multi", "traj-param.value": codes[0], "traj-params.value": codes,
                "traj-scale.value": "chg", "traj-opts.value": [], "traj-patmode.value": "highlight",
                "traj-visit.value": "end", "traj-ref.value": study.arm_codes[0], "traj-adjust.value": "holm",
                "traj-cov.value": "UN", "traj-ddfm.value": "kr"}
    first = cb.outputs("traj-stats", "children", {"filter-state.data": store, **controls})
    assert first is not None and len(calls) == len(codes)
    for pts in (["LSO-088-003"], ["LSO-088-003", "LSO-088-017"], ["LSO-088-021"]):
        out = cb.outputs("traj-stats", "children", {"filter-state.data": {**store, "patients": pts}, **controls})
        assert out is not None
    assert len(calls) == len(codes), "highlighting patients refitted the models"


def test_p_value_adjustment_runs_no_garbage_collection(monkeypatch):
    from analysis.multiplicity import adjust

    collections = []
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(a) or 0)
    adjust([0.01, 0.04, 0.03, None, 0.2], "holm")
    adjust([0.01, 0.04, 0.03, float("nan"), 0.2], "fdr_bh")
    assert collections == []


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_adjusted_p_values_equal_statsmodels(method):
    from statsmodels.stats.multitest import multipletests

    from analysis.multiplicity import adjust

    rng = np.random.default_rng(18)
    cases = [rng.random(n) ** k for n in (1, 2, 3, 5, 9, 40) for k in (1, 6)]
    cases += [np.array([0.01, 0.01, 0.02, 0.02, 0.5, 1.0, 0.0]), np.array([0.05] * 6), np.array([1e-300, 0.999, 1.0])]
    for p in cases:
        want = multipletests(p, method=method)[1]
        got = adjust(list(p), method)
        assert np.array_equal(np.array(got), want), (method, p, got, want)
    mixed = [0.02, None, 0.01, float("nan"), 0.03]
    want = multipletests([0.02, 0.01, 0.03], method=method)[1]
    got = adjust(mixed, method)
    assert got[1] is None and got[3] is None and [got[0], got[2], got[4]] == list(want)
