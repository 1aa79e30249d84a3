"""Any ADaM study folder opens: parquet, CSV, SAS transport v5 (cp1252) and v8 (UTF-8), sas7bdat, mixed.

Each format holds the same small XYZ-101 study (``adam_builder``); every check compares what the
app shows with an independent computation from the frames the builder wrote.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd
import pytest

import adam_builder as B
from app import create_app
from conftest import CallbackClient, free_port, wait_http
from data import filters as F
from data.study import load_study, read_dataset

FORMATS = ("parquet", "csv", "xpt5", "xpt8", "sas7bdat")


def make_folder(root, fmt):
    d = root / fmt
    if fmt == "sas7bdat":  # committed fixture: ReadStat's writer, see adam_builder
        shutil.copytree(B.SAS7BDAT_FIXTURE, d)
        return d
    return B.write(d, fmt)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    return {fmt: make_folder(root, fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def source():
    return B.build()


def expected_measurements(t) -> pd.DataFrame:
    """The rows the time axis should show, computed from the builder's frames by ADaM rules: labs and vital
    signs are safety data (SAFFL population); ANL01FL resolves ADLB's retest at week 2 (a duplicate key)."""
    eff = set(t["adsl"].loc[t["adsl"]["SAFFL"] == "Y", "USUBJID"])
    lb = t["adlb"][(t["adlb"]["ANL01FL"] == "Y") & t["adlb"]["AVISITN"].isin([0, 2, 4])]
    rows = pd.concat([lb, t["advs"]], ignore_index=True)
    rows = rows[rows["USUBJID"].isin(eff)]
    return rows[["USUBJID", "PARAMCD", "AVISITN", "AVAL"]].sort_values(["USUBJID", "PARAMCD", "AVISITN"]) \
        .reset_index(drop=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_folder_opens_with_adam_defaults(folders, source, fmt):
    study = load_study(folders[fmt])
    assert study.study_id == "XYZ-101" and not study.lock.locked and not study.simulated
    # arms from TRT01P (efficacy data) and TRT01A (safety data), ordered by TRT01AN, n from ADSL; codes from ARMCD
    assert [(a.label, a.code, a.n) for a in study.arms] == [("Placebo", "PBO", 4), ("Drug 10 mg", "D10", 3),
                                                             ("Drug 20 mg", "D20", 5)]
    assert study.arm_variables == {"efficacy": "TRT01P", "safety": "TRT01A"} and study.reference.label == "Placebo"
    # populations by flag
    assert study.efficacy_flag == "EFFFL" and study.safety_flag == "SAFFL"
    assert (study.population("efficacy").n, study.population("safety").n) == (11, 11)
    # parameters from both BDS datasets, grouped by dataset and PARCAT1 (dataset name where there is none)
    assert {c: (p.dataset, p.category, p.unit) for c, p in study.params.items()} == {
        "ALT": ("ADLB", "CHEMISTRY", "U/L"), "CREAT": ("ADLB", "CHEMISTRY", "umol/L"),
        "SYSBP": ("ADVS", "ADVS", "mmHg"), "DIABP": ("ADVS", "ADVS", "mmHg")}
    assert study.params["ALT"].lo == 7 and study.params["ALT"].hi == 56
    # time axis: scheduled visits only; unscheduled / End of Treatment kept aside
    assert study.visits == ((0.0, "Baseline"), (2.0, "Week 2"), (4.0, "Week 4"))
    assert study.baseline_visit == 0.0 and study.end_visit == 4.0
    assert set(study.off_axis["AVISIT"].astype(str)) == {"Unscheduled 1", "End of Treatment"}
    assert any("kept off the time axis" in n for n in study.notes)
    # values: the analysis records (ANL01FL; the retest of 500 U/L is not one) of the safety population
    m = study.measurements
    got = m[["USUBJID", "PARAMCD", "AVISITN", "AVAL"]].astype({"USUBJID": str, "PARAMCD": str}) \
        .sort_values(["USUBJID", "PARAMCD", "AVISITN"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected_measurements(source), check_dtype=False)
    assert 500.0 not in set(m["AVAL"])
    # baseline derived for ADVS (no ABLFL: AVISITN 0), change from baseline computed
    vs = m[m["PARAMCD"] == "SYSBP"].set_index(["USUBJID", "AVISITN"])["CHG"]
    src = source["advs"][source["advs"]["PARAMCD"] == "SYSBP"].set_index(["USUBJID", "AVISITN"])["AVAL"]
    for (u, v), chg in vs.items():
        if v == 0:
            assert np.isnan(chg)
        else:
            assert chg == pytest.approx(src[(u, v)] - src[(u, 0.0)])
    # arm joined by USUBJID
    arm_of = dict(zip(source["adsl"]["USUBJID"], source["adsl"]["TRT01A"]))
    assert (m["ARM"].astype(str) == m["USUBJID"].astype(str).map(arm_of)).all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_is_decoded_and_dates_are_dates(folders, source, fmt):
    study = load_study(folders[fmt])
    assert study.adae["AETERM"].iloc[0] == B.AE_TERM  # cp1252 in v5, UTF-8 in v8 and sas7bdat
    for frame in (study.adsl, study.adae, study.measurements):
        for col in frame.columns:
            assert not any(isinstance(v, bytes) for v in frame[col].head(50)), col
    assert pd.api.types.is_datetime64_any_dtype(study.adsl["TRTSDT"])
    assert list(study.adsl["TRTSDT"].dt.normalize()) == list(source["adsl"]["TRTSDT"])
    assert list(study.adsl["SUBJID"]) == list(source["adsl"]["SUBJID"])  # '001' stays text
    # the AE events of the safety population only (subject 6 has SAFFL = N)
    saf = set(source["adsl"].loc[source["adsl"]["SAFFL"] == "Y", "USUBJID"])
    assert len(study.adae) == source["adae"]["USUBJID"].isin(saf).sum() == 5
    assert study.ae_vars == {"severity": "AETOXGR", "serious": "AESER", "related": "AEREL", "emergent": "TRTEMFL",
                             "start_day": "ASTDY", "end_day": "AENDY"}


def test_cp1252_is_noted_and_encoding_can_be_forced(folders, tmp_path):
    study = load_study(folders["xpt5"])
    assert any(n.startswith("NOTE adae.xpt: character data decoded as cp1252") for n in study.notes)
    df, used = read_dataset(folders["xpt5"] / "adae.xpt", "latin-1")
    assert df["AETERM"].iloc[0] == B.AE_TERM.replace("’", "\x92")  # latin-1 has no right quote: the raw byte
    df, used = read_dataset(folders["xpt8"] / "adae.xpt")
    assert df["AETERM"].iloc[0] == B.AE_TERM and used == "utf-8"


def test_csv_in_cp1252_is_read(tmp_path, source):
    d = B.write(tmp_path / "s", "csv")
    (d / "adae.csv").write_bytes(source["adae"].to_csv(index=False).encode("cp1252"))
    study = load_study(d)
    assert study.adae["AETERM"].iloc[0] == B.AE_TERM
    assert any(n.startswith("NOTE adae.csv: character data decoded as cp1252") for n in study.notes)


def test_mixed_formats_in_one_folder(tmp_path, folders, source):
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(folders["xpt5"] / "adsl.xpt", d)
    shutil.copy(folders["parquet"] / "adlb.parquet", d)
    shutil.copy(folders["csv"] / "advs.csv", d)
    shutil.copy(folders["sas7bdat"] / "adae.sas7bdat", d)
    study = load_study(d)
    assert [a.n for a in study.arms] == [4, 3, 5] and set(study.params) == {"ALT", "CREAT", "SYSBP", "DIABP"}
    assert study.datasets == {"ADSL": "adsl.xpt", "ADLB": "adlb.parquet", "ADVS": "advs.csv", "ADAE": "adae.sas7bdat"}


def test_sas7bdat_fixture_is_what_the_builder_writes(tmp_path, folders):
    """The committed sas7bdat files hold exactly the builder's study (re-made where ReadStat is installed)."""
    if shutil.which("readstat") is None:
        pytest.skip("the readstat tool is not installed: the committed fixture is used as is")
    fresh = B.write(tmp_path / "fresh", "sas7bdat")
    for p in sorted(B.SAS7BDAT_FIXTURE.glob("*.sas7bdat")):
        a, _ = read_dataset(p)
        b, _ = read_dataset(fresh / p.name)
        pd.testing.assert_frame_equal(a, b)


# -- the app on each format --------------------------------------------------------------------
def _cells(table):
    tbl = table if isinstance(table, dict) else table[0]
    head, body = tbl["props"]["children"]
    header = [th["props"]["children"] for th in head["props"]["children"]["props"]["children"]]
    rows = [[td["props"]["children"] for td in tr["props"]["children"]] for tr in body["props"]["children"]]
    return header, rows


@pytest.mark.parametrize("fmt", FORMATS)
def test_overview_renders_with_the_right_arms_and_counts(folders, fmt):
    app = create_app(folders[fmt])
    study = app.server.config["STUDY"]
    cb = CallbackClient(app, app.server.test_client())
    out = cb.outputs("ov-design", "figure", {"filter-state.data": F.default_state(study).to_store()})
    header, rows = _cells(out["ov-baseline.children"][0])
    assert header == ["Characteristic", "Statistic", "Placebo (N=4)", "Drug 10 mg (N=3)", "Drug 20 mg (N=5)",
                      "Total (N=12)"]
    _, disp = _cells(out["ov-disposition.children"])
    d = {r[0]: r[1:] for r in disp}
    assert d["Randomised"] == ["4", "3", "5", "12"]
    # subject 8 (index 7) discontinued: a Placebo subject (subjects 6-9 are Placebo)
    assert d["Discontinued"] == ["1 (25%)", "0 (0%)", "0 (0%)", "1 (8%)"]
    # the arm filter works on this study's codes; the unlocked badge and fingerprint are shown
    out = cb.outputs("ov-design", "figure", {"filter-state.data": {"arms": ["D10"], "weeks": [0, 4], "patients": []}})
    assert _cells(out["ov-baseline.children"][0])[0][2:] == ["Drug 10 mg (N=3)", "Total (N=3)"]
    layout = app.server.test_client().get("/_dash-layout").get_data(as_text=True)
    assert "UNLOCKED DATASET" in layout and study.lock.short in layout


@pytest.mark.parametrize("fmt", ("xpt5", "csv"))
def test_every_page_routes_on_a_foreign_study(folders, fmt):
    import app as app_module

    app = create_app(folders[fmt])
    cb = CallbackClient(app, app.server.test_client())
    for page in app_module.PAGES:
        out = cb.outputs("page-content", "children", {"url.pathname": page.PATH})
        assert out and out["page-content.children"], page.ID


@pytest.mark.browser
def test_every_page_in_a_browser_on_an_xpt_study(folders):
    """Serve the XPT study (TRIAL_DATA, as gunicorn would get it) and open every page: no console error."""
    import os
    import subprocess
    import sys

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import app as app_module
    from conftest import ROOT

    port = free_port()
    env = {**os.environ, "TRIAL_DATA": str(folders["xpt5"])}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,720"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        for page in app_module.PAGES:
            driver.get(f"http://127.0.0.1:{port}{page.PATH}")
            WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#page-content > *"))
            time.sleep(2)
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "XYZ-101" in body and "Placebo" in body, page.ID
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, (page.ID, severe)
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(10)


def test_trial_data_environment_variable_names_the_folder(folders, monkeypatch):
    monkeypatch.setenv("TRIAL_DATA", str(folders["xpt8"]))
    app = create_app()
    assert app.server.config["STUDY"].study_id == "XYZ-101" and app.title == "XYZ-101 results explorer"
