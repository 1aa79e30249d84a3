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


def _t_half(n: np.ndarray, sd: np.ndarray, level: float) -> np.ndarray:
    """Half-widths of t-based CIs for groups of sizes ``n`` (NaN where n < 2)."""
    n = n.astype(float)
    ok = n >= 2
    q = np.full(len(n), np.nan)
    q[ok] = stats.t.ppf(0.5 + level / 2, n[ok] - 1)  # one vectorised call: per-group calls cost ~0.1 ms each
    return q * sd / np.sqrt(n)


def _group_sd(v, grp, start, n, mean) -> np.ndarray:
    """SD (ddof 1) per group of the sorted values; NaN for a group of one."""
    ss = np.add.reduceat((v - mean[grp]) ** 2, start)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, np.sqrt(ss / np.maximum(n - 1, 1)), np.nan)


def _type7(v, start, n, p: float) -> np.ndarray:
    """Quantile ``p`` per group of values sorted within their group: linear interpolation between order
    statistics (Hyndman-Fan type 7, numpy's and R's default)."""
    h = (n - 1) * p
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    a, b = v[start + lo], v[start + hi]
    t = h - lo
    # numpy's own arithmetic (from the upper value when t >= 0.5): the same number to the last bit
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


def summarise(df: pd.DataFrame, scale: str = "raw", arm_order=None, level: float = 0.95) -> pd.DataFrame:
    """One row per arm × visit with n, mean, sd, ci_low, ci_high, median, q1, q3 (on ``scale``), and the
    geometric mean with its CI where every value of the group is positive."""
    if df.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    v = scale_values(df, scale).to_numpy(float)
    time = df["TIME"].to_numpy(float)
    # a row without a value, a time or an arm belongs to no group (as groupby leaves out missing keys)
    keep = np.isfinite(v) & np.isfinite(time) & df["ARM"].notna().to_numpy()
    v, time = v[keep], time[keep]
    if not len(v):
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    arm = df["ARM"].astype(str).to_numpy()[keep]
    # Whole-array group reductions: the same statistics as a loop over groups, much faster (the loop's
    # per-group quantile and t-quantile calls were most of an uncached trajectory view).
    arms, arm_i = np.unique(arm, return_inverse=True)  # sorted names: the order groupby(sort=True) gave
    idx = np.lexsort((v, time, arm_i))  # by arm, then time, then value (for the quantiles)
    arm_i, time, v = arm_i[idx], time[idx], v[idx]
    new = np.r_[True, (arm_i[1:] != arm_i[:-1]) | (time[1:] != time[:-1])]
    start = np.flatnonzero(new)
    n = np.diff(np.r_[start, len(v)])
    grp = np.cumsum(new) - 1
    mean = np.add.reduceat(v, start) / n
    sd = _group_sd(v, grp, start, n, mean)
    half = _t_half(n, sd, level)
    pos = v > 0
    all_pos = np.logical_and.reduceat(pos, start)
    lv = np.log(np.where(pos, v, 1.0))
    lmean = np.add.reduceat(lv, start) / n
    lhalf = _t_half(n, _group_sd(lv, grp, start, n, lmean), level)
    q1, med, q3 = (_type7(v, start, n, p) for p in (0.25, 0.5, 0.75))
    nan = np.full(len(n), np.nan)
    with np.errstate(over="ignore"):
        geo = [np.where(all_pos, np.exp(x), nan) for x in (lmean, lmean - lhalf, lmean + lhalf)]
    out = pd.DataFrame({
        "ARM": arms[arm_i[start]].astype(object), "TIME": time[start], "n": n.astype(int), "mean": mean, "sd": sd,
        "ci_low": mean - half, "ci_high": mean + half, "median": med, "q1": q1, "q3": q3,
        "gmean": geo[0], "gci_low": geo[1], "gci_high": geo[2]}, columns=SUMMARY_COLUMNS)
    if arm_order is not None:
        order = {a: i for i, a in enumerate(arm_order)}
        out = out[out["ARM"].isin(order)]
        out = out.assign(_o=out["ARM"].map(order)).sort_values(["_o", "TIME"], kind="stable").drop(columns="_o")
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
