"""ADaM rules: arms, populations, the time axis and the records each page analyses.

They follow the ADaM Implementation Guide (ADaMIG 1.3, BDS and OCCDS) as sponsors deliver it, not
one study. In short (the README's "Use your own study" lists each rule with its ``study.toml`` key):

- Arms: subjects whose arm value says they are in no treatment arm ("Screen Failure", "Not
  Assigned", "Not Treated", blank…), or who have no TRTSDT when ADSL has no population flag, are
  left out of the arms (counted in a note).
- Populations by domain: safety-domain datasets (labs, vital signs, ECG, adverse events, exposure:
  ADLB*, ADVS*, ADEG*, ADAE*, ADEX*) are analysed in the safety population, the others in the
  efficacy population; the patient profile shows all of a subject's records.
- The unit of analysis is a parameter (PARAMCD), at one timepoint (ATPTN) when it is measured at
  several, for one baseline definition (BASETYPE). Its records: the baseline record (ABLFL = "Y",
  whatever its visit or DTYPE), and the observed records (DTYPE blank) at scheduled visits after
  it. Records the sponsor derived (DTYPE LOCF, WOCF, BOCF) are offered as a switch, never mixed in
  silently; other derived records (AVERAGE, MAXIMUM, LOV…) are not shown.
- An analysis flag (ANLzzFL) is applied where study.toml says so, or where it resolves duplicate
  keys while flagging every baseline record and keeping every visit of every subject. A baseline
  record is never dropped by a flag. Keys that nothing resolves leave the dataset out.
- The time axis: study weeks from what the visit means (its name: "Week 12", "Day 85", "Month 3";
  else the median study day ADY of its records), else the sponsor's visit numbers (AVISITN), said
  on the axis. The baseline record is drawn at 0 whatever visit it came from.
- BASE, CHG, PCHG are the sponsor's when the file has them; derived only when it does not.
- Normal ranges: ANRLO/ANRHI, else A1LO/A1HI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data import config as _config
from data.model import ParamInfo
from data.validate import OFF_AXIS_RE, Problem, _examples, _rows, check_missing_values, visit_on_axis

# Okabe-Ito and Tol colours chosen so that arms stay apart under protanopia, deuteranopia and tritanopia
# (blue/bluish green merged under tritanopia, CIE76 dE 17); every colour has >= 3:1 contrast on white
# (WCAG 1.4.11) and is saturated enough for a projector. tests/test_palette_cvd.py simulates the three
# deficiencies and reports the dE. (dark, light) per arm, in display order.
ARM_PALETTE = (
    ("#0072B2", "#9ccbe8"),  # blue
    ("#D55E00", "#f0b48a"),  # vermillion
    ("#000000", "#9a9a9a"),  # black
    ("#882255", "#c99cb2"),  # wine
    ("#332288", "#a39cc9"),  # indigo
    ("#CC79A7", "#ebc4da"),  # reddish purple
)
_CONTROL_HINT = re.compile(r"placebo|control|standard of care|vehicle|\bsoc\b", re.IGNORECASE)

# Arm values that are no treatment arm (ADaMIG / SDTMIG conventions); compared case-insensitively.
NOT_ARMS = ("Screen Failure", "Screen Failed", "Screening Failure", "Not Assigned", "Not Treated",
            "Not Randomized", "Not Randomised", "Unplanned Treatment", "Not Assigned, Not Treated")
POPULATION_FLAGS = ("SAFFL", "ITTFL", "EFFFL", "FASFL", "RANDFL", "PPROTFL")
# Safety domains, by dataset name: labs, vital signs, ECG, adverse events, exposure.
SAFETY_DATASETS = re.compile(r"^AD(?:LB|VS|EG|AE|EX)", re.IGNORECASE)
# Derived records that are imputations of a missing value: a user may switch them on.
IMPUTATIONS = ("LOCF", "WOCF", "BOCF")
TIMEPOINT_SEP = "@"  # analysis parameter code of a timepoint: PARAMCD@ATPTN


_UNIT_RE = re.compile(r"\(([^()]*)\)\s*$")


def unit_of(param: str) -> str:
    """ADaM puts the unit in PARAM's trailing parentheses: 'IgG (g/L)' -> 'g/L'."""
    m = _UNIT_RE.search(param)
    return m.group(1) if m else ""


def strip_unit(name: str, unit: str) -> str:
    """The parameter's name without its trailing '(unit)', when it ends with one; else the name as it is (a
    unit from AVALU, or a parenthesised word that is not the unit: 'Hemoglobin (Total)')."""
    text = name.rstrip()
    if unit and text.endswith(f"({unit})"):
        return text[: -len(unit) - 2].rstrip()
    return name


def _arm_order(adsl: pd.DataFrame, arms) -> list[str]:
    """Arm labels in display order: by the arm variable's numeric companion (TRT01PN, TRT01AN: often the dose),
    the first variable that has one for a label; labels without one after them, alphabetically.

    ``arms``: (variable, its arm value per ADSL row with NaN where the subject is in no arm of it), planned
    first; a label of either variable is an arm.
    """
    rank: dict[str, float] = {}
    labels: set[str] = set()
    for col, values in arms:
        values = values.dropna().astype(str)
        labels |= set(values)
        num = col + "N"
        if num in adsl.columns and pd.api.types.is_numeric_dtype(adsl[num]):
            for lab, v in adsl.loc[values.index, num].groupby(values).min().items():
                if pd.notna(v):
                    rank.setdefault(str(lab), float(v))
    return sorted(labels, key=lambda lab: (lab not in rank, rank.get(lab, 0.0), lab))


def _arm_codes(adsl: pd.DataFrame, arm_col: str, labels: list[str]) -> dict[str, str]:
    """Short, URL-safe code per arm: ARMCD where it maps one-to-one to the (planned) arm variable, else a slug of
    the label (an arm only the actual treatment variable names)."""
    codes: dict[str, str] = {}
    if "ARMCD" in adsl.columns:
        pairs = adsl.loc[adsl[arm_col].astype(str).isin(labels), [arm_col, "ARMCD"]].astype(str).drop_duplicates()
        if pairs[arm_col].is_unique and pairs["ARMCD"].is_unique \
                and pairs["ARMCD"].str.fullmatch(r"[A-Za-z0-9_-]+").all():
            codes = dict(zip(pairs[arm_col], pairs["ARMCD"]))
    for i, lab in enumerate(labels):
        if lab in codes:
            continue
        code = re.sub(r"[^A-Za-z0-9]+", "-", lab).strip("-").upper()[:24] or f"ARM{i + 1}"
        codes[lab] = code if code not in codes.values() else f"{code}-{i + 1}"
    return {lab: codes[lab] for lab in labels}


def _lighten(hex_colour: str, amount: float = 0.55) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in (r, g, b))


def _pick(cols, *names):
    return next((n for n in names if n in cols), None)


def _text(s: pd.Series, upper: bool = False) -> pd.Series:
    """Stripped text (upper-case when asked) with missing values as '', worked out once per distinct value."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    clean = [str(u).strip() for u in uniques]
    clean = np.array([c.upper() for c in clean] if upper else clean, dtype=object)
    return pd.Series(np.append(clean, "")[codes], index=s.index, dtype=object)


# -- arms ------------------------------------------------------------------------------------------
def arm_membership(adsl: pd.DataFrame, arm_col: str, cfg: _config.StudyConfig, untreated: bool = True
                   ) -> pd.Series:
    """Why each subject is in no treatment arm ('' for the subjects in an arm), by ADSL row.

    No arm: a blank arm value, a value of ``[arms] exclude`` (default ``NOT_ARMS``) not listed in
    ``[arms] order``, or, when ADSL has no population flag at all, no TRTSDT (never treated; kept
    with ``[arms] include_untreated``). ``untreated=False``: the planned arm of a study whose actual arm
    is another variable, where a randomised subject never treated keeps their arm (intention to treat).
    """
    value = _text(adsl[arm_col])
    excluded = {v.casefold() for v in (NOT_ARMS if cfg.arm_exclude is None else cfg.arm_exclude)}
    excluded -= {v.casefold() for v in cfg.arm_order}
    why = pd.Series("", index=adsl.index, dtype=object)
    why[value.str.casefold().isin(excluded)] = arm_col + " " + value.map(repr)
    why[value == ""] = f"blank {arm_col}"
    no_flags = not any(f in adsl.columns for f in POPULATION_FLAGS)
    if untreated and no_flags and "TRTSDT" in adsl.columns and not cfg.include_untreated:
        why[(why == "") & adsl["TRTSDT"].isna()] = "no TRTSDT (never treated)"
    return why


def population_kind(dataset: str, cfg: _config.StudyConfig) -> str:
    """'safety', 'efficacy' or 'all': [datasets.<NAME>] population, else by domain (``SAFETY_DATASETS``)."""
    opts = cfg.dataset_options.get(dataset)
    if opts is not None and opts.population:
        return opts.population
    return "safety" if SAFETY_DATASETS.match(dataset) else "efficacy"


# -- visits and the time axis ------------------------------------------------------------------------
# Visit names that count from something other than first dose ("Cycle 2 Day 1", "Follow-up Week 4").
_OTHER_CLOCK = re.compile(r"cycle|follow|post[- ]?(?:treat|study|therapy)|off[- ]?treat|after|since", re.IGNORECASE)
_NAME_CLOCKS = (
    (re.compile(r"\b(?:weeks?|wks?|w)\s*(-?\d+(?:\.\d+)?)\b", re.IGNORECASE), lambda x: x),
    # ADaM study days have no day 0: day 1 is the first dose (week 0), day -1 the day before it
    (re.compile(r"\b(?:days?|dy|d)\s*(-?\d+)\b", re.IGNORECASE), lambda d: (d - 1) / 7 if d > 0 else d / 7),
    (re.compile(r"\b(?:months?|mths?|mo|m)\s*(\d+(?:\.\d+)?)\b", re.IGNORECASE), lambda m: m * 30.4375 / 7),
)


def week_of_name(name: str) -> float | None:
    """The study week a visit name states ('Week 12' 12, 'DAY 85' 12, 'Month 3' 13.04, 'Baseline' 0), else None."""
    s = str(name).strip()
    if re.fullmatch(r"(?i)baseline", s):
        return 0.0
    if not s or _OTHER_CLOCK.search(s):
        return None
    for pattern, to_weeks in _NAME_CLOCKS:
        m = pattern.search(s)
        if m:
            return round(float(to_weeks(float(m.group(1)))), 2)
    return None


def week_of_day(day: float) -> float:
    """ADaM study day -> study week (day 1 = week 0; no day 0)."""
    return round((day - 1) / 7 if day > 0 else day / 7, 2)


@dataclass
class VisitPlan:
    """One dataset's scheduled visits and where each sits on a time axis in weeks."""

    dataset: str
    visits: pd.DataFrame  # AVISIT, AVISITN, week, source (one row per scheduled visit name)
    base_avisitn: float | None  # the AVISITN of the baseline records (their mode)
    missing: list[str] = field(default_factory=list)  # post-baseline visits without a week
    notes: list[str] = field(default_factory=list)

    @property
    def in_weeks(self) -> bool:
        return not self.missing

    def source_text(self) -> str:
        v = self.visits
        if self.base_avisitn is not None:  # visits before baseline are not on the axis
            v = v[~(v["AVISITN"] < self.base_avisitn)]
        src = v["source"].dropna()
        if src.empty:
            return "no scheduled visit"
        counts = src.value_counts()
        parts = [f"{what} ({n} visit{'s' if n != 1 else ''})" for what, n in counts.items()]
        return "study weeks from " + ", ".join(parts)


def visit_days(frames) -> dict[str, float]:
    """Median ADY of each scheduled visit name over every BDS frame (prepared), so that a visit placed by
    its study days sits at one position whatever dataset it is in."""
    parts = [df.loc[df["_SCHED"], ["AVISIT", "ADY"]] for df in frames if "ADY" in df.columns]
    if not parts:
        return {}
    d = pd.concat(parts).dropna(subset=["ADY"])
    return d.groupby("AVISIT")["ADY"].median().to_dict()


def visit_plan(df: pd.DataFrame, dataset: str, cfg: _config.StudyConfig, days: dict | None = None) -> VisitPlan:
    """Weeks of the scheduled visits of one BDS frame (AVISIT, AVISITN, ABLFL prepared by ``prepare``).

    Per visit: ``[visits] weeks`` in study.toml, else the week its name states, else the median ADY
    of its records (``days``: over every dataset, from ``visit_days``) / 7. Names are trusted only
    when they follow the sponsor's AVISITN order.
    """
    sched = df["_SCHED"]
    d = df.loc[sched, ["AVISIT", "AVISITN"] + (["ADY"] if "ADY" in df.columns else [])]
    agg = {"AVISITN": ("AVISITN", "min")}
    if "ADY" in d.columns:
        agg["ADY"] = ("ADY", "median")
    tab = d.groupby("AVISIT", sort=False).agg(**agg).reset_index()
    if "ADY" not in tab.columns:
        tab["ADY"] = np.nan
    if days:
        tab["ADY"] = tab["AVISIT"].map(days).where(lambda s: s.notna(), tab["ADY"])
    abl = df["ABLFL"] == "Y"
    if "BASETYPE" in df.columns and abl.any():  # the baseline visit of the baseline definition analysed
        opts = cfg.dataset_options.get(dataset, _config.DatasetOptions())
        abl &= df["BASETYPE"] == (opts.basetype if opts.basetype is not None else df["BASETYPE"].mode().iloc[0])
    base = df.loc[abl, "AVISITN"].dropna()
    base_n = float(base.mode().iloc[0]) if len(base) else (float(tab["AVISITN"].min()) if len(tab) else None)
    notes = []
    named = tab["AVISIT"].map(week_of_name)
    order = tab.assign(named=named).dropna(subset=["named", "AVISITN"]).sort_values("AVISITN")
    if len(order) > 1 and not order["named"].is_monotonic_increasing:
        notes.append(f"NOTE {dataset}: the weeks in the visit names do not follow AVISITN order "
                     f"({_examples(order['AVISIT'])}…): weeks taken from ADY instead")
        named = pd.Series(np.nan, index=tab.index)
    week, source = [], []
    for i, r in tab.iterrows():
        if r["AVISIT"] in cfg.visit_weeks:
            week.append(cfg.visit_weeks[r["AVISIT"]]), source.append("study.toml [visits] weeks")
        elif pd.notna(named[i]):
            week.append(float(named[i])), source.append("the visit names")
        elif pd.notna(r["ADY"]):
            week.append(week_of_day(float(r["ADY"]))), source.append("the median ADY of each visit")
        else:
            week.append(np.nan), source.append(None)
    tab["week"], tab["source"] = week, source
    after = tab["AVISITN"].isna() | (tab["AVISITN"] > (base_n if base_n is not None else -np.inf))
    missing = list(tab.loc[after & tab["week"].isna(), "AVISIT"].astype(str))
    return VisitPlan(dataset, tab, base_n, missing, notes)


# -- records ---------------------------------------------------------------------------------------
_NUMERIC = ("AVAL", "AVISITN", "ATPTN", "BASE", "CHG", "PCHG", "ANRLO", "ANRHI", "A1LO", "A1HI", "ADY", "PARAMN")
OUT_COLUMNS = ("DATASET", "USUBJID", "PARCAT1", "PARAMCD", "PARAM", "PARAMN", "ATPTN", "AVISIT", "AVISITN", "TIME", "ADY",
               "AVAL", "BASE", "CHG", "PCHG", "ABLFL", "DTYPE", "ANRLO", "ANRHI", "ANRIND", "AVALU")


def prepare(df: pd.DataFrame, dataset: str, file: str, cfg: _config.StudyConfig, notes: list[str]
            ) -> tuple[pd.DataFrame, tuple | None]:
    """Numbers, text flags, visit names, normal ranges and the baseline flag on a copy of one BDS frame.

    Runs after structural validation (``validate_bds``). Baseline without ABLFL: the visit of
    ``[visits] baseline``, else AVISITN 0, else the visit named Baseline (observed records only).
    Returns the frame and how its baseline was found: None (the file's ABLFL), else (variable, value)
    ("AVISITN", 0.0), ("AVISIT", "Week 2"), ("AVISIT", "baseline") (case-insensitive), or ().
    """
    df = df.copy()
    for col in _NUMERIC:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df["USUBJID"] = df["USUBJID"].astype(str)
    df["PARAMCD"] = _text(df["PARAMCD"])
    df["PARAM"] = _text(df["PARAM"])
    if "AVISIT" not in df.columns:  # the visit's number is all there is: name it so, not "Week"
        df["AVISIT"] = ["" if pd.isna(n) else f"Visit {n:g}" for n in df["AVISITN"]]
    df["AVISIT"] = _text(df["AVISIT"])
    df["DTYPE"] = _text(df["DTYPE"], upper=True) if "DTYPE" in df.columns else ""
    if "BASETYPE" in df.columns:
        df["BASETYPE"] = _text(df["BASETYPE"])
    for col in [c for c in df.columns if re.fullmatch(r"ANL\d\dFL", c)]:
        df[col] = _text(df[col], upper=True)
    if "PARCAT1" in df.columns:
        cat = _text(df["PARCAT1"])
        df["PARCAT1"] = cat.where(cat != "", dataset)
    else:
        df["PARCAT1"] = dataset
    for an, a1 in (("ANRLO", "A1LO"), ("ANRHI", "A1HI")):  # older deliveries: the first range A1LO/A1HI
        if an not in df.columns and a1 in df.columns:
            df[an] = df[a1]
    if "ANRIND" in df.columns:
        df["ANRIND"] = _text(df["ANRIND"], upper=True)
    names = df["AVISIT"]
    abl_text = _text(df["ABLFL"], upper=True) if "ABLFL" in df.columns else None
    rule = None
    if abl_text is not None and (abl_text == "Y").any():
        df["ABLFL"] = np.where(abl_text == "Y", "Y", "")
    else:
        how, abl, rule = None, pd.Series(False, index=df.index), ()
        b = cfg.baseline_visit
        if b is not None:
            abl = (df["AVISITN"] == b) if isinstance(b, float) else (names == b)
            how, rule = f"study.toml [visits] baseline = {b!r}", ("AVISITN" if isinstance(b, float) else "AVISIT", b)
        if not abl.any() and (df["AVISITN"] == 0).any():
            abl, how, rule = df["AVISITN"] == 0, "AVISITN = 0", ("AVISITN", 0.0)
        if not abl.any() and names.str.lower().eq("baseline").any():
            abl, how, rule = names.str.lower().eq("baseline"), "the visit named Baseline", ("AVISIT", "baseline")
        abl &= df["DTYPE"] == ""
        if abl.any():
            notes.append(f"NOTE {file}: no ABLFL; baseline records are those at {how}")
        else:
            rule = ()
        df["ABLFL"] = np.where(abl, "Y", "")
    df["_SCHED"] = visit_on_axis(df, cfg.include_visits) & (names != "")
    return df, rule


@dataclass
class Selection:
    """The records of one BDS dataset the pages analyse, and what was decided to get them."""

    dataset: str
    file: str
    observed: pd.DataFrame  # baseline + observed post-baseline records on the time axis (every arm subject)
    imputed: pd.DataFrame  # sponsor-imputed records (DTYPE in IMPUTATIONS) at visits without an observed value
    off_axis: pd.DataFrame  # observed records at unscheduled or derived visits, or before baseline
    params: dict  # analysis code -> {paramcd, atptn, atpt, basetype, imputations}
    key: tuple[str, ...] = ()  # the ADaM key of the file as delivered
    rules: dict = field(default_factory=dict)  # the selection as data, for the Show-code scripts
    decisions: list[str] = field(default_factory=list)  # the lines `check` prints
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # non-empty: the records cannot be resolved


def _timepoint_text(atpt: str) -> str:
    t = atpt.strip()
    return t.lower() if t.isupper() else t


def _analysis_parameters(df: pd.DataFrame) -> tuple[pd.Series, pd.Series, dict]:
    """(code, name) per row: PARAMCD@ATPTN and 'PARAM · timepoint (unit)' for parameters at several timepoints."""
    code, name = df["PARAMCD"].copy(), df["PARAM"].copy()
    info = {}
    if "ATPTN" not in df.columns:
        return code, name, info
    n_tp = df.dropna(subset=["ATPTN"]).groupby("PARAMCD")["ATPTN"].nunique()
    multi = df["PARAMCD"].isin(n_tp.index[n_tp > 1]) & df["ATPTN"].notna()
    if not multi.any():
        return code, name, info
    atpt = _text(df["ATPT"]) if "ATPT" in df.columns else pd.Series("", index=df.index)
    tp = df.loc[multi, "ATPTN"].map(lambda v: f"{v:g}")
    code[multi] = df.loc[multi, "PARAMCD"] + TIMEPOINT_SEP + tp
    for (pc, n, p, a), _ in df[multi].assign(_A=atpt[multi]).groupby(["PARAMCD", "ATPTN", "PARAM", "_A"],
                                                                       sort=False):
        c = f"{pc}{TIMEPOINT_SEP}{n:g}"
        label = _timepoint_text(a) if a else f"timepoint {n:g}"
        unit = unit_of(p)
        base = strip_unit(p, unit)
        info[c] = {"paramcd": pc, "atptn": float(n), "atpt": a, "name": f"{base} · {label}" + (f" ({unit})" if unit
                                                                                             else "")}
    name[multi] = code[multi].map({c: v["name"] for c, v in info.items()})
    return code, name, info


def _pick_basetype(df: pd.DataFrame, wanted: str | None) -> tuple[pd.Series, dict, str]:
    """Rows of the BASETYPE analysed per parameter: ``wanted`` (study.toml) else the one most records use."""
    if "BASETYPE" not in df.columns:
        return pd.Series(True, index=df.index), {}, ""
    counts = df["BASETYPE"].value_counts()
    if len(counts) <= 1 and wanted is None:
        only = str(counts.index[0]) if len(counts) else ""
        return pd.Series(True, index=df.index), {c: only for c in df["PARAMCD"].unique()}, \
            f"one baseline definition (BASETYPE {only!r})" if only else ""
    default = wanted if wanted is not None else str(counts.index[0])
    chosen = {}
    for code, bt in df.groupby("PARAMCD", sort=False)["BASETYPE"]:
        have = bt.value_counts()
        chosen[code] = default if default in have.index else str(have.index[0])
    keep = df["BASETYPE"] == df["PARAMCD"].map(chosen)
    others = [b for b in counts.index if b != default]
    how = "study.toml [datasets] basetype" if wanted is not None else "the one most records use"
    text = (f"baseline definition (BASETYPE): {default!r}, {how} ({int(counts.get(default, 0))} of {len(df)} "
            f"records)" + (f"; {', '.join(map(repr, others))} not shown" if others else ""))
    odd = sorted(c for c, b in chosen.items() if b != default)
    if odd:
        text += f"; {_examples(odd)} only have {_examples({chosen[c] for c in odd})}"
    return keep, chosen, text


def _key_examples(d: pd.DataFrame, cols) -> str:
    return _examples(d[list(cols)].astype(str).agg("/".join, axis=1))


def select_records(df: pd.DataFrame, dataset: str, file: str, cfg: _config.StudyConfig, time_unit: str,
                   plan: VisitPlan, arm_subjects: set, key_cols: tuple[str, ...], file_cols=()) -> Selection:
    """The analysis records of one prepared BDS frame (``prepare``), placed on the study's time axis.

    ``key_cols``: the ADaM key of the file as delivered (``bds_key`` of the frame before ``prepare``);
    ``file_cols``: the file's variables.
    """
    opts = cfg.dataset_options.get(dataset, _config.DatasetOptions())
    notes, decisions, problems = [], [], []
    df = df[df["USUBJID"].isin(arm_subjects)]
    code, pname, tp_info = _analysis_parameters(df)
    df = df.assign(PARAMCD=code, PARAM=pname, _SRC=df["PARAMCD"])
    sponsor_key = [c for c in key_cols if c != "DTYPE"]
    if tp_info:
        n_src = len({v["paramcd"] for v in tp_info.values()})
        n_tp = len({v["atptn"] for v in tp_info.values()})
        decisions.append(f"timepoints (ATPTN): {n_src} parameter(s) at {n_tp} timepoints, each timepoint an "
                         f"analysis parameter with its own baseline")
    keep_bt, basetype, bt_text = _pick_basetype(df, opts.basetype)
    if bt_text:
        decisions.append(bt_text)
    df = df[keep_bt]

    # -- where each record sits on the time axis -----------------------------------------------------
    base = df["ABLFL"] == "Y"
    if time_unit == "week":
        weeks = dict(zip(plan.visits["AVISIT"], plan.visits["week"]))
        t = df["AVISIT"].map(weeks).where(df["_SCHED"])
        before = t <= 0
    else:
        t = df["AVISITN"].where(df["_SCHED"])
        for visit, pos in cfg.visit_weeks.items():
            t = t.mask(df["_SCHED"] & (df["AVISIT"] == visit), pos)
        before = t <= (plan.base_avisitn if plan.base_avisitn is not None else 0.0)
    t = t.astype("float64").mask(before & ~base).mask(base, 0.0)
    df = df.assign(TIME=t)
    observed = df["DTYPE"] == ""
    on_axis = base | (observed & df["TIME"].notna())

    # -- derived records ----------------------------------------------------------------------------
    dtypes = df.loc[~observed, "DTYPE"].value_counts()
    imput = df[df["DTYPE"].isin(IMPUTATIONS) & ~base & df["TIME"].notna()]
    base_derived = df.loc[base & ~observed, "DTYPE"].value_counts()

    # -- keys, and the analysis flag ------------------------------------------------------------------
    cand = df[on_axis]
    key = ["USUBJID", "PARAMCD", "TIME"]
    bdup = cand[cand["ABLFL"] == "Y"].duplicated(["USUBJID", "PARAMCD"], keep=False)
    if bdup.any():
        rows = cand[cand["ABLFL"] == "Y"][bdup]
        problems.append(Problem(file, "ABLFL", f"several baseline records (ABLFL = 'Y') for one subject and "
                                               f"parameter in {_rows(rows.index)}: "
                                               f"{_key_examples(rows, [c for c in sponsor_key if c != 'AVISITN'])}"))
    post = cand[cand["ABLFL"] != "Y"]
    dup = post.duplicated(key, keep=False)
    flags = sorted(c for c in df.columns if re.fullmatch(r"ANL\d\dFL", c))
    applied = None
    if opts.analysis_flag is not None:
        if opts.analysis_flag:
            applied = opts.analysis_flag
            decisions.append(f"analysis flag: {applied} = 'Y' applied to post-baseline records (study.toml "
                             f"[datasets.{dataset}] analysis_flag); baseline records kept whatever it says")
        else:
            decisions.append(f"analysis flag: none (study.toml [datasets.{dataset}] analysis_flag = \"\")")
    elif dup.any():
        why = []
        n_keys = int(post[dup].drop_duplicates(key).shape[0])
        for f in flags:
            kept = post[post[f] == "Y"]
            resolves = not kept.duplicated(key).any()
            lost = len(post.drop_duplicates(key)) - len(kept.drop_duplicates(key))
            bases = cand[cand["ABLFL"] == "Y"]
            unflagged_base = int((bases[f] != "Y").sum())
            if resolves and lost == 0 and unflagged_base == 0:
                applied = f
                decisions.append(f"analysis flag: {f} applied: it resolves {n_keys} duplicate key(s), flags every "
                                 f"baseline record and keeps a record at every subject's visits"
                                 + "".join(f"; {w}" for w in why))
                if why:  # the Data notes say why the other flag(s) were not used
                    notes.append(f"NOTE {file}: {f} applied (it resolves {n_keys} duplicate key(s) and keeps every "
                                 f"baseline and visit); {'; '.join(why)}")
                break
            why.append(f"{f} not: it " + " and ".join(x for x in (
                "does not resolve them" if not resolves else "",
                f"would lose {lost} subject-visit(s)" if lost else "",
                f"flags {'no' if unflagged_base == len(bases) else 'not every'} baseline record"
                if unflagged_base else "") if x))
        if applied is None:
            rows = post[dup]
            hint = (f"; {'; '.join(why)}" if why else "; no analysis flag (ANLzzFL) in the dataset") + \
                   f" — name the record to use with [datasets.{dataset}] analysis_flag in study.toml"
            problems.append(Problem(file, "+".join(sponsor_key), f"duplicate key among the observed records at "
                                                                 f"scheduled visits in {_rows(rows.index)}: "
                                                                 f"{_key_examples(rows, sponsor_key)}{hint}"))
    else:
        for f in flags:
            left = int((post[f] != "Y").sum())
            bases = cand[cand["ABLFL"] == "Y"]
            nb = int((bases[f] != "Y").sum())
            what = []
            if left:
                what.append(f"it would leave out {left} of {len(post)} post-baseline records")
            if nb:
                what.append(f"it flags {'no' if nb == len(bases) else f'{len(bases) - nb} of {len(bases)}'} "
                            f"baseline record(s)")
            decisions.append(f"analysis flag: {f} not applied: the keys are unique without it"
                             + (f" ({'; '.join(what)}; [datasets.{dataset}] analysis_flag applies it)" if what else ""))
            if what:  # a flag that would drop records or baselines is never applied silently
                notes.append(f"NOTE {file}: {f} not applied: the keys are unique without it, and {'; '.join(what)} "
                             f"([datasets.{dataset}] analysis_flag = \"{f}\" in study.toml applies it)")
    if applied is not None:
        if applied not in df.columns:
            problems.append(Problem(file, applied, "study.toml [datasets] analysis_flag names a variable the "
                                                   "dataset does not have"))
        else:
            post = post[post[applied] == "Y"]
            if post.duplicated(key).any():
                rows = post[post.duplicated(key, keep=False)]
                problems.append(Problem(file, "+".join(sponsor_key),
                                        f"duplicate key among the records with {applied} = 'Y' in {_rows(rows.index)}: "
                                        f"{_key_examples(rows, sponsor_key)}"))
    if problems:
        return Selection(dataset, file, df.iloc[0:0], df.iloc[0:0], df.iloc[0:0], {}, key_cols, {}, decisions, notes,
                         problems)
    sel = pd.concat([cand[cand["ABLFL"] == "Y"], post]).sort_index()

    # -- imputations: only where no observed value exists ---------------------------------------------
    have = pd.MultiIndex.from_frame(sel[key])
    imput = imput[~pd.MultiIndex.from_frame(imput[key]).isin(have)].drop_duplicates(key)
    if len(dtypes):
        parts = []
        for dt, n in dtypes.items():
            if dt in IMPUTATIONS:
                k = int((imput["DTYPE"] == dt).sum())
                parts.append(f"{dt} {n} (off by default, a user switch; {k} fill a visit with no observed value)")
            else:
                parts.append(f"{dt or 'blank'} {n} (not shown)")
        decisions.append("derived records (DTYPE): " + ", ".join(parts))
        if len(base_derived):
            decisions.append("baseline records derived by the sponsor, used as the baseline: "
                             + ", ".join(f"{k} {v}" for k, v in base_derived.items()))

    # -- BASE, CHG, PCHG: the sponsor's; derived only when the file has none -----------------------------
    derived = [c for c in ("BASE", "CHG", "PCHG") if c not in df.columns]
    sel, imput = (_derive_change(x, sel, derived) for x in (sel, imput))
    decisions.append("BASE, CHG, PCHG: " + ("the sponsor's" if not derived else
                                            f"{', '.join(derived)} derived (not in the file)"
                                            + (f"; {', '.join(c for c in ('BASE', 'CHG', 'PCHG') if c not in derived)}"
                                               f" the sponsor's" if len(derived) < 3 else "")))
    off = df[observed & ~base & df["TIME"].isna()]
    miss = check_missing_values(sel, file, "AVAL", fatal=False)
    notes += [str(p) for p in miss]

    params = {}
    for c in sel["PARAMCD"].unique():
        extra = tp_info.get(c, {})
        imps = tuple(sorted(set(imput.loc[imput["PARAMCD"] == c, "DTYPE"])))
        params[c] = {"paramcd": extra.get("paramcd", ""), "atptn": extra.get("atptn"), "atpt": extra.get("atpt", ""),
                     "basetype": basetype.get(c, ""), "imputations": imps}
    sel = sel.assign(DATASET=dataset)
    sel = sel[[c for c in OUT_COLUMNS if c in sel.columns]]
    imput = imput.assign(DATASET=dataset)[[c for c in OUT_COLUMNS if c in imput.columns]]
    off = off.assign(DATASET=dataset)[[c for c in OUT_COLUMNS if c in off.columns]]
    placed = df[df["_SCHED"] & df["TIME"].notna() & ~base]
    by = "AVISIT" if "AVISIT" in file_cols else "AVISITN"
    rules = {
        "time_by": by,  # the variable the time axis is read from in the file
        "time": {(str(k) if by == "AVISIT" else float(k)): float(v)
                 for k, v in placed.drop_duplicates(by).set_index(by)["TIME"].items()},
        "cut": 0.0 if time_unit == "week" else float(plan.base_avisitn if plan.base_avisitn is not None else 0.0),
        "flag": applied,
        "basetype": dict(basetype) if "BASETYPE" in file_cols else {},
        "timepoints": sorted({v["paramcd"] for v in tp_info.values()}),
        "derive": derived,
        "dtype": "DTYPE" in file_cols,
    }
    return Selection(dataset, file, sel, imput, off, params, key_cols, rules, decisions, notes, problems)


def _derive_change(frame: pd.DataFrame, sel: pd.DataFrame, derived: list[str]) -> pd.DataFrame:
    """BASE (from the selected baseline records), CHG, PCHG as ADaM defines them, for the ``derived`` columns."""
    if not derived:
        return frame
    frame = frame.copy()
    is_base = frame["ABLFL"] == "Y"
    if "BASE" in derived:
        b = sel[sel["ABLFL"] == "Y"].drop_duplicates(["USUBJID", "PARAMCD"]).set_index(["USUBJID", "PARAMCD"])["AVAL"]
        idx = pd.MultiIndex.from_frame(frame[["USUBJID", "PARAMCD"]])
        frame["BASE"] = b.reindex(idx).to_numpy(float)
    if "CHG" in derived:
        frame["CHG"] = np.where(~is_base, frame["AVAL"] - frame["BASE"], np.nan)
    if "PCHG" in derived:
        with np.errstate(divide="ignore", invalid="ignore"):
            chg = frame["AVAL"] - frame["BASE"]
            frame["PCHG"] = np.where(~is_base & (frame["BASE"] != 0), 100 * chg / frame["BASE"], np.nan)
    return frame


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


def _param_catalogue(meas: pd.DataFrame, extras: dict | None = None) -> dict[str, ParamInfo]:
    out = {}
    if meas.empty:
        return out
    extras = extras or {}
    order = [c for c in ("PARAMN", "ATPTN") if c in meas.columns]  # ADaM's own display order of parameters
    if order:
        meas = meas.sort_values(order, kind="stable")
    has_unit = "AVALU" in meas.columns
    for code, d in meas.groupby("PARAMCD", sort=False):
        first = d.iloc[0]
        lo = d["ANRLO"].dropna() if "ANRLO" in d.columns else pd.Series(dtype=float)
        hi = d["ANRHI"].dropna() if "ANRHI" in d.columns else pd.Series(dtype=float)
        # one normal range for the parameter only when every record has the same; ranges that differ by subject
        # (sex-, age-specific) are each subject's own: no common band, and out-of-range is judged per record
        vary = lo.nunique() > 1 or hi.nunique() > 1
        # the unit: AVALU when the dataset has it (ADaMIG's variable for it), else PARAM's trailing parentheses;
        # a parenthesised word in PARAM ('Hemoglobin (Total)') is part of the name when AVALU gives the unit
        unit = ""
        if has_unit:
            u = d["AVALU"].dropna().astype(str).str.strip()
            unit = u[u != ""].iloc[0] if (u != "").any() else ""
        if not unit:
            unit = unit_of(str(first["PARAM"]))
        x = extras.get(str(code), {})
        out[str(code)] = ParamInfo(
            code=str(code),
            name=str(first["PARAM"]),
            dataset=str(first["DATASET"]),
            category=str(first["PARCAT1"]),
            unit=unit,
            lo=float(lo.iloc[0]) if len(lo) and not vary else None,
            hi=float(hi.iloc[0]) if len(hi) and not vary else None,
            ranges_vary=vary,
            after_baseline=bool(((d["ABLFL"].astype(str) != "Y") & d["AVAL"].notna()).any()),
            visits=tuple(sorted(float(v) for v in d["TIME"].dropna().unique())),
            paramcd=x.get("paramcd", ""),
            atptn=x.get("atptn"),
            atpt=x.get("atpt", ""),
            basetype=x.get("basetype", ""),
            imputations=x.get("imputations", ()),
        )
    return out


def off_axis_names(df: pd.DataFrame) -> list[str]:
    """Visit names kept off the time axis because they are unscheduled or derived (``OFF_AXIS_RE``)."""
    names = pd.Series(df["AVISIT"].astype(str).unique())
    return list(names[names.str.contains(OFF_AXIS_RE, na=False)])
