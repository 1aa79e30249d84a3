"""Lock verification: a changed byte, a missing or an extra file stops the app with a clear message."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT
from data.lock import LockError, verify, write_manifest
from data.study import load_study


def test_intact_folder_verifies(data_copy):
    info = verify(data_copy)
    assert info.locked and info.study_id == "LSO-088" and info.lock_date == "2026-06-30"
    assert set(info.files) == {"adsl.parquet", "adlb.parquet", "adcell.parquet", "adae.parquet", "adex.parquet",
                               "study.toml"}


def test_modified_byte_is_refused(data_copy):
    p = data_copy / "adlb.parquet"
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    p.write_bytes(bytes(raw))
    with pytest.raises(LockError) as e:
        verify(data_copy)
    assert e.value.lines == [e.value.lines[0]] and e.value.lines[0].startswith("adlb.parquet: SHA-256 differs")


def test_missing_file_is_refused(data_copy):
    (data_copy / "adae.parquet").unlink()
    with pytest.raises(LockError) as e:
        verify(data_copy)
    assert e.value.lines == ["adae.parquet: listed in LOCK.json but missing from the folder"]


def test_extra_file_is_refused(data_copy):
    (data_copy / "advs.csv").write_text("USUBJID\nX\n")
    with pytest.raises(LockError) as e:
        verify(data_copy)
    assert e.value.lines == ["advs.csv: present in the folder but not in LOCK.json (extra file)"]


def test_unreadable_manifest_is_refused(data_copy):
    (data_copy / "LOCK.json").write_text("{not json")
    with pytest.raises(LockError, match="LOCK.json: unreadable"):
        verify(data_copy)


def test_no_manifest_means_unlocked_not_refused(data_copy):
    (data_copy / "LOCK.json").unlink()
    study = load_study(data_copy)
    assert not study.lock.locked and len(study.lock.fingerprint) == 64
    assert any("not locked" in n for n in study.notes)


def test_manifest_not_overwritten_without_force(data_copy):
    with pytest.raises(FileExistsError):
        write_manifest(data_copy, study_id="X")
    write_manifest(data_copy, study_id="X", force=True)
    assert json.loads((data_copy / "LOCK.json").read_text())["study_id"] == "X"


def test_app_refuses_to_start_on_tampered_data(data_copy):
    p = data_copy / "adsl.parquet"
    p.write_bytes(p.read_bytes() + b"\0")
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--data", str(data_copy), "--port", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "adsl.parquet: SHA-256 differs from LOCK.json" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_loading_never_writes_to_the_folder(data_copy):
    before = {p.name: p.stat().st_mtime_ns for p in data_copy.iterdir()}
    load_study(data_copy)
    assert {p.name: p.stat().st_mtime_ns for p in data_copy.iterdir()} == before
