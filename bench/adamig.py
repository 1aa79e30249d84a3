"""A generated study in true ADaMIG shape at real-study size: ~250 MB of SAS transport (XPT v5) files.

    python -m bench.adamig [--subjects 600] [--out DIR]

The benchmark's size **R** ("real"): what sponsors deliver, not LSO-088's tidy shape. Shaped like the
CDISC pilot submission that real deliveries resemble (three arms whose display order is the dose in
TRT01PN, 0 / 54 / 81), with every convention of ``../shared/adam/conventions.md`` that
``tests/realistic.py`` reproduces in miniature:

- ADSL: one row per subject **screened**: 600 randomised and 15 % more screen failures (ARM "Screen
  Failure", ARMCD SCRNFAIL, TRT01P/TRT01A blank, no TRTSDT, no population flag); SAFFL/ITTFL/EFFFL,
  about 12 % discontinued (EOSSTT, DCSREAS), baseline characteristics (AGEGR1, BMIBL, ...);
- ADLB: **50 lab parameters** (chemistry, haematology, urinalysis; PARAMN, PARCAT1 abbreviated "CHEM",
  "HEM", "URIN" as older deliveries do), screening and baseline visits, Weeks 2-26, **unscheduled
  visits** (AVISITN 4.1, 8.1, ..., "Unscheduled 4.1") for about 4 % of subject-visits, an **End of
  Treatment** visit (AVISITN 99) repeating the last value, **derived DTYPE rows** ("POST-BASELINE
  MAXIMUM" / "MINIMUM" at AVISITN 9997/9998), normal ranges in A1LO/A1HI with ANRIND/BNRIND, ANL01FL on
  the by-visit records, the sponsor's BASE/CHG/PCHG; for 5 % of subjects the baseline (ABLFL) is an
  unscheduled pre-dose retest;
- ADVS: blood pressure and pulse at three **timepoints** (ATPT/ATPTN: lying 5 min, standing 1 and 3 min),
  each with its own baseline, plus **AVERAGE** DTYPE rows of the three readings; weight and temperature
  once per visit;
- ADEG: seven ECG parameters as three replicates (ATPT "REPLICATE 1-3") with AVERAGE rows;
- ADQS: the ADAS-Cog items and total and the CIBIC+ score, with **LOCF** DTYPE rows after a drop-out;
- ADAE (about 3 events per subject, AEREL in the five-level coding, AETOXGR), ADCM (no PARAMCD: not
  BDS, left out with a note).

Every variable has its SAS label; character variables are as wide as their longest value (XPT v5: 8-char
names, strings under 200 bytes), numbers are 8 bytes, dates numeric SAS dates without a format (the app
reads *DT numerics as dates). Values are random (seeded): they mean nothing. The folder is locked
(LOCK.json, ``simulated: true``) and reused while this generator's version is unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from data import lock as _lock

VERSION = "1.0.0"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench-results" / "data"
STUDY = "CDISCPILOT-R"
ARMS = ("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose")
ARMCD = ("Pbo", "Xan_Lo", "Xan_Hi")
DOSE = (0.0, 54.0, 81.0)
WEEKS = (2, 4, 6, 8, 12, 16, 20, 24, 26)
SAS_EPOCH = np.datetime64("1960-01-01")
T0 = int((np.datetime64("2013-01-07") - SAS_EPOCH).astype(int))  # first randomisation, SAS date

LABS = [  # PARAMCD, PARAM, category, typical value, sd, low, high
    *[(c, f"{n} ({u})", "CHEM", m, s, lo, hi) for c, n, u, m, s, lo, hi in (
        ("ALB", "Albumin", "g/L", 40, 3, 35, 50), ("ALP", "Alkaline Phosphatase", "U/L", 70, 20, 35, 129),
        ("ALT", "Alanine Aminotransferase", "U/L", 20, 8, 6, 43), ("AST", "Aspartate Aminotransferase", "U/L", 22, 6, 10, 40),
        ("BILI", "Bilirubin", "umol/L", 9, 3, 2, 21), ("BUN", "Blood Urea Nitrogen", "mmol/L", 6, 1.5, 2.5, 8.9),
        ("CA", "Calcium", "mmol/L", 2.35, 0.1, 2.1, 2.6), ("CHOL", "Cholesterol", "mmol/L", 5.5, 1, 3.9, 6.9),
        ("CK", "Creatine Kinase", "U/L", 100, 40, 30, 200), ("CL", "Chloride", "mmol/L", 103, 3, 94, 112),
        ("CREAT", "Creatinine", "umol/L", 90, 15, 44, 133), ("GGT", "Gamma Glutamyl Transferase", "U/L", 25, 10, 4, 51),
        ("GLUC", "Glucose", "mmol/L", 5.5, 1, 3.9, 7.0), ("K", "Potassium", "mmol/L", 4.3, 0.4, 3.4, 5.4),
        ("PHOS", "Phosphate", "mmol/L", 1.1, 0.15, 0.8, 1.5), ("PROT", "Protein", "g/L", 70, 4, 61, 84),
        ("SODIUM", "Sodium", "mmol/L", 140, 3, 132, 147), ("URATE", "Urate", "umol/L", 320, 70, 125, 488),
        ("LDH", "Lactate Dehydrogenase", "U/L", 180, 35, 100, 250), ("TRIG", "Triglycerides", "mmol/L", 1.6, 0.6, 0.5, 2.3),
        ("HDL", "HDL Cholesterol", "mmol/L", 1.4, 0.3, 0.9, 2.0), ("LDL", "LDL Cholesterol", "mmol/L", 3.2, 0.8, 1.5, 4.1),
        ("MG", "Magnesium", "mmol/L", 0.85, 0.08, 0.7, 1.05), ("CRP", "C-Reactive Protein", "mg/L", 3, 2, 0, 10),
        ("HBA1C", "Hemoglobin A1C", "%", 5.6, 0.5, 4, 6))],
    *[(c, f"{n} ({u})", "HEM", m, s, lo, hi) for c, n, u, m, s, lo, hi in (
        ("HGB", "Hemoglobin", "mmol/L", 8.5, 0.8, 7.0, 10.5), ("HCT", "Hematocrit", "1", 0.42, 0.04, 0.35, 0.5),
        ("RBC", "Erythrocytes", "10^12/L", 4.6, 0.4, 3.8, 5.8), ("WBC", "Leukocytes", "10^9/L", 6.5, 1.5, 3.8, 10.7),
        ("PLAT", "Platelet", "10^9/L", 240, 50, 140, 400), ("NEUT", "Neutrophils", "10^9/L", 3.8, 1.1, 1.8, 7.8),
        ("LYM", "Lymphocytes", "10^9/L", 1.9, 0.5, 0.9, 3.3), ("MONO", "Monocytes", "10^9/L", 0.5, 0.15, 0.1, 0.9),
        ("EOS", "Eosinophils", "10^9/L", 0.2, 0.1, 0, 0.5), ("BASO", "Basophils", "10^9/L", 0.04, 0.02, 0, 0.2),
        ("MCV", "Ery. Mean Corpuscular Volume", "fL", 90, 5, 80, 100),
        ("MCH", "Ery. Mean Corpuscular Hemoglobin", "fmol(Fe)", 1.9, 0.1, 1.7, 2.1),
        ("MCHC", "Ery. Mean Corpuscular HGB Concentration", "mmol/L", 21, 1, 19, 23),
        ("RDW", "Erythrocyte Distribution Width", "%", 13, 1, 11.5, 14.5), ("RETI", "Reticulocytes", "%", 1.2, 0.4, 0.5, 2.5),
        ("ANISO", "Anisocytes", "/HPF", 1, 0.5, 0, 2), ("MACROCY", "Macrocytes", "/HPF", 1, 0.5, 0, 2),
        ("MICROCY", "Microcytes", "/HPF", 1, 0.5, 0, 2))],
    *[(c, f"{n} ({u})", "URIN", m, s, lo, hi) for c, n, u, m, s, lo, hi in (
        ("SPGRAV", "Specific Gravity", "1", 1.015, 0.005, 1.005, 1.03), ("PH", "pH", "1", 6, 0.7, 5, 8),
        ("UPROT", "Urine Protein", "g/L", 0.1, 0.05, 0, 0.15), ("UGLUC", "Urine Glucose", "mmol/L", 0.2, 0.1, 0, 0.8),
        ("UKET", "Urine Ketones", "mmol/L", 0.1, 0.05, 0, 0.5), ("UBLOOD", "Urine Blood", "ery/uL", 2, 1, 0, 5),
        ("UWBC", "Urine Leukocytes", "leu/uL", 5, 3, 0, 10))],
]
assert len(LABS) == 50
VS_TP = (("SYSBP", "Systolic Blood Pressure (mmHg)", 135, 14), ("DIABP", "Diastolic Blood Pressure (mmHg)", 78, 9),
         ("PULSE", "Pulse Rate (beats/min)", 72, 9))
VS_ONE = (("WEIGHT", "Weight (kg)", 70, 12), ("TEMP", "Temperature (C)", 36.6, 0.3))
TIMEPOINTS = ((815.0, "AFTER LYING DOWN FOR 5 MINUTES", 0.0), (816.0, "AFTER STANDING FOR 1 MINUTE", -5.0),
              (817.0, "AFTER STANDING FOR 3 MINUTES", -2.5))
EG = (("EGHRMN", "ECG Mean Heart Rate (beats/min)", 70, 9), ("PRAG", "PR Interval, Aggregate (msec)", 165, 20),
      ("QRSAG", "QRS Duration, Aggregate (msec)", 95, 10), ("QTAG", "QT Interval, Aggregate (msec)", 400, 25),
      ("QTCBAG", "QTcB Interval, Aggregate (msec)", 420, 20), ("QTCFAG", "QTcF Interval, Aggregate (msec)", 412, 18),
      ("RRAG", "RR Interval, Aggregate (msec)", 860, 110))
QS = tuple((f"ACITM{k:02d}", f"ADAS-Cog(11) Item {k:02d}", 2.0, 1.0) for k in range(1, 12)) + (
    ("ACTOT", "ADAS-Cog(11) Subscore", 22.0, 6.0), ("CIBIC", "CIBIC+ Score", 4.0, 1.0))
QS_WEEKS = (8, 16, 24, 26)
AE_TERMS = (("Nervous system disorders", "HEADACHE"), ("Nervous system disorders", "DIZZINESS"),
            ("General disorders and administration site conditions", "APPLICATION SITE PRURITUS"),
            ("General disorders and administration site conditions", "APPLICATION SITE ERYTHEMA"),
            ("Skin and subcutaneous tissue disorders", "PRURITUS"), ("Skin and subcutaneous tissue disorders", "RASH"),
            ("Gastrointestinal disorders", "DIARRHOEA"), ("Gastrointestinal disorders", "NAUSEA"),
            ("Cardiac disorders", "SINUS BRADYCARDIA"), ("Infections and infestations", "NASOPHARYNGITIS"),
            ("Psychiatric disorders", "CONFUSIONAL STATE"), ("Vascular disorders", "HYPOTENSION"))
RELATED = ("DEFINITE", "PROBABLE", "POSSIBLE", "REMOTE", "UNLIKELY", "NONE")
LABELS = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "SUBJID": "Subject Identifier for the Study",
    "SITEID": "Study Site Identifier", "ARM": "Description of Planned Arm", "ARMCD": "Planned Arm Code",
    "ACTARM": "Description of Actual Arm", "TRT01P": "Planned Treatment for Period 01",
    "TRT01PN": "Planned Treatment for Period 01 (N)", "TRT01A": "Actual Treatment for Period 01",
    "TRT01AN": "Actual Treatment for Period 01 (N)", "TRTP": "Planned Treatment", "TRTPN": "Planned Treatment (N)",
    "TRTA": "Actual Treatment", "TRTAN": "Actual Treatment (N)", "TRTSDT": "Date of First Exposure to Treatment",
    "TRTEDT": "Date of Last Exposure to Treatment", "AGE": "Age", "AGEU": "Age Units", "AGEGR1": "Pooled Age Group 1",
    "SEX": "Sex", "RACE": "Race", "ETHNIC": "Ethnicity", "SAFFL": "Safety Population Flag",
    "ITTFL": "Intent-To-Treat Population Flag", "EFFFL": "Efficacy Population Flag",
    "COMP24FL": "Completers of Week 24 Population Flag", "EOSSTT": "End of Study Status",
    "DCSREAS": "Reason for Discontinuation from Study", "DSRAEFL": "Discontinued due to AE?",
    "BMIBL": "Baseline BMI (kg/m^2)", "HEIGHTBL": "Baseline Height (cm)", "WEIGHTBL": "Baseline Weight (kg)",
    "MMSETOT": "MMSE Total", "DURDIS": "Duration of Disease (Months)", "RANDDT": "Date of Randomization",
    "PARAMCD": "Parameter Code", "PARAM": "Parameter", "PARAMN": "Parameter (N)", "PARCAT1": "Parameter Category 1",
    "AVAL": "Analysis Value", "AVALC": "Analysis Value (C)", "BASE": "Baseline Value",
    "CHG": "Change from Baseline", "PCHG": "Percent Change from Baseline", "A1LO": "Analysis Range 1 Lower Limit",
    "A1HI": "Analysis Range 1 Upper Limit", "ANRIND": "Analysis Reference Range Indicator",
    "BNRIND": "Baseline Reference Range Indicator", "ABLFL": "Baseline Record Flag", "AVISIT": "Analysis Visit",
    "AVISITN": "Analysis Visit (N)", "ADY": "Analysis Relative Day", "ADT": "Analysis Date", "ATPT": "Analysis Timepoint",
    "ATPTN": "Analysis Timepoint (N)", "DTYPE": "Derivation Type", "ANL01FL": "Analysis Flag 01",
    "ONTRTFL": "On Treatment Record Flag", "SRCDOM": "Source Data", "SRCSEQ": "Source Sequence Number",
    "AESEQ": "Sequence Number", "AETERM": "Reported Term for the Adverse Event",
    "AEDECOD": "Dictionary-Derived Term", "AEBODSYS": "Body System or Organ Class", "AESEV": "Severity/Intensity",
    "AETOXGR": "Standard Toxicity Grade", "AESER": "Serious Event", "AEREL": "Causality", "AEACN": "Action Taken with Study Treatment",
    "AEOUT": "Outcome of Adverse Event", "AESDTH": "Results in Death", "TRTEMFL": "Treatment Emergent Analysis Flag",
    "ASTDT": "Analysis Start Date", "AENDT": "Analysis End Date", "ASTDY": "Analysis Start Relative Day",
    "AENDY": "Analysis End Relative Day", "CMTRT": "Reported Name of Drug, Med, or Therapy",
    "CMDECOD": "Standardized Medication Name", "CMCLAS": "Medication Class", "CMDOSE": "Dose per Administration",
    "CMDOSU": "Dose Units", "CMROUTE": "Route of Administration",
}
DATASET_LABELS = {"adsl": "Subject-Level Analysis Dataset", "adlb": "Laboratory Analysis Dataset",
                  "advs": "Vital Signs Analysis Dataset", "adeg": "ECG Analysis Dataset",
                  "adqs": "Questionnaire Analysis Dataset", "adae": "Adverse Events Analysis Dataset",
                  "adcm": "Concomitant Medications Analysis Dataset"}


def _subjects(n: int, rng) -> pd.DataFrame:
    n_sf = int(round(n * 0.15))
    total = n + n_sf
    sf = np.zeros(total, bool)
    sf[rng.choice(total, n_sf, replace=False)] = True
    arm = np.where(sf, -1, 0)
    arm[~sf] = np.arange(n) % 3
    site = rng.integers(0, 17, total)
    sites = np.array([f"7{k:02d}" for k in range(1, 18)])[site]
    subjid = np.array([f"{1001 + i:04d}" for i in range(total)])
    usubjid = np.char.add(np.char.add("01-", np.char.add(sites, "-")), subjid)
    rand = T0 + (np.arange(total) * 1.3).astype(int)
    drop = (~sf) & (rng.random(total) < 0.12)
    last_week_idx = np.where(drop, rng.integers(0, len(WEEKS) - 1, total), len(WEEKS) - 1)
    last_day = np.array(WEEKS)[last_week_idx] * 7 + 1
    age = rng.integers(51, 89, total).astype(float)
    arm_lab = np.where(sf, "Screen Failure", np.array(ARMS)[np.maximum(arm, 0)])
    trt = np.where(sf, "", arm_lab)
    dose = np.where(sf, np.nan, np.array(DOSE)[np.maximum(arm, 0)])
    reasons = np.array(["ADVERSE EVENT", "LOST TO FOLLOW-UP", "WITHDREW CONSENT", "LACK OF EFFICACY", "PHYSICIAN DECISION"])
    reason = np.where(drop, reasons[rng.integers(0, 5, total)], "")
    height = np.round(rng.normal(163, 10, total), 1)
    weight = np.round(rng.normal(68, 12, total), 1)
    return pd.DataFrame({
        "STUDYID": STUDY, "USUBJID": usubjid, "SUBJID": subjid, "SITEID": sites,
        "ARM": arm_lab, "ARMCD": np.where(sf, "SCRNFAIL", np.array(ARMCD)[np.maximum(arm, 0)]), "ACTARM": arm_lab,
        "TRT01P": trt, "TRT01PN": dose, "TRT01A": trt, "TRT01AN": dose,
        "TRTSDT": np.where(sf, np.nan, rand.astype(float)), "TRTEDT": np.where(sf, np.nan, (rand + last_day - 1).astype(float)),
        "RANDDT": np.where(sf, np.nan, rand.astype(float)),
        "AGE": age, "AGEU": "YEARS", "AGEGR1": np.where(age < 65, "<65", np.where(age <= 80, "65-80", ">80")),
        "SEX": np.where(rng.random(total) < 0.56, "F", "M"),
        "RACE": np.array(["WHITE", "BLACK OR AFRICAN AMERICAN", "AMERICAN INDIAN OR ALASKA NATIVE"])[
            rng.choice(3, total, p=[0.86, 0.13, 0.01])],
        "ETHNIC": np.where(rng.random(total) < 0.06, "HISPANIC OR LATINO", "NOT HISPANIC OR LATINO"),
        "SAFFL": np.where(sf, "", "Y"), "ITTFL": np.where(sf, "", "Y"),
        "EFFFL": np.where(sf, "", np.where(rng.random(total) < 0.95, "Y", "N")),
        "COMP24FL": np.where(sf, "", np.where(drop, "N", "Y")),
        "EOSSTT": np.where(sf, "", np.where(drop, "DISCONTINUED", "COMPLETED")), "DCSREAS": reason,
        "DSRAEFL": np.where(reason == "ADVERSE EVENT", "Y", ""),
        "HEIGHTBL": height, "WEIGHTBL": weight, "BMIBL": np.round(weight / (height / 100) ** 2, 1),
        "MMSETOT": rng.integers(10, 24, total).astype(float), "DURDIS": np.round(rng.gamma(3, 12, total), 1),
    }), arm, sf, last_week_idx


def _grid(n_subj_idx: np.ndarray, n_par: int, visits: np.ndarray):
    s, p, v = np.meshgrid(n_subj_idx, np.arange(n_par), visits, indexing="ij")
    return s.ravel(), p.ravel(), v.ravel()


def _bds(adsl, arm, sf, last_idx, params, rng, *, dataset: str, timepoints=None, average=False, derived_extremes=False,
         locf=False, screening=True, unscheduled=0.0, eot=False, visits=WEEKS, unsched_baseline=0.0):
    """One BDS dataset, vectorised. params: (PARAMCD, PARAM, PARCAT1, mean, sd, lo, hi)."""
    treated = np.flatnonzero(~sf)
    n_par = len(params)
    tps = timepoints or ((np.nan, "", 0.0),)
    weeks = np.array(visits)
    # visit index: -1 screening, 0 baseline, 1.. the weeks
    vidx = np.arange(-1 if screening else 0, len(weeks) + 1)
    s, p, v = _grid(treated, n_par, vidx)
    tp_n = len(tps)
    s, p, v = np.repeat(s, tp_n), np.repeat(p, tp_n), np.repeat(v, tp_n)
    t = np.tile(np.arange(tp_n), len(s) // tp_n)
    # visits after the drop-out: none (or LOCF rows later)
    observed = v <= np.searchsorted(weeks, np.array(WEEKS)[last_idx[s]], side="right")
    mean = np.array([x[3] for x in params], float)[p]
    sd = np.array([x[4] for x in params], float)[p]
    subj_level = rng.normal(0, 1, (len(adsl), n_par))[s, p]
    eff = np.array([0.0, 0.15, 0.3])[arm[s]] * np.clip(v, 0, None) / len(weeks)
    shift = np.array([x[2] for x in tps])[t]
    aval = mean + sd * (0.8 * subj_level + eff + 0.35 * rng.normal(0, 1, len(s))) + shift * sd / 5
    aval = np.round(np.maximum(aval, 0), 3)
    week_of = np.concatenate([[-2, 0], weeks])[v + 1]
    names = np.concatenate([["Screening", "Baseline"], [f"Week {w}" for w in weeks]])[v + 1]
    avisitn = week_of.astype(float)
    rand = adsl["TRTSDT"].to_numpy()[s]
    ady = np.where(v < 0, -14, np.where(v == 0, 1, week_of * 7 + 1 + rng.integers(-3, 4, len(s))))
    ady = np.where(ady >= 0, ady, ady)  # study day: no day 0
    keep = observed
    df = pd.DataFrame({"USUBJID": adsl["USUBJID"].to_numpy()[s], "_S": s, "_P": p, "_V": v, "_T": t,
                       "AVISIT": names, "AVISITN": avisitn, "ADY": ady.astype(float), "AVAL": aval,
                       "ADT": rand + np.where(ady > 0, ady - 1, ady)})[keep]
    df["ABLFL"] = np.where(df["_V"] == 0, "Y", "")
    df["DTYPE"] = ""
    parts = [df]
    if unsched_baseline:  # the baseline is an unscheduled pre-dose retest for some subjects
        who = rng.random(len(adsl)) < unsched_baseline
        base = df[(df["_V"] == 0) & who[df["_S"].to_numpy()]]
        retest = base.assign(AVISIT="Unscheduled 0.1", AVISITN=0.1, ADY=-1.0, ADT=base["ADT"] - 2,
                             AVAL=np.round(base["AVAL"] * 1.02, 3))
        parts[0].loc[base.index, "ABLFL"] = ""
        parts[0].loc[base.index, "AVAL"] = np.nan  # the Baseline visit's sample was lost
        parts.append(retest)
    if unscheduled:
        post = df[df["_V"] >= 1]
        pick = post[rng.random(len(post)) < unscheduled]
        un = pick.assign(AVISITN=pick["AVISITN"] + 0.1, AVISIT="Unscheduled " + (pick["AVISITN"] + 0.1).round(1).astype(str),
                         ADY=pick["ADY"] + 3, ADT=pick["ADT"] + 3, AVAL=np.round(pick["AVAL"] * 1.05, 3))
        parts.append(un)
    out = pd.concat(parts, ignore_index=True)
    if locf:  # carried forward to the scheduled visits after a drop-out
        s2, p2, v2 = _grid(treated, n_par, np.arange(1, len(weeks) + 1))
        miss = v2 > np.searchsorted(weeks, np.array(WEEKS)[last_idx[s2]], side="right")
        s2, p2, v2 = s2[miss], p2[miss], v2[miss]
        last = out[(out["_V"] >= 0) & (out["DTYPE"] == "")].sort_values("_V").groupby(["_S", "_P"])["AVAL"].last()
        carried = last.reindex(pd.MultiIndex.from_arrays([s2, p2])).to_numpy()
        out = pd.concat([out, pd.DataFrame({
            "USUBJID": adsl["USUBJID"].to_numpy()[s2], "_S": s2, "_P": p2, "_V": v2, "_T": 0,
            "AVISIT": [f"Week {w}" for w in weeks[v2 - 1]], "AVISITN": weeks[v2 - 1].astype(float), "ADY": np.nan,
            "AVAL": carried, "ADT": np.nan, "ABLFL": "", "DTYPE": "LOCF"})], ignore_index=True)
    if average and timepoints:
        obs = out[(out["DTYPE"] == "") & out["_V"].between(0, len(weeks)) & (out["AVISIT"].str[:5] != "Unsch")]
        avg = obs.groupby(["_S", "_P", "_V"], as_index=False).agg(
            USUBJID=("USUBJID", "first"), AVISIT=("AVISIT", "first"), AVISITN=("AVISITN", "first"),
            ADY=("ADY", "first"), ADT=("ADT", "first"), AVAL=("AVAL", "mean"))
        avg["AVAL"] = avg["AVAL"].round(2)
        avg["_T"] = -1
        avg["ABLFL"] = ""
        avg["DTYPE"] = "AVERAGE"
        out = pd.concat([out, avg], ignore_index=True)
    if eot:  # End of Treatment: the last scheduled value again, at AVISITN 99
        sched = out[(out["DTYPE"] == "") & (out["_V"] >= 1) & (out["AVISIT"].str[:5] != "Unsch")]
        last = sched.sort_values("_V").groupby(["_S", "_P", "_T"], as_index=False).last()
        out = pd.concat([out, last.assign(AVISIT="End of Treatment", AVISITN=99.0)], ignore_index=True)
    if derived_extremes:
        post = out[(out["DTYPE"] == "") & (out["_V"] >= 1) & (out["AVISITN"] < 99)].dropna(subset=["AVAL"])
        g = post.sort_values("AVAL", kind="stable").groupby(["_S", "_P", "_T"], as_index=False)
        out = pd.concat([out, g.last().assign(AVISIT="POST-BASELINE MAXIMUM", AVISITN=9997.0, DTYPE="MAXIMUM"),
                         g.first().assign(AVISIT="POST-BASELINE MINIMUM", AVISITN=9998.0, DTYPE="MINIMUM")],
                        ignore_index=True)
    # the sponsor's baseline, change and flags
    base = out[out["ABLFL"] == "Y"].set_index(["_S", "_P", "_T"])["AVAL"]
    key = pd.MultiIndex.from_arrays([out["_S"], out["_P"], out["_T"].where(out["_T"] >= 0, 0)])
    out["BASE"] = base.reindex(key).to_numpy()
    post = (out["_V"] >= 1) | (out["AVISITN"] >= 99)
    out["CHG"] = np.where(post, out["AVAL"] - out["BASE"], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["PCHG"] = np.where(post & (out["BASE"] != 0), 100 * out["CHG"] / out["BASE"], np.nan)
    out = out.sort_values(["_S", "_P", "AVISITN", "_T"], kind="stable").reset_index(drop=True)
    pr = params
    out.insert(0, "STUDYID", STUDY)
    for col, src in (("SUBJID", "SUBJID"), ("SITEID", "SITEID"), ("TRTP", "TRT01P"), ("TRTPN", "TRT01PN"),
                     ("TRTA", "TRT01A"), ("TRTAN", "TRT01AN"), ("TRT01P", "TRT01P"), ("TRT01A", "TRT01A"),
                     ("AGE", "AGE"), ("AGEGR1", "AGEGR1"), ("SEX", "SEX"), ("RACE", "RACE"), ("SAFFL", "SAFFL"),
                     ("ITTFL", "ITTFL"), ("EFFFL", "EFFFL"), ("COMP24FL", "COMP24FL")):
        out[col] = adsl[src].to_numpy()[out["_S"].to_numpy()]
    pi = out["_P"].to_numpy()
    out["PARAMCD"] = np.array([x[0] for x in pr])[pi]
    out["PARAM"] = np.array([x[1] for x in pr])[pi]
    out["PARAMN"] = (pi + 1).astype(float)
    out["PARCAT1"] = np.array([x[2] for x in pr])[pi]
    if timepoints:
        ti = out["_T"].to_numpy()
        out["ATPTN"] = np.where(ti >= 0, np.array([x[0] for x in tps])[np.maximum(ti, 0)], np.nan)
        out["ATPT"] = np.where(ti >= 0, np.array([x[1] for x in tps])[np.maximum(ti, 0)], "")
    lo = np.array([x[5] for x in pr], float)[pi] if len(pr[0]) > 5 else None
    if lo is not None:
        hi = np.array([x[6] for x in pr], float)[pi]
        out["A1LO"], out["A1HI"] = lo, hi
        ind = np.where(out["AVAL"].isna(), "", np.where(out["AVAL"] < lo, "LOW", np.where(out["AVAL"] > hi, "HIGH", "NORMAL")))
        out["ANRIND"] = ind
        bind = np.where(out["BASE"].isna(), "", np.where(out["BASE"] < lo, "LOW", np.where(out["BASE"] > hi, "HIGH", "NORMAL")))
        out["BNRIND"] = bind
    out["AVALC"] = np.where(out["AVAL"].isna(), "", out["AVAL"].round(3).astype(str))
    out["ANL01FL"] = np.where((out["DTYPE"] == "") & ((out["ABLFL"] == "Y") | (out["_V"] >= 1))
                              & (out["AVISITN"] < 99) & ~out["AVISIT"].str.startswith("Unscheduled"), "Y", "")
    out["ONTRTFL"] = np.where(out["ADY"] >= 1, "Y", "")
    out["SRCDOM"] = dataset[2:]
    out["SRCSEQ"] = np.arange(1, len(out) + 1, dtype=float)
    return out.drop(columns=["_S", "_P", "_V", "_T"])


def _adae(adsl, arm, sf, rng) -> pd.DataFrame:
    treated = np.flatnonzero(~sf)
    n_ev = rng.poisson(3.0, len(treated))
    s = np.repeat(treated, n_ev)
    n = len(s)
    term = rng.integers(0, len(AE_TERMS), n)
    dur = adsl["TRTEDT"].to_numpy()[s] - adsl["TRTSDT"].to_numpy()[s] + 1
    start = 1 + (rng.random(n) * dur).astype(int)
    length = 1 + rng.geometric(0.1, n)
    grade = rng.choice(4, n, p=[0.6, 0.3, 0.08, 0.02]) + 1
    df = pd.DataFrame({
        "STUDYID": STUDY, "USUBJID": adsl["USUBJID"].to_numpy()[s], "SUBJID": adsl["SUBJID"].to_numpy()[s],
        "SITEID": adsl["SITEID"].to_numpy()[s], "TRTA": adsl["TRT01A"].to_numpy()[s],
        "TRTAN": adsl["TRT01AN"].to_numpy()[s], "TRT01A": adsl["TRT01A"].to_numpy()[s],
        "AGE": adsl["AGE"].to_numpy()[s], "SEX": adsl["SEX"].to_numpy()[s], "SAFFL": "Y",
        "AETERM": np.array([t[1] for t in AE_TERMS])[term], "AEDECOD": np.array([t[1].capitalize() for t in AE_TERMS])[term],
        "AEBODSYS": np.array([t[0] for t in AE_TERMS])[term],
        "ASTDT": adsl["TRTSDT"].to_numpy()[s] + start - 1, "AENDT": adsl["TRTSDT"].to_numpy()[s] + start + length - 2,
        "ASTDY": start.astype(float), "AENDY": (start + length - 1).astype(float),
        "AESEV": np.array(["MILD", "MODERATE", "SEVERE", "SEVERE"])[grade - 1], "AETOXGR": grade.astype(str),
        "AESER": np.where(rng.random(n) < 0.03, "Y", "N"),
        "AEREL": np.array(RELATED)[rng.integers(0, len(RELATED), n)],
        "AEACN": np.where(rng.random(n) < 0.05, "DRUG WITHDRAWN", np.where(rng.random(n) < 0.5, "DOSE NOT CHANGED", "")),
        "AEOUT": np.where(rng.random(n) < 0.9, "RECOVERED/RESOLVED", "NOT RECOVERED/NOT RESOLVED"),
        "AESDTH": "N", "TRTEMFL": np.where(start >= 1, "Y", ""),
    })
    df = df.sort_values(["USUBJID", "ASTDY"], kind="stable").reset_index(drop=True)
    df.insert(2, "AESEQ", df.groupby("USUBJID").cumcount().astype(float) + 1)
    return df


def _adcm(adsl, sf, rng) -> pd.DataFrame:
    s = np.repeat(np.arange(len(adsl)), rng.poisson(4, len(adsl)))
    meds = ("ASPIRIN", "PARACETAMOL", "ATORVASTATIN", "METFORMIN", "LISINOPRIL", "OMEPRAZOLE", "DONEPEZIL", "VITAMIN D")
    k = rng.integers(0, len(meds), len(s))
    return pd.DataFrame({"STUDYID": STUDY, "USUBJID": adsl["USUBJID"].to_numpy()[s],
                         "CMSEQ": (pd.Series(s).groupby(s).cumcount() + 1).astype(float).to_numpy(),
                         "CMTRT": np.array(meds)[k], "CMDECOD": np.array(meds)[k],
                         "CMCLAS": np.array(["ANALGESICS", "ANALGESICS", "LIPID MODIFYING AGENTS", "ANTIDIABETICS",
                                             "ACE INHIBITORS", "PROTON PUMP INHIBITORS", "ANTI-DEMENTIA DRUGS",
                                             "VITAMINS"])[k],
                         "CMDOSE": rng.choice([5.0, 10.0, 20.0, 100.0], len(s)), "CMDOSU": "mg", "CMROUTE": "ORAL",
                         "ASTDY": rng.integers(-300, 180, len(s)).astype(float)})


def _write_xpt(folder: Path, name: str, df: pd.DataFrame) -> int:
    import pyreadstat

    df = df.copy()
    for c in df.columns:
        if df[c].dtype.kind in "OUT" or pd.api.types.is_string_dtype(df[c]):
            df[c] = df[c].fillna("").astype(str).astype(object)
        else:
            df[c] = df[c].astype(float)
    pyreadstat.write_xport(df, str(folder / f"{name}.xpt"), file_format_version=5, table_name=name.upper(),
                           file_label=DATASET_LABELS.get(name, ""),
                           column_labels=[LABELS.get(c, c.title())[:40] for c in df.columns])
    return len(df)


def generate(folder: Path, n_subjects: int = 600, seed: int = 19) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    adsl, arm, sf, last_idx = _subjects(n_subjects, rng)
    tables = {
        "adsl": adsl,
        "adlb": _bds(adsl, arm, sf, last_idx, LABS, rng, dataset="ADLB", derived_extremes=True, unscheduled=0.04,
                     eot=True, unsched_baseline=0.05),
        "advs": pd.concat([
            _bds(adsl, arm, sf, last_idx, [(c, n, "VITAL SIGNS", m, s) for c, n, m, s in VS_TP], rng, dataset="ADVS",
                 timepoints=TIMEPOINTS, average=True, eot=True),
            _bds(adsl, arm, sf, last_idx, [(c, n, "VITAL SIGNS", m, s) for c, n, m, s in VS_ONE], rng,
                 dataset="ADVS", eot=True).assign(PARAMN=lambda d: d["PARAMN"] + 3, ATPTN=np.nan, ATPT="")],
            ignore_index=True),
        "adeg": _bds(adsl, arm, sf, last_idx, [(c, n, "ECG", m, s) for c, n, m, s in EG], rng, dataset="ADEG",
                     timepoints=((1.0, "REPLICATE 1", 0.0), (2.0, "REPLICATE 2", 0.0), (3.0, "REPLICATE 3", 0.0)),
                     average=True, unscheduled=0.03),
        "adqs": _bds(adsl, arm, sf, last_idx, [(c, n, "ADAS-COG" if c != "CIBIC" else "CIBIC+", m, s)
                                               for c, n, m, s in QS], rng, dataset="ADQS", locf=True, screening=False,
                     visits=QS_WEEKS),
        "adae": _adae(adsl, arm, sf, rng),
        "adcm": _adcm(adsl, sf, rng),
    }
    rows = {f"{name}.xpt": _write_xpt(folder, name, df) for name, df in tables.items()}
    return rows


def generator_id(n_subjects: int, seed: int = 19) -> str:
    return f"bench.adamig {VERSION} ({n_subjects} subjects, seed {seed})"


def ensure(n_subjects: int = 600, out: Path = DEFAULT_OUT, name: str = "R") -> Path:
    """The folder of size R: reused when this generator version wrote it, else (re)written and locked."""
    folder = Path(out) / name
    manifest = folder / _lock.MANIFEST
    if manifest.exists():
        try:
            if json.loads(manifest.read_text()).get("generator") == generator_id(n_subjects):
                _lock.verify(folder)
                return folder
        except (ValueError, _lock.LockError):
            pass
    if folder.exists():
        shutil.rmtree(folder)
    rows = generate(folder, n_subjects)
    _lock.write_manifest(folder, study_id=STUDY, generator=generator_id(n_subjects), force=True, rows=rows,
                         extra={"title": f"{STUDY}: simulated study in ADaMIG shape ({n_subjects} randomised subjects, "
                                         f"XPT v5)", "simulated": True})
    return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=600)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    folder = ensure(args.subjects, args.out)
    sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
    print(json.dumps({"folder": str(folder), "MB": round(sum(sizes.values()) / 2**20, 1),
                      "files": {k: f"{v / 2**20:.1f} MB, {r} rows" for (k, v), r in
                                zip(sizes.items(), [json.loads((folder / 'LOCK.json').read_text())['files']
                                                    .get(k, {}).get('rows') for k in sizes])}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
