"""Attack run (issue 18), item 13: data that `check` passed but that crashed or hung the browser.

A 100,000-character arm label, an AE ending 9999-12-31, a visit at AVISITN = 10^9, ±inf in
AVAL, 2,971 distinct visits. Impossible values are errors (one line each, exit 2); text and the
time axis are capped for display with a note that says what was capped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.study import DataError, check_folder, load_study

LONG = "Belimumab " + "x" * 100_000


def unlocked(folder):
    (folder / "LOCK.json").unlink()
    return folder


def edit(folder, name, fn):
    p = folder / f"{name}.parquet"
    df = pd.read_parquet(p)
    df = fn(df)
    df.to_parquet(p, index=False)


def _set(col, where, value):
    def fn(df):
        df.loc[where(df), col] = value
        return df
    return fn


def rename_arm(folder, old, new):
    (folder / "study.toml").unlink(missing_ok=True)  # LSO-088's study.toml names the arms it renames
    for p in folder.glob("*.parquet"):
        df = pd.read_parquet(p)
        cols = [c for c in ("TRT01A", "TRT01P", "ARM", "ACTARM") if c in df.columns]  # planned and actual arms
        if cols:
            for c in cols:
                df[c] = df[c].replace({old: new})
            df.to_parquet(p, index=False)


def test_a_100k_character_arm_label_is_shortened_for_display(data_copy):
    d = unlocked(data_copy)
    rename_arm(d, "Belimumab", LONG)
    code, lines = check_folder(d)
    assert code == 0, lines
    study = load_study(d)
    labels = [a.label for a in study.arms]
    assert max(map(len, labels)) <= 200 and len(set(labels)) == 3
    assert any("TRT01A" in n and "shortened for display" in n for n in study.notes)
    assert study.measurements["ARM"].astype(str).str.len().max() <= 200


def test_two_long_labels_that_start_alike_stay_two_arms(data_copy):
    d = unlocked(data_copy)
    rename_arm(d, "Belimumab", LONG + "A")
    rename_arm(d, "Ld-IL2", LONG + "B")
    study = load_study(d)
    assert len({a.label for a in study.arms}) == 3
    assert [a.n for a in study.arms] == [10, 10, 10]


def test_a_long_ae_term_is_shortened(data_copy):
    d = unlocked(data_copy)
    edit(d, "adae", _set("AETERM", lambda df: df.index == 0, "rash " * 20_000))
    study = load_study(d)
    assert study.adae["AETERM"].str.len().max() <= 200


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_aval_is_an_error(data_copy, value):
    d = unlocked(data_copy)
    edit(d, "adlb", _set("AVAL", lambda df: df.index == 5, value))
    code, lines = check_folder(d)
    assert code == 2
    assert any(line.startswith("ERROR adlb.parquet, column AVAL: not a finite number") and "rows 6" in line
               for line in lines), lines


def test_an_ae_ending_9999_12_31_is_an_error(data_copy):
    d = unlocked(data_copy)
    adae = pd.read_parquet(d / "adae.parquet")
    col = "AENDT" if "AENDT" in adae.columns else None
    if col is None:
        pytest.skip("no AENDT in ADAE")
    adae[col] = adae[col].astype("datetime64[s]")
    adae.loc[0, col] = pd.Timestamp("9999-12-31")
    adae.to_parquet(d / "adae.parquet", index=False)
    code, lines = check_folder(d)
    assert code == 2
    assert any("column AENDT: date outside 1900–2099" in line and "9999-12-31" in line for line in lines), lines


def test_an_implausible_study_day_is_an_error(data_copy):
    d = unlocked(data_copy)
    edit(d, "adae", _set("AENDY", lambda df: df.index == 3, 2_936_547.0))  # day of 9999-12-31
    code, lines = check_folder(d)
    assert code == 2 and any("column AENDY: study day beyond" in line for line in lines), lines


def test_a_visit_at_week_1e9_is_kept_off_the_time_axis(data_copy):
    d = unlocked(data_copy)
    edit(d, "adlb", _set("AVISITN", lambda df: (df["AVISITN"] == 48) & (df["PARAMCD"] == df["PARAMCD"].iloc[0]), 1e9))
    edit(d, "adlb", _set("AVISIT", lambda df: df["AVISITN"] == 1e9, "Week 1000000000"))
    code, lines = check_folder(d)
    assert code == 0, lines
    study = load_study(d)
    assert max(study.visit_numbers) <= 1000
    assert any("beyond ±1,000 weeks" in n and "kept off the time axis" in n for n in study.notes)


def test_thousands_of_visits_are_capped_and_the_cap_is_said(data_copy):
    d = unlocked(data_copy)

    def spread(df):
        post = df["AVISITN"] > 0
        k = np.arange(post.sum())
        day = 2 + k % 2971  # 2,971 distinct study days, each a visit of its own (AVISITN its sort order)
        df.loc[post, "AVISITN"] = day.astype(float)
        df.loc[post, "AVISIT"] = [f"Day {v}" for v in day]
        df.loc[post, "ADY"] = day.astype(float)
        return df

    edit(d, "adlb", spread)
    study = load_study(d)
    assert len(study.visits) <= 200
    note = next(n for n in study.notes if n.startswith("NOTE time axis"))
    assert "the 200 with the most subjects are shown" in note and "kept off the time axis" in note


def test_a_sas_date_9999_left_numeric_is_an_error(data_copy):
    """SAS transport dates are day numbers; one for 9999-12-31 is not converted (out of range), still caught."""
    d = unlocked(data_copy)
    adae = pd.read_parquet(d / "adae.parquet")
    adae["AENDT"] = (adae["AENDT"] - pd.Timestamp("1960-01-01")).dt.days.astype("float64")
    adae.loc[2, "AENDT"] = float((pd.Timestamp("9999-12-31") - pd.Timestamp("1960-01-01")).days)
    adae.to_parquet(d / "adae.parquet", index=False)
    code, lines = check_folder(d)
    assert code == 2 and any("column AENDT: date outside 1900–2099 in rows 3" in line for line in lines), lines


def test_long_categories_are_shortened_and_missing_stays_missing(data_copy):
    d = unlocked(data_copy)
    adae = pd.read_parquet(d / "adae.parquet")
    adae["AEOUT"] = adae["AEOUT"].astype(object)
    adae.loc[0, "AEOUT"] = "RECOVERED " * 50
    adae.loc[1, "AEOUT"] = None
    adae["AEOUT"] = adae["AEOUT"].astype("category")
    adae.to_parquet(d / "adae.parquet", index=False)
    study = load_study(d)
    out = study.adae["AEOUT"]
    assert out.astype(str).str.len().max() <= 200 and out.isna().sum() == 1
    assert any("column AEOUT" in n and "shortened" in n for n in study.notes)
