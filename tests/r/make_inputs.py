"""Inputs of the R reference suite (``make r-reference``): CSV files R reads without extra packages.

    python tests/r/make_inputs.py      # writes tests/r/inputs/*.csv, then: Rscript tests/r/reference.R

- ``mmrm.csv``: LSO-088's post-baseline change from baseline of five parameters (the locked
  parquet files, analysis records) and three generated studies with drop-outs and intermittent
  missing visits; one row per subject and visit: DATASET, USUBJID, ARM, AVISITN, BASE, CHG.
- ``pairs.csv``: two measurements per subject (a at timepoint 1, b at timepoint 2) with the number
  of recorded decimals k: LSO-088's within-arm and between-arm comparisons of the two pages, and
  a generated grid (n from 3 to 60 per arm, ties, zero differences, 0–3 decimals). R derives
  changes and % changes from them the way the app does (integer units of 10⁻ᵏ).

Values are written with 17 significant digits: R reads back the very same doubles.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from analysis.ranktests import recorded_decimals  # noqa: E402

LSO = ROOT / "data" / "lso088"
MMRM_PARAMS = ("IGG", "C3", "DSDNA", "ANUA", "SLEDAI")
ARMS = ("Belimumab", "Ld-IL2", "Belimumab + Ld-IL2")


def lso_mmrm() -> pd.DataFrame:
    lb = pd.read_parquet(LSO / "adlb.parquet")
    lb = lb[(lb["ANL01FL"] == "Y") & (lb["ABLFL"] != "Y") & (lb["AVISITN"] > 0) & lb["PARAMCD"].isin(MMRM_PARAMS)]
    lb = lb.dropna(subset=["CHG", "BASE"])
    out = pd.DataFrame({"DATASET": "lso088-" + lb["PARAMCD"].astype(str), "USUBJID": lb["USUBJID"].astype(str),
                        "ARM": lb["TRT01A"].astype(str), "AVISITN": lb["AVISITN"].astype(float),
                        "BASE": lb["BASE"].astype(float), "CHG": lb["CHG"].astype(float)})
    return out.sort_values(["DATASET", "USUBJID", "AVISITN"])


def simulated_mmrm(name: str, seed: int, n_per_arm, visits, tau: float, rho: float, drop: float,
                   missing: float) -> pd.DataFrame:
    """Change from baseline with a random-intercept + AR(1)-like covariance, drop-outs and gaps."""
    rng = np.random.default_rng(seed)
    T = len(visits)
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    sd = np.linspace(1.0, 1.6, T)
    S = (tau ** 2 + rho ** lag) * np.outer(sd, sd)
    L = np.linalg.cholesky(S)
    rows = []
    for a, arm in enumerate(ARMS):
        for i in range(n_per_arm[a]):
            sid = f"{name}-{a}{i:03d}"
            base = round(float(rng.normal(20, 4)), 1)
            e = L @ rng.normal(size=T)
            last = T if rng.random() > drop else int(rng.integers(1, T))
            for k, v in enumerate(visits[:last]):
                if k > 0 and rng.random() < missing:
                    continue
                effect = (0.0, -1.0, -2.5)[a] * (k + 1) / T
                chg = round(1.0 - 0.15 * (base - 20) + 0.1 * k + effect + float(e[k]), 2)
                rows.append({"DATASET": name, "USUBJID": sid, "ARM": arm, "AVISITN": float(v), "BASE": base,
                             "CHG": chg})
    return pd.DataFrame(rows)


def lso_pairs() -> pd.DataFrame:
    """Week 0 and week 48 values per subject: the trajectory page's serology and activity
    parameters and the comparison page's cell subsets (analysis records)."""
    frames = []
    for file in ("adlb.parquet", "adcell.parquet"):
        d = pd.read_parquet(LSO / file)
        d = d[(d["ANL01FL"] == "Y") & d["AVISITN"].isin([0.0, 48.0])].dropna(subset=["AVAL"])
        for code, g in d.groupby("PARAMCD"):
            w = g.pivot_table(index=["USUBJID", "TRT01A"], columns="AVISITN", values="AVAL", aggfunc="first")
            if 0.0 not in w or 48.0 not in w:
                continue
            w = w[[0.0, 48.0]].dropna().reset_index()
            k = recorded_decimals(g["AVAL"].to_numpy(float))
            frames.append(pd.DataFrame({"CASE": f"lso088-{code}", "ARM": w["TRT01A"].astype(str),
                                        "a": w[0.0].to_numpy(float), "b": w[48.0].to_numpy(float), "k": k}))
    return pd.concat(frames, ignore_index=True)


def grid_pairs() -> pd.DataFrame:
    """Synthetic cases: n per arm from 3 to 60, ties and zero differences, 0 to 3 decimals."""
    rng = np.random.default_rng(20260414)
    rows = []
    case = 0
    for n in (3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 26, 30, 40, 49, 50, 51, 60):
        for k, style in ((0, "ties"), (1, "zeros"), (2, "smooth"), (3, "mixed")):
            case += 1
            for a, arm in enumerate(("X", "Y", "Z")):
                m = n if a == 0 else max(3, n - int(rng.integers(0, 3)))
                base = np.round(rng.normal(10, 3, m), k)
                shift = (0.0, 0.8, -1.2)[a]
                if style == "ties":
                    step = np.round(rng.integers(-4, 5, m).astype(float) + shift, 0)
                elif style == "zeros":
                    step = np.round(rng.choice([0.0, 0.0, 0.5, -0.5, 1.0, 1.5, -1.2], m) + shift * 0.5, 1)
                elif style == "smooth":
                    step = np.round(rng.normal(shift, 1.5, m), 2)
                else:
                    step = np.round(rng.normal(shift, 1.0, m) * (rng.random(m) > 0.2), 3)
                b = np.round(base + step, k)
                for x, y in zip(base, b):
                    rows.append({"CASE": f"grid-{case:03d}-n{n}-{style}", "ARM": arm, "a": float(x), "b": float(y),
                                 "k": k})
    return pd.DataFrame(rows)


def main() -> int:
    out = HERE / "inputs"
    out.mkdir(exist_ok=True)
    sims = [
        simulated_mmrm("sim-a", 11, (14, 13, 12), (4, 8, 12, 16), 1.0, 0.5, 0.25, 0.08),
        simulated_mmrm("sim-b", 12, (20, 20, 20), (2, 4, 8, 12, 16, 24), 0.8, 0.6, 0.3, 0.05),
        simulated_mmrm("sim-c", 13, (9, 11, 10), (4, 8, 12, 16, 20), 1.2, 0.3, 0.2, 0.1),
    ]
    mmrm = pd.concat([lso_mmrm(), *sims], ignore_index=True)
    mmrm.to_csv(out / "mmrm.csv", index=False, float_format="%.17g")
    pairs = pd.concat([lso_pairs(), grid_pairs()], ignore_index=True)
    pairs.to_csv(out / "pairs.csv", index=False, float_format="%.17g")
    print(f"wrote {out / 'mmrm.csv'} ({len(mmrm)} rows) and {out / 'pairs.csv'} ({len(pairs)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
