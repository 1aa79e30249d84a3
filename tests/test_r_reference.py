"""The app's statistics against R's, from the committed reference CSVs (tests/r/; ``make r-reference``
regenerates them with R; this test needs no R).

- MMRM (analysis.mmrm) vs nlme::gls for every covariance structure: at nlme's fitted covariance the
  REML log-likelihood, every arm-vs-reference difference and its model-based SE agree to 1e-6; at
  our own optimum the log-likelihood agrees to 1e-6 and is never below nlme's (our optimiser stops
  closer to the maximum than nlme's finite-difference one, so estimates agree to the precision of
  nlme's optimum, 1e-4 relative).
- Compound symmetry (random intercept): Kenward–Roger with the expected information vs pbkrtest
  (adjusted SE and df) and Satterthwaite vs lmerTest (df), to 1e-4.
- Unstructured covariance (4–6 visits): Satterthwaite df, and so SAS's Kenward–Roger df of one
  difference, vs numerical derivatives in R at the REML optimum, to DF_TOL.
- Rank tests vs wilcox.test (conf.int = TRUE) and kruskal.test, to 1e-10, on LSO-088's comparisons
  and a grid with ties, zeros and n from 3 to 60; exactRankTests where R is exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import mmrm as MM
from analysis import ranktests as RT
from analysis.between import kruskal_wallis, mann_whitney
from analysis.paired import wilcoxon_signed_rank

R = Path(__file__).resolve().parent / "r"
ARMS = ["Belimumab", "Ld-IL2", "Belimumab + Ld-IL2"]


@pytest.fixture(scope="module")
def mmrm_input():
    return pd.read_csv(R / "inputs" / "mmrm.csv")


@pytest.fixture(scope="module")
def gls_ref():
    return pd.read_csv(R / "ref_mmrm_gls.csv")


def close(mine, ref, tol):
    if mine is None or ref is None or np.isnan(ref):  # R's NaN (no interval: all tied) must be ours too
        return (mine is None or np.isnan(mine)) and (ref is None or np.isnan(ref))
    return abs(mine - ref) <= tol * max(1.0, abs(ref))


def _sigma(ref_sigma, ds, s):
    d = ref_sigma[(ref_sigma["DATASET"] == ds) & (ref_sigma["STRUCTURE"] == s)]
    T = int(d["I"].max())
    S = np.zeros((T, T))
    S[d["I"] - 1, d["J"] - 1] = d["VALUE"]
    return S


def test_reference_covers_every_structure_and_dataset(gls_ref, mmrm_input):
    ok = gls_ref[gls_ref["CONVERGED"] == 1]
    assert set(ok["STRUCTURE"]) == set(MM.STRUCTURES)
    assert set(ok["DATASET"]) == set(mmrm_input["DATASET"])
    assert {"lso088-IGG", "lso088-C3", "lso088-DSDNA", "lso088-ANUA", "lso088-SLEDAI"} <= set(ok["DATASET"])


def test_gls_at_nlme_covariance_matches_to_1e6(gls_ref, mmrm_input):
    sig = pd.read_csv(R / "ref_mmrm_sigma.csv")
    checked = 0
    for (ds, s), ref in gls_ref[gls_ref["CONVERGED"] == 1].groupby(["DATASET", "STRUCTURE"]):
        des = MM.design(mmrm_input[mmrm_input["DATASET"] == ds], ARMS[0], ARMS)
        g = MM.gls_at(des, _sigma(sig, ds, s))
        assert close(g["reml_loglik"], float(ref["LOGLIK"].iloc[0]), 1e-6), (ds, s)
        for r in ref.itertuples():
            j = g["names"].index(f"ARM[{r.ARM}]:VISIT[{r.AVISITN:g}]")
            assert close(g["beta"][j], r.ESTIMATE, 1e-6), (ds, s, r.ARM, r.AVISITN)
            assert close(np.sqrt(g["Phi"][j, j]), r.SE, 1e-6), (ds, s, r.ARM, r.AVISITN)
            checked += 1
    assert checked > 500


@pytest.mark.parametrize("structure", list(MM.STRUCTURES))
def test_fit_reaches_nlme_optimum(gls_ref, mmrm_input, structure):
    ref_s = gls_ref[(gls_ref["STRUCTURE"] == structure) & (gls_ref["CONVERGED"] == 1)]
    for ds, ref in ref_s.groupby("DATASET"):
        d = mmrm_input[mmrm_input["DATASET"] == ds]
        res = MM.fit_mmrm(d, ARMS[0], float(d["AVISITN"].max()), ARMS, structure=structure, fallback=False,
                          df_method="satterthwaite")
        assert res.ok and res.structure == structure, (ds, res.note)
        ll = float(ref["LOGLIK"].iloc[0])
        assert res.reml_loglik >= ll - 1e-6 and close(res.reml_loglik, ll, 1e-6), (ds, res.reml_loglik, ll)
        by = {(c.arm, c.visit): c for c in res.by_visit}
        for r in ref.itertuples():
            c = by[(r.ARM, r.AVISITN)]
            assert close(c.estimate, r.ESTIMATE, 1e-4), (ds, r.ARM, r.AVISITN, c.estimate, r.ESTIMATE)
            assert abs(c.se_model - r.SE) <= 1e-4 * r.SE, (ds, r.ARM, r.AVISITN, c.se_model, r.SE)


def test_compound_symmetry_kenward_roger_and_satterthwaite_match_pbkrtest_and_lmertest(mmrm_input):
    ref = pd.read_csv(R / "ref_mmrm_cs.csv")
    assert len(ref) > 100
    for ds, rd in ref.groupby("DATASET"):
        d = mmrm_input[mmrm_input["DATASET"] == ds]
        last = float(d["AVISITN"].max())
        kr = {(c.arm, c.visit): c for c in MM.fit_mmrm(d, ARMS[0], last, ARMS, structure="CS", fallback=False,
                                                         df_method="kr-expected").by_visit}
        sat = {(c.arm, c.visit): c for c in MM.fit_mmrm(d, ARMS[0], last, ARMS, structure="CS", fallback=False,
                                                          df_method="satterthwaite").by_visit}
        sas = {(c.arm, c.visit): c for c in MM.fit_mmrm(d, ARMS[0], last, ARMS, structure="CS", fallback=False,
                                                          df_method="kr").by_visit}
        for r in rd.itertuples():
            k, s, o = kr[(r.ARM, r.AVISITN)], sat[(r.ARM, r.AVISITN)], sas[(r.ARM, r.AVISITN)]
            assert abs(k.se - r.SE_KR) <= 1e-4 * r.SE_KR, (ds, r.ARM, r.AVISITN, k.se, r.SE_KR)
            assert abs(k.df - r.DF_KR) <= 1e-4 * r.DF_KR, (ds, r.ARM, r.AVISITN, k.df, r.DF_KR)
            assert abs(s.df - r.DF_SATTERTHWAITE) <= 1e-4 * r.DF_SATTERTHWAITE, (ds, r.ARM, r.AVISITN)
            assert s.se == pytest.approx(r.SE, rel=1e-4)  # Satterthwaite: the unadjusted SE
            # SAS's KR (observed information): one-contrast df = Satterthwaite's, SE adjusted upwards
            assert o.df == pytest.approx(s.df, rel=1e-12) and o.se >= s.se * (1 - 1e-9)


def test_unstructured_satterthwaite_df_matches_numerical_derivatives_in_r(mmrm_input):
    """Unstructured covariance: Satterthwaite df vs R (numDeriv's Richardson derivatives of the REML
    log-likelihood and of each difference's variance in SAS's UN(i,j) parameters, at the REML optimum). With
    SAS's Kenward-Roger (observed information) one difference's df is Satterthwaite's, so this is also the df
    the app shows by default. Four data sets of 4 to 6 visits, with drop-outs."""
    ref = pd.read_csv(R / "ref_mmrm_un_satterthwaite.csv")
    assert ref["DATASET"].nunique() >= 4 and len(ref) >= 30
    for ds, rd in ref.groupby("DATASET"):
        d = mmrm_input[mmrm_input["DATASET"] == ds]
        last = float(d["AVISITN"].max())
        sat = MM.fit_mmrm(d, ARMS[0], last, ARMS, structure="UN", fallback=False, df_method="satterthwaite")
        sas = MM.fit_mmrm(d, ARMS[0], last, ARMS, structure="UN", fallback=False, df_method="kr")
        assert sat.ok and sas.ok and sat.structure == sas.structure == "UN", (ds, sat.note, sas.note)
        by, by_kr = ({(c.arm, c.visit): c for c in f.by_visit} for f in (sat, sas))
        for r in rd.itertuples():
            c = by[(r.ARM, r.AVISITN)]
            assert abs(c.estimate - r.ESTIMATE) <= 1e-6 * r.SE, (ds, r.ARM, r.AVISITN, c.estimate, r.ESTIMATE)
            assert c.se == pytest.approx(r.SE, rel=1e-6)  # Satterthwaite: the model-based SE
            assert abs(c.df - r.DF) <= DF_TOL * r.DF, (ds, r.ARM, r.AVISITN, c.df, r.DF)
            assert by_kr[(r.ARM, r.AVISITN)].df == pytest.approx(c.df, rel=1e-9), (ds, r.ARM, r.AVISITN)


DF_TOL = 1e-5  # R's numerical derivatives agree to ~3e-7


# -- rank tests ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pairs():
    return pd.read_csv(R / "inputs" / "pairs.csv")


def _case(pairs, case):
    p = pairs[pairs["CASE"] == case]
    order = [a for a in ARMS + ["X", "Y", "Z"] if a in set(p["ARM"])]
    return p, order


def test_signed_rank_matches_wilcox_test(pairs):
    ref = pd.read_csv(R / "ref_signed_rank.csv")
    assert len(ref) > 250 and ref["N"].min() == 3 and ref["N"].max() == 60
    assert ref["METHOD"].str.contains("exact").any() and ref["METHOD"].str.contains("continuity").any()
    for r in ref.itertuples():
        p = pairs[(pairs["CASE"] == r.CASE) & (pairs["ARM"] == r.ARM)]
        w = wilcoxon_signed_rank(p["a"].to_numpy(), p["b"].to_numpy())
        assert w.n_pairs == r.N
        for mine, theirs in ((w.statistic, r.V), (w.p_value, r.P), (w.estimate, r.ESTIMATE), (w.ci_low, r.LOW),
                             (w.ci_high, r.HIGH), (w.conf_level, r.CONF_LEVEL)):
            assert close(mine, theirs, 1e-10), (r.CASE, r.ARM, mine, theirs)
        assert w.exact == ("exact" in r.METHOD) and w.ci_exact == w.exact
        if not np.isnan(r.P_EXACTRANKTESTS):
            assert close(w.p_value, r.P_EXACTRANKTESTS, 1e-10)


def test_rank_sum_matches_wilcox_test(pairs):
    from analysis.between import change_frame

    ref = pd.read_csv(R / "ref_rank_sum.csv")
    assert len(ref) > 400 and ref["METHOD"].str.contains("exact").any()
    frames = {}
    for r in ref.itertuples():
        if r.CASE not in frames:
            p, _ = _case(pairs, r.CASE)
            long = pd.concat([p.assign(AVISITN=0.0, AVAL=p["a"]), p.assign(AVISITN=1.0, AVAL=p["b"])])
            long = long.assign(USUBJID=np.tile(np.arange(len(p)).astype(str), 2))
            frames[r.CASE] = change_frame(long, 0.0, 1.0)
        f = frames[r.CASE]
        x = f.loc[f["ARM"] == r.VS, r.SCALE].dropna().to_numpy()
        y = f.loc[f["ARM"] == r.ARM, r.SCALE].dropna().to_numpy()
        t = mann_whitney(x, y, r.VS, r.ARM)
        for mine, theirs in ((t.statistic, r.W), (t.p_value, r.P), (t.estimate, r.ESTIMATE), (t.ci_low, r.LOW),
                             (t.ci_high, r.HIGH), (t.conf_level, r.CONF_LEVEL)):
            assert close(mine, theirs, 1e-10), (r.CASE, r.SCALE, r.ARM, r.VS, mine, theirs)
        assert t.method.endswith("exact") == ("exact" in r.METHOD)
        if not np.isnan(r.P_EXACTRANKTESTS):
            assert close(t.p_value, r.P_EXACTRANKTESTS, 1e-10)


def test_kruskal_matches_kruskal_test(pairs):
    from analysis.between import change_frame

    ref = pd.read_csv(R / "ref_kruskal.csv")
    assert len(ref) > 100
    for r in ref.itertuples():
        p, order = _case(pairs, r.CASE)
        long = pd.concat([p.assign(AVISITN=0.0, AVAL=p["a"]), p.assign(AVISITN=1.0, AVAL=p["b"])])
        long = long.assign(USUBJID=np.tile(np.arange(len(p)).astype(str), 2))
        f = change_frame(long, 0.0, 1.0)
        g = {a: f.loc[f["ARM"] == a, r.SCALE].dropna().to_numpy() for a in order}
        k = kruskal_wallis(g)
        assert k.df == r.DF and close(k.statistic, r.H, 1e-10) and close(k.p_value, r.P, 1e-10), r.CASE


def test_ties_are_ties_of_the_recorded_values():
    # 2-decimal data: 0.3 − 0.1 and 0.5 − 0.3 are the same change; in floating point they differ
    a, b = np.array([0.1, 0.3, 1.0, 2.0]), np.array([0.3, 0.5, 1.7, 2.5])
    assert (b - a)[0] != (b - a)[1]
    chg, pchg = RT.changes(a, b)
    assert chg[0] == chg[1] == 0.2 and RT.recorded_decimals(np.r_[a, b]) == 1
    # and equal % changes are equal numbers
    _, pc = RT.changes(np.array([2.2, 4.4]), np.array([3.3, 6.6]))
    assert pc[0] == pc[1] == 50.0
