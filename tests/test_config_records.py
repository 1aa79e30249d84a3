"""study.toml keys of the record selection: [datasets.<NAME>] population / analysis_flag / basetype and
[arms] exclude / include_untreated: parsed, checked against the data, and in effect."""

from __future__ import annotations

import pytest

import adam_builder as B
import realistic as R
from data import config as C
from data.study import DataError, load_study


@pytest.mark.parametrize("text,line", [
    ('[datasets.ADVS]\npopulation = "ITT"\n',
     "ERROR study.toml [datasets.ADVS] population: must be one of 'safety', 'efficacy', 'all', not 'ITT'"),
    ('[datasets.ADVS]\nflag = "ANL01FL"\n',
     "ERROR study.toml [datasets.ADVS]: unknown key(s) flag; known: population, analysis_flag, basetype"),
    ('[datasets.ADVS]\nanalysis_flag = "ANL 01"\n',
     "ERROR study.toml [datasets.ADVS] analysis_flag: must be a SAS variable or dataset name (letters, digits, _), "
     "not 'ANL 01'"),
    ('[arms]\ninclude_untreated = "yes"\n', "ERROR study.toml [arms] include_untreated: must be true or false, not 'yes'"),
])
def test_bad_record_keys_name_the_problem(text, line):
    with pytest.raises(C.ConfigError) as e:
        C.parse(text)
    assert e.value.lines == [line]


@pytest.fixture()
def realistic(tmp_path):
    return R.write(tmp_path / "combined", R.COMBINED, "parquet")


@pytest.mark.parametrize("text,line", [
    ('[datasets.ADXX]\npopulation = "safety"\n',
     "ERROR study.toml [datasets.ADXX]: no parameter dataset ADXX (parameter datasets: ADLB, ADQS, ADVS)"),
    ('[datasets.ADLB]\nanalysis_flag = "ANL09FL"\n',
     "ERROR study.toml [datasets.ADLB] analysis_flag: ANL09FL is not a variable of adlb.parquet (analysis flags "
     "there: ANL01FL, ANL02FL)"),
    ('[datasets.ADLB]\nbasetype = "FIRST"\n',
     "ERROR study.toml [datasets.ADLB] basetype: no BASETYPE 'FIRST' in adlb.parquet (values: 'LAST', 'SCREENING')"),
    ('[datasets.ADVS]\nbasetype = "LAST"\n',
     "ERROR study.toml [datasets.ADVS] basetype: no BASETYPE 'LAST' in advs.parquet (values: none: no BASETYPE)"),
])
def test_record_keys_are_checked_against_the_data(realistic, text, line):
    (realistic / "study.toml").write_text(text)
    with pytest.raises(DataError) as e:
        load_study(realistic)
    assert e.value.lines == [line]


def test_record_keys_take_effect(realistic):
    base = load_study(realistic)
    m = base.measurements
    assert base.population_of("ADQS").flag == "EFFFL"
    (realistic / "study.toml").write_text('[datasets.ADQS]\npopulation = "safety"\n'
                                          '[datasets.ADLB]\nbasetype = "SCREENING"\nanalysis_flag = "ANL02FL"\n')
    s = load_study(realistic)
    # ADQS in the safety population: the two safety-only subjects' values join it
    only = set(s.adsl.loc[s.adsl["EFFFL"] == "N", "USUBJID"])
    assert only <= set(s.measurements.loc[s.measurements["PARAMCD"] == "ACTOT", "USUBJID"].astype(str))
    assert not only & set(m.loc[m["PARAMCD"] == "ACTOT", "USUBJID"].astype(str))
    # ADLB analysed against the SCREENING baseline: the sponsor's CHG of that definition
    lb = R.read(realistic, "adlb")
    scr = lb[(lb["BASETYPE"] == "SCREENING") & (lb["PARAMCD"] == "ALT") & (lb["AVISIT"] == "Week 12")
             & (lb["ANL02FL"] == "Y")]
    got = s.measurements[(s.measurements["PARAMCD"] == "ALT") & (s.measurements["TIME"] == 12.0)]
    assert sorted(got["CHG"].round(6)) == sorted(scr["CHG"].round(6))
    assert any("baseline definition (BASETYPE): 'SCREENING', study.toml" in x for x in s.reports["ADLB"])
    assert any(x.startswith("analysis flag: ANL02FL = 'Y' applied to post-baseline records (study.toml")
               for x in s.reports["ADLB"])
    # baseline at week 0, now the screening record (AVISITN -1)
    b = s.measurements[(s.measurements["PARAMCD"] == "ALT") & (s.measurements["ABLFL"] == "Y")]
    assert set(b["TIME"]) == {0.0} and set(b["AVISITN"]) == {-1.0}


def test_untreated_subjects_without_any_population_flag(tmp_path):
    """No population flag in ADSL: a subject without TRTSDT was never treated: in no actual (safety) arm, unless
    study.toml keeps them; randomised (a planned arm), they stay in their planned arm for efficacy data. With one
    arm variable for both, they are in no arm at all."""
    t = B.build()
    t["adsl"] = t["adsl"].drop(columns=["SAFFL", "EFFFL", "ITTFL"])
    t["adsl"]["TRTSDT"] = t["adsl"]["TRTSDT"].astype("datetime64[ns]")
    t["adsl"].loc[4, "TRTSDT"] = None
    untreated = t["adsl"].loc[4, "USUBJID"]
    d = B.write(tmp_path / "x", "parquet", t)
    s = load_study(d)
    assert sum(a.n for a in s.arms) == 12 and s.excluded.empty
    assert untreated in s.population("efficacy").subjects and untreated not in s.population("safety").subjects
    assert any("1 subject(s) randomised but in no TRT01A arm (no TRTSDT (never treated): 1)" in n for n in s.notes)
    (d / "study.toml").write_text('[arms]\nvariable = "TRT01A"\n')
    s = load_study(d)
    assert sum(a.n for a in s.arms) == 11 and list(s.excluded["USUBJID"]) == [untreated]
    assert any("(no TRTSDT (never treated): 1)" in n for n in s.notes)
    (d / "study.toml").write_text('[arms]\nvariable = "TRT01A"\ninclude_untreated = true\n')
    assert sum(a.n for a in load_study(d).arms) == 12
