"""MMRM (analysis.mmrm): recovery of a known effect, identities that must hold, Kenward–Roger against an
independent dense numerical-derivative computation, the fallback order, honest failures.
R agreement (nlme, pbkrtest, lmerTest) is in test_r_reference.py."""

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


def dense_design(df):
    """CHG ~ BASE + ARM + VISIT + ARM × VISIT + BASE × VISIT, per visit, built independently with pandas."""
    X = {}
    for v in sorted(df["AVISITN"].unique()):
        at = (df["AVISITN"] == v).astype(float)
        X[f"v{v:g}"] = at
        X[f"BASE:v{v:g}"] = at * df["BASE"]
        for a in ARMS[1:]:
            X[f"{a}:v{v:g}"] = at * (df["ARM"] == a)
    return pd.DataFrame(X)


def test_recovers_known_arm_effect_within_ci():
    df = simulate(seed=1)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS)
    assert res.ok, res.note
    assert res.structure == "UN" and res.df_method == "kr" and not res.fallback_note
    by = {c.arm: c for c in res.contrasts}
    for arm, true in TRUE_AT_12.items():
        c = by[arm]
        assert c.ci_low < true < c.ci_high
        assert abs(c.estimate - true) < 0.6
        assert c.p_value < 1e-4
        q = stats.t.ppf(0.975, c.df)  # CI and p are the t-based ones from estimate, SE and KR df
        assert (c.ci_low, c.ci_high) == pytest.approx((c.estimate - q * c.se, c.estimate + q * c.se))
        assert c.p_value == pytest.approx(2 * stats.t.sf(abs(c.estimate / c.se), c.df))
        assert c.se >= c.se_model and 80 < c.df < 90  # KR inflates the SE; df about n − arms
    # every arm at every visit
    assert {(c.arm, c.visit) for c in res.by_visit} == {(a, v) for a in "BC" for v in (4.0, 8.0, 12.0)}


def test_ci_covers_truth_in_most_replicates():
    hits = 0
    for seed in range(20):
        c = {c.arm: c for c in MM.fit_mmrm(simulate(n_per_arm=12, seed=100 + seed), "A", 12.0, ARMS).contrasts}["C"]
        hits += c.ci_low < TRUE_AT_12["C"] < c.ci_high
    assert hits >= 17  # nominal 95 %: 19 of 20 expected; binomial slack


def test_complete_data_unstructured_estimates_equal_ols():
    # Complete data, unstructured covariance, every visit with its own coefficients: GLS equals
    # least squares visit by visit (seemingly unrelated regressions with identical regressors).
    df = simulate(n_per_arm=8, seed=3)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS)
    X = dense_design(df)
    beta = dict(zip(X.columns, np.linalg.lstsq(X.to_numpy(), df["CHG"].to_numpy(), rcond=None)[0]))
    for c in res.by_visit:
        assert c.estimate == pytest.approx(beta[f"{c.arm}:v{c.visit:g}"], abs=1e-9)


def test_estimate_and_se_equal_dense_gls_with_the_fitted_covariance():
    df = simulate(n_per_arm=10, seed=11, missing=0.2)  # unbalanced: GLS differs from OLS here
    res = MM.fit_mmrm(df, "A", 12.0, ARMS, structure="CSH", df_method="satterthwaite")
    X = dense_design(df).to_numpy()
    y = df["CHG"].to_numpy()
    visits = sorted(df["AVISITN"].unique())
    Vinv = np.zeros((len(df), len(df)))
    for sid in df["USUBJID"].unique():
        idx = np.flatnonzero(df["USUBJID"].to_numpy() == sid)
        vi = [visits.index(v) for v in df["AVISITN"].to_numpy()[idx]]
        Vinv[np.ix_(idx, idx)] = np.linalg.inv(res.sigma[np.ix_(vi, vi)])
    cov = np.linalg.inv(X.T @ Vinv @ X)
    beta = cov @ X.T @ Vinv @ y
    cols = list(dense_design(df).columns)
    for c in res.by_visit:
        j = cols.index(f"{c.arm}:v{c.visit:g}")
        assert c.estimate == pytest.approx(beta[j], rel=1e-10)
        assert c.se == pytest.approx(np.sqrt(cov[j, j]), rel=1e-10)
    ols_beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert abs(ols_beta[cols.index("C:v4")] - beta[cols.index("C:v4")]) > 1e-4  # a visit with gaps


# -- Kenward–Roger against an independent dense computation with numerical derivatives -------------------
def sas_sigma(structure, theta, T):
    """SAS's parameterisation of each TYPE=, written out independently of analysis.mmrm."""
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    th = np.asarray(theta, float)
    if structure == "UN":
        S = np.zeros((T, T))
        S[np.tril_indices(T)] = th
        return S + np.tril(S, -1).T
    if structure == "AR1":
        return th[0] * th[1] ** lag
    if structure == "ARH1":
        sd = np.sqrt(th[:T])
        return np.outer(sd, sd) * th[T] ** lag
    if structure == "CSH":
        sd = np.sqrt(th[:T])
        return np.outer(sd, sd) * np.where(lag == 0, 1.0, th[T])
    if structure == "TOEPH":
        sd = np.sqrt(th[:T])
        return np.outer(sd, sd) * np.concatenate([[1.0], th[T:]])[lag]
    if structure == "TOEP":
        return th[lag]
    raise ValueError(structure)


def dense_kr(df, structure, theta, L_names):
    """Kenward & Roger (1997) with dense N × N matrices: G_i, G_ij by central differences of V(θ),
    W = 2 × inverse of the numerical Hessian of −2 × REML log-likelihood (observed information)."""
    X = dense_design(df)
    names = list(X.columns)
    X = X.to_numpy()
    y = df["CHG"].to_numpy()
    visits = sorted(df["AVISITN"].unique())
    T_ = len(visits)
    blocks = [(np.flatnonzero(df["USUBJID"].to_numpy() == s),
               [visits.index(v) for v in df.loc[df["USUBJID"] == s, "AVISITN"]]) for s in df["USUBJID"].unique()]
    N, p = X.shape

    def V(th):
        S = sas_sigma(structure, th, T_)
        out = np.zeros((N, N))
        for idx, vi in blocks:
            out[np.ix_(idx, idx)] = S[np.ix_(vi, vi)]
        return out

    def m2ll(th):
        Vm = V(th)
        Vi = np.linalg.inv(Vm)
        A = X.T @ Vi @ X
        b = np.linalg.solve(A, X.T @ Vi @ y)
        r = y - X @ b
        return (N - p) * np.log(2 * np.pi) + np.linalg.slogdet(Vm)[1] + np.linalg.slogdet(A)[1] + r @ Vi @ r

    th = np.asarray(theta, float)
    k = len(th)
    h = 1e-4 * np.maximum(np.abs(th), 0.1)
    Hs = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            Hs[i, j] = Hs[j, i] = (m2ll(th + ei + ej) - m2ll(th + ei - ej) - m2ll(th - ei + ej)
                                   + m2ll(th - ei - ej)) / (4 * h[i] * h[j])
    W = 2 * np.linalg.inv(Hs)
    V0 = V(th)
    Vi = np.linalg.inv(V0)
    Phi = np.linalg.inv(X.T @ Vi @ X)
    G = [(V(th + np.eye(k)[i] * h[i]) - V(th - np.eye(k)[i] * h[i])) / (2 * h[i]) for i in range(k)]
    P = [-X.T @ Vi @ Gi @ Vi @ X for Gi in G]
    U = np.zeros((p, p))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            Gij = (V(th + ei + ej) - V(th + ei - ej) - V(th - ei + ej) + V(th - ei - ej)) / (4 * h[i] * h[j])
            Q = X.T @ Vi @ G[i] @ Vi @ G[j] @ Vi @ X
            R = X.T @ Vi @ Gij @ Vi @ X
            U += W[i, j] * (Q - P[i] @ Phi @ P[j] - 0.25 * R)
    PhiA = Phi + 2 * Phi @ U @ Phi
    out = {}
    for nm in L_names:
        L = np.zeros(p)
        L[names.index(nm)] = 1.0

        def var(t):
            Vt = V(t)
            return L @ np.linalg.inv(X.T @ np.linalg.inv(Vt) @ X) @ L

        g = np.array([(var(th + np.eye(k)[i] * h[i]) - var(th - np.eye(k)[i] * h[i])) / (2 * h[i])
                      for i in range(k)])
        out[nm] = (np.sqrt(L @ PhiA @ L), 2 * (L @ Phi @ L) ** 2 / (g @ W @ g))
    return out


@pytest.mark.parametrize("structure", ["AR1", "ARH1", "CSH", "TOEPH", "TOEP", "UN"])
def test_kenward_roger_equals_dense_numerical_derivatives(structure):
    df = simulate(n_per_arm=7, visits=(4.0, 8.0, 12.0), seed=21, missing=0.15, re_sd=1.0)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS, structure=structure, fallback=False, df_method="kr")
    assert res.ok and res.structure == structure, res.note
    names = [f"{c.arm}:v{c.visit:g}" for c in res.by_visit]
    ref = dense_kr(df, structure, res.theta, names)
    for c, nm in zip(res.by_visit, names):
        se, dfree = ref[nm]
        assert c.se == pytest.approx(se, rel=1e-4), (structure, nm)
        assert c.df == pytest.approx(dfree, rel=1e-4), (structure, nm)


def test_fallback_order_and_the_reason_is_said():
    assert MM.fallback_order("UN") == ["UN", "TOEPH", "ARH1", "CS"]
    assert MM.fallback_order("TOEPH") == ["TOEPH", "ARH1", "CS"]
    assert MM.fallback_order("AR1") == ["AR1", "CS"] and MM.fallback_order("CS") == ["CS"]
    # 4 subjects per arm cannot support 10 unstructured parameters at 4 visits with this design
    df = simulate(n_per_arm=4, visits=(4.0, 8.0, 12.0, 16.0), seed=2, missing=0.3)
    res = MM.fit_mmrm(df, "A", 16.0, ARMS, structure="UN")
    if res.ok and res.structure != "UN":
        assert res.fallback_note.startswith("unstructured did not converge")
        assert res.fallback_note.endswith(f"{MM.STRUCTURES[res.structure][0]} used")
    # forced: a structure that cannot converge hands over, and says so
    orig = MM.fit

    def failing(pat, C, structure, *a, **k):
        if structure == "UN":
            return MM.Fit(structure="UN", converged=False, message="no convergence in 200 iterations", visits=(),
                          names=())
        return orig(pat, C, structure, *a, **k)

    MM.fit = failing
    try:
        res = MM.fit_mmrm(simulate(seed=5), "A", 12.0, ARMS, structure="UN")
    finally:
        MM.fit = orig
    assert res.ok and res.structure == "TOEPH" and res.requested == "UN"
    assert res.fallback_note == ("unstructured did not converge (no convergence in 200 iterations); "
                                 "heterogeneous Toeplitz used")
    res = MM.fit_mmrm(simulate(seed=5), "A", 12.0, ARMS, structure="UN", fallback=False)
    assert res.structure == "UN"


def test_single_visit_is_ancova_equal_to_statsmodels_ols():
    df = simulate(visits=(12.0,), n_per_arm=9, seed=5)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS)
    assert res.ok and "ANCOVA" in res.method and "independent" in res.covariance
    X = dense_design(df)
    fit = sm.OLS(df["CHG"].to_numpy(), X.to_numpy()).fit()
    ci = fit.conf_int()
    for c in res.contrasts:
        j = list(X.columns).index(f"{c.arm}:v12")
        assert c.estimate == pytest.approx(fit.params[j])
        assert c.se == pytest.approx(fit.bse[j])
        assert c.p_value == pytest.approx(fit.pvalues[j])
        assert (c.ci_low, c.ci_high) == pytest.approx(tuple(ci[j]))
        assert c.df == pytest.approx(fit.df_resid)


def test_reference_arm_choice_flips_sign():
    df = simulate(seed=21)
    ab = {c.arm: c for c in MM.fit_mmrm(df, "A", 12.0, ARMS).contrasts}["B"]
    ba = {c.arm: c for c in MM.fit_mmrm(df, "B", 12.0, ARMS).contrasts}["A"]
    assert ab.estimate == pytest.approx(-ba.estimate, rel=1e-8)
    assert ab.p_value == pytest.approx(ba.p_value, rel=1e-6)


def test_common_baseline_slope_model_matches_dense_gls():
    # CHG ~ BASE + ARM × VISIT (one BASE slope): C is not a selection; estimates = dense GLS at the fitted Σ
    df = simulate(n_per_arm=8, seed=12, missing=0.2)
    res = MM.fit_mmrm(df, "A", 12.0, ARMS, structure="CS", base_by_visit=False, df_method="satterthwaite")
    X = dense_design(df)
    base_cols = [c for c in X.columns if c.startswith("BASE:")]
    X = X.drop(columns=base_cols).assign(BASE=df["BASE"])
    visits = sorted(df["AVISITN"].unique())
    Vinv = np.zeros((len(df), len(df)))
    for sid in df["USUBJID"].unique():
        idx = np.flatnonzero(df["USUBJID"].to_numpy() == sid)
        vi = [visits.index(v) for v in df["AVISITN"].to_numpy()[idx]]
        Vinv[np.ix_(idx, idx)] = np.linalg.inv(res.sigma[np.ix_(vi, vi)])
    Xm = X.to_numpy()
    cov = np.linalg.inv(Xm.T @ Vinv @ Xm)
    beta = cov @ Xm.T @ Vinv @ df["CHG"].to_numpy()
    cols = list(X.columns)
    for c in res.by_visit:
        j = cols.index(f"{c.arm}:v{c.visit:g}")
        assert c.estimate == pytest.approx(beta[j], rel=1e-9) and c.se == pytest.approx(np.sqrt(cov[j, j]), rel=1e-9)


def test_base_by_visit_is_configurable():
    df = simulate(seed=8)
    full = MM.fit_mmrm(df, "A", 12.0, ARMS)
    common = MM.fit_mmrm(df, "A", 12.0, ARMS, base_by_visit=False)
    assert "BASE × VISIT" in full.model and "BASE × VISIT" not in common.model
    assert common.ok and common.contrasts[0].estimate != pytest.approx(full.contrasts[0].estimate, abs=1e-9)


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
    with pytest.raises(ValueError):
        MM.fit_mmrm(df, "A", 12.0, ARMS, structure="VC")
    with pytest.raises(ValueError):
        MM.fit_mmrm(df, "A", 12.0, ARMS, df_method="containment")


def test_lso088_combination_vs_belimumab(study):
    """Unstructured covariance, Kenward–Roger: the values nlme and our KR give (R-verified structure
    fit, test_r_reference), n per arm at week 48 from the file."""
    labels = [a.label for a in study.arms]
    lb = pd.read_parquet(study.folder / "adlb.parquet")
    wk48 = lb[(lb["AVISITN"] == 48) & lb["CHG"].notna()]
    signs = {"IGG": -1, "DSDNA": -1, "ANUA": -1, "C3": 1}
    for code, sign in signs.items():
        res = MM.fit_mmrm(T.select(study.measurements, code, labels), "Belimumab", 48.0, labels)
        assert res.ok and res.structure == "UN", (code, res.note)
        combo = {c.arm: c for c in res.contrasts}["Belimumab + Ld-IL2"]
        assert np.sign(combo.estimate) == sign, (code, combo)
        n = wk48[wk48["PARAMCD"] == code].groupby("TRT01A").size()
        assert (combo.n_arm, combo.n_ref) == (n["Belimumab + Ld-IL2"], n["Belimumab"])
        assert 15 < combo.df < 30  # KR df, not the old fixed subjects − arms − 1 = 26
