"""Dosing schedules read back from ADEX, for the design timeline."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _label(interval_days: float) -> str:
    if interval_days <= 1.5:
        return "daily"
    if interval_days <= 2.5:
        return "every other day"
    if 6 <= interval_days <= 8:
        return "weekly"
    if 12 <= interval_days <= 16:
        return "every 2 weeks"
    if 25 <= interval_days <= 31:
        return "every 4 weeks"
    return f"every {interval_days:g} days"


def dosing_segments(adex: pd.DataFrame | None, arm_labels: list[str]) -> pd.DataFrame:
    """Planned schedule per arm and treatment, from the subject with the most doses.

    One row per run of doses with the same interval: ARM, EXTRT, EXROUTE, start and
    end study week, frequency label, number of doses and each dose's week.
    """
    cols = ["ARM", "EXTRT", "EXROUTE", "start_week", "end_week", "frequency", "doses", "dose_weeks"]
    if adex is None or adex.empty or not {"USUBJID", "EXTRT", "ASTDY"} <= set(adex.columns):
        return pd.DataFrame(columns=cols)
    rows = []
    for arm in arm_labels:
        d = adex[adex["ARM"] == arm]
        for trt, dt in d.groupby("EXTRT", observed=True, sort=True):
            ref = dt.groupby("USUBJID", observed=True).size().idxmax()
            days = np.sort(dt.loc[dt["USUBJID"] == ref, "ASTDY"].to_numpy(float))
            route = str(dt["EXROUTE"].iloc[0]) if "EXROUTE" in dt else ""
            rows += [(arm, trt, route, *run) for run in runs(days)]
    return pd.DataFrame(rows, columns=cols)


def runs(days: np.ndarray) -> list[tuple]:
    """The runs of doses with the same interval in one subject's sorted study days of one treatment: start and end
    study week, frequency label, number of doses and each dose's week."""
    if len(days) == 1:
        week = (days[0] - 1) / 7
        return [(week, week, "single dose", 1, [week])]
    gaps = np.diff(days)
    # Round to the nearest day so +-3-day visit windows do not split a run.
    kinds = [_label(round(g)) if g < 20 else _label(28 if 20 <= g <= 35 else g) for g in gaps]
    out = []
    start = 0
    for i in range(1, len(kinds) + 1):
        if i == len(kinds) or kinds[i] != kinds[start]:
            seg = days[start:i + 1]
            out.append(((seg[0] - 1) / 7, (seg[-1] - 1) / 7, kinds[start], len(seg), list((seg - 1) / 7)))
            start = i
    return out
