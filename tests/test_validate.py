"""Each validation rule, triggered by a crafted bad table, gives one readable line."""

import pandas as pd
import pytest

from data.lock import write_manifest
from data.study import DataError, load_study
from data.validate import validate_tables


@pytest.fixture()
def good():
    adsl = pd.DataFrame({"USUBJID": ["S1", "S2"], "TRT01A": ["A", "B"]})
    lb = pd.DataFrame({
        "USUBJID": ["S1", "S1", "S2", "S2"], "PARAMCD": ["X"] * 4, "PARAM": ["X (u)"] * 4,
        "AVISIT": ["Baseline", "Week 4"] * 2, "AVISITN": [0, 4, 0, 4], "AVAL": [1.0, 2.0, 3.0, 4.0],
        "TRT01A": ["A", "A", "B", "B"],
    })
    ae = pd.DataFrame({"USUBJID": ["S1"], "AEDECOD": ["Headache"], "AEBODSYS": ["Nervous system disorders"],
                       "ASTDY": [3]})
    return adsl, lb, ae


def lines(adsl, lb, ae=None):
    return [str(p) for p in validate_tables(adsl, {"ADLB": lb}, ae, "TRT01A")]


def test_good_tables_pass(good):
    assert lines(*good) == []


def test_missing_required_column(good):
    adsl, lb, ae = good
    assert lines(adsl, lb.drop(columns="AVAL"), ae) == ["ERROR ADLB, column AVAL: required variable is missing"]
    assert lines(adsl.drop(columns="TRT01A"), lb, ae) == ["ERROR ADSL, column TRT01A: required variable is missing"]


def test_duplicate_subject_in_adsl(good):
    adsl, lb, ae = good
    out = lines(pd.concat([adsl, adsl.iloc[[0]]], ignore_index=True), lb, ae)
    assert out == ["ERROR ADSL, column USUBJID: duplicate key in rows 1, 3: 'S1'"]


def test_duplicate_bds_key(good):
    adsl, lb, ae = good
    out = lines(adsl, pd.concat([lb, lb.iloc[[1]]], ignore_index=True), ae)
    assert out == ["ERROR ADLB, column USUBJID+PARAMCD+AVISITN: duplicate key in rows 2, 5: 'S1/X/4'"]


def test_unknown_subject(good):
    adsl, lb, ae = good
    lb.loc[3, "USUBJID"] = "S9"
    ae.loc[0, "USUBJID"] = "S7"
    out = lines(adsl, lb, ae)
    assert "ERROR ADLB, column USUBJID: subjects not in ADSL in rows 4: 'S9'" in out
    assert "ERROR ADAE, column USUBJID: subjects not in ADSL in rows 1: 'S7'" in out


def test_arm_disagreeing_with_adsl(good):
    adsl, lb, ae = good
    lb.loc[0, "TRT01A"] = "Placebo"
    assert lines(adsl, lb, ae) == ["ERROR ADLB, column TRT01A: arm differs from ADSL in rows 1: 'Placebo'"]


def test_missing_arm_in_adsl_is_no_arm_not_an_error(good, tmp_path):
    """A blank arm (a screen failure, say) is not a defect of ADSL: that subject is in no treatment arm."""
    adsl, lb, ae = good
    adsl.loc[1, "TRT01A"] = None
    assert lines(adsl, lb, ae) == []
    adsl.to_parquet(tmp_path / "adsl.parquet")
    lb.to_parquet(tmp_path / "adlb.parquet")
    study = load_study(tmp_path)
    assert [a.label for a in study.arms] == ["A"] and list(study.excluded["USUBJID"]) == ["S2"]
    assert any("1 subject(s) in no treatment arm left out of every page (blank TRT01A: 1)" in n for n in study.notes)
    assert set(study.measurements["USUBJID"].astype(str)) == {"S1"}


def test_non_numeric_aval_and_avisitn(good):
    adsl, lb, ae = good
    lb["AVAL"] = lb["AVAL"].astype(object)
    lb.loc[2, "AVAL"] = "<0.5"
    out = lines(adsl, lb, ae)
    assert out == ["ERROR ADLB, column AVAL: non-numeric values in rows 3: '<0.5'"]
    lb2 = good[1].copy()
    lb2["AVISITN"] = lb2["AVISITN"].astype(object)
    lb2.loc[1, "AVISITN"] = "four"
    assert "ERROR ADLB, column AVISITN: non-numeric values in rows 2: 'four'" in lines(adsl, lb2, ae)


def test_visit_name_and_number_inconsistent(good):
    adsl, lb, ae = good
    lb.loc[3, "AVISITN"] = 8
    assert lines(adsl, lb, ae) == [
        "ERROR ADLB, column AVISIT/AVISITN: AVISIT 'Week 4' maps to several AVISITN values: '4', '8'"]


def test_missing_ae_start_day_is_a_warning(good):
    adsl, lb, ae = good
    ae.loc[0, "ASTDY"] = None
    out = validate_tables(adsl, {"ADLB": lb}, ae, "TRT01A")
    assert [str(p) for p in out] == ["WARNING ADAE, column ASTDY: 1 missing value(s) in rows 1"]
    assert not out[0].fatal


def test_load_study_reports_every_fatal_line(tmp_path, good):
    adsl, lb, ae = good
    adsl.loc[1, "USUBJID"] = "S1"
    adsl.to_parquet(tmp_path / "adsl.parquet")
    lb.to_parquet(tmp_path / "adlb.parquet")
    write_manifest(tmp_path, study_id="T")
    with pytest.raises(DataError) as e:
        load_study(tmp_path)
    assert e.value.lines == ["ERROR adsl.parquet, column USUBJID: duplicate key in rows 1, 2: 'S1'"]


def test_a_broken_parameter_dataset_is_left_out(tmp_path, good):
    """A BDS dataset with a defect does not stop the app: it is served without it, and says so."""
    adsl, lb, ae = good
    lb.loc[3, "USUBJID"] = "S9"
    adsl.to_parquet(tmp_path / "adsl.parquet")
    lb.to_parquet(tmp_path / "adlb.parquet")
    study = load_study(tmp_path)
    assert study.dropped == {"ADLB": ("adlb.parquet, column USUBJID: subjects not in ADSL in rows 4: 'S9'",)}
    assert study.params == {} and any("n = 0" in w or "nothing to show" in w for w in study.empty_pages)


def test_missing_adsl_and_unreadable_file(tmp_path, good):
    good[1].to_parquet(tmp_path / "adlb.parquet")
    (tmp_path / "adae.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError) as e:
        load_study(tmp_path)
    assert any(l.startswith("ERROR adae.parquet: not readable as parquet") for l in e.value.lines)
    assert any("no ADSL dataset" in l for l in e.value.lines)
