"""The blinded view of a study: every subject in one group, nothing that tells the arms apart.

A study is declared blinded in its lock manifest (``"blinded": true``, written by ``python app.py
lock DIR --blinded``; the fingerprint covers it). A user who may not see the treatment assignment
is served ``pooled(study)``: a separate ``Study`` built here, in the data layer, that every page
module receives exactly as it receives the full one. The pages need no blinding branch, and the
arm-level frames are not reachable from it:

- one group, ``All subjects (blinded)`` (code ``ALL``, a neutral grey no arm ever gets), holding
  every subject: ADSL's arm label and code, and the ``ARM`` of every analysis frame, are that group;
- ADSL and the adverse events lose every variable that names or encodes the arm: the study's arm
  variable, ``ARM*``, ``ACTARM*``, ``TRTxxA/P*``, ``TRTA/TRTP``, ``TRTSEQ*``, ``TRxxAGy/PGy``,
  ``DOSExxA/P``; in ADSL also any variable that is the same for every subject of an arm and differs
  between arms (a per-arm flag such as ``BELFL``, a dose group), whatever its name; and the
  variables or datasets the manifest lists in ``blinded_withhold``;
- the exposure dataset (ADEX) is withheld: a subject's doses are its treatment; so are exposure and
  pharmacokinetic parameter datasets (ADEX*, ADPC*, ADPP*) and parameters whose name names a treatment;
- rows are in USUBJID order (a file sorted by arm would otherwise show the arms in its order),
  categories hold no arm label, data notes and the study's page words that name an arm are left
  out, the between-arm choices of study.toml ([arms]) are gone.

``withheld`` lists, for the page notice and the README, what was left out (names, never values).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np
import pandas as pd

from data.lock import WITHHOLD_KEY
from data.model import Arm, DataError, Study

POOLED_CODE = "ALL"
POOLED_LABEL = "All subjects (blinded)"
POOLED_COLOUR, POOLED_LIGHT = "#52606d", "#c3cad3"  # neutral grey: no arm of any study is drawn in it
# Variable names that carry the treatment (ADaMIG: ADSL treatment variables, their ADAE/BDS copies)
ARM_NAMES = re.compile(r"^(ARM\w*|ACTARM\w*|TRT\d\d[AP]\w*|TRT[AP]N?|TRTSEQ\w*|TRTGRP\w*|TR\d\d[AP]G\d+\w*"
                       r"|DOSE\d\d[AP]\w*|RANDARM\w*)$", re.IGNORECASE)
_BDS_FRAMES = ("measurements", "imputed", "other_measurements", "off_axis")
DOSING_DATASETS = re.compile(r"^AD(EX|PC|PP)\w*$")  # exposure and pharmacokinetics (ADaMIG names)


@dataclasses.dataclass(frozen=True, eq=False)
class BlindedStudy(Study):
    """A study as a blinded user sees it (see the module docstring). ``blinded_view`` marks it."""

    withheld: tuple[str, ...] = ()  # what was left out, one readable line each
    blinded_view = True  # class attribute: not a field (a full Study has none: getattr(..., False))


def cache_fingerprint(study) -> str:
    """The result-cache namespace of the blinded view: never the full study's (data.cache keys on it)."""
    return hashlib.sha256(f"blinded-view:{study.fingerprint}".encode()).hexdigest()


def is_blinded_view(study) -> bool:
    return bool(getattr(study, "blinded_view", False))


def withhold_list(lock) -> tuple[str, ...]:
    raw = (getattr(lock, "extra", None) or {}).get(WITHHOLD_KEY) or ()
    return tuple(str(x) for x in raw)


def _pooled_dtype() -> pd.CategoricalDtype:
    return pd.CategoricalDtype([POOLED_LABEL], ordered=True)


def _pooled(n: int) -> pd.Categorical:
    """``n`` times the one group (codes only: no list of millions of strings)."""
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), dtype=_pooled_dtype())


def _names_arm(text: str, words: re.Pattern | None) -> bool:
    return bool(words is not None and words.search(str(text)))


def _arm_words(study: Study) -> re.Pattern | None:
    """A pattern matching any arm label or code as a whole word (case-insensitive)."""
    names = sorted({a.label for a in study.arms} | {a.code for a in study.arms}, key=len, reverse=True)
    names = [n for n in names if n.strip()]
    if not names:
        return None
    return re.compile(r"(?<![\w])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w])", re.IGNORECASE)


def _treatment_words(study: Study, codes: bool = True) -> re.Pattern | None:
    """Arm labels, arm codes and the exposure dataset's treatment names (EXTRT) of 3 characters or more, as
    whole words: a text variable holding one of them (ADAE AERELTRT 'BELIMUMAB') tells the arm. Without the
    codes (``codes=False``: for parameter names, where a code such as 'LOW' would hit 'Low-density lipoprotein')."""
    names = {a.label for a in study.arms} | ({a.code for a in study.arms} if codes else set())
    if study.adex is not None and "EXTRT" in study.adex.columns:
        names |= set(study.adex["EXTRT"].dropna().astype(str).unique()[:200])
    names = sorted((n.strip() for n in names if len(n.strip()) >= 3), key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w])", re.IGNORECASE)


def _naming_treatment(df: pd.DataFrame, words: re.Pattern | None, skip=()) -> list[str]:
    """Text variables of ``df`` with a value that names an arm or a treatment."""
    if words is None:
        return []
    out = []
    for col in df.columns:
        if col in skip or not (pd.api.types.is_string_dtype(df[col]) or pd.api.types.is_object_dtype(df[col])
                               or isinstance(df[col].dtype, pd.CategoricalDtype)):
            continue
        values = pd.Series(df[col].dropna().astype(str).unique())
        if len(values) and values.str.contains(words).any():
            out.append(col)
    return out


def _function_of_arm(adsl: pd.DataFrame, arm: pd.Series, n_arms: int) -> list[str]:
    """ADSL variables that tell the arms apart: where given, the same for every subject of an arm and not
    for every subject (the arm, or a coarser grouping of the arms, such as a flag for the arms with one
    drug); or values nested in the arms (dose levels: each value, held by two subjects or more, within one
    arm). A value missing for a few subjects does not hide it: missing values are set aside as long as the
    variable is given for at least half of each arm it is given in (a flag given for a few subjects, DTHFL
    = "Y" for two deaths, is not a grouping)."""
    if n_arms < 2 or len(adsl) == 0:
        return []
    arm = pd.Series(arm.to_numpy(), index=adsl.index)
    arms_present = arm.nunique()
    out = []
    for col in adsl.columns:
        raw = adsl[col].astype(object)
        present = raw.notna() & (raw.astype(str).str.strip() != "")
        if not present.any():
            continue
        vals, arms = raw[present].astype(str), arm[present]
        share = present.groupby(arm).mean()
        if (share[share > 0] < 0.5).any():
            continue
        k = vals.nunique()
        if k <= n_arms and (vals.groupby(arms).nunique() == 1).all():
            if k >= 2 or (share > 0).sum() < arms_present:  # one value, given in some arms only: a flag
                out.append(col)
        elif k >= 2 and vals.value_counts().min() >= 2 and (arms.groupby(vals).nunique() == 1).all():
            out.append(col)
    return out


def _split_withhold(items, study: Study) -> tuple[set[str], dict[str, set[str]], list[str]]:
    """(datasets, {dataset: variables}, problems) of the manifest's ``blinded_withhold`` entries."""
    datasets, variables, problems = set(), {}, []
    known = {d.upper() for d in study.datasets} | {d.upper() for d in study.var_labels}
    ae_name = (study.config.adverse_events or "ADAE").upper()
    columns = {"ADSL": set(study.adsl.columns), ae_name: set(study.adae.columns) if study.adae is not None else set()}
    for item in items:
        name = item.strip()
        if "." in name:
            ds, var = name.split(".", 1)
            ds = ds.upper()
            if ds not in columns:
                problems.append(f"{WITHHOLD_KEY}: {name!r}: variables are withheld from ADSL and {ae_name}; "
                                f"withhold the whole dataset {ds} instead")
            elif var not in columns[ds]:
                problems.append(f"{WITHHOLD_KEY}: {name!r}: no variable {var} in {ds}")
            else:
                variables.setdefault(ds, set()).add(var)
            continue
        if name.upper() in known:
            datasets.add(name.upper())
        else:
            problems.append(f"{WITHHOLD_KEY}: {name!r}: no dataset of that name in the study "
                            f"(datasets: {', '.join(sorted(known))}; a variable is DATASET.VARIABLE)")
    return datasets, variables, problems


def pooled(study: Study, withhold=None) -> BlindedStudy:
    """The blinded view of ``study`` (see the module docstring). Raises DataError when the manifest's
    ``blinded_withhold`` names something the study does not have, or leaves a page without its data."""
    if is_blinded_view(study):
        return study
    withhold = withhold_list(study.lock) if withhold is None else tuple(withhold)
    w_datasets, w_vars, problems = _split_withhold(withhold, study)
    if problems:
        raise DataError(study.folder, [f"ERROR blinded view: {p}" for p in problems])
    words = _arm_words(study)
    ae_name = study.config.adverse_events or "ADAE"
    ex_name = study.config.exposure or "ADEX"
    withheld: list[str] = []

    # -- ADSL: one group, USUBJID order, no variable that carries the arm -----------------------------
    adsl = study.adsl.sort_values("USUBJID", kind="stable").reset_index(drop=True)
    arm = adsl["ARM_LABEL"].astype(str)
    drop = [c for c in adsl.columns if c in ("ARM_LABEL", "ARMCODE") or ARM_NAMES.match(c)
            or c == study.arm_variable or c in w_vars.get("ADSL", set())]
    rest = adsl.drop(columns=drop)
    treatment_words = _treatment_words(study)
    dependent = [c for c in _function_of_arm(rest, arm, len(study.arms)) if c not in ("USUBJID",)]
    dependent += [c for c in _naming_treatment(rest, treatment_words, skip=("USUBJID", "STUDYID"))
                  if c not in dependent]
    adsl_drop = [c for c in drop if c not in ("ARM_LABEL", "ARMCODE")] + dependent
    adsl = rest.drop(columns=dependent)
    adsl["ARM_LABEL"] = _pooled(len(adsl))
    adsl["ARMCODE"] = POOLED_CODE
    if adsl_drop:
        withheld.append(f"ADSL variables that carry or name the treatment: {', '.join(adsl_drop)}")
    dropped_vars = {"ADSL": set(adsl_drop)}

    excluded = study.excluded
    if excluded is not None:
        excluded = excluded.drop(columns=[c for c in excluded.columns if c in drop or c in dependent
                                          or ARM_NAMES.match(c)])
        excluded = excluded.sort_values("USUBJID", kind="stable").reset_index(drop=True) \
            if "USUBJID" in excluded.columns else excluded.reset_index(drop=True)

    # -- adverse events: no arm variable; subject, onset, sequence order ------------------------------
    adae = study.adae
    if adae is not None:
        if ae_name.upper() in w_datasets:
            raise DataError(study.folder, [f"ERROR blinded view: {WITHHOLD_KEY} names {ae_name}, the adverse-event "
                                           f"dataset; withhold its arm-revealing variables instead "
                                           f"({ae_name}.VARIABLE)"])
        ae_drop = [c for c in adae.columns if c == "ARM" or ARM_NAMES.match(c) or c == study.arm_variable
                   or c in w_vars.get(ae_name.upper(), set())
                   or (c in dropped_vars["ADSL"] and c not in ("USUBJID", "STUDYID"))]  # ADSL's copies
        ae_drop += _naming_treatment(adae.drop(columns=ae_drop), treatment_words, skip=("USUBJID", "STUDYID"))
        adae = adae.drop(columns=ae_drop)
        order = [c for c in ("USUBJID", "ASTDY", "AESEQ") if c in adae.columns]
        adae = adae.sort_values(order, kind="stable").reset_index(drop=True)
        shown = [c for c in ae_drop if c != "ARM"]
        if shown:
            withheld.append(f"{ae_name} variables that carry or name the treatment: {', '.join(shown)}")
        dropped_vars[ae_name.upper()] = set(ae_drop)
    if study.adex is not None:
        withheld.append(f"the exposure dataset {ex_name} (a subject's doses are its treatment)")

    # -- parameter datasets: one group; withheld datasets out ---------------------------------------
    bds_out = {d for d in w_datasets if d not in ("ADSL", ex_name.upper(), ae_name.upper())}
    # exposure (ADEXSUM…) and pharmacokinetics (ADPC, ADPP) delivered as parameter datasets: a total dose or
    # a drug level tells the arm at a glance, whatever the lock lists
    dosing = {d.upper() for d in study.datasets if DOSING_DATASETS.match(d.upper())} - \
        {"ADSL", ex_name.upper(), ae_name.upper()} - bds_out
    bds_out |= dosing
    # parameters named for a treatment ("Belimumab trough concentration", "Anti-IL2 antibodies")
    drug_words = _treatment_words(study, codes=False)
    named = {c for c, p in study.params.items() if p.dataset.upper() not in bds_out and drug_words is not None
             and drug_words.search(str(p.name))}
    frames = {}
    for name in _BDS_FRAMES:
        df = getattr(study, name)
        if df is None:
            frames[name] = None
            continue
        if bds_out and "DATASET" in df.columns:
            df = df[~df["DATASET"].astype(str).str.upper().isin(bds_out)]
        if named and "PARAMCD" in df.columns:
            df = df[~df["PARAMCD"].astype(str).isin(named)]
        df = df.drop(columns=[c for c in df.columns if c != "ARM" and ARM_NAMES.match(c)])
        df = df.assign(ARM=_pooled(len(df)))
        frames[name] = df.reset_index(drop=True)
    params = {c: p for c, p in study.params.items() if p.dataset.upper() not in bds_out and c not in named}
    if bds_out - dosing:
        withheld.append(f"the parameter dataset(s) {', '.join(sorted(bds_out - dosing))} ({WITHHOLD_KEY} in the lock)")
    if dosing:
        withheld.append(f"the exposure and pharmacokinetic dataset(s) {', '.join(sorted(dosing))} (doses and drug "
                        f"levels tell the treatment)")
    if named:
        withheld.append(f"the parameter(s) named for a treatment: {', '.join(sorted(named))}")

    # -- words, notes, settings that name an arm --------------------------------------------------
    def clean_lines(lines):
        return tuple(line for line in lines if not _names_arm(line, words))

    cfg = study.config
    page_text = {page: {k: v for k, v in keys.items() if not _names_arm(v, words)}
                 for page, keys in (cfg.page_text or {}).items()}
    baseline_rows = tuple(r for r in cfg.baseline_rows
                          if not (getattr(r, "variable", None) and r.variable in dropped_vars["ADSL"]))
    page_sources = {page: dataclasses.replace(src, datasets=tuple(d for d in src.datasets if d.upper() not in bds_out))
                    for page, src in study.page_sources.items()}
    config = dataclasses.replace(cfg, arm_variable=None, arm_order=(), reference_arm=None, arm_colours={},
                                 pages=page_sources, page_text=page_text, baseline_rows=baseline_rows)
    gone = {ex_name.upper()} | bds_out
    var_labels = {ds: {v: lab for v, lab in labels.items() if v not in dropped_vars.get(ds.upper(), set())}
                  for ds, labels in study.var_labels.items() if ds.upper() not in gone}
    notice = (f"Blinded view: the study is blinded and this account may not see the treatment arms. All "
              f"{len(adsl)} subjects are shown as one group, {POOLED_LABEL!r}; between-arm statistics are not "
              f"applicable. Withheld: {'; '.join(withheld) or 'nothing else'}.")
    pooled_study = BlindedStudy(
        **{f.name: getattr(study, f.name) for f in dataclasses.fields(Study)},
    )
    pooled_study = dataclasses.replace(
        pooled_study,
        title=f"{study.title} (blinded view)",
        adsl=adsl,
        adae=adae,
        adex=None,
        arms=(Arm(POOLED_CODE, POOLED_LABEL, POOLED_COLOUR, POOLED_LIGHT, n=len(adsl)),),
        arm_variable="",
        reference_arm=POOLED_CODE,
        params=params,
        notes=(notice,) + clean_lines(study.notes),
        config=config,
        page_sources=page_sources,
        datasets={k: v for k, v in study.datasets.items() if k.upper() not in gone},
        ae_vars={role: (None if var in dropped_vars.get(ae_name.upper(), set()) else var)
                 for role, var in study.ae_vars.items()},
        var_labels=var_labels,
        dataset_labels={k: v for k, v in study.dataset_labels.items() if k.upper() not in gone},
        excluded=excluded,
        dataset_populations={k: v for k, v in study.dataset_populations.items() if k.upper() not in bds_out},
        dropped={k: clean_lines(v) for k, v in study.dropped.items()},
        reports={},  # `check` output, with subjects per arm: not part of any page
        record_rules={k: v for k, v in study.record_rules.items() if k.upper() not in bds_out},
        empty_pages=clean_lines(study.empty_pages),
        withheld=tuple(withheld),
        **frames,
    )
    from data import words as _words  # the page words of study.toml must still find their data

    errors = _words.check(pooled_study)
    if errors:
        raise DataError(study.folder, [f"ERROR blinded view: {line.removeprefix('ERROR ')}" for line in errors])
    return pooled_study


NOT_APPLICABLE = "not applicable in a blinded view (all subjects are one group)"


def between_arms_na(study) -> str | None:
    """What a between-arm statistic says in a blinded view ("not applicable…"), else None."""
    return NOT_APPLICABLE if is_blinded_view(study) else None
