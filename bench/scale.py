"""Synthetic ADaM studies at benchmark scale, shaped like LSO-088.

    python -m bench.scale M [--out DIR]      # 300 subjects x 30 parameters x 13 visits
    python -m bench.scale L [--out DIR]      # 5,000 subjects x 50 parameters x 20 visits (~4.7 M BDS rows)

Same datasets, variables and types as ``data/lso088`` (ADSL, ADLB, ADCELL, ADAE, ADEX as
parquet + ``LOCK.json``), the same three arms (BEL "Belimumab", IL2 "Ld-IL2", BELIL2
"Belimumab + Ld-IL2"), the nine serology / clinical-activity parameters and eight cell
subsets of LSO-088 plus numbered extra ones, so every page has data. About 15 % of
subjects drop out (fewer visits, a shorter dosing record); 2 % of post-baseline
measurements are missing. The adverse-event table is proportional to LSO-088's
(about 2 events per subject-year), and dosing follows LSO-088's schedules (belimumab IV
every 4 weeks; Ld-IL2 SC every other day for 12 weeks, then weekly for 12, repeated).

The values are random (seeded, deterministic): they exercise the app, they mean nothing.
The manifest says ``simulated: true``, so the app shows the SIMULATED DATA badge.
Files go to a folder outside ``data/`` (by default ``bench-results/data/<size>``), and a
folder already written by this generator version with the same size is reused.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data import lock as _lock

VERSION = "1.0.0"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench-results" / "data"
SIZES = {  # subjects, parameters, visits
    "M": (300, 30, 13),
    "L": (5000, 50, 20),
}
ARMS = (("BEL", "Belimumab", 1), ("IL2", "Ld-IL2", 2), ("BELIL2", "Belimumab + Ld-IL2", 3))
T0 = np.datetime64("2025-01-06", "D")

# (PARCAT1, PARAMCD, PARAM, typical baseline, ANRLO, ANRHI): LSO-088's parameters.
LB_PARAMS = [
    ("SEROLOGY", "IGG", "IgG (g/L)", 14.0, 7.0, 16.0),
    ("SEROLOGY", "DSDNA", "Anti-dsDNA antibody (IU/mL)", 250.0, 0.0, 100.0),
    ("SEROLOGY", "ANUA", "Anti-nucleosome antibody (RU/mL)", 40.0, 0.0, 20.0),
    ("SEROLOGY", "C3", "Complement C3 (g/L)", 0.8, 0.9, 1.8),
    ("SEROLOGY", "C4", "Complement C4 (g/L)", 0.12, 0.1, 0.4),
    ("CLINICAL ACTIVITY", "SLEDAI", "SLEDAI-2K score", 9.0, 0.0, 105.0),
    ("CLINICAL ACTIVITY", "PGA", "Physician global assessment (0-3)", 1.2, 0.0, 3.0),
    ("CLINICAL ACTIVITY", "UPROT", "Urine protein (g/24 h)", 0.4, 0.0, 0.15),
    ("CLINICAL ACTIVITY", "PREDDOSE", "Prednisone-equivalent dose (mg/day)", 12.0, None, None),
]
CELL_PARAMS = [
    ("B CELLS", "NAIVEB", "Naive B cells, IgD+CD27- (% of CD19+)", 70.0),
    ("B CELLS", "PLASMA", "Plasma cells/plasmablasts, CD27hiCD38hi (% of CD19+)", 3.0),
    ("B CELLS", "MEMB", "Memory B cells, CD27+ (% of CD19+)", 15.0),
    ("B CELLS", "BREG", "Regulatory B cells, CD24hiCD38hi (% of CD19+)", 5.0),
    ("CYTOKINE-PRODUCING T CELLS", "IL2POS", "IL-2+ CD4+ T cells (% of CD4+)", 11.0),
    ("CYTOKINE-PRODUCING T CELLS", "IL17POS", "IL-17A+ CD4+ T cells, Th17 (% of CD4+)", 0.4),
    ("T CELLS", "TREG", "Regulatory T cells, CD25+FOXP3+ (% of CD4+)", 6.0),
    ("T CELLS", "TFH", "Follicular helper T cells, CXCR5+PD-1+ (% of CD4+)", 5.0),
]
CELL_CATS = ("B CELLS", "T CELLS", "CYTOKINE-PRODUCING T CELLS")
# (SOC, PT, verbatim term, weight, related drug or "")
AE_TERMS = [
    ("Infections and infestations", "Upper respiratory tract infection", "common cold", 14, ""),
    ("Infections and infestations", "Urinary tract infection", "urinary tract infection", 5, ""),
    ("Infections and infestations", "Nasopharyngitis", "sore throat and runny nose", 6, ""),
    ("Infections and infestations", "Herpes zoster", "shingles", 2, ""),
    ("Infections and infestations", "Bronchitis", "bronchitis", 3, ""),
    ("Infections and infestations", "Pneumonia", "community-acquired pneumonia", 1, ""),
    ("General disorders and administration site conditions", "Injection site reaction",
     "redness at injection site", 12, "LD-IL2"),
    ("General disorders and administration site conditions", "Pyrexia", "low-grade fever", 5, "LD-IL2"),
    ("General disorders and administration site conditions", "Influenza like illness", "flu-like symptoms", 5,
     "LD-IL2"),
    ("General disorders and administration site conditions", "Fatigue", "tiredness", 4, ""),
    ("Gastrointestinal disorders", "Nausea", "nausea", 5, "LD-IL2"),
    ("Gastrointestinal disorders", "Diarrhoea", "diarrhea", 4, "BELIMUMAB"),
    ("Gastrointestinal disorders", "Vomiting", "vomiting", 2, ""),
    ("Gastrointestinal disorders", "Abdominal pain", "stomach ache", 2, ""),
    ("Nervous system disorders", "Headache", "headache", 6, "BELIMUMAB"),
    ("Nervous system disorders", "Dizziness", "dizziness", 2, ""),
    ("Musculoskeletal and connective tissue disorders", "Arthralgia", "joint pain", 4, ""),
    ("Musculoskeletal and connective tissue disorders", "Systemic lupus erythematosus", "lupus flare", 3, ""),
    ("Musculoskeletal and connective tissue disorders", "Back pain", "back pain", 2, ""),
    ("Skin and subcutaneous tissue disorders", "Rash", "skin rash", 3, ""),
    ("Skin and subcutaneous tissue disorders", "Alopecia", "hair loss", 1, ""),
    ("Injury, poisoning and procedural complications", "Infusion related reaction", "flushing during infusion", 3,
     "BELIMUMAB"),
    ("Blood and lymphatic system disorders", "Leukopenia", "low white cell count", 2, ""),
    ("Blood and lymphatic system disorders", "Anaemia", "anaemia", 1, ""),
    ("Respiratory, thoracic and mediastinal disorders", "Cough", "cough", 3, ""),
    ("Vascular disorders", "Hypertension", "high blood pressure", 2, ""),
    ("Psychiatric disorders", "Insomnia", "difficulty sleeping", 2, ""),
]
AE_PER_SUBJECT_YEAR = 2.1  # LSO-088: 64 events, 30 subjects, 48 weeks


def _str(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def _dict_str(codes: np.ndarray, labels) -> pa.Array:
    """Strings by code (fast for millions of rows): a dictionary array decoded to plain strings."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                          _str(list(labels))).dictionary_decode()


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array((T0 + days.astype("timedelta64[D]")).astype("datetime64[us]"))


def _write(folder: Path, name: str, cols: dict) -> None:
    table = pa.table({k: (v if isinstance(v, pa.Array) else pa.array(v)) for k, v in cols.items()})
    pq.write_table(table, folder / f"{name}.parquet")


def _params(n_params: int):
    """(dataset, PARCAT1, PARAMCD, PARAM, baseline, lo, hi) for the study's parameters."""
    n_lb = round(n_params * 0.4)
    n_cell = n_params - n_lb
    out = [("ADLB", c, p, name, b, lo, hi) for c, p, name, b, lo, hi in LB_PARAMS[:n_lb]]
    for k in range(len(out), n_lb):
        out.append(("ADLB", "SEROLOGY", f"SER{k + 1:02d}", f"Serology marker {k + 1} (U/mL)", 20.0 + k, 0.0,
                    30.0 + k))
    cells = [("ADCELL", c, p, name, b, None, None) for c, p, name, b in CELL_PARAMS[:n_cell]]
    for k in range(len(cells), n_cell):
        cat = CELL_CATS[k % 3]
        cells.append(("ADCELL", cat, f"CELL{k + 1:02d}", f"Cell subset {k + 1} (% of CD45+)", 2.0 + (k % 17), None,
                      None))
    return out + cells


def generate(size: str, folder: Path, seed: int = 7) -> dict:
    n_subj, n_params, n_visits = SIZES[size]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    study = f"SIM-{size}"
    weeks = 4.0 * np.arange(n_visits)
    last_day = int(weeks[-1] * 7 + 1)

    # -- ADSL -------------------------------------------------------------------------------
    arm_idx = np.arange(n_subj) % 3
    usubjid = np.array([f"{study}-{i + 1:05d}" for i in range(n_subj)], dtype=object)
    rand_day = rng.integers(0, 365, n_subj)
    drop = rng.random(n_subj) < 0.15
    last_visit = np.where(drop, rng.integers(1, n_visits - 1, n_subj), n_visits - 1)  # index of the last visit
    trt_end = (weeks[last_visit] * 7).astype(int) + 1  # study day of the last visit
    reasons = np.array(["LOST TO FOLLOW-UP", "WITHDRAWAL BY SUBJECT", "ADVERSE EVENT", "LACK OF EFFICACY"], object)
    adsl = {
        "STUDYID": _str([study] * n_subj),
        "USUBJID": _str(usubjid),
        "SUBJID": _str([u[-5:] for u in usubjid]),
        "SITEID": _str([f"{1 + i % 20:02d}" for i in range(n_subj)]),
        "ARMCD": _dict_str(arm_idx, [a[0] for a in ARMS]),
        "ARM": _dict_str(arm_idx, [a[1] for a in ARMS]),
        "TRT01P": _dict_str(arm_idx, [a[1] for a in ARMS]),
        "TRT01A": _dict_str(arm_idx, [a[1] for a in ARMS]),
        "TRT01AN": pa.array((arm_idx + 1).astype(np.int64)),
        "AGE": pa.array(rng.integers(18, 70, n_subj).astype(np.int64)),
        "AGEU": _str(["YEARS"] * n_subj),
        "SEX": _dict_str((rng.random(n_subj) < 0.1).astype(int), ["F", "M"]),
        "RACE": _dict_str(rng.choice(4, n_subj, p=[0.45, 0.3, 0.2, 0.05]),
                          ["WHITE", "ASIAN", "BLACK OR AFRICAN AMERICAN", "OTHER"]),
        "DISDUR": pa.array(np.round(rng.gamma(2.0, 4.0, n_subj), 1)),
        "LNHISTFL": _dict_str((rng.random(n_subj) < 0.6).astype(int), ["N", "Y"]),
        "RANDDT": _dates(rand_day),
        "TRTSDT": _dates(rand_day),
        "TRTEDT": _dates(rand_day + trt_end - 1),
        "LSTVISN": pa.array(weeks[last_visit].astype(np.int64)),
        "SAFFL": _str(["Y"] * n_subj),
        "ITTFL": _str(["Y"] * n_subj),
        "EFFFL": _str(["Y"] * n_subj),
        "EOSSTT": _dict_str(drop.astype(int), ["COMPLETED", "DISCONTINUED"]),
        "DCSREAS": _str(np.where(drop, reasons[rng.integers(0, 4, n_subj)], "")),
        "DTHFL": _str(["N"] * n_subj),
    }
    _write(folder, "adsl", adsl)

    # -- BDS: ADLB and ADCELL ------------------------------------------------------------------
    params = _params(n_params)
    rows = {}
    effect = rng.normal(0, 0.25, (len(params), 3))  # log-scale change at the end, per parameter x arm
    shape = 1 - np.exp(-weeks / 12.0)
    for ds in ("ADLB", "ADCELL"):
        plist = [(k, p) for k, p in enumerate(params) if p[0] == ds]
        s_i, p_i, v_i = np.meshgrid(np.arange(n_subj), np.arange(len(plist)), np.arange(n_visits), indexing="ij")
        s_i, p_i, v_i = s_i.ravel(), p_i.ravel(), v_i.ravel()
        keep = (v_i <= last_visit[s_i]) & ((v_i == 0) | (rng.random(len(v_i)) >= 0.02))
        s_i, p_i, v_i = s_i[keep], p_i[keep], v_i[keep]
        gidx = np.array([k for k, _ in plist])[p_i]
        typical = np.array([p[4] for _, p in plist])[p_i]
        subj_level = rng.lognormal(0, 0.35, (n_subj, len(plist)))[s_i, p_i]
        log_change = effect[gidx, arm_idx[s_i]] * shape[v_i] + rng.normal(0, 0.12, len(v_i)) * (v_i > 0)
        aval = np.round(typical * subj_level * np.exp(log_change), 3 if ds == "ADLB" else 2)
        base_rows = v_i == 0
        base = aval[np.flatnonzero(base_rows)[np.searchsorted(np.flatnonzero(base_rows),
                                                              np.arange(len(v_i)), side="right") - 1]]
        ady = np.where(base_rows, 1, (weeks[v_i] * 7).astype(int) + 1 + rng.integers(-3, 4, len(v_i)))
        chg = np.where(base_rows, np.nan, aval - base)
        with np.errstate(divide="ignore", invalid="ignore"):
            pchg = np.where(base_rows | (base == 0), np.nan, 100 * chg / base)
        lo = np.array([np.nan if p[5] is None else p[5] for _, p in plist])[p_i]
        hi = np.array([np.nan if p[6] is None else p[6] for _, p in plist])[p_i]
        n = len(v_i)
        rows[ds] = n
        visit_names = ["Baseline"] + [f"Week {w:g}" for w in weeks[1:]]
        _write(folder, ds.lower(), {
            "STUDYID": _dict_str(np.zeros(n, int), [study]),
            "USUBJID": _dict_str(s_i, usubjid),
            "TRT01A": _dict_str(arm_idx[s_i], [a[1] for a in ARMS]),
            "PARCAT1": _dict_str(p_i, [p[1] for _, p in plist]),
            "PARAMCD": _dict_str(p_i, [p[2] for _, p in plist]),
            "PARAMN": pa.array(gidx.astype(np.int64) + 1),
            "PARAM": _dict_str(p_i, [p[3] for _, p in plist]),
            "AVISIT": _dict_str(v_i, visit_names),
            "AVISITN": pa.array(weeks[v_i]),
            "ADY": pa.array(ady.astype(np.int64)),
            "AVAL": pa.array(aval),
            "ANRLO": pa.array(lo),
            "ANRHI": pa.array(hi),
            "ADT": _dates(rand_day[s_i] + ady - 1),
            "ABLFL": _dict_str((~base_rows).astype(int), ["Y", ""]),
            "BASE": pa.array(base),
            "CHG": pa.array(chg),
            "PCHG": pa.array(pchg),
            "ANL01FL": _dict_str(np.zeros(n, int), ["Y"]),
        })

    # -- ADEX: LSO-088's schedules, each subject dosed until its last visit ----------------------
    bel = np.arange(1, last_day + 1, 28)
    cycle = np.concatenate([np.arange(1, 86, 2), np.arange(92, 163, 7)])  # 168-day Ld-IL2 cycle
    il2 = np.concatenate([cycle + 168 * k for k in range(last_day // 168 + 1)])
    il2 = il2[il2 <= last_day]
    ex_s, ex_d, ex_t = [], [], []
    for trt, days, arms in ((0, bel, (0, 2)), (1, il2, (1, 2))):
        subj = np.flatnonzero(np.isin(arm_idx, arms))
        s_rep = np.repeat(subj, len(days))
        d_rep = np.tile(days, len(subj))
        ok = d_rep <= trt_end[s_rep]
        ex_s.append(s_rep[ok])
        ex_d.append(d_rep[ok])
        ex_t.append(np.full(int(ok.sum()), trt))
    s_e, d_e, t_e = np.concatenate(ex_s), np.concatenate(ex_d), np.concatenate(ex_t)
    order = np.lexsort((d_e, t_e, s_e))
    s_e, d_e, t_e = s_e[order], d_e[order], t_e[order]
    d_e = np.where(d_e > 1, d_e + rng.integers(-2, 3, len(d_e)) * (t_e == 0), d_e)  # +-2-day infusion window
    n = len(s_e)
    _write(folder, "adex", {
        "STUDYID": _dict_str(np.zeros(n, int), [study]),
        "USUBJID": _dict_str(s_e, usubjid),
        "EXTRT": _dict_str(t_e, ["BELIMUMAB", "LD-IL2"]),
        "EXDOSE": pa.array(np.where(t_e == 0, 10.0, 1.0)),
        "EXDOSU": _dict_str(t_e, ["mg/kg", "MIU"]),
        "EXROUTE": _dict_str(t_e, ["INTRAVENOUS", "SUBCUTANEOUS"]),
        "ASTDY": pa.array(d_e.astype(np.int64)),
        "TRT01A": _dict_str(arm_idx[s_e], [a[1] for a in ARMS]),
        "AVISITN": pa.array(np.floor((d_e - 1) / 7.0)),
        "ASTDT": _dates(rand_day[s_e] + d_e - 1),
    })
    rows["ADEX"] = n

    # -- ADAE: proportional to LSO-088 -----------------------------------------------------------
    years = trt_end / 365.25
    n_ev = rng.poisson(AE_PER_SUBJECT_YEAR * years)
    s_a = np.repeat(np.arange(n_subj), n_ev)
    n = len(s_a)
    w = np.array([t[3] for t in AE_TERMS], float)
    term = rng.choice(len(AE_TERMS), n, p=w / w.sum())
    start = 1 + (rng.random(n) * (trt_end[s_a] - 1)).astype(int)
    dur = 1 + rng.geometric(0.15, n)
    order = np.lexsort((start, s_a))
    s_a, term, start, dur = s_a[order], term[order], start[order], dur[order]
    seq = np.ones(n, np.int64)
    for k in range(1, n):
        if s_a[k] == s_a[k - 1]:
            seq[k] = seq[k - 1] + 1
    grade = rng.choice(4, n, p=[0.7, 0.25, 0.04, 0.01])
    drug = np.array([t[4] for t in AE_TERMS], object)[term]
    arm_drugs = {0: {"BELIMUMAB"}, 1: {"LD-IL2"}, 2: {"BELIMUMAB", "LD-IL2"}}
    related = np.array([d != "" and d in arm_drugs[arm_idx[s]] for d, s in zip(drug, s_a)])
    serious = (grade >= 2) & (rng.random(n) < 0.25)
    acn = np.where(rng.random(n) < 0.01, 1, np.where(rng.random(n) < 0.02, 2, 0))
    _write(folder, "adae", {
        "STUDYID": _dict_str(np.zeros(n, int), [study]),
        "USUBJID": _dict_str(s_a, usubjid),
        "TRT01A": _dict_str(arm_idx[s_a], [a[1] for a in ARMS]),
        "AESEQ": pa.array(seq),
        "AETERM": _dict_str(term, [t[2] for t in AE_TERMS]),
        "AEDECOD": _dict_str(term, [t[1] for t in AE_TERMS]),
        "AEBODSYS": _dict_str(term, [t[0] for t in AE_TERMS]),
        "ASTDY": pa.array(start.astype(np.int64)),
        "AENDY": pa.array((start + dur - 1).astype(np.int64)),
        "ADURN": pa.array(dur.astype(np.int64)),
        "ADURU": _dict_str(np.zeros(n, int), ["DAYS"]),
        "AETOXGR": _dict_str(grade, ["1", "2", "3", "4"]),
        "AESEV": _dict_str(np.minimum(grade, 2), ["MILD", "MODERATE", "SEVERE"]),
        "AESER": _dict_str(serious.astype(int), ["N", "Y"]),
        "AEREL": _dict_str(related.astype(int), ["NOT RELATED", "RELATED"]),
        "AERELTRT": _str(np.where(related, drug, "NONE")),
        "AEACN": _dict_str(acn, ["DOSE NOT CHANGED", "DRUG WITHDRAWN", "DRUG INTERRUPTED"]),
        "AEOUT": _dict_str((rng.random(n) < 0.05).astype(int), ["RECOVERED/RESOLVED", "RECOVERING/RESOLVING"]),
        "AESDTH": _str(["N"] * n),
        "TRTEMFL": _str(["Y"] * n),
        "ASTDT": _dates(rand_day[s_a] + start - 1),
        "AENDT": _dates(rand_day[s_a] + start + dur - 2),
    })
    rows["ADAE"] = n
    rows["ADSL"] = n_subj
    title = (f"{study}: simulated benchmark study, {n_subj:,} subjects x {n_params} parameters x "
             f"{n_visits} visits")
    _lock.write_manifest(folder, study_id=study, generator=generator_id(size, seed), force=True,
                         extra={"title": title, "simulated": True})
    return rows


def generator_id(size: str, seed: int = 7) -> str:
    return f"bench.scale {VERSION} (size {size}, seed {seed})"


def ensure(size: str, out: Path = DEFAULT_OUT) -> Path:
    """The folder of ``size``: reused when this generator version wrote it, else (re)written."""
    folder = Path(out) / size
    manifest = folder / _lock.MANIFEST
    if manifest.exists():
        try:
            if json.loads(manifest.read_text()).get("generator") == generator_id(size):
                _lock.verify(folder)
                return folder
        except (ValueError, _lock.LockError):
            pass
    if folder.exists():
        shutil.rmtree(folder)
    generate(size, folder)
    return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size", choices=sorted(SIZES))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    folder = ensure(args.size, args.out)
    print(json.dumps({"folder": str(folder), **json.loads((folder / _lock.MANIFEST).read_text())["files"]},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
