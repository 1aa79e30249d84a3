"""`make loadtest`: 20 users for 60 s against gunicorn (2 workers) on loopback, then a verdict.

Prints users, duration, requests, failed requests, p95 latency and the workers' resident
memory growth between the first and the last 20 s; exits non-zero when any request failed
or memory grew by 10 % or more.
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def workers(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    port = free_port()
    host = f"http://127.0.0.1:{port}"  # loopback only
    gun = subprocess.Popen([str(BIN / "gunicorn"), "app:server", "--preload", "--workers", "2", "--bind",
                            f"127.0.0.1:{port}", "--no-control-socket", "--timeout", "60"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples: list[tuple[float, float]] = []
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(host + "/", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        stop = threading.Event()
        t0 = time.time()

        def sample():
            while not stop.is_set():
                samples.append((time.time() - t0, sum(rss_mb(p) for p in workers(gun.pid))))
                stop.wait(2)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        out = ROOT / "bench-results"
        out.mkdir(exist_ok=True)
        subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "loadtest" / "locustfile.py"), "--headless",
                        "-u", str(args.users), "-r", str(max(1, args.users // 5)), "-t", f"{args.seconds}s",
                        "--host", host, "--csv", str(out / "loadtest"), "--only-summary", "--stop-timeout", "10"],
                       cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stop.set()
        th.join()
    finally:
        gun.terminate()
        gun.wait(15)
    with open(ROOT / "bench-results" / "loadtest_stats.csv") as fh:
        total = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    duration = samples[-1][0] if samples else 0
    first = [m for t, m in samples if t <= 20]
    last = [m for t, m in samples if t >= duration - 20]
    growth = (max(last) - max(first)) / max(first) * 100 if first and last else float("nan")
    failed = int(total["Failure Count"])
    print(f"LOADTEST: users {args.users}, duration {args.seconds} s, requests {total['Request Count']}, "
          f"failed {failed}, p50 {total['50%']} ms, p95 {total['95%']} ms, max {float(total['Max Response Time']):.0f} ms, "
          f"worker RSS first 20 s {max(first):.0f} MB -> last 20 s {max(last):.0f} MB ({growth:+.1f} %)")
    return 0 if failed == 0 and growth < 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
