"""Scale-out on one machine: two app "hosts" behind nginx, sharing one Redis, under 100 simulated users.

    python -m bench.scaleout [--users 100] [--seconds 60] [--data DIR]

What a sponsor-wide deployment looks like, on loopback:
- one ``redis-server`` (no persistence, ``maxmemory`` with ``allkeys-lru``);
- two gunicorn instances, each ``-c gunicorn.conf.py`` (``--preload``: each loads and lock-checks the
  study itself, 2 gthread workers), each its own "host" on its own port, sharing the Redis and one
  ``CACHE_SECRET`` (so each host trusts the other's entries) — and one start-cache state directory;
- nginx from Debian as the load balancer (``least_conn`` over both, keep-alive to the upstreams, request
  buffering on), started here with a generated configuration in a temporary prefix;
- locust: ``--users`` Investigators (``loadtest/locustfile.py``: every page, changing filters) for
  ``--seconds`` through nginx.

Then a **model view** nobody asked for yet (the trajectory page's MMRM statistics under a new filter) is
requested by 24 clients at once through nginx; ``MONITOR`` on the Redis counts the entries written for it
(each computation writes one): with single flight (``data/cache.py``) it is computed once across both
hosts. Printed and returned: requests, failures, p50/p95/max, requests per host (nginx's log),
results computed (Redis writes) during the load, and the burst's computations.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import shutil
import signal
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
OUT = ROOT / "bench-results"
BURST = 24
MODEL_VIEW = "traj-stats"  # the cache name of the trajectory page's model (MMRM) statistics

NGINX_CONF = """
worker_processes 1;
user {user};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    log_format lb '$msec $status $upstream_addr $request_time $upstream_response_time "$request"';
    access_log {prefix}/access.log lb;
    upstream app {{
        least_conn;
        server 127.0.0.1:{p1} max_fails=0;
        server 127.0.0.1:{p2} max_fails=0;
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{lb};
        client_max_body_size 2m;
        client_header_timeout 10s;
        client_body_timeout 10s;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering on;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Remote-User "";
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, procs, timeout: float) -> float | None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if any(p.poll() is not None for p in procs):
            return None
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)
    return None


class RedisWrites:
    """Counts SETs per cache name with Redis MONITOR (each computed, shared result is one SET)."""

    def __init__(self, port: int):
        import redis

        self.r = redis.Redis(port=port)
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def _run(self):
        with self.r.monitor() as m:
            self.ready.set()
            for cmd in m.listen():
                if self.stop.is_set():
                    break
                parts = cmd.get("command", "").split()
                if len(parts) >= 2 and parts[0].upper() == "SET" and parts[1].startswith("trialdash:") \
                        and not parts[1].startswith("trialdash:computing:"):
                    name = parts[1][len("trialdash:"):].split(":")[0]
                    with self.lock:
                        self.counts[name] = self.counts.get(name, 0) + 1

    def take(self) -> dict[str, int]:
        with self.lock:
            out, self.counts = self.counts, {}
        return out

    def close(self):
        self.stop.set()
        try:
            self.r.ping()  # wakes the monitor's listen()
        except Exception:
            pass
        self.thread.join(5)


def _stop(proc, sig=signal.SIGTERM, wait=30):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _model_burst(base: str, n: int) -> dict:
    """``n`` clients at once ask for one new model view through the load balancer."""
    import requests

    sys.path.insert(0, str(ROOT / "loadtest"))
    from emulator import Emulator

    s = requests.Session()
    em = Emulator(s, base)
    arms = [o["value"] for o in em.shell["f-arm"]["options"]]
    weeks = em.visits()  # the filter's From/To stops
    # a window and an arm pair the walking users never ask for: nobody has computed it yet
    state = {"arms": [arms[0], arms[-1]], "weeks": [weeks[0], weeks[-2] if len(weeks) > 2 else weeks[-1]],
             "patients": []}
    payload = next(p for p in em.page_callbacks("/trajectories", state) if "traj-stats.children" in p["output"])
    body = json.dumps(payload)
    values = {f"{i['id']}.{i['property']}": i.get("value") for i in payload["inputs"]}
    # one model per parameter shown: one in the single-parameter view, one per panel in small multiples
    expected = 1 if values.get("traj-mode.value") != "multiples" else len(values.get("traj-params.value") or [])
    results = [None] * n
    go = threading.Event()

    def one(i):
        sess = requests.Session()
        go.wait()
        t = time.perf_counter()
        r = sess.post(base + "/_dash-update-component", data=body, headers={"Content-Type": "application/json"},
                      timeout=120)
        results[i] = (r.status_code, (time.perf_counter() - t) * 1000, len(r.content), r.content)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    go.set()
    for t in threads:
        t.join(180)
    done = [r for r in results if r is not None]
    return {"requests": n, "ok": sum(1 for r in done if r[0] == 200),
            # the same answer as JSON: a host that read the figure from Redis writes its keys in another order
            "identical": len({json.dumps(json.loads(r[3]), sort_keys=True) for r in done if r[0] == 200}) == 1,
            "max_ms": max((r[1] for r in done), default=None),
            "median_ms": sorted(r[1] for r in done)[len(done) // 2] if done else None, "filter": state,
            "models_in_view": expected}


def _per_host(log: Path, since: float | None = None, until: float | None = None) -> dict:
    hosts: dict[str, int] = {}
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return hosts
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        t = float(parts[0])
        if (since is not None and t < since) or (until is not None and t > until):
            continue
        hosts[parts[2]] = hosts.get(parts[2], 0) + 1
    return hosts


def run(folder: Path | None = None, users: int = 100, seconds: int = 60, out: Path = OUT) -> dict:
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        raise RuntimeError("nginx is required: `make bench` installs it (Debian package nginx)")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    out.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="scaleout-"))
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir()
    p_redis, p1, p2, p_lb = free_port(), free_port(), free_port(), free_port()
    env = {**os.environ, "CACHE_REDIS_URL": f"redis://127.0.0.1:{p_redis}/0", "CACHE_SECRET": secrets.token_hex(24),
           "WEB_CONCURRENCY": "2", "SM_FORMULA_ENGINE": "patsy", "TRIAL_STATE_DIR": str(tmp / "state")}
    if folder is not None:
        env["TRIAL_DATA"] = str(folder)
    procs: dict[str, subprocess.Popen] = {}
    res: dict = {"users": users, "seconds": seconds, "hosts": 2, "workers_per_host": 2,
                 "data": str(folder) if folder else "LSO-088"}
    monitor = None
    try:
        procs["redis"] = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(p_redis), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--maxmemory", "512mb", "--maxmemory-policy", "allkeys-lru"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, port in (("host1", p1), ("host2", p2)):
            procs[name] = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "app:server", "--bind",
                 f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=(tmp / f"{name}.log").open("wb"),
                stderr=subprocess.STDOUT)
            # one after the other: the second host's start uses the start cache the first one wrote
            took = wait_http(f"http://127.0.0.1:{port}/", [procs[name]], 300)
            if took is None:
                raise RuntimeError(f"{name} did not start (see {tmp / (name + '.log')})")
            res[f"{name}_start_s"] = took
        import getpass

        (tmp / "nginx.conf").write_text(NGINX_CONF.format(prefix=tmp, p1=p1, p2=p2, lb=p_lb, user=getpass.getuser()))
        procs["nginx"] = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
                                          stdout=(tmp / "nginx.out").open("wb"), stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{p_lb}"
        if wait_http(base + "/", [procs["nginx"]], 30) is None:
            raise RuntimeError(f"nginx did not start: {(tmp / 'nginx.out').read_text()[-500:]}"
                               f"{(tmp / 'error.log').read_text()[-500:] if (tmp / 'error.log').exists() else ''}")
        monitor = RedisWrites(p_redis)
        print(f"  scale-out: 2 hosts (gunicorn --preload, 2 workers each) behind nginx on {base}, Redis on "
              f"{p_redis}; {users} users for {seconds} s", flush=True)
        t_load = time.time()
        subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "loadtest" / "locustfile.py"), "Investigator",
                        "--headless", "-u", str(users), "-r", str(max(1, users // 10)), "-t", f"{seconds}s",
                        "--host", base, "--csv", str(out / "scaleout"), "--only-summary", "--stop-timeout", "15"],
                       cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t_end = time.time()
        writes = monitor.take()
        res["computed_during_load"] = writes
        with open(out / "scaleout_stats.csv") as fh:
            total = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
        n = int(total["Request Count"])
        res.update(requests=n, rps=n / seconds, failed=int(total["Failure Count"]), p50_ms=float(total["50%"]),
                   p95_ms=float(total["95%"]), p99_ms=float(total["99%"]), max_ms=float(total["Max Response Time"]))
        res["requests_per_host"] = _per_host(tmp / "access.log", t_load, t_end)
        t_burst = time.time()
        res["model_burst"] = burst = _model_burst(base, BURST)
        time.sleep(0.5)
        burst["computations"] = monitor.take().get(MODEL_VIEW, 0)
        burst["per_host"] = _per_host(tmp / "access.log", t_burst, time.time())
        errors = (tmp / "error.log").read_text() if (tmp / "error.log").exists() else ""
        res["nginx_upstream_errors"] = sum(1 for line in errors.splitlines() if "upstream" in line)
    finally:
        if monitor is not None:
            monitor.close()
        _stop(procs.get("nginx"), signal.SIGQUIT)
        for name in ("host1", "host2"):
            _stop(procs.get(name))
        _stop(procs.get("redis"))
        res["logs"] = str(tmp)
    return res


def lines(res: dict) -> list[str]:
    b = res.get("model_burst", {})
    ok_load = res.get("failed", 1) == 0 and res.get("requests", 0) > 0
    hosts = ", ".join(f"{h.rsplit(':', 1)[-1] if ':' in h else h} {n:,}" for h, n in sorted(res.get("requests_per_host", {}).items()))
    out = [f"{'MET ' if ok_load else 'MISS'} scale-out, 2 hosts behind nginx sharing Redis, {res['users']} users for "
           f"{res['seconds']} s: {res.get('requests', 0):,} requests ({res.get('rps', 0):.0f}/s), "
           f"{res.get('failed', '?')} failed, p50 {res.get('p50_ms', 0):.0f} ms, p95 {res.get('p95_ms', 0):.0f} ms, "
           f"max {res.get('max_ms', 0):.0f} ms; requests per host (upstream port): {hosts}; "
           f"starts: host 1 {res.get('host1_start_s', 0):.1f} s, host 2 {res.get('host2_start_s', 0):.1f} s"]
    if b:
        ok = b.get("computations") == b.get("models_in_view") and b.get("ok") == b.get("requests") and b.get("identical")
        out.append(f"{'MET ' if ok else 'MISS'} a new model view asked by {b['requests']} clients at once through "
                   f"nginx (answered by {len(b.get('per_host', {}))} hosts): {b.get('models_in_view')} model(s) in the view, "
                   f"computed {b.get('computations')} time(s) "
                   f"across both hosts; {b.get('ok')} answers 200, identical: {b.get('identical')}; "
                   f"slowest {b.get('max_ms') or 0:.0f} ms")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    res = run(args.data, args.users, args.seconds)
    for line in lines(res):
        print("  " + line, flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1, default=str))
    b = res.get("model_burst", {})
    ok = res.get("failed", 1) == 0 and b.get("computations") == b.get("models_in_view")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
