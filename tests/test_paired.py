"""Paired statistics checked against scipy and hand computations."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from analysis.multiplicity import adjust
from analysis import ranktests as RT
from analysis.paired import paired_t, wilcoxon_signed_rank


def signed_rank_critical(n, alpha=0.05):
    """R's qsignrank(alpha/2, n): the lower CI bound is the max(1, k)-th Walsh average."""
    return RT.qsignrank(alpha / 2, n)


def brute_force_critical(n, alpha=0.05):
    """Enumerate all 2^n sign patterns: the independent yardstick for the exact null."""
    sums = [sum(r for r, s in zip(range(1, n + 1), signs) if s) for signs in itertools.product((0, 1), repeat=n)]
    sums = np.array(sums)
    k = 0
    while np.mean(sums <= k) <= alpha / 2:
        k += 1
    return k  # P(T <= k-1) <= alpha/2 < P(T <= k)


@pytest.mark.parametrize("n", [5, 6, 8, 10, 12])
def test_signed_rank_critical_matches_enumeration(n):
    assert signed_rank_critical(n) == brute_force_critical(n)


def test_published_critical_value_n10():
    # Tables (e.g. Hollander & Wolfe): n = 10, two-sided 5 %: C = 9, i.e. P(T+ <= 8) = 0.0244.
    assert signed_rank_critical(10) == 9


def test_wilcoxon_matches_scipy_exact():
    rng = np.random.default_rng(1)
    a = rng.normal(10, 2, 10)
    b = a + rng.normal(-1, 1, 10)
    r = wilcoxon_signed_rank(a, b)
    ref = stats.wilcoxon(b, a, method="exact")
    assert r.method == "Wilcoxon signed-rank, exact" and r.n_pairs == 10
    assert r.p_value == pytest.approx(ref.pvalue) and r.statistic == pytest.approx(ref.statistic)


def test_hodges_lehmann_by_hand():
    d = np.array([1.0, 2.0, 4.0])
    # Walsh averages: 1, 1.5, 2.5, 2, 3, 4 -> median 2.25; n = 3 reaches only 75 % (R: conf.level 0.75)
    r = wilcoxon_signed_rank(np.zeros(3), d)
    assert r.estimate == pytest.approx(2.25)
    assert (r.ci_low, r.ci_high, r.conf_level) == (1.0, 4.0, 0.75) and r.ci_exact
    assert "exact 75% CI; 95% not reachable with n = 3" in r.estimate_name


def test_hl_ci_covers_and_orders():
    rng = np.random.default_rng(3)
    d = rng.normal(2, 1, 10)
    w = np.sort([(d[i] + d[j]) / 2 for i in range(10) for j in range(i, 10)])
    r = wilcoxon_signed_rank(np.zeros(10), d)
    assert (r.ci_low, r.ci_high) == (w[8], w[-9])
    assert r.ci_low < r.estimate < r.ci_high and r.estimate_name.endswith("(exact 95% CI)")


def test_zero_differences_leave_test_and_estimate_alike():
    a = np.array([5.0, 5.0, 6.0, 7.0, 8.0, 9.0, 4.0, 3.0])
    b = np.array([5.0, 6.5, 8.1, 7.0, 10.4, 12.7, 6.2, 6.3])  # two zero differences, no ties
    r = wilcoxon_signed_rank(a, b)
    d = (b - a)[(b - a) != 0]
    n = len(d)
    v = stats.rankdata(np.abs(d))[d > 0].sum()
    z = (v - n * (n + 1) / 4 - 0.5) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    assert r.statistic == v and r.p_value == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    # the estimate is R's root of the (uncorrected) statistic over the non-zero differences only
    w = np.sort([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])
    assert abs(r.estimate - np.median(w)) < 0.05 and r.ci_low >= d.min() and r.ci_high <= d.max()
    assert "2 zero differences left out of the test, the estimate and the CI" in r.remark
    assert "normal approximation with continuity correction (zero differences)" in r.method
    assert not r.ci_exact and "approximate 90% CI; 95% not reachable with n = 6" in r.estimate_name  # as R


def test_continuity_correction_by_hand():
    d = np.array([1.0, 1.0, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0])  # tied |d| = 1: normal approximation
    r = wilcoxon_signed_rank(np.zeros(8), d)
    v = 1.5 + 1.5 + 3 + 5 + 6 + 7 + 8  # ranks of the positive differences (|−3| has rank 4)
    sigma = math.sqrt(8 * 9 * 17 / 24 - (2 ** 3 - 2) / 48)
    z = (v - 8 * 9 / 4 - 0.5) / sigma
    assert r.statistic == v and r.p_value == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)


def test_exact_up_to_49_nonzero_differences_as_r():
    rng = np.random.default_rng(9)
    d = rng.normal(0.3, 1, 49)
    assert wilcoxon_signed_rank(np.zeros(49), d).method == "Wilcoxon signed-rank, exact"
    assert "n ≥ 50" in wilcoxon_signed_rank(np.zeros(50), rng.normal(0.3, 1, 50)).method


def test_ties_fall_back_to_normal_approximation():
    r = wilcoxon_signed_rank([1, 2, 3, 4, 5], [2, 3, 4, 6, 7])
    assert r.method.startswith("Wilcoxon signed-rank, normal approximation")


def test_too_few_pairs_is_said_not_computed():
    r = wilcoxon_signed_rank([1, 2], [3, 4])
    assert not r.ok and "too few" in r.note and r.n_pairs == 2


def test_paired_t_matches_scipy_and_hand_ci():
    a = np.array([5.0, 6.0, 7.0, 8.0, 9.0])
    b = np.array([6.0, 8.0, 7.5, 9.0, 11.0])
    r = paired_t(a, b)
    d = b - a
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert r.p_value == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert (r.estimate, r.ci_low, r.ci_high) == pytest.approx((d.mean(), d.mean() - half, d.mean() + half))


def test_paired_t_log_gives_ratio():
    a = np.array([1.0, 2.0, 4.0, 8.0])
    r = paired_t(a, 2 * a * np.array([1.0, 1.1, 0.9, 1.0]), log=True)
    assert r.estimate == pytest.approx(2 * np.exp(np.mean(np.log([1.0, 1.1, 0.9, 1.0]))))


def test_adjust_holm_and_bh_by_hand():
    p = [0.01, 0.04, 0.03, None]
    # Holm: sorted 0.01*3, 0.03*2, 0.04*1 -> 0.03, 0.06, 0.06 (monotone)
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, None])
    # BH: 0.04*3/3=0.04, 0.03*3/2=0.045 -> min from top: 0.04; 0.01*3=0.03
    assert adjust(p, "fdr_bh") == pytest.approx([0.03, 0.04, 0.04, None])
    assert adjust(p, "none") == p
    with pytest.raises(ValueError):
        adjust(p, "bonferroni; drop table")
