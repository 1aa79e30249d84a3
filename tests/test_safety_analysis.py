"""Safety analysis: counts by subject, SOC/PT incidence, Newcombe risk difference, listing, timeline.

Every expected number is computed independently from the raw parquet files (not the
normalised Study frames) with plain pandas, or by hand from the Wilson score interval.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis import safety as S

ARMS = ["Belimumab", "Ld-IL2", "Belimumab + Ld-IL2"]


@pytest.fixture(scope="module")
def raw(study):
    ae = pd.read_parquet(study.folder / "adae.parquet")
    sl = pd.read_parquet(study.folder / "adsl.parquet")
    return ae, sl


@pytest.fixture(scope="module")
def pop(study):
    return S.safety_population(study.adsl, study.subjects, ARMS, study.safety_flag)


def subjects_where(ae, mask, arm=None):
    d = ae[mask]
    if arm is not None:
        d = d[d["TRT01A"] == arm]
    return d["USUBJID"].nunique()


# -- onset week -----------------------------------------------------------------------------------
def test_onset_week_rule():
    days = [1, 7, 8, 28, 29, 35, 36, 337, np.nan]
    assert S.onset_week(days).tolist()[:-1] == [0, 0, 1, 3, 4, 4, 5, 48]
    assert math.isnan(S.onset_week(days).iloc[-1])


# -- overview summary ------------------------------------------------------------------------------
def test_safety_population_uses_saffl(study, raw):
    _, sl = raw
    pop = S.safety_population(study.adsl, study.subjects, ARMS, "SAFFL")
    assert len(pop) == int((sl["SAFFL"] == "Y").sum()) == 30
    adsl = study.adsl.copy()
    adsl.loc[adsl["USUBJID"] == "LSO-088-001", "SAFFL"] = "N"
    assert "LSO-088-001" not in set(S.safety_population(adsl, study.subjects, ARMS, "SAFFL")["USUBJID"])


def test_overview_counts_match_independent_count(study, raw, pop):
    ae, sl = raw
    ev = S.select_events(study.adae, pop["USUBJID"], None)
    counts = S.overview_counts(pop, ev, ARMS, study.adsl)
    teae = ae["TRTEMFL"] == "Y"
    masks = {
        "any": teae,
        "serious": teae & (ae["AESER"] == "Y"),
        "grade3": teae & (ae["AETOXGR"].astype(int) >= 3),
        "related": teae & (ae["AEREL"] == "RELATED"),
        "discontinued": teae & (ae["AEACN"] == "DRUG WITHDRAWN"),
    }
    for key, m in masks.items():
        for arm in ARMS:
            assert counts.at[key, arm] == subjects_where(ae, m, arm), (key, arm)
        assert counts.at[key, "Total"] == subjects_where(ae, m), key
    dead = set(ae.loc[teae & (ae["AESDTH"] == "Y"), "USUBJID"]) | set(sl.loc[sl["DTHFL"] == "Y", "USUBJID"])
    assert counts.at["death", "Total"] == len(dead)
    for arm in ARMS:
        assert counts.at["events", arm] == int((teae & (ae["TRT01A"] == arm)).sum())
    assert counts.at["events", "Total"] == len(ae)
    # Subjects, not rows: more events than subjects with any TEAE.
    assert counts.at["events", "Total"] > counts.at["any", "Total"]


def test_overview_summary_cells_are_n_pct(study, pop):
    ev = S.select_events(study.adae, pop["USUBJID"], None)
    tab = S.overview_summary(pop, ev, ARMS, study.adsl)
    assert list(tab.columns) == ["Subjects with", "Belimumab (N=10)", "Ld-IL2 (N=10)",
                                 "Belimumab + Ld-IL2 (N=10)", "Total (N=30)"]
    rows = tab.set_index("Subjects with")
    assert rows.loc["Any serious TEAE"].tolist() == ["1 (10%)", "1 (10%)", "0 (0%)", "2 (7%)"]
    assert rows.loc["Any TEAE leading to discontinuation"].tolist() == ["0 (0%)", "1 (10%)", "0 (0%)", "1 (3%)"]
    assert rows.loc["Number of TEAEs (events)"].tolist() == ["19", "21", "24", "64"]


def test_deaths_count_adsl_flag_and_fatal_ae(study, pop):
    adsl = study.adsl.copy()
    adsl.loc[adsl["USUBJID"] == "LSO-088-002", "DTHFL"] = "Y"
    ae = study.adae.copy()
    ae.loc[ae.index[0], "AESDTH"] = "Y"  # LSO-088-001 (Belimumab)
    counts = S.overview_counts(pop, S.select_events(ae, pop["USUBJID"], None), ARMS, adsl)
    assert counts.loc["death", ARMS].tolist() == [1, 1, 0]
    assert counts.at["death", "Total"] == 2


def test_onset_window_restricts_events(study, raw, pop):
    ae, _ = raw
    ev = S.select_events(study.adae, pop["USUBJID"], (12.0, 24.0))
    week = np.floor((ae["ASTDY"] - 1) / 7)
    expect = ae[(week >= 12) & (week <= 24)]
    assert sorted(zip(ev["USUBJID"], ev["AESEQ"])) == sorted(zip(expect["USUBJID"], expect["AESEQ"]))
    counts = S.overview_counts(pop, ev, ARMS, study.adsl)
    for arm in ARMS:
        assert counts.at["any", arm] == expect.loc[expect["TRT01A"] == arm, "USUBJID"].nunique()


# -- SOC / PT incidence -----------------------------------------------------------------------------------
def test_soc_pt_counts_subjects_not_rows(study, raw, pop):
    ae, _ = raw
    # The locked data has subjects with the same PT twice: the test means something.
    dup = ae.groupby(["USUBJID", "AEDECOD"]).size()
    assert (dup > 1).any()
    inc = S.soc_pt_incidence(pop, S.select_events(study.adae, pop["USUBJID"], None), ARMS)
    for r in inc.itertuples(index=False):
        d = dict(zip(inc.columns, r))
        m = ae["AEBODSYS"] == d["SOC"]
        if d["level"] == "PT":
            m &= ae["AEDECOD"] == d["PT"]
        for arm in ARMS:
            assert d[arm] == subjects_where(ae, m, arm), (d["SOC"], d["PT"], arm)
        assert d["Total"] == subjects_where(ae, m)
        assert d["% Ld-IL2"] == pytest.approx(100 * d["Ld-IL2"] / 10)
    # every PT of the data is there once
    pts = inc[inc["level"] == "PT"]
    assert len(pts) == ae[["AEBODSYS", "AEDECOD"]].drop_duplicates().shape[0]


def test_soc_pt_sorted_by_overall_frequency(study, pop):
    inc = S.soc_pt_incidence(pop, S.select_events(study.adae, pop["USUBJID"], None), ARMS)
    soc = inc[inc["level"] == "SOC"]
    assert list(soc["Total"]) == sorted(soc["Total"], reverse=True)
    assert soc.iloc[0]["SOC"] == "Infections and infestations"
    for s, d in inc[inc["level"] == "PT"].groupby("SOC", sort=False):
        assert list(d["Total"]) == sorted(d["Total"], reverse=True), s
        # PT rows follow their SOC row
        i = inc.index[(inc["level"] == "SOC") & (inc["SOC"] == s)][0]
        assert list(d.index) == list(range(i + 1, i + 1 + len(d)))


@pytest.mark.parametrize("threshold", [10, 20, 50])
def test_threshold_keeps_pts_at_or_above_in_any_arm(study, raw, pop, threshold):
    ae, _ = raw
    inc = S.soc_pt_incidence(pop, S.select_events(study.adae, pop["USUBJID"], None), ARMS, threshold)
    per_arm = ae.groupby(["AEDECOD", "TRT01A"])["USUBJID"].nunique().unstack(fill_value=0)
    expect = {pt for pt, r in per_arm.iterrows() if (100 * r / 10).max() >= threshold}
    got = set(inc.loc[inc["level"] == "PT", "PT"])
    assert got == expect
    socs = set(inc.loc[inc["level"] == "SOC", "SOC"])
    assert socs == set(ae.loc[ae["AEDECOD"].isin(expect), "AEBODSYS"])


# -- risk difference ----------------------------------------------------------------------------------
def wilson(k, n, z):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe_by_hand(k1, n1, k2, n2, alpha=0.05):
    """Newcombe (1998) method 10, written out from the paper."""
    z = stats.norm.ppf(1 - alpha / 2)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


@pytest.mark.parametrize("k1,n1,k2,n2", [(5, 10, 0, 10), (7, 10, 6, 10), (0, 10, 0, 10), (10, 10, 3, 10),
                                         (1, 3, 2, 9), (12, 40, 20, 41)])
def test_risk_difference_matches_hand_newcombe_and_statsmodels(k1, n1, k2, n2):
    rd = S.risk_difference(k1, n1, k2, n2)
    d, lo, hi = newcombe_by_hand(k1, n1, k2, n2)
    assert rd.diff == pytest.approx(d)
    assert (rd.low, rd.high) == pytest.approx((lo, hi), abs=1e-9)
    sm = confint_proportions_2indep(k1, n1, k2, n2, compare="diff", method="newcomb")
    assert (rd.low, rd.high) == pytest.approx(sm, abs=1e-12)


def test_risk_difference_needs_three_per_arm():
    rd = S.risk_difference(1, 2, 0, 10)
    assert rd.diff is None and "n < 3" in rd.text()


def test_incidence_risk_difference_column(study, pop):
    inc = S.soc_pt_incidence(pop, S.select_events(study.adae, pop["USUBJID"], None), ARMS,
                             compare=("Belimumab + Ld-IL2", "Belimumab"))
    isr = inc[(inc["level"] == "PT") & (inc["PT"] == "Injection site reaction")].iloc[0]
    d, lo, hi = newcombe_by_hand(5, 10, 0, 10)
    assert (isr["rd"], isr["rd_low"], isr["rd_high"]) == pytest.approx((d, lo, hi))
    assert isr["rd_note"] == f"{100 * d:+.1f} ({100 * lo:+.1f}, {100 * hi:+.1f})"
    # an arm outside the filter: no number
    two = S.soc_pt_incidence(pop[pop["ARM"] != "Belimumab"], S.select_events(study.adae, pop["USUBJID"], None),
                             ARMS[1:], compare=("Belimumab + Ld-IL2", "Belimumab"))
    assert set(two["rd_note"]) == {"arm not in filter"}


# -- listing and timeline ---------------------------------------------------------------------------------
def test_listing_has_every_row_without_filter(study, raw):
    ae, _ = raw
    lst = S.listing(study.adae, study.subjects, None)
    assert len(lst) == len(ae) == 64
    assert set(lst["ROWID"]) == {f"{u}/{s}" for u, s in zip(ae["USUBJID"], ae["AESEQ"])}
    assert list(S.listing_headers(lst).values())[:6] == ["Subject", "Arm", "Seq", "Verbatim term", "Preferred term",
                                                         "System organ class"]
    row = lst[lst["ROWID"] == "LSO-088-011/4"].iloc[0]
    assert (row["AEDECOD"], row["ASTDY"], row["ONSET_WEEK"], row["AENDY"], row["DURATION"], row["AEACN"]) == \
        ("Systemic lupus erythematosus", 199, 28, 233, 35, "DRUG WITHDRAWN")


def test_timeline_events_bars_and_flags(study, raw, pop):
    ae, _ = raw
    ev = S.timeline_events(study.adae, pop, None)
    assert len(ev) == len(ae)
    r = ev[(ev["USUBJID"] == "LSO-088-030") & (ev["AEDECOD"] == "Pneumonia")].iloc[0]
    assert r["start"] == pytest.approx((219 - 1) / 7) and r["end"] == pytest.approx(234 / 7)
    assert r["severity"] == "Grade 3" and bool(r["serious"])
    assert int(ev["serious"].sum()) == int((ae["AESER"] == "Y").sum())


def test_subject_dosing_is_each_subjects_own_schedule(study, pop):
    ex = pd.read_parquet(study.folder / "adex.parquet")
    dos = S.subject_dosing(study.adex, pop)
    for subj, trt in (("LSO-088-001", "BELIMUMAB"), ("LSO-088-002", "LD-IL2"), ("LSO-088-003", "LD-IL2")):
        d = dos[(dos["USUBJID"] == subj) & (dos["EXTRT"] == trt)]
        n = int(((ex["USUBJID"] == subj) & (ex["EXTRT"] == trt)).sum())
        # runs share their boundary dose
        assert d["doses"].sum() - (len(d) - 1) == n
    il2 = dos[(dos["USUBJID"] == "LSO-088-002")]
    assert list(il2["frequency"])[:2] == ["every other day", "weekly"]


def test_subject_dosing_equals_the_design_schedule_of_each_subject_alone(study, pop):
    """Every subject's rows are what the design timeline (dosing_segments) gives for that subject as its own arm:
    the same runs, weeks, frequencies and order, computed in one pass over the subjects."""
    from analysis.exposure import dosing_segments

    dos = S.subject_dosing(study.adex, pop)
    assert set(dos["USUBJID"]) == set(pop["USUBJID"]) & set(study.adex["USUBJID"])
    for subj in sorted(set(dos["USUBJID"])):
        own = study.adex[study.adex["USUBJID"] == subj].assign(ARM=subj)
        want = dosing_segments(own, [subj]).rename(columns={"ARM": "USUBJID"})
        got = dos[dos["USUBJID"] == subj].reset_index(drop=True)
        assert list(got.columns) == list(want.columns)
        for col in got.columns:
            assert [str(v) for v in got[col]] == [str(v) for v in want[col]], (subj, col)
    # a subject outside the population has no row; no population, no row
    some = pop.iloc[:3]
    assert set(S.subject_dosing(study.adex, some)["USUBJID"]) <= set(some["USUBJID"])
    assert S.subject_dosing(study.adex, pop.iloc[:0]).empty
