"""Load a folder of ADaM datasets into one immutable, validated ``Study``.

load -> lock check -> validate -> normalise (categoricals, arm join) happens once
per process; the frames are then held in memory and shared read-only by every
request (with ``gunicorn --preload`` the workers share the pages too). Nothing
here writes to the dataset folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data import lock as _lock
from data.validate import BDS_REQUIRED, Problem, validate_tables

DEFAULT_DATA = Path(__file__).parent / "lso088"

# Okabe-Ito: distinguishable with every common colour-vision deficiency and
# saturated enough for a projector. (dark, light) per arm, in display order.
ARM_PALETTE = (
    ("#0072B2", "#9ccbe8"),  # blue
    ("#E69F00", "#f5d28a"),  # orange
    ("#009E73", "#8fd6c1"),  # bluish green
    ("#CC79A7", "#ebc4da"),  # reddish purple
    ("#D55E00", "#f0b48a"),  # vermillion
    ("#56B4E9", "#bfe2f6"),  # sky blue
)


class DataError(Exception):
    """The folder cannot be served. ``lines`` holds one readable line per problem."""

    def __init__(self, folder: Path, lines: list[str]):
        self.folder, self.lines = Path(folder), list(lines)
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class Arm:
    code: str
    label: str
    colour: str
    light: str
    n: int


@dataclass(frozen=True)
class ParamInfo:
    code: str
    name: str
    dataset: str
    category: str
    unit: str
    lo: float | None
    hi: float | None
    visits: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class Study:
    folder: Path
    study_id: str
    title: str
    simulated: bool
    lock: _lock.LockInfo
    adsl: pd.DataFrame
    measurements: pd.DataFrame  # all BDS rows, long, with ARM (display label, ordered)
    adae: pd.DataFrame | None
    adex: pd.DataFrame | None
    arms: tuple[Arm, ...]
    params: dict[str, ParamInfo]
    visits: tuple[tuple[float, str], ...]  # (AVISITN, AVISIT) on the time axis
    notes: tuple[str, ...] = field(default=())
    efficacy_flag: str | None = None
    safety_flag: str | None = None

    # -- look-ups used by every page -------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return self.lock.fingerprint

    @property
    def arm_codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.arms)

    @property
    def arm_by_code(self) -> dict[str, Arm]:
        return {a.code: a for a in self.arms}

    @property
    def arm_by_label(self) -> dict[str, Arm]:
        return {a.label: a for a in self.arms}

    @property
    def colours(self) -> dict[str, str]:
        """Arm display label -> colour."""
        return {a.label: a.colour for a in self.arms}

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(self.adsl["USUBJID"].astype(str))

    @property
    def visit_numbers(self) -> tuple[float, ...]:
        return tuple(v for v, _ in self.visits)

    def visit_label(self, avisitn: float) -> str:
        return dict(self.visits).get(avisitn, f"Week {avisitn:g}")


# -- reading ----------------------------------------------------------------------------
def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path, low_memory=False)
    if suffix == ".xpt":  # SAS transport carries no encoding; SAS on Windows writes cp1252
        return pd.read_sas(path, format="xport", encoding="cp1252")
    if suffix == ".sas7bdat":
        return pd.read_sas(path, format="sas7bdat", encoding="infer")
    raise ValueError(f"unsupported format {suffix}")


def _read_folder(folder: Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    tables, errors = {}, []
    for p in _lock.data_files(folder):
        if p.suffix.lower() == ".toml":
            continue
        name = p.stem.lower()
        if name in tables:
            errors.append(f"ERROR {p.name}: a dataset named {name.upper()} was already read from another file")
            continue
        try:
            df = _read_table(p)
        except Exception as exc:  # any reader failure is a verdict on that file, not a crash
            errors.append(f"ERROR {p.name}: not readable as {p.suffix.lstrip('.')} ({type(exc).__name__}: {exc})")
            continue
        df.columns = [str(c).upper() for c in df.columns]
        tables[name] = df
    return tables, errors


_UNIT_RE = re.compile(r"\(([^()]*)\)\s*$")


def unit_of(param: str) -> str:
    """ADaM puts the unit in PARAM's trailing parentheses: 'IgG (g/L)' -> 'g/L'."""
    m = _UNIT_RE.search(param)
    return m.group(1) if m else ""


def _arm_order(adsl: pd.DataFrame, arm_col: str) -> list[str]:
    num = arm_col + "N"
    if num in adsl.columns:
        order = adsl.groupby(arm_col, observed=True)[num].min().sort_values()
        return [str(a) for a in order.index]
    return sorted(adsl[arm_col].astype(str).unique())


def _arm_codes(adsl: pd.DataFrame, arm_col: str, labels: list[str]) -> dict[str, str]:
    """Short, URL-safe code per arm: ARMCD when it maps one-to-one, else a slug of the label."""
    if "ARMCD" in adsl.columns:
        pairs = adsl[[arm_col, "ARMCD"]].astype(str).drop_duplicates()
        if pairs[arm_col].is_unique and pairs["ARMCD"].is_unique:
            return dict(zip(pairs[arm_col], pairs["ARMCD"]))
    return {lab: re.sub(r"[^A-Za-z0-9]+", "-", lab).strip("-").upper() or f"ARM{i}" for i, lab in enumerate(labels)}


def _pick(cols, *names):
    return next((n for n in names if n in cols), None)


def load_study(folder: Path | str = DEFAULT_DATA) -> Study:
    """Read, lock-check and validate ``folder``. Raises DataError (lines) or LockError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, [f"ERROR {folder}: not a folder"])
    lock_info = _lock.verify(folder)
    tables, errors = _read_folder(folder)
    if "adsl" not in tables:
        errors.append(f"ERROR {folder}: no ADSL dataset (adsl.parquet, .csv, .xpt or .sas7bdat) — it is required")
    if errors:
        raise DataError(folder, errors)

    adsl = tables.pop("adsl")
    arm_col = _pick(adsl.columns, "TRT01A", "TRT01P", "ARM") or "TRT01A"
    adae = tables.pop("adae", None)
    adex = tables.pop("adex", None)
    bds = {f"{k.upper()}": v for k, v in tables.items() if set(BDS_REQUIRED) - {"AVISITN"} <= set(v.columns)}

    problems = validate_tables(adsl, bds, adae, arm_col)
    fatal = [str(p) for p in problems if p.fatal]
    if fatal:
        raise DataError(folder, fatal)
    notes = [str(p) for p in problems if not p.fatal]

    # -- normalise ---------------------------------------------------------------------
    adsl = adsl.copy()
    adsl["USUBJID"] = adsl["USUBJID"].astype(str)
    eff_flag = _pick(adsl.columns, "EFFFL", "ITTFL", "FASFL")
    saf_flag = _pick(adsl.columns, "SAFFL")
    labels = _arm_order(adsl, arm_col)
    codes = _arm_codes(adsl, arm_col, labels)
    adsl["ARM_LABEL"] = pd.Categorical(adsl[arm_col].astype(str), categories=labels, ordered=True)
    adsl["ARMCODE"] = adsl[arm_col].astype(str).map(codes)
    counts = adsl["ARM_LABEL"].value_counts()
    arms = tuple(
        Arm(codes[lab], lab, *ARM_PALETTE[i % len(ARM_PALETTE)], n=int(counts.get(lab, 0)))
        for i, lab in enumerate(labels)
    )
    subj_arm = adsl.set_index("USUBJID")["ARM_LABEL"]
    subjects = pd.CategoricalDtype(sorted(adsl["USUBJID"]))

    frames = []
    for name, df in bds.items():
        df = df.copy()
        if "ANL01FL" in df.columns:
            df = df[df["ANL01FL"].astype(str) == "Y"]
        df["DATASET"] = name
        frames.append(df)
    if frames:
        meas = pd.concat(frames, ignore_index=True)
        meas["USUBJID"] = meas["USUBJID"].astype(str)
        meas["ARM"] = meas["USUBJID"].map(subj_arm).astype(adsl["ARM_LABEL"].dtype)
        for col in ("AVAL", "AVISITN", "BASE", "CHG", "PCHG", "ANRLO", "ANRHI", "ADY"):
            if col in meas.columns:
                meas[col] = pd.to_numeric(meas[col], errors="coerce").astype("float64")
        meas = _derive_baseline(meas)
        params = _param_catalogue(meas)  # before categoricals: keeps the files' parameter order
        for col in ("PARAMCD", "PARAM", "AVISIT", "PARCAT1", "DATASET"):
            if col in meas.columns:
                meas[col] = meas[col].astype(str).astype("category")
        meas["USUBJID"] = meas["USUBJID"].astype(subjects)
        keep = [c for c in ("DATASET", "USUBJID", "ARM", "PARCAT1", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADY",
                            "AVAL", "BASE", "CHG", "PCHG", "ABLFL", "ANRLO", "ANRHI") if c in meas.columns]
        meas = meas[keep].sort_values(["PARAMCD", "USUBJID", "AVISITN"]).reset_index(drop=True)
    else:
        meas = pd.DataFrame(columns=["DATASET", "USUBJID", "ARM", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "AVAL"])
        params = {}

    visit_tab = meas.dropna(subset=["AVISITN"])[["AVISITN", "AVISIT"]].drop_duplicates("AVISITN").sort_values("AVISITN")
    visits = tuple((float(n), str(v)) for n, v in zip(visit_tab["AVISITN"], visit_tab["AVISIT"]))

    if adae is not None:
        adae = adae.copy()
        adae["USUBJID"] = adae["USUBJID"].astype(str)
        adae["ARM"] = adae["USUBJID"].map(subj_arm).astype(adsl["ARM_LABEL"].dtype)
    if adex is not None:
        adex = adex.copy()
        adex["USUBJID"] = adex["USUBJID"].astype(str)
        adex["ARM"] = adex["USUBJID"].map(subj_arm).astype(adsl["ARM_LABEL"].dtype)

    extra = lock_info.extra or {}
    study_id = lock_info.study_id or (str(adsl["STUDYID"].iloc[0]) if "STUDYID" in adsl.columns else folder.name)
    if not lock_info.locked:
        notes.insert(0, f"WARNING {folder.name}: no {_lock.MANIFEST} — this dataset is not locked")
    return Study(
        folder=folder,
        study_id=study_id,
        title=str(extra.get("title", study_id)),
        simulated=bool(extra.get("simulated", False)),
        lock=lock_info,
        adsl=adsl,
        measurements=meas,
        adae=adae,
        adex=adex,
        arms=arms,
        params=params,
        visits=visits,
        notes=tuple(notes),
        efficacy_flag=eff_flag,
        safety_flag=saf_flag,
    )


def _derive_baseline(meas: pd.DataFrame) -> pd.DataFrame:
    """BASE/CHG/PCHG as ADaM defines them, derived where the file does not carry them."""
    if {"BASE", "CHG", "PCHG"} <= set(meas.columns):
        return meas
    if "ABLFL" in meas.columns:
        is_base = meas["ABLFL"].astype(str) == "Y"
    else:
        is_base = meas["AVISITN"] == 0
    base = meas[is_base].drop_duplicates(["USUBJID", "PARAMCD"]).set_index(["USUBJID", "PARAMCD"])["AVAL"]
    key = pd.MultiIndex.from_frame(meas[["USUBJID", "PARAMCD"]].astype(str))
    meas["BASE"] = key.map(base).astype("float64") if "BASE" not in meas.columns else meas["BASE"]
    post = ~is_base
    if "CHG" not in meas.columns:
        meas["CHG"] = np.where(post, meas["AVAL"] - meas["BASE"], np.nan)
    if "PCHG" not in meas.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            meas["PCHG"] = np.where(post & (meas["BASE"] != 0), 100 * meas["CHG"] / meas["BASE"], np.nan)
    return meas


def _param_catalogue(meas: pd.DataFrame) -> dict[str, ParamInfo]:
    out = {}
    if meas.empty:
        return out
    if "PARAMN" in meas.columns:  # ADaM's own display order of parameters
        meas = meas.sort_values("PARAMN", kind="stable")
    for code, d in meas.groupby("PARAMCD", sort=False):
        first = d.iloc[0]
        lo = d["ANRLO"].dropna() if "ANRLO" in d.columns else pd.Series(dtype=float)
        hi = d["ANRHI"].dropna() if "ANRHI" in d.columns else pd.Series(dtype=float)
        out[str(code)] = ParamInfo(
            code=str(code),
            name=str(first["PARAM"]),
            dataset=str(first["DATASET"]),
            category=str(first["PARCAT1"]) if "PARCAT1" in d.columns else str(first["DATASET"]),
            unit=unit_of(str(first["PARAM"])),
            lo=float(lo.iloc[0]) if len(lo) else None,
            hi=float(hi.iloc[0]) if len(hi) else None,
            visits=tuple(sorted(float(v) for v in d["AVISITN"].dropna().unique())),
        )
    return out


__all__ = ["Arm", "DataError", "ParamInfo", "Problem", "Study", "load_study", "unit_of", "DEFAULT_DATA"]
