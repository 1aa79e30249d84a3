"""Attack run (issue 18), items 3, 4, 5 and 14: the lock covers itself, files are read once,
truncated files are refused, and a broken manifest or folder gets a one-line verdict.

Each test reproduces what the attack did; they stay as the regression suite for the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys

import pandas as pd
import pytest

import adam_builder as B
from conftest import ROOT
from data import lock as L
from data.lock import LockError
from data.study import DataError, check_folder, load_study, lock_folder

ENV_FINGERPRINT, ENV_REQUIRE_LOCK, ENV_MAX_FILE_MB = "TRIAL_LOCK_FINGERPRINT", "TRIAL_REQUIRE_LOCK", "TRIAL_MAX_FILE_MB"


def manifest_fingerprint(manifest: dict) -> str:
    """The documented rule, computed independently: SHA-256 of the canonical JSON of all but the fingerprint."""
    content = {k: v for k, v in manifest.items() if k != "fingerprint"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode("utf-8")).hexdigest()


def _manifest(folder):
    return json.loads((folder / "LOCK.json").read_text())


def _rewrite(folder, manifest, *, refingerprint: bool):
    if refingerprint:
        manifest["fingerprint"] = manifest_fingerprint(manifest)
    (folder / "LOCK.json").write_text(json.dumps(manifest, indent=2))


# -- 3. LOCK.json covers itself -----------------------------------------------------------------
def test_simulated_false_under_the_original_fingerprint_is_refused(data_copy):
    m = _manifest(data_copy)
    m["simulated"] = False  # the attack: the SIMULATED badge disappeared from every page and export
    _rewrite(data_copy, m, refingerprint=False)
    with pytest.raises(LockError) as e:
        load_study(data_copy)
    assert any("does not match its fingerprint" in line for line in e.value.lines)


@pytest.mark.parametrize("field,value", [("title", "LSO-088: final results"), ("lock_date", "2027-01-01"),
                                         ("study_id", "LSO-089")])
def test_every_manifest_field_is_covered(data_copy, field, value):
    m = _manifest(data_copy)
    m[field] = value
    _rewrite(data_copy, m, refingerprint=False)
    with pytest.raises(LockError, match="does not match its fingerprint"):
        load_study(data_copy)


def test_zero_fingerprint_is_refused(data_copy):
    m = _manifest(data_copy)
    m["fingerprint"] = "0" * 64
    _rewrite(data_copy, m, refingerprint=False)
    with pytest.raises(LockError, match="does not match its fingerprint"):
        load_study(data_copy)


def test_an_edited_manifest_shows_another_fingerprint_and_a_pinned_deployment_refuses_it(data_copy, monkeypatch):
    original = load_study(data_copy).lock.fingerprint
    assert original == _manifest(data_copy)["fingerprint"]
    m = _manifest(data_copy)
    m["simulated"] = False
    _rewrite(data_copy, m, refingerprint=True)  # an attacker who recomputes the hash
    edited = load_study(data_copy)
    assert edited.lock.fingerprint != original  # every page and export shows the difference
    monkeypatch.setenv(ENV_FINGERPRINT, original)
    with pytest.raises(LockError, match="is not the one this deployment serves"):
        load_study(data_copy)


def test_production_switch_refuses_an_unlocked_folder(data_copy, monkeypatch):
    (data_copy / "LOCK.json").unlink()
    assert not load_study(data_copy).lock.locked  # allowed by default (development)
    monkeypatch.setenv(ENV_REQUIRE_LOCK, "1")
    with pytest.raises(LockError, match="TRIAL_REQUIRE_LOCK"):
        load_study(data_copy)
    code, lines = check_folder(data_copy)
    assert code == 2 and "TRIAL_REQUIRE_LOCK" in lines[0]


def test_the_lock_command_writes_a_self_covering_manifest(tmp_path):
    d = B.write(tmp_path / "s", "csv")
    code, _ = lock_folder(d)
    assert code == 0
    m = _manifest(d)
    assert m["fingerprint"] == manifest_fingerprint(m) == load_study(d).lock.fingerprint


# -- 4. read once: what was hashed is what is parsed ------------------------------------------
def test_a_file_swapped_after_the_hash_is_never_served_as_locked(data_copy, monkeypatch):
    """The attack swapped adsl.parquet between the hash and the parse (5 of 60 loads served it).

    Here the swap happens deterministically right after the lock check: the study must be
    the locked one (or refused), never the swapped file's content under the lock.
    """
    locked = load_study(data_copy)
    real_verify = L.verify
    adsl = pd.read_parquet(data_copy / "adsl.parquet")
    forged = adsl.copy()
    forged["AGE"] = forged["AGE"] + 40

    def verify_then_swap(*args, **kwargs):
        info = real_verify(*args, **kwargs)
        forged.to_parquet(data_copy / "adsl.parquet", index=False)  # after the check, before the parse
        return info

    monkeypatch.setattr(L, "verify", verify_then_swap)
    try:
        study = load_study(data_copy)
    except (LockError, DataError):
        return
    assert study.lock.locked
    assert list(study.adsl["AGE"]) == list(locked.adsl["AGE"])


# -- 5. truncated transport files -----------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["xpt5", "xpt8"])
def test_a_truncated_xpt_is_refused_by_check_and_lock(tmp_path, fmt):
    d = B.write(tmp_path / fmt, fmt)
    p = d / "adlb.xpt"
    raw = p.read_bytes()
    p.write_bytes(raw[:len(raw) // 2])  # the attack: half the bytes (1,212 of 2,443 rows read, check OK)
    code, lines = check_folder(d)
    # never silently: ADLB is left out with its reason (a broken parameter dataset does not stop the
    # app, issue 13), and the folder cannot be locked with it
    assert any(line.startswith("ERROR served without ADLB: adlb.xpt:") and "truncated" in line for line in lines), lines
    assert not any(line.startswith("OK ") for line in lines), lines
    code, lines = lock_folder(d)
    assert code == 2 and not (d / "LOCK.json").exists(), lines
    assert any("truncated" in line for line in lines) and "not locked" in lines[-1], lines


def test_a_v5_xpt_cut_inside_an_observation_is_refused(tmp_path):
    from data.readers import xpt_rows

    d = B.write(tmp_path / "x", "xpt5")
    raw = (d / "adlb.xpt").read_bytes()
    whole = xpt_rows(raw)
    assert whole == len(B.build()["adlb"])
    cuts = [n for n in range(len(raw) // 2, len(raw) - 80, 80)]
    refused = 0
    for n in cuts:
        try:
            got = xpt_rows(raw[:n])
        except ValueError:
            refused += 1
        else:
            assert got < whole
    assert refused >= len(cuts) // 2  # cut at an 80-byte record inside an observation: refused


def test_a_v8_xpt_cut_at_a_record_boundary_is_refused(tmp_path):
    from data.readers import xpt_rows

    d = B.write(tmp_path / "x", "xpt8")
    raw = (d / "adlb.xpt").read_bytes()
    for n in range(len(raw) // 2, len(raw) - 80, 80):
        with pytest.raises(ValueError, match="truncated"):
            xpt_rows(raw[:n])


@pytest.mark.parametrize("fmt", ["csv", "xpt5", "xpt8", "parquet"])
def test_lock_records_row_counts_for_every_format(tmp_path, fmt):
    d = B.write(tmp_path / fmt, fmt)
    assert lock_folder(d)[0] == 0
    files = _manifest(d)["files"]
    built = B.build()
    for name, df in built.items():
        entry = next(v for k, v in files.items() if k.split(".")[0] == name)
        assert entry["rows"] == len(df), (name, entry)


def test_rows_read_must_match_the_manifest(tmp_path):
    d = B.write(tmp_path / "c", "csv")
    assert lock_folder(d)[0] == 0
    m = _manifest(d)
    m["files"]["adlb.csv"]["rows"] += 1  # a manifest that says more rows than the file gives
    _rewrite(d, m, refingerprint=True)
    with pytest.raises(DataError) as e:
        load_study(d)
    assert any(line.startswith("ERROR adlb.csv:") and "LOCK.json records" in line for line in e.value.lines)


# -- 14. one-line verdicts, exit 2, no traceback --------------------------------------------------
def _limit_memory():  # the /dev/zero manifest read until memory ran out: cap it, so the old code fails fast
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def _run(*args):
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, preexec_fn=_limit_memory)


def _broken_manifest_list(d):
    (d / "LOCK.json").write_text("[]")


def _broken_manifest_files_string(d):
    m = _manifest(d)
    m["files"]["adsl.parquet"] = "0c9cb179bb9025aa7cf9d17150912730da55996094568c458c4b68e19b5cf0b1"
    _rewrite(d, m, refingerprint=True)


def _broken_manifest_dev_zero(d):
    (d / "LOCK.json").unlink()
    os.symlink("/dev/zero", d / "LOCK.json")


def _broken_data_file_dev_zero(d):
    (d / "LOCK.json").unlink()
    (d / "adex.parquet").unlink()
    os.symlink("/dev/zero", d / "adex.parquet")


def _broken_reference_without_subjects(d):
    for p in d.glob("*"):
        p.unlink()
    B.write(d, "parquet")
    (d / "study.toml").write_text('[arms]\norder = ["Placebo", "Drug 10 mg", "Drug 20 mg", "Drug 40 mg"]\n'
                                  'reference = "Drug 40 mg"\n')


def _broken_aval_twice(d):
    for p in d.glob("*"):
        p.unlink()
    t = B.build()
    t["adsl"]["age"] = t["adsl"]["AGE"] * 2  # in ADSL: fatal (in a parameter dataset it is left out, issue 13)
    B.write(d, "csv", t)


BROKEN = {
    "manifest is a list": (_broken_manifest_list, "LOCK.json: not a JSON object"),
    "files entry is a string": (_broken_manifest_files_string, "files entry 'adsl.parquet' must be an object"),
    "manifest is /dev/zero": (_broken_manifest_dev_zero, "LOCK.json: not a regular file"),
    "data file is /dev/zero": (_broken_data_file_dev_zero, "adex.parquet: not a regular file"),
    "reference arm without subjects": (_broken_reference_without_subjects, "'Drug 40 mg' has no subject"),
    "AGE and age": (_broken_aval_twice, "columns AGE and age have the same name but for case"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_folders_get_a_one_line_verdict_and_exit_2(data_copy, case):
    make, expected = BROKEN[case]
    make(data_copy)
    r = _run("check", data_copy)
    assert r.returncode == 2, (r.returncode, r.stdout[-800:], r.stderr[-800:])
    assert "Traceback" not in r.stdout + r.stderr
    errors = [line for line in r.stdout.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and expected in errors[0], r.stdout
    assert r.stdout.splitlines()[-1].startswith("FAIL ")
    served = _run("--data", data_copy, "--port", "1")
    assert served.returncode == 2 and "Traceback" not in served.stdout + served.stderr
    assert expected in served.stderr


def test_every_file_read_has_a_size_limit(data_copy, monkeypatch):
    monkeypatch.setenv(ENV_MAX_FILE_MB, "0.01")  # 10 KB: adlb.parquet is larger
    code, lines = check_folder(data_copy)
    assert code == 2 and any("more than the limit" in line and "TRIAL_MAX_FILE_MB" in line for line in lines)
