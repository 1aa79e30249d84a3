"""Headless Chromium: HTTP requests per user action, per page (the goal: at most 2 round trips a click).

    python -m bench.roundtrips --base http://127.0.0.1:PORT [--repeat 3] [--out file.json]

For each page and each action (a click on the Arm filter, a click on one of the page's own controls, a
navigation-bar link to the page): open the page, wait until its figure is drawn and no request has been made
for 0.6 s, act, wait until the figure has changed and the page is quiet again, then count the requests the
page made after the click (``performance`` resource entries: callbacks ``/_dash-update-component``, and any
other fetch/XHR), and the sequential round trips among them (requests that start only after an answer).
Also reported: click -> redrawn figure (ms), from the click to the first frame in which the
figure's traces differ.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.browser import make_driver

# (page path, its main figure, [(action name, CSS selector of what is clicked, a second selector to open it)])
ACTIONS = (
    ("/", "ov-design", (("arm filter", "#f-arm input[value='{arm}']"),)),
    ("/trajectories", "traj-graph", (("arm filter", "#f-arm input[value='{arm}']"),
                                     ("scale", "#traj-scale input[value='chg']"))),
    ("/comparison", "cmp-fig", (("arm filter", "#f-arm input[value='{arm}']"),
                                ("p-values", "#cmp-annot input[value='between']"))),
    ("/safety", "ae-timeline", (("arm filter", "#f-arm input[value='{arm}']"),)),
    ("/patient", "pt-figure", (("arm filter", "#f-arm input[value='{arm}']"), ("next patient", "#pt-next"))),
)
NAV = (("/trajectories", "traj-graph", "#nav-trajectories"), ("/comparison", "cmp-fig", "#nav-comparison"),
       ("/safety", "ae-timeline", "#nav-safety"))

SIG = """
const g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return g && g._fullLayout && g.data ? JSON.stringify(g.data.map(t => [t.name || '', (t.y || []).length,
    Array.from(t.y || []).slice(0, 3)])) + (g.layout.height || '') : null;
"""
HOOK = """
const id = arguments[0], sig0 = arguments[1];
const b = window.__rt = {t0: performance.now(), t1: null};
const sig = () => { const g = document.querySelector('#' + id + ' .js-plotly-plot');
    return g && g._fullLayout && g.data ? JSON.stringify(g.data.map(t => [t.name || '', (t.y || []).length,
        Array.from(t.y || []).slice(0, 3)])) + (g.layout.height || '') : null; };
const check = () => { if (b.t1 !== null) return; const s = sig();
    if (s !== null && s !== sig0) { b.t1 = performance.now(); return; } requestAnimationFrame(check); };
requestAnimationFrame(check);
"""
REQUESTS = """
const t0 = arguments[0];
const log = window.__rtLog || [];
const fetched = log.filter(r => r.start >= t0).map(r => [r.url.replace(location.origin, ''), Math.round(r.start - t0),
    Math.round((r.end === null ? performance.now() : r.end) - t0), r.out, r.changed]);
const xhr = performance.getEntriesByType('resource').filter(e => e.startTime >= t0 && e.initiatorType === 'xmlhttprequest')
    .map(e => [e.name.replace(location.origin, ''), Math.round(e.startTime - t0), Math.round(e.responseEnd - t0)]);
return fetched.concat(xhr);
"""
# Every fetch the page makes, with what a callback request names: its outputs and the props that triggered it
# (what tells a request caused by another's answer from one merely sent a little later).
RECORDER = """
if (!window.__rtFetch) {
  const original = window.fetch;
  window.fetch = function (url, opts) {
    const rec = {url: String(url && url.url || url), start: performance.now(), end: null, out: null, changed: null};
    try {
      const b = JSON.parse((opts && typeof opts.body === 'string') ? opts.body : 'null');
      if (b && b.output) { rec.out = b.output; rec.changed = b.changedPropIds || []; }
    } catch (e) {}
    (window.__rtLog = window.__rtLog || []).push(rec);
    return original.apply(this, arguments).then(r => { rec.end = performance.now(); return r; },
                                                  e => { rec.end = performance.now(); throw e; });
  };
  window.__rtFetch = true;
}
window.__rtLog = [];
"""
ROUTER_OUTPUT = "page-content.children"


def _quiet(driver, graph, timeout=30.0, still=0.6):
    """The figure drawn, and neither it nor the requests have changed for ``still`` seconds."""
    last, since = None, time.time()
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = (driver.execute_script(SIG, graph),
               driver.execute_script("return performance.getEntriesByType('resource').length"))
        if now[0] and now == last and time.time() - since > still:
            return now[0]
        if now != last:
            last, since = now, time.time()
        time.sleep(0.05)
    return None


def one_action(driver, graph, selector, opener=None) -> dict | None:
    """Requests made after one click on ``selector`` (and ms to the redrawn figure); None if it never settled."""
    from selenium.webdriver.common.by import By

    sig0 = _quiet(driver, graph)
    if sig0 is None:
        return None
    if opener and not driver.find_element(By.CSS_SELECTOR, selector).is_displayed():
        driver.find_element(By.CSS_SELECTOR, opener).click()
    el = driver.find_element(By.CSS_SELECTOR, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", el)
    driver.execute_script("performance.clearResourceTimings()")
    driver.execute_script(RECORDER)
    driver.execute_script(HOOK, graph, sig0)
    t0 = driver.execute_script("return window.__rt.t0")
    driver.execute_script("arguments[0].click()", el)
    if _quiet(driver, graph) is None:
        return None
    t1 = driver.execute_script("return window.__rt.t1")
    reqs = driver.execute_script(REQUESTS, t0)
    return {"requests": len(reqs), "callbacks": sum("_dash-update-component" in r[0] for r in reqs),
            "figure_ms": (t1 - t0) if t1 is not None else None, "detail": reqs}


def measure(base: str, repeat: int = 3, driver=None, quiet: bool = False) -> dict:
    own = driver is None
    driver = driver or make_driver()
    out = {}
    arms = ("IL2", "BEL", "BELIL2")
    try:
        for path, graph, actions in ACTIONS:
            for name, selector in actions:
                runs = []
                for k in range(repeat):
                    driver.get(base + path)
                    r = one_action(driver, graph, selector.format(arm=arms[k % len(arms)]),
                                   "#filter-details summary" if "f-arm" in selector else None)
                    if r is not None:
                        runs.append(r)
                out[f"{path} {name}"] = _summary(runs)
        for path, graph, link in NAV:
            runs = []
            for _ in range(repeat):
                driver.get(base + "/")
                _quiet(driver, "ov-design")
                driver.execute_script("performance.clearResourceTimings()")
                driver.execute_script(RECORDER)
                t0 = driver.execute_script("return performance.now()")
                driver.find_element("css selector", link).click()
                if _quiet(driver, graph) is None:
                    continue
                reqs = driver.execute_script(REQUESTS, t0)
                runs.append({"requests": len(reqs), "callbacks": sum("_dash-update-component" in r[0] for r in reqs),
                             "figure_ms": None, "detail": reqs})
            out[f"{path} opened from the navbar"] = _summary(runs)
    finally:
        if own:
            driver.quit()
    if not quiet:
        for k, v in out.items():
            print(f"  round trips  {k:38} requests per click: max {v['max_requests']}, median "
                  f"{v['median_requests']:g}; sequential round trips: max {v['max_rounds']}" + (f"; click -> figure median {v['median_figure_ms']:.0f} ms"
                                                if v.get("median_figure_ms") is not None else ""), flush=True)
    return out


def _outputs(key: str) -> set[str]:
    return {o.split("@")[0] for o in (key[2:-2].split("...") if key.startswith("..") else [key])}


def rounds(reqs) -> int:
    """Sequential round trips among ``reqs`` ([name, start, end(, outputs, changed props)] ms).

    With the callback requests' bodies: a request is one round trip after the answer it depends on, i.e.
    an earlier answered request whose outputs include a prop that triggered it; a request triggered by no
    answer's output (the user's click, or the initial call of components a page's layout inserted) is one
    round trip after the router's answer that inserted the page, if any, else in the first round trip.
    Without bodies (other requests): a request that starts after every request of the current wave has
    answered was caused by an answer, and starts a new wave."""
    if reqs and all(len(r) >= 5 for r in reqs):
        done: list[tuple[int, set[str], float]] = []  # (depth, outputs, end) of the requests so far
        for _, start, end, out, changed in sorted(reqs, key=lambda r: r[1]):
            before = [(d, o) for d, o, e in done if e <= start]
            if not out:  # not a callback: after whatever had answered when it left
                causes = [d for d, _ in before]
            else:
                trig = {c.split("@")[0] for c in (changed or [])}
                causes = [d for d, o in before if o & trig] or [d for d, o in before if ROUTER_OUTPUT in o]
            done.append((max(causes, default=0) + 1, _outputs(out) if out else set(), end))
        return max(d for d, _, _ in done)
    waves, wave_end = 0, None
    for _, start, end in sorted(reqs, key=lambda r: r[1]):
        if wave_end is None or start >= wave_end:
            waves += 1
            wave_end = end
        else:
            wave_end = max(wave_end, end)
    return waves


def _summary(runs: list[dict]) -> dict:
    figs = [r["figure_ms"] for r in runs if r["figure_ms"] is not None]
    return {"n": len(runs), "requests": [r["requests"] for r in runs],
            "rounds": [rounds(r["detail"]) for r in runs],
            "max_rounds": max((rounds(r["detail"]) for r in runs), default=None),
            "max_requests": max((r["requests"] for r in runs), default=None),
            "median_requests": statistics.median([r["requests"] for r in runs]) if runs else None,
            "median_figure_ms": statistics.median(figs) if figs else None,
            "detail": runs[-1]["detail"] if runs else []}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    res = measure(args.base.rstrip("/"), args.repeat)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
