"""The benchmark's client process: times the main callbacks of every page over HTTP.

    python -m bench.client --base http://127.0.0.1:PORT --out rows.json [--requests 200] [--budget 5]

Per (page, interaction, callback): the first request (the server has not seen it: a cache
miss), a warm-up, then up to ``--requests`` requests, or fewer when they would take longer
than ``--budget`` seconds (but at least 10; the row says how many were sent). Latency is the round trip on
loopback, measured here: the server's time plus a fraction of a millisecond.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import requests

from bench.scenarios import PAGE_NAMES, SCENARIOS, Emulator, Plan

WARMUP = 3
MIN_REQUESTS = 10  # even when a view is slower than the budget allows


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q * (len(v) - 1)))))]


def timed_post(session, base, payload):
    body = json.dumps(payload)
    t = time.perf_counter()
    r = session.post(base + "/_dash-update-component", data=body, headers={"Content-Type": "application/json"})
    return (time.perf_counter() - t) * 1000, r


def timed_get(session, url):
    t = time.perf_counter()
    r = session.get(url)
    return (time.perf_counter() - t) * 1000, r


def measure(base: str, n_req: int, budget: float) -> dict:
    s = requests.Session()
    out = {"pages": [], "rows": []}
    em = Emulator(s, base)
    plan = Plan(em)
    for path in PAGE_NAMES:
        if path not in em.paths:
            continue
        # the page itself: HTML, then the router's answer (its layout)
        html_ms, r = timed_get(s, base + path)
        t = time.perf_counter()
        page, _ = em.page_props(path)
        out["pages"].append({"page": PAGE_NAMES[path], "html_ms": html_ms, "html_status": r.status_code,
                             "layout_ms": (time.perf_counter() - t) * 1000})
        for scenario in SCENARIOS:
            for name, payload in plan.payloads(path, scenario):
                first_ms, r = timed_post(s, base, payload)
                status, size = r.status_code, len(r.content)
                for _ in range(WARMUP):
                    timed_post(s, base, payload)
                times = []
                start = time.perf_counter()
                while len(times) < n_req and (time.perf_counter() - start < budget or len(times) < MIN_REQUESTS):
                    ms, r = timed_post(s, base, payload)
                    times.append(ms)
                    if r.status_code != status:
                        status = f"{status}/{r.status_code}"
                out["rows"].append({
                    "page": PAGE_NAMES[path], "scenario": scenario, "callback": name, "status": status,
                    "bytes": size, "n": len(times), "first_ms": first_ms, "median_ms": statistics.median(times),
                    "p95_ms": pct(times, 0.95), "max_ms": max(times),
                })
                row = out["rows"][-1]
                print(f"  {row['page']:9} {scenario:8} {name:28} n={row['n']:3} median {row['median_ms']:7.1f} "
                      f"p95 {row['p95_ms']:7.1f} max {row['max_ms']:7.1f} first {first_ms:8.1f} ms "
                      f"{size / 1024:8.1f} KB  [{status}]", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--budget", type=float, default=5.0, help="seconds per callback and interaction")
    args = ap.parse_args(argv)
    res = measure(args.base.rstrip("/"), args.requests, args.budget)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
