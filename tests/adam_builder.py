"""A small, hand-made ADaM study (not LSO-088) and writers for every supported format.

The study is built to exercise the ADaM defaults of ``data.study``:
- 12 subjects in 3 arms whose display order comes from TRT01AN (Placebo first, not alphabetical);
  one subject outside the efficacy population (EFFFL = "N"), one outside the safety population;
- ADLB (PARCAT1 CHEMISTRY; ABLFL, ANL01FL with a non-analysis retest; an "Unscheduled 1" visit
  without AVISITN and an "End of Treatment" visit with AVISITN 99, both off the time axis);
- ADVS (no PARCAT1, no ABLFL: baseline from AVISITN 0; no BASE/CHG: derived);
- ADAE with a non-ASCII verbatim term; ADCM (not BDS: ignored with a note).

Formats: parquet, CSV, SAS transport v5 (character data in cp1252, as SAS on Windows writes it)
and v8 (UTF-8), and sas7bdat. pyreadstat cannot write sas7bdat; the sas7bdat fixture in
``tests/fixtures/adam_sas7bdat`` was written by ReadStat's own sas7bdat writer (Debian package
``readstat`` 1.1.8: ``readstat X.dta X.sas7bdat`` from the Stata files pyreadstat writes), not
by SAS. ``write_sas7bdat`` re-creates it where the ``readstat`` tool is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures"
SAS7BDAT_FIXTURE = FIXTURES / "adam_sas7bdat"
ARMS = ("Placebo", "Drug 10 mg", "Drug 20 mg")  # display order (TRT01AN 1, 2, 3)
ARM_N = {"Placebo": 4, "Drug 10 mg": 3, "Drug 20 mg": 5}
AE_TERM = "Érythème au site d’injection"  # é, è and a cp1252 right quote (0x92)
AE_TERM_ASCII = "Xrythxme au site dXinjection"  # same byte length in cp1252, patched into v5 files
TRTSDT0 = pd.Timestamp("2025-03-03")


def build() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(6)
    subj, arm = [], []
    i = 0
    for a in ("Drug 20 mg", "Placebo", "Drug 10 mg"):  # not in display order on purpose
        for _ in range(ARM_N[a]):
            i += 1
            subj.append(f"XYZ-101-{i:03d}")
            arm.append(a)
    n = len(subj)
    armn = [ARMS.index(a) + 1 for a in arm]
    adsl = pd.DataFrame({
        "STUDYID": "XYZ-101", "USUBJID": subj, "SUBJID": [s[-3:] for s in subj], "SITEID": "01",
        "ARMCD": [["PBO", "D10", "D20"][k - 1] for k in armn], "ARM": arm, "TRT01P": arm, "TRT01A": arm,
        "TRT01AN": armn, "AGE": rng.integers(25, 70, n), "SEX": ["F", "M"] * (n // 2),
        "RACE": "WHITE", "TRTSDT": [TRTSDT0 + pd.Timedelta(days=7 * k) for k in range(n)],
        "SAFFL": "Y", "EFFFL": "Y", "ITTFL": "Y",
        "EOSSTT": "COMPLETED", "DCSREAS": "",
    })
    adsl.loc[2, "EFFFL"] = "N"  # a Drug 20 mg subject outside the efficacy population
    adsl.loc[5, "SAFFL"] = "N"  # a Placebo subject never treated
    adsl.loc[7, ["EOSSTT", "DCSREAS"]] = ["DISCONTINUED", "ADVERSE EVENT"]

    lb_rows = []
    for s, a, k in zip(subj, arm, armn):
        for code, name, lo, hi, mu in (("ALT", "Alanine aminotransferase (U/L)", 7, 56, 30),
                                       ("CREAT", "Creatinine (umol/L)", 45, 90, 70)):
            base = round(float(rng.normal(mu, 5)), 1)
            for vis, vn in (("Baseline", 0), ("Week 2", 2), ("Week 4", 4)):
                aval = base if vn == 0 else round(base - 2 * k * vn / 4 + float(rng.normal(0, 1)), 1)
                lb_rows.append((s, a, "CHEMISTRY", code, 1 if code == "ALT" else 2, name, vis, vn, aval, lo, hi,
                                "Y" if vn == 0 else "", "Y"))
            lb_rows.append((s, a, "CHEMISTRY", code, 1 if code == "ALT" else 2, name, "End of Treatment", 99,
                            round(base - 1, 1), lo, hi, "", "Y"))
    adlb = pd.DataFrame(lb_rows, columns=["USUBJID", "TRT01A", "PARCAT1", "PARAMCD", "PARAMN", "PARAM", "AVISIT",
                                          "AVISITN", "AVAL", "ANRLO", "ANRHI", "ABLFL", "ANL01FL"])
    adlb["AVISITN"] = adlb["AVISITN"].astype(float)
    extra = pd.DataFrame([
        # an unscheduled visit without AVISITN, and a non-analysis retest at week 2
        (subj[0], arm[0], "CHEMISTRY", "ALT", 1, "Alanine aminotransferase (U/L)", "Unscheduled 1", np.nan, 88.0,
         7, 56, "", "Y"),
        (subj[1], arm[1], "CHEMISTRY", "ALT", 1, "Alanine aminotransferase (U/L)", "Week 2", 2.0, 500.0,
         7, 56, "", ""),
    ], columns=adlb.columns)
    adlb = pd.concat([adlb, extra], ignore_index=True)
    adlb["BASE"] = adlb.groupby(["USUBJID", "PARAMCD"])["AVAL"].transform(
        lambda v: v[adlb.loc[v.index, "ABLFL"] == "Y"].iloc[0])
    adlb["CHG"] = np.where(adlb["ABLFL"] == "Y", np.nan, adlb["AVAL"] - adlb["BASE"])
    adlb["ADT"] = [TRTSDT0 + pd.Timedelta(days=7 * (0 if pd.isna(v) or v > 50 else v)) for v in adlb["AVISITN"]]

    vs_rows = []
    for s, a, k in zip(subj, arm, armn):
        for code, name in (("SYSBP", "Systolic blood pressure (mmHg)"), ("DIABP", "Diastolic blood pressure (mmHg)")):
            base = round(float(rng.normal(130 if code == "SYSBP" else 80, 6)))
            for vis, vn in (("Baseline", 0), ("Week 2", 2), ("Week 4", 4)):
                vs_rows.append((s, code, name, vis, float(vn), float(base - k * vn)))
    advs = pd.DataFrame(vs_rows, columns=["USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "AVAL"])

    adae = pd.DataFrame({
        "USUBJID": [subj[0], subj[0], subj[3], subj[5], subj[8], subj[11]],
        "AETERM": [AE_TERM, "headache", "nausea", "rash", "headache", "fatigue"],
        "AEDECOD": ["Injection site erythema", "Headache", "Nausea", "Rash", "Headache", "Fatigue"],
        "AEBODSYS": ["General disorders and administration site conditions", "Nervous system disorders",
                     "Gastrointestinal disorders", "Skin and subcutaneous tissue disorders",
                     "Nervous system disorders", "General disorders and administration site conditions"],
        "ASTDY": [3.0, 10.0, 15.0, 2.0, 20.0, 5.0], "AENDY": [5.0, 11.0, 18.0, 9.0, 21.0, 12.0],
        "AETOXGR": ["1", "2", "1", "3", "1", "2"], "AESER": ["N", "N", "N", "Y", "N", "N"],
        "AEREL": ["RELATED", "NOT RELATED", "RELATED", "NOT RELATED", "NOT RELATED", "RELATED"],
        "TRTEMFL": "Y",
    })
    adae.insert(1, "TRT01A", adae["USUBJID"].map(dict(zip(subj, arm))))
    adcm = pd.DataFrame({"USUBJID": subj[:2], "CMDECOD": ["PARACETAMOL", "IBUPROFEN"]})
    return {"adsl": adsl, "adlb": adlb, "advs": advs, "adae": adae, "adcm": adcm}


def _sas_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Dates as date objects, so pyreadstat writes them with a SAS date format (DATE9)."""
    df = df.copy()
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = df[c].dt.date
    return df


def write(folder: Path, fmt: str, tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write ``tables`` (default: ``build()``) into ``folder`` as ``fmt``: parquet, csv, xpt5, xpt8, sas7bdat."""
    import pyreadstat

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = build() if tables is None else tables
    if fmt == "sas7bdat":
        return write_sas7bdat(folder, tables)
    for name, df in tables.items():
        if fmt == "parquet":
            df.to_parquet(folder / f"{name}.parquet", index=False)
        elif fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%d")
        elif fmt in ("xpt5", "xpt8"):
            path = folder / f"{name}.xpt"
            out = _sas_ready(df)
            if fmt == "xpt5":
                out = out.replace({AE_TERM: AE_TERM_ASCII})
            pyreadstat.write_xport(out, str(path), file_format_version=int(fmt[-1]), table_name=name.upper())
            if fmt == "xpt5":  # SAS on Windows: cp1252 bytes, which pyreadstat does not write itself
                raw = path.read_bytes()
                assert raw.count(AE_TERM_ASCII.encode()) == (df == AE_TERM).sum().sum()
                path.write_bytes(raw.replace(AE_TERM_ASCII.encode(), AE_TERM.encode("cp1252")))
        else:
            raise ValueError(fmt)
    return folder


def write_sas7bdat(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    """sas7bdat via ReadStat's writer (the ``readstat`` command); needs that tool on PATH."""
    import pyreadstat

    tool = shutil.which("readstat")
    if tool is None:
        raise RuntimeError("the readstat tool is needed to write sas7bdat (apt-get install readstat)")
    for name, df in tables.items():
        dta = folder / f"{name}.dta"
        pyreadstat.write_dta(_sas_ready(df), str(dta), version=15)
        subprocess.run([tool, str(dta), str(folder / f"{name}.sas7bdat")], check=True, capture_output=True)
        dta.unlink()
    return folder
