"""Lock manifest (``LOCK.json``): the fingerprint of a locked dataset folder.

A locked folder holds its data files and a manifest naming each file with its
row count and SHA-256. The manifest covers itself: its ``fingerprint`` is the
SHA-256 of its own canonical content (study id, title, simulated, lock date,
files with their hashes and rows, everything but the fingerprint), so editing
any field of it — ``"simulated": false`` — changes the fingerprint the app shows
on every page and export, and a manifest whose fingerprint does not match its
content is refused. A deployment pins the fingerprint it was given with the lock
(``TRIAL_LOCK_FINGERPRINT``) and refuses unlocked folders (``TRIAL_REQUIRE_LOCK=1``).

Files are read once: ``snapshot`` reads each file's bytes (regular files only, with
a size limit), hashes those bytes, and the readers parse those same bytes, so a file
swapped on disk after the check is never served as locked.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "LOCK.json"
LOCK_FORMAT = 2  # 2: the fingerprint covers the manifest itself (1 covered the file hashes only)
# Files that count as data: anything a reader could load as a dataset.
DATA_SUFFIXES = (".parquet", ".csv", ".xpt", ".sas7bdat", ".toml")
ENV_REQUIRE_LOCK = "TRIAL_REQUIRE_LOCK"  # production: refuse folders without LOCK.json
ENV_FINGERPRINT = "TRIAL_LOCK_FINGERPRINT"  # production: the only fingerprint to serve (from the lock memo)
ENV_MAX_FILE_MB = "TRIAL_MAX_FILE_MB"
MAX_MANIFEST_BYTES = 4 << 20  # a manifest is a few KB; a symlink to /dev/zero must not be read to the end
MAX_CONFIG_BYTES = 1 << 20  # study.toml
DEFAULT_MAX_FILE_MB = 4096
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
BLINDED_KEY = "blinded"  # manifest: true = a blinded study (README, "Blinded studies and audit")
WITHHOLD_KEY = "blinded_withhold"  # manifest: datasets / DATASET.VARIABLE also withheld from the blinded view


class LockError(Exception):
    """The folder does not match its lock manifest. ``lines`` says how, one problem each."""

    def __init__(self, folder: Path, lines: list[str]):
        self.folder, self.lines = folder, lines
        super().__init__(f"{folder}: " + "; ".join(lines))


@dataclass(frozen=True)
class LockInfo:
    study_id: str
    lock_date: str
    generator: str
    files: dict  # name -> {"rows": int, "sha256": str}
    fingerprint: str  # SHA-256 of the manifest's canonical content (unlocked: of the files' hashes)
    locked: bool = True
    extra: dict | None = None

    @property
    def short(self) -> str:
        return self.fingerprint[:12]

    @property
    def blinded(self) -> bool:
        """The manifest declares the study blinded (``"blinded": true``): users without the unblinded role
        see the pooled view (data.blinding). Part of the manifest, so covered by the fingerprint."""
        return bool(self.locked and (self.extra or {}).get(BLINDED_KEY) is True)


class FileTooLarge(OSError):
    pass


class NotRegularFile(OSError):
    pass


def max_file_bytes() -> int:
    try:
        mb = float(os.environ.get(ENV_MAX_FILE_MB, DEFAULT_MAX_FILE_MB))
    except ValueError:
        mb = DEFAULT_MAX_FILE_MB
    return int(mb * (1 << 20))


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; else FileTooLarge / NotRegularFile.

    Opened first, then checked on the open descriptor: a device (``/dev/zero``), a FIFO or
    a file that grows while read is refused, never read without end.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{Path(path).name}: not a regular file (a device, pipe or socket)")
        if st.st_size > limit:
            raise FileTooLarge(f"{Path(path).name}: {st.st_size:,} bytes, more than the limit of {limit:,}")
        # The size fstat gives, in one read (one buffer, no join: joining 16 MB blocks cost 0.9 s per 250 MB);
        # then in blocks until the end, for a file that grows while read (never read(limit): that would
        # allocate the whole limit up front).
        first = fh.read(st.st_size + 1) if st.st_size else b""
        chunks, total = ([first], len(first)) if first else ([], 0)
        if total > limit:
            raise FileTooLarge(f"{Path(path).name}: more than the limit of {limit:,} bytes")
        while True:
            block = fh.read(min(1 << 24, limit + 1 - total) or 1)
            if not block:
                break
            chunks.append(block)
            total += len(block)
            if total > limit:
                raise FileTooLarge(f"{Path(path).name}: more than the limit of {limit:,} bytes")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one block: no copy


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_files(folder: Path) -> list[Path]:
    """Entries of ``folder`` with a data suffix that are not folders (devices and pipes included:
    the snapshot refuses them by name rather than skipping them silently)."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in DATA_SUFFIXES and not p.is_dir())


def fingerprint_of(hashes: dict[str, str]) -> str:
    """Fingerprint of an unlocked folder: its files' hashes."""
    h = hashlib.sha256()
    for name in sorted(hashes):
        h.update(f"{name}:{hashes[name]}\n".encode())
    return h.hexdigest()


def canonical(manifest: dict) -> bytes:
    """The manifest's content as hashed: every field but ``fingerprint``, keys sorted, compact UTF-8 JSON."""
    content = {k: v for k, v in manifest.items() if k != "fingerprint"}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def manifest_fingerprint(manifest: dict) -> str:
    return sha256_bytes(canonical(manifest))


# -- the snapshot: each file's bytes, read once ------------------------------------------------
@dataclass
class Snapshot:
    folder: Path
    data: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes (released once parsed)
    hashes: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # files that could not be read, one line each

    def take(self, name: str) -> bytes | None:
        """The file's bytes, handed over once (the snapshot forgets them: memory goes with the frame)."""
        return self.data.pop(name, None)


def snapshot(folder: Path) -> Snapshot:
    """Every data file's bytes, read once, and their SHA-256. Each file is hashed in a second thread while the
    next one is read (hashlib releases the GIL): hashing no longer adds to reading (251 MB: 1.5 s -> 0.9 s)."""
    from concurrent.futures import ThreadPoolExecutor

    folder = Path(folder)
    snap = Snapshot(folder)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lock-hash") as pool:
        hashing = {name: pool.submit(sha256_bytes, raw) for name, raw in _read_files(folder, snap)}
        for name, fut in hashing.items():
            snap.hashes[name] = fut.result()
    return snap


def _read_files(folder: Path, snap: Snapshot):
    """(name, bytes) of each data file as read; unreadable files become lines of ``snap.errors``."""
    limit = max_file_bytes()
    for p in data_files(folder):
        try:
            raw = read_limited(p, MAX_CONFIG_BYTES if p.suffix.lower() == ".toml" else limit)
        except FileTooLarge as exc:
            snap.errors.append(f"ERROR {exc} (set {ENV_MAX_FILE_MB} to read larger files)")
            continue
        except NotRegularFile as exc:
            snap.errors.append(f"ERROR {exc}; refused")
            continue
        except OSError as exc:
            snap.errors.append(f"ERROR {p.name}: unreadable ({type(exc).__name__}: {exc.strerror or exc})")
            continue
        snap.data[p.name] = raw
        yield p.name, raw


# -- writing ------------------------------------------------------------------------------------
def _row_count(path: Path, raw: bytes | None = None) -> int | None:
    """Rows of a data file as the app reads it (None for study.toml or an unreadable file)."""
    if path.suffix.lower() == ".toml":
        return None
    from data.readers import read_dataset  # the readers import this module

    try:
        df, _ = read_dataset(path, raw=raw)
    except Exception:  # an unreadable file gets no row count; `check` says why
        return None
    return int(len(df))


def write_manifest(
    folder: Path,
    *,
    study_id: str,
    lock_date: str | None = None,
    generator: str = "manual",
    extra: dict | None = None,
    force: bool = False,
    rows: dict[str, int] | None = None,
    snap: Snapshot | None = None,
) -> Path:
    """Write ``LOCK.json`` for every data file of ``folder``, with each file's row count.

    ``rows`` gives row counts already read by the caller (file name -> rows); the others are
    read here. ``snap``: hash the bytes that were validated, not the files as they are now.
    """
    folder = Path(folder)
    target = folder / MANIFEST
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; use --force to overwrite it")
    if snap is None:
        snap = snapshot(folder)
        if snap.errors:
            raise LockError(folder, snap.errors)
    files = {}
    for name in sorted(snap.hashes):
        n = (rows or {}).get(name)
        if n is None:
            n = _row_count(folder / name, snap.data.get(name))
        files[name] = {"rows": n, "sha256": snap.hashes[name]}
    manifest = {
        "lock_format": LOCK_FORMAT,
        "study_id": study_id,
        "lock_date": lock_date or _dt.date.today().isoformat(),
        "generator": generator,
        "files": files,
        **(extra or {}),
    }
    manifest["fingerprint"] = manifest_fingerprint(manifest)
    target.write_text(json.dumps(manifest, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


# -- reading and verifying ----------------------------------------------------------------------
def _manifest_problems(manifest) -> list[str]:
    """Why ``manifest`` is not a well-formed LOCK.json (one line each), or []."""
    if not isinstance(manifest, dict):
        return [f"{MANIFEST}: not a JSON object (found {type(manifest).__name__})"]
    problems = []
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        problems.append(f"{MANIFEST}: 'files' must be an object naming each data file")
    else:
        for name, entry in files.items():
            if not isinstance(entry, dict):
                problems.append(f"{MANIFEST}: files entry {name!r} must be an object with sha256 and rows, "
                                f"not {type(entry).__name__}")
            elif not isinstance(entry.get("sha256"), str) or not _HEX64.match(entry["sha256"]):
                problems.append(f"{MANIFEST}: files entry {name!r} has no valid sha256 (64 hex digits)")
            elif entry.get("rows") is not None and (isinstance(entry["rows"], bool) or not isinstance(entry["rows"], int)
                                                    or entry["rows"] < 0):
                problems.append(f"{MANIFEST}: files entry {name!r}: rows must be a whole number")
    for key in ("study_id", "lock_date", "generator", "title"):
        if key in manifest and not isinstance(manifest[key], str):
            problems.append(f"{MANIFEST}: {key} must be a string")
    if "simulated" in manifest and not isinstance(manifest["simulated"], bool):
        problems.append(f"{MANIFEST}: simulated must be true or false")
    if BLINDED_KEY in manifest and not isinstance(manifest[BLINDED_KEY], bool):
        problems.append(f"{MANIFEST}: {BLINDED_KEY} must be true or false")
    wh = manifest.get(WITHHOLD_KEY)
    if wh is not None and not (isinstance(wh, list) and all(isinstance(x, str) and 0 < len(x) <= 200 for x in wh)):
        problems.append(f"{MANIFEST}: {WITHHOLD_KEY} must be a list of dataset or DATASET.VARIABLE names")
    fp = manifest.get("fingerprint")
    if not isinstance(fp, str) or not _HEX64.match(fp):
        problems.append(f"{MANIFEST}: no valid fingerprint (64 hex digits)")
    return problems


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, checked for shape (not yet against the files); None when there is none."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not os.path.lexists(path):
        return None
    try:
        raw = read_limited(path, MAX_MANIFEST_BYTES)
        manifest = json.loads(raw.decode("utf-8"))
    except FileTooLarge:
        raise LockError(folder, [f"{MANIFEST}: larger than {MAX_MANIFEST_BYTES:,} bytes; not a lock manifest"]) from None
    except NotRegularFile:
        raise LockError(folder, [f"{MANIFEST}: not a regular file (a device, pipe or socket)"]) from None
    except (ValueError, OSError, RecursionError) as exc:
        text = " ".join(str(exc).split())[:120]
        raise LockError(folder, [f"{MANIFEST}: unreadable ({type(exc).__name__}: {text})"]) from None
    problems = _manifest_problems(manifest)
    if problems:
        raise LockError(folder, problems)
    return manifest


def _require_lock() -> bool:
    return os.environ.get(ENV_REQUIRE_LOCK, "").strip().lower() not in ("", "0", "false", "no", "off")


def verify(folder: Path, snap: Snapshot | None = None) -> LockInfo:
    """Check every file (as read into ``snap``) against the manifest, and the manifest against its
    fingerprint. Raises LockError listing each mismatch.

    A folder without a manifest is returned as ``locked=False`` with a fingerprint computed from
    its files, so the app can show it as unlocked — unless ``TRIAL_REQUIRE_LOCK`` is set.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if snap is None:
        snap = snapshot(folder)
    if snap.errors:
        raise LockError(folder, [line.removeprefix("ERROR ") for line in snap.errors])
    hashes = snap.hashes
    pinned = os.environ.get(ENV_FINGERPRINT, "").strip().lower()
    if manifest is None:
        if _require_lock():
            raise LockError(folder, [f"no {MANIFEST}: this folder is not locked, and {ENV_REQUIRE_LOCK} is set "
                                     f"(production serves locked folders only; `python app.py lock DIR` locks it)"])
        if pinned:
            raise LockError(folder, [f"no {MANIFEST}, but {ENV_FINGERPRINT} expects fingerprint {pinned[:12]}…"])
        return LockInfo("", "", "", {}, fingerprint_of(hashes), locked=False)

    problems = []
    computed = manifest_fingerprint(manifest)
    if manifest.get("lock_format") != LOCK_FORMAT:
        problems.append(f"{MANIFEST}: written by an older version (its fingerprint does not cover the manifest "
                        f"itself); check the files, then lock again with `python app.py lock DIR --force`")
    elif computed != manifest["fingerprint"]:
        problems.append(f"{MANIFEST}: its content does not match its fingerprint (recorded "
                        f"{manifest['fingerprint'][:12]}…, content {computed[:12]}…): the manifest was edited "
                        f"after the lock")
    listed = manifest["files"]
    for name in sorted(listed):
        if name not in hashes:
            problems.append(f"{name}: listed in {MANIFEST} but missing from the folder")
        elif hashes[name] != listed[name]["sha256"]:
            problems.append(
                f"{name}: SHA-256 differs from {MANIFEST} (locked {listed[name]['sha256'][:12]}…, "
                f"found {hashes[name][:12]}…): the file was changed after the lock"
            )
    for name in sorted(set(hashes) - set(listed)):
        problems.append(f"{name}: present in the folder but not in {MANIFEST} (extra file)")
    if pinned and pinned != computed:
        problems.append(f"{MANIFEST}: fingerprint {computed[:12]}… is not the one this deployment serves "
                        f"({ENV_FINGERPRINT}={pinned[:12]}…)")
    if problems:
        raise LockError(folder, problems)
    known = {"study_id", "lock_date", "generator", "files", "fingerprint", "lock_format"}
    return LockInfo(
        study_id=str(manifest.get("study_id", "")),
        lock_date=str(manifest.get("lock_date", "")),
        generator=str(manifest.get("generator", "")),
        files=listed,
        fingerprint=computed,
        locked=True,
        extra={k: v for k, v in manifest.items() if k not in known},
    )
