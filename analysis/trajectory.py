"""Trajectories by arm over visits: the numbers behind a "mean ± 95% CI by week" plot.

Scales
- ``raw``:  AVAL, the analysis value;
- ``chg``:  CHG, change from baseline (0 at the baseline record by definition);
- ``pchg``: PCHG, % change from baseline (0 at baseline; undefined when BASE is 0).

Per arm × visit: n, mean, SD (ddof = 1), the t-based 95% CI of the mean
(mean ± t(0.975, n − 1) · SD / √n, undefined for n < 2), median, Q1, Q3
(linear-interpolation quantiles, Hyndman–Fan type 7, as everywhere in the app);
for positive values also the geometric mean with its 95% CI (the t-based CI of
the mean of the natural logs, back-transformed), for log-scale displays.
No Dash imports here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

SCALES = {
    "raw": "value",
    "chg": "change from baseline",
    "pchg": "% change from baseline",
}
SCALE_COLUMN = {"raw": "AVAL", "chg": "CHG", "pchg": "PCHG"}
SUMMARY_COLUMNS = ["ARM", "TIME", "n", "mean", "sd", "ci_low", "ci_high", "median", "q1", "q3",
                   "gmean", "gci_low", "gci_high"]
CI_METHOD = "t-based 95% CI of the mean (mean ± t(0.975, n − 1) × SD / √n)"
GEO_METHOD = "geometric mean with the back-transformed t-based 95% CI of the mean of log values"


def select(meas: pd.DataFrame, param: str, arm_labels, subjects=None,
           weeks: tuple[float, float] | None = None) -> pd.DataFrame:
    """Rows of one parameter for the given arms (display labels), subjects and inclusive time window
    (``TIME``: the position on the study's time axis)."""
    mask = (meas["PARAMCD"] == param) & meas["ARM"].isin(list(arm_labels))
    if subjects is not None:
        mask &= meas["USUBJID"].isin(list(subjects))
    if weeks is not None:
        mask &= meas["TIME"].between(weeks[0], weeks[1])
    return meas.loc[mask]


def is_baseline(df: pd.DataFrame) -> pd.Series:
    if "ABLFL" in df.columns:
        return df["ABLFL"].astype(str) == "Y"
    return df["TIME"] == 0


def scale_values(df: pd.DataFrame, scale: str) -> pd.Series:
    """The value on ``scale`` per row; the baseline record is 0 on the change scales."""
    if scale not in SCALE_COLUMN:
        raise ValueError(f"unknown scale {scale!r}")
    col = SCALE_COLUMN[scale]
    if scale == "raw":
        return df["AVAL"].astype(float)
    v = df[col].astype(float).copy() if col in df.columns else pd.Series(np.nan, index=df.index)
    base = is_baseline(df)
    if scale == "pchg":
        ok = base & df["BASE"].notna() & (df["BASE"] != 0) & df["AVAL"].notna()
    else:
        ok = base & df["AVAL"].notna()
    v[ok] = 0.0
    return v


def t_ci(values, level: float = 0.95) -> tuple[float, float]:
    """t-based CI of the mean; (nan, nan) for fewer than two values."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n < 2:
        return float("nan"), float("nan")
    m, sd = v.mean(), v.std(ddof=1)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return float(m - half), float(m + half)


def summarise(df: pd.DataFrame, scale: str = "raw", arm_order=None, level: float = 0.95) -> pd.DataFrame:
    """One row per arm × visit with n, mean, sd, ci_low, ci_high, median, q1, q3 (on ``scale``)."""
    if df.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    d = pd.DataFrame({"ARM": df["ARM"].astype(str).to_numpy(), "TIME": df["TIME"].to_numpy(float),
                      "v": scale_values(df, scale).to_numpy(float)})
    d = d[np.isfinite(d["v"])]
    rows = []
    for (arm, visit), g in d.groupby(["ARM", "TIME"], sort=True):
        v = g["v"].to_numpy(float)
        n = len(v)
        lo, hi = t_ci(v, level)
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75]) if n else (np.nan,) * 3
        if n and (v > 0).all():
            lv = np.log(v)
            glo, ghi = t_ci(lv, level)
            geo = (math.exp(lv.mean()), math.exp(glo) if np.isfinite(glo) else np.nan,
                   math.exp(ghi) if np.isfinite(ghi) else np.nan)
        else:
            geo = (np.nan, np.nan, np.nan)
        rows.append({"ARM": arm, "TIME": float(visit), "n": n, "mean": float(v.mean()),
                     "sd": float(v.std(ddof=1)) if n > 1 else float("nan"),
                     "ci_low": lo, "ci_high": hi, "median": float(med), "q1": float(q1), "q3": float(q3),
                     "gmean": geo[0], "gci_low": geo[1], "gci_high": geo[2]})
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if arm_order is not None:
        order = {a: i for i, a in enumerate(arm_order)}
        out = out[out["ARM"].isin(order)]
        out = out.assign(_o=out["ARM"].map(order)).sort_values(["_o", "TIME"]).drop(columns="_o")
    return out.reset_index(drop=True)


def subject_lines(df: pd.DataFrame, scale: str = "raw") -> pd.DataFrame:
    """Per-subject points on ``scale``: USUBJID, ARM, TIME, y (sorted; missing values dropped)."""
    out = pd.DataFrame({"USUBJID": df["USUBJID"].astype(str).to_numpy(), "ARM": df["ARM"].astype(str).to_numpy(),
                        "TIME": df["TIME"].to_numpy(float), "y": scale_values(df, scale).to_numpy(float)})
    out = out[np.isfinite(out["y"])]
    return out.sort_values(["USUBJID", "TIME"]).reset_index(drop=True)


def effective_visit(chosen: float | None, param_visits, weeks: tuple[float, float]) -> float | None:
    """The comparison visit: the latest post-baseline visit of the parameter that lies in the window
    and is not after ``chosen`` (``chosen`` itself when it is measured); the parameter's last visit in
    the window when ``chosen`` is None or earlier than all of them; None when the window has none."""
    inside = sorted(float(v) for v in param_visits if v > 0 and weeks[0] <= v <= weeks[1])
    if not inside:
        return None
    if chosen is None:
        return inside[-1]
    before = [v for v in inside if v <= chosen]
    return before[-1] if before else inside[-1]


# -- large studies ------------------------------------------------------------------------------
INDIV_MAX_PER_ARM = 150  # patient lines drawn per arm; above this a systematic sample (the figure says so)


def sample_subjects(subjects, max_n: int = INDIV_MAX_PER_ARM) -> list[str]:
    """At most ``max_n`` of ``subjects``: all (sorted) when no more, else a systematic sample.

    Evenly spaced subjects in USUBJID order, the first and the last included, so the same
    population always draws the same lines (deterministic, no random state).
    """
    ids = sorted(set(map(str, subjects)))
    if len(ids) <= max_n:
        return ids
    if max_n <= 0:
        return []
    pos = np.unique(np.linspace(0, len(ids) - 1, max_n).round().astype(int))
    return [ids[i] for i in pos]
