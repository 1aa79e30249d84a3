"""Paired statistics checked against scipy and hand computations."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from analysis.multiplicity import adjust
from analysis.paired import hodges_lehmann_ci, paired_t, signed_rank_critical, wilcoxon_signed_rank


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
    # Walsh averages: 1, 1.5, 2.5, 2, 3, 4 -> median 2.25
    est, lo, hi, how = hodges_lehmann_ci(d)
    assert est == pytest.approx(2.25)
    assert math.isnan(lo)  # n = 3 cannot reach 95 % coverage


def test_hl_ci_covers_and_orders():
    rng = np.random.default_rng(3)
    d = rng.normal(2, 1, 10)
    w = np.sort([(d[i] + d[j]) / 2 for i in range(10) for j in range(i, 10)])
    est, lo, hi, _ = hodges_lehmann_ci(d)
    assert (lo, hi) == (w[8], w[-9])
    assert lo < est < hi


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
