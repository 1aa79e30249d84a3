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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data import config as _config
from data import lock as _lock
from data.validate import (BDS_REQUIRED, Problem, _examples, _rows, analysis_rows, validate_tables,
                           visit_on_axis)

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
SAS_EPOCH = pd.Timestamp("1960-01-01")
# Character variables that must never be turned into numbers when read from CSV.
_CHAR_VARS = {"USUBJID", "SUBJID", "STUDYID", "SITEID", "PARAMCD", "PARAM", "AVISIT", "AVALC", "BASEC", "ARM",
              "ACTARM", "TRT01A", "TRT01P", "TRT02A", "TRT02P", "PARCAT1", "PARCAT2", "AETOXGR"}
_CONTROL_HINT = re.compile(r"placebo|control|standard of care|vehicle|\bsoc\b", re.IGNORECASE)


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


@dataclass(frozen=True)
class Population:
    """The subjects a group of pages analyses, chosen by an ADSL flag (= "Y")."""

    kind: str  # "efficacy" or "safety"
    flag: str | None  # ADSL variable; None = every subject
    n: int
    total: int
    subjects: frozenset = frozenset()

    @property
    def text(self) -> str:
        if self.flag is None:
            return f"{self.kind.capitalize()} population: all {self.total} subjects (no population flag)"
        return f"{self.kind.capitalize()} population: {self.flag} = 'Y' ({self.n} of {self.total} subjects)"


@dataclass(frozen=True, eq=False)
class Study:
    folder: Path
    study_id: str
    title: str
    simulated: bool
    lock: _lock.LockInfo
    adsl: pd.DataFrame
    measurements: pd.DataFrame  # BDS analysis rows on the time axis, long, with ARM (display label, ordered)
    adae: pd.DataFrame | None
    adex: pd.DataFrame | None
    arms: tuple[Arm, ...]
    params: dict[str, ParamInfo]
    visits: tuple[tuple[float, str], ...]  # (AVISITN, AVISIT) on the time axis
    notes: tuple[str, ...] = field(default=())
    efficacy_flag: str | None = None
    safety_flag: str | None = None
    # -- what the defaults or study.toml chose ------------------------------------------
    arm_variable: str = "TRT01A"
    reference_arm: str | None = None  # arm code
    baseline_visit: float | None = None
    end_visit: float | None = None
    populations: dict = field(default_factory=dict)  # "efficacy"/"safety" -> Population
    off_axis: pd.DataFrame | None = None  # analysis rows at unscheduled/derived visits (not on the time axis)
    page_sources: dict = field(default_factory=dict)  # page id -> config.PageSource
    files: dict = field(default_factory=dict)  # file name -> rows read
    datasets: dict = field(default_factory=dict)  # dataset name -> file name, for the datasets used
    ae_vars: dict = field(default_factory=dict)  # role -> ADAE variable (None when absent)
    config: _config.StudyConfig = field(default_factory=_config.StudyConfig)

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
    def reference(self) -> Arm | None:
        """The reference arm for between-arm comparisons (study.toml [arms] reference)."""
        return self.arm_by_code.get(self.reference_arm) if self.reference_arm else None

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(self.adsl["USUBJID"].astype(str))

    @property
    def visit_numbers(self) -> tuple[float, ...]:
        return tuple(v for v, _ in self.visits)

    def visit_label(self, avisitn: float) -> str:
        return dict(self.visits).get(avisitn, f"Week {avisitn:g}")

    def population(self, kind: str) -> Population | None:
        return self.populations.get(kind)

    def params_for(self, page: str) -> dict[str, ParamInfo]:
        """The parameters a page offers: study.toml [pages.<page>] datasets / parcat1, else all."""
        src = self.page_sources.get(page)
        if src is None:
            return dict(self.params)
        return {c: p for c, p in self.params.items()
                if (not src.datasets or p.dataset in src.datasets) and (not src.parcat1 or p.category in src.parcat1)}


# -- reading ----------------------------------------------------------------------------
def _fix_text(df: pd.DataFrame, encoding: str | None) -> tuple[pd.DataFrame, str | None]:
    """Strings read byte-for-byte as latin-1 -> text. UTF-8 when every value is valid UTF-8, else cp1252.

    SAS transport files carry no encoding; a SAS session in UTF-8 writes UTF-8, one in
    WLATIN1 (the Windows default) writes cp1252. Returns the encoding used when the
    file had non-ASCII text, else None.
    """
    cols = [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]
    uniques = {c: pd.unique(df[c].dropna()) for c in cols}
    non_ascii = [v for vals in uniques.values() for v in vals if isinstance(v, str) and not v.isascii()]
    if not non_ascii:
        return df, None
    if encoding is None:
        try:
            for v in non_ascii:
                v.encode("latin-1").decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"

    def dec(v):
        if not isinstance(v, str) or v.isascii():
            return v
        raw = v.encode("latin-1")
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
            return raw.decode("latin-1")

    df = df.copy()
    for c in cols:
        if any(isinstance(v, str) and not v.isascii() for v in uniques[c]):
            codes, labels = pd.factorize(df[c])
            fixed = np.array([dec(v) for v in labels], dtype=object)
            df[c] = pd.Series(np.where(codes >= 0, fixed[np.maximum(codes, 0)], None), index=df.index, dtype="str")
    return df, encoding


def _sas_dates(df: pd.DataFrame) -> pd.DataFrame:
    """ADaM *DT (days) and *DTM (seconds) numerics that carry no SAS date format -> datetimes."""
    for c in df.columns:
        s = df[c]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        if c.endswith("DTM") and (s.dropna().abs() < 1e10).all():
            df[c] = SAS_EPOCH + pd.to_timedelta(s, unit="s")
        elif c.endswith("DT") and (s.dropna().abs() < 100_000).all():
            df[c] = SAS_EPOCH + pd.to_timedelta(s.round(), unit="D")
    return df


def _read_sas(path: Path, kind: str, encoding: str | None) -> tuple[pd.DataFrame, str | None]:
    import pyreadstat

    reader = pyreadstat.read_xport if kind == "xport" else pyreadstat.read_sas7bdat
    opts = dict(dates_as_pandas_datetime=True)
    if encoding:
        df, _ = reader(str(path), encoding={"latin-1": "ISO-8859-1"}.get(encoding, encoding.upper()), **opts)
        used = None
    elif kind == "sas7bdat":  # sas7bdat records its encoding in the header
        try:
            df, _ = reader(str(path), **opts)
            used = None
        except UnicodeDecodeError:
            df, _ = reader(str(path), encoding="ISO-8859-1", **opts)
            df, used = _fix_text(df, None)
    else:
        df, _ = reader(str(path), encoding="ISO-8859-1", **opts)
        df, used = _fix_text(df, None)
    return _sas_dates(df), used


def _is_char_var(name: str) -> bool:
    return name in _CHAR_VARS or name.endswith(("FL", "CD", "ID"))


def _read_csv(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str | None]:
    """Every column as text first, so '001' stays '001'; then numbers and ISO dates where every value is one."""
    used = None
    if encoding:  # as told; a byte that is not valid there is a verdict on the file
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
    else:
        for enc in ("utf-8-sig", "cp1252", "latin-1"):  # latin-1 decodes any byte: the loop always ends
            try:
                df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc)
                used = enc if enc != "utf-8-sig" else None
                break
            except UnicodeDecodeError:
                continue
    df.columns = [str(c).strip().upper() for c in df.columns]
    for c in df.columns:
        s = df[c]
        blank = s.str.strip() == ""
        if blank.all():
            continue
        if c.endswith(("DT", "DTM")) and not _is_char_var(c):
            d = pd.to_datetime(s.where(~blank), format="ISO8601", errors="coerce")
            if d[~blank].notna().all():
                df[c] = d
                continue
        if _is_char_var(c):
            continue
        num = pd.to_numeric(s.where(~blank), errors="coerce")
        if num[~blank].notna().all():
            df[c] = num.astype("float64") if num.isna().any() else num
    return df, used


def read_dataset(path: Path, encoding: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """One data file as a frame with upper-case column names, and the text encoding guessed (or None)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        df, used = pd.read_parquet(path), None
    elif suffix == ".csv":
        df, used = _read_csv(path, encoding)
    elif suffix == ".xpt":
        df, used = _read_sas(path, "xport", encoding)
    elif suffix == ".sas7bdat":
        df, used = _read_sas(path, "sas7bdat", encoding)
    else:
        raise ValueError(f"unsupported format {suffix}")
    df.columns = [str(c).upper() for c in df.columns]
    return df, used


def _one_line(exc: Exception, path: Path) -> str:
    text = " ".join(str(exc).replace(str(path), path.name).split())
    return f"{type(exc).__name__}: {text[:160]}" + ("…" if len(text) > 160 else "")


def _read_folder(folder: Path, encoding: str | None):
    """{DATASET: (file name, frame)}, error lines, note lines."""
    tables, errors, notes = {}, [], []
    for p in _lock.data_files(folder):
        if p.suffix.lower() == ".toml":
            continue
        name = p.stem.upper()
        if name in tables:
            errors.append(f"ERROR {p.name}: dataset {name} was already read from {tables[name][0]}; "
                          f"keep one file per dataset")
            continue
        try:
            df, used = read_dataset(p, encoding)
        except Exception as exc:  # any reader failure is a verdict on that file, not a crash
            errors.append(f"ERROR {p.name}: not readable as {p.suffix.lstrip('.')} ({_one_line(exc, p)})")
            continue
        if used and used != "utf-8":
            notes.append(f"NOTE {p.name}: character data decoded as {used} (the file does not say; "
                         f"set [study] encoding in study.toml to change)")
        tables[name] = (p.name, df)
    return tables, errors, notes


_UNIT_RE = re.compile(r"\(([^()]*)\)\s*$")


def unit_of(param: str) -> str:
    """ADaM puts the unit in PARAM's trailing parentheses: 'IgG (g/L)' -> 'g/L'."""
    m = _UNIT_RE.search(param)
    return m.group(1) if m else ""


def _arm_order(adsl: pd.DataFrame, arm_col: str) -> list[str]:
    num = arm_col + "N"
    if num in adsl.columns and pd.api.types.is_numeric_dtype(adsl[num]):
        order = adsl.groupby(adsl[arm_col].astype(str))[num].min().sort_values(kind="stable")
        return [str(a) for a in order.index]
    return sorted(adsl[arm_col].astype(str).unique())


def _arm_codes(adsl: pd.DataFrame, arm_col: str, labels: list[str]) -> dict[str, str]:
    """Short, URL-safe code per arm: ARMCD when it maps one-to-one, else a slug of the label."""
    if "ARMCD" in adsl.columns:
        pairs = adsl[[arm_col, "ARMCD"]].astype(str).drop_duplicates()
        if pairs[arm_col].is_unique and pairs["ARMCD"].is_unique and set(pairs[arm_col]) >= set(labels) \
                and pairs["ARMCD"].str.fullmatch(r"[A-Za-z0-9_-]+").all():
            return dict(zip(pairs[arm_col], pairs["ARMCD"]))
    codes: dict[str, str] = {}
    for i, lab in enumerate(labels):
        code = re.sub(r"[^A-Za-z0-9]+", "-", lab).strip("-").upper()[:24] or f"ARM{i + 1}"
        codes[lab] = code if code not in codes.values() else f"{code}-{i + 1}"
    return codes


def _lighten(hex_colour: str, amount: float = 0.55) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in (r, g, b))


def _pick(cols, *names):
    return next((n for n in names if n in cols), None)


def load_study(folder: Path | str = DEFAULT_DATA) -> Study:
    """Read, lock-check and validate ``folder``. Raises DataError (lines) or LockError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, [f"ERROR {folder}: not a folder"])
    study = _build(folder, _lock.verify(folder))
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


def _prepare_bds(df: pd.DataFrame, file: str, cfg: _config.StudyConfig, notes: list[str]):
    """Baseline flag and visit placement on a copy of one BDS frame; returns (frame, axis mask).

    Lenient: values that are not numeric are left for validation to report.
    """
    df = df.copy()
    numeric_visits = pd.api.types.is_numeric_dtype(df["AVISITN"])
    num = pd.to_numeric(df["AVISITN"], errors="coerce")
    if "AVISIT" not in df.columns:
        df["AVISIT"] = ["" if pd.isna(n) else f"Week {n:g}" for n in num]
    names = df["AVISIT"].astype(str)
    if numeric_visits and cfg.visit_weeks:
        for visit, week in cfg.visit_weeks.items():
            df.loc[names == visit, "AVISITN"] = week
        num = pd.to_numeric(df["AVISITN"], errors="coerce")
    scheduled = visit_on_axis(df, cfg.include_visits)

    # Baseline: ABLFL = "Y", else the configured visit, else AVISITN 0, else the visit named Baseline.
    if "ABLFL" in df.columns and (df["ABLFL"].astype(str) == "Y").any():
        abl = df["ABLFL"].astype(str) == "Y"
    else:
        how, abl = None, pd.Series(False, index=df.index)
        b = cfg.baseline_visit
        if b is not None:
            abl = (num == b) if isinstance(b, float) else (names == b)
            how = f"study.toml [visits] baseline = {b!r}"
        if not abl.any() and (num == 0).any():
            abl, how = num == 0, "AVISITN = 0"
        if not abl.any() and names.str.lower().eq("baseline").any():
            abl, how = names.str.lower().eq("baseline"), "the visit named Baseline"
        if abl.any():
            notes.append(f"NOTE {file}: no ABLFL; baseline records are those at {how}")
        else:
            notes.append(f"WARNING {file}: no baseline records (no ABLFL, no AVISITN 0, no visit named Baseline): "
                         f"change from baseline is not available")
        df["ABLFL"] = np.where(abl, "Y", "")
    # A baseline taken at an unscheduled visit is drawn at the baseline visit.
    off = abl & ~scheduled
    if off.any() and numeric_visits:
        sched_abl = num[abl & scheduled]
        base_n = float(sched_abl.mode().iloc[0]) if len(sched_abl) else 0.0
        at = (num == base_n) & scheduled
        label = str(names[at].iloc[0]) if at.any() else "Baseline"
        df.loc[off, "AVISITN"] = base_n
        df.loc[off, "AVISIT"] = label
    axis = analysis_rows(df) & (scheduled | abl)
    return df, axis


def _derive_baseline(meas: pd.DataFrame) -> pd.DataFrame:
    """BASE/CHG/PCHG as ADaM defines them, derived where the file does not carry them."""
    if {"BASE", "CHG", "PCHG"} <= set(meas.columns):
        return meas
    is_base = meas["ABLFL"].astype(str) == "Y"
    if "BASE" not in meas.columns:
        keys = [meas["USUBJID"].astype(str), meas["PARAMCD"].astype(str)]
        meas["BASE"] = meas["AVAL"].where(is_base).groupby(keys, sort=False).transform("first").astype("float64")
    post = ~is_base
    if "CHG" not in meas.columns:
        meas["CHG"] = np.where(post, meas["AVAL"] - meas["BASE"], np.nan)
    if "PCHG" not in meas.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            meas["PCHG"] = np.where(post & (meas["BASE"] != 0), 100 * meas["CHG"] / meas["BASE"], np.nan)
    return meas


def _visit_number(v, visits: dict[float, str], where: str, errors: list[str]) -> float | None:
    if isinstance(v, float):
        if v in visits:
            return v
    else:
        by_name = {name: n for n, name in visits.items()}
        if v in by_name:
            return by_name[v]
    known = ", ".join(f"{name!r} ({n:g})" for n, name in list(visits.items())[:12])
    errors.append(f"ERROR study.toml [visits] {where}: {v!r} is not a visit on the time axis (visits: {known})")
    return None


def _build(folder: Path, lock_info: _lock.LockInfo) -> Study:
    try:
        cfg = _config.load(folder)
    except _config.ConfigError as exc:
        raise DataError(folder, exc.lines) from None
    tables, errors, notes = _read_folder(folder, cfg.encoding)
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
        if bad and not cfg.arm_order:
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


def _param_catalogue(meas: pd.DataFrame) -> dict[str, ParamInfo]:
    out = {}
    if meas.empty:
        return out
    if "PARAMN" in meas.columns:  # ADaM's own display order of parameters
        meas = meas.sort_values("PARAMN", kind="stable")
    has_unit = "AVALU" in meas.columns
    for code, d in meas.groupby("PARAMCD", sort=False):
        first = d.iloc[0]
        lo = d["ANRLO"].dropna() if "ANRLO" in d.columns else pd.Series(dtype=float)
        hi = d["ANRHI"].dropna() if "ANRHI" in d.columns else pd.Series(dtype=float)
        unit = unit_of(str(first["PARAM"]))
        if not unit and has_unit:
            u = d["AVALU"].dropna().astype(str).str.strip()
            unit = u[u != ""].iloc[0] if (u != "").any() else ""
        out[str(code)] = ParamInfo(
            code=str(code),
            name=str(first["PARAM"]),
            dataset=str(first["DATASET"]),
            category=str(first["PARCAT1"]),
            unit=unit,
            lo=float(lo.iloc[0]) if len(lo) else None,
            hi=float(hi.iloc[0]) if len(hi) else None,
            visits=tuple(sorted(float(v) for v in d["AVISITN"].dropna().unique())),
        )
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
    try:
        study = _build(folder, _lock.LockInfo("", "", "", {}, "", locked=False))
    except DataError as exc:
        return 2, [*exc.lines, f"FAIL {folder}: not locked — fix the problems above first"]
    _lock.write_manifest(folder, study_id=study.study_id, generator="app.py lock", rows=study.files, force=force)
    info = _lock.verify(folder)
    return 0, [f"LOCKED {target}: {len(info.files)} files, fingerprint {info.short}"]


__all__ = ["Arm", "DataError", "ParamInfo", "Population", "Problem", "Study", "check_folder", "load_study",
           "lock_folder", "read_dataset", "unit_of", "DEFAULT_DATA"]
