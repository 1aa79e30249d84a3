"""Validation of ADaM tables: the checks a data manager runs before anyone looks at results.

Each check returns ``Problem`` objects; each problem renders as one readable
line naming the file, the column and example rows or values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

ADSL_REQUIRED = ("USUBJID",)
BDS_REQUIRED = ("USUBJID", "PARAMCD", "PARAM", "AVAL", "AVISITN")
AE_REQUIRED = ("USUBJID", "AEDECOD", "AEBODSYS")
NUMERIC = {"AVAL", "AVISITN", "ATPTN", "BASE", "CHG", "PCHG", "ANRLO", "ANRHI", "A1LO", "A1HI", "ADY", "ASTDY", "AENDY",
           "AGE"}
MAX_EXAMPLES = 3

# Visits that are not a point of the schedule: unscheduled, derived (end of treatment,
# endpoint, LOCF, worst/best/maximum...). Kept off the time axis unless study.toml includes them.
OFF_AXIS_RE = re.compile(
    r"unsched|end[ -]of[ -](?:treatment|study|therapy)|early[ -](?:termination|discontinuation|withdrawal)"
    r"|premature|withdraw|re-?test|repeat|\b(?:eot|eos|et|ett|locf|wocf|bocf)\b|end ?point"
    r"|last (?:observation|value|visit|post)|worst|\bbest\b|maximum|minimum|overall|average|post[- ]?baseline",
    re.IGNORECASE,
)


def visit_on_axis(df: pd.DataFrame, include=()) -> pd.Series:
    """True for rows at a scheduled visit: AVISITN present and AVISIT not unscheduled/derived.

    Visits named in ``include`` (study.toml [visits] include) are always on the axis;
    the caller gives them a number when they have none.
    """
    num = pd.to_numeric(df["AVISITN"], errors="coerce") if "AVISITN" in df.columns else pd.Series(float("nan"), df.index)
    on = num.notna()
    if "AVISIT" in df.columns:
        names = df["AVISIT"].astype(str)
        uniq = pd.Series(names.unique())
        off = set(uniq[uniq.str.contains(OFF_AXIS_RE, na=False)])
        on &= ~names.isin(off)
        if include:
            on |= names.isin(list(include))
    return on


def bds_key(df: pd.DataFrame) -> tuple[str, ...]:
    """The ADaM key of a BDS record: USUBJID, PARAMCD, AVISITN, and ATPTN, BASETYPE, DTYPE when the dataset
    has them (ADaMIG 1.3: several timepoints, baseline definitions and derived records per visit are normal)."""
    return ("USUBJID", "PARAMCD", "AVISITN") + tuple(c for c in ("ATPTN", "BASETYPE", "DTYPE") if c in df.columns)


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


def check_unique(df: pd.DataFrame, file: str, keys: tuple[str, ...], what: str = "duplicate key") -> list[Problem]:
    if any(k not in df.columns for k in keys):
        return []
    df = df.dropna(subset=list(keys))  # a missing key (unscheduled visit without AVISITN) is not a duplicate
    dup = df.duplicated(list(keys), keep=False)
    if not dup.any():
        return []
    ex = df.loc[dup, list(keys)].astype(str).agg("/".join, axis=1)
    return [Problem(file, "+".join(keys), f"{what} in {_rows(df.index[dup])}: {_examples(ex)}")]


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
            vals = sorted(d.loc[d[col] == v, other].tolist(), key=lambda x: (str(type(x)), x))
            out.append(Problem(file, "AVISIT/AVISITN", f"{col} {v!r} maps to several {other} values: {_examples(vals)}"))
    return out


def check_rows(df: pd.DataFrame, file: str) -> list[Problem]:
    return [Problem(file, None, "the dataset has no rows")] if len(df) == 0 else []


def check_param_names(df: pd.DataFrame, file: str) -> list[Problem]:
    """ADaM: PARAMCD and PARAM name the same parameter one-to-one."""
    if not {"PARAMCD", "PARAM"} <= set(df.columns):
        return []
    d = df[["PARAMCD", "PARAM"]].astype(str).drop_duplicates()
    many = d["PARAMCD"][d["PARAMCD"].duplicated()]
    if len(many):
        code = many.iloc[0]
        return [Problem(file, "PARAMCD/PARAM", f"PARAMCD {code!r} has several PARAM values: "
                                             f"{_examples(d.loc[d['PARAMCD'] == code, 'PARAM'])}")]
    return []


def check_missing_values(df: pd.DataFrame, file: str, col: str, fatal: bool) -> list[Problem]:
    if col not in df.columns:
        return []
    miss = df[col].isna()
    if not pd.api.types.is_numeric_dtype(df[col]):
        miss |= df[col].astype(str).str.strip() == ""
    if not miss.any():
        return []
    return [Problem(file, col, f"{int(miss.sum())} missing value(s) in {_rows(df.index[miss])}", fatal=fatal)]


def validate_adsl(adsl: pd.DataFrame, arm_col: str, name: str = "ADSL") -> list[Problem]:
    """ADSL: rows, USUBJID unique and present, the arm variable present, numbers numeric.

    A blank arm is not an error: that subject is in no treatment arm (a screen failure, say) and
    the loader leaves it out of the arms with a note (``data.adam.arm_membership``).
    """
    problems = check_rows(adsl, name) + check_required(adsl, name, ADSL_REQUIRED + (arm_col,))
    if problems:
        return problems
    problems += check_unique(adsl, name, ("USUBJID",))
    problems += check_missing_values(adsl, name, "USUBJID", fatal=True)
    problems += check_numeric(adsl, name)
    return problems


def validate_bds(df: pd.DataFrame, name: str, known: set[str], arm_col: str, subject_arm: pd.Series,
                 include=()) -> list[Problem]:
    """The structure of one BDS dataset: required variables, numbers, subjects, arms, parameter names and
    visit names. Which records are analysed, and whether their keys are unique, is ``data.adam``'s job."""
    req = check_required(df, name, BDS_REQUIRED)
    if req:
        return req
    problems = check_numeric(df, name)
    problems += check_subjects_known(df, name, known)
    problems += check_arm_consistent(df, name, arm_col, subject_arm)
    problems += check_param_names(df, name)
    if not any(p.column == "AVISITN" for p in problems):  # visits cannot be compared while AVISITN is not numeric
        problems += check_visits(df[visit_on_axis(df, include)], name)
    return problems


def validate_adae(adae: pd.DataFrame, name: str, known: set[str], arm_col: str, subject_arm: pd.Series) -> list[Problem]:
    problems = check_required(adae, name, AE_REQUIRED)
    problems += check_numeric(adae, name)
    problems += check_subjects_known(adae, name, known)
    problems += check_arm_consistent(adae, name, arm_col, subject_arm)
    problems += check_missing_values(adae, name, "ASTDY", fatal=False)
    return problems


def validate_tables(adsl: pd.DataFrame, bds: dict[str, pd.DataFrame], adae: pd.DataFrame | None, arm_col: str,
                    *, adsl_name: str = "ADSL", adae_name: str = "ADAE",
                    rows: dict[str, pd.Series] | None = None) -> list[Problem]:
    """Every rule on a set of frames. ``bds`` maps a name (file name in the app) to its frame.

    Besides each dataset's structure, the ADaM key (``bds_key``) must be unique among the records
    at scheduled visits (or among ``rows[name]``, a boolean mask, when given), and each subject has
    at most one baseline record (ABLFL = "Y") per key without visit. The loader goes further: it
    resolves the records each page analyses (``data.adam.select_records``).
    """
    problems = validate_adsl(adsl, arm_col, adsl_name)
    if any(p.fatal for p in problems):
        return problems
    known = set(adsl["USUBJID"].astype(str))
    subject_arm = adsl.set_index(adsl["USUBJID"].astype(str))[arm_col].astype(str)
    for name, df in bds.items():
        found = validate_bds(df, name, known, arm_col, subject_arm)
        problems += found
        if any(p.fatal for p in found):
            continue
        mask = rows.get(name) if rows else None
        sel = df[visit_on_axis(df) if mask is None else mask]
        problems += check_missing_values(sel, name, "AVAL", fatal=False)
        key = bds_key(sel)
        problems += check_unique(sel.assign(AVISITN=pd.to_numeric(sel["AVISITN"], errors="coerce")), name, key)
        if "ABLFL" in sel.columns:
            base_key = tuple(k for k in key if k not in ("AVISITN", "DTYPE"))
            problems += check_unique(sel[sel["ABLFL"].astype(str) == "Y"], name, base_key,
                                     "several baseline records (ABLFL = 'Y') for one subject and parameter")
    if adae is not None:
        problems += validate_adae(adae, adae_name, known, arm_col, subject_arm)
    return problems
