"""MMRM timing (part of `make bench`): the unstructured fit with Kenward–Roger df at two sizes.

    python -m bench.mmrm [--repeat 3]

- S: LSO-088 (30 subjects × 12 post-baseline visits), each serology parameter of the trajectory
  page's Figure 1, the page's default model (UN, Kenward–Roger, reference Belimumab, week 48);
- L: 5,000 subjects × 20 post-baseline visits, 3 arms, 15 % drop-outs and 2 % missing visits
  (the shape of ``bench.scale`` L), one parameter.

Each figure is the median wall time of ``analysis.mmrm.fit_mmrm`` (fit, fallback if needed, every
arm-vs-reference contrast at every visit with its KR SE and df) over ``--repeat`` runs, in this process.
Targets (issue 14): S <= 50 ms, L <= 1 s on the 2-core machine. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import mmrm as MM
from data import allocator

TARGETS_MS = {"S": 50.0, "L": 1000.0}
ARMS = ["Belimumab", "Ld-IL2", "Belimumab + Ld-IL2"]


def large(n_subjects=5000, n_visits=20, seed=14) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = n_visits
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    S = 0.6 + 0.4 * 0.7 ** lag
    L = np.linalg.cholesky(S)
    arm = np.array(ARMS)[np.arange(n_subjects) % 3]
    base = np.round(rng.normal(20, 4, n_subjects), 1)
    e = rng.normal(size=(n_subjects, T)) @ L.T
    eff = np.select([arm == ARMS[1], arm == ARMS[2]], [-1.0, -2.0], 0.0)[:, None] * np.arange(1, T + 1) / T
    y = np.round(1 - 0.1 * (base[:, None] - 20) + eff + e, 2)
    last = np.where(rng.random(n_subjects) < 0.15, rng.integers(1, T, n_subjects), T)
    keep = (np.arange(T)[None, :] < last[:, None]) & ((rng.random((n_subjects, T)) > 0.02) |
                                                      (np.arange(T)[None, :] == 0))
    s, t = np.nonzero(keep)
    return pd.DataFrame({"USUBJID": np.char.add("S", s.astype(str)), "ARM": arm[s], "AVISITN": (t + 1) * 4.0,
                         "BASE": base[s], "CHG": y[s, t]})


def lso088() -> dict[str, pd.DataFrame]:
    from data.study import DEFAULT_DATA

    lb = pd.read_parquet(Path(DEFAULT_DATA) / "adlb.parquet")
    lb = lb[(lb["ANL01FL"] == "Y") & (lb["AVISITN"] > 0)].rename(columns={"TRT01A": "ARM"})
    return {c: lb[lb["PARAMCD"] == c] for c in ("IGG", "C3", "DSDNA", "ANUA")}


def timed(df, visit, repeat):
    times, res = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        res = MM.fit_mmrm(df, ARMS[0], visit, ARMS, structure="UN", df_method="kr")
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), res


def measure(repeat: int = 3) -> dict:
    allocator.tune()  # as the app's process runs (app.create_app)
    out = {"S": {}, "L": {}}
    for code, df in lso088().items():
        ms, res = timed(df, 48.0, repeat)
        out["S"][code] = {"ms": ms, "structure": res.structure, "fallback": res.fallback_note, "ok": res.ok}
    df = large()
    ms, res = timed(df, float(df["AVISITN"].max()), max(1, repeat))
    out["L"]["5000x20"] = {"ms": ms, "structure": res.structure, "fallback": res.fallback_note, "ok": res.ok,
                           "rows": len(df)}
    return out


def lines(out: dict) -> list[str]:
    res = []
    for size, figs in out.items():
        worst = max(v["ms"] for v in figs.values())
        ok = worst <= TARGETS_MS[size]
        detail = ", ".join(f"{k} {v['ms']:.0f} ms ({v['structure']})" for k, v in figs.items())
        res.append(f"{'MET ' if ok else 'MISS'} MMRM unstructured + Kenward–Roger <= {TARGETS_MS[size]:.0f} ms at "
                   f"{size}: worst {worst:.0f} ms [{detail}]")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    out = measure(args.repeat)
    for line in lines(out):
        print("  " + line, flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
