"""Load a folder of ADaM datasets into one immutable, validated ``Study``.

read -> lock check -> study.toml -> validate -> normalise (categoricals, arm join)
happens once per process; the frames are then held in memory and shared read-only
by every request (with ``gunicorn --preload`` the workers share the pages too).
Nothing here writes to the dataset folder (``lock_folder`` writes only LOCK.json,
on request from the command line).

Formats: parquet, CSV, SAS transport (``.xpt``, v5 and v8) and ``.sas7bdat``. The
ADaM conventions applied when ``study.toml`` says nothing are listed in the README
("Use your own study"); each default is overridable there.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from data import allocator
from data import config as _config
from data import lock as _lock
from data import sanity as _sanity
from data import startcache as _startcache
from data import words as _words
from data.adam import (_CONTROL_HINT, ARM_PALETTE, _arm_codes, _arm_order, _lighten, _param_catalogue, _pick,
                       _visit_number, arm_membership, population_kind, prepare, select_records, unit_of, visit_days,
                       visit_plan)
from data.model import Arm, DataError, ParamInfo, Population, Study
from data.readers import _read_folder, read_config, read_dataset
from data.validate import (Problem, _examples, _rows, bds_key, check_arm_consistent, validate_adae, validate_adsl,
                           validate_bds)

DEFAULT_DATA = Path(__file__).parent / "lso088"


def load_study(folder: Path | str = DEFAULT_DATA) -> Study:
    """Read, lock-check and validate ``folder``. Raises DataError (lines) or LockError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, [f"ERROR {folder}: not a folder"])
    snap = _lock.snapshot(folder)  # each file's bytes, read once: hashed, then parsed
    lock_info = _lock.verify(folder, snap)
    study = _startcache.load(folder, snap, lock_info)  # the same bytes and code validated before: no parsing
    if study is None:
        study = _build(folder, lock_info, snap)
        _startcache.store(folder, snap.hashes, lock_info, study)
    del snap
    allocator.release()
    return study


def _build(folder: Path, lock_info: _lock.LockInfo, snap: _lock.Snapshot) -> Study:
    try:
        cfg = read_config(folder, snap)
    except _config.ConfigError as exc:
        raise DataError(folder, exc.lines) from None
    tables, read_errors, notes, lock_errors = _read_folder(folder, cfg.encoding, snap, lock_info.files)
    if lock_errors:  # not the data that was locked: nothing is served
        raise DataError(folder, lock_errors)
    _sanity.check_tables(tables, read_errors, notes)  # finite values, plausible days and dates, display-length text
    var_labels, dataset_labels = _words.take_labels(tables)
    files = {file: len(df) for file, df in tables.values()}
    ae_name, ex_name = cfg.adverse_events or "ADAE", cfg.exposure or "ADEX"
    errors: list[str] = []
    dropped: dict[str, list[str]] = {}  # dataset -> problem lines: the app is served without it
    unreadable: set = set()  # ADSL / the AE dataset named in a fatal line
    for line in read_errors:  # a file that cannot be read: fatal for ADSL and the AE dataset, else left out
        m = re.match(r"ERROR (\S+?): ", line)
        name = Path(m.group(1)).stem.upper() if m else None
        if name is None or name in ("ADSL", ae_name):
            errors.append(line)
            unreadable.add(name)
        else:
            dropped.setdefault(name, []).append(line.removeprefix("ERROR "))
            tables.pop(name, None)  # two files for one dataset: neither is trusted
    if "ADSL" not in tables and "ADSL" not in unreadable:
        errors.append(f"ERROR {folder.name}: no ADSL dataset (adsl.xpt, .sas7bdat, .parquet or .csv) — it is required")
    names = sorted(set(tables) | set(dropped))
    for key, named in (("adverse_events", cfg.adverse_events), ("exposure", cfg.exposure)):
        if named and named not in tables and named not in dropped:
            errors.append(f"ERROR study.toml [datasets] {key}: no dataset {named} in the folder "
                          f"(datasets: {', '.join(names)})")
    if errors:
        raise DataError(folder, errors)

    adsl_file, adsl = tables.pop("ADSL")
    ae_file, adae = tables.pop(ae_name, (ae_name.lower(), None))
    ex_file, adex = tables.pop(ex_name, (ex_name.lower(), None))
    for x in cfg.exclude:
        if x not in tables and x not in dropped:
            notes.append(f"WARNING study.toml [datasets] exclude: no dataset {x} in the folder")
    bds: dict[str, pd.DataFrame] = {}
    dataset_of: dict[str, str] = {}
    for name, (file, df) in tables.items():
        if name in cfg.exclude:
            dropped.pop(name, None)
            continue
        if "PARAMCD" not in df.columns:
            notes.append(f"NOTE {file}: not a BDS dataset (no PARAMCD); not shown")
        elif "CNSR" in df.columns and not {"AVISIT", "AVISITN"} & set(df.columns):
            notes.append(f"NOTE {file}: time-to-event dataset (CNSR, no visits); not shown")
        else:
            bds[file], dataset_of[file] = df, name
    for x in cfg.exclude:
        dropped.pop(x, None)
    file_of = {n: f for f, n in dataset_of.items()}
    for name, opts in cfg.dataset_options.items():
        if name not in file_of and name not in dropped:
            errors.append(f"ERROR study.toml [datasets.{name}]: no parameter dataset {name} "
                          f"(parameter datasets: {', '.join(sorted(file_of)) or 'none'})")
            continue
        if name in dropped:
            continue
        df = bds[file_of[name]]
        if opts.analysis_flag and opts.analysis_flag not in df.columns:
            have = [c for c in df.columns if re.fullmatch(r"ANL\d\dFL", c)]
            errors.append(f"ERROR study.toml [datasets.{name}] analysis_flag: {opts.analysis_flag} is not a variable "
                          f"of {file_of[name]} (analysis flags there: {', '.join(have) or 'none'})")
        if opts.basetype is not None:
            have = sorted(set(df["BASETYPE"].dropna().astype(str).str.strip())) if "BASETYPE" in df.columns else []
            if opts.basetype not in have:
                errors.append(f"ERROR study.toml [datasets.{name}] basetype: no BASETYPE {opts.basetype!r} in "
                              f"{file_of[name]} (values: {', '.join(map(repr, have)) or 'none: no BASETYPE'})")

    # -- the arm variables (planned for efficacy data, actual for safety data) and the population flags --
    arm_vars = _arm_variables(adsl, cfg, adsl_file, folder)
    arm_col, saf_col = arm_vars["efficacy"], arm_vars["safety"]
    flags = {}
    for kind, given, defaults in (("efficacy", cfg.efficacy_flag, ("EFFFL", "ITTFL", "FASFL")),
                                  ("safety", cfg.safety_flag, ("SAFFL",))):
        if given:
            if given not in adsl.columns:
                have = [c for c in adsl.columns if c.endswith("FL")]
                errors.append(f"ERROR study.toml [populations] {kind}: {given} is not a variable of {adsl_file} "
                              f"(flags there: {', '.join(have) or 'none'})")
            flags[kind] = given
        else:
            flags[kind] = None if given == "" else _pick(adsl.columns, *defaults)
    if errors:
        raise DataError(folder, errors)

    # -- validation: ADSL and the AE dataset stop the app; a broken parameter dataset is left out ------
    fatal = [str(p) for p in validate_adsl(adsl, arm_col, adsl_file) if p.fatal]
    if fatal:
        raise DataError(folder, fatal)
    known = set(adsl["USUBJID"].astype(str))
    subject_arm = adsl.set_index(adsl["USUBJID"].astype(str))[arm_col].astype(str)
    subject_saf = adsl.set_index(adsl["USUBJID"].astype(str))[saf_col].astype(str)

    def other_arm(df, file):  # a dataset that repeats the actual arm too must agree with ADSL on it
        return check_arm_consistent(df, file, saf_col, subject_saf) if saf_col != arm_col else []

    problems = validate_adae(adae, ae_file, known, arm_col, subject_arm) + other_arm(adae, ae_file) \
        if adae is not None else []
    fatal = [str(p) for p in problems if p.fatal]
    if fatal:
        raise DataError(folder, fatal)
    notes += [str(p) for p in problems if not p.fatal]
    for file, df in list(bds.items()):
        found = validate_bds(df, file, known, arm_col, subject_arm, cfg.include_visits) + other_arm(df, file)
        if any(p.fatal for p in found):
            dropped.setdefault(dataset_of[file], []).extend(str(p).removeprefix("ERROR ") for p in found if p.fatal)
            del bds[file]
        else:
            notes += [str(p) for p in found]

    # -- who is in an arm: screen failures and never-treated subjects are not ---------------------
    # Efficacy data are analysed in the arm a subject was randomised to (planned), safety data in the arm
    # they received (actual): a subject randomised but never treated is in an efficacy arm only.
    two = saf_col != arm_col
    why = arm_membership(adsl, arm_col, cfg, untreated=not two)
    why_saf = arm_membership(adsl, saf_col, cfg) if two else why
    in_arm = (why == "") | (why_saf == "")
    excluded = adsl[~in_arm].copy()
    if len(excluded):
        counts = why_saf[~in_arm].value_counts()
        notes.append(f"NOTE {adsl_file}: {len(excluded)} subject(s) in no treatment arm left out of every page "
                     f"({', '.join(f'{k}: {v}' for k, v in counts.items())}); [arms] exclude / include_untreated in "
                     f"study.toml bring them back")
    if two:
        notes += _arm_notes(adsl[in_arm], why[in_arm], why_saf[in_arm], arm_col, saf_col, adsl_file)
    if not in_arm.any():
        raise DataError(folder, [f"ERROR {adsl_file}, column {arm_col}: no subject is in a treatment arm "
                                 f"({', '.join(list(why.unique())[:3])}): nothing to show ([arms] exclude in "
                                 f"study.toml)"])
    adsl = adsl[in_arm]
    why, why_saf = why[in_arm], why_saf[in_arm]

    # -- checks that need the validated data: arms, populations, parameter codes -------------
    arm_values = {k: adsl[c].astype(str).where(w == "") for k, c, w in (("efficacy", arm_col, why),
                                                                         ("safety", saf_col, why_saf))}
    data_arms = pd.concat([arm_values["efficacy"], arm_values["safety"]]).dropna()
    if cfg.arm_order:
        stray = ~data_arms.isin(cfg.arm_order)
        if stray.any():
            col = arm_col if stray[: len(adsl)].any() else saf_col
            rows = data_arms.index[stray].unique()
            errors.append(str(Problem(adsl_file, col, f"arm not in study.toml [arms] order in "
                                                      f"{_rows(rows)}: {_examples(data_arms[stray])}")))
        absent = [a for a in cfg.arm_order if a not in set(data_arms)]
        if absent:
            notes.append(f"WARNING study.toml [arms] order: no subject in {', '.join(map(repr, absent))}; not shown")
        labels = [a for a in cfg.arm_order if a in set(data_arms)]
    else:
        labels = _arm_order(adsl, [(arm_col, arm_values["efficacy"]), (saf_col, arm_values["safety"])])
    arms_text = f"{arm_col} or {saf_col}" if two else arm_col
    for key, vals in (("reference", [cfg.reference_arm] if cfg.reference_arm else []),
                      ("colours", list(cfg.arm_colours))):
        bad = [v for v in vals if v not in labels]
        if bad and cfg.arm_order and key == "reference":  # listed in [arms] order, but no subject in it
            errors.append(f"ERROR study.toml [arms] reference: {bad[0]!r} has no subject in {arms_text}; a reference "
                          f"arm needs subjects (arms with subjects: {', '.join(map(repr, labels))})")
        elif bad and not cfg.arm_order:
            errors.append(f"ERROR study.toml [arms] {key}: {', '.join(map(repr, bad))} is not an arm of {arms_text} "
                          f"(arms: {', '.join(map(repr, labels))})")
    for kind, flag in flags.items():
        if flag and not (adsl[flag].astype(str) == "Y").any():
            errors.append(str(Problem(adsl_file, flag, f"no subject has {flag} = 'Y': the {kind} population "
                                                       f"would be empty")))
    owner: dict[str, str] = {}
    for file, df in bds.items():
        codes = set(df["PARAMCD"].astype(str).unique())
        clash = sorted(c for c in codes if c in owner)
        if clash:
            errors.append(str(Problem(file, "PARAMCD", f"parameter(s) also in {owner[clash[0]]}: {_examples(clash)}; "
                                                       f"a parameter code must belong to one dataset "
                                                       f"(or list one under [datasets] exclude in study.toml)")))
        owner.update({c: file for c in codes})
    for page, src in cfg.pages.items():
        unknown = [d for d in src.datasets if d not in dataset_of.values()]
        if unknown:
            errors.append(f"ERROR study.toml [pages.{page}] datasets: no parameter dataset "
                          f"{', '.join(unknown)} (parameter datasets: {', '.join(sorted(dataset_of.values())) or 'none'})")
        cats = set()
        for df in bds.values():
            if "PARCAT1" in df.columns:
                cats |= set(df["PARCAT1"].astype(str))
        missing = [c for c in src.parcat1 if c not in cats]
        if missing:
            errors.append(f"ERROR study.toml [pages.{page}] parcat1: no PARCAT1 value {', '.join(map(repr, missing))} "
                          f"in the data (values: {', '.join(map(repr, sorted(cats))) or 'none'})")
    if errors:
        raise DataError(folder, errors)

    # -- normalise ADSL, arms, populations --------------------------------------------------------
    adsl = adsl.copy()
    adsl["USUBJID"] = adsl["USUBJID"].astype(str)
    codes = _arm_codes(adsl, arm_col, labels)
    arm_dtype = pd.CategoricalDtype(labels, ordered=True)
    # the arm of each kind of data (NaN: in no arm of that kind), and the subject's arm for display and the
    # patient pickers: the planned one, else the actual one
    adsl["ARM_EFFICACY"] = arm_values["efficacy"].astype(arm_dtype)
    adsl["ARM_SAFETY"] = arm_values["safety"].astype(arm_dtype)
    adsl["ARM_LABEL"] = adsl["ARM_EFFICACY"].where(adsl["ARM_EFFICACY"].notna(), adsl["ARM_SAFETY"])
    adsl["ARMCODE"] = adsl["ARM_LABEL"].astype(str).map(codes)
    counts = adsl["ARM_LABEL"].value_counts()
    arms = []
    for i, lab in enumerate(labels):
        dark, light = ARM_PALETTE[i % len(ARM_PALETTE)]
        if lab in cfg.arm_colours:
            dark, light = cfg.arm_colours[lab], _lighten(cfg.arm_colours[lab])
        arms.append(Arm(codes[lab], lab, dark, light, n=int(counts.get(lab, 0))))
    arms = tuple(arms)
    if cfg.reference_arm:
        reference = codes[cfg.reference_arm]
    else:
        reference = next((codes[a] for a in labels if _CONTROL_HINT.search(a)), codes[labels[0]] if labels else None)
    total = len(adsl)
    populations = {}
    arm_col_of = {"efficacy": "ARM_EFFICACY", "safety": "ARM_SAFETY"}
    for kind, flag in flags.items():
        has_arm = adsl[arm_col_of[kind]].notna()
        subj = adsl["USUBJID"][has_arm & (adsl[flag].astype(str) == "Y")] if flag else adsl["USUBJID"][has_arm]
        populations[kind] = Population(kind, flag, len(subj), total, frozenset(subj))
    everyone = Population("all", None, total, total,
                          frozenset(adsl["USUBJID"][adsl["ARM_EFFICACY"].notna()]))
    by_subject = adsl.set_index("USUBJID")
    subj_arm = by_subject["ARM_LABEL"]
    arm_of_kind = {"efficacy": by_subject["ARM_EFFICACY"], "safety": by_subject["ARM_SAFETY"]}

    def arm_map(kind: str) -> pd.Series:  # USUBJID -> the arm a dataset of population ``kind`` is analysed in
        return arm_of_kind["safety" if kind == "safety" else "efficacy"]

    subjects = pd.CategoricalDtype(sorted(adsl["USUBJID"]))
    arm_subjects = set(adsl["USUBJID"])

    # -- BDS: the time axis, then the records each page analyses ---------------------------------------
    prepared, plans, base_rules = {}, {}, {}
    for file, df in bds.items():
        prepared[file], base_rules[file] = prepare(df, dataset_of[file], file, cfg, notes)
    days = visit_days(prepared.values())
    for file in bds:
        plans[file] = visit_plan(prepared[file], dataset_of[file], cfg, days)
        notes += plans[file].notes
    time_unit = "week" if all(p.in_weeks for p in plans.values()) else "visit"
    if time_unit == "visit":
        lacking = "; ".join(f"{dataset_of[f]}: {_examples(p.missing)}" for f, p in plans.items() if p.missing)
        notes.append(f"WARNING the time axis shows visit numbers (AVISITN), not study weeks: no week for the visits "
                     f"{lacking} (no week in the visit name and no ADY); give them under [visits] weeks in study.toml")
    selections = {}
    for file in bds:
        name = dataset_of[file]
        sel = select_records(prepared[file], name, file, cfg, time_unit, plans[file], arm_subjects, bds_key(bds[file]),
                             tuple(bds[file].columns))
        sel.rules.update(baseline=base_rules[file], population=population_kind(name, cfg))
        if sel.problems:
            dropped.setdefault(name, []).extend(str(p).removeprefix("ERROR ") for p in sel.problems)
            continue
        selections[file] = sel
        notes += sel.notes
    del prepared
    # implausible positions and thousands of visits: off the axis, like unscheduled visits (data.sanity)
    on_axis = _sanity.cap_time_axis({f: s.observed for f, s in selections.items()}, notes, time_unit)
    for file, sel in selections.items():
        keep = on_axis[file]
        if not keep.all():
            sel.off_axis = pd.concat([sel.off_axis, sel.observed[~keep]])
            sel.observed = sel.observed[keep]
            sel.imputed = sel.imputed[sel.imputed["TIME"].isin(set(sel.observed["TIME"]))]

    frames, imputed_frames, other_frames, off_frames = [], [], [], []
    extras, dataset_pops, reports, empty = {}, {}, {}, []
    for file, sel in selections.items():
        name = sel.dataset
        kind = population_kind(name, cfg)
        pop = everyone if kind == "all" else populations[kind]
        dataset_pops[name] = pop
        amap = arm_map(kind)

        def with_arm(df, fallback=False):  # the arm this dataset's records are analysed in (planned / actual)
            arm = df["USUBJID"].map(amap)
            if fallback:  # outside the population (patient profile only): the subject's arm if it has none here
                arm = arm.where(arm.notna(), df["USUBJID"].map(subj_arm))
            return df.assign(ARM=pd.Categorical(arm, dtype=arm_dtype))

        in_pop = sel.observed["USUBJID"].isin(pop.subjects)
        frames.append(with_arm(sel.observed[in_pop]))
        other_frames.append(with_arm(sel.observed[~in_pop], fallback=True))
        imputed_frames.append(with_arm(sel.imputed[sel.imputed["USUBJID"].isin(pop.subjects)]))
        off = sel.off_axis[sel.off_axis["USUBJID"].isin(pop.subjects)]
        off_frames.append(with_arm(off))
        extras.update(sel.params)
        if (~in_pop).any():
            out = sel.observed.loc[~in_pop, "USUBJID"]
            notes.append(f"NOTE {file} ({kind} data, {pop.text}): {len(out)} record(s) of {out.nunique()} subject(s) "
                         f"outside that population shown on the patient profile only")
        off_names = off.loc[off["AVISIT"].astype(str) != "", "AVISIT"]
        if len(off):
            notes.append(f"NOTE {file}: {len(off)} record(s) at unscheduled or derived visits, or before baseline "
                         f"({_examples(off_names) or 'no visit name'}) kept off the time axis ([visits] include in "
                         f"study.toml shows them)")
        reports[name] = _report(sel, plans[file], time_unit, kind, pop, sel.observed[in_pop], amap, labels,
                                arm_vars["safety" if kind == "safety" else "efficacy"])
        empty += _emptiness(sel, sel.observed[in_pop], pop, kind)

    keep_cols = ("DATASET", "USUBJID", "ARM", "PARCAT1", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "TIME", "ADY",
                 "AVAL", "BASE", "CHG", "PCHG", "ABLFL", "ANRLO", "ANRHI", "ANRIND")
    if frames:
        meas = pd.concat(frames)
        params = _param_catalogue(meas, extras)  # before categoricals: keeps the files' parameter order
        meas = _finish(meas, keep_cols, subjects)
    else:
        meas = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("AVISITN", "TIME", "AVAL") else "str")
                             for c in ("DATASET", "USUBJID", "ARM", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "TIME",
                                       "AVAL", "ABLFL")})
        params = {}

    def frame_of(parts, cols):
        parts = [p for p in parts if len(p)]
        if not parts:
            return meas.iloc[0:0].copy()
        return _finish(pd.concat(parts), cols, subjects)

    imputed = frame_of(imputed_frames, keep_cols + ("DTYPE",))
    other = frame_of(other_frames, keep_cols)
    off_axis = frame_of(off_frames, keep_cols)
    if not params and not empty:
        empty.append("WARNING no parameter dataset has values on the time axis: the trajectory and comparison pages "
                     "have nothing to show" + (f" (served without {', '.join(sorted(dropped))})" if dropped else ""))
    notes += empty

    # -- the time axis: one position per visit, named after the visit ---------------------------------
    on_axis = meas.dropna(subset=["TIME"])
    if len(on_axis):
        # a position's name: the visit name most datasets use there ('Week 12' over ADVS' 'WEEK 12'), then most rows
        post = on_axis[on_axis["ABLFL"].astype(str) != "Y"]
        use = post.groupby(["TIME", post["AVISIT"].astype(str)], observed=True).agg(
            datasets=("DATASET", "nunique"), rows=("DATASET", "size")).reset_index()
        use = use.sort_values(["TIME", "datasets", "rows"], ascending=[True, False, False], kind="stable")
        names = use.drop_duplicates("TIME").set_index("TIME")["AVISIT"]
        times = sorted(set(on_axis["TIME"].astype(float)))
        visits = tuple((float(t_), "Baseline" if t_ == 0 and t_ not in names.index else str(names.get(t_, "Baseline")))
                       for t_ in times)
    else:
        visits = ()
    vmap = dict(visits)
    missing_inc = [v for v in cfg.include_visits if v not in vmap.values()]
    if missing_inc:
        errors.append(f"ERROR study.toml [visits] include: {', '.join(map(repr, missing_inc))} not on the time axis: "
                      f"no such AVISIT, or it has no AVISITN (give its week under [visits] weeks)")
    base_rows = meas.loc[meas["ABLFL"].astype(str) == "Y", "TIME"] if len(meas) else pd.Series(dtype=float)
    baseline_visit = float(base_rows.mode().iloc[0]) if len(base_rows) else (visits[0][0] if visits else None)
    if cfg.baseline_visit is not None and visits:
        _visit_number(cfg.baseline_visit, vmap, "baseline", errors)
    end_visit = visits[-1][0] if visits else None
    if cfg.end_visit is not None and visits:
        end_visit = _visit_number(cfg.end_visit, vmap, "end", errors)
    if errors:
        raise DataError(folder, errors)

    # -- events and exposure: the subjects in an arm ------------------------------------------------------
    if adae is not None:
        adae = adae.copy()
        adae["USUBJID"] = adae["USUBJID"].astype(str)
        adae = adae[adae["USUBJID"].isin(arm_subjects)]
        if "ASTDY" not in adae.columns and {"ASTDT", "TRTSDT"} <= set(adae.columns) | set(adsl.columns):
            start = adae["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"])
            for dy, dt in (("ASTDY", "ASTDT"), ("AENDY", "AENDT")):
                if dt in adae.columns and pd.api.types.is_datetime64_any_dtype(adae[dt]):
                    days = (adae[dt] - pd.to_datetime(start)).dt.days
                    adae[dy] = np.where(days >= 0, days + 1, days)  # ADaM study day: no day 0
            notes.append(f"NOTE {ae_file}: no ASTDY; study days derived from ASTDT/AENDT and ADSL TRTSDT")
        saf = populations["safety"].subjects
        n_out = int((~adae["USUBJID"].isin(saf)).sum())
        if n_out:
            notes.append(f"NOTE {populations['safety'].text}: {n_out} event(s) of the other subjects not shown "
                         f"({ae_file})")
            adae = adae[adae["USUBJID"].isin(saf)]
        adae = adae.reset_index(drop=True)
        adae["ARM"] = adae["USUBJID"].map(arm_of_kind["safety"]).astype(arm_dtype)  # safety data: the actual arm
    ae_vars = {role: (_pick(adae.columns, *cands) if adae is not None else None) for role, cands in (
        ("severity", ("AETOXGR", "AESEV")), ("serious", ("AESER",)), ("related", ("AEREL", "AERELN")),
        ("emergent", ("TRTEMFL",)), ("start_day", ("ASTDY",)), ("end_day", ("AENDY",)))}
    if adex is not None:
        adex = adex.copy()
        adex["USUBJID"] = adex["USUBJID"].astype(str) if "USUBJID" in adex.columns else ""
        adex = adex[adex["USUBJID"].map(arm_of_kind["safety"]).notna()].reset_index(drop=True)
        adex["ARM"] = adex["USUBJID"].map(arm_of_kind["safety"]).astype(arm_dtype)  # doses: the actual arm

    extra = lock_info.extra or {}
    study_id = (cfg.study_id or lock_info.study_id
                or (str(adsl["STUDYID"].iloc[0]) if "STUDYID" in adsl.columns and len(adsl) else folder.name))
    if not lock_info.locked:
        notes.insert(0, f"WARNING {folder.name}: no {_lock.MANIFEST} — this dataset is not locked "
                        f"(fingerprint {lock_info.short}; `python app.py lock DIR` locks it)")
    used = {"ADSL": adsl_file, **{sel.dataset: f for f, sel in selections.items()}}
    if adae is not None:
        used[ae_name] = ae_file
    if adex is not None:
        used[ex_name] = ex_file
    study = Study(
        folder=folder,
        study_id=study_id,
        title=cfg.title or str(extra.get("title", study_id)),
        simulated=cfg.simulated if cfg.simulated is not None else bool(extra.get("simulated", False)),
        lock=lock_info,
        adsl=adsl.reset_index(drop=True),
        measurements=meas,
        adae=adae,
        adex=adex,
        arms=arms,
        params=params,
        visits=visits,
        notes=tuple(notes),
        efficacy_flag=flags["efficacy"],
        safety_flag=flags["safety"],
        arm_variable=arm_col,
        arm_variables=dict(arm_vars),
        reference_arm=reference,
        baseline_visit=baseline_visit,
        end_visit=end_visit,
        populations=populations,
        off_axis=off_axis,
        page_sources=dict(cfg.pages),
        files=files,
        datasets=used,
        ae_vars=ae_vars,
        config=cfg,
        var_labels=var_labels,
        dataset_labels=dataset_labels,
        time_unit=time_unit,
        imputed=imputed,
        other_measurements=other,
        excluded=excluded.reset_index(drop=True),
        dataset_populations=dataset_pops,
        dropped={k: tuple(v) for k, v in dropped.items()},
        reports=reports,
        record_rules={sel.dataset: sel.rules for sel in selections.values()},
        empty_pages=tuple(empty),
    )
    errors = _words.check(study)  # [pages.*], [overview], [safety] keys against the data
    if errors:
        raise DataError(folder, errors)
    # parameters with baseline values only (height, an average of baseline readings): no page opens on them;
    # a page that could only show them is an empty page (check does not say OK)
    baseline_only = [p.code for p in study.params.values() if not p.after_baseline]
    more = [f"NOTE {len(baseline_only)} parameter(s) with values at baseline only ({_examples(baseline_only)}): "
            f"offered, but no page opens on them (nothing after baseline to compare)"] if baseline_only else []
    warn = _words.baseline_only_warnings(study) if baseline_only else []
    if more or warn:  # the Study is frozen: these lines need the finished study to know what each page offers
        object.__setattr__(study, "notes", study.notes + tuple(more + warn))
        object.__setattr__(study, "empty_pages", study.empty_pages + tuple(warn))
    return study


# Planned and actual treatment variables of ADSL (ADaMIG): efficacy data by the planned arm, safety data by
# the actual arm. Pairs, in preference order; a study with one of them uses it for both.
ARM_PAIRS = (("TRT01P", "TRT01A"), ("ARM", "ACTARM"))


def _arm_variables(adsl: pd.DataFrame, cfg, adsl_file: str, folder: Path) -> dict[str, str]:
    """{"efficacy": variable, "safety": variable}: study.toml [arms] efficacy_variable / safety_variable /
    variable (both), else the planned and actual variables of ``ARM_PAIRS``, else the one there is."""
    cols = adsl.columns
    pair = next((p for p in ARM_PAIRS if p[0] in cols and p[1] in cols), None)
    single = _pick(cols, "TRT01A", "TRT01P", "ARM", "ACTARM") or "TRT01A"
    default = pair or (single, single)
    out, errors = {}, []
    for i, (kind, key, given) in enumerate((("efficacy", "efficacy_variable", cfg.efficacy_arm_variable),
                                            ("safety", "safety_variable", cfg.safety_arm_variable))):
        if not given and cfg.arm_variable:
            key, given = "variable", cfg.arm_variable
        if given and given not in cols:
            cands = [c for c in cols if re.fullmatch(r"TRT\d\d[AP]|ARM|ACTARM", c)]
            line = (f"ERROR study.toml [arms] {key}: {given} is not a variable of {adsl_file} "
                    f"(treatment variables there: {', '.join(cands) or 'none'})")
            if line not in errors:
                errors.append(line)
        out[kind] = given or default[i]
    if errors:
        raise DataError(folder, errors)
    return out


def _arm_notes(adsl: pd.DataFrame, why: pd.Series, why_saf: pd.Series, eff: str, saf: str, file: str) -> list[str]:
    """The Data notes on the two arm variables, and on subjects whose planned and actual arms differ."""
    both = (why == "") & (why_saf == "")
    differ = int((adsl.loc[both, eff].astype(str) != adsl.loc[both, saf].astype(str)).sum())
    differ += int(((why == "") != (why_saf == "")).sum())
    if not differ:  # the two variables agree for every subject: nothing the reader must know on every page
        return []
    notes = [f"NOTE {file}: efficacy data are analysed in the planned arm ({eff}), safety-population data (adverse "
             f"events, exposure, and labs, vital signs, ECG by default) in the actual arm ({saf}); {differ} "
             f"subject(s) differ ([arms] efficacy_variable / safety_variable / variable in study.toml)"]
    only_eff = (why == "") & (why_saf != "")
    if only_eff.any():
        counts = why_saf[only_eff].value_counts()
        notes.append(f"NOTE {file}: {int(only_eff.sum())} subject(s) randomised but in no {saf} arm "
                     f"({', '.join(f'{k}: {v}' for k, v in counts.items())}): in their {eff} arm for efficacy "
                     f"data, not in the safety analyses")
    only_saf = (why != "") & (why_saf == "")
    if only_saf.any():
        notes.append(f"NOTE {file}: {int(only_saf.sum())} subject(s) in no {eff} arm but treated: in their {saf} "
                     f"arm for safety data, not in the efficacy analyses")
    p, a = adsl.loc[both, eff].astype(str), adsl.loc[both, saf].astype(str)
    moved = p != a
    if moved.any():
        pairs = (p[moved] + " → " + a[moved]).value_counts()
        notes.append(f"NOTE {file}: {int(moved.sum())} subject(s) received another treatment than planned "
                     f"({', '.join(f'{k}: {v}' for k, v in pairs.items())}): efficacy data are analysed by the "
                     f"planned arm ({eff}), safety data by the actual arm ({saf})")
    return notes


def _finish(df: pd.DataFrame, cols, subjects: pd.CategoricalDtype) -> pd.DataFrame:
    """Columns in order, text as categories, sorted by parameter, subject and time (param_slices needs it)."""
    df = df[[c for c in cols if c in df.columns]].copy()
    for col in ("PARAMCD", "PARAM", "AVISIT", "PARCAT1", "DATASET", "DTYPE", "ANRIND"):
        if col in df.columns:
            df[col] = df[col].astype(str).astype("category")
    df["USUBJID"] = df["USUBJID"].astype(subjects)
    return df.sort_values(["PARAMCD", "USUBJID", "TIME"], kind="stable").reset_index(drop=True)


def _per_arm(subjects: pd.Series, subj_arm: pd.Series, labels) -> str:
    arm = pd.Series(list(subjects.unique())).map(subj_arm).astype(str).value_counts()
    return ", ".join(f"{a} {int(arm.get(a, 0))}" for a in labels)


def _report(sel, plan, time_unit: str, kind: str, pop, shown: pd.DataFrame, subj_arm, labels, arm_var: str = ""
            ) -> tuple[str, ...]:
    """What was decided for one BDS dataset, in a few lines (``python app.py check``)."""
    n_par = shown["PARAMCD"].nunique()
    who = f"{pop.flag} = 'Y', {pop.n} of {pop.total} subjects" if pop.flag else f"all {pop.total} subjects"
    lines = [f"{sel.dataset} ({sel.file}): {n_par} analysis parameter(s); key {'+'.join(sel.key)}; "
             f"{kind} population ({who})" + (f"; arm {arm_var}" if arm_var else "")]
    lines += sel.decisions
    base = shown[shown["ABLFL"] == "Y"]
    post = shown[(shown["ABLFL"] != "Y") & shown["AVAL"].notna()]
    lines.append(f"subjects with a baseline record, per arm: {_per_arm(base['USUBJID'], subj_arm, labels)}; "
                 f"with a value after baseline: {_per_arm(post['USUBJID'], subj_arm, labels)}")
    if time_unit == "week":
        lines.append(f"time axis: {plan.source_text()}; the baseline record at week 0 whatever its visit")
    else:
        lines.append("time axis: visit numbers (AVISITN), not weeks" + (f" (no week for {_examples(plan.missing)})"
                                                                       if plan.missing else ""))
    return tuple(lines)


def _emptiness(sel, shown: pd.DataFrame, pop, kind: str) -> list[str]:
    """Warnings for a dataset whose parameters would show n = 0 on every page, naming the cause."""
    name = f"{sel.dataset} ({sel.file})"
    if shown.empty or shown["AVAL"].notna().sum() == 0:
        cause = (f"no record of a subject of the {kind} population ({pop.text})" if len(sel.observed)
                 else "no observed record at a scheduled visit and no baseline record")
        return [f"WARNING {name}: its parameters would show n = 0 on every page: {cause}"]
    out = []
    if not (shown["ABLFL"] == "Y").any():
        out.append(f"WARNING {name}: no baseline record (ABLFL = 'Y'): change from baseline, baseline pairs and the "
                   f"mixed model would show n = 0 ([visits] baseline in study.toml names the baseline visit)")
    if not ((shown["ABLFL"] != "Y") & shown["AVAL"].notna()).any():
        out.append(f"WARNING {name}: no observed value after baseline on the time axis: every comparison with "
                   f"baseline would show n = 0")
    return out


# -- the command line's verbs --------------------------------------------------------------------
def _summary(study: Study) -> list[str]:
    arms = ", ".join(f"{a.label} {a.n}" for a in study.arms)
    by_ds: dict[str, int] = {}
    for p in study.params.values():
        by_ds[p.dataset] = by_ds.get(p.dataset, 0) + 1
    ds = ", ".join(f"{d} {n}" for d, n in by_ds.items()) or "none"
    ae = (f"{study.datasets.get(study.config.adverse_events or 'ADAE')} ({len(study.adae)} events)"
          if study.adae is not None else "none")
    lk = study.lock
    lock = (f"locked {lk.lock_date}" + (" as a blinded study" if lk.blinded else "")) if lk.locked else "UNLOCKED"
    excluded = len(study.excluded) if study.excluded is not None else 0
    lines = [
        f"  study {study.study_id}: {len(study.adsl)} subjects in {len(study.arms)} arms ({study.arm_variable}): {arms}"
        + (f"; {excluded} subject(s) in no arm left out" if excluded else ""),
        *arm_variable_lines(study),
        f"  parameters: {len(study.params)} ({ds}); time axis: {study.time_title.lower()}, "
        f"{len(study.visits)} visits",
        f"  adverse events: {ae}; {study.populations['efficacy'].text}; {study.populations['safety'].text}",
        f"  {lock}, fingerprint {lk.short}",
    ]
    for report in study.reports.values():  # what was decided for each parameter dataset
        lines += [f"  {report[0]}", *[f"    {x}" for x in report[1:]]]
    return lines


def arm_variable_lines(study: Study) -> list[str]:
    """Which ADSL variable each population's arms come from, and how many subjects' arms differ (``check``, and
    the Data notes)."""
    eff, saf = study.arm_variable_of("efficacy"), study.arm_variable_of("safety")
    if eff == saf:
        return [f"  arms: {eff} for efficacy and safety data alike"]
    adsl = study.adsl
    pe, pa = adsl["ARM_EFFICACY"], adsl["ARM_SAFETY"]
    moved = int((pe.notna() & pa.notna() & (pe.astype(str) != pa.astype(str))).sum())
    only_eff, only_saf = int((pe.notna() & pa.isna()).sum()), int((pe.isna() & pa.notna()).sum())
    parts = [f"{moved} subject(s) in another arm by {saf} than by {eff}"]
    if only_eff:
        parts.append(f"{only_eff} in a {eff} arm only (randomised, not treated)")
    if only_saf:
        parts.append(f"{only_saf} in a {saf} arm only")
    return [f"  arms: efficacy data by {eff} (planned), safety data by {saf} (actual); " + ", ".join(parts)]


def served_without(study: Study) -> list[str]:
    """One line per problem of each dataset left out: the red notice of every page and of `check`."""
    return [f"ERROR served without {name}: {line}" for name, lines in study.dropped.items() for line in lines]


def check_folder(folder: Path | str) -> tuple[int, list[str]]:
    """The verdict on a folder, as printed by ``python app.py check DIR``: (exit status, lines).

    Exit status 0 when the app can serve the folder, possibly without a broken parameter dataset
    (its ERROR lines say "served without"), 2 when it cannot. The verdict line says OK only when
    no dataset was left out and no page would show n = 0 everywhere.
    """
    folder = Path(folder)
    try:
        study = load_study(folder)
    except DataError as exc:
        lines = exc.lines
    except _lock.LockError as exc:
        lines = [f"ERROR {line}" for line in exc.lines]
    else:
        if study.dropped:
            verdict = (f"PARTIAL {folder}: the app can serve this folder without {', '.join(study.dropped)} "
                       f"(see the ERROR lines above)")
        elif study.empty_pages:
            verdict = (f"WARNING {folder}: the app can serve this folder, but some pages would show n = 0 "
                       f"(see the WARNING lines above)")
        else:
            verdict = f"OK {folder}: the app can serve this folder"
        return 0, [*served_without(study), *study.notes, verdict, *_summary(study)]
    n = len(lines)
    return 2, [*lines, f"FAIL {folder}: {n} problem{'s' if n != 1 else ''}; the app will not serve this folder"]


def lock_folder(folder: Path | str, force: bool = False, blinded: bool | None = None,
                withhold=()) -> tuple[int, list[str]]:
    """Validate ``folder`` and write its LOCK.json (``python app.py lock DIR [--force] [--blinded|--unblinded]
    [--withhold NAME ...]``). ``blinded``: True declares the study blinded (data.blinding), False ends a
    blinding, None keeps what an existing manifest says: locking a blinded folder again needs one of the two."""
    folder = Path(folder)
    if not folder.is_dir():
        return 2, [f"ERROR {folder}: not a folder"]
    target = folder / _lock.MANIFEST
    if target.exists() and not force:
        return 2, [f"ERROR {target}: exists; the folder is already locked (use --force to lock it again)"]
    withhold = list(dict.fromkeys(str(w) for w in withhold or ()))
    if withhold and blinded is not True:
        return 2, ["ERROR --withhold applies to a blinded study: add --blinded"]
    if blinded is None and target.exists():
        try:
            old = _lock.read_manifest(folder) or {}
        except _lock.LockError:
            old = {}
        if old.get(_lock.BLINDED_KEY) is True:
            return 2, [f"ERROR {target}: declares the study blinded; lock again with --blinded to keep the blinding, "
                       f"or with --unblinded to end it"]
    snap = _lock.snapshot(folder)  # validated and locked: the same bytes
    try:
        study = _build(folder, _lock.LockInfo("", "", "", {}, "", locked=False), snap)
    except DataError as exc:
        return 2, [*exc.lines, f"FAIL {folder}: not locked — fix the problems above first"]
    if study.dropped:  # a lock vouches for every file: one the app cannot serve is not locked
        lines = [f"ERROR {name}: {line}" for name, problems in study.dropped.items() for line in problems]
        return 2, [*lines, f"FAIL {folder}: not locked — the app cannot serve {', '.join(sorted(study.dropped))}; "
                           f"fix it or remove it from the folder first"]
    extra = {}
    if blinded:
        from data.blinding import pooled

        extra[_lock.BLINDED_KEY] = True
        if withhold:
            extra[_lock.WITHHOLD_KEY] = withhold
        try:  # the blinded view must build: withheld names exist, the pages keep their data
            pooled(study, withhold)
        except DataError as exc:
            return 2, [*exc.lines, f"FAIL {folder}: not locked — the blinded view cannot be served"]
    _lock.write_manifest(folder, study_id=study.study_id, generator="app.py lock", rows=study.files, force=force,
                         snap=snap, extra=extra)
    try:
        info = _lock.verify(folder)
    except _lock.LockError as exc:  # a file changed while it was being locked
        return 2, [*(f"ERROR {line}" for line in exc.lines), f"FAIL {folder}: changed while locking; lock again"]
    how = " (blinded study: users without the unblinded role see the arms pooled)" if info.blinded else ""
    return 0, [f"LOCKED {target}: {len(info.files)} files, fingerprint {info.short}{how}"]


__all__ = ["Arm", "DataError", "ParamInfo", "Population", "Problem", "Study", "check_folder", "load_study",
           "lock_folder", "read_dataset", "unit_of", "DEFAULT_DATA"]
