"""Descriptive statistics by arm: baseline characteristics and disposition.

Conventions used everywhere in the app (and named in its captions):
- mean (SD) with the sample SD (ddof = 1);
- median [Q1, Q3] with linear-interpolation quantiles (Hyndman–Fan type 7, pandas' default);
- n (%) of subjects, the denominator being the subjects in that column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

QUANTILE_METHOD = "linear interpolation (type 7)"


def fmt(x: float, decimals: int = 1) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{decimals}f}"


def mean_sd(values: pd.Series, decimals: int = 1) -> str:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if len(v) == 0:
        return "–"
    sd = v.std(ddof=1) if len(v) > 1 else np.nan
    return f"{fmt(v.mean(), decimals)} ({fmt(sd, decimals)})"


def median_iqr(values: pd.Series, decimals: int = 1) -> str:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if len(v) == 0:
        return "–"
    q1, med, q3 = v.quantile([0.25, 0.5, 0.75])
    return f"{fmt(med, decimals)} [{fmt(q1, decimals)}, {fmt(q3, decimals)}]"


def n_pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f}%)" if n else "0"


def _columns(df: pd.DataFrame, arm_labels: list[str]):
    """(column title, frame) per arm, then Total."""
    cols = [(f"{a} (N={int((df['ARM_LABEL'] == a).sum())})", df[df["ARM_LABEL"] == a]) for a in arm_labels]
    cols.append((f"Total (N={len(df)})", df))
    return cols


def baseline_table(adsl: pd.DataFrame, measurements: pd.DataFrame, arm_labels: list[str],
                   subjects, specs) -> pd.DataFrame:
    """Baseline characteristics, one row per line of the table.

    ``specs``: the characteristics in table order (``data.words.baseline_specs``): an ADSL variable
    (continuous: mean (SD) and/or median [Q1, Q3]; categorical: n (%) per value, "Missing" when any
    subject has none; a Y/N flag: one row, the subjects with "Y") or a parameter's baseline value
    (ABLFL = "Y"). A continuous row with missing values is followed by its n.
    Returns columns: Characteristic, Statistic, <arm (N=..)>..., Total (N=..).
    """
    df = adsl[adsl["USUBJID"].isin(subjects) & adsl["ARM_LABEL"].isin(arm_labels)]
    cols = _columns(df, arm_labels)
    rows: list[dict] = []

    def add(label, stat, fn):
        rows.append({"Characteristic": label, "Statistic": stat, **{title: fn(d) for title, d in cols}})

    def blank(v: pd.Series) -> pd.Series:
        return v.isna() | v.astype(str).str.strip().isin(["", "nan", "NaN", "None", "<NA>"])

    def continuous(label, statistic, values_of, decimals):
        if statistic in ("mean", "both"):
            add(label, "mean (SD)", lambda d: mean_sd(values_of(d), decimals))
        if statistic in ("median", "both"):
            add(label, "median [Q1, Q3]", lambda d: median_iqr(values_of(d), decimals))
        if any(values_of(d).isna().any() for _t, d in cols):
            add(label, "n", lambda d: str(int(values_of(d).notna().sum())))

    add("Subjects", "n", lambda d: str(len(d)))
    base = None
    for spec in specs:
        if spec.source == "adsl":
            if spec.name not in df.columns:
                continue
            var = spec.name
            if spec.kind == "continuous":
                continuous(spec.label, spec.statistic,
                           lambda d, v=var: pd.to_numeric(d[v].where(~blank(d[v])), errors="coerce"), spec.decimals)
                continue
            text = df[var].astype(str).str.strip()
            if spec.kind == "flag":
                add(spec.label, "n (%)", lambda d, v=var: n_pct(int((d[v].astype(str).str.strip().str.upper() == "Y").sum()),
                                                                 len(d)))
            else:
                for value, shown in spec.levels:
                    add(f"{spec.label}: {shown}", "n (%)",
                        lambda d, v=var, x=value: n_pct(int((d[v].astype(str).str.strip() == x).sum()), len(d)))
            if blank(df[var]).any() and len(text):
                add(f"{spec.label}: Missing", "n (%)", lambda d, v=var: n_pct(int(blank(d[v]).sum()), len(d)))
        else:
            if base is None:
                if not len(measurements) or "ABLFL" not in measurements:
                    continue
                base = measurements[(measurements["ABLFL"] == "Y") & measurements["USUBJID"].isin(df["USUBJID"])]
            b = base[base["PARAMCD"] == spec.name].set_index("USUBJID")["AVAL"]
            if b.empty:
                continue
            b.index = b.index.astype(str)
            continuous(spec.label, spec.statistic, lambda d, b=b: b.reindex(d["USUBJID"].astype(str)),
                       2 if b.abs().median() < 10 else 1)
    return pd.DataFrame(rows)


RANDOMISED_FLAGS = ("ITTFL", "RANDFL")  # ADSL flags of the randomised subjects (ADaMIG), in preference order


def randomised_flag(adsl: pd.DataFrame) -> str | None:
    return next((f for f in RANDOMISED_FLAGS if f in adsl.columns), None)


def disposition_table(adsl: pd.DataFrame, arm_labels: list[str], subjects) -> pd.DataFrame:
    """Randomised, completed, discontinued (with each reason), as n (%) per arm and total: the randomised subjects
    (``ITTFL`` = "Y", else ``RANDFL``, when ADSL has one) by the arm they were randomised to (``ARM_LABEL``: the
    planned arm), whether or not they were treated."""
    df = adsl[adsl["USUBJID"].isin(subjects) & adsl["ARM_LABEL"].isin(arm_labels)]
    flag = randomised_flag(df)
    if flag:
        df = df[df[flag].astype(str).str.strip().str.upper() == "Y"]
    cols = _columns(df, arm_labels)
    rows = [{"Status": "Randomised", **{t: str(len(d)) for t, d in cols}}]
    if "EOSSTT" not in df:
        return pd.DataFrame(rows)
    for status in ("COMPLETED", "DISCONTINUED"):
        rows.append({"Status": status.capitalize(), **{t: n_pct(int((d["EOSSTT"] == status).sum()), len(d)) for t, d in cols}})
        if status == "DISCONTINUED" and "DCSREAS" in df:
            reasons = df.loc[df["EOSSTT"] == status, "DCSREAS"].astype(str)
            for r in sorted(reasons[reasons.str.strip() != ""].unique()):
                rows.append({"Status": f"  reason: {r.capitalize()}",
                             **{t: n_pct(int(((d["EOSSTT"] == status) & (d["DCSREAS"] == r)).sum()), len(d)) for t, d in cols}})
    return pd.DataFrame(rows)


def arm_counts(adsl: pd.DataFrame, arm_labels: list[str], subjects) -> dict[str, int]:
    df = adsl[adsl["USUBJID"].isin(subjects)]
    return {a: int((df["ARM_LABEL"] == a).sum()) for a in arm_labels}


def param_slices(measurements: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{PARAMCD: that parameter's rows}, built once per study instead of a full-frame mask per request.

    The study's long frame is sorted by PARAMCD, so each parameter is a contiguous block and
    its frame a zero-copy row slice; an unsorted frame falls back to one copy per parameter.
    (Measured on 4.6 million rows: selecting a parameter by mask ~60 ms, by slice < 0.1 ms.)
    """
    if measurements.empty:
        return {}
    out = {}
    for code, pos in measurements.groupby("PARAMCD", observed=True, sort=False).indices.items():
        lo, hi = int(pos[0]), int(pos[-1]) + 1
        contiguous = hi - lo == len(pos)
        out[str(code)] = measurements.iloc[lo:hi] if contiguous else measurements.take(pos)
    return out
