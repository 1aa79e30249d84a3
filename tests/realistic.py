"""Realistic ADaM studies as sponsors deliver them: one study per convention of the ADaM crib
(``../shared/adam/conventions.md``), and one combining them all.

Every study is small (10 randomised subjects in 3 arms whose display order is the dose in
TRT01AN: 0, 54, 81) and has what a real delivery has: ADSL, ADLB (chemistry and haematology,
safety data), ADVS (vital signs, safety data), ADQS (a cognitive score, efficacy data), ADAE.
Two subjects discontinue early. On top of that base, each convention adds what real deliveries
do (ADaMIG 1.3):

- ``timepoints``: ADVS measured after lying 5 min, standing 1 min and standing 3 min (ATPT/ATPTN)
  at every visit, each timepoint with its own baseline record (ABLFL per timepoint);
- ``worst_flag``: ADLB ANL01FL marks each subject's worst post-baseline value (for shift tables)
  and no baseline record; ANL02FL is the by-visit record, needed because one subject has a retest
  at Week 4 (two records at one visit);
- ``visit_order``: AVISITN is the sponsor's sort order, not the week (Baseline 0, Week 2 -> 4,
  Week 4 -> 5, Week 8 -> 7, Week 12 -> 9, Week 26 -> 13), with unscheduled visits (4.1, 5.1) and
  visit names in upper case in ADVS ("WEEK 2");
- ``unscheduled_baseline``: for three subjects the baseline (ABLFL) is an unscheduled pre-dose
  retest ("Unscheduled 0.1", day -1), not the Baseline visit (whose value was lost); the sponsor's
  BASE, CHG, PCHG sit on every post-baseline record;
- ``derived``: DTYPE records: LOCF in ADQS for the visits after a subject's drop-out, AVERAGE
  records of the readings in ADVS, POST-BASELINE MAXIMUM / MINIMUM records in ADLB;
- ``basetypes``: ADLB has two baseline definitions (BASETYPE "LAST", the last pre-dose value,
  and "SCREENING", the screening value): post-baseline records repeat per BASETYPE;
- ``screen_failures``: three more subjects in ADSL with ARM "Screen Failure" (ARMCD SCRNFAIL),
  TRT01P/TRT01A blank, no TRTSDT, no population flag; their screening labs are in ADLB;
- ``safety_only``: two subjects treated (SAFFL Y) but not in the efficacy set (EFFFL N);
- ``a1_ranges``: ADLB's normal ranges in A1LO/A1HI with ANRIND, no ANRLO/ANRHI (an older delivery).

Written with ``adam_builder.write`` as XPT v5 (8-character names, strings under 200 bytes),
parquet and CSV. Tests compute what the pages should show from these files with pandas, never
with the app's functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import adam_builder as B

CONVENTIONS = ("timepoints", "worst_flag", "visit_order", "unscheduled_baseline", "derived", "basetypes",
               "screen_failures", "safety_only", "a1_ranges")
COMBINED = "combined"
STUDIES = CONVENTIONS + (COMBINED,)
FORMATS = ("xpt5", "parquet", "csv")

ARMS = ("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose")
ARMCD = ("Pbo", "Xan_Lo", "Xan_Hi")
DOSE = (0, 54, 81)
ARM_OF = (0, 1, 2, 0, 1, 2, 0, 1, 2, 0)  # 10 randomised subjects: Placebo 4, Low 3, High 3
WEEKS = (0, 2, 4, 8, 12, 26)
SORT_ORDER = {0: 0.0, 2: 4.0, 4: 5.0, 8: 7.0, 12: 9.0, 26: 13.0}  # visit_order: AVISITN of each week
DROPOUT = {4: 4, 8: 2}  # subject index -> last week with a value (discontinued)
SAFETY_ONLY = (3, 5)  # subject index: SAFFL Y, EFFFL N (safety_only)
UNSCHED_BASE = (1, 4, 6)  # subject index: baseline at an unscheduled pre-dose retest (unscheduled_baseline)
RETEST = (2, 4)  # (subject index, week): a second ALT record at that visit (worst_flag)
TIMEPOINTS = ((1, "AFTER LYING DOWN FOR 5 MINUTES", 0.0), (2, "AFTER STANDING FOR 1 MINUTE", -6.0),
              (3, "AFTER STANDING FOR 3 MINUTES", -3.0))
T0 = pd.Timestamp("2024-02-05")


def _visit(week: int, conv: set, upper: bool = False) -> tuple[str, float]:
    name = "Baseline" if week == 0 else f"Week {week}"
    if upper:
        name = name.upper()
    return name, (SORT_ORDER[week] if "visit_order" in conv else float(week))


def _day(week: int, rng) -> int:
    return 1 if week == 0 else 7 * week + 1 + int(rng.integers(-2, 3))


def _adsl(conv: set, rng) -> pd.DataFrame:
    rows = []
    for i, a in enumerate(ARM_OF):
        usubjid = f"RS-201-{701 + i % 2}-{1001 + i}"
        trtsdt = T0 + pd.Timedelta(days=9 * i)
        dropped = i in DROPOUT
        rows.append({
            "STUDYID": "RS-201", "USUBJID": usubjid, "SUBJID": str(1001 + i), "SITEID": str(701 + i % 2),
            "ARM": ARMS[a], "ARMCD": ARMCD[a], "ACTARM": ARMS[a], "TRT01P": ARMS[a], "TRT01PN": float(DOSE[a]),
            "TRT01A": ARMS[a], "TRT01AN": float(DOSE[a]), "TRTSDT": trtsdt,
            "TRTEDT": trtsdt + pd.Timedelta(days=7 * (DROPOUT[i] if dropped else 26)),
            "AGE": float(rng.integers(55, 85)), "AGEU": "YEARS", "SEX": "FM"[i % 2], "RACE": "WHITE",
            "SAFFL": "Y", "ITTFL": "Y", "EFFFL": "N" if ("safety_only" in conv and i in SAFETY_ONLY) else "Y",
            "EOSSTT": "DISCONTINUED" if dropped else "COMPLETED",
            "DCSREAS": ("ADVERSE EVENT" if i == 4 else "LOST TO FOLLOW-UP") if dropped else "",
            "BMIBL": round(float(rng.normal(26, 3)), 1),
        })
    if "screen_failures" in conv:
        for k in range(3):
            rows.append({
                "STUDYID": "RS-201", "USUBJID": f"RS-201-701-{1101 + k}", "SUBJID": str(1101 + k), "SITEID": "701",
                "ARM": "Screen Failure", "ARMCD": "SCRNFAIL", "ACTARM": "Screen Failure", "TRT01P": "",
                "TRT01PN": np.nan, "TRT01A": "", "TRT01AN": np.nan, "TRTSDT": pd.NaT, "TRTEDT": pd.NaT,
                "AGE": float(rng.integers(55, 85)), "AGEU": "YEARS", "SEX": "F", "RACE": "WHITE",
                "SAFFL": "", "ITTFL": "", "EFFFL": "", "EOSSTT": "", "DCSREAS": "", "BMIBL": np.nan,
            })
    adsl = pd.DataFrame(rows)
    adsl["TRTSDT"] = pd.to_datetime(adsl["TRTSDT"])
    adsl["TRTEDT"] = pd.to_datetime(adsl["TRTEDT"])
    return adsl


def _observed_weeks(i: int) -> list[int]:
    last = DROPOUT.get(i, WEEKS[-1])
    return [w for w in WEEKS if w <= last]


def _with_change(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The sponsor's BASE, CHG, PCHG: BASE from the baseline record, on every record of its group."""
    base = df[df["ABLFL"] == "Y"].set_index(by)["AVAL"]
    idx = pd.MultiIndex.from_frame(df[by])
    df["BASE"] = base.reindex(idx).to_numpy(float)
    post = (df["ABLFL"] != "Y") & df["AVISIT"].str.upper().str.startswith("WEEK")
    df["CHG"] = np.where(post, df["AVAL"] - df["BASE"], np.nan)
    df["PCHG"] = np.where(post, 100 * (df["AVAL"] - df["BASE"]) / df["BASE"], np.nan)
    return df


def _adlb(adsl: pd.DataFrame, conv: set, rng) -> pd.DataFrame:
    treated = adsl[adsl["TRT01A"] != ""]
    params = (("ALT", "Alanine Aminotransferase (U/L)", "CHEMISTRY", 1, 25.0, 5.0, 7.0, 56.0, (0.0, 4.0, 9.0)),
              ("HGB", "Hemoglobin (g/dL)", "HEMATOLOGY", 2, 13.5, 1.1, 12.0, 17.5, (0.0, -0.3, -0.6)))
    rows = []
    for i, s in enumerate(treated.itertuples()):
        arm = ARM_OF[i]
        for code, name, cat, pn, mu, sd, lo, hi, eff in params:
            b = round(float(rng.normal(mu, sd)), 1)
            for w in _observed_weeks(i):
                vis, vn = _visit(w, conv)
                aval = b if w == 0 else round(b + eff[arm] * w / 26 + float(rng.normal(0, sd / 3)), 1)
                abl = "Y" if w == 0 else ""
                day = _day(w, rng) if w else -3
                if w == 0 and "unscheduled_baseline" in conv and i in UNSCHED_BASE:
                    # the Baseline visit's sample was lost (haemolysed): no value; the pre-dose retest is baseline
                    rows.append((s.USUBJID, s.TRT01A, cat, code, pn, name, vis, vn, day, np.nan, lo, hi, "", "LAST"))
                    vis, vn, day, abl = "Unscheduled 0.1", 0.1, -1, "Y"
                rows.append((s.USUBJID, s.TRT01A, cat, code, pn, name, vis, vn, day, aval, lo, hi, abl, "LAST"))
                if (i, w) == RETEST and code == "ALT" and "worst_flag" in conv:
                    rows.append((s.USUBJID, s.TRT01A, cat, code, pn, name, vis, vn, day + 2, round(aval + 9.0, 1),
                                 lo, hi, "", "LAST"))
            if "visit_order" in conv and i in (0, 5) and code == "ALT":  # unscheduled visits between Week 2 and 8
                for un, uw in ((4.1, 3), (5.1, 5)):
                    rows.append((s.USUBJID, s.TRT01A, cat, code, pn, name, f"Unscheduled {un:g}", un, 7 * uw + 1,
                                 round(b + float(rng.normal(0, 2)), 1), lo, hi, "", "LAST"))
    if "screen_failures" in conv:  # their screening labs: no arm, never analysed
        for s in adsl[adsl["TRT01A"] == ""].itertuples():
            for code, name, cat, pn, mu, sd, lo, hi, _ in params:
                rows.append((s.USUBJID, "", cat, code, pn, name, "Screening", -1.0, -14,
                             round(float(rng.normal(mu, sd)), 1), lo, hi, "", "LAST"))
    cols = ["USUBJID", "TRT01A", "PARCAT1", "PARAMCD", "PARAMN", "PARAM", "AVISIT", "AVISITN", "ADY", "AVAL", "ANRLO",
            "ANRHI", "ABLFL", "BASETYPE"]
    lb = pd.DataFrame(rows, columns=cols)
    lb["STUDYID"] = "RS-201"
    lb["AVISITN"] = lb["AVISITN"].astype(float)
    lb["ADY"] = lb["ADY"].astype(float)
    if "basetypes" in conv:
        # LAST: the last pre-dose value (as built); SCREENING: the Day -14 screening value is the baseline,
        # and every post-baseline record repeats with BASETYPE SCREENING
        first = lb[lb["TRT01A"] != ""].dropna(subset=["AVAL"]).drop_duplicates(["USUBJID", "PARAMCD"])
        scr = first.assign(AVISIT="Screening", AVISITN=-1.0, ADY=-14.0, AVAL=(first["AVAL"] - 0.4).round(1))
        post = lb[(lb["ABLFL"] != "Y") & lb["AVISIT"].str.upper().str.startswith("WEEK")]
        lb = pd.concat([scr.assign(ABLFL="", BASETYPE="LAST"), lb, scr.assign(ABLFL="Y", BASETYPE="SCREENING"),
                        post.assign(BASETYPE="SCREENING")], ignore_index=True)
    lb = _with_change(lb, ["USUBJID", "PARAMCD", "BASETYPE"])
    ind = np.where(lb["AVAL"] < lb["ANRLO"], "LOW", np.where(lb["AVAL"] > lb["ANRHI"], "HIGH", "NORMAL"))
    lb["ANRIND"] = np.where(lb["AVAL"].isna(), "", ind)
    if "worst_flag" in conv:
        post = lb[(lb["ABLFL"] != "Y") & lb["AVISIT"].str.upper().str.startswith("WEEK")]
        worst = pd.concat([post[post["PARAMCD"] == "ALT"].sort_values("AVAL").groupby(
                               ["USUBJID", "PARAMCD", "BASETYPE"]).tail(1),
                           post[post["PARAMCD"] == "HGB"].sort_values("AVAL").groupby(
                               ["USUBJID", "PARAMCD", "BASETYPE"]).head(1)])
        lb["ANL01FL"] = np.where(lb.index.isin(worst.index), "Y", "")
        # ANL02FL: the record of each visit used by the by-visit analysis (the first of a retest), baselines too
        cand = lb[(lb["ABLFL"] == "Y") | lb.index.isin(post.index)]
        first = cand.sort_values("ADY", kind="stable").drop_duplicates(["USUBJID", "PARAMCD", "AVISITN", "BASETYPE"])
        lb["ANL02FL"] = np.where(lb.index.isin(first.index), "Y", "")
    if "derived" in conv:
        extremes = []
        post = lb[(lb["ABLFL"] != "Y") & lb["AVISIT"].str.upper().str.startswith("WEEK")]
        for (u, code, bt), g in post.groupby(["USUBJID", "PARAMCD", "BASETYPE"], sort=False):
            for dtype, vis, vn, row in (("MAXIMUM", "POST-BASELINE MAXIMUM", 9997.0, g.loc[g["AVAL"].idxmax()]),
                                        ("MINIMUM", "POST-BASELINE MINIMUM", 9998.0, g.loc[g["AVAL"].idxmin()])):
                extremes.append({**row.to_dict(), "AVISIT": vis, "AVISITN": vn, "DTYPE": dtype,
                                 **({"ANL01FL": "", "ANL02FL": ""} if "worst_flag" in conv else {})})
        lb["DTYPE"] = ""
        lb = pd.concat([lb, pd.DataFrame(extremes)], ignore_index=True)
    if "basetypes" not in conv:
        lb = lb.drop(columns="BASETYPE")
    if "a1_ranges" in conv:
        lb = lb.rename(columns={"ANRLO": "A1LO", "ANRHI": "A1HI"})
    return lb


def _advs(adsl: pd.DataFrame, conv: set, rng) -> pd.DataFrame:
    treated = adsl[adsl["TRT01A"] != ""]
    params = (("SYSBP", "Systolic Blood Pressure (mmHg)", 1, 132.0, 9.0, (0.0, -4.0, -8.0)),
              ("DIABP", "Diastolic Blood Pressure (mmHg)", 2, 80.0, 6.0, (0.0, -2.0, -4.0)))
    tps = TIMEPOINTS if "timepoints" in conv else ((None, None, 0.0),)
    rows = []
    for i, s in enumerate(treated.itertuples()):
        arm = ARM_OF[i]
        for code, name, pn, mu, sd, eff in params:
            b = float(rng.normal(mu, sd))
            for w in _observed_weeks(i):
                vis, vn = _visit(w, conv, upper=True)
                day = _day(w, rng)
                readings = []
                for tpn, tp, shift in tps:
                    aval = round(b + shift + (eff[arm] * w / 26 if w else 0.0) + float(rng.normal(0, 3)))
                    readings.append(aval)
                    rows.append({"USUBJID": s.USUBJID, "TRT01A": s.TRT01A, "PARAMCD": code, "PARAMN": pn,
                                 "PARAM": name, "AVISIT": vis, "AVISITN": vn, "ADY": float(day), "ATPTN": tpn,
                                 "ATPT": tp, "AVAL": float(aval), "ABLFL": "Y" if w == 0 else "", "DTYPE": ""})
                if "derived" in conv:  # the mean of the readings (of the timepoints, when there are several)
                    rows.append({"USUBJID": s.USUBJID, "TRT01A": s.TRT01A, "PARAMCD": code, "PARAMN": pn,
                                 "PARAM": name, "AVISIT": vis, "AVISITN": vn, "ADY": float(day), "ATPTN": np.nan,
                                 "ATPT": "", "AVAL": round(float(np.mean(readings)) + (0.5 if len(tps) == 1 else 0), 1),
                                 "ABLFL": "", "DTYPE": "AVERAGE"})
    vs = pd.DataFrame(rows)
    vs["STUDYID"] = "RS-201"
    vs["PARCAT1"] = "VITAL SIGNS"
    vs["ATPTN"] = vs["ATPTN"].astype(float)
    vs["_TP"] = vs["ATPTN"].fillna(0)
    vs = _with_change(vs, ["USUBJID", "PARAMCD", "_TP", "DTYPE"]).drop(columns="_TP")
    if "timepoints" not in conv:
        vs = vs.drop(columns=["ATPTN", "ATPT"])
    if "derived" not in conv:
        vs = vs.drop(columns="DTYPE")
    return vs


def _adqs(adsl: pd.DataFrame, conv: set, rng) -> pd.DataFrame:
    treated = adsl[adsl["TRT01A"] != ""]
    eff = (2.0, 0.5, -1.5)
    rows = []
    for i, s in enumerate(treated.itertuples()):
        arm = ARM_OF[i]
        b = float(rng.integers(12, 34))
        last = None
        for w in WEEKS:
            vis, vn = _visit(w, conv)
            if w in _observed_weeks(i):
                aval = b if w == 0 else float(max(0, round(b + eff[arm] * w / 26 + float(rng.normal(0, 2)))))
                last = aval
                rows.append({"USUBJID": s.USUBJID, "AVISIT": vis, "AVISITN": vn, "ADY": float(_day(w, rng)),
                             "AVAL": aval, "ABLFL": "Y" if w == 0 else "", "DTYPE": ""})
            elif "derived" in conv:  # last observation carried forward to the visits after the drop-out
                rows.append({"USUBJID": s.USUBJID, "AVISIT": vis, "AVISITN": vn, "ADY": np.nan, "AVAL": last,
                             "ABLFL": "", "DTYPE": "LOCF"})
    qs = pd.DataFrame(rows)
    qs.insert(0, "STUDYID", "RS-201")
    qs["PARAMCD"], qs["PARAM"], qs["PARAMN"], qs["PARCAT1"] = "ACTOT", "ADAS-Cog(11) Total Score", 1, "ADAS-COG"
    qs = _with_change(qs, ["USUBJID", "PARAMCD"])
    qs.loc[qs["DTYPE"] == "LOCF", "CHG"] = qs["AVAL"] - qs["BASE"]
    qs.loc[qs["DTYPE"] == "LOCF", "PCHG"] = 100 * (qs["AVAL"] - qs["BASE"]) / qs["BASE"]
    if "derived" not in conv:
        qs = qs.drop(columns="DTYPE")
    return qs


def _adae(adsl: pd.DataFrame) -> pd.DataFrame:
    treated = adsl[adsl["TRT01A"] != ""].reset_index(drop=True)
    picks = [(0, "Headache", "Nervous system disorders", 5, 6, "MILD", "N"),
             (1, "Application site pruritus", "General disorders and administration site conditions", 3, 20,
              "MODERATE", "N"),
             (2, "Application site erythema", "General disorders and administration site conditions", 2, 15, "MILD",
              "N"),
             (4, "Syncope", "Nervous system disorders", 30, 31, "SEVERE", "Y"),
             (5, "Dizziness", "Nervous system disorders", 40, 42, "MILD", "N")]
    return pd.DataFrame([{"STUDYID": "RS-201", "USUBJID": treated.loc[i, "USUBJID"], "TRT01A": treated.loc[i, "TRT01A"],
                          "AETERM": t.upper(), "AEDECOD": t, "AEBODSYS": soc, "ASTDY": float(a), "AENDY": float(b),
                          "AESEV": sev, "AESER": ser, "AEREL": "POSSIBLE", "TRTEMFL": "Y"}
                         for i, t, soc, a, b, sev, ser in picks])


def build(study: str, seed: int = 201) -> dict[str, pd.DataFrame]:
    """The tables of one realistic study: a convention of ``CONVENTIONS``, or ``COMBINED`` (all of them)."""
    if study not in STUDIES:
        raise ValueError(study)
    conv = set(CONVENTIONS) if study == COMBINED else {study}
    rng = np.random.default_rng(seed)
    adsl = _adsl(conv, rng)
    return {"adsl": adsl, "adlb": _adlb(adsl, conv, rng), "advs": _advs(adsl, conv, rng), "adqs": _adqs(adsl, conv, rng),
            "adae": _adae(adsl)}


def write(folder: Path, study: str, fmt: str) -> Path:
    """Write one realistic study as ``fmt`` (xpt5, parquet or csv) into ``folder``."""
    return B.write(Path(folder), fmt, build(study))


def read(folder: Path, name: str) -> pd.DataFrame:
    """A raw file back, for the tests' own expectations (plain pandas / pyreadstat; nothing from the app)."""
    folder = Path(folder)
    if (folder / f"{name}.parquet").exists():
        return pd.read_parquet(folder / f"{name}.parquet")
    if (folder / f"{name}.csv").exists():
        return pd.read_csv(folder / f"{name}.csv", dtype={"USUBJID": str, "SUBJID": str, "SITEID": str},
                           keep_default_na=False, na_values=[""])
    import pyreadstat

    df, _ = pyreadstat.read_xport(str(folder / f"{name}.xpt"))
    return df
