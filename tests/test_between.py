"""Between-arm statistics checked against scipy, enumeration and numpy least squares."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.between import (
    ancova,
    change_frame,
    compare_arms,
    hodges_lehmann_shift,
    kruskal_wallis,
    mann_whitney,
    pairwise_mann_whitney,
)


def exact_u_pvalue(x, y):
    """Two-sided exact p of the Mann–Whitney U by enumerating every split of the pooled ranks."""
    pooled = np.concatenate([x, y])
    ranks = stats.rankdata(pooled)
    n_x, n = len(x), len(pooled)
    u_obs = ranks[n_x:].sum() - len(y) * (len(y) + 1) / 2  # U of y
    mean = len(x) * len(y) / 2
    us = []
    for idx in itertools.combinations(range(n), len(y)):
        us.append(ranks[list(idx)].sum() - len(y) * (len(y) + 1) / 2)
    us = np.array(us)
    dev = abs(u_obs - mean)
    return float(np.mean(np.abs(us - mean) >= dev - 1e-9))


# -- Mann–Whitney ---------------------------------------------------------------------------
def test_mann_whitney_exact_matches_scipy_and_enumeration():
    x = np.array([1.2, 3.4, 2.2, 5.1, 0.7])
    y = np.array([4.4, 6.3, 5.9, 7.7, 3.9, 8.1])
    r = mann_whitney(x, y, "A", "B")
    ref = stats.mannwhitneyu(y, x, alternative="two-sided", method="exact")
    assert r.method == "Mann–Whitney U, exact"
    assert r.p_value == pytest.approx(ref.pvalue)
    assert r.statistic == pytest.approx(ref.statistic)
    assert r.p_value == pytest.approx(exact_u_pvalue(x, y))
    assert (r.n_a, r.n_b, r.a, r.b) == (5, 6, "A", "B")


def test_mann_whitney_ties_use_the_asymptotic_test():
    x = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    y = np.array([2.0, 5.0, 6.0, 6.0, 7.0])
    r = mann_whitney(x, y)
    ref = stats.mannwhitneyu(y, x, alternative="two-sided", method="asymptotic", use_continuity=True)
    assert r.method == "Mann–Whitney U, normal approximation with continuity correction (ties)"
    assert r.p_value == pytest.approx(ref.pvalue)
    assert not r.ci_exact and r.ci_low < r.estimate < r.ci_high  # R's root-finding interval (see test_r_reference)


def test_mann_whitney_is_exact_up_to_49_per_arm_as_r():
    rng = np.random.default_rng(4)
    x, y = rng.normal(0, 1, 49), rng.normal(0.5, 1, 40)
    assert mann_whitney(x, y).method == "Mann–Whitney U, exact"
    r = mann_whitney(x, rng.normal(0.5, 1, 50))
    assert r.method == "Mann–Whitney U, normal approximation with continuity correction (n ≥ 50)"
    exact = mann_whitney(x[:8], y[:9])
    ref = stats.mannwhitneyu(y[:9], x[:8], method="exact")
    assert exact.p_value == pytest.approx(ref.pvalue, rel=1e-12) and exact.ci_exact and exact.conf_level == 0.95


def test_mann_whitney_too_few_is_said():
    r = mann_whitney([1.0, 2.0], [3.0, 4.0, 5.0])
    assert not r.ok and "too few" in r.note and r.p_value is None


def test_hodges_lehmann_shift_by_hand():
    # differences y - x: 3-1, 3-2, 5-1, 5-2, 9-1, 9-2 = 2, 1, 4, 3, 8, 7 -> median 3.5
    assert hodges_lehmann_shift([1, 2], [3, 5, 9]) == pytest.approx(3.5)


def test_pairwise_holm_by_hand():
    rng = np.random.default_rng(7)
    g = {"A": rng.normal(0, 1, 8), "B": rng.normal(1, 1, 8), "C": rng.normal(2, 1, 8)}
    out = pairwise_mann_whitney(g)
    assert [(t.a, t.b) for t in out] == [("A", "B"), ("A", "C"), ("B", "C")]
    raw = [stats.mannwhitneyu(g[b], g[a], method="exact").pvalue for a, b in (("A", "B"), ("A", "C"), ("B", "C"))]
    assert [t.p_value for t in out] == pytest.approx(raw)
    # Holm by hand: sort ascending, multiply by (m - rank), running max, cap at 1
    order = np.argsort(raw)
    adj = np.empty(3)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (3 - k) * raw[i]))
        adj[i] = running
    assert [t.p_adjusted for t in out] == pytest.approx(adj)
    assert all(t.adjustment == "Holm" for t in out)


# -- Kruskal–Wallis -------------------------------------------------------------------------
def test_kruskal_matches_scipy():
    g = {"A": np.array([1.0, 2.5, 3.1, 4.2]), "B": np.array([5.0, 6.1, 2.2, 7.3]), "C": np.array([8.0, 9.4, 7.7])}
    r = kruskal_wallis(g)
    ref = stats.kruskal(*g.values())
    assert r.p_value == pytest.approx(ref.pvalue) and r.statistic == pytest.approx(ref.statistic)
    assert r.df == 2 and r.n == {"A": 4, "B": 4, "C": 3}


def test_kruskal_by_hand_without_ties():
    g = {"A": np.array([1.0, 2.0, 3.0]), "B": np.array([4.0, 5.0, 6.0]), "C": np.array([7.0, 8.0, 9.0])}
    # ranks are the values; H = 12/(N(N+1)) * sum(R_i^2/n_i) - 3(N+1) = 12/90*(36+225+576)/3 - 30 = 7.2
    r = kruskal_wallis(g)
    assert r.statistic == pytest.approx(7.2)
    assert r.p_value == pytest.approx(math.exp(-7.2 / 2))  # chi-squared with 2 df


def test_kruskal_leaves_out_small_arms_and_says_so():
    g = {"A": np.array([1.0, 2.0, 3.0]), "B": np.array([4.0, 5.0, 6.0]), "C": np.array([7.0])}
    r = kruskal_wallis(g)
    assert r.df == 1 and "C (n = 1)" in r.note
    assert not kruskal_wallis({"A": np.array([1.0, 2.0, 3.0]), "B": np.array([4.0])}).ok


# -- ANCOVA ---------------------------------------------------------------------------------
def _frame(seed=3, n=8):
    rng = np.random.default_rng(seed)
    arms = ["Ref", "X", "Y"]
    rows = []
    for k, arm in enumerate(arms):
        a = rng.normal(50, 10, n)
        b = 5 + 0.8 * a + [0, -6, 4][k] + rng.normal(0, 3, n)
        rows += [{"USUBJID": f"{arm}-{i}", "ARM": arm, "a": a[i], "b": b[i]} for i in range(n)]
    return pd.DataFrame(rows), arms


def test_ancova_matches_numpy_least_squares():
    df, arms = _frame()
    r = ancova(df, arms, "Ref")
    X = np.column_stack([np.ones(len(df)), df["a"], (df["ARM"] == "X").astype(float), (df["ARM"] == "Y").astype(float)])
    y = df["b"].to_numpy()
    beta, rss, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = len(y) - X.shape[1]
    sigma2 = rss[0] / dof
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(X.T @ X)))
    tq = stats.t.ppf(0.975, dof)
    assert r.ok and r.n == 24 and r.reference == "Ref"
    assert r.slope == pytest.approx(beta[1])
    for c, j in zip(r.contrasts, (2, 3)):
        assert c.estimate == pytest.approx(beta[j])
        assert (c.ci_low, c.ci_high) == pytest.approx((beta[j] - tq * se[j], beta[j] + tq * se[j]))
        assert c.p_value == pytest.approx(2 * stats.t.sf(abs(beta[j] / se[j]), dof))
    assert [c.arm for c in r.contrasts] == ["X", "Y"]
    # Overall arm F-test = extra sum of squares against the model without arm terms.
    rss0 = np.linalg.lstsq(X[:, :2], y, rcond=None)[1][0]
    f = ((rss0 - rss[0]) / 2) / sigma2
    assert r.f_statistic == pytest.approx(f) and r.f_df == (2, dof)
    assert r.f_p_value == pytest.approx(stats.f.sf(f, 2, dof))


def test_ancova_recovers_a_known_effect():
    df, arms = _frame(seed=11, n=40)
    r = ancova(df, arms, "Ref")
    x, y = r.contrasts
    assert x.ci_low < -6 < x.ci_high and y.ci_low < 4 < y.ci_high


def test_ancova_failures_are_said():
    df, arms = _frame()
    assert "reference" in ancova(df[df["ARM"] != "Ref"], arms, "Ref").note
    assert "only one arm" in ancova(df[df["ARM"] == "Ref"], arms, "Ref").note
    flat = df.assign(a=1.0)
    assert "rank deficient" in ancova(flat, arms, "Ref").note
    tiny = df[df["ARM"] != "Y"].groupby("ARM").head(2)  # 4 subjects, 3 coefficients
    r = ancova(tiny, arms, "Ref")
    assert not r.ok and "too few" in r.note


# -- shaping and the whole comparison -------------------------------------------------------
def test_change_frame_keeps_complete_pairs_only():
    df = pd.DataFrame({
        "USUBJID": ["s1", "s1", "s2", "s3", "s3"], "ARM": ["A"] * 5,
        "AVISITN": [0.0, 48.0, 0.0, 0.0, 48.0], "AVAL": [10.0, 5.0, 3.0, 4.0, 6.0],
    })
    f = change_frame(df, 0, 48)
    assert list(f["USUBJID"]) == ["s1", "s3"]
    assert list(f["chg"]) == [-5.0, 2.0] and list(f["pchg"]) == [-50.0, 50.0]


def test_change_frame_ties_at_the_recorded_precision():
    # 2-decimal values: floating-point subtraction makes 0.3 − 0.1 and 0.5 − 0.3 differ; recorded, they tie
    df = pd.DataFrame({"USUBJID": ["s1", "s1", "s2", "s2"], "ARM": ["A"] * 4, "AVISITN": [0.0, 48.0] * 2,
                       "AVAL": [0.1, 0.3, 0.3, 0.5]})
    f = change_frame(df, 0, 48)
    assert f["chg"].nunique() == 1 and f["chg"].iloc[0] == 0.2


def test_compare_arms_on_lso088_matches_scipy_on_the_files(study):
    cell = pd.read_parquet(study.folder / "adcell.parquet")
    arms = [a.label for a in study.arms]
    m = study.measurements
    d = m[m["PARAMCD"] == "NAIVEB"][["USUBJID", "ARM", "AVISITN", "AVAL"]]
    frame = change_frame(d, 0, 48)
    res = compare_arms(frame, arms, arms[0], change="pchg")
    wk48 = cell[(cell["PARAMCD"] == "NAIVEB") & (cell["AVISITN"] == 48)]
    g = {a: wk48.loc[wk48["TRT01A"] == a, "PCHG"].to_numpy(float) for a in arms}
    assert res.kruskal.p_value == pytest.approx(stats.kruskal(*g.values()).pvalue, rel=1e-6)
    combo_vs_bel = next(t for t in res.pairs if (t.a, t.b) == (arms[0], arms[2]))
    assert combo_vs_bel.p_value == pytest.approx(stats.mannwhitneyu(g[arms[2]], g[arms[0]], method="exact").pvalue, rel=1e-6)
    assert combo_vs_bel.method == "Mann–Whitney U, exact"
    with pytest.raises(ValueError):
        compare_arms(frame, arms, arms[0], change="AVAL; drop")
