"""A generated study that is not LSO-088: other arms, visits in weeks 0–26, labs and vital signs, no SLEDAI.

Shaped like a sponsor's delivery (CDISC pilot style): three arms ordered by dose (TRT01AN 0, 54, 81)
with the placebo first; ADSL with AGE/AGEU, AGEGR1 (+ AGEGR1N), SEX, RACE (+ RACEN), ETHNIC,
BMIBL, HEIGHTBL, WEIGHTBL, MMSETOT, disposition (EOSSTT, DCSREAS, DSRAEFL), death flag; ADLB with
PARCAT1 CHEMISTRY / HEMATOLOGY in mixed units; ADVS without PARCAT1 (blood pressure, pulse, weight,
temperature: several units); ADAE; ADEX (weekly oral doses to week 25). Written as SAS transport
v5 with the variable and dataset labels SAS writes, so the pages' words come from the files.

``build(relatedness=..., aeacn=..., ...)`` varies the adverse-event coding for the vocabulary tests.
Tests compute their expected counts from the written files with pandas, never from the app.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

STUDYID = "CDISCPILOT9"
ARMS = (("Placebo", "PBO", 0), ("Xanomeline Low Dose", "XANLO", 54), ("Xanomeline High Dose", "XANHI", 81))
N_PER_ARM = 8
WEEKS = (0, 2, 4, 8, 12, 16, 20, 26)
LAST_WEEK = WEEKS[-1]
T0 = pd.Timestamp("2024-01-08")

LB = (  # PARCAT1, PARAMCD, PARAM, typical, ANRLO, ANRHI
    ("CHEMISTRY", "ALT", "Alanine Aminotransferase (U/L)", 22.0, 6.0, 34.0),
    ("CHEMISTRY", "AST", "Aspartate Aminotransferase (U/L)", 24.0, 9.0, 34.0),
    ("CHEMISTRY", "CREAT", "Creatinine (umol/L)", 88.0, 53.0, 115.0),
    ("CHEMISTRY", "ALB", "Albumin (g/L)", 40.0, 33.0, 49.0),
    ("HEMATOLOGY", "HGB", "Hemoglobin (g/dL)", 13.5, 11.5, 18.0),
    ("HEMATOLOGY", "WBC", "Leukocytes (10^9/L)", 6.5, 3.8, 10.7),
    ("HEMATOLOGY", "PLAT", "Platelets (10^9/L)", 250.0, 140.0, 400.0),
)
VS = (  # PARAMCD, PARAM, typical
    ("SYSBP", "Systolic Blood Pressure (mmHg)", 135.0),
    ("DIABP", "Diastolic Blood Pressure (mmHg)", 78.0),
    ("PULSE", "Pulse Rate (beats/min)", 72.0),
    ("WEIGHT", "Weight (kg)", 70.0),
    ("TEMP", "Temperature (C)", 36.7),
)
LABELS = {
    "STUDYID": "Study Identifier", "USUBJID": "Unique Subject Identifier", "SUBJID": "Subject Identifier",
    "SITEID": "Study Site Identifier", "ARM": "Description of Planned Arm", "ARMCD": "Planned Arm Code",
    "TRT01P": "Planned Treatment for Period 01", "TRT01A": "Actual Treatment for Period 01",
    "TRT01AN": "Actual Treatment for Period 01 (N)", "AGE": "Age", "AGEU": "Age Units",
    "AGEGR1": "Pooled Age Group 1", "AGEGR1N": "Pooled Age Group 1 (N)", "SEX": "Sex", "RACE": "Race",
    "RACEN": "Race (N)", "ETHNIC": "Ethnicity", "BMIBL": "Baseline BMI (kg/m^2)",
    "HEIGHTBL": "Baseline Height (cm)", "WEIGHTBL": "Baseline Weight (kg)", "MMSETOT": "MMSE Total",
    "TRTSDT": "Date of First Exposure to Treatment", "SAFFL": "Safety Population Flag",
    "ITTFL": "Intent-To-Treat Population Flag", "EFFFL": "Efficacy Population Flag",
    "EOSSTT": "End of Study Status", "DCSREAS": "Reason for Discontinuation from Study",
    "DSRAEFL": "Discontinued due to AE?", "DTHFL": "Subject Death Flag",
}
# The words a page of this study must never show: LSO-088's.
LSO088_WORDS = ("serology", "sledai", "lupus", "nephritis", "cell subset", "figure 2", "figure 1", "prednisone",
                "flow cytometry", "immune", "dsdna", "anti-nucleosome", "belimumab", "ld-il2", "lso-088",
                "b cells", "subsets", "clinical activity", "disease activity", "week 48", "weeks 0–48", "IgG")


def _adsl(rng) -> pd.DataFrame:
    rows = []
    i = 0
    for k in range(N_PER_ARM):
        for label, code, dose in ARMS:
            i += 1
            age = int(rng.integers(52, 89))
            grp, grpn = ("<65", 1) if age < 65 else ("65-80", 2) if age <= 80 else (">80", 3)
            race, racen = (("WHITE", 1), ("BLACK OR AFRICAN AMERICAN", 2), ("ASIAN", 3))[int(rng.integers(0, 3))]
            height = round(float(rng.normal(165, 9)), 1)
            weight = round(float(rng.normal(70, 12)), 1)
            rows.append({
                "STUDYID": STUDYID, "USUBJID": f"{STUDYID}-{i:03d}", "SUBJID": f"{i:03d}", "SITEID": "701",
                "ARM": label, "ARMCD": code, "TRT01P": label, "TRT01A": label, "TRT01AN": float(dose),
                "AGE": float(age), "AGEU": "YEARS", "AGEGR1": grp, "AGEGR1N": float(grpn),
                "SEX": "F" if rng.random() < 0.55 else "M", "RACE": race, "RACEN": float(racen),
                "ETHNIC": "HISPANIC OR LATINO" if rng.random() < 0.15 else "NOT HISPANIC OR LATINO",
                "BMIBL": round(weight / (height / 100) ** 2, 1), "HEIGHTBL": height, "WEIGHTBL": weight,
                "MMSETOT": float(rng.integers(10, 24)),
                "TRTSDT": T0 + pd.Timedelta(days=int(rng.integers(0, 60))),
                "SAFFL": "Y", "ITTFL": "Y", "EFFFL": "Y", "EOSSTT": "COMPLETED", "DCSREAS": "", "DSRAEFL": "",
                "DTHFL": "",
            })
    adsl = pd.DataFrame(rows)
    # Two discontinuations for an adverse event (one per active arm), one lost to follow-up.
    for idx, reason in ((4, "ADVERSE EVENT"), (8, "ADVERSE EVENT"), (9, "LOST TO FOLLOW-UP")):
        adsl.loc[idx, ["EOSSTT", "DCSREAS"]] = ["DISCONTINUED", reason]
        adsl.loc[idx, "DSRAEFL"] = "Y" if reason == "ADVERSE EVENT" else ""
    return adsl


def _bds(rng, adsl, params, parcat=True) -> pd.DataFrame:
    rows = []
    for s in adsl.itertuples(index=False):
        drop = s.EOSSTT == "DISCONTINUED"
        for n, spec in enumerate(params, 1):
            cat, code, name, mu = (spec[0], spec[1], spec[2], spec[3]) if parcat else (None, *spec)
            lo, hi = (spec[4], spec[5]) if parcat else (np.nan, np.nan)
            base = float(mu * rng.lognormal(0, 0.12))
            for w in WEEKS:
                if drop and w > 12:
                    continue
                aval = round(base if w == 0 else base * (1 + 0.002 * s.TRT01AN * w / 26) * rng.lognormal(0, 0.05), 2)
                row = {"STUDYID": STUDYID, "USUBJID": s.USUBJID, "TRT01A": s.TRT01A, "PARAMCD": code, "PARAM": name,
                       "PARAMN": float(n), "AVISIT": "Baseline" if w == 0 else f"Week {w}", "AVISITN": float(w),
                       "ADY": float(1 if w == 0 else 7 * w + 1), "AVAL": aval, "ABLFL": "Y" if w == 0 else "",
                       "ANL01FL": "Y"}
                if parcat:
                    row.update({"PARCAT1": cat, "ANRLO": lo, "ANRHI": hi})
                rows.append(row)
    df = pd.DataFrame(rows)
    base = df[df["ABLFL"] == "Y"].set_index(["USUBJID", "PARAMCD"])["AVAL"]
    df["BASE"] = pd.MultiIndex.from_frame(df[["USUBJID", "PARAMCD"]]).map(base).astype(float)
    df["CHG"] = np.where(df["ABLFL"] == "Y", np.nan, df["AVAL"] - df["BASE"]).round(4)
    return df


AE_TERMS = (  # AEDECOD, AEBODSYS
    ("Application site pruritus", "General disorders and administration site conditions"),
    ("Dizziness", "Nervous system disorders"),
    ("Headache", "Nervous system disorders"),
    ("Nausea", "Gastrointestinal disorders"),
    ("Sinus bradycardia", "Cardiac disorders"),
    ("Erythema", "Skin and subcutaneous tissue disorders"),
)
RELATEDNESS = {  # coding -> the values its events take, in turn
    "yn": ("Y", "N", "N"),
    "related": ("RELATED", "NOT RELATED", "NOT RELATED"),
    "causality": ("DEFINITE", "PROBABLE", "POSSIBLE", "UNLIKELY", "REMOTE", "NONE", "NOT RELATED"),
    "numeric": (1, 2, 3, 4),
}


def _adae(rng, adsl, relatedness="causality", aeacn="coded", aeser=True, grade=True) -> pd.DataFrame:
    rows = []
    codes = RELATEDNESS.get(relatedness, ("",))
    k = 0
    for s in adsl.itertuples(index=False):
        n_events = int(rng.integers(0, 4)) + (1 if s.TRT01AN > 0 else 0)
        for j in range(n_events):
            decod, soc = AE_TERMS[int(rng.integers(0, len(AE_TERMS)))]
            start = int(rng.integers(2, 7 * 20))
            rel = codes[k % len(codes)]
            k += 1
            rows.append({
                "STUDYID": STUDYID, "USUBJID": s.USUBJID, "TRT01A": s.TRT01A, "AESEQ": float(j + 1),
                "AETERM": decod.upper(), "AEDECOD": decod, "AEBODSYS": soc, "ASTDY": float(start),
                "AENDY": float(start + int(rng.integers(1, 20))), "AESER": "Y" if k % 11 == 0 else "N",
                "AETOXGR": str(1 + k % 3), "AESEV": ("MILD", "MODERATE", "SEVERE")[k % 3], "AEREL": rel,
                "AEACN": "DRUG WITHDRAWN" if s.DSRAEFL == "Y" and j == 0 else "DOSE NOT CHANGED",
                "AESDTH": "N", "TRTEMFL": "Y",
            })
    ae = pd.DataFrame(rows)
    if relatedness == "numeric":
        ae["AEREL"] = ae["AEREL"].astype(float)
    elif relatedness == "empty":
        ae["AEREL"] = ""
    elif relatedness == "absent":
        ae = ae.drop(columns="AEREL")
    if aeacn == "empty":
        ae["AEACN"] = ""
    elif aeacn == "absent":
        ae = ae.drop(columns="AEACN")
    if not aeser:
        ae = ae.drop(columns="AESER")
    if not grade:
        ae = ae.drop(columns=["AETOXGR", "AESEV"])
    return ae


def _adex(adsl) -> pd.DataFrame:
    rows = []
    for s in adsl.itertuples(index=False):
        last = 12 * 7 if s.EOSSTT == "DISCONTINUED" else 25 * 7
        for day in range(1, last + 1, 7):
            rows.append({"STUDYID": STUDYID, "USUBJID": s.USUBJID, "EXTRT": "XANOMELINE" if s.TRT01AN else "PLACEBO",
                         "EXDOSE": float(s.TRT01AN), "EXDOSU": "mg", "EXROUTE": "TRANSDERMAL", "ASTDY": float(day)})
    return pd.DataFrame(rows)


def build(seed: int = 17, **ae_options) -> dict[str, pd.DataFrame]:
    """The tables: adsl, adlb, advs, adae, adex. ``ae_options``: relatedness ("yn", "related", "causality",
    "numeric", "empty", "absent"), aeacn ("coded", "empty", "absent"), aeser, grade (bools)."""
    rng = np.random.default_rng(seed)
    adsl = _adsl(rng)
    return {"adsl": adsl, "adlb": _bds(rng, adsl, LB), "advs": _bds(rng, adsl, VS, parcat=False),
            "adae": _adae(rng, adsl, **ae_options), "adex": _adex(adsl)}


TABLE_LABELS = {"adsl": "Subject-Level Analysis Dataset", "adlb": "Laboratory Analysis Dataset",
                "advs": "Vital Signs Analysis Dataset", "adae": "Adverse Events Analysis Dataset",
                "adex": "Exposure Analysis Dataset"}


def write(folder: Path, tables: dict[str, pd.DataFrame] | None = None, toml: str | None = None) -> Path:
    """SAS transport v5 files with their labels (and ``study.toml`` when given); no LOCK.json."""
    import pyreadstat

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = build() if tables is None else tables
    for name, df in tables.items():
        out = df.copy()
        for c in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[c]):
                out[c] = out[c].dt.date
        pyreadstat.write_xport(out, str(folder / f"{name}.xpt"), file_label=TABLE_LABELS.get(name, ""),
                               column_labels=[LABELS.get(c, "") for c in out.columns], table_name=name.upper(),
                               file_format_version=5)
    if toml is not None:
        (folder / "study.toml").write_text(toml, encoding="utf-8")
    return folder
