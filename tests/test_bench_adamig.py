"""The benchmark's size R (bench/adamig.py), generated small: true ADaMIG shape that the app serves —
timepoints, DTYPE rows, unscheduled visits, screen failures, 50 lab parameters — as locked XPT v5 files."""

from __future__ import annotations

import pyreadstat
import pytest

from bench import adamig
from data.study import check_folder, load_study


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return adamig.ensure(24, tmp_path_factory.mktemp("adamig"))


def _raw(folder, name):
    df, meta = pyreadstat.read_xport(str(folder / f"{name}.xpt"))
    return df, meta


def test_the_files_have_the_conventions(small):
    assert sorted(p.name for p in small.iterdir()) == ["LOCK.json", "adae.xpt", "adcm.xpt", "adeg.xpt", "adlb.xpt",
                                                        "adqs.xpt", "adsl.xpt", "advs.xpt"]
    adsl, meta = _raw(small, "adsl")
    assert (adsl["ARMCD"] == "SCRNFAIL").sum() == round(24 * 0.15) and meta.file_label
    assert all(len(c) <= 8 for c in adsl.columns)  # XPT v5 names
    lb, _ = _raw(small, "adlb")
    assert lb["PARAMCD"].nunique() == 50
    assert {"MAXIMUM", "MINIMUM"} <= set(lb["DTYPE"])
    assert lb["AVISIT"].str.startswith("Unscheduled").any() and (lb["AVISITN"] == 99).any()
    assert {"A1LO", "A1HI", "ANRIND", "BNRIND"} <= set(lb.columns) and "ANRLO" not in lb.columns
    vs, _ = _raw(small, "advs")
    assert vs["ATPTN"].dropna().nunique() == 3 and (vs["DTYPE"] == "AVERAGE").any()
    qs, _ = _raw(small, "adqs")
    assert (qs["DTYPE"] == "LOCF").any()


def test_the_app_serves_it_with_each_convention_applied(small):
    code, lines = check_folder(small)
    assert code == 0, lines
    study = load_study(small)
    adsl, _ = _raw(small, "adsl")
    assert len(study.adsl) == 24 and len(study.excluded) == int((adsl["ARMCD"] == "SCRNFAIL").sum())
    assert [a.label for a in study.arms] == list(adamig.ARMS)  # display order from TRT01PN: 0, 54, 81
    assert study.lock.locked and study.simulated
    assert any(c.startswith("SYSBP@") for c in study.params), "a parameter per timepoint"
    assert sum(1 for p in study.params.values() if p.dataset == "ADLB") == 50
    assert set(study.imputed["DTYPE"].astype(str)) == {"LOCF"}
    assert study.time_unit == "week" and 26.0 in study.visit_numbers
    # unscheduled visits stay off the time axis, except a baseline taken at an unscheduled pre-dose retest
    m = study.measurements
    unsched = m["AVISIT"].astype(str).str.startswith("Unscheduled")
    assert unsched.any() and (m.loc[unsched, "ABLFL"] == "Y").all() and (m.loc[unsched, "TIME"] == 0).all()
    assert study.off_axis["AVISIT"].astype(str).str.startswith("Unscheduled").any()
