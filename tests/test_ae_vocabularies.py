"""The Safety page's overview table under each AE coding sponsors use, against the test's own pandas count.

Relatedness as Y/N, RELATED/NOT RELATED, the causality scale (DEFINITE … NOT RELATED) and numeric
codes (with study.toml [safety] related / not_related); a variable absent or empty reads "not
available" with where the fact comes from, never 0 %; discontinuation from AEACN, else ADSL
DSRAEFL, else DCSREAS, labelled with its source. Each case is a generated study (tests/neutral_builder.py)
read through the app's real summary callback; expected counts come from the written XPT files.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import neutral_builder as N
from app import create_app
from conftest import CallbackClient
from data import filters as F

ARMS = [a for a, _c, _d in N.ARMS]
NA = "not available"


def summary(tmp_path, name, toml=None, adsl_drop=(), **ae_options):
    tables = N.build(**ae_options)
    tables["adsl"] = tables["adsl"].drop(columns=list(adsl_drop))
    folder = N.write(tmp_path / name, tables, toml=toml)
    app = create_app(folder)
    study = app.server.config["STUDY"]
    out = CallbackClient(app, app.server.test_client()).outputs(
        "ae-summary", "children", {"filter-state.data": F.default_state(study).to_store()})
    table = out["ae-summary.children"][0]
    head, body = table["props"]["children"]
    rows = {tr["props"]["children"][0]["props"]["children"]: [td["props"]["children"] for td in tr["props"]["children"][1:]]
            for tr in body["props"]["children"]}
    note = json.dumps(out["ae-summary.children"][1], ensure_ascii=False)
    ae = pd.read_sas(folder / "adae.xpt", format="xport", encoding="utf-8")
    sl = pd.read_sas(folder / "adsl.xpt", format="xport", encoding="utf-8")
    return rows, note, ae, sl


def n_pct(sl, subjects):
    """The expected cells: subjects per arm (of the safety population), then the total."""
    cells = []
    for arm in ARMS:
        n = int((sl["TRT01A"] == arm).sum())
        k = int(sl.loc[(sl["TRT01A"] == arm) & sl["USUBJID"].isin(subjects), "USUBJID"].nunique())
        cells.append(f"{k} ({100 * k / n:.0f}%)")
    k = int(sl["USUBJID"].isin(subjects).sum())
    return cells + [f"{k} ({100 * k / len(sl):.0f}%)"]


def related_subjects(ae, values):
    te = ae["TRTEMFL"] == "Y"
    rel = ae["AEREL"].astype(str).str.strip().str.upper().isin(values)
    return set(ae.loc[te & rel, "USUBJID"])


@pytest.mark.parametrize("coding,related", [
    ("yn", {"Y"}),
    ("related", {"RELATED"}),
    ("causality", {"DEFINITE", "PROBABLE", "POSSIBLE"}),  # UNLIKELY, REMOTE, NONE, NOT RELATED are not
])
def test_relatedness_codings(tmp_path, coding, related):
    rows, note, ae, sl = summary(tmp_path, coding, relatedness=coding)
    expected = n_pct(sl, related_subjects(ae, related))
    assert rows["Any TEAE related to study drug"] == expected
    assert expected[-1] != "0 (0%)"  # the coding has related events: a 0 would be the bug this guards
    assert "AEREL in" in note


def test_numeric_codes_need_study_toml(tmp_path):
    rows, note, ae, sl = summary(tmp_path, "codes", relatedness="numeric")
    label = next(k for k in rows if k.startswith("Any TEAE related to study drug"))
    assert rows[label] == [NA] * 4
    assert "not available" in label and "AEREL numeric codes '1', '2', '3', '4' not recognised" in label
    assert "[safety] related" in label
    toml = '[safety]\nrelated = [1, 2]\nnot_related = [3, 4]\n'
    rows, note, ae, sl = summary(tmp_path, "codes-toml", toml=toml, relatedness="numeric")
    codes = pd.to_numeric(ae["AEREL"])
    expected = n_pct(sl, set(ae.loc[(ae["TRTEMFL"] == "Y") & codes.isin([1, 2]), "USUBJID"]))
    assert rows["Any TEAE related to study drug"] == expected


@pytest.mark.parametrize("coding,why", [("empty", "AEREL is empty in the adverse-event dataset"),
                                        ("absent", "no AEREL in the adverse-event dataset")])
def test_relatedness_absent_or_empty_is_not_available(tmp_path, coding, why):
    rows, note, ae, sl = summary(tmp_path, coding, relatedness=coding)
    label = next(k for k in rows if k.startswith("Any TEAE related to study drug"))
    assert rows[label] == [NA] * 4 and why in label


def test_discontinuation_from_aeacn(tmp_path):
    rows, note, ae, sl = summary(tmp_path, "aeacn")
    subj = set(ae.loc[(ae["TRTEMFL"] == "Y") & (ae["AEACN"] == "DRUG WITHDRAWN"), "USUBJID"])
    assert rows["Any TEAE leading to discontinuation"] == n_pct(sl, subj)
    assert "ADAE AEACN = 'DRUG WITHDRAWN'" in note


@pytest.mark.parametrize("aeacn", ["empty", "absent"])
def test_discontinuation_falls_back_to_adsl_dsraefl(tmp_path, aeacn):
    rows, note, ae, sl = summary(tmp_path, f"dsraefl-{aeacn}", aeacn=aeacn)
    label = "Discontinued the study because of an AE (ADSL DSRAEFL = Y)"
    expected = n_pct(sl, set(sl.loc[sl["DSRAEFL"] == "Y", "USUBJID"]))
    assert rows[label] == expected and expected[-1] != "0 (0%)"
    assert "Any TEAE leading to discontinuation" not in rows
    assert "ADSL DSRAEFL = 'Y'" in note


def test_discontinuation_falls_back_to_adsl_dcsreas(tmp_path):
    rows, note, ae, sl = summary(tmp_path, "dcsreas", aeacn="empty", adsl_drop=["DSRAEFL"])
    label = "Discontinued the study because of an AE (ADSL DCSREAS = ADVERSE EVENT)"
    assert rows[label] == n_pct(sl, set(sl.loc[sl["DCSREAS"] == "ADVERSE EVENT", "USUBJID"]))


def test_discontinuation_without_any_source_is_not_available(tmp_path):
    rows, note, ae, sl = summary(tmp_path, "nodisc", aeacn="absent", adsl_drop=["DSRAEFL", "DCSREAS", "EOSSTT"])
    label = next(k for k in rows if k.startswith("Any TEAE leading to discontinuation"))
    assert rows[label] == [NA] * 4
    assert "AEACN is absent or empty" in label and "DSRAEFL or DCSREAS" in label


def test_serious_and_grade_absent_are_not_available(tmp_path):
    rows, note, ae, sl = summary(tmp_path, "noser", aeser=False, grade=False)
    serious = next(k for k in rows if k.startswith("Any serious TEAE"))
    grade = next(k for k in rows if k.startswith("Any grade ≥3 or severe TEAE"))
    assert rows[serious] == [NA] * 4 and "no AESER in the adverse-event dataset" in serious
    assert rows[grade] == [NA] * 4 and "neither AETOXGR nor AESEV" in grade
    te = ae["TRTEMFL"] == "Y"
    assert rows["Any TEAE"] == n_pct(sl, set(ae.loc[te, "USUBJID"]))


def test_unrecognised_relatedness_value_is_named(tmp_path):
    tables = N.build(relatedness="related")
    tables["adae"].loc[tables["adae"].index[:2], "AEREL"] = "SUSPECTED"
    folder = N.write(tmp_path / "odd", tables)
    app = create_app(folder)
    study = app.server.config["STUDY"]
    out = CallbackClient(app, app.server.test_client()).outputs(
        "ae-summary", "children", {"filter-state.data": F.default_state(study).to_store()})
    text = json.dumps(out, ensure_ascii=False)
    assert "AEREL values 'SUSPECTED' not recognised" in text
    folder2 = N.write(tmp_path / "odd2", tables, toml='[safety]\nrelated = ["RELATED", "SUSPECTED"]\n')
    app = create_app(folder2)
    study = app.server.config["STUDY"]
    out = CallbackClient(app, app.server.test_client()).outputs(
        "ae-summary", "children", {"filter-state.data": F.default_state(study).to_store()})
    rows = {tr["props"]["children"][0]["props"]["children"]: [td["props"]["children"] for td in tr["props"]["children"][1:]]
            for tr in out["ae-summary.children"][0]["props"]["children"][1]["props"]["children"]}
    ae = pd.read_sas(folder2 / "adae.xpt", format="xport", encoding="utf-8")
    sl = pd.read_sas(folder2 / "adsl.xpt", format="xport", encoding="utf-8")
    assert rows["Any TEAE related to study drug"] == n_pct(sl, related_subjects(ae, {"RELATED", "SUSPECTED"}))


def test_safety_toml_is_checked(tmp_path):
    from data.config import ConfigError, parse
    from data.study import DataError, load_study

    with pytest.raises(ConfigError) as e:
        parse('[safety]\nrelated = ["POSSIBLE"]\nnot_related = ["POSSIBLE"]\n')
    assert e.value.lines == ["ERROR study.toml [safety]: 'POSSIBLE' listed under both related and not_related"]
    with pytest.raises(DataError) as e:
        load_study(N.write(tmp_path / "s", toml='[safety]\nrelatedness = "AERELN"\n'))
    assert e.value.lines == ["ERROR study.toml [safety] relatedness: AERELN is not a variable of the adverse-event "
                             "dataset"]
