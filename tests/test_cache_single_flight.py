"""Single flight through Redis (data/cache.py): a result many workers of two hosts miss at once is computed
once; the others wait for the shared entry. Without it (CACHE_SINGLE_FLIGHT_SECONDS=0) each computes."""

from __future__ import annotations

import threading
import time

import pytest

from data.cache import REDIS_PREFIX, ResultCache, cache_config
from test_cache import redis_url  # noqa: F401  (fixture: a private redis-server)


def _hosts(url, monkeypatch, n=4, wait=None):
    monkeypatch.setenv("CACHE_REDIS_URL", url)
    monkeypatch.setenv("CACHE_SECRET", "shared-by-both-hosts-" + "s" * 16)
    if wait is not None:
        monkeypatch.setenv("CACHE_SINGLE_FLIGHT_SECONDS", str(wait))
    return [ResultCache(None, "f" * 64, cache_config()) for _ in range(n)]  # workers of two hosts


def _burst(workers, fn, per_worker=4):
    out, threads = [], []
    for w in workers:
        for _ in range(per_worker):
            t = threading.Thread(target=lambda w=w: out.append(w.get_or_compute("traj-stats", ["IGG", 48], fn)))
            threads.append(t)
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_a_view_missed_by_every_worker_at_once_is_computed_once(redis_url, monkeypatch):
    url, _ = redis_url
    workers = _hosts(url, monkeypatch)
    calls = []

    def model():
        calls.append(1)
        time.sleep(0.4)  # a model fit
        return {"estimate": -1.25, "n": 30}

    out = _burst(workers, model)
    assert len(out) == 16 and all(v == {"estimate": -1.25, "n": 30} for v in out)
    assert len(calls) == 1, f"computed {len(calls)} times"
    assert sum(w.misses for w in workers) == 1
    assert sum(w.waited for w in workers) >= 1
    import redis

    r = redis.Redis.from_url(url)
    assert not list(r.scan_iter(REDIS_PREFIX + "computing:*")), "the claim is released"


def test_a_result_shared_between_the_miss_and_the_claim_is_not_computed_again(redis_url, monkeypatch):
    """A worker that missed just before another shared the result and released its claim wins the free claim:
    it reads the shared entry again before computing (the benchmark's burst of 24 clients saw two fits)."""
    url, _ = redis_url
    first, late = _hosts(url, monkeypatch, n=2)
    calls = []

    def model():
        calls.append(1)
        return {"estimate": -1.25, "n": 30}

    assert first.get_or_compute("traj-stats", ["IGG", 48], model) == {"estimate": -1.25, "n": 30}
    looked = []
    shared_get = late._shared_get

    def before_it_was_shared(k):  # the late worker's first look came before the first one shared it
        looked.append(k)
        return None if len(looked) == 1 else shared_get(k)

    monkeypatch.setattr(late, "_shared_get", before_it_was_shared)
    assert late.get_or_compute("traj-stats", ["IGG", 48], model) == {"estimate": -1.25, "n": 30}
    assert len(calls) == 1, f"computed {len(calls)} times"
    assert len(looked) == 2 and late.misses == 0


def test_without_single_flight_each_worker_computes(redis_url, monkeypatch):
    url, _ = redis_url
    workers = _hosts(url, monkeypatch, wait=0)
    calls = []

    def model():
        calls.append(1)
        time.sleep(0.4)
        return {"estimate": -1.25}

    _burst(workers, model, per_worker=1)
    assert len(calls) == 4


def test_a_failed_computation_releases_the_claim(redis_url, monkeypatch):
    url, _ = redis_url
    a, b = _hosts(url, monkeypatch, n=2)

    def broken():
        raise ValueError("bad fit")

    with pytest.raises(ValueError):
        a.get_or_compute("traj-stats", ["C3"], broken)
    t = time.perf_counter()
    assert b.get_or_compute("traj-stats", ["C3"], lambda: 7) == 7
    assert time.perf_counter() - t < 1.0, "the next worker does not wait for a claim nobody holds"


def test_a_stuck_claim_is_waited_for_a_bounded_time(redis_url, monkeypatch):
    """A claim left by a killed worker (or planted) delays a result by at most the wait, never blocks it."""
    url, _ = redis_url
    (w,) = _hosts(url, monkeypatch, n=1, wait=0.5)
    import redis

    r = redis.Redis.from_url(url)
    r.set(REDIS_PREFIX + "computing:" + w._key_of("traj-stats", ["DSDNA"]), "someone", px=60_000)
    t = time.perf_counter()
    assert w.get_or_compute("traj-stats", ["DSDNA"], lambda: 3) == 3
    assert 0.4 < time.perf_counter() - t < 2.0
