"""The start cache: a validated Study kept as columnar data, so the next start skips parsing.

Reading and validating a large folder of SAS transport files takes tens of seconds; hashing
it takes about one. After the first validated load of a folder, ``store`` keeps the Study's
normalised frames as Arrow IPC files and its other fields as tagged JSON (``data.codec``)
under the app's own state directory. The next start of the same folder, with the same bytes
and the same code, ``load``s them instead of parsing the files again.

What is never weakened:
- **The lock.** Every file is still read and hashed at every start (``data.lock.snapshot``)
  and checked against ``LOCK.json`` before the cache is looked at. The entry's key is the
  SHA-256 of everything the Study was built from: each file's SHA-256 (``study.toml``
  included), the lock manifest's fingerprint, the folder, the code of the data layer and the
  versions of the libraries that parse and normalise (``code_version``). A changed byte, a
  changed ``study.toml``, a new manifest or new code gives another key: a miss, never a stale
  Study.
- **Trust.** Nothing is unpickled. An entry is Arrow IPC (columns of numbers, strings,
  dates) and tagged JSON that can only build plain values and the data model's dataclasses.
  ``meta.json`` records the key and each file's SHA-256 and carries an HMAC-SHA256 under a
  key only the app holds (``TRIAL_STATE_SECRET``, else a random key created once in the state
  directory, mode 0600). An entry whose MAC, key or file hashes do not verify — corrupt,
  truncated, edited or written by another installation — is ignored and rebuilt; each file's
  bytes are hashed and then parsed from those same bytes.
- **Exactness.** Before an entry is published it is read back through ``load`` and compared
  with the Study just built (every frame exactly, dtypes and categories included, and every
  other field); an entry that would not give the very same Study is not kept.

Configuration: ``TRIAL_STATE_DIR`` (default ``$XDG_STATE_HOME/trial-results-explorer``, else
``~/.local/state/trial-results-explorer``; never inside the data folder), ``TRIAL_START_CACHE=0``
switches it off, ``TRIAL_START_CACHE_ENTRIES`` (default 4) entries are kept, the most recent.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import logging
import math
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from data import codec
from data import lock as _lock

log = logging.getLogger(__name__)

FORMAT = 1
ENV_DIR = "TRIAL_STATE_DIR"
ENV_ENABLED = "TRIAL_START_CACHE"
ENV_ENTRIES = "TRIAL_START_CACHE_ENTRIES"
ENV_SECRET = "TRIAL_STATE_SECRET"
SUBDIR = "start-cache"
META = "meta.json"
FIELDS = "fields.json.z"
KEY_FILE = "start-cache.key"
MAX_META_BYTES = 1 << 20
MAX_FIELDS_BYTES = 256 << 20
DEFAULT_ENTRIES = 4
# Fields not kept: taken from this start (the lock just verified, the folder, study.toml just parsed).
FRESH_FIELDS = ("folder", "lock", "config", "page_sources")
# Libraries whose behaviour shapes the frames: a new version is new code.
LIBRARIES = ("pandas", "numpy", "pyarrow", "pyreadstat")

# What the last load_study did with the cache (for the benchmark and the log): hit, miss, refused, off.
last: dict = {}


class Refused(Exception):
    """The entry exists but cannot be trusted or used; the reason is the message."""


# -- configuration ------------------------------------------------------------------------------
def enabled() -> bool:
    return os.environ.get(ENV_ENABLED, "1").strip().lower() not in ("0", "false", "no", "off")


def state_dir() -> Path:
    given = os.environ.get(ENV_DIR, "").strip()
    if given:
        return Path(given)
    base = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(base) / "trial-results-explorer"


def cache_root(folder: Path) -> Path | None:
    """Where entries live, or None when that would be inside the data folder (never written to)."""
    root = state_dir() / SUBDIR
    try:
        data, where = Path(folder).resolve(), root.resolve()
    except OSError:
        return None
    if where == data or data in where.parents:
        log.warning("start cache off: %s is inside the data folder %s (set %s elsewhere)", root, folder, ENV_DIR)
        return None
    return root


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 of the data layer's source and the versions of the libraries it parses with."""
    return code_digest(Path(__file__).parent)


def code_digest(source: Path, libraries: tuple[str, ...] = LIBRARIES) -> str:
    h = hashlib.sha256(f"format {FORMAT}; python {sys.version}\n".encode())
    for name in libraries:
        mod = sys.modules.get(name)
        if mod is None:
            try:
                mod = __import__(name)
            except ImportError:
                mod = None
        h.update(f"{name} {getattr(mod, '__version__', 'absent')}\n".encode())
    for path in sorted(Path(source).glob("*.py")):
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def entry_key(folder: Path, hashes: dict[str, str], lock_info: _lock.LockInfo) -> str:
    """The key of a Study: every input of ``data.study._build`` that is not code, and the code."""
    doc = {"format": FORMAT, "code": code_version(), "folder": str(Path(folder).resolve()),
           "files": sorted(hashes.items()), "fingerprint": lock_info.fingerprint, "locked": lock_info.locked}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _secret(root: Path, create: bool) -> bytes | None:
    env = os.environ.get(ENV_SECRET, "")
    if len(env) >= 16:
        return env.encode()
    path = root / KEY_FILE
    try:
        raw = _lock.read_limited(path, 4096)
        st = path.stat()
    except FileNotFoundError:
        if not create:
            return None
        key = os.urandom(32).hex().encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return _secret(root, False)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key
    except OSError as exc:
        log.warning("start cache key %s unreadable (%s): cache not used", path, exc)
        return None
    if st.st_mode & 0o077 or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        log.warning("start cache key %s is readable or writable by others, or not ours: cache not used", path)
        return None
    key = raw.strip()
    return key if len(key) >= 32 else None


def _mac(key: bytes, meta: dict) -> str:
    body = json.dumps({k: v for k, v in meta.items() if k != "mac"}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, b"trial-start-cache\0" + body.encode(), hashlib.sha256).hexdigest()


# -- frames as Arrow IPC ------------------------------------------------------------------------
def _frame_bytes(df: pd.DataFrame) -> tuple[bytes, dict]:
    """Arrow IPC bytes of ``df``; categorical columns as their integer codes, the categories in the
    returned description (Arrow keeps no categories for an empty column, and no categories' dtype)."""
    import pyarrow as pa

    if df.attrs:
        raise codec.CodecError("DataFrame.attrs")
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0 or df.index.step != 1:
        raise codec.CodecError("index is not 0..n-1")
    cats = {}
    plain = {}
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i]
        if not isinstance(col, str):
            raise codec.CodecError("column name")
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats[col] = {"categories": codec._enc_index(s.dtype.categories), "ordered": bool(s.dtype.ordered),
                         "codes": str(s.cat.codes.dtype)}
            plain[col] = s.cat.codes.to_numpy()
        else:
            plain[col] = s
    table = pa.Table.from_pandas(pd.DataFrame(plain, index=df.index), preserve_index=None)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes(), {"columns": list(df.columns), "categoricals": cats, "rows": len(df)}


def _frame_from(raw: bytes, desc: dict) -> pd.DataFrame:
    import pyarrow as pa

    table = pa.ipc.open_file(pa.BufferReader(raw)).read_all()
    df = table.to_pandas()
    for col, c in desc["categoricals"].items():
        categories = codec._dec_index(c["categories"])
        codes = df[col].to_numpy()
        if codes.dtype != np.dtype(c["codes"]) or (len(codes) and (codes.min() < -1 or codes.max() >= len(categories))):
            raise Refused(f"categorical codes of {col}")
        df[col] = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories, ordered=c["ordered"]))
    if list(df.columns) != desc["columns"] or len(df) != desc["rows"]:
        raise Refused("frame shape")
    return df


# -- the Study in and out -----------------------------------------------------------------------
def _split(study) -> tuple[dict, dict]:
    """(frames, other fields) of the Study, without the fields taken fresh at every start."""
    frames, fields = {}, {}
    for f in dataclasses.fields(study):
        if f.name in FRESH_FIELDS:
            continue
        v = getattr(study, f.name)
        if isinstance(v, pd.DataFrame):
            frames[f.name] = v
        else:
            fields[f.name] = v
    return frames, fields


def _read_checked(path: Path, sha: str, limit: int) -> bytes:
    raw = _lock.read_limited(path, limit)
    if not hmac.compare_digest(_lock.sha256_bytes(raw), sha):
        raise Refused(f"{path.name}: SHA-256 differs from the entry's record")
    return raw


def _read_entry(where: Path, key: str, secret: bytes, folder: Path, lock_info, config):
    from data.model import Study

    meta_raw = _lock.read_limited(where / META, MAX_META_BYTES)
    try:
        meta = json.loads(meta_raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refused("meta.json is not JSON") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("mac"), str):
        raise Refused("meta.json has no MAC")
    if not hmac.compare_digest(meta["mac"], _mac(secret, meta)):
        raise Refused("MAC does not verify (corrupt, edited, or written under another key)")
    if meta.get("format") != FORMAT or meta.get("key") != key:
        raise Refused("written for other files, code or format")
    fields = codec.decode(_read_checked(where / FIELDS, meta["fields"]["sha256"], MAX_FIELDS_BYTES))
    if not isinstance(fields, dict):
        raise Refused("fields")
    frames = {}
    for name, desc in meta["frames"].items():
        if desc is None:
            frames[name] = None
            continue
        raw = _read_checked(where / desc["file"], desc["sha256"], int(desc["bytes"]))
        frames[name] = _frame_from(raw, desc)
        del raw
    names = {f.name for f in dataclasses.fields(Study)}
    given = {**fields, **frames}
    if set(given) | set(FRESH_FIELDS) != names:
        raise Refused("the entry's fields are not the Study's")
    return Study(folder=folder, lock=lock_info, config=config, page_sources=dict(config.pages), **given)


def load(folder: Path, snap: _lock.Snapshot, lock_info: _lock.LockInfo):
    """The cached Study of this folder as just hashed and verified, or None (miss, refused, off)."""
    global last
    t0 = time.perf_counter()
    root = cache_root(folder) if enabled() else None
    if root is None:
        last = {"result": "off"}
        return None
    key = entry_key(folder, snap.hashes, lock_info)
    where = root / key[:32]
    if not (where / META).exists():
        last = {"result": "miss", "key": key[:12]}
        return None
    try:
        secret = _secret(root, create=False)
        if secret is None:
            raise Refused("no key to verify it with")
        from data.readers import read_config

        study = _read_entry(where, key, secret, Path(folder), lock_info, read_config(folder, snap))
    except Exception as exc:  # anything wrong with an entry: it is not used, the files are parsed
        reason = str(exc) if isinstance(exc, Refused) else f"{type(exc).__name__}: {exc}"
        log.warning("start cache entry %s not used: %s; reading the files", where, reason[:200])
        last = {"result": "refused", "reason": reason[:200], "key": key[:12]}
        return None
    last = {"result": "hit", "key": key[:12], "seconds": time.perf_counter() - t0}
    log.info("start cache: %s loaded from %s in %.2f s (files hashed and verified against the lock)",
             folder, where, last["seconds"])
    return study


def store(folder: Path, hashes: dict[str, str], lock_info: _lock.LockInfo, study) -> bool:
    """Keep ``study`` (just built and validated from these hashes) for the next start. True when kept."""
    global last
    root = cache_root(folder) if enabled() else None
    if root is None:
        return False
    t0 = time.perf_counter()
    key = entry_key(folder, hashes, lock_info)
    final = root / key[:32]
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = _secret(root, create=True)
        if secret is None:
            return False
        tmp.mkdir(mode=0o700)
        frames, fields = _split(study)
        body = codec.encode(fields)
        (tmp / FIELDS).write_bytes(body)
        meta = {"format": FORMAT, "key": key, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "folder": str(Path(folder).resolve()), "study_id": study.study_id,
                "fields": {"sha256": _lock.sha256_bytes(body)}, "frames": {}}
        for name, df in frames.items():
            if df is None:
                meta["frames"][name] = None
                continue
            raw, desc = _frame_bytes(df)
            (tmp / f"{name}.arrow").write_bytes(raw)
            meta["frames"][name] = {**desc, "file": f"{name}.arrow", "sha256": _lock.sha256_bytes(raw),
                                    "bytes": len(raw)}
            del raw
        meta["mac"] = _mac(secret, meta)
        (tmp / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        # Read back as the next start will, and keep it only if it gives the very same Study.
        again = _read_entry(tmp, key, secret, study.folder, study.lock, study.config)
        diff = differences(study, again)
        if diff:
            raise Refused("would not give the same Study: " + "; ".join(diff[:3]))
        del again
        if final.exists():  # an entry under this key that did not verify (or a twin written meanwhile)
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:  # another process published the same entry first: theirs is as good
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(root, keep=final)
    except Exception as exc:  # the cache is an optimisation: never a reason not to serve
        shutil.rmtree(tmp, ignore_errors=True)
        reason = str(exc) if isinstance(exc, (Refused, codec.CodecError)) else f"{type(exc).__name__}: {exc}"
        log.warning("start cache: %s not kept (%s)", folder, reason[:200])
        last = {**last, "stored": False, "store_reason": reason[:200]}
        return False
    last = {**last, "stored": True, "store_seconds": time.perf_counter() - t0}
    log.info("start cache: %s kept in %s (%.2f s)", folder, final, last["store_seconds"])
    return True


def _prune(root: Path, keep: Path) -> None:
    try:
        n = max(1, int(os.environ.get(ENV_ENTRIES, DEFAULT_ENTRIES)))
    except ValueError:
        n = DEFAULT_ENTRIES
    entries = []
    for p in root.iterdir():
        if p.is_dir() and p != keep:
            try:
                entries.append(((p / META).stat().st_mtime if (p / META).exists() else 0.0, p))
            except OSError:
                continue
    entries.sort(reverse=True)
    now = time.time()
    for mtime, p in entries[n - 1:]:
        if p.name.startswith(".tmp-") and now - p.stat().st_mtime < 3600:
            continue  # another process is writing it
        shutil.rmtree(p, ignore_errors=True)


# -- exactness ----------------------------------------------------------------------------------
def differences(a, b) -> list[str]:
    """How two Studies differ (every field; frames exactly, with dtypes, categories and index), or []."""
    out = []
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pd.DataFrame) or isinstance(y, pd.DataFrame):
            why = _frame_difference(x, y)
            if why:
                out.append(f"{f.name}: {why}")
        elif not _same(x, y):
            out.append(f"{f.name} differs")
    return out


def _frame_difference(x, y) -> str | None:
    """Why two frames are not exactly alike, or None.

    Column by column on the stored buffers, not ``assert_frame_equal``: that turns every string and
    categorical column into Python objects and took 8 of a 5,000-subject study's 34 s first start."""
    if not (isinstance(x, pd.DataFrame) and isinstance(y, pd.DataFrame)):
        return "a frame on one side only"
    if x.attrs != y.attrs:
        return "attrs"
    if x.flags.allows_duplicate_labels != y.flags.allows_duplicate_labels:
        return "flags"
    if list(x.columns) != list(y.columns) or x.columns.dtype != y.columns.dtype:
        return "columns"
    if type(x.index) is not type(y.index) or x.index.dtype != y.index.dtype or not x.index.equals(y.index):
        return "index"
    for i, col in enumerate(x.columns):
        why = _column_difference(x.iloc[:, i], y.iloc[:, i])
        if why:
            return f"{col}: {why}"
    return None


def _column_difference(a: pd.Series, b: pd.Series) -> str | None:
    if a.dtype != b.dtype or type(a.array) is not type(b.array):
        return f"dtype {a.dtype} vs {b.dtype}"
    if isinstance(a.dtype, pd.CategoricalDtype):
        # dtype equality ignores the categories' order (unordered) and their dtype: codes need both alike
        ca, cb = a.cat.categories, b.cat.categories
        if ca.dtype != cb.dtype or not ca.equals(cb):
            return "categories"
        return None if np.array_equal(a.cat.codes.to_numpy(), b.cat.codes.to_numpy()) else "values"
    if hasattr(a.array, "__arrow_array__"):  # Arrow strings, masked integers and booleans
        return None if _chunked(a.array).equals(_chunked(b.array)) else "values"
    if a.dtype.kind in "biufcmM" and not isinstance(a.dtype, pd.api.extensions.ExtensionDtype):
        # bit for bit: NaN where NaN, and the same NaT, dates and -0.0
        return None if a.to_numpy().tobytes() == b.to_numpy().tobytes() else "values"
    try:  # anything else (object columns): pandas' own exact comparison
        pd.testing.assert_series_equal(a, b, check_exact=True, check_dtype=True, check_categorical=True,
                                       check_index=False)
    except AssertionError:
        return "values"
    return None


def _chunked(values):
    import pyarrow as pa

    arr = pa.array(values)  # an Array or a ChunkedArray, as the pandas array holds it
    return pa.chunked_array([arr]) if isinstance(arr, pa.Array) else arr  # equal by content, whatever the chunks


def _same(x, y) -> bool:
    if type(x) is not type(y):
        return False
    if isinstance(x, float):
        return x == y or (math.isnan(x) and math.isnan(y))
    if isinstance(x, dict):
        return list(x) == list(y) and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_same(i, j) for i, j in zip(x, y))
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return all(_same(getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x))
    if isinstance(x, pd.DataFrame):
        return _frame_difference(x, y) is None
    if isinstance(x, (np.ndarray, pd.Series, pd.Index)):
        return bool(np.array_equal(np.asarray(x), np.asarray(y)))
    return bool(x == y)
