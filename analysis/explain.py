"""Why a between-arm result is empty: one sentence naming the cause found in the data, and what changes it.

The statistics functions say what stopped them ("no subject in the reference arm", "degenerate
Hessian"); that can blame the wrong thing: the ANCOVA's reference arm had 86 subjects, none with a
value at timepoint 1; the model failed because most subjects had no baseline value. These
functions look at the data the test was given and, when they find such a cause, return the
sentence to show instead (None when the data show nothing more specific than the test's own note).
Pure pandas, no Dash.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Fraction of post-baseline values without a baseline above which the baseline is named as the cause.
MISSING_BASE_SHARE = 0.2
MIN_PER_ARM = 3


def _subjects(df: pd.DataFrame, arm: str, visit: float, column: str = "AVAL") -> set:
    d = df[(df["ARM"].astype(str) == arm) & (df["TIME"] == visit)]
    return set(d.loc[np.isfinite(pd.to_numeric(d[column], errors="coerce").astype(float)), "USUBJID"].astype(str))


def arm_pairs_cause(values: pd.DataFrame, arm: str, va: float, vb: float, la: str, lb: str,
                    reference: bool = False, baseline: bool = False) -> str | None:
    """Why ``arm`` has no subject with values at both visits (None when it has one).

    ``baseline``: the first visit is the baseline (trajectory page: baseline vs the comparison visit);
    else the two visits are the comparison page's Timepoint 1 and Timepoint 2.
    """
    a, b = _subjects(values, arm, va), _subjects(values, arm, vb)
    if a & b:
        return None
    role = "the reference arm " if reference else ""
    change = "choose another reference arm" if reference else "leave it out with the arm filter"
    second = "choose another Comparison visit" if baseline else "choose another Timepoint 2"
    if not a and not b:
        return f"{role}{arm} has no value at {la} or {lb} in the filter: {change}, or {second[0].lower() + second[1:]}."
    if not a and baseline:
        return (f"none of the {len(b)} subjects of {role}{arm} with a value at {lb} has a baseline value: mark the "
                f"baseline records (ABLFL = 'Y'), or set [visits] baseline in study.toml.")
    if not a:
        return (f"none of the {len(b)} subjects of {role}{arm} with a value at {lb} has one at {la} (timepoint 1): "
                f"choose another Timepoint 1 (a baseline kept off the time axis is placed with [visits] in "
                f"study.toml).")
    if not b:
        return (f"none of the {len(a)} subjects of {role}{arm} with a value at {la} has one at {lb}: {second}.")
    return (f"no subject of {role}{arm} has values at both {la} ({len(a)} subjects) and {lb} ({len(b)}): "
            f"{second}.")


def pairs_cause(values: pd.DataFrame, reference: str, va: float, vb: float, la: str, lb: str,
                arms=None) -> str | None:
    """The two-visit comparison: why an arm (the reference first) has no subject with both values.

    ``values``: USUBJID, ARM, TIME (the time-axis position), AVAL at the two visits; ``la``/``lb``: the visits' names.
    """
    for arm in [reference] + [a for a in (arms or []) if a != reference]:
        why = arm_pairs_cause(values, arm, va, vb, la, lb, reference=arm == reference)
        if why:
            return why
    return None


def baseline_cause(df: pd.DataFrame, reference: str, visit: float, arms, outcome: str, visit_label: str) -> str | None:
    """The repeated-measures model: missing baselines, or no value of an arm at the comparison visit.

    ``df``: one parameter's rows (USUBJID, ARM, TIME (the time-axis position), AVAL, BASE, ``outcome``, ABLFL) inside the window.
    """
    if not {"USUBJID", "ARM", "TIME", "AVAL"} <= set(df.columns):
        return None
    post = df["TIME"] > 0
    if "ABLFL" in df.columns:
        post &= df["ABLFL"].astype(str) != "Y"
    d = df[post & np.isfinite(pd.to_numeric(df["AVAL"], errors="coerce").astype(float))]
    at_ref = d[(d["ARM"].astype(str) == reference) & (d["TIME"] == visit)]
    if reference in list(arms) and at_ref.empty:
        return (f"the reference arm {reference} has no value at {visit_label}: choose another Comparison visit or "
                f"Reference arm.")
    if d.empty:
        return None
    base = pd.to_numeric(d["BASE"], errors="coerce").astype(float) if "BASE" in d.columns else \
        pd.Series(np.nan, index=d.index)
    no_base = ~np.isfinite(base)
    share = float(no_base.mean())
    ref_subj = set(at_ref["USUBJID"].astype(str))
    ref_no_base = set(at_ref.loc[no_base.reindex(at_ref.index).to_numpy(bool), "USUBJID"].astype(str))
    fix = ("the subjects have no baseline record of this parameter (ABLFL = 'Y'): mark the baseline records, or "
           "set [visits] baseline in study.toml")
    if ref_subj and len(ref_subj - ref_no_base) < MIN_PER_ARM <= len(ref_subj):
        return (f"{len(ref_no_base)} of the {len(ref_subj)} subjects of the reference arm {reference} with a value at "
                f"{visit_label} have no baseline value (BASE); {fix}.")
    if share >= MISSING_BASE_SHARE:
        n_subj = d.loc[no_base.to_numpy(bool), "USUBJID"].nunique()
        return (f"{int(no_base.sum())} of the {len(d)} post-baseline values ({n_subj} subjects) have no baseline "
                f"value (BASE), too many for the model to be estimated; {fix}.")
    if outcome in d.columns:
        out = pd.to_numeric(d[outcome], errors="coerce").astype(float)
        missing = ~np.isfinite(out) & np.isfinite(base)
        if float(missing.mean()) >= MISSING_BASE_SHARE:
            what = "% change" if outcome == "PCHG" else "change"
            return (f"{int(missing.sum())} of the {len(d)} post-baseline values have a baseline but no {what} "
                    f"from baseline ({outcome}; % change is missing where the baseline is 0): choose the Change "
                    f"from baseline scale.")
    return None
