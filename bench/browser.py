"""Headless Chromium: time from a click on the global Arm filter to the updated figure, per page (on the
patient profile, a click on "next patient": once after opening the page, and --repeat times in a row).

    python -m bench.browser --base http://127.0.0.1:PORT [--repeat 5]

For each page: open it, wait until its figure is drawn and the page is quiet, open the filter
bar, then click one arm's check box (unticking it). t0 = the pointer-down on the box; t1 = the first frame in which
the figure's traces differ from before (polled every animation frame and on Plotly's
``plotly_afterplot``). The click goes through everything a user's click does: the filter
callback, the URL and store update, the page's callbacks, JSON parsing and Plotly drawing.
The callback requests made in between are read from the browser's resource timing: their
union is the time spent waiting for the server; the rest is the browser's own work
(dash-renderer, React, Plotly).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import time

GRAPHS = (("/", "ov-design"), ("/trajectories", "traj-graph"), ("/comparison", "cmp-fig"), ("/safety", "ae-timeline"))
CHROME_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-dev-shm-usage", "--disable-component-update", "--disable-sync", "--no-first-run",
               "--window-size=1280,720", "--hide-scrollbars")

SIGNATURE = """
const sig = (g) => g && g.data ? g.data.length + ':' + g.data.map(t => {
    const y = t.y; return y && y.length !== undefined ? y.length : 0; }).join(',') : '';
"""
READY = SIGNATURE + """
const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return g && g._fullLayout && g.data && g.data.length ? sig(g) : null;
"""
HOOK = SIGNATURE + """
const id = arguments[0];
const now = () => document.querySelector('#' + id + ' .js-plotly-plot');
const b = window.__bench = {t0: null, t1: null, sig0: sig(now())};
document.addEventListener('pointerdown', (e) => {
    if (b.t0 === null && e.target.closest('#f-arm')) b.t0 = performance.now();
}, true);
const check = () => {
    if (b.t1 !== null) return;
    const g = now();
    if (b.t0 !== null && g && g._fullLayout && sig(g) !== b.sig0) { b.t1 = performance.now(); return; }
    requestAnimationFrame(check);
};
requestAnimationFrame(check);
const g0 = now();
if (g0 && g0.on) g0.on('plotly_afterplot', check);
"""


RESOURCES = """
return performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update-component'))
    .map(e => [e.startTime, e.responseEnd]);
"""


def make_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in CHROME_ARGS:
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=opts)
    driver.set_window_size(1280, 720)
    return driver


def _wait(fn, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None


def _quiet(driver, graph, timeout=20.0):
    """Drawn, and the same traces for 0.6 s (the page's own callbacks have settled)."""
    last, since = None, time.time()
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = driver.execute_script(READY, graph)
        if s and s == last and time.time() - since > 0.6:
            return True
        if s != last:
            last, since = s, time.time()
        time.sleep(0.05)
    return False


def _arm_box(driver, arm):
    """[the arm's check box], once visible, or None: the filter bar is one line of chips that opens on a click."""
    from selenium.webdriver.common.by import By

    if not driver.find_element(By.ID, "f-arm").is_displayed():
        driver.find_element(By.CSS_SELECTOR, "#filter-details summary").click()
    return _wait(lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, f"#f-arm input[value='{arm}']")
                          if e.is_displayed()], 5)


def click_to_figure(driver, base, path, graph, arm) -> float | None:
    driver.get(base + path)
    if not _quiet(driver, graph):
        return None
    opt = _arm_box(driver, arm)
    if not opt:
        return None
    driver.execute_script("performance.clearResourceTimings()")
    driver.execute_script(HOOK, graph)
    opt[0].click()
    done = _wait(lambda: driver.execute_script("return window.__bench.t1 !== null"), 15, 0.01)
    if not done:
        return None
    b = driver.execute_script("return window.__bench")
    # the callback requests in between: their union is the time spent waiting for the server
    spans = sorted((s - b["t0"], e - b["t0"]) for s, e in driver.execute_script(RESOURCES)
                   if b["t0"] <= s <= b["t1"])
    waiting, last = 0.0, 0.0
    for start, end in spans:
        end = min(end, b["t1"] - b["t0"])
        if end > last:
            waiting += end - max(start, last)
            last = end
    return {"total_ms": b["t1"] - b["t0"], "requests": len(spans), "server_wait_ms": waiting,
            "browser_ms": b["t1"] - b["t0"] - waiting}


def clicks_in_a_row(driver, base, path, graph, repeat) -> list[float]:
    """ms from an arm click to the redrawn figure, ``repeat`` clicks one after another on a page opened once (an
    arm unticked, then ticked again, arm after arm). ``click_to_figure`` opens the page before every click, so
    it always times one of the first redraws after a page opens, which run before V8 has optimised Plotly's
    code; this is what a user comparing arms feels from the second click on."""
    driver.get(base + path)
    if not _quiet(driver, graph):
        return []
    arms = ("BELIL2", "BEL", "IL2")
    times = []
    for k in range(repeat):
        opt = _arm_box(driver, arms[(k // 2) % len(arms)])
        if not opt:
            break
        driver.execute_script(HOOK, graph)
        opt[0].click()
        if _wait(lambda: driver.execute_script("return window.__bench.t1 !== null"), 15, 0.01):
            b = driver.execute_script("return window.__bench")
            times.append(b["t1"] - b["t0"])
        _quiet(driver, graph)  # the grids and captions below the figure settle before the next click
    return times


def p95(times):
    """Nearest-rank 95th percentile (of 20 clicks: the 19th fastest)."""
    if not times:
        return None
    ordered = sorted(times)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _times(times: list[float]) -> dict:
    """n, median, p95 and max of click -> figure times (ms), and the sentence that reports them."""
    if not times:
        return {"n": 0, "times_ms": [], "median_ms": None, "p95_ms": None, "max_ms": None, "text": "no measurement"}
    med, top, worst = statistics.median(times), p95(times), max(times)
    return {"n": len(times), "times_ms": times, "median_ms": med, "p95_ms": top, "max_ms": worst,
            "text": f"median {med:.0f} ms, p95 {top:.0f} ms, max {worst:.0f} ms"}


def _patient_clicks(driver, base: str, repeat: int, reload: bool) -> list[float]:
    """ms from a click on "next patient" to the new profile, ``repeat`` times: each on a freshly opened page
    (``reload``), or one after another on the same page."""
    from bench.roundtrips import one_action

    times = []
    driver.get(base + "/patient")
    for k in range(repeat):
        if reload and k:
            driver.get(base + "/patient")
        r = one_action(driver, "pt-figure", "#pt-next")
        if r is not None and r["figure_ms"] is not None:
            times.append(r["figure_ms"])
    return times


def measure(base: str, repeat: int = 5) -> dict:
    driver = make_driver()
    out = {}
    try:
        arms = ("BELIL2", "BEL", "IL2")
        for path, graph in GRAPHS:
            clicks = []
            for k in range(repeat):
                c = click_to_figure(driver, base, path, graph, arms[k % len(arms)])
                if c is not None:
                    clicks.append(c)
            times = [c["total_ms"] for c in clicks]
            stats = _times(times)
            text = stats.pop("text")
            out[path] = {"graph": graph, **stats, "clicks": clicks,
                         "median_server_wait_ms": statistics.median(c["server_wait_ms"] for c in clicks)
                         if clicks else None}
            print(f"  browser {path:10} {graph:12} click -> figure: {text}"
                  + (f" ({', '.join(f'{t:.0f}' for t in times)}); of which waiting for "
                     f"{statistics.median(c['requests'] for c in clicks):.0f} callback requests: median "
                     f"{out[path]['median_server_wait_ms']:.0f} ms" if times else ""), flush=True)
        for path, graph in GRAPHS:
            stats = _times(clicks_in_a_row(driver, base, path, graph, repeat))
            text = stats.pop("text")
            out[path]["in_a_row"] = stats
            print(f"  browser {path:10} {graph:12} {repeat} clicks in a row on the open page -> figure: {text}",
                  flush=True)
        # The patient profile shows one subject, so an arm click rarely changes its figure: its click is
        # "next patient" (bench.roundtrips.one_action: click -> first frame with the new subject's traces).
        # Once after opening the page (as on the other pages), then as the button is used: one patient after
        # another without reloading, each a profile the server has not drawn yet (but the second patient).
        for key, action, reload in (("/patient", "next patient", True),
                                    ("/patient stepping", f"next patient, {repeat} in a row", False)):
            stats = _times(_patient_clicks(driver, base, repeat, reload))
            text = stats.pop("text")
            out[key] = {"graph": "pt-figure", "action": action, **stats}
            print(f"  browser /patient   pt-figure    {action} -> figure: {text}", flush=True)
    finally:
        driver.quit()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    res = measure(args.base.rstrip("/"), args.repeat)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
