"""Readers: one dataset file -> a frame with upper-case columns and honest text.

Formats: parquet, CSV, SAS transport (``.xpt``, v5 and v8) and ``.sas7bdat``. Nothing here
knows ADaM; ``data.adam`` applies its rules to what these functions return.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data import lock as _lock

SAS_EPOCH = pd.Timestamp("1960-01-01")
# Character variables that must never be turned into numbers when read from CSV.
_CHAR_VARS = {"USUBJID", "SUBJID", "STUDYID", "SITEID", "PARAMCD", "PARAM", "AVISIT", "AVALC", "BASEC", "ARM",
              "ACTARM", "TRT01A", "TRT01P", "TRT02A", "TRT02P", "PARCAT1", "PARCAT2", "AETOXGR"}


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
        df, meta = reader(str(path), encoding={"latin-1": "ISO-8859-1"}.get(encoding, encoding.upper()), **opts)
        used = None
    elif kind == "sas7bdat":  # sas7bdat records its encoding in the header
        try:
            df, meta = reader(str(path), **opts)
            used = None
        except UnicodeDecodeError:
            df, meta = reader(str(path), encoding="ISO-8859-1", **opts)
            df, used = _fix_text(df, None)
    else:
        df, meta = reader(str(path), encoding="ISO-8859-1", **opts)
        df, used = _fix_text(df, None)
    df = _sas_dates(df)
    # The file's own labels (dataset and variables), for the pages' words; the loader takes them out of attrs.
    df.attrs = {"label": str(getattr(meta, "file_label", None) or "")[:200],
                "labels": {str(c).upper(): str(lab)[:200] for c, lab in
                           zip(getattr(meta, "column_names", None) or [], getattr(meta, "column_labels", None) or [])
                           if lab}}
    return df, used


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
