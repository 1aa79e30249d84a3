"""Memoisation of derived results (summaries, model fits, AE tables) with flask-caching.

The locked frames themselves are never cached here: they live in memory once per
process. What is cached is small and derived, keyed by the dataset fingerprint,
the result's name and the *validated, normalised* arguments, so a key never
depends on raw client input and a changed dataset never serves stale results.

SimpleCache (bounded, per process) by default; RedisCache, shared by workers and
hosts, when ``CACHE_REDIS_URL`` is set. If Redis goes away the app keeps serving
by computing, and logs one warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Callable

from flask_caching import Cache

log = logging.getLogger(__name__)
SIMPLE_THRESHOLD = 2000  # entries per process; SimpleCache evicts beyond this
_MISS = object()


def cache_config() -> dict:
    url = os.environ.get("CACHE_REDIS_URL")
    if url:
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url, "CACHE_DEFAULT_TIMEOUT": 0,
                "CACHE_KEY_PREFIX": "trialdash:"}
    return {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": SIMPLE_THRESHOLD, "CACHE_DEFAULT_TIMEOUT": 0}


class ResultCache:
    """``get_or_compute(name, key, fn)``: one memo table for a whole app."""

    def __init__(self, server, fingerprint: str, config: dict | None = None):
        self.fingerprint = fingerprint
        self.cache = Cache(server, config=config or cache_config())
        self._warned = False
        self.hits = self.misses = 0

    def _key(self, name: str, key: Any) -> str:
        # JSON of normalised arguments: stable across processes (unlike hash()).
        raw = json.dumps([self.fingerprint, name, key], default=str, sort_keys=True)
        return name + ":" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    def get_or_compute(self, name: str, key: Any, fn: Callable[[], Any]) -> Any:
        k = self._key(name, key)
        try:
            value = self.cache.get(k)
        except Exception as exc:  # the cache backend is down: compute instead
            self._warn(exc)
            value = None
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = fn()
        try:
            self.cache.set(k, value)
        except Exception as exc:
            self._warn(exc)
        return value

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("result cache unavailable (%s); computing without it", exc)
            self._warned = True
