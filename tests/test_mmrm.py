"""MMRM: recovery of a known effect, equivalence with least squares where it must hold, honest failures."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis import mmrm as MM
from analysis import trajectory as T

ARMS = ["A", "B", "C"]
TRUE_AT_12 = {"B": 2.0, "C": -3.0}  # arm effect vs A at week 12


def simulate(n_per_arm=30, visits=(4.0, 8.0, 12.0), seed=7, missing=0.0, re_sd=1.0, noise_sd=1.0):
    rng = np.random.default_rng(seed)
    rows = []
    for arm in ARMS:
        for i in range(n_per_arm):
            sid = f"{arm}-{i:03d}"
            base = rng.normal(10, 2)
            u = rng.normal(0, re_sd)
            for v in visits:
                eff = TRUE_AT_12.get(arm, 0.0) * v / 12.0  # grows linearly to its week-12 size
                chg = 0.5 - 0.2 * (base - 10) + eff + u + rng.normal(0, noise_sd)
                if v < 12 and rng.random() < missing:
                    continue
                rows.append({"USUBJID": sid, "ARM": arm, "AVISITN": v, "BASE": base, "CHG": chg})
    return pd.DataFrame(rows)


def ols_design(df, visit):
    """The same treatment-coded design as the model, built independently with pandas."""
    d = df.copy()
    X = pd.DataFrame({"const": 1.0, "BASE": d["BASE"]})
    vis = [v for v in sorted(d["AVISITN"].unique()) if v != visit]
    for v in vis:
        X[f"v{v}"] = (d["AVISITN"] == v).astype(float)
    for a in ARMS[1:]:
        X[a] = (d["ARM"] == a).astype(float)
        for v in vis:
            X[f"{a}:v{v}"] = X[a] * X[f"v{v}"]
    return X


def test_recovers_known_arm_effect_within_ci():
    df = simulate(seed=1)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS)
    assert res.ok, res.note
    assert res.df == 90 - 3 - 1
    by = {c.arm: c for c in res.contrasts}
    for arm, true in TRUE_AT_12.items():
        c = by[arm]
        assert c.ci_low < true < c.ci_high
        assert abs(c.estimate - true) < 0.6
        assert c.p_value < 1e-4
        # CI and p are the t-based ones from estimate, se and df
        q = stats.t.ppf(0.975, res.df)
        assert (c.ci_low, c.ci_high) == pytest.approx((c.estimate - q * c.se, c.estimate + q * c.se))
        assert c.p_value == pytest.approx(2 * stats.t.sf(abs(c.estimate / c.se), res.df))
    assert res.re_var == pytest.approx(1.0, abs=0.5)
    assert res.resid_var == pytest.approx(1.0, abs=0.3)


def test_ci_covers_truth_in_most_replicates():
    hits = 0
    for seed in range(20):
        c = {c.arm: c for c in MM.fit_mmrm(simulate(n_per_arm=12, seed=100 + seed), "A", 12.0, ARMS).contrasts}["C"]
        hits += c.ci_low < TRUE_AT_12["C"] < c.ci_high
    assert hits >= 17  # nominal 95 %: 19 of 20 expected; binomial slack


def test_complete_balanced_data_estimates_equal_ols():
    # Compound symmetry, complete balanced data, a design containing every between-subject mean:
    # generalised least squares equals ordinary least squares (Zyskind's condition).
    df = simulate(n_per_arm=8, seed=3)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS)
    X = ols_design(df, 12.0)
    beta = np.linalg.lstsq(X.to_numpy(), df["CHG"].to_numpy(), rcond=None)[0]
    ols = dict(zip(X.columns, beta))
    for c in res.contrasts:
        assert c.estimate == pytest.approx(ols[c.arm], abs=1e-6)


def test_estimate_and_se_equal_gls_with_the_fitted_variances():
    df = simulate(n_per_arm=10, seed=11, missing=0.2)  # unbalanced: GLS differs from OLS here
    res = MM.fit_mmrm(df, "A", 12.0, ARMS)
    X = ols_design(df, 12.0).to_numpy()
    y = df["CHG"].to_numpy()
    Vinv = np.zeros((len(df), len(df)))
    for sid in df["USUBJID"].unique():
        idx = np.flatnonzero(df["USUBJID"].to_numpy() == sid)
        V = res.resid_var * np.eye(len(idx)) + res.re_var * np.ones((len(idx), len(idx)))
        Vinv[np.ix_(idx, idx)] = np.linalg.inv(V)
    cov = np.linalg.inv(X.T @ Vinv @ X)
    beta = cov @ X.T @ Vinv @ y
    cols = list(ols_design(df, 12.0).columns)
    for c in res.contrasts:
        j = cols.index(c.arm)
        assert c.estimate == pytest.approx(beta[j], rel=1e-4)
        assert c.se == pytest.approx(np.sqrt(cov[j, j]), rel=1e-3)
    ols_beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert abs(ols_beta[cols.index("C")] - beta[cols.index("C")]) > 1e-4


def test_single_visit_is_ancova_equal_to_statsmodels_ols():
    df = simulate(visits=(12.0,), n_per_arm=9, seed=5)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS)
    assert res.ok and "ANCOVA" in res.method and "independent" in res.covariance
    X = ols_design(df, 12.0)
    fit = sm.OLS(df["CHG"].to_numpy(), X.to_numpy()).fit()
    ci = fit.conf_int()
    for c in res.contrasts:
        j = list(X.columns).index(c.arm)
        assert c.estimate == pytest.approx(fit.params[j])
        assert c.se == pytest.approx(fit.bse[j])
        assert c.p_value == pytest.approx(fit.pvalues[j])
        assert (c.ci_low, c.ci_high) == pytest.approx(tuple(ci[j]))
        assert c.df == fit.df_resid


def test_reference_arm_choice_flips_sign():
    df = simulate(seed=21)
    ab = {c.arm: c for c in MM.fit_mmrm(df, "A", 12.0, ARMS).contrasts}["B"]
    ba = {c.arm: c for c in MM.fit_mmrm(df, "B", 12.0, ARMS).contrasts}["A"]
    assert ab.estimate == pytest.approx(-ba.estimate, rel=1e-3)
    assert ab.p_value == pytest.approx(ba.p_value, rel=1e-2)


def test_baseline_rows_are_ignored():
    df = simulate(seed=4)
    base = df.drop_duplicates("USUBJID").assign(AVISITN=0.0, CHG=np.nan, ABLFL="Y")
    with_base = pd.concat([base, df.assign(ABLFL="")], ignore_index=True)
    a = MM.fit_mmrm(df, "A", 12.0, ARMS).contrasts
    b = MM.fit_mmrm(with_base, "A", 12.0, ARMS).contrasts
    assert [c.estimate for c in a] == pytest.approx([c.estimate for c in b])


def test_too_few_gives_a_note_not_a_number():
    df = simulate(n_per_arm=2)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS)
    assert not res.ok and "too few" in res.note and "n = 2" in res.note
    # one arm short: that comparison says so, the other is estimated
    df = simulate(n_per_arm=10)
    short = df[~df["USUBJID"].isin([f"C-{i:03d}" for i in range(8)])]
    res = MM.fit_mmrm(short, "A", 12.0, ARMS)
    by = {c.arm: c for c in res.contrasts}
    assert by["B"].ok and not by["C"].ok and "too few" in by["C"].note and by["C"].estimate is None


def test_unknown_reference_and_degenerate_data():
    df = simulate(n_per_arm=5)
    assert "not among the arms" in MM.fit_mmrm(df, "Z", 12.0, ARMS).note
    const = df.assign(BASE=10.0)  # baseline constant: confounded with the intercept
    res = MM.fit_mmrm(const, "A", 12.0, ARMS)
    assert not res.ok and "full rank" in res.note
    flat = df.assign(CHG=1.0)  # no variability at all: must not crash, and not invent a p-value
    res = MM.fit_mmrm(flat, "A", 12.0, ARMS)
    assert not res.ok and "does not vary" in res.note
    exact = df.assign(CHG=df["BASE"] * 0.5 + df["AVISITN"])  # a perfect fit: no residual to test against
    res = MM.fit_mmrm(exact, "A", 12.0, ARMS)
    assert not res.ok and "exactly" in res.note


def test_lso088_combination_vs_belimumab(study):
    labels = [a.label for a in study.arms]
    lb = pd.read_parquet(study.folder / "adlb.parquet")
    wk48 = lb[(lb["AVISITN"] == 48) & lb["CHG"].notna()]
    signs = {"IGG": -1, "DSDNA": -1, "ANUA": -1, "C3": 1}
    for code, sign in signs.items():
        res = MM.fit_mmrm(T.select(study.measurements, code, labels), "Belimumab", 48.0, labels)
        assert res.ok, (code, res.note)
        combo = {c.arm: c for c in res.contrasts}["Belimumab + Ld-IL2"]
        assert np.sign(combo.estimate) == sign and combo.p_value < 0.05, (code, combo)
        n = wk48[wk48["PARAMCD"] == code].groupby("TRT01A").size()
        assert (combo.n_arm, combo.n_ref) == (n["Belimumab + Ld-IL2"], n["Belimumab"])
        assert res.df == 30 - 3 - 1
