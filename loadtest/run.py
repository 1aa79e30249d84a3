"""`make loadtest`: four loads against the production server (gunicorn with gunicorn.conf.py, 2 workers)
on loopback, then a verdict.

- walk:  20 users walking every page and changing filters for 60 s;
- auth:  the same behind HTTP Basic auth (a scrypt hash: verified once per session, then the cookie);
- slow:  the same while 4 clients trickle request bodies one byte every half second (the attack that took
         every sync worker);
- fill:  20 users asking for a new filter on every page (every request a cache miss), to fill the caches
         (CACHE_MAX_MB=32 so that a minute reaches the bound: the workers' memory must level off).

Each prints users, duration, requests (and per second), failed requests, p50/p95/max latency and the
workers' resident memory (first 20 s -> last 20 s, and the largest worker). Exits non-zero when any
request failed, none completed, or memory under the walk grew by 10 % or more.
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCENARIOS = ("walk", "auth", "slow", "fill")
USER_CLASS = {"walk": "Investigator", "auth": "AuthInvestigator", "slow": "Investigator", "fill": "CacheFiller"}
SLOW_CLIENTS = 4
FILL_CACHE_MB = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # a worker recycled between listing and reading
        pass
    return 0.0


def workers(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _slow_client(port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        s = None
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            # Under the 2 MB body limit (a larger Content-Length is refused at once with a 413).
            s.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000\r\n\r\n{")
            while not stop.wait(0.5):
                s.sendall(b" ")
        except OSError:  # the server closed it (timeout): come back, as an attacker would
            time.sleep(0.5)
        finally:
            if s is not None:
                s.close()


def run(scenario: str, users: int, seconds: int, out: Path) -> dict:
    port = free_port()
    host = f"http://127.0.0.1:{port}"  # loopback only
    env = {**os.environ}
    tmp = Path(tempfile.mkdtemp(prefix="loadtest-"))
    if scenario == "auth":
        from werkzeug.security import generate_password_hash

        (tmp / "users").write_text(f"load:{generate_password_hash('load-password')}\n")
        env.update(TRIAL_AUTH_FILE=str(tmp / "users"), TRIAL_LOAD_USER="load", TRIAL_LOAD_PASSWORD="load-password")
    env.pop("CACHE_REDIS_URL", None)
    if scenario == "fill":  # a small budget, so that 60 s reach it: the memory must level off
        env["CACHE_MAX_MB"] = str(FILL_CACHE_MB)
    gun = subprocess.Popen([str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "app:server",
                            "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                           stdout=(tmp / "gunicorn.log").open("wb"), stderr=subprocess.STDOUT)
    samples: list[tuple[float, float, float]] = []  # (t, total worker RSS, largest worker)
    stop = threading.Event()
    slow: list[threading.Thread] = []
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(host + "/", timeout=2)
                break
            except OSError as exc:  # 401 with auth on: up
                if getattr(exc, "code", None) == 401:
                    break
                time.sleep(0.2)
        t0 = time.time()

        def sample():
            while not stop.is_set():
                mem = [rss_mb(p) for p in workers(gun.pid)]
                samples.append((time.time() - t0, sum(mem), max(mem or [0])))
                stop.wait(2)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        if scenario == "slow":
            slow = [threading.Thread(target=_slow_client, args=(port, stop), daemon=True) for _ in range(SLOW_CLIENTS)]
            for t in slow:
                t.start()
        subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "loadtest" / "locustfile.py"), USER_CLASS[scenario],
                        "--headless", "-u", str(users), "-r", str(max(1, users // 5)), "-t", f"{seconds}s",
                        "--host", host, "--csv", str(out / f"loadtest-{scenario}"), "--only-summary",
                        "--stop-timeout", "10"],
                       cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        stop.set()
        gun.terminate()
        gun.wait(30)
    with open(out / f"loadtest-{scenario}_stats.csv") as fh:
        total = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    duration = samples[-1][0] if samples else 0
    first = [m for t, m, _ in samples if t <= 20] or [0.0]
    last = [m for t, m, _ in samples if t >= duration - 20] or [0.0]
    growth = (max(last) - max(first)) / max(first) * 100 if max(first) else float("nan")
    n = int(total["Request Count"])
    return {"scenario": scenario, "users": users, "seconds": seconds, "requests": n, "rps": n / max(1, seconds),
            "failed": int(total["Failure Count"]), "p50": total["50%"], "p95": total["95%"],
            "max": float(total["Max Response Time"]), "rss_first": max(first), "rss_last": max(last),
            "growth": growth, "rss_worker_max": max((w for _, _, w in samples), default=0.0),
            "rss_by_10s": [max((m for t, m, _ in samples if k * 10 <= t < (k + 1) * 10), default=0.0)
                           for k in range(int(duration // 10) + 1)]}


def line(r: dict) -> str:
    extra = {"slow": f", {SLOW_CLIENTS} slow clients trickling",
             "fill": f", a new filter per page, cache {FILL_CACHE_MB} MB per worker"}.get(r["scenario"], "")
    return (f"LOADTEST {r['scenario']}: users {r['users']}{extra}, duration {r['seconds']} s, requests {r['requests']} "
            f"({r['rps']:.0f}/s), failed {r['failed']}, p50 {r['p50']} ms, p95 {r['p95']} ms, max {r['max']:.0f} ms, "
            f"worker RSS first 20 s {r['rss_first']:.0f} MB -> last 20 s {r['rss_last']:.0f} MB ({r['growth']:+.1f} %), "
            f"largest worker {r['rss_worker_max']:.0f} MB"
            + (f"; workers' RSS by 10 s: {', '.join(f'{m:.0f}' for m in r['rss_by_10s'])} MB"
               if r["scenario"] == "fill" else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    args = ap.parse_args()
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    ok = True
    for scenario in SCENARIOS if args.scenario == "all" else (args.scenario,):
        r = run(scenario, args.users, args.seconds, out)
        print(line(r), flush=True)
        # No request completing at all is the worst failure (before gthread, 4 slow clients gave 0 requests).
        ok &= r["requests"] > 0 and r["failed"] == 0 and (scenario != "walk" or r["growth"] < 10)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
