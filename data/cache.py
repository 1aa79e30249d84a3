"""Memoisation of derived results (summaries, model fits, AE tables, figures).

The locked frames themselves are never cached here: they live in memory once per
process. What is cached is derived, keyed by the dataset fingerprint, the result's
name and the *validated, normalised* arguments, so a key never depends on raw client
input and a changed dataset never serves stale results.

Two levels:
- in this process, the results themselves (Python objects, no serialising), in an LRU
  bounded by an estimate of their size in bytes (``CACHE_MAX_MB``, default 256 per
  worker) and by entry count (``CACHE_THRESHOLD``, default 2,000). A hit returns the very
  object that was computed: callers treat cached results as read-only. (Unpickling a
  plotly Figure on every hit cost about 30 ms for the Overview figure, against under 1 ms.)
- when ``CACHE_REDIS_URL`` is set, also Redis, shared by workers and hosts. **Redis is a
  trust boundary**: anyone who can write to it could, with pickled values (cachelib's
  serializer unpickles any value starting with ``!``), run code in the workers. So entries
  are tagged JSON (``data.codec``: data that cannot execute), signed with HMAC-SHA256 under
  a key only the app holds (``CACHE_SECRET``, or a random key per server) over the entry's
  Redis key and bytes; an entry whose signature does not verify is ignored and recomputed,
  so a value can neither run code nor be replaced, nor moved to another key. Redis calls
  have short socket timeouts (``CACHE_REDIS_TIMEOUT``, 0.25 s) and a circuit breaker:
  after a failure Redis is skipped for ``CACHE_REDIS_RETRY_SECONDS`` (30 s) and the app
  serves by computing, with one warning per outage.
- with Redis, **single flight**: the first worker of any host to miss a result claims it (``SET NX`` with
  an expiry) and computes it; workers that miss it meanwhile wait for the shared entry (at most
  ``CACHE_SINGLE_FLIGHT_SECONDS``, 30 s; 0 switches it off), so a model view asked for by many users of
  several hosts at once is computed once. A claim that is never released (a killed worker, or planted)
  delays a result by at most that wait.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from data import codec

log = logging.getLogger(__name__)
SIMPLE_THRESHOLD = 2000  # entries per process
DEFAULT_MAX_MB = 256  # estimated bytes of results per process
MAX_SHARED_BYTES = 32 << 20  # larger results stay in the process that computed them
ENTRY_MAGIC = b"TD1"
REDIS_PREFIX = "trialdash:"
REDIS_TTL = 7 * 24 * 3600
_NOT_SHARED = {"SimpleCache", "simple", "NullCache", "null"}
# Deletes the "computing" claim only if it is still ours (it may have expired and been taken by another).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_NO_CACHE = {"NullCache", "null"}
LOCAL_WAIT_SECONDS = 30.0  # how long a thread waits for the same result another thread of its process computes
PREFETCH_DELAY = 0.25  # s before a prefetch starts: the answer that asked for it is sent and drawn first


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def cache_config() -> dict:
    url = os.environ.get("CACHE_REDIS_URL")
    max_bytes = int(_env_float("CACHE_MAX_MB", DEFAULT_MAX_MB) * (1 << 20))
    if url:
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url, "CACHE_MAX_BYTES": max_bytes,
                "CACHE_THRESHOLD": SIMPLE_THRESHOLD}
    return {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": SIMPLE_THRESHOLD, "CACHE_MAX_BYTES": max_bytes}


# -- size estimate ----------------------------------------------------------------------------
def approx_size(value: Any, _budget: int = 200_000) -> int:
    """Bytes a cached result holds, estimated: frames and arrays by their buffers, figures,
    components and containers by walking them (at most ``_budget`` nodes; the rest extrapolated)."""
    import pandas as pd

    seen: set[int] = set()
    total = 0
    stack = [value]
    nodes = 0
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        nodes += 1
        if nodes > _budget:  # a pathological object: count what is left at the average so far
            total += int(total / nodes * len(stack))
            break
        if isinstance(x, (pd.DataFrame, pd.Series, pd.Index)):
            try:
                mem = x.memory_usage(deep=True, index=True) if not isinstance(x, pd.Index) else x.memory_usage(deep=True)
                total += int(mem.sum()) if hasattr(mem, "sum") else int(mem)
            except Exception:
                total += sys.getsizeof(x)
            continue
        if isinstance(x, np.ndarray):
            total += x.nbytes + 112
            if x.dtype.kind == "O":
                stack.extend(x.ravel().tolist()[:_budget])
            continue
        if isinstance(x, (str, bytes, int, float, bool)) or x is None:
            total += sys.getsizeof(x)
            continue
        total += sys.getsizeof(x, 64)
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple, set, frozenset)):
            stack.extend(x)
        elif hasattr(x, "_data") and hasattr(x, "_layout") and hasattr(x, "to_plotly_json"):  # plotly Figure
            stack.append(x._data)
            stack.append(x._layout)
        elif hasattr(x, "to_plotly_json") and hasattr(x, "_prop_names"):  # Dash component
            stack.append(x.to_plotly_json().get("props", {}))
        elif dataclasses.is_dataclass(x):
            stack.extend(getattr(x, f.name) for f in dataclasses.fields(x))
        elif hasattr(x, "__dict__"):
            stack.append(vars(x))
    return total


# -- the signing key ----------------------------------------------------------------------------
def _secret() -> tuple[bytes, bool]:
    """(key, configured). Without CACHE_SECRET a random key: shared by the workers of one
    `gunicorn --preload` server (the master makes it before forking), not by other hosts."""
    path = os.environ.get("CACHE_SECRET_FILE")
    if path:
        with open(path, "rb") as fh:
            key = fh.read(4096).strip()
        if len(key) >= 16:
            return key, True
    env = os.environ.get("CACHE_SECRET", "")
    if len(env) >= 16:
        return env.encode(), True
    return os.urandom(32), False


class ResultCache:
    """``get_or_compute(name, key, fn)``: one memo table for a whole app."""

    def __init__(self, server=None, fingerprint: str = "", config: dict | None = None):
        config = config or cache_config()
        kind = config.get("CACHE_TYPE", "SimpleCache")
        self.fingerprint = fingerprint
        self.shared = kind not in _NOT_SHARED  # a backend other processes see (Redis)
        self.local_max = 0 if kind in _NO_CACHE else int(config.get("CACHE_THRESHOLD", SIMPLE_THRESHOLD))
        self.max_bytes = 0 if kind in _NO_CACHE else int(config.get("CACHE_MAX_BYTES", DEFAULT_MAX_MB << 20))
        self._local: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.bytes = 0
        self._lock = threading.Lock()  # gthread workers and the dev server are threaded
        self.hits = self.misses = self.evictions = 0
        self.rejected = 0  # shared entries whose signature or content did not verify
        self.waited = 0  # results another worker or host computed while this one waited
        self.claim_seconds = 0.0
        self._inflight: dict[str, threading.Event] = {}  # results a thread of this process is computing
        self._prefetching = False
        self.prefetched = 0
        self._redis = None
        self._down_until = 0.0
        self._outage = False
        if self.shared:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            timeout = _env_float("CACHE_REDIS_TIMEOUT", 0.25)
            self.retry_after = _env_float("CACHE_REDIS_RETRY_SECONDS", 30.0)
            # How long a worker waits for a result another one is computing (then computes it itself);
            # 0 = every worker computes its own misses.
            self.claim_seconds = _env_float("CACHE_SINGLE_FLIGHT_SECONDS", 30.0)
            # No retries: one short attempt, then the circuit breaker decides.
            self._redis = redis.Redis.from_url(config["CACHE_REDIS_URL"], socket_timeout=timeout,
                                               socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
                                               health_check_interval=0)
            self._key, configured = _secret()
            if not configured:
                log.info("CACHE_SECRET not set: Redis entries are signed with a key of this server only "
                         "(its workers share them; other hosts do not)")

    # -- keys -------------------------------------------------------------------------------
    def _key_of(self, name: str, key: Any) -> str:
        # JSON of normalised arguments: stable across processes (unlike hash()).
        raw = json.dumps([self.fingerprint, name, key], default=str, sort_keys=True)
        return name + ":" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    _key = _key_of  # the name tests and tools used

    # -- the local level --------------------------------------------------------------------
    def _remember(self, k: str, value: Any) -> None:
        if not self.local_max or not self.max_bytes:
            return
        size = approx_size(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._local.pop(k, None)
            if old is not None:
                self.bytes -= old[1]
            self._local[k] = (value, size)
            self.bytes += size
            while self._local and (self.bytes > self.max_bytes or len(self._local) > self.local_max):
                _, (_, s) = self._local.popitem(last=False)
                self.bytes -= s
                self.evictions += 1

    def _local_get(self, k: str):
        with self._lock:
            hit = self._local.get(k)
            if hit is not None:
                self._local.move_to_end(k)
                return hit[0]
        return None

    # -- the shared level -------------------------------------------------------------------
    def _available(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + self.retry_after
        if not self._outage:
            self._outage = True
            log.warning("result cache unavailable (%s: %s); computing without it, next try in %.0f s",
                        type(exc).__name__, exc, self.retry_after)

    def _ok(self) -> None:
        if self._outage:
            self._outage = False
            log.warning("result cache available again")

    def _mac(self, rkey: str, body: bytes) -> bytes:
        return hmac.new(self._key, ENTRY_MAGIC + rkey.encode() + b"\0" + body, hashlib.sha256).digest()

    def _shared_get(self, k: str):
        import redis

        if not self._available():
            return None
        rkey = REDIS_PREFIX + k
        try:
            # GETRANGE: never more than an entry can be, whatever someone stored there.
            raw = self._redis.getrange(rkey, 0, MAX_SHARED_BYTES + 64)
        except redis.ResponseError:  # not a string value: not ours
            self.rejected += 1
            return None
        except Exception as exc:  # down, hung (timeout), refused: compute instead
            self._failed(exc)
            return None
        self._ok()
        if not raw:
            return None
        n = len(ENTRY_MAGIC)
        if len(raw) < n + 32 or raw[:n] != ENTRY_MAGIC:
            self.rejected += 1
            return None
        mac, body = raw[n:n + 32], raw[n + 32:]
        if not hmac.compare_digest(mac, self._mac(rkey, body)):
            self.rejected += 1
            return None
        try:
            return codec.decode(body)
        except Exception as exc:  # signed by us, so a codec gap: recompute, say it once
            self.rejected += 1
            log.debug("shared cache entry %s not decodable: %s", k, exc)
            return None

    def _shared_set(self, k: str, value: Any) -> None:
        if not self._available():
            return
        try:
            body = codec.encode(value)
        except codec.CodecError as exc:  # a type the codec does not carry: this process only
            log.debug("result %s not shared: %s", k.split(":")[0], exc)
            return
        if len(body) > MAX_SHARED_BYTES:
            return
        rkey = REDIS_PREFIX + k
        try:
            self._redis.set(rkey, ENTRY_MAGIC + self._mac(rkey, body) + body, ex=REDIS_TTL)
        except Exception as exc:
            self._failed(exc)
            return
        self._ok()

    # -- one computation across workers and hosts -------------------------------------------
    def _claim(self, k: str) -> str | None:
        """A token when this process may compute ``k`` (nobody else is), None when another one is."""
        if not self._available():
            return ""  # no Redis: compute here
        token = os.urandom(8).hex()
        try:
            got = self._redis.set(REDIS_PREFIX + "computing:" + k, token, nx=True, px=int(self.claim_seconds * 1000))
        except Exception as exc:
            self._failed(exc)
            return ""
        return token if got else None

    def _release(self, k: str, token: str) -> None:
        if not token or not self._available():
            return
        try:
            self._redis.eval(_RELEASE, 1, REDIS_PREFIX + "computing:" + k, token)
        except Exception as exc:
            self._failed(exc)

    def _await_shared(self, k: str):
        """The value another worker or host is computing, once it is shared (None after the wait)."""
        deadline = time.monotonic() + self.claim_seconds
        step = 0.02
        while time.monotonic() < deadline and self._available():
            time.sleep(step)
            step = min(step * 1.5, 0.25)
            value = self._shared_get(k)
            if value is not None:
                return value
            try:
                if not self._redis.exists(REDIS_PREFIX + "computing:" + k):
                    return self._shared_get(k)  # finished (or gave up) without sharing: compute here
            except Exception as exc:
                self._failed(exc)
                return None
        return None

    # -- the API ----------------------------------------------------------------------------
    def get_or_compute(self, name: str, key: Any, fn: Callable[[], Any]) -> Any:
        k = self._key_of(name, key)
        value = self._local_get(k)
        if value is None and self.shared:
            value = self._shared_get(k)
            if value is None and self.claim_seconds > 0:
                # Single flight: the first worker of any host to miss computes; the others wait for its
                # entry (a view requested by many users at once is computed once, not once per worker).
                token = self._claim(k)
                if token is None:
                    value = self._await_shared(k)
                    if value is not None:
                        self.waited += 1
                else:
                    try:
                        # Shared between the look above and the claim? (whoever computed it shares it, then
                        # releases its claim, so a late miss can win a free claim.) Look again first.
                        value = self._shared_get(k) if token else None
                        if value is None:
                            return self._compute(k, fn)
                    finally:
                        self._release(k, token)
            if value is not None:
                self._remember(k, value)
        if value is not None:
            self.hits += 1
            return value
        return self._compute(k, fn)

    def _compute(self, k: str, fn: Callable[[], Any]) -> Any:
        if not self.local_max or not self.max_bytes:
            return self._compute_now(k, fn)
        # One computation per process: a thread asking for what another thread (a prefetch) is computing
        # waits for its result rather than computing it a second time beside it.
        with self._lock:
            running = self._inflight.get(k)
            mine = running is None
            if mine:
                running = self._inflight[k] = threading.Event()
        if not mine:
            running.wait(LOCAL_WAIT_SECONDS)
            value = self._local_get(k)
            if value is not None:
                self.waited += 1
                return value
            return self._compute_now(k, fn)  # it failed, took too long or was too big to keep
        try:
            return self._compute_now(k, fn)
        finally:
            with self._lock:
                self._inflight.pop(k, None)
            running.set()

    def prefetch(self, name: str, key: Any, fn: Callable[[], Any], delay: float = PREFETCH_DELAY) -> bool:
        """Compute an entry in the background: a view the user is likely to ask for next (the patient after
        the one shown). One at a time per process, after ``delay`` seconds, and only when the entry is
        neither kept nor being computed. Returns whether it was started."""
        if not self.local_max or not self.max_bytes:
            return False
        k = self._key_of(name, key)
        with self._lock:
            if self._prefetching or k in self._inflight or k in self._local:
                return False
            self._prefetching = True

        def run():
            try:
                self.get_or_compute(name, key, fn)
                self.prefetched += 1
            except Exception:  # a prefetch never fails a request; the request computes it again
                log.exception("prefetch of %s failed", name)
            finally:
                self._prefetching = False

        timer = threading.Timer(delay, run)
        timer.daemon = True
        timer.start()
        return True

    def _compute_now(self, k: str, fn: Callable[[], Any]) -> Any:
        self.misses += 1
        value = fn()
        if value is None:
            return value
        self._remember(k, value)
        if self.shared:
            self._shared_set(k, value)
        return value

    def __len__(self) -> int:
        return len(self._local)
