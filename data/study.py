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

from data import config as _config
from data import lock as _lock
from data import sanity as _sanity
from data.adam import (_CONTROL_HINT, ARM_PALETTE, _arm_codes, _arm_order, _derive_baseline, _lighten,
                       _param_catalogue, _pick, _prepare_bds, _visit_number, unit_of)
from data.model import Arm, DataError, ParamInfo, Population, Study
from data.readers import _read_folder, read_config, read_dataset
from data.validate import BDS_REQUIRED, Problem, _examples, _rows, analysis_rows, validate_tables

DEFAULT_DATA = Path(__file__).parent / "lso088"


def load_study(folder: Path | str = DEFAULT_DATA) -> Study:
    """Read, lock-check and validate ``folder``. Raises DataError (lines) or LockError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, [f"ERROR {folder}: not a folder"])
    snap = _lock.snapshot(folder)  # each file's bytes, read once: hashed, then parsed
    study = _build(folder, _lock.verify(folder, snap), snap)
    _release_memory()
    return study


def _release_memory() -> None:
    """Hand the memory freed while loading back to the system (pyarrow's pool, then the C heap).

    Reading and validating leave freed buffers that the allocators keep: on a 4.6-million-row
    study the process held 2.4 GB for 0.5 GB of frames; after this, 0.7 GB. It matters twice
    with ``gunicorn --preload``: every worker starts from the loader's footprint.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # an older pyarrow without release_unused: nothing to do
        pass
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): the allocator keeps its own policy
        pass


def _build(folder: Path, lock_info: _lock.LockInfo, snap: _lock.Snapshot) -> Study:
    try:
        cfg = read_config(folder, snap)
    except _config.ConfigError as exc:
        raise DataError(folder, exc.lines) from None
    tables, errors, notes = _read_folder(folder, cfg.encoding, snap, lock_info.files)
    _sanity.check_tables(tables, errors, notes)  # finite values, plausible days and dates, display-length text
    files = {file: len(df) for file, df in tables.values()}
    if "ADSL" not in tables:
        errors.append(f"ERROR {folder.name}: no ADSL dataset (adsl.xpt, .sas7bdat, .parquet or .csv) — it is required")
    names = sorted(tables)
    for key, named in (("adverse_events", cfg.adverse_events), ("exposure", cfg.exposure)):
        if named and named not in tables:
            errors.append(f"ERROR study.toml [datasets] {key}: no dataset {named} in the folder "
                          f"(datasets: {', '.join(names)})")
    if errors:
        raise DataError(folder, errors)

    adsl_file, adsl = tables.pop("ADSL")
    ae_name, ex_name = cfg.adverse_events or "ADAE", cfg.exposure or "ADEX"
    ae_file, adae = tables.pop(ae_name, (ae_name.lower(), None))
    ex_file, adex = tables.pop(ex_name, (ex_name.lower(), None))
    for x in cfg.exclude:
        if x not in tables:
            notes.append(f"WARNING study.toml [datasets] exclude: no dataset {x} in the folder")
    bds: dict[str, pd.DataFrame] = {}
    dataset_of: dict[str, str] = {}
    for name, (file, df) in tables.items():
        if name in cfg.exclude:
            continue
        if "PARAMCD" not in df.columns:
            notes.append(f"NOTE {file}: not a BDS dataset (no PARAMCD); not shown")
        elif "CNSR" in df.columns and not {"AVISIT", "AVISITN"} & set(df.columns):
            notes.append(f"NOTE {file}: time-to-event dataset (CNSR, no visits); not shown")
        else:
            bds[file], dataset_of[file] = df, name

    # -- the arm variable and the population flags -------------------------------------------
    if cfg.arm_variable:
        arm_col = cfg.arm_variable
        if arm_col not in adsl.columns:
            cands = [c for c in adsl.columns if re.fullmatch(r"TRT\d\d[AP]|ARM|ACTARM", c)]
            raise DataError(folder, [f"ERROR study.toml [arms] variable: {arm_col} is not a variable of {adsl_file} "
                                     f"(treatment variables there: {', '.join(cands) or 'none'})"])
    else:
        arm_col = _pick(adsl.columns, "TRT01A", "TRT01P", "ARM") or "TRT01A"
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

    # -- visits, baseline, analysis rows; then validation -------------------------------------
    axis_rows = {}
    for file, df in list(bds.items()):
        if set(BDS_REQUIRED) <= set(df.columns):
            bds[file], axis_rows[file] = _prepare_bds(df, file, cfg, notes)
    axis_rows = _sanity.cap_time_axis(bds, axis_rows, notes)  # implausible weeks and too many visits: off the axis
    problems = validate_tables(adsl, bds, adae, arm_col, adsl_name=adsl_file, adae_name=ae_file, rows=axis_rows)
    fatal = [str(p) for p in problems if p.fatal]
    if fatal:
        raise DataError(folder, fatal)
    notes += [str(p) for p in problems if not p.fatal]

    # -- checks that need the validated data: arms, populations, parameter codes -------------
    data_arms = adsl[arm_col].astype(str)
    if cfg.arm_order:
        stray = ~data_arms.isin(cfg.arm_order)
        if stray.any():
            errors.append(str(Problem(adsl_file, arm_col, f"arm not in study.toml [arms] order in "
                                                          f"{_rows(adsl.index[stray])}: {_examples(data_arms[stray])}")))
        absent = [a for a in cfg.arm_order if a not in set(data_arms)]
        if absent:
            notes.append(f"WARNING study.toml [arms] order: no subject in {', '.join(map(repr, absent))}; not shown")
        labels = [a for a in cfg.arm_order if a in set(data_arms)]
    else:
        labels = _arm_order(adsl, arm_col)
    for key, vals in (("reference", [cfg.reference_arm] if cfg.reference_arm else []),
                      ("colours", list(cfg.arm_colours))):
        bad = [v for v in vals if v not in labels]
        if bad and cfg.arm_order and key == "reference":  # listed in [arms] order, but no subject in it
            errors.append(f"ERROR study.toml [arms] reference: {bad[0]!r} has no subject in {arm_col}; a reference "
                          f"arm needs subjects (arms with subjects: {', '.join(map(repr, labels))})")
        elif bad and not cfg.arm_order:
            errors.append(f"ERROR study.toml [arms] {key}: {', '.join(map(repr, bad))} is not an arm of {arm_col} "
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
    adsl["ARM_LABEL"] = pd.Categorical(adsl[arm_col].astype(str), categories=labels, ordered=True)
    adsl["ARMCODE"] = adsl[arm_col].astype(str).map(codes)
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
    for kind, flag in flags.items():
        subj = adsl["USUBJID"][adsl[flag].astype(str) == "Y"] if flag else adsl["USUBJID"]
        populations[kind] = Population(kind, flag, len(subj), total, frozenset(subj))
    subj_arm = adsl.set_index("USUBJID")["ARM_LABEL"]
    subjects = pd.CategoricalDtype(sorted(adsl["USUBJID"]))

    # -- BDS: analysis rows, derived baseline, time axis vs unscheduled ------------------------
    eff = populations["efficacy"].subjects
    frames, off_frames, outside = [], [], {}
    for file, df in bds.items():
        df = df[analysis_rows(df) | axis_rows[file]].copy()
        axis = axis_rows[file].reindex(df.index)
        df["DATASET"] = dataset_of[file]
        df["USUBJID"] = df["USUBJID"].astype(str)
        for col in ("AVAL", "AVISITN", "BASE", "CHG", "PCHG", "ANRLO", "ANRHI", "ADY", "PARAMN"):
            if col in df.columns:
                df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        if "PARCAT1" in df.columns:
            cat = df["PARCAT1"].astype(str).str.strip()
            df["PARCAT1"] = cat.where(cat != "", dataset_of[file])
        else:
            df["PARCAT1"] = dataset_of[file]
        df = _derive_baseline(df)
        n_out = int((~df["USUBJID"].isin(eff)).sum())
        if n_out:
            outside[file] = n_out
            keep = df["USUBJID"].isin(eff)
            df, axis = df[keep], axis[keep]
        off = df[~axis]
        if len(off):
            notes.append(f"NOTE {file}: {len(off)} record(s) at unscheduled or derived visits "
                         f"({_examples(off['AVISIT'].astype(str))}) kept off the time axis "
                         f"([visits] include in study.toml shows them)")
            off_frames.append(off)
        frames.append(df[axis])
    if outside:
        pop = populations["efficacy"]
        notes.append(f"NOTE {pop.text}: {sum(outside.values())} record(s) of the other subjects not shown "
                     f"({', '.join(f'{f} {n}' for f, n in outside.items())})")
    keep_cols = ("DATASET", "USUBJID", "ARM", "PARCAT1", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADY",
                 "AVAL", "BASE", "CHG", "PCHG", "ABLFL", "ANRLO", "ANRHI")
    if frames:
        meas = pd.concat(frames, ignore_index=True)
        meas["ARM"] = meas["USUBJID"].map(subj_arm).astype(adsl["ARM_LABEL"].dtype)
        params = _param_catalogue(meas)  # before categoricals: keeps the files' parameter order
        for col in ("PARAMCD", "PARAM", "AVISIT", "PARCAT1", "DATASET"):
            meas[col] = meas[col].astype(str).astype("category")
        meas["USUBJID"] = meas["USUBJID"].astype(subjects)
        meas = meas[[c for c in keep_cols if c in meas.columns]]
        meas = meas.sort_values(["PARAMCD", "USUBJID", "AVISITN"]).reset_index(drop=True)
    else:
        meas = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("AVISITN", "AVAL") else "str")
                             for c in ("DATASET", "USUBJID", "ARM", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "AVAL",
                                       "ABLFL")})
        params = {}
    off_axis = pd.concat(off_frames, ignore_index=True) if off_frames else meas.iloc[0:0].copy()
    if len(off_axis):
        off_axis["ARM"] = off_axis["USUBJID"].map(subj_arm).astype(adsl["ARM_LABEL"].dtype)
        off_axis = off_axis[[c for c in keep_cols if c in off_axis.columns]].reset_index(drop=True)

    visit_tab = meas.dropna(subset=["AVISITN"])[["AVISITN", "AVISIT"]].drop_duplicates("AVISITN").sort_values("AVISITN")
    visits = tuple((float(n), str(v)) for n, v in zip(visit_tab["AVISITN"], visit_tab["AVISIT"]))
    vmap = dict(visits)
    missing_inc = [v for v in cfg.include_visits if v not in vmap.values()]
    if missing_inc:
        errors.append(f"ERROR study.toml [visits] include: {', '.join(map(repr, missing_inc))} not on the time axis: "
                      f"no such AVISIT, or it has no AVISITN (give its week under [visits] weeks)")
    base_rows = meas.loc[meas["ABLFL"].astype(str) == "Y", "AVISITN"] if len(meas) else pd.Series(dtype=float)
    baseline_visit = float(base_rows.mode().iloc[0]) if len(base_rows) else (visits[0][0] if visits else None)
    if cfg.baseline_visit is not None and visits:
        _visit_number(cfg.baseline_visit, vmap, "baseline", errors)
    end_visit = visits[-1][0] if visits else None
    if cfg.end_visit is not None and visits:
        end_visit = _visit_number(cfg.end_visit, vmap, "end", errors)
    if errors:
        raise DataError(folder, errors)

    # -- events and exposure ----------------------------------------------------------------------
    if adae is not None:
        adae = adae.copy()
        adae["USUBJID"] = adae["USUBJID"].astype(str)
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
            adae = adae[adae["USUBJID"].isin(saf)].reset_index(drop=True)
        adae["ARM"] = adae["USUBJID"].map(subj_arm).astype(adsl["ARM_LABEL"].dtype)
    ae_vars = {role: (_pick(adae.columns, *cands) if adae is not None else None) for role, cands in (
        ("severity", ("AETOXGR", "AESEV")), ("serious", ("AESER",)), ("related", ("AEREL", "AERELN")),
        ("emergent", ("TRTEMFL",)), ("start_day", ("ASTDY",)), ("end_day", ("AENDY",)))}
    if adex is not None:
        adex = adex.copy()
        adex["USUBJID"] = adex["USUBJID"].astype(str) if "USUBJID" in adex.columns else ""
        adex["ARM"] = adex["USUBJID"].map(subj_arm).astype(adsl["ARM_LABEL"].dtype)

    extra = lock_info.extra or {}
    study_id = (cfg.study_id or lock_info.study_id
                or (str(adsl["STUDYID"].iloc[0]) if "STUDYID" in adsl.columns and len(adsl) else folder.name))
    if not lock_info.locked:
        notes.insert(0, f"WARNING {folder.name}: no {_lock.MANIFEST} — this dataset is not locked "
                        f"(fingerprint {lock_info.short}; `python app.py lock DIR` locks it)")
    used = {"ADSL": adsl_file, **{dataset_of[f]: f for f in bds}}
    if adae is not None:
        used[ae_name] = ae_file
    if adex is not None:
        used[ex_name] = ex_file
    return Study(
        folder=folder,
        study_id=study_id,
        title=cfg.title or str(extra.get("title", study_id)),
        simulated=cfg.simulated if cfg.simulated is not None else bool(extra.get("simulated", False)),
        lock=lock_info,
        adsl=adsl,
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
    )


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
    lock = f"locked {lk.lock_date}" if lk.locked else "UNLOCKED"
    return [
        f"  study {study.study_id}: {len(study.adsl)} subjects, arms ({study.arm_variable}): {arms}",
        f"  parameters: {len(study.params)} ({ds}); visits on the time axis: {len(study.visits)}",
        f"  adverse events: {ae}; {study.populations['efficacy'].text}; {study.populations['safety'].text}",
        f"  {lock}, fingerprint {lk.short}",
    ]


def check_folder(folder: Path | str) -> tuple[int, list[str]]:
    """The verdict on a folder, as printed by ``python app.py check DIR``: (exit status, lines)."""
    folder = Path(folder)
    try:
        study = load_study(folder)
    except DataError as exc:
        lines = exc.lines
    except _lock.LockError as exc:
        lines = [f"ERROR {line}" for line in exc.lines]
    else:
        return 0, [*study.notes, f"OK {folder}: the app can serve this folder", *_summary(study)]
    n = len(lines)
    return 2, [*lines, f"FAIL {folder}: {n} problem{'s' if n != 1 else ''}; the app will not serve this folder"]


def lock_folder(folder: Path | str, force: bool = False) -> tuple[int, list[str]]:
    """Validate ``folder`` and write its LOCK.json (``python app.py lock DIR [--force]``)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 2, [f"ERROR {folder}: not a folder"]
    target = folder / _lock.MANIFEST
    if target.exists() and not force:
        return 2, [f"ERROR {target}: exists; the folder is already locked (use --force to lock it again)"]
    snap = _lock.snapshot(folder)  # validated and locked: the same bytes
    try:
        study = _build(folder, _lock.LockInfo("", "", "", {}, "", locked=False), snap)
    except DataError as exc:
        return 2, [*exc.lines, f"FAIL {folder}: not locked — fix the problems above first"]
    _lock.write_manifest(folder, study_id=study.study_id, generator="app.py lock", rows=study.files, force=force,
                         snap=snap)
    try:
        info = _lock.verify(folder)
    except _lock.LockError as exc:  # a file changed while it was being locked
        return 2, [*(f"ERROR {line}" for line in exc.lines), f"FAIL {folder}: changed while locking; lock again"]
    return 0, [f"LOCKED {target}: {len(info.files)} files, fingerprint {info.short}"]


__all__ = ["Arm", "DataError", "ParamInfo", "Population", "Problem", "Study", "check_folder", "load_study",
           "lock_folder", "read_dataset", "unit_of", "DEFAULT_DATA"]
