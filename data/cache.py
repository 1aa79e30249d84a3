"""Memoisation of derived results (summaries, model fits, AE tables, figures).

The locked frames themselves are never cached here: they live in memory once per
process. What is cached is derived, keyed by the dataset fingerprint, the result's
name and the *validated, normalised* arguments, so a key never depends on raw client
input and a changed dataset never serves stale results.

Two levels:
- in this process, the results themselves (Python objects, no pickling), in a bounded
  LRU of ``CACHE_THRESHOLD`` entries (default 2,000). A hit returns the very object that
  was computed: callers treat cached results as read-only. (The benchmark measured why:
  flask-caching's SimpleCache pickles every value, and unpickling a plotly Figure
  re-validates it, about 30 ms per hit for the Overview figure against under 1 ms now.)
- when ``CACHE_REDIS_URL`` is set, also Redis (flask-caching RedisCache, pickled), shared
  by workers and hosts; a result another worker computed is fetched from there once,
  then served from this process. If Redis goes away the app keeps serving by
  computing, and logs one warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from typing import Any, Callable

from flask_caching import Cache

log = logging.getLogger(__name__)
SIMPLE_THRESHOLD = 2000  # entries per process
LOCAL_IN_FRONT_OF_SHARED = 256  # entries kept in-process in front of Redis
_NOT_SHARED = {"SimpleCache", "simple", "NullCache", "null"}
_NO_CACHE = {"NullCache", "null"}


def cache_config() -> dict:
    url = os.environ.get("CACHE_REDIS_URL")
    if url:
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url, "CACHE_DEFAULT_TIMEOUT": 0,
                "CACHE_KEY_PREFIX": "trialdash:"}
    return {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": SIMPLE_THRESHOLD, "CACHE_DEFAULT_TIMEOUT": 0}


class ResultCache:
    """``get_or_compute(name, key, fn)``: one memo table for a whole app."""

    def __init__(self, server, fingerprint: str, config: dict | None = None):
        config = config or cache_config()
        kind = config.get("CACHE_TYPE", "SimpleCache")
        self.fingerprint = fingerprint
        self.cache = Cache(server, config=config)
        self.shared = kind not in _NOT_SHARED  # a backend other processes see (Redis)
        if kind in _NO_CACHE:
            self.local_max = 0
        elif self.shared:
            self.local_max = LOCAL_IN_FRONT_OF_SHARED
        else:
            self.local_max = int(config.get("CACHE_THRESHOLD", SIMPLE_THRESHOLD))
        self._local: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()  # the dev server is threaded
        self._warned = False
        self.hits = self.misses = 0

    def _key(self, name: str, key: Any) -> str:
        # JSON of normalised arguments: stable across processes (unlike hash()).
        raw = json.dumps([self.fingerprint, name, key], default=str, sort_keys=True)
        return name + ":" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    def _remember(self, k: str, value: Any) -> None:
        if not self.local_max:
            return
        with self._lock:
            self._local[k] = value
            self._local.move_to_end(k)
            while len(self._local) > self.local_max:
                self._local.popitem(last=False)

    def get_or_compute(self, name: str, key: Any, fn: Callable[[], Any]) -> Any:
        k = self._key(name, key)
        with self._lock:
            value = self._local.get(k)
            if value is not None:
                self._local.move_to_end(k)
        if value is None and self.shared:
            try:
                value = self.cache.get(k)
            except Exception as exc:  # the cache backend is down: compute instead
                self._warn(exc)
                value = None
            if value is not None:
                self._remember(k, value)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = fn()
        if value is None:
            return value
        self._remember(k, value)
        if self.shared:
            try:
                self.cache.set(k, value)
            except Exception as exc:
                self._warn(exc)
        return value

    def __len__(self) -> int:
        return len(self._local)

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("result cache unavailable (%s); computing without it", exc)
            self._warned = True
