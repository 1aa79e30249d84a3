"""CSV exports that carry their provenance: simulated-data notice, study, lock, filters, method.

Every table a user can download starts with ``#`` comment lines so a CSV that
leaves the app stays traceable to the dataset and the view it came from.

Dataset text is hostile until shown otherwise (an AE term ``=HYPERLINK(…)``, an arm label
with a line break):
- cells and column names that a spreadsheet would read as a formula (starting with ``=``,
  ``+``, ``-``, ``@``, tab or carriage return; OWASP "CSV injection") are written with a
  leading ``'``, unless they are plain numbers; numeric columns are numbers and stay as they are;
- every provenance field has its control characters (line breaks, tabs, bidi overrides)
  replaced by spaces, so each field stays on its ``#`` line and cannot become a data row.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

SIMULATED_LINE = "# SIMULATED DATA — not the trial's results"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def clean_field(text) -> str:
    """One provenance field on one line: control, format and separator characters become spaces."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in str(text))


def neutralise(value):
    """A text cell a spreadsheet would evaluate, made text with a leading quote (numbers untouched)."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with formula-like text cells and column names neutralised (a copy only when needed)."""
    out = None
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s) or \
                pd.api.types.is_bool_dtype(s):
            continue
        vals = s.astype(object)
        risky = vals.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START)).to_numpy(dtype=bool)
        if risky.any():
            if out is None:
                out = df.copy()
            out.isetitem(i, vals.where(~risky, vals[risky].map(neutralise)))
    cols = [neutralise(str(c)) if isinstance(c, str) else c for c in df.columns]
    if cols != list(df.columns):
        out = (df.copy() if out is None else out)
        out.columns = cols
    return df if out is None else out


def filter_text(study, state) -> str:
    """The filters in force, readable: arms, week window, patients."""
    if state is None:
        return "none"
    arms = ", ".join(state.arm_labels(study)) if state.arms else "all arms"
    weeks = f"{getattr(study, 'time_word', 'week')}s {state.weeks[0]:g}–{state.weeks[1]:g}"  # weeks, or visit numbers
    patients = ", ".join(state.patients) if state.patients else "all patients"
    return f"{arms}; {weeks}; {patients}"


def provenance_lines(study, state, note: str = "") -> list[str]:
    lk = study.lock
    lines = [SIMULATED_LINE] if study.simulated else []
    lines.append(f"# Study: {clean_field(study.study_id)}")
    lock = f"locked {clean_field(lk.lock_date)}" if lk.locked else "UNLOCKED dataset"
    lines.append(f"# Lock: {lock}, fingerprint {lk.short}")
    if getattr(study, "blinded_view", False):  # data.blinding: the pooled view of a blinded study
        lines.append("# View: blinded (the study is blinded: all subjects as one group, no arm-level data)")
    lines.append(f"# Filters: {clean_field(filter_text(study, state))}")
    if note:  # the page's own line breaks separate its lines; any other control character is data
        lines.extend(f"# {clean_field(part)}" for part in str(note).split("\n") if part.strip())
    return lines


def csv_with_provenance(df: pd.DataFrame, study, state, note: str = "") -> str:
    """``df`` as CSV text preceded by the provenance comment lines.

    CRLF line ends (RFC 4180): the csv writer quotes a field holding any character of the line
    terminator, so a carriage return inside a cell is quoted too (with "\n" alone it was written
    raw, and a spreadsheet started a new row there).
    """
    head = "\r\n".join(provenance_lines(study, state, note)) + "\r\n"
    return head + safe_frame(df).to_csv(index=False, lineterminator="\r\n")
