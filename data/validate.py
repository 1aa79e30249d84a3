"""Validation of ADaM tables: the checks a data manager runs before anyone looks at results.

Each check returns ``Problem`` objects; each problem renders as one readable
line naming the file, the column and example rows or values.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ADSL_REQUIRED = ("USUBJID",)
BDS_REQUIRED = ("USUBJID", "PARAMCD", "PARAM", "AVAL", "AVISITN")
AE_REQUIRED = ("USUBJID", "AEDECOD", "AEBODSYS")
NUMERIC = {"AVAL", "AVISITN", "BASE", "CHG", "PCHG", "ANRLO", "ANRHI", "ADY", "ASTDY", "AENDY", "AGE"}
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Problem:
    file: str
    column: str | None
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        where = f"{self.file}" + (f", column {self.column}" if self.column else "")
        return f"{'ERROR' if self.fatal else 'WARNING'} {where}: {self.message}"


def _examples(values) -> str:
    vals = list(dict.fromkeys(str(v) for v in values))[:MAX_EXAMPLES]
    return ", ".join(repr(v) for v in vals)


def _rows(index) -> str:
    # Report 1-based data row numbers, as a spreadsheet user counts them.
    rows = [str(int(i) + 1) for i in list(index)[:MAX_EXAMPLES]]
    more = len(index) - len(rows)
    return "rows " + ", ".join(rows) + (f" (+{more} more)" if more > 0 else "")


def check_required(df: pd.DataFrame, file: str, required) -> list[Problem]:
    missing = [c for c in required if c not in df.columns]
    return [Problem(file, c, "required variable is missing") for c in missing]


def check_numeric(df: pd.DataFrame, file: str) -> list[Problem]:
    out = []
    for col in sorted(NUMERIC & set(df.columns)):
        s = df[col]
        if pd.api.types.is_numeric_dtype(s):
            continue
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna() & s.notna() & (s.astype(str).str.strip() != "")
        if bad.any():
            out.append(Problem(file, col, f"non-numeric values in {_rows(s.index[bad])}: {_examples(s[bad])}"))
    return out


def check_unique(df: pd.DataFrame, file: str, keys: tuple[str, ...]) -> list[Problem]:
    if any(k not in df.columns for k in keys):
        return []
    dup = df.duplicated(list(keys), keep=False)
    if not dup.any():
        return []
    ex = df.loc[dup, list(keys)].astype(str).agg("/".join, axis=1)
    return [Problem(file, "+".join(keys), f"duplicate key in {_rows(df.index[dup])}: {_examples(ex)}")]


def check_subjects_known(df: pd.DataFrame, file: str, known: set[str]) -> list[Problem]:
    if "USUBJID" not in df.columns:
        return []
    unknown = ~df["USUBJID"].astype(str).isin(known)
    if not unknown.any():
        return []
    return [Problem(file, "USUBJID", f"subjects not in ADSL in {_rows(df.index[unknown])}: {_examples(df.loc[unknown, 'USUBJID'])}")]


def check_arm_consistent(df: pd.DataFrame, file: str, arm_col: str, subject_arm: pd.Series) -> list[Problem]:
    """Where a table repeats the subject's arm, it must agree with ADSL."""
    if arm_col not in df.columns or "USUBJID" not in df.columns:
        return []
    expected = df["USUBJID"].astype(str).map(subject_arm)
    given = df[arm_col].astype(str)
    bad = expected.notna() & (given != expected.astype(str))
    if not bad.any():
        return []
    return [Problem(file, arm_col, f"arm differs from ADSL in {_rows(df.index[bad])}: {_examples(given[bad])}")]


def check_visits(df: pd.DataFrame, file: str) -> list[Problem]:
    """AVISIT and AVISITN must name the same visits one-to-one."""
    if not {"AVISIT", "AVISITN"} <= set(df.columns):
        return []
    d = df[["AVISIT", "AVISITN"]].dropna().astype({"AVISIT": str})
    d = d.assign(AVISITN=pd.to_numeric(d["AVISITN"], errors="coerce")).dropna().drop_duplicates()
    out = []
    for col, other in (("AVISIT", "AVISITN"), ("AVISITN", "AVISIT")):
        many = d.groupby(col)[other].nunique()
        many = many[many > 1]
        if len(many):
            v = many.index[0]
            vals = d.loc[d[col] == v, other].tolist()
            out.append(Problem(file, "AVISIT/AVISITN", f"{col} {v!r} maps to several {other} values: {_examples(vals)}"))
    return out


def check_missing_values(df: pd.DataFrame, file: str, col: str, fatal: bool) -> list[Problem]:
    if col not in df.columns:
        return []
    miss = df[col].isna() | (df[col].astype(str).str.strip() == "")
    if not miss.any():
        return []
    return [Problem(file, col, f"{int(miss.sum())} missing value(s) in {_rows(df.index[miss])}", fatal=fatal)]


def validate_tables(adsl: pd.DataFrame, bds: dict[str, pd.DataFrame], adae: pd.DataFrame | None, arm_col: str) -> list[Problem]:
    """Run every rule. ``bds`` maps file name to frame; names are used in messages."""
    problems: list[Problem] = []
    problems += check_required(adsl, "ADSL", ADSL_REQUIRED + (arm_col,))
    problems += check_unique(adsl, "ADSL", ("USUBJID",))
    problems += check_missing_values(adsl, "ADSL", arm_col, fatal=True)
    problems += check_numeric(adsl, "ADSL")
    if any(p.fatal for p in problems):
        return problems
    known = set(adsl["USUBJID"].astype(str))
    subject_arm = adsl.set_index(adsl["USUBJID"].astype(str))[arm_col].astype(str)
    for name, df in bds.items():
        req = check_required(df, name, BDS_REQUIRED)
        problems += req
        if req:
            continue
        problems += check_numeric(df, name)
        problems += check_visits(df, name)
        problems += check_subjects_known(df, name, known)
        problems += check_arm_consistent(df, name, arm_col, subject_arm)
        problems += check_missing_values(df, name, "AVAL", fatal=False)
        keys = ("USUBJID", "PARAMCD", "AVISITN")
        if "ANL01FL" in df.columns:  # ADaM allows repeats per visit; the analysis record is unique
            df = df[df["ANL01FL"].astype(str) == "Y"]
        problems += check_unique(df, name, keys)
    if adae is not None:
        problems += check_required(adae, "ADAE", AE_REQUIRED)
        problems += check_numeric(adae, "ADAE")
        problems += check_subjects_known(adae, "ADAE", known)
        problems += check_arm_consistent(adae, "ADAE", arm_col, subject_arm)
        problems += check_missing_values(adae, "ADAE", "ASTDY", fatal=False)
    return problems
