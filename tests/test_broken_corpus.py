"""A corpus of broken study folders, one defect each: each gets its one-line verdict, and the app never starts.

Every folder starts from the small XYZ-101 study of ``adam_builder`` (a valid folder) and breaks
one thing. ``python app.py check DIR`` must print exactly one ERROR line for it (naming the file,
the variable and example values) and exit non-zero; ``python app.py --data DIR`` must exit 2
without serving and without a traceback. Problems a user can live with are warnings: the folder
is served and the warning is listed in the "Data notes" panel.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import adam_builder as B
import app as app_module
from conftest import ROOT
from data.lock import LockError, write_manifest
from data.study import DataError, check_folder, load_study


def _t():
    return B.build()


def _write(folder, tables, fmt="parquet"):
    return B.write(folder, fmt, tables)


def _case_no_adsl(d):
    t = _t()
    del t["adsl"]
    _write(d, t)


def _case_unreadable_parquet(d):
    _write(d, _t())
    (d / "adlb.parquet").write_bytes(b"PAR1 this is not a parquet file")


def _case_csv_named_xpt(d):
    t = _t()
    lb = t.pop("adlb")
    _write(d, t)
    (d / "adlb.xpt").write_text(lb.to_csv(index=False))


def _case_adsl_without_usubjid(d):
    t = _t()
    t["adsl"] = t["adsl"].drop(columns="USUBJID")
    _write(d, t)


def _case_adlb_without_aval(d):
    t = _t()
    t["adlb"] = t["adlb"].drop(columns="AVAL")
    _write(d, t)


def _case_duplicate_subject(d):
    t = _t()
    t["adsl"] = pd.concat([t["adsl"], t["adsl"].iloc[[0]]], ignore_index=True)
    _write(d, t)


def _case_duplicate_bds_key(d):
    t = _t()
    lb = t["adlb"]
    row = lb[(lb["AVISITN"] == 4) & (lb["PARAMCD"] == "CREAT")].iloc[[0]]
    t["adlb"] = pd.concat([lb, row], ignore_index=True)
    _write(d, t)


def _case_bds_unknown_subject(d):
    t = _t()
    t["adlb"].loc[5, "USUBJID"] = "XYZ-101-999"
    _write(d, t)


def _case_ae_unknown_subject(d):
    t = _t()
    t["adae"].loc[2, "USUBJID"] = "XYZ-101-077"
    _write(d, t)


def _case_aval_not_numeric(d):
    t = _t()
    lb = t["adlb"]
    lb["AVAL"] = lb["AVAL"].astype(object)
    lb.loc[10, "AVAL"] = "<5"
    _write(d, t, "csv")


def _case_avisitn_not_numeric(d):
    t = _t()
    vs = t["advs"]
    vs["AVISITN"] = vs["AVISITN"].astype(object)
    vs.loc[4, "AVISITN"] = "Wk4"
    _write(d, t, "csv")


def _case_arm_not_in_config(d):
    _write(d, _t())
    (d / "study.toml").write_text('[arms]\norder = ["Placebo", "Drug 10 mg"]\n')


def _case_config_unknown_key(d):
    _write(d, _t())
    (d / "study.toml").write_text('[arms]\ncolour = { "Placebo" = "#999999" }\n')


def _case_config_not_toml(d):
    _write(d, _t())
    (d / "study.toml").write_text('[arms\norder = "Placebo"\n')


def _case_config_arm_variable_absent(d):
    _write(d, _t())
    (d / "study.toml").write_text('[arms]\nvariable = "TRT02A"\n')


def _case_visit_number_inconsistent(d):
    t = _t()
    lb = t["adlb"]
    i = lb.index[(lb["AVISIT"] == "Week 4") & (lb["PARAMCD"] == "ALT")][0]
    lb.loc[i, "AVISITN"] = 5.0
    _write(d, t)


def _case_arm_differs_in_bds(d):
    t = _t()
    t["advs"]["TRT01A"] = t["advs"]["USUBJID"].map(dict(zip(t["adsl"]["USUBJID"], t["adsl"]["TRT01A"])))
    t["advs"].loc[7, "TRT01A"] = "Placebo"  # subject XYZ-101-002 is in Drug 20 mg
    _write(d, t, "xpt8")


def _case_two_files_one_dataset(d):
    t = _t()
    _write(d, t)
    t["adsl"].to_csv(d / "adsl.csv", index=False)


def _case_empty_adsl(d):
    t = _t()
    t["adsl"] = t["adsl"].iloc[0:0]
    _write(d, t)


def _case_parameter_in_two_datasets(d):
    t = _t()
    t["advs"].loc[t["advs"]["PARAMCD"] == "DIABP", "PARAMCD"] = "CREAT"
    t["advs"].loc[t["advs"]["PARAMCD"] == "CREAT", "PARAM"] = "Creatinine (umol/L)"
    _write(d, t)


def _case_ae_without_aedecod(d):
    t = _t()
    t["adae"] = t["adae"].drop(columns="AEDECOD")
    _write(d, t)


def _case_empty_population(d):
    t = _t()
    t["adsl"]["EFFFL"] = "N"
    _write(d, t)


def _case_unreadable_adae(d):
    _write(d, _t())
    (d / "adae.parquet").write_bytes(b"PAR1 this is not a parquet file")


def _case_every_subject_a_screen_failure(d):
    t = _t()
    t["adsl"][["ARM", "TRT01P", "TRT01A"]] = "Screen Failure"
    for name in ("adlb", "adae"):
        t[name]["TRT01A"] = "Screen Failure"
    _write(d, t)


def _case_locked_then_changed(d):
    t = _t()
    _write(d, t)
    write_manifest(d, study_id="XYZ-101")
    t["advs"].loc[0, "AVAL"] += 1
    t["advs"].to_parquet(d / "advs.parquet", index=False)


# (case, writer, the one expected line: a regular expression matched against the whole line)
CORPUS = [
    ("no_adsl", _case_no_adsl,
     r"ERROR no_adsl: no ADSL dataset \(adsl\.xpt, \.sas7bdat, \.parquet or \.csv\) — it is required"),
    ("adsl_without_usubjid", _case_adsl_without_usubjid,
     r"ERROR adsl\.parquet, column USUBJID: required variable is missing"),
    ("duplicate_subject", _case_duplicate_subject,
     r"ERROR adsl\.parquet, column USUBJID: duplicate key in rows 1, 13: 'XYZ-101-001'"),
    ("ae_unknown_subject", _case_ae_unknown_subject,
     r"ERROR adae\.parquet, column USUBJID: subjects not in ADSL in rows 3: 'XYZ-101-077'"),
    ("unreadable_adae", _case_unreadable_adae, r"ERROR adae\.parquet: not readable as parquet \(\w+: .+\)"),
    ("arm_not_in_config", _case_arm_not_in_config,
     r"ERROR adsl\.parquet, column TRT01P: arm not in study\.toml \[arms\] order in rows 1, 2, 3 \(\+2 more\): "
     r"'Drug 20 mg'"),
    ("config_unknown_key", _case_config_unknown_key,
     r"ERROR study\.toml \[arms\]: unknown key\(s\) colour; known: variable, order, reference, colours, exclude, "
     r"include_untreated, efficacy_variable, safety_variable"),
    ("config_not_toml", _case_config_not_toml, r"ERROR study\.toml: not valid TOML \(.+\)"),
    ("config_arm_variable_absent", _case_config_arm_variable_absent,
     r"ERROR study\.toml \[arms\] variable: TRT02A is not a variable of adsl\.parquet "
     r"\(treatment variables there: ARM, TRT01P, TRT01A\)"),
    ("two_files_one_dataset", _case_two_files_one_dataset,
     r"ERROR adsl\.parquet: dataset ADSL was already read from adsl\.csv; keep one file per dataset"),
    ("empty_adsl", _case_empty_adsl, r"ERROR adsl\.parquet: the dataset has no rows"),
    ("parameter_in_two_datasets", _case_parameter_in_two_datasets,
     r"ERROR advs\.parquet, column PARAMCD: parameter\(s\) also in adlb\.parquet: 'CREAT'; .+exclude.+"),
    ("ae_without_aedecod", _case_ae_without_aedecod, r"ERROR adae\.parquet, column AEDECOD: required variable is missing"),
    ("empty_population", _case_empty_population,
     r"ERROR adsl\.parquet, column EFFFL: no subject has EFFFL = 'Y': the efficacy population would be empty"),
    ("every_subject_a_screen_failure", _case_every_subject_a_screen_failure,
     r"ERROR adsl\.parquet, column TRT01P: no subject is in a treatment arm \(TRT01P 'Screen Failure'\): "
     r"nothing to show \(\[arms\] exclude in study\.toml\)"),
    ("locked_then_changed", _case_locked_then_changed,
     r"ERROR advs\.parquet: SHA-256 differs from LOCK\.json \(locked \w{12}…, found \w{12}…\): "
     r"the file was changed after the lock"),
]

# A broken parameter (BDS) dataset does not stop the app: it is served without it, with a red notice.
# (case, writer, the dataset left out, the one line about it after "ERROR served without <DATASET>: ")
SERVED_WITHOUT = [
    ("unreadable_parquet", _case_unreadable_parquet, "ADLB", r"adlb\.parquet: not readable as parquet \(\w+: .+\)"),
    ("csv_named_xpt", _case_csv_named_xpt, "ADLB", r"adlb\.xpt: not readable as xpt \(\w+: .+\)"),
    ("adlb_without_aval", _case_adlb_without_aval, "ADLB", r"adlb\.parquet, column AVAL: required variable is missing"),
    ("duplicate_bds_key", _case_duplicate_bds_key, "ADLB",
     r"adlb\.parquet, column USUBJID\+PARAMCD\+AVISITN: duplicate key among the observed records at scheduled "
     r"visits in rows 7, 10, 98 \(\+1 more\): 'XYZ-101-001/CREAT/4\.0', 'XYZ-101-002/ALT/2\.0'; ANL01FL not: "
     r"it does not resolve them — name the record to use "
     r"with \[datasets\.ADLB\] analysis_flag in study\.toml"),
    ("bds_unknown_subject", _case_bds_unknown_subject, "ADLB",
     r"adlb\.parquet, column USUBJID: subjects not in ADSL in rows 6: 'XYZ-101-999'"),
    ("aval_not_numeric", _case_aval_not_numeric, "ADLB", r"adlb\.csv, column AVAL: non-numeric values in rows 11: '<5'"),
    ("avisitn_not_numeric", _case_avisitn_not_numeric, "ADVS",
     r"advs\.csv, column AVISITN: non-numeric values in rows 5: 'Wk4'"),
    ("visit_number_inconsistent", _case_visit_number_inconsistent, "ADLB",
     r"adlb\.parquet, column AVISIT/AVISITN: AVISIT 'Week 4' maps to several AVISITN values: '4\.0', '5\.0'"),
    ("arm_differs_in_bds", _case_arm_differs_in_bds, "ADVS",
     r"advs\.xpt, column TRT01A: arm differs from ADSL in rows 8: 'Placebo'"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    out = {}
    for name, make, _ in CORPUS:
        d = root / name
        d.mkdir()
        make(d)
        out[name] = d
    return out


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 12 and len({c[0] for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("name,pattern", [(c[0], c[2]) for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_check_gives_one_line_verdict(corpus, name, pattern):
    code, lines = check_folder(corpus[name])
    assert code != 0
    *errors, last = lines
    assert len(errors) == 1, lines
    assert re.fullmatch(pattern, errors[0]), errors[0]
    assert "Traceback" not in errors[0] and "b'" not in errors[0]
    assert last.startswith("FAIL ") and "1 problem;" in last


@pytest.mark.parametrize("name", [c[0] for c in CORPUS])
def test_app_never_starts_on_a_fatal_folder(corpus, name, capsys, monkeypatch):
    with pytest.raises((DataError, LockError)):
        app_module.create_app(corpus[name])
    started = []
    monkeypatch.setattr("dash.Dash.run", lambda *a, **k: started.append(1))
    assert app_module.main(["--data", str(corpus[name]), "--port", "1"]) == 2
    assert not started
    assert app_module.main(["check", str(corpus[name])]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "FAIL" in out.out


@pytest.mark.parametrize("name", ["duplicate_subject", "config_unknown_key", "locked_then_changed"])
def test_command_line_exit_status_and_message(corpus, name):
    pattern = dict((c[0], c[2]) for c in CORPUS)[name]
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "check", str(corpus[name])],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and re.fullmatch(pattern, r.stdout.splitlines()[0])
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--data", str(corpus[name]), "--port", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
    # serving prints the same lines (lock lines without the ERROR prefix) to stderr
    bare = pattern.removeprefix("ERROR ")
    assert any(re.fullmatch(bare, line.strip().removeprefix("ERROR ")) for line in r.stderr.splitlines()), r.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    out = {}
    for name, make, _, _ in SERVED_WITHOUT:
        d = root / name
        d.mkdir()
        make(d)
        out[name] = d
    return out


@pytest.mark.parametrize("name,dataset,pattern", [(c[0], c[2], c[3]) for c in SERVED_WITHOUT],
                         ids=[c[0] for c in SERVED_WITHOUT])
def test_a_broken_parameter_dataset_is_left_out_and_said(served, name, dataset, pattern):
    code, lines = check_folder(served[name])
    assert code == 0, lines
    left_out = [x for x in lines if x.startswith("ERROR ")]
    assert len(left_out) == 1, lines
    prefix = f"ERROR served without {dataset}: "
    assert left_out[0].startswith(prefix) and re.fullmatch(pattern, left_out[0][len(prefix):]), left_out[0]
    verdict = next(x for x in lines if not x.startswith(("ERROR", "WARNING", "NOTE")))
    assert verdict.startswith(f"PARTIAL {served[name]}: the app can serve this folder without {dataset}")
    assert not any(x.startswith("OK ") for x in lines)
    study = load_study(served[name])
    assert set(study.dropped) == {dataset} and all(p.dataset != dataset for p in study.params.values())
    assert study.params  # the other parameter dataset is served
    # every page shows the red notice: it is part of the frame around the pages
    dash_app = app_module.create_app(served[name])
    layout = json.dumps(dash_app.server.test_client().get("/_dash-layout").get_json(), ensure_ascii=False)
    assert "dropped-notice" in layout and f"Served without {dataset}" in layout
    assert left_out[0][len(prefix):] in layout


def test_served_without_is_exit_status_0_on_the_command_line(served):
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "check", str(served["aval_not_numeric"])],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ERROR served without ADLB: adlb.csv, column AVAL")
    assert f"PARTIAL {served['aval_not_numeric']}" in r.stdout


# -- problems a user can live with: warnings, served, listed in the Data notes panel ------------------
def _warn_missing_ae_start(d):
    t = _t()
    t["adae"].loc[[0, 1, 4], "ASTDY"] = np.nan
    _write(d, t)


def _warn_missing_aval(d):
    t = _t()
    t["advs"].loc[[3, 9], "AVAL"] = np.nan
    _write(d, t)


def _warn_empty_config_arm(d):
    _write(d, _t())
    (d / "study.toml").write_text('[arms]\norder = ["Placebo", "Drug 5 mg", "Drug 10 mg", "Drug 20 mg"]\n')


def _warn_unlocked(d):
    _write(d, _t())


def _warn_arm_missing_in_adsl(d):
    t = _t()
    t["adsl"].loc[3, ["TRT01P", "TRT01A", "ARM"]] = ""  # in no arm, planned or actual
    for name in ("adlb", "adae"):  # the datasets that repeat the arm agree with ADSL
        t[name].loc[t[name]["USUBJID"] == t["adsl"].loc[3, "USUBJID"], "TRT01A"] = ""
    _write(d, t, "xpt5")


WARNINGS = [
    ("missing_ae_start", _warn_missing_ae_start, "WARNING adae.parquet, column ASTDY: 3 missing value(s) in rows 1, 2, 5"),
    ("missing_aval", _warn_missing_aval, "WARNING advs.parquet, column AVAL: 2 missing value(s) in rows 4, 10"),
    ("empty_config_arm", _warn_empty_config_arm, "WARNING study.toml [arms] order: no subject in 'Drug 5 mg'; not shown"),
    ("unlocked", _warn_unlocked, "WARNING unlocked: no LOCK.json — this dataset is not locked (fingerprint "),
    ("arm_missing_in_adsl", _warn_arm_missing_in_adsl,
     "NOTE adsl.xpt: 1 subject(s) in no treatment arm left out of every page (blank TRT01A: 1)"),
]


@pytest.mark.parametrize("name,make,line", WARNINGS, ids=[w[0] for w in WARNINGS])
def test_tolerable_problems_are_warnings_in_the_data_notes(tmp_path, name, make, line):
    d = tmp_path / name
    d.mkdir()
    make(d)
    code, lines = check_folder(d)
    assert code == 0 and any(x.startswith(line) for x in lines), lines
    study = load_study(d)
    assert any(n.startswith(line) for n in study.notes)
    dash_app = app_module.create_app(d)
    r = dash_app.server.test_client().get("/_dash-layout")
    layout = json.dumps(r.get_json(), ensure_ascii=False)
    assert r.status_code == 200 and "Data notes" in layout and line in layout


def test_lock_command_writes_refuses_overwrite_and_detects_change(tmp_path, capsys):
    d = _write(tmp_path / "study", _t(), "xpt5")
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "lock", str(d)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.startswith(f"LOCKED {d / 'LOCK.json'}: 5 files, fingerprint ")
    manifest = json.loads((d / "LOCK.json").read_text())
    assert manifest["study_id"] == "XYZ-101" and manifest["files"]["adlb.xpt"]["rows"] == len(_t()["adlb"])
    assert load_study(d).lock.locked

    def run(*args):
        code = app_module.main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    code, _, err = run("lock", str(d))
    assert code == 2 and "exists" in err and "--force" in err
    assert run("lock", str(d), "--force")[0] == 0
    code, out, _ = run("check", str(d))
    assert code == 0 and "locked " in out and "UNLOCKED" not in out
    with open(d / "advs.xpt", "r+b") as fh:  # one changed byte
        fh.seek(-20, 2)
        b = fh.read(1)
        fh.seek(-20, 2)
        fh.write(bytes([b[0] ^ 1]))
    code, out, _ = run("check", str(d))
    assert code == 2 and out.startswith("ERROR advs.xpt: SHA-256 differs from LOCK.json")


def test_lock_refuses_a_broken_folder(corpus, capsys):
    assert app_module.main(["lock", str(corpus["duplicate_subject"])]) == 2
    assert not (corpus["duplicate_subject"] / "LOCK.json").exists()
    assert "duplicate key" in capsys.readouterr().err
