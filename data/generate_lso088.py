"""Deterministic generator of the simulated, locked LSO-088 dataset.

The real trial's patient-level data is not public. This module writes a
stand-in that follows ``shared/study/LSO-088-design.md``: the same arms,
visits, parameters, units, normal ranges and adverse events, with effects
sized so that the abstract's qualitative findings hold *by design* (see the
design document, section 7, and ``tests/test_findings.py``).

Model, per subject i, parameter p, week t (design document, section 4)::

    multiplicative (skewed, positive):  AVAL = B_i * exp(E_arm * f(t) + s_i * f(t) + e_it)
    additive (scores):                  AVAL = B_i + (E_arm + s_i) * f(t) + e_it

with ``f(t) = (1 - exp(-t/12)) / (1 - exp(-48/12))`` so that the arm effect
reaches exactly its week-48 size, a subject random slope
``s_i ~ N(0, 0.3 * |E_arm|)`` and visit noise ``e_it`` (CV 8 %).
Treg under Ld-IL2 follows a pulse instead of ``f``: it builds during the
every-other-day phases and partly recedes during the weekly phases.

Run ``python -m data.generate_lso088 [OUT_DIR] [--seed N]`` to (re)write the
files, LSO-088's ``study.toml`` (its words and defaults: the pages' generic code
reads them from there, see ``STUDY_TOML``) and ``LOCK.json``, which covers them all. The same seed always yields identical tables and,
with the same pandas/pyarrow versions, byte-identical parquet files.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

GENERATOR_VERSION = "1.0.0"
SEED = 88
STUDYID = "LSO-088"
LOCK_DATE = "2026-06-30"
TITLE = "LSO-088: belimumab, low-dose IL-2 or both in SLE (48 weeks)"
FIRST_DOSE = pd.Timestamp("2025-03-03")

# ARMCD -> display name, in display order; the first is the reference arm.
ARMS = {"BEL": "Belimumab", "IL2": "Ld-IL2", "BELIL2": "Belimumab + Ld-IL2"}
N_PER_ARM = 10
IMMUNO_WEEKS = list(range(0, 49, 4))
CLINICAL_WEEKS = [0, 12, 24, 36, 48]
MISSING_RATE = 0.03
TAU_WEEKS = 12.0
VISIT_CV = 0.08

# Disposition (design section 3): arm -> (last week attended, reason).
DISCONTINUED = {"BEL": (36, "LOST TO FOLLOW-UP"), "IL2": (28, "ADVERSE EVENT")}


@dataclass(frozen=True)
class Param:
    code: str
    name: str
    cat: str
    dataset: str
    weeks: tuple[int, ...]
    lo: float | None
    hi: float | None
    baseline: tuple  # ("normal", mean, sd) | ("lognormal_q", median, q1, q3)
    effects: tuple[float, float, float]  # BEL, IL2, BELIL2 at week 48
    additive: bool = False
    decimals: int = 2
    bounds: tuple[float, float] = (0.0, math.inf)


_IM = tuple(IMMUNO_WEEKS)
_CL = tuple(CLINICAL_WEEKS)
PARAMS: tuple[Param, ...] = (
    Param("IGG", "IgG (g/L)", "SEROLOGY", "ADLB", _IM, 7.0, 16.0, ("lognormal_ms", 17, 5), (-0.12, -0.05, -0.22), decimals=1),
    Param("DSDNA", "Anti-dsDNA antibody (IU/mL)", "SEROLOGY", "ADLB", _IM, 0.0, 100.0, ("lognormal_q", 250, 120, 500), (-0.35, -0.25, -0.55), decimals=0),
    Param("ANUA", "Anti-nucleosome antibody (RU/mL)", "SEROLOGY", "ADLB", _IM, 0.0, 20.0, ("lognormal_q", 60, 30, 120), (-0.25, -0.20, -0.45), decimals=1),
    Param("C3", "Complement C3 (g/L)", "SEROLOGY", "ADLB", _IM, 0.90, 1.80, ("lognormal_ms", 0.65, 0.18), (0.15, 0.12, 0.50)),
    Param("C4", "Complement C4 (g/L)", "SEROLOGY", "ADLB", _IM, 0.10, 0.40, ("lognormal_ms", 0.12, 0.06), (0.20, 0.15, 0.40), decimals=3),
    Param("SLEDAI", "SLEDAI-2K score", "CLINICAL ACTIVITY", "ADLB", _CL, 0.0, 105.0, ("normal_min", 10, 3, 6), (-4.0, -3.5, -6.0), additive=True, decimals=0, bounds=(0, 105)),
    Param("PGA", "Physician global assessment (0-3)", "CLINICAL ACTIVITY", "ADLB", _CL, 0.0, 3.0, ("normal", 1.6, 0.5), (-0.6, -0.5, -0.9), additive=True, decimals=1, bounds=(0, 3)),
    Param("UPROT", "Urine protein (g/24 h)", "CLINICAL ACTIVITY", "ADLB", _CL, 0.0, 0.15, ("lognormal_q", 0.6, 0.2, 1.5), (-0.30, -0.25, -0.45)),
    Param("PREDDOSE", "Prednisone-equivalent dose (mg/day)", "CLINICAL ACTIVITY", "ADLB", _CL, None, None, ("lognormal_q", 15, 10, 20), (-0.30, -0.30, -0.45), decimals=1),
    Param("NAIVEB", "Naive B cells, IgD+CD27- (% of CD19+)", "B CELLS", "ADCELL", _IM, None, None, ("normal", 65, 12), (-0.20, -0.05, -0.50), decimals=1, bounds=(0.1, 99)),
    Param("PLASMA", "Plasma cells/plasmablasts, CD27hiCD38hi (% of CD19+)", "B CELLS", "ADCELL", _IM, None, None, ("lognormal_q", 4, 2, 7), (-0.25, -0.20, -0.60), bounds=(0.01, 99)),
    Param("MEMB", "Memory B cells, CD27+ (% of CD19+)", "B CELLS", "ADCELL", _IM, None, None, ("normal", 20, 8), (0.15, 0.0, 0.60), decimals=1, bounds=(0.5, 99)),
    Param("BREG", "Regulatory B cells, CD24hiCD38hi (% of CD19+)", "B CELLS", "ADCELL", _IM, None, None, ("normal", 3, 1.5), (0.10, 0.10, 0.60), bounds=(0.2, 99)),
    Param("IL2POS", "IL-2+ CD4+ T cells (% of CD4+)", "CYTOKINE-PRODUCING T CELLS", "ADCELL", _IM, None, None, ("normal", 12, 4), (0.0, 0.0, 0.0), decimals=1, bounds=(0.5, 99)),
    Param("IL17POS", "IL-17A+ CD4+ T cells, Th17 (% of CD4+)", "CYTOKINE-PRODUCING T CELLS", "ADCELL", _IM, None, None, ("normal", 1.5, 0.6), (0.0, 0.0, 0.0), bounds=(0.1, 99)),
    Param("TREG", "Regulatory T cells, CD25+FOXP3+ (% of CD4+)", "T CELLS", "ADCELL", _IM, None, None, ("normal", 4.5, 1.5), (0.0, 0.45, 0.30), bounds=(0.3, 99)),
    Param("TFH", "Follicular helper T cells, CXCR5+PD-1+ (% of CD4+)", "T CELLS", "ADCELL", _IM, None, None, ("normal", 8, 3), (-0.05, -0.20, -0.30), decimals=1, bounds=(0.5, 99)),
)

# (AEDECOD, AEBODSYS, subjects per arm BEL/IL2/BELIL2, verbatim terms, kind)
# kind drives onset timing and which drug it is attributed to.
AE_TABLE = (
    ("Upper respiratory tract infection", "Infections and infestations", (3, 3, 3), ("common cold", "sore throat and runny nose", "upper respiratory infection"), "infection"),
    ("Urinary tract infection", "Infections and infestations", (2, 1, 2), ("urinary tract infection", "cystitis"), "infection"),
    ("Herpes zoster", "Infections and infestations", (1, 0, 1), ("shingles", "herpes zoster, left flank"), "infection"),
    ("Pneumonia", "Infections and infestations", (1, 0, 0), ("community-acquired pneumonia",), "pneumonia"),
    ("Injection site reaction", "General disorders and administration site conditions", (0, 5, 5), ("redness at injection site", "injection site swelling", "itching at injection site"), "injection"),
    ("Pyrexia", "General disorders and administration site conditions", (0, 2, 2), ("fever", "low-grade fever after injection"), "il2_systemic"),
    ("Influenza like illness", "General disorders and administration site conditions", (0, 2, 1), ("flu-like symptoms", "chills and myalgia after injection"), "il2_systemic"),
    ("Infusion related reaction", "Injury, poisoning and procedural complications", (2, 0, 1), ("infusion reaction", "flushing during infusion"), "infusion"),
    ("Nausea", "Gastrointestinal disorders", (2, 1, 2), ("nausea",), "bel_general"),
    ("Diarrhoea", "Gastrointestinal disorders", (2, 0, 1), ("diarrhea", "loose stools"), "bel_general"),
    ("Headache", "Nervous system disorders", (2, 1, 1), ("headache",), "bel_general"),
    ("Arthralgia", "Musculoskeletal and connective tissue disorders", (1, 1, 1), ("joint pain", "knee pain"), "other"),
    ("Leukopenia", "Blood and lymphatic system disorders", (1, 1, 0), ("low white cell count",), "other"),
    ("Rash", "Skin and subcutaneous tissue disorders", (1, 1, 1), ("skin rash", "maculopapular rash"), "other"),
    ("Systemic lupus erythematosus", "Musculoskeletal and connective tissue disorders", (0, 1, 0), ("lupus flare",), "flare"),
)


# LSO-088's own words and defaults. The pages are study-neutral: everything lupus- or LSO-088-specific
# they show (page names, headings, pickers, the abstract's Figure 1 and Figure 2 selections, the
# baseline table, the patient profile's disease-activity panels) is configuration, written here.
STUDY_TOML = """\
# LSO-088: the study's own words and defaults for the pages (README, "study.toml").
# Written by data/generate_lso088.py; part of the lock (LOCK.json).

[arms]
reference = "Belimumab"               # between-arm statistics of every page compare with belimumab alone

[datasets.ADLB]                        # serology and clinical activity: efficacy data, not safety labs
population = "efficacy"

[pages.trajectories]                   # the abstract's Figure 1: serology and clinical activity
parcat1 = ["SEROLOGY", "CLINICAL ACTIVITY"]
title = "Serology & activity"
heading = "Serology & clinical activity over time, by arm"
parameter = "IGG"
multiples = ["IGG", "C3", "DSDNA", "ANUA"]   # Figure 1 A-D

[pages.comparison]                     # the abstract's Figure 2: flow cytometry at two visits
datasets = ["ADCELL"]
title = "Cell subsets"
heading = "Immune cell subsets"
subheading = "flow cytometry"
parameter_label = "Cell subset"
noun = "subset"
single_view = "One subset"
grid_view = "Figure 2 grid"
parameter = "NAIVEB"

[pages.patient]
panels = ["IGG", "DSDNA", "ANUA", "C3", "C4"]
group = "B CELLS"
extra_panels = ["SLEDAI", "PREDDOSE"]  # disease activity and steroid dose, under every profile
step_panels = ["PREDDOSE"]             # a dose holds until it changes

[overview]
baseline = [
  { variable = "AGE", label = "Age (years)", statistic = "mean" },
  "SEX",
  "RACE",
  { variable = "DISDUR", label = "Disease duration (years)", statistic = "median" },
  { variable = "LNHISTFL", label = "History of lupus nephritis" },
  { parameter = "SLEDAI", label = "SLEDAI-2K score", statistic = "mean" },
  { parameter = "PGA", label = "Physician global assessment", statistic = "mean" },
  { parameter = "IGG", label = "IgG (g/L)", statistic = "mean" },
  { parameter = "DSDNA", label = "Anti-dsDNA (IU/mL)", statistic = "median" },
  { parameter = "ANUA", label = "Anti-nucleosome (RU/mL)", statistic = "median" },
  { parameter = "C3", label = "C3 (g/L)", statistic = "mean" },
  { parameter = "C4", label = "C4 (g/L)", statistic = "mean" },
  { parameter = "UPROT", label = "Urine protein (g/24 h)", statistic = "median" },
  { parameter = "PREDDOSE", label = "Prednisone-equivalent dose (mg/day)", statistic = "median" },
]
"""


def effect_shape(weeks: np.ndarray) -> np.ndarray:
    """Smooth approach to the week-48 effect: 0 at baseline, exactly 1 at week 48."""
    w = np.asarray(weeks, dtype=float)
    return (1 - np.exp(-w / TAU_WEEKS)) / (1 - math.exp(-48 / TAU_WEEKS))


def treg_pulse(weeks: np.ndarray) -> np.ndarray:
    """Ld-IL2 Treg response: rises during every-other-day dosing (weeks 0-12, 24-36),
    partly recedes during weekly dosing (12-24, 36-48); equal to 1 at week 48."""

    def level(t: float) -> float:
        x = 0.0
        for start in (0.0, 12.0, 24.0, 36.0):
            if t <= start:
                break
            dt = min(t, start + 12.0) - start
            if start in (0.0, 24.0):  # every other day: build towards 1.6 (tau 4 weeks)
                x = 1.6 + (x - 1.6) * math.exp(-dt / 4.0)
            else:  # weekly: recede towards 0.5 (tau 10 weeks)
                x = 0.5 + (x - 0.5) * math.exp(-dt / 10.0)
        return x

    return np.array([level(float(t)) for t in np.asarray(weeks)]) / level(48.0)


def _baseline_draw(rng: np.random.Generator, spec: tuple, n: int) -> np.ndarray:
    kind = spec[0]
    if kind == "normal":
        return rng.normal(spec[1], spec[2], n)
    if kind == "normal_min":  # e.g. SLEDAI-2K >= 6 at entry: redraw below the floor
        out = rng.normal(spec[1], spec[2], n)
        while (bad := out < spec[3]).any():
            out[bad] = rng.normal(spec[1], spec[2], bad.sum())
        return out
    if kind == "lognormal_ms":  # given arithmetic mean and SD
        mean, sd = spec[1], spec[2]
        s2 = math.log(1 + (sd / mean) ** 2)
        return rng.lognormal(math.log(mean) - s2 / 2, math.sqrt(s2), n)
    if kind == "lognormal_q":  # given median and IQR
        median, q1, q3 = spec[1:]
        sigma = (math.log(q3) - math.log(q1)) / (2 * 0.6745)
        return rng.lognormal(math.log(median), sigma, n)
    raise ValueError(kind)


def _subjects(rng: np.random.Generator) -> pd.DataFrame:
    n = N_PER_ARM * len(ARMS)
    arms = np.repeat(list(ARMS), N_PER_ARM)
    rng.shuffle(arms)  # 1:1:1 randomisation
    usubjid = [f"{STUDYID}-{i:03d}" for i in range(1, n + 1)]
    age = np.clip(np.round(rng.normal(33, 10, n)), 18, 60).astype(int)
    # 9 of 10 women per arm: one man per arm, picked at random.
    sex = np.array(["F"] * n, dtype=object)
    for code in ARMS:
        idx = np.flatnonzero(arms == code)
        sex[rng.choice(idx)] = "M"
    disdur = np.round(np.clip(rng.lognormal(math.log(4), 0.95, n), 0.3, 30), 1)
    nephritis = np.where(rng.random(n) < 0.4, "Y", "N")
    randdt = [FIRST_DOSE + pd.Timedelta(days=int(d)) for d in np.sort(rng.integers(0, 120, n))]
    rng.shuffle(randdt)

    last_week = np.full(n, 48)
    eosstt = np.array(["COMPLETED"] * n, dtype=object)
    dcsreas = np.array([""] * n, dtype=object)
    for code, (week, reason) in DISCONTINUED.items():
        i = rng.choice(np.flatnonzero(arms == code))
        last_week[i], eosstt[i], dcsreas[i] = week, "DISCONTINUED", reason
    trtsdt = pd.to_datetime(randdt)
    # Last dose: belimumab every 4 weeks to week 44; Ld-IL2 weekly to week 48 (day 330).
    trtedt = trtsdt + pd.to_timedelta(np.minimum(last_week, 48) * 7, unit="D")
    return pd.DataFrame(
        {
            "STUDYID": STUDYID,
            "USUBJID": usubjid,
            "SUBJID": [u[-3:] for u in usubjid],
            "SITEID": "01",
            "ARMCD": arms,
            "ARM": [ARMS[a] for a in arms],
            "TRT01P": [ARMS[a] for a in arms],
            "TRT01A": [ARMS[a] for a in arms],
            "TRT01AN": [list(ARMS).index(a) + 1 for a in arms],
            "AGE": age,
            "AGEU": "YEARS",
            "SEX": sex.astype(str),
            "RACE": "ASIAN",
            "DISDUR": disdur,
            "LNHISTFL": nephritis,
            "RANDDT": trtsdt,
            "TRTSDT": trtsdt,
            "TRTEDT": trtedt,
            "LSTVISN": last_week,
            "SAFFL": "Y",
            "ITTFL": "Y",
            "EFFFL": "Y",
            "EOSSTT": eosstt.astype(str),
            "DCSREAS": dcsreas.astype(str),
            "DTHFL": "N",
        }
    )


def _visit_days(rng: np.random.Generator, adsl: pd.DataFrame) -> dict[tuple[str, int], int]:
    """Study day of each scheduled visit: 7*week + 1, jittered +-3 days after baseline.
    One blood draw per visit, so all parameters of a visit share the day."""
    days = {}
    for u in adsl["USUBJID"]:
        for w in IMMUNO_WEEKS:
            days[(u, w)] = 1 if w == 0 else 7 * w + 1 + int(rng.integers(-3, 4))
    return days


def _bds(rng: np.random.Generator, adsl: pd.DataFrame, days: dict, dataset: str) -> pd.DataFrame:
    rows = []
    arm_index = {code: k for k, code in enumerate(ARMS)}
    for p in (p for p in PARAMS if p.dataset == dataset):
        weeks = np.array(p.weeks)
        base_true = _baseline_draw(rng, p.baseline, len(adsl))
        for i, subj in enumerate(adsl.itertuples(index=False)):
            effect = p.effects[arm_index[subj.ARMCD]]
            if not p.additive:  # design gives geometric-mean changes: -50 % is a ratio of 0.5
                effect = math.log1p(effect)
            slope_sd = max(0.3 * abs(effect), 0.03 if not p.additive else 0.3)
            slope = rng.normal(0, slope_sd)
            shape = treg_pulse(weeks) if (p.code == "TREG" and "IL2" in subj.ARMCD) else effect_shape(weeks)
            if p.additive:
                noise_sd = {"SLEDAI": 0.8, "PGA": 0.15}[p.code]
                vals = base_true[i] + (effect + slope) * shape + rng.normal(0, noise_sd, len(weeks))
            else:
                vals = base_true[i] * np.exp((effect + slope) * shape + rng.normal(0, VISIT_CV, len(weeks)))
            missing = rng.random(len(weeks)) < MISSING_RATE
            for w, v, miss in zip(weeks, vals, missing):
                if w > subj.LSTVISN or (miss and w > 0):
                    continue
                v = float(np.clip(v, *p.bounds))
                if p.code == "PREDDOSE":  # tablets come in 2.5 mg steps
                    v = max(2.5, round(v / 2.5) * 2.5)
                rows.append((subj.USUBJID, subj.TRT01A, p, int(w), round(v, p.decimals), days[(subj.USUBJID, int(w))]))

    df = pd.DataFrame(
        {
            "STUDYID": STUDYID,
            "USUBJID": [r[0] for r in rows],
            "TRT01A": [r[1] for r in rows],
            "PARCAT1": [r[2].cat for r in rows],
            "PARAMCD": [r[2].code for r in rows],
            "PARAMN": [PARAMS.index(r[2]) + 1 for r in rows],
            "PARAM": [r[2].name for r in rows],
            "AVISIT": ["Baseline" if r[3] == 0 else f"Week {r[3]}" for r in rows],
            "AVISITN": [float(r[3]) for r in rows],
            "ADY": [r[5] for r in rows],
            "AVAL": [float(r[4]) for r in rows],
            "ANRLO": [r[2].lo if r[2].lo is not None else np.nan for r in rows],
            "ANRHI": [r[2].hi if r[2].hi is not None else np.nan for r in rows],
        }
    )
    trtsdt = df["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"])
    df["ADT"] = trtsdt + pd.to_timedelta(df["ADY"] - 1, unit="D")
    df["ABLFL"] = np.where(df["AVISITN"] == 0, "Y", "")
    base = df[df["ABLFL"] == "Y"].set_index(["USUBJID", "PARAMCD"])["AVAL"]
    df["BASE"] = pd.MultiIndex.from_frame(df[["USUBJID", "PARAMCD"]]).map(base).astype(float)
    post = df["AVISITN"] > 0
    df["CHG"] = np.where(post, df["AVAL"] - df["BASE"], np.nan)
    df["PCHG"] = np.where(post & (df["BASE"] != 0), 100 * (df["AVAL"] - df["BASE"]) / df["BASE"], np.nan)
    df["CHG"] = df["CHG"].round(6)
    df["PCHG"] = df["PCHG"].round(6)
    df["ANL01FL"] = "Y"
    df = df.sort_values(["USUBJID", "PARAMCD", "AVISITN"], kind="stable").reset_index(drop=True)
    return df


def _exposure(adsl: pd.DataFrame, days: dict) -> pd.DataFrame:
    rows = []
    for s in adsl.itertuples(index=False):
        last_day = 7 * s.LSTVISN + 1 if s.EOSSTT == "DISCONTINUED" else 7 * 48 + 1
        if "BEL" in s.ARMCD:
            for w in range(0, 45, 4):  # infusions at the monthly visits, weeks 0-44
                if w <= s.LSTVISN:
                    rows.append((s.USUBJID, "BELIMUMAB", 10.0, "mg/kg", "INTRAVENOUS", days[(s.USUBJID, w)]))
        if "IL2" in s.ARMCD:
            for cycle_start in (0, 24):
                d0 = 7 * cycle_start + 1
                schedule = list(range(d0, d0 + 84, 2)) + list(range(d0 + 84, d0 + 168, 7))
                rows += [(s.USUBJID, "LD-IL2", 1.0, "MIU", "SUBCUTANEOUS", d) for d in schedule if d <= last_day]
    ex = pd.DataFrame(rows, columns=["USUBJID", "EXTRT", "EXDOSE", "EXDOSU", "EXROUTE", "ASTDY"])
    ex.insert(0, "STUDYID", STUDYID)
    ex["TRT01A"] = ex["USUBJID"].map(adsl.set_index("USUBJID")["TRT01A"])
    ex["AVISITN"] = ((ex["ASTDY"] - 1) // 7).astype(float)
    ex["ASTDT"] = ex["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"]) + pd.to_timedelta(ex["ASTDY"] - 1, unit="D")
    return ex.sort_values(["USUBJID", "EXTRT", "ASTDY"], kind="stable").reset_index(drop=True)


def _onset_day(rng, kind: str, subj, infusion_days: list[int]) -> int:
    last = 7 * subj.LSTVISN if subj.EOSSTT == "DISCONTINUED" else 7 * 48
    if kind == "injection":  # every-other-day phases: days 1-84 and 169-252
        windows = [(2, 84), (170, 252)]
        lo, hi = windows[int(rng.integers(0, 2))] if last > 170 else windows[0]
        return int(rng.integers(lo, min(hi, last) + 1))
    if kind == "il2_systemic":
        return int(rng.integers(2, min(90, last) + 1))
    if kind == "infusion":
        return int(rng.choice([d for d in infusion_days if d <= last]))
    if kind == "flare":
        return 7 * subj.LSTVISN + int(rng.integers(1, 4))
    return int(rng.integers(5, last + 1))


def _adverse_events(rng: np.random.Generator, adsl: pd.DataFrame, ex: pd.DataFrame) -> pd.DataFrame:
    events = []
    load = {u: 0 for u in adsl["USUBJID"]}
    for arm_k, code in enumerate(ARMS):
        arm_subj = adsl[adsl["ARMCD"] == code]
        for decod, soc, counts, verbatims, kind in AE_TABLE:
            n = counts[arm_k]
            if n == 0:
                continue
            if kind == "flare":  # the Ld-IL2 discontinuation (design section 3)
                chosen = list(arm_subj.loc[arm_subj["DCSREAS"] == "ADVERSE EVENT", "USUBJID"])
            else:
                # Spread events over subjects (fewest events first, ties at random), so
                # each arm's subject-level incidence follows the design table by design.
                cand = list(arm_subj["USUBJID"])
                order = rng.permutation(len(cand))
                chosen = sorted((cand[j] for j in order), key=lambda u: load[u])[:n]
            for u in chosen:
                load[u] += 1
                repeats = 2 if (kind in ("infection", "injection") and rng.random() < 0.25) else 1
                for _ in range(repeats):
                    events.append((u, code, decod, soc, str(rng.choice(verbatims)), kind))

    adsl_i = adsl.set_index("USUBJID")
    rows = []
    for u, code, decod, soc, term, kind in events:
        s = adsl_i.loc[u]
        subj = pd.Series({"LSTVISN": s["LSTVISN"], "EOSSTT": s["EOSSTT"]})
        inf_days = list(ex.loc[(ex["USUBJID"] == u) & (ex["EXTRT"] == "BELIMUMAB"), "ASTDY"])
        start = _onset_day(rng, kind, subj, inf_days)
        grade = {"pneumonia": 3, "flare": 3}.get(kind, 1 if rng.random() < 0.7 else 2)
        duration = {"infusion": 1, "injection": int(rng.integers(2, 6)), "pneumonia": 16, "flare": 35}.get(
            kind, int(rng.integers(2, 15))
        )
        serious = "Y" if kind in ("pneumonia", "flare") else "N"
        if kind in ("injection", "il2_systemic"):
            reltrt = "LD-IL2"
        elif kind == "infusion":
            reltrt = "BELIMUMAB"
        elif kind in ("infection", "pneumonia", "bel_general"):
            if kind == "bel_general" or rng.random() < 0.6:
                reltrt = {"BEL": "BELIMUMAB", "IL2": "LD-IL2", "BELIL2": "BOTH"}[code]
            else:
                reltrt = "NONE"
        else:
            reltrt = "NONE"
        acn = {"pneumonia": "DRUG INTERRUPTED", "flare": "DRUG WITHDRAWN"}.get(kind, "DOSE NOT CHANGED")
        out = "RECOVERING/RESOLVING" if kind == "flare" else "RECOVERED/RESOLVED"
        rows.append(
            {
                "STUDYID": STUDYID,
                "USUBJID": u,
                "TRT01A": ARMS[code],
                "AETERM": term,
                "AEDECOD": decod,
                "AEBODSYS": soc,
                "ASTDY": start,
                "AENDY": start + duration - 1,
                "ADURN": duration,
                "ADURU": "DAYS",
                "AETOXGR": str(grade),
                "AESEV": {1: "MILD", 2: "MODERATE", 3: "SEVERE"}[grade],
                "AESER": serious,
                "AEREL": "NOT RELATED" if reltrt == "NONE" else "RELATED",
                "AERELTRT": reltrt,
                "AEACN": acn,
                "AEOUT": out,
                "AESDTH": "N",
                "TRTEMFL": "Y",
            }
        )
    ae = pd.DataFrame(rows)
    trtsdt = ae["USUBJID"].map(adsl_i["TRTSDT"])
    ae["ASTDT"] = trtsdt + pd.to_timedelta(ae["ASTDY"] - 1, unit="D")
    ae["AENDT"] = trtsdt + pd.to_timedelta(ae["AENDY"] - 1, unit="D")
    ae = ae.sort_values(["USUBJID", "ASTDY", "AEDECOD"], kind="stable").reset_index(drop=True)
    ae.insert(3, "AESEQ", ae.groupby("USUBJID").cumcount() + 1)
    return ae


def _writer_versions() -> dict:
    """Parquet bytes depend on the writer: record it, so a byte-for-byte re-derivation
    of the lock is only expected with the same versions (tables are always identical)."""
    import pyarrow

    return {"pandas": pd.__version__, "pyarrow": pyarrow.__version__}


def generate(seed: int = SEED) -> dict[str, pd.DataFrame]:
    """Build all tables in memory. Pure function of ``seed``."""
    rng = np.random.default_rng(seed)
    adsl = _subjects(rng)
    days = _visit_days(rng, adsl)
    adlb = _bds(rng, adsl, days, "ADLB")
    adcell = _bds(rng, adsl, days, "ADCELL")
    adex = _exposure(adsl, days)
    adae = _adverse_events(rng, adsl, adex)
    return {"adsl": adsl, "adlb": adlb, "adcell": adcell, "adae": adae, "adex": adex}


def write(out_dir: Path, seed: int = SEED) -> dict[str, pd.DataFrame]:
    """Write the tables as parquet plus the lock manifest ``LOCK.json``."""
    from data.lock import write_manifest

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = generate(seed)
    for name, df in tables.items():
        df.to_parquet(out_dir / f"{name}.parquet", index=False, compression="zstd")
    (out_dir / "study.toml").write_bytes(STUDY_TOML.encode("utf-8"))  # bytes: the same file on every OS
    write_manifest(
        out_dir,
        study_id=STUDYID,
        lock_date=LOCK_DATE,
        generator=f"data.generate_lso088 {GENERATOR_VERSION} (seed {seed})",
        extra={"title": TITLE, "simulated": True, "written_with": _writer_versions()},
        force=True,
    )
    return tables


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", nargs="?", default=str(Path(__file__).parent / "lso088"))
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    tables = write(Path(args.out_dir), args.seed)
    for name, df in tables.items():
        print(f"{name}: {len(df)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
