"""Readers: one dataset file -> a frame with upper-case columns and honest text.

Formats: parquet, CSV, SAS transport (``.xpt``, v5 and v8) and ``.sas7bdat``. Nothing here
knows ADaM; ``data.adam`` applies its rules to what these functions return.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from data import config as _config
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


def _read_sas(raw: bytes, kind: str, encoding: str | None) -> tuple[pd.DataFrame, str | None]:
    """Parse the bytes (already hashed by the lock check) of a SAS transport or sas7bdat file."""
    import pyreadstat

    reader = pyreadstat.read_xport if kind == "xport" else pyreadstat.read_sas7bdat
    opts = dict(dates_as_pandas_datetime=True)
    if encoding:
        df, meta = reader(io.BytesIO(raw), encoding={"latin-1": "ISO-8859-1"}.get(encoding, encoding.upper()), **opts)
        used = None
    elif kind == "sas7bdat":  # sas7bdat records its encoding in the header
        try:
            df, meta = reader(io.BytesIO(raw), **opts)
            used = None
        except UnicodeDecodeError:
            df, meta = reader(io.BytesIO(raw), encoding="ISO-8859-1", **opts)
            df, used = _fix_text(df, None)
    else:
        df, meta = reader(io.BytesIO(raw), encoding="ISO-8859-1", **opts)
        df, used = _fix_text(df, None)
    if kind == "xport":
        expected = xpt_rows(raw)
    else:
        expected = getattr(meta, "number_rows", None)
    if expected is not None and expected != len(df):
        raise ValueError(f"the file's structure holds {expected:,} observations but {len(df):,} were read: "
                         f"the file is truncated or damaged")
    df = _sas_dates(df)
    # The file's own labels (dataset and variables), for the pages' words; the loader takes them out of attrs.
    df.attrs = {"label": str(getattr(meta, "file_label", None) or "")[:200],
                "labels": {str(c).upper(): str(lab)[:200] for c, lab in
                           zip(getattr(meta, "column_names", None) or [], getattr(meta, "column_labels", None) or [])
                           if lab}}
    return df, used


# -- SAS transport structure (TS-140): 80-byte records; NAMESTR gives each variable's length and
# position in an observation; observations follow the OBS header, blank-padded to 80 bytes.
_XPT_HEAD = b"HEADER RECORD*******"


def xpt_rows(raw: bytes) -> int:
    """Observations in the first member of a SAS transport file, from its structure alone.

    Raises ValueError when the bytes cannot be a whole file: not a whole number of 80-byte
    records, a partial last observation, or (v8) fewer observations than the OBSV8 header
    counts. A v5 file cut exactly at an observation boundary is whole by structure; the row
    count in LOCK.json catches that one.
    """
    if len(raw) % 80:
        raise ValueError(f"{len(raw):,} bytes is not a whole number of 80-byte records: the file is truncated")
    recs = range(0, len(raw), 80)

    def find(tags: tuple[bytes, ...], start: int) -> int | None:
        for i in recs:
            if i >= start and raw[i:i + 20] == _XPT_HEAD and raw[i + 20:i + 28] in tags:
                return i
        return None

    member = find((b"MEMBER  ", b"MEMBV8  "), 0)
    names = find((b"NAMESTR ", b"NAMSTV8 "), 0)
    if member is None or names is None:
        raise ValueError("no MEMBER/NAMESTR header records: not a SAS transport file, or truncated")
    try:
        nlen = int(raw[member + 74:member + 78])  # 140 (136 on VAX)
        nvars = int(raw[names + 54:names + 58])
    except ValueError:
        raise ValueError("unreadable MEMBER/NAMESTR header record") from None
    first = names + 80
    if nlen not in (136, 140) or nvars < 1 or first + nvars * nlen > len(raw):
        raise ValueError("variable descriptors (NAMESTR) cut short: the file is truncated")
    obs_len = 0
    for k in range(nvars):
        d = raw[first + k * nlen:first + (k + 1) * nlen]
        length, pos = int.from_bytes(d[4:6], "big"), int.from_bytes(d[84:88], "big")
        obs_len = max(obs_len, pos + length)
    obs = find((b"OBS     ", b"OBSV8   "), first + nvars * nlen - 80)
    if obs is None or obs_len < 1:
        raise ValueError("no OBS header record: the file is truncated")
    nxt = find((b"MEMBER  ", b"MEMBV8  "), obs + 80)
    data = raw[obs + 80:nxt if nxt is not None else len(raw)]
    n, rem = divmod(len(data), obs_len)
    if rem and data[len(data) - rem:].strip(b" "):
        raise ValueError(f"the last observation is cut short ({rem} of {obs_len} bytes): the file is truncated")
    # Blank padding (under 80 bytes) may hold whole "observations" of spaces: they are not rows.
    while n and rem + obs_len < 80 and not data[(n - 1) * obs_len:n * obs_len].strip(b" "):
        n -= 1
        rem += obs_len
    counted = raw[obs + 48:obs + 80].strip()
    if raw[obs + 20:obs + 28] == b"OBSV8   " and counted.isdigit() and int(counted) != n:
        raise ValueError(f"the OBSV8 header counts {int(counted):,} observations, the file holds {n:,}: "
                         f"the file is truncated")
    return n


def _is_char_var(name: str) -> bool:
    return name in _CHAR_VARS or name.endswith(("FL", "CD", "ID"))


def _read_csv(raw: bytes, encoding: str | None) -> tuple[pd.DataFrame, str | None]:
    """Every column as text first, so '001' stays '001'; then numbers and ISO dates where every value is one."""
    used = None
    if encoding:  # as told; a byte that is not valid there is a verdict on the file
        df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding=encoding)
    else:
        for enc in ("utf-8-sig", "cp1252", "latin-1"):  # latin-1 decodes any byte: the loop always ends
            try:
                df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding=enc)
                used = enc if enc != "utf-8-sig" else None
                break
            except UnicodeDecodeError:
                continue
    df.columns = _upper_columns(df.columns)
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


def read_dataset(path: Path, encoding: str | None = None, raw: bytes | None = None) -> tuple[pd.DataFrame, str | None]:
    """One data file as a frame with upper-case column names, and the text encoding guessed (or None).

    ``raw``: the file's bytes as read (and hashed) by the lock check; parsed instead of the file,
    so what is served is what was hashed. Without it the file is read here, with the size limit.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", ".xpt", ".sas7bdat"):
        raise ValueError(f"unsupported format {suffix}")
    if raw is None:
        raw = _lock.read_limited(path, _lock.max_file_bytes())
    if suffix == ".parquet":
        df, used = pd.read_parquet(io.BytesIO(raw)), None
    elif suffix == ".csv":
        df, used = _read_csv(raw, encoding)
    elif suffix == ".xpt":
        df, used = _read_sas(raw, "xport", encoding)
    else:
        df, used = _read_sas(raw, "sas7bdat", encoding)
    df.columns = _upper_columns(df.columns)
    return df, used


def _upper_columns(columns) -> list[str]:
    """Upper-case names; two columns that differ only by case (AVAL, aval) are a verdict on the file."""
    upper = [str(c).strip().upper() for c in columns]
    if len(set(upper)) < len(upper):
        seen: dict[str, str] = {}
        for orig, up in zip(columns, upper):
            if up in seen:
                raise ValueError(f"columns {seen[up]} and {orig} have the same name but for case; "
                                 f"variable names must be unique")
            seen[up] = str(orig)
    return upper


def read_config(folder: Path, snap: _lock.Snapshot) -> _config.StudyConfig:
    """The folder's study.toml from the snapshot's bytes (the ones hashed), or the defaults."""
    if _config.CONFIG_FILE not in snap.hashes:
        return _config.StudyConfig()
    raw = snap.data.get(_config.CONFIG_FILE, b"")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _config.ConfigError([f"ERROR {_config.CONFIG_FILE}: unreadable (UnicodeDecodeError: {exc})"]) from None
    return _config.parse(text)


def _one_line(exc: Exception, path: Path) -> str:
    text = " ".join(str(exc).replace(str(path), path.name).split())
    return f"{type(exc).__name__}: {text[:160]}" + ("…" if len(text) > 160 else "")


def _read_folder(folder: Path, encoding: str | None, snap: _lock.Snapshot | None = None,
                 locked_rows: dict | None = None):
    """{DATASET: (file name, frame)}, error lines, note lines, lock error lines.

    ``snap``: the bytes the lock check hashed (read here when not given); ``locked_rows``: the
    row count LOCK.json records per file, compared with the rows read: a mismatch is a lock error
    (the app stops), whereas a file that cannot be read is a verdict on that dataset alone.
    """
    if snap is None:
        snap = _lock.snapshot(folder)
    tables, errors, notes, lock_errors = {}, list(snap.errors), [], []
    for p in _lock.data_files(folder):
        if p.suffix.lower() == ".toml" or p.name not in snap.hashes:
            continue
        raw = snap.take(p.name)  # the hashed bytes, parsed once; never the file as it is now
        name = p.stem.upper()
        if raw is None:
            errors.append(f"ERROR {p.name}: already parsed from this snapshot (read the folder again)")
            continue
        if name in tables:
            errors.append(f"ERROR {p.name}: dataset {name} was already read from {tables[name][0]}; "
                          f"keep one file per dataset")
            continue
        try:
            df, used = read_dataset(p, encoding, raw=raw)
        except Exception as exc:  # any reader failure is a verdict on that file, not a crash
            errors.append(f"ERROR {p.name}: not readable as {p.suffix.lstrip('.')} ({_one_line(exc, p)})")
            continue
        finally:
            del raw
        want = ((locked_rows or {}).get(p.name) or {}).get("rows")
        if want is not None and want != len(df):
            lock_errors.append(f"ERROR {p.name}: {len(df):,} rows read, {_lock.MANIFEST} records {want:,}: "
                          f"the file is not the one that was locked, or was read differently")
            continue
        if used and used != "utf-8":
            notes.append(f"NOTE {p.name}: character data decoded as {used} (the file does not say; "
                         f"set [study] encoding in study.toml to change)")
        tables[name] = (p.name, df)
    return tables, errors, notes, lock_errors
