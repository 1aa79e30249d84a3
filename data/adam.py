"""ADaM rules: arms, baselines, visits and the parameter catalogue, applied to frames already read.

The conventions applied when ``study.toml`` says nothing are listed in the README ("Use your
own study"); each default is overridable there.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from data import config as _config
from data.model import ParamInfo
from data.validate import analysis_rows, visit_on_axis

# Okabe-Ito: distinguishable with every common colour-vision deficiency and
# saturated enough for a projector. (dark, light) per arm, in display order.
ARM_PALETTE = (
    ("#0072B2", "#9ccbe8"),  # blue
    ("#E69F00", "#f5d28a"),  # orange
    ("#009E73", "#8fd6c1"),  # bluish green
    ("#CC79A7", "#ebc4da"),  # reddish purple
    ("#D55E00", "#f0b48a"),  # vermillion
    ("#56B4E9", "#bfe2f6"),  # sky blue
)
_CONTROL_HINT = re.compile(r"placebo|control|standard of care|vehicle|\bsoc\b", re.IGNORECASE)


_UNIT_RE = re.compile(r"\(([^()]*)\)\s*$")


def unit_of(param: str) -> str:
    """ADaM puts the unit in PARAM's trailing parentheses: 'IgG (g/L)' -> 'g/L'."""
    m = _UNIT_RE.search(param)
    return m.group(1) if m else ""


def _arm_order(adsl: pd.DataFrame, arm_col: str) -> list[str]:
    num = arm_col + "N"
    if num in adsl.columns and pd.api.types.is_numeric_dtype(adsl[num]):
        order = adsl.groupby(adsl[arm_col].astype(str))[num].min().sort_values(kind="stable")
        return [str(a) for a in order.index]
    return sorted(adsl[arm_col].astype(str).unique())


def _arm_codes(adsl: pd.DataFrame, arm_col: str, labels: list[str]) -> dict[str, str]:
    """Short, URL-safe code per arm: ARMCD when it maps one-to-one, else a slug of the label."""
    if "ARMCD" in adsl.columns:
        pairs = adsl[[arm_col, "ARMCD"]].astype(str).drop_duplicates()
        if pairs[arm_col].is_unique and pairs["ARMCD"].is_unique and set(pairs[arm_col]) >= set(labels) \
                and pairs["ARMCD"].str.fullmatch(r"[A-Za-z0-9_-]+").all():
            return dict(zip(pairs[arm_col], pairs["ARMCD"]))
    codes: dict[str, str] = {}
    for i, lab in enumerate(labels):
        code = re.sub(r"[^A-Za-z0-9]+", "-", lab).strip("-").upper()[:24] or f"ARM{i + 1}"
        codes[lab] = code if code not in codes.values() else f"{code}-{i + 1}"
    return codes


def _lighten(hex_colour: str, amount: float = 0.55) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in (r, g, b))


def _pick(cols, *names):
    return next((n for n in names if n in cols), None)


def _prepare_bds(df: pd.DataFrame, file: str, cfg: _config.StudyConfig, notes: list[str]):
    """Baseline flag and visit placement on a copy of one BDS frame; returns (frame, axis mask).

    Lenient: values that are not numeric are left for validation to report.
    """
    df = df.copy()
    numeric_visits = pd.api.types.is_numeric_dtype(df["AVISITN"])
    num = pd.to_numeric(df["AVISITN"], errors="coerce")
    if "AVISIT" not in df.columns:
        df["AVISIT"] = ["" if pd.isna(n) else f"Week {n:g}" for n in num]
    names = df["AVISIT"].astype(str)
    if numeric_visits and cfg.visit_weeks:
        for visit, week in cfg.visit_weeks.items():
            df.loc[names == visit, "AVISITN"] = week
        num = pd.to_numeric(df["AVISITN"], errors="coerce")
    scheduled = visit_on_axis(df, cfg.include_visits)

    # Baseline: ABLFL = "Y", else the configured visit, else AVISITN 0, else the visit named Baseline.
    if "ABLFL" in df.columns and (df["ABLFL"].astype(str) == "Y").any():
        abl = df["ABLFL"].astype(str) == "Y"
    else:
        how, abl = None, pd.Series(False, index=df.index)
        b = cfg.baseline_visit
        if b is not None:
            abl = (num == b) if isinstance(b, float) else (names == b)
            how = f"study.toml [visits] baseline = {b!r}"
        if not abl.any() and (num == 0).any():
            abl, how = num == 0, "AVISITN = 0"
        if not abl.any() and names.str.lower().eq("baseline").any():
            abl, how = names.str.lower().eq("baseline"), "the visit named Baseline"
        if abl.any():
            notes.append(f"NOTE {file}: no ABLFL; baseline records are those at {how}")
        else:
            notes.append(f"WARNING {file}: no baseline records (no ABLFL, no AVISITN 0, no visit named Baseline): "
                         f"change from baseline is not available")
        df["ABLFL"] = np.where(abl, "Y", "")
    # A baseline taken at an unscheduled visit is drawn at the baseline visit.
    off = abl & ~scheduled
    if off.any() and numeric_visits:
        sched_abl = num[abl & scheduled]
        base_n = float(sched_abl.mode().iloc[0]) if len(sched_abl) else 0.0
        at = (num == base_n) & scheduled
        label = str(names[at].iloc[0]) if at.any() else "Baseline"
        df.loc[off, "AVISITN"] = base_n
        df.loc[off, "AVISIT"] = label
    axis = analysis_rows(df) & (scheduled | abl)
    return df, axis


def _derive_baseline(meas: pd.DataFrame) -> pd.DataFrame:
    """BASE/CHG/PCHG as ADaM defines them, derived where the file does not carry them."""
    if {"BASE", "CHG", "PCHG"} <= set(meas.columns):
        return meas
    is_base = meas["ABLFL"].astype(str) == "Y"
    if "BASE" not in meas.columns:
        keys = [meas["USUBJID"].astype(str), meas["PARAMCD"].astype(str)]
        meas["BASE"] = meas["AVAL"].where(is_base).groupby(keys, sort=False).transform("first").astype("float64")
    post = ~is_base
    if "CHG" not in meas.columns:
        meas["CHG"] = np.where(post, meas["AVAL"] - meas["BASE"], np.nan)
    if "PCHG" not in meas.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            meas["PCHG"] = np.where(post & (meas["BASE"] != 0), 100 * meas["CHG"] / meas["BASE"], np.nan)
    return meas


def _visit_number(v, visits: dict[float, str], where: str, errors: list[str]) -> float | None:
    if isinstance(v, float):
        if v in visits:
            return v
    else:
        by_name = {name: n for n, name in visits.items()}
        if v in by_name:
            return by_name[v]
    known = ", ".join(f"{name!r} ({n:g})" for n, name in list(visits.items())[:12])
    errors.append(f"ERROR study.toml [visits] {where}: {v!r} is not a visit on the time axis (visits: {known})")
    return None


def _param_catalogue(meas: pd.DataFrame) -> dict[str, ParamInfo]:
    out = {}
    if meas.empty:
        return out
    if "PARAMN" in meas.columns:  # ADaM's own display order of parameters
        meas = meas.sort_values("PARAMN", kind="stable")
    has_unit = "AVALU" in meas.columns
    for code, d in meas.groupby("PARAMCD", sort=False):
        first = d.iloc[0]
        lo = d["ANRLO"].dropna() if "ANRLO" in d.columns else pd.Series(dtype=float)
        hi = d["ANRHI"].dropna() if "ANRHI" in d.columns else pd.Series(dtype=float)
        unit = unit_of(str(first["PARAM"]))
        if not unit and has_unit:
            u = d["AVALU"].dropna().astype(str).str.strip()
            unit = u[u != ""].iloc[0] if (u != "").any() else ""
        out[str(code)] = ParamInfo(
            code=str(code),
            name=str(first["PARAM"]),
            dataset=str(first["DATASET"]),
            category=str(first["PARCAT1"]),
            unit=unit,
            lo=float(lo.iloc[0]) if len(lo) else None,
            hi=float(hi.iloc[0]) if len(hi) else None,
            visits=tuple(sorted(float(v) for v in d["TIME"].dropna().unique())),
        )
    return out
