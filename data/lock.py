"""Lock manifest (``LOCK.json``): the fingerprint of a locked dataset folder.

A locked folder holds its data files and a manifest naming each file with its
row count and SHA-256. At start-up the app recomputes every hash; a changed,
missing or extra file means the data is no longer the data that was locked,
and the app refuses to serve it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "LOCK.json"
# Files that count as data: anything a reader could load as a dataset.
DATA_SUFFIXES = (".parquet", ".csv", ".xpt", ".sas7bdat", ".toml")


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
    fingerprint: str  # SHA-256 over the sorted per-file hashes
    locked: bool = True
    extra: dict | None = None

    @property
    def short(self) -> str:
        return self.fingerprint[:12]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def fingerprint_of(hashes: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(hashes):
        h.update(f"{name}:{hashes[name]}\n".encode())
    return h.hexdigest()


def _row_count(path: Path) -> int | None:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None


def write_manifest(
    folder: Path,
    *,
    study_id: str,
    lock_date: str | None = None,
    generator: str = "manual",
    extra: dict | None = None,
    force: bool = False,
    rows: dict[str, int] | None = None,
) -> Path:
    """Write ``LOCK.json`` for every data file of ``folder``.

    ``rows`` gives row counts read by the caller (file name -> rows) for formats whose
    row count is not in the file's metadata.
    """
    folder = Path(folder)
    target = folder / MANIFEST
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; use --force to overwrite it")
    files = {}
    for p in data_files(folder):
        n = _row_count(p)
        if n is None and rows:
            n = rows.get(p.name)
        files[p.name] = {"rows": n, "sha256": sha256_file(p)}
    manifest = {
        "study_id": study_id,
        "lock_date": lock_date or _dt.date.today().isoformat(),
        "generator": generator,
        "files": files,
        "fingerprint": fingerprint_of({k: v["sha256"] for k, v in files.items()}),
        **(extra or {}),
    }
    target.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return target


def read_manifest(folder: Path) -> dict | None:
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest.get("files"), dict):
            raise ValueError("no 'files' object")
    except (ValueError, OSError) as exc:
        raise LockError(Path(folder), [f"{MANIFEST}: unreadable ({exc})"]) from None
    return manifest


def verify(folder: Path) -> LockInfo:
    """Check every file against the manifest. Raises LockError listing each mismatch.

    A folder without a manifest is returned as ``locked=False`` with a fingerprint
    computed from its files, so the app can show it as unlocked.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    present = {p.name: p for p in data_files(folder)}
    hashes = {name: sha256_file(p) for name, p in present.items()}
    if manifest is None:
        return LockInfo("", "", "", {}, fingerprint_of(hashes), locked=False)

    problems = []
    listed = manifest["files"]
    for name in sorted(listed):
        if name not in present:
            problems.append(f"{name}: listed in {MANIFEST} but missing from the folder")
        elif hashes[name] != listed[name].get("sha256"):
            problems.append(
                f"{name}: SHA-256 differs from {MANIFEST} (locked {str(listed[name].get('sha256'))[:12]}…, "
                f"found {hashes[name][:12]}…): the file was changed after the lock"
            )
    for name in sorted(set(present) - set(listed)):
        problems.append(f"{name}: present in the folder but not in {MANIFEST} (extra file)")
    if problems:
        raise LockError(folder, problems)
    known = {"study_id", "lock_date", "generator", "files", "fingerprint"}
    return LockInfo(
        study_id=str(manifest.get("study_id", "")),
        lock_date=str(manifest.get("lock_date", "")),
        generator=str(manifest.get("generator", "")),
        files=listed,
        fingerprint=fingerprint_of(hashes),
        locked=True,
        extra={k: v for k, v in manifest.items() if k not in known},
    )
