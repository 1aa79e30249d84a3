"""Per arm × visit summaries, checked against scipy / numpy on the parquet files."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import trajectory as T


@pytest.fixture(scope="module")
def adlb(study):
    return pd.read_parquet(study.folder / "adlb.parquet")


def labels(study):
    return [a.label for a in study.arms]


@pytest.mark.parametrize("code,arm,week", [("IGG", "Belimumab + Ld-IL2", 12.0), ("DSDNA", "Ld-IL2", 48.0),
                                           ("SLEDAI", "Belimumab", 24.0)])
def test_raw_summary_matches_scipy(study, adlb, code, arm, week):
    summ = T.summarise(T.select(study.measurements, code, labels(study)), "raw", labels(study))
    row = summ[(summ["ARM"] == arm) & (summ["TIME"] == week)].iloc[0]
    v = adlb[(adlb["PARAMCD"] == code) & (adlb["TRT01A"] == arm) & (adlb["AVISITN"] == week)]["AVAL"].dropna()
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert row["n"] == len(v)
    assert row["mean"] == pytest.approx(v.mean())
    assert row["sd"] == pytest.approx(v.std(ddof=1))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    assert (row["q1"], row["median"], row["q3"]) == pytest.approx(tuple(np.percentile(v, [25, 50, 75])))
    assert row["gmean"] == pytest.approx(stats.gmean(v))
    glo, ghi = stats.t.interval(0.95, len(v) - 1, loc=np.log(v).mean(), scale=stats.sem(np.log(v)))
    assert (row["gci_low"], row["gci_high"]) == pytest.approx((math.exp(glo), math.exp(ghi)))


def test_change_scales(study, adlb):
    df = T.select(study.measurements, "C3", labels(study))
    chg = T.summarise(df, "chg", labels(study))
    base = chg[chg["TIME"] == 0]
    assert (base["mean"] == 0).all() and (base["n"] == 10).all()
    v = adlb[(adlb["PARAMCD"] == "C3") & (adlb["TRT01A"] == "Belimumab") & (adlb["AVISITN"] == 48)]
    row = chg[(chg["ARM"] == "Belimumab") & (chg["TIME"] == 48)].iloc[0]
    assert row["mean"] == pytest.approx((v["AVAL"] - v["BASE"]).mean())
    pchg = T.summarise(df, "pchg", labels(study))
    row = pchg[(pchg["ARM"] == "Belimumab") & (pchg["TIME"] == 48)].iloc[0]
    assert row["median"] == pytest.approx((100 * (v["AVAL"] - v["BASE"]) / v["BASE"]).median())


def test_drop_out_shows_as_smaller_n(study, adlb):
    summ = T.summarise(T.select(study.measurements, "IGG", labels(study)), "raw", labels(study))
    n = summ.set_index(["ARM", "TIME"])["n"]
    expected = adlb[adlb["PARAMCD"] == "IGG"].dropna(subset=["AVAL"]).groupby(["TRT01A", "AVISITN"]).size()
    for (arm, week), k in expected.items():
        assert n[(arm, float(week))] == k
    assert n[("Belimumab", 48.0)] < 10  # the belimumab drop-out after week 36


def test_filters_restrict_rows(study):
    subj = study.subjects[:3]
    df = T.select(study.measurements, "IGG", ["Belimumab"], subj, (4.0, 12.0))
    assert set(df["USUBJID"].astype(str)) <= set(subj)
    assert set(df["TIME"]) <= {4.0, 8.0, 12.0}
    assert set(df["ARM"].astype(str)) == {"Belimumab"}


def test_small_groups():
    df = pd.DataFrame({"ARM": ["A", "A", "B"], "TIME": [0.0, 0.0, 0.0], "AVAL": [1.0, 3.0, 5.0],
                       "ABLFL": ["Y"] * 3, "BASE": [1.0, 3.0, 5.0], "CHG": [np.nan] * 3, "PCHG": [np.nan] * 3})
    summ = T.summarise(df, "raw").set_index("ARM")
    assert summ.loc["B", "n"] == 1 and np.isnan(summ.loc["B", "ci_low"]) and np.isnan(summ.loc["B", "sd"])
    assert summ.loc["A", "mean"] == 2.0
    assert T.summarise(df.iloc[:0], "raw").empty
    with pytest.raises(ValueError):
        T.scale_values(df, "log")


def test_effective_visit():
    visits = (0.0, 12.0, 24.0, 36.0, 48.0)
    assert T.effective_visit(None, visits, (0.0, 48.0)) == 48.0
    assert T.effective_visit(None, visits, (0.0, 30.0)) == 24.0
    assert T.effective_visit(44.0, visits, (0.0, 48.0)) == 36.0
    assert T.effective_visit(24.0, visits, (0.0, 48.0)) == 24.0
    assert T.effective_visit(4.0, visits, (0.0, 48.0)) == 48.0  # nothing measured by then: the window's last
    assert T.effective_visit(None, visits, (0.0, 0.0)) is None


def test_every_group_matches_a_per_group_computation():
    """The whole-array reductions give each arm × visit what numpy/scipy give that group alone: unsorted rows,
    ties, a group of one, a group with a non-positive value (no geometric mean), arms not in name order, rows
    without a time or an arm left out."""
    rng = np.random.default_rng(7)
    rows = []
    for arm, n_by_week in (("Zeta", {0: 7, 4: 1, 8: 12}), ("Alpha", {0: 5, 4: 9, 8: 2})):
        for week, n in n_by_week.items():
            vals = np.round(rng.lognormal(1, 0.6, n), 1)  # rounded: ties
            if arm == "Alpha" and week == 4:
                vals[3] = -0.5
            rows += [{"ARM": arm, "TIME": float(week), "AVAL": float(v)} for v in vals]
    # rows without a time or an arm belong to no group
    rows += [{"ARM": "Zeta", "TIME": np.nan, "AVAL": 99.0}, {"ARM": None, "TIME": 0.0, "AVAL": 99.0}]
    df = pd.DataFrame(rows).sample(frac=1, random_state=3)
    summ = T.summarise(df, "raw", ["Zeta", "Alpha"])
    assert list(zip(summ["ARM"], summ["TIME"])) == [("Zeta", 0.0), ("Zeta", 4.0), ("Zeta", 8.0),
                                                   ("Alpha", 0.0), ("Alpha", 4.0), ("Alpha", 8.0)]
    for _, row in summ.iterrows():
        v = df[(df["ARM"] == row["ARM"]) & (df["TIME"] == row["TIME"])]["AVAL"].to_numpy()
        assert row["n"] == len(v)
        assert row["mean"] == pytest.approx(v.mean(), rel=1e-12)
        # numpy's interpolation to the last bit: a value on a rounding boundary rounds as numpy's does
        assert (row["q1"], row["median"], row["q3"]) == tuple(np.quantile(v, [0.25, 0.5, 0.75]))
        if len(v) == 1:
            assert np.isnan(row["sd"]) and np.isnan(row["ci_low"]) and np.isnan(row["gci_low"])
            assert row["gmean"] == pytest.approx(v[0])
            continue
        assert row["sd"] == pytest.approx(v.std(ddof=1), rel=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v)), rel=1e-12)
        if (v <= 0).any():
            assert np.isnan(row["gmean"]) and np.isnan(row["gci_low"]) and np.isnan(row["gci_high"])
        else:
            lv = np.log(v)
            glo, ghi = stats.t.interval(0.95, len(v) - 1, loc=lv.mean(), scale=stats.sem(lv))
            assert (row["gmean"], row["gci_low"], row["gci_high"]) == pytest.approx(
                (stats.gmean(v), math.exp(glo), math.exp(ghi)), rel=1e-12)
