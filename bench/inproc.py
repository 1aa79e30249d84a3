"""In-process measurements of one dataset: the naive time and the floor of every measured view.

    python -m bench.inproc --data DIR --out rows.json [--repeat 3]

naive = load the study from its files (read, lock check, validation: what every request
would pay without a process that keeps the data) + the callback computed with no cache
(the app built with flask-caching's NullCache), through Dash's real endpoint (Flask test
client). floor: see ``bench.floor``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SM_FORMULA_ENGINE", "patsy")

from app import create_app  # noqa: E402
from bench.floor import aggregate_ms, controls, serialise_ms  # noqa: E402
from bench.scenarios import PAGE_NAMES, SCENARIOS, Emulator, FlaskSession, Plan  # noqa: E402
from data import filters as F  # noqa: E402
from data import lock as _lock  # noqa: E402
from data import startcache  # noqa: E402
from data.study import load_study  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeat", type=int, default=3, help="uncached runs per view (median)")
    args = ap.parse_args(argv)

    # the files read, hashed, lock-checked, parsed and validated (no start cache: the naive way)
    os.environ["TRIAL_START_CACHE"] = "0"
    t = time.perf_counter()
    load_study(args.data)
    load_ms = (time.perf_counter() - t) * 1000
    gc.collect()
    # what every start pays even with the start cache: read and hash every file, check the lock
    t = time.perf_counter()
    snap = _lock.snapshot(Path(args.data))
    _lock.verify(Path(args.data), snap)
    hash_ms = (time.perf_counter() - t) * 1000
    del snap
    # from the start cache (written by the first load into a state directory of this run)
    with tempfile.TemporaryDirectory(prefix="inproc-state-") as state:
        os.environ.update(TRIAL_START_CACHE="1", TRIAL_STATE_DIR=state)
        load_study(args.data)
        gc.collect()
        t = time.perf_counter()
        load_study(args.data)
        cached_load_ms = (time.perf_counter() - t) * 1000
        cache_result = dict(startcache.last)
        os.environ["TRIAL_START_CACHE"] = "0"
    gc.collect()
    app = create_app(args.data, cache_config={"CACHE_TYPE": "NullCache"})
    study = app.server.config["STUDY"]
    session = FlaskSession(app.server.test_client())
    em = Emulator(session, "")
    plan = Plan(em)
    rows = []
    for path, page in PAGE_NAMES.items():
        for scenario in SCENARIOS:
            for name, payload in plan.payloads(path, scenario):
                times, resp = [], None
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    r = em.post(payload)
                    times.append((time.perf_counter() - t) * 1000)
                    resp = r
                ctl = controls(payload)
                state = F.from_store(ctl["filter-state.data"], study)
                agg = aggregate_ms(name, study, state, ctl)
                ser = serialise_ms(resp.json()["response"]) if resp.status_code == 200 else 0.0
                rows.append({"page": page, "scenario": scenario, "callback": name,
                             "uncached_ms": statistics.median(times), "floor_agg_ms": agg, "floor_json_ms": ser,
                             "floor_ms": agg + ser})
                print(f"  {page:9} {scenario:8} {name:28} uncached {rows[-1]['uncached_ms']:8.1f} ms, floor "
                      f"{agg:6.1f} + {ser:6.1f} ms", flush=True)
    with open(args.out, "w") as fh:
        json.dump({"load_ms": load_ms, "hash_ms": hash_ms, "cached_load_ms": cached_load_ms,
                   "start_cache": cache_result, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
