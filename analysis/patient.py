"""One subject's whole story: demographics, disposition, values over time, dosing and adverse events.

Pure pandas on the study frames (no Dash). Every function takes the frames it needs and a
USUBJID that the caller has already validated against ADSL; nothing here raises on a study
that lacks a dataset or a variable: the piece is returned empty and the page says so.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import safety as S

# ADaM's demographic ADSL variables shown in the header, when present, in this order: (variable, label).
# The study's own baseline variables follow them (the caller passes them: the Overview's baseline rows).
DEMOGRAPHICS = (
    ("AGE", "Age"),
    ("SEX", "Sex"),
    ("RACE", "Race"),
    ("ETHNIC", "Ethnicity"),
    ("COUNTRY", "Country"),
    ("SITEID", "Site"),
)
SEX_TEXT = {"F": "female", "M": "male", "U": "unknown"}
FLAG_TEXT = {"Y": "yes", "N": "no"}


def _text(v) -> str | None:
    """A printable value, or None for missing/blank."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    s = str(v).strip()
    return s or None


def subject_positions(df: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """{USUBJID: row positions in ``df``}, built once per study so that a request takes one
    subject's rows by position instead of comparing every row of the frame (4.6 million at the
    benchmark's largest scale). Empty for a missing frame or one without USUBJID."""
    if df is None or df.empty or "USUBJID" not in df.columns:
        return {}
    groups = df.groupby(df["USUBJID"].astype(str), sort=False).indices
    return {str(k): np.asarray(v) for k, v in groups.items()}


def subject_frame(df: pd.DataFrame | None, positions: dict, usubjid: str) -> pd.DataFrame | None:
    """The rows of ``df`` of one subject (in frame order), from ``subject_positions(df)``."""
    if df is None:
        return None
    pos = positions.get(usubjid)
    return df.iloc[0:0] if pos is None else df.take(pos)


def subject_row(adsl: pd.DataFrame, usubjid: str) -> pd.Series | None:
    rows = adsl[adsl["USUBJID"].astype(str) == usubjid]
    return None if rows.empty else rows.iloc[0]


def ordered_subjects(adsl: pd.DataFrame, subjects) -> list[str]:
    """The subjects of ``subjects`` in ADSL order (the order of the patient picker)."""
    keep = set(map(str, subjects))
    return [u for u in adsl["USUBJID"].astype(str) if u in keep]


def default_subject(order: list[str], chosen: tuple[str, ...] | list[str]) -> str | None:
    """The first patient chosen in the global filter that is in ``order``, else the first of ``order``."""
    for u in chosen:
        if u in order:
            return u
    return order[0] if order else None


def neighbours(order: list[str], current: str | None) -> tuple[str | None, str | None]:
    """(previous, next) subject of ``current`` within ``order``; None at either end or when absent."""
    if current not in order:
        return None, None
    i = order.index(current)
    return (order[i - 1] if i > 0 else None), (order[i + 1] if i + 1 < len(order) else None)


def demographics(row: pd.Series, extra=()) -> list[tuple[str, str]]:
    """(label, value) for each demographic ADSL variable present and non-missing, then for each of
    ``extra`` ((variable, label): the study's baseline variables) not already shown."""
    out = []
    shown = {v for v, _ in DEMOGRAPHICS}
    for var, label in (*DEMOGRAPHICS, *[(v, lab) for v, lab in extra if v not in shown]):
        if var not in row.index:
            continue
        v = _text(row[var])
        if v is None:
            continue
        if var == "AGE":
            unit = _text(row["AGEU"]) if "AGEU" in row.index else None
            v = f"{v} {unit.lower()}" if unit else v
            label = "Age"
        elif var == "SEX":
            v = SEX_TEXT.get(v.upper(), v)
        elif var.endswith("FL"):
            v = FLAG_TEXT.get(v.upper(), v)
        elif var == "RACE" or var == "ETHNIC":
            v = v.lower()
        out.append((label, v))
    return out


def disposition(row: pd.Series) -> list[tuple[str, str]]:
    """Treatment dates, end-of-study status with its reason, last visit, death flag (when present)."""
    out = []
    start = _text(row["TRTSDT"]) if "TRTSDT" in row.index else None
    end = _text(row["TRTEDT"]) if "TRTEDT" in row.index else None
    if start or end:
        out.append(("Treatment", f"{start or '?'} to {end or '?'}"))
    status = _text(row["EOSSTT"]) if "EOSSTT" in row.index else None
    if status:
        reason = _text(row["DCSREAS"]) if "DCSREAS" in row.index else None
        text = status.lower()
        if reason and status.upper() != "COMPLETED":
            text += f" ({reason.lower()})"
        out.append(("End of study", text))
    last = _text(row["LSTVISN"]) if "LSTVISN" in row.index else None
    if last:
        out.append(("Last visit", f"week {last}"))
    if "DTHFL" in row.index and str(row["DTHFL"]).upper() == "Y":
        out.append(("Death", "yes"))
    return out


def subject_values(meas: pd.DataFrame, usubjid: str, codes) -> pd.DataFrame:
    """The subject's analysis values of ``codes`` on the time axis, sorted by parameter and visit."""
    cols = ["PARAMCD", "TIME", "AVISIT", "ADY", "AVAL", "ANRLO", "ANRHI", "ANRIND"]
    d = meas[(meas["USUBJID"].astype(str) == usubjid) & meas["PARAMCD"].isin(list(codes))]
    d = d[[c for c in cols if c in d.columns]].dropna(subset=["AVAL"]).copy()
    d["PARAMCD"] = d["PARAMCD"].astype(str)
    return d.sort_values(["PARAMCD", "TIME"]).reset_index(drop=True)


def baseline_value(meas: pd.DataFrame, usubjid: str, code: str) -> float | None:
    """The subject's baseline value of ``code`` (ABLFL = Y, else BASE), or None."""
    d = meas[(meas["USUBJID"].astype(str) == usubjid) & (meas["PARAMCD"] == code)]
    if d.empty:
        return None
    if "ABLFL" in d.columns:
        b = d.loc[d["ABLFL"].astype(str) == "Y", "AVAL"].dropna()
        if len(b):
            return float(b.iloc[0])
    if "BASE" in d.columns:
        b = d["BASE"].dropna()
        if len(b):
            return float(b.iloc[0])
    return None


def dosing(adex: pd.DataFrame | None, usubjid: str) -> pd.DataFrame:
    """The subject's own dosing runs from ADEX (EXTRT, EXROUTE, start/end week, frequency, dose weeks)."""
    return S.subject_dosing(adex, pd.DataFrame({"USUBJID": [usubjid]}))


def events(adae: pd.DataFrame | None, usubjid: str, arm: str) -> pd.DataFrame:
    """The subject's adverse events with a start day: start/end in study weeks, severity, serious."""
    if adae is None:
        return pd.DataFrame(columns=["USUBJID", "ARM", "AEDECOD", "AETERM", "ASTDY", "AENDY", "start", "end",
                                     "ongoing", "severity", "serious"])
    return S.timeline_events(adae, pd.DataFrame({"USUBJID": [usubjid], "ARM": [arm]}), None)


def param_groups(params: dict) -> dict[str, list[str]]:
    """Parameter codes by category (PARCAT1, else dataset), in catalogue order."""
    groups: dict[str, list[str]] = {}
    for code, p in params.items():
        groups.setdefault(p.category or p.dataset, []).append(code)
    return groups


GROUP_UNIT_SEP = " · "


def unit_groups(params: dict, unit_of=lambda p: p.unit) -> dict[str, tuple[str, str, list[str]]]:
    """Parameter groups that share one unit: {group id: (category, unit, codes)}, in catalogue order.

    A category whose parameters share a unit is one group (id = the category); one with several
    units is split into a group per unit (id = "category · unit"), so that a panel never puts one
    unit label over values in other units.
    """
    out: dict[str, tuple[str, str, list[str]]] = {}
    for cat, codes in param_groups(params).items():
        by_unit: dict[str, list[str]] = {}
        for c in codes:
            by_unit.setdefault(unit_of(params[c]) or "", []).append(c)
        if len(by_unit) == 1:
            out[cat] = (cat, next(iter(by_unit)), codes)
        else:
            for unit, cs in by_unit.items():
                out[f"{cat}{GROUP_UNIT_SEP}{unit or 'no unit'}"] = (cat, unit, cs)
    return out
