"""Range and size checks on what the datasets hold: values a browser cannot draw are never served.

The loader (``data.study``) calls two hooks:

- ``check_tables(tables, errors, notes)`` right after the files are read: numbers must be
  finite (±inf has no place on an axis or in a mean), study days (``*DY``) plausible, dates
  before 2100 (``9999-12-31`` is a placeholder, not a date: an ongoing event has a missing
  end date). Those are errors: a wrong number is worse than no number. Text longer than
  ``MAX_TEXT`` characters (a 100,000-character arm label crashed a browser tab) is shortened
  for display, keeping values distinct, and a note says which column and how many values.
- ``cap_time_axis(frames, notes, unit)`` once the records on the time axis are selected: visits at implausible
  positions (beyond ±``MAX_WEEK`` weeks) and visits beyond the ``MAX_AXIS_VISITS`` with the most
  subjects are kept off the axis (like unscheduled visits), and a note says which.

Kept apart from ``data.validate`` (ADaM structure rules): these are limits of the display.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

MAX_TEXT = 200  # characters of any text value shown (labels, terms, identifiers)
MAX_DAY = 36_600  # |study day|: 100 years
MAX_WEEK = 1_000  # |position| on the time axis, in weeks: about 19 years
MAX_AXIS_VISITS = 200  # distinct visits on the time axis (slider marks, columns, x categories)
FIRST_DATE = pd.Timestamp("1900-01-01")
LAST_DATE = pd.Timestamp("2100-01-01")  # exclusive
_EXAMPLES = 3
_SAS_EPOCH = pd.Timestamp("1960-01-01")
_SAS_FIRST, _SAS_LAST = (FIRST_DATE - _SAS_EPOCH).days, (LAST_DATE - _SAS_EPOCH).days


def _rows(index) -> str:
    idx = [int(i) + 1 for i in list(index)[:_EXAMPLES]]  # 1-based, as a spreadsheet shows them
    more = len(index) - len(idx)
    return ", ".join(map(str, idx)) + (f" (and {more:,} more)" if more > 0 else "")


def _short(value: str) -> str:
    """A long text shortened for display: the start, an ellipsis and a digest that keeps values distinct."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{value[:MAX_TEXT - 12]}… [{digest}]"


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])
            or isinstance(df[c].dtype, pd.CategoricalDtype)]


def check_tables(tables: dict, errors: list[str], notes: list[str]) -> None:
    """Range checks and display truncation on every table read. ``tables``: {DATASET: (file, frame)}, updated."""
    for name, (file, df) in list(tables.items()):
        changed = False
        for col in df.columns:
            s = df[col]
            if pd.api.types.is_bool_dtype(s):
                continue
            if pd.api.types.is_numeric_dtype(s):
                vals = pd.to_numeric(s, errors="coerce").astype("float64")
                bad = np.isinf(vals.to_numpy())
                if bad.any():
                    errors.append(f"ERROR {file}, column {col}: not a finite number (±inf) in rows "
                                  f"{_rows(np.flatnonzero(bad))}; use a missing value")
                    continue
                if col.endswith("DY"):
                    far = (vals.abs() > MAX_DAY).to_numpy()
                    if far.any():
                        errors.append(f"ERROR {file}, column {col}: study day beyond ±{MAX_DAY:,} (100 years) in rows "
                                      f"{_rows(np.flatnonzero(far))}: {vals[far].iloc[0]:g}")
                elif col.endswith(("DT", "DTM")):  # a SAS date (days) or datetime (seconds) left numeric
                    unit = 86_400 if col.endswith("DTM") else 1
                    out = ((vals >= _SAS_LAST * unit) | (vals < _SAS_FIRST * unit)).to_numpy()
                    if out.any():
                        errors.append(f"ERROR {file}, column {col}: date outside 1900–2099 in rows "
                                      f"{_rows(np.flatnonzero(out))}: {vals[out].iloc[0]:g} "
                                      f"({'seconds' if unit > 1 else 'days'} since 1960-01-01)")
            elif pd.api.types.is_datetime64_any_dtype(s):
                naive = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
                out = ((naive >= LAST_DATE) | (naive < FIRST_DATE)).fillna(False).to_numpy(dtype=bool)
                if out.any():
                    first = s[out].iloc[0]
                    errors.append(f"ERROR {file}, column {col}: date outside 1900–2099 in rows "
                                  f"{_rows(np.flatnonzero(out))}: {first:%Y-%m-%d} (a placeholder is not a date: "
                                  f"leave it missing, e.g. for an ongoing event)")
        for col in _text_columns(df):
            s = df[col]
            if isinstance(s.dtype, pd.CategoricalDtype):  # shorten the categories; codes (and missing) stay
                cats = s.cat.categories
                long_cats = [c for c in cats if isinstance(c, str) and len(c) > MAX_TEXT]
                if not long_cats:
                    continue
                if not changed:
                    df = df.copy()
                    changed = True
                df[col] = s.cat.rename_categories({c: _short(c) for c in long_cats})
                rows = np.flatnonzero(s.isin(long_cats).to_numpy())
                notes.append(f"NOTE {file}, column {col}: {len(long_cats):,} value(s) longer than {MAX_TEXT} characters "
                             f"shortened for display (rows {_rows(rows)}), e.g. {_short(long_cats[0])[:40]!r}…")
                continue
            lengths = s.str.len() if pd.api.types.is_string_dtype(s) else s.map(
                lambda v: len(v) if isinstance(v, str) else 0)
            long = (lengths.fillna(0) > MAX_TEXT).to_numpy(dtype=bool)
            if not long.any():
                continue
            if not changed:
                df = df.copy()
                changed = True
            values = pd.unique(s[long])
            mapping = {v: _short(v) for v in values}
            df[col] = s.where(~long, s[long].map(mapping))
            notes.append(f"NOTE {file}, column {col}: {len(values):,} value(s) longer than {MAX_TEXT} characters "
                         f"shortened for display (rows {_rows(np.flatnonzero(long))}), e.g. "
                         f"{mapping[values[0]][:40]!r}…")
        if changed:
            tables[name] = (file, df)


def cap_time_axis(frames: dict, notes: list[str], unit: str = "week") -> dict:
    """Rows to keep on the time axis, per dataset: no implausible position (beyond ±MAX_WEEK), and at
    most MAX_AXIS_VISITS positions (those with the most subjects). ``frames``: name -> records with
    TIME (the axis position) and USUBJID. Returns name -> boolean mask; says what was capped in ``notes``."""
    keep = {name: pd.Series(True, index=df.index) for name, df in frames.items()}
    what = "weeks" if unit == "week" else "(visit numbers)"
    for name, df in frames.items():
        time = pd.to_numeric(df["TIME"], errors="coerce")
        far = time.abs() > MAX_WEEK
        if far.any():
            keep[name] &= ~far
            vals = ", ".join(f"{v:g}" for v in pd.unique(time[far])[:_EXAMPLES])
            notes.append(f"NOTE {name}: {int(far.sum()):,} record(s) at visits beyond ±{MAX_WEEK:,} {what} ({vals}) "
                         f"kept off the time axis: not a plausible study time")
    distinct = set()
    for name, df in frames.items():
        distinct.update(pd.unique(df["TIME"][keep[name]].dropna()).tolist())
    if len(distinct) <= MAX_AXIS_VISITS:  # the usual case: nothing to count
        return keep
    subjects: dict[float, set] = {}
    for name, df in frames.items():
        d = df[keep[name]]
        for w, ids in d["USUBJID"].astype(str).groupby(d["TIME"]).unique().items():
            subjects.setdefault(float(w), set()).update(ids)
    ranked = sorted(subjects, key=lambda w: (-len(subjects[w]), w))
    kept = set(ranked[:MAX_AXIS_VISITS]) | {0.0}  # the baseline position always stays
    dropped = sorted(set(subjects) - kept)
    n_rows = 0
    for name, df in frames.items():
        off = keep[name] & df["TIME"].notna() & ~df["TIME"].isin(kept)
        n_rows += int(off.sum())
        keep[name] &= ~off
    ex = ", ".join(f"{w:g}" for w in dropped[:_EXAMPLES])
    notes.append(f"NOTE time axis: {len(subjects):,} distinct visits; the {MAX_AXIS_VISITS} with the most subjects "
                 f"are shown, {len(dropped):,} others (at {ex}, …; {n_rows:,} records) are kept off the time axis "
                 f"— map visits to analysis windows (AVISIT/AVISITN) to show them")
    return keep
