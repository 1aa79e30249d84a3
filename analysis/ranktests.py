"""Rank tests exactly as R computes them by default: ``wilcox.test`` (signed rank and rank sum, with
``conf.int = TRUE``) and ``kruskal.test``.

Self-contained (numpy and scipy only, nothing from the app) so a Show-code script can load this file.

What "as R" means, to the last digit (checked against R 4.2's stats package to 1e-10):

- signed rank (paired): zero differences are dropped, from the test *and* from the estimate and
  interval (R's convention); with n < 50 non-zero differences, no ties and no zeros, the exact
  null distribution, the exact Hodges–Lehmann interval (Walsh averages, R's ``qsignrank``) and
  the median of the Walsh averages; otherwise the normal approximation with tie correction and
  continuity correction, and R's interval and estimate by root finding on the standardised
  statistic (``uniroot``, Brent's zeroin ported here step for step, R's ``qnorm`` too);
- rank sum (two groups): exact when both groups have fewer than 50 values and there are no ties
  (R's ``pwilcox``/``qwilcox``), else the normal approximation with tie and continuity
  corrections, and the interval and estimate by root finding, as R does;
- Kruskal–Wallis: chi-squared approximation with the tie correction (R has no exact version).

Ties are ties of the recorded values: the caller passes values at their recorded precision
(``changes`` turns two measurements with k recorded decimals into integers of 10⁻ᵏ units first,
so 0.3 − 0.1 equals 0.2 and equal % changes are equal numbers) — what R sees when it reads the
same data with the same rounding.

When R would not reach the requested 95 % (e.g. n = 3 pairs), the interval is R's, at the level
R reports (``conf_level``), and is labelled exact or approximate as it is.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

__all__ = ["recorded_decimals", "changes", "signed_rank", "rank_sum", "kruskal", "RankResult"]

DBL_EPSILON = 2.220446049250313e-16
EXACT_BELOW = 50  # R: exact when n < 50 (per group for the rank sum)


# ---------------------------------------------------------------------------------------------
# recorded precision
# ---------------------------------------------------------------------------------------------
def recorded_decimals(values, max_decimals: int = 9):
    """Smallest k <= ``max_decimals`` such that every value has at most k decimals, else None."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0
    for k in range(max_decimals + 1):
        x = v * 10.0 ** k
        if np.all(np.abs(x - np.rint(x)) <= 1e-6 + 4e-15 * np.abs(x)) and np.all(np.abs(x) < 2 ** 52):
            return k
    return None


def changes(a, b, decimals="auto"):
    """(change b − a, % change 100 (b − a) / a) at the data's recorded precision.

    With k recorded decimals both are computed from integer units of 10⁻ᵏ, so equal changes are
    equal floating-point numbers (one correctly rounded division each); % change is NaN where a = 0.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    k = recorded_decimals(np.concatenate([a, b])) if decimals == "auto" else decimals
    if k is None:
        chg = b - a
        with np.errstate(divide="ignore", invalid="ignore"):
            pchg = np.where(a != 0, 100.0 * chg / a, np.nan)
        return chg, pchg
    s = 10.0 ** k
    ai, bi = np.rint(a * s), np.rint(b * s)
    chg = (bi - ai) / s
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = np.where(ai != 0, 100.0 * (bi - ai) / ai, np.nan)
    return chg, pchg


# ---------------------------------------------------------------------------------------------
# R's distributions and root finder
# ---------------------------------------------------------------------------------------------
def _rank(x):
    """R's rank(x) with ties averaged (half-integers, exact)."""
    x = np.asarray(x, float)
    _, inv, cnt = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(cnt).astype(float)
    return (ends - (cnt - 1) / 2.0)[inv], cnt


@functools.lru_cache(maxsize=256)
def _signrank_counts(n: int) -> np.ndarray:
    c = np.zeros(n * (n + 1) // 2 + 1)
    c[0] = 1.0
    for r in range(1, n + 1):
        c[r:] = c[r:] + c[:-r].copy()
    return c


def psignrank(q: float, n: int, lower_tail: bool = True) -> float:
    x = _forceint(q + 1e-7)
    if x < 0:
        return 0.0 if lower_tail else 1.0
    if x >= n * (n + 1) / 2:
        return 1.0 if lower_tail else 0.0
    c = _signrank_counts(n)
    f = math.exp(-n * math.log(2.0))
    p = 0.0
    if x <= n * (n + 1) / 4:
        for i in range(int(x) + 1):
            p += c[i] * f
    else:
        x = n * (n + 1) / 2 - x
        for i in range(int(x)):
            p += c[i] * f
        lower_tail = not lower_tail
    return p if lower_tail else 0.5 - p + 0.5


def qsignrank(x: float, n: int) -> int:
    c = _signrank_counts(n)
    f = math.exp(-n * math.log(2.0))
    p, q = 0.0, 0
    if x <= 0.5:
        x = x - 10 * DBL_EPSILON
        while True:
            p += c[q] * f
            if p >= x:
                return q
            q += 1
    x = 1 - x + 10 * DBL_EPSILON
    while True:
        p += c[q] * f
        if p > x:
            return int(n * (n + 1) / 2 - q)
        q += 1


@functools.lru_cache(maxsize=256)
def _wilcox_counts(m: int, n: int) -> np.ndarray:
    """Frequencies of the Mann–Whitney statistic for group sizes m, n (R's cwilcox)."""
    # f[j]: counts of U for (j, n') as n' grows; U(j, n') = U(j-1, n') shifted by n' + U(j, n'-1)
    f = [np.ones(1)] + [np.ones(1) for _ in range(m)]  # n' = 0: only U = 0
    for nn in range(1, n + 1):
        new = [np.ones(1)]
        for j in range(1, m + 1):
            size = j * nn + 1
            a = np.zeros(size)
            prev_same = f[j]  # (j, nn - 1)
            a[:len(prev_same)] += prev_same
            left = new[j - 1]  # (j - 1, nn), shifted by nn
            a[nn:nn + len(left)] += left
            new.append(a)
        f = new
    return f[m]


def _choose(n, k):
    return float(math.comb(int(n), int(k)))


def pwilcox(q: float, m: int, n: int, lower_tail: bool = True) -> float:
    q = math.floor(q + 1e-7)
    if q < 0:
        return 0.0 if lower_tail else 1.0
    if q >= m * n:
        return 1.0 if lower_tail else 0.0
    cnt = _wilcox_counts(m, n)
    c = _choose(m + n, n)
    p = 0.0
    if q <= m * n / 2:
        for i in range(int(q) + 1):
            p += cnt[i] / c
    else:
        q = m * n - q
        for i in range(int(q)):
            p += cnt[i] / c
        lower_tail = not lower_tail
    return p if lower_tail else 0.5 - p + 0.5


def qwilcox(x: float, m: int, n: int) -> int:
    cnt = _wilcox_counts(m, n)
    c = _choose(m + n, n)
    p, q = 0.0, 0
    if x <= 0.5:
        x = x - 10 * DBL_EPSILON
        while True:
            p += cnt[q] / c
            if p >= x:
                return q
            q += 1
    x = 1 - x + 10 * DBL_EPSILON
    while True:
        p += cnt[q] / c
        if p > x:
            return int(m * n - q)
        q += 1


def _forceint(x):
    return float(np.rint(x))


def qnorm(p: float, lower_tail: bool = True) -> float:
    """R's qnorm (Wichura's AS 241), operation for operation."""
    if math.isnan(p) or p < 0 or p > 1:
        return float("nan")
    if p == 0:
        return -math.inf if lower_tail else math.inf
    if p == 1:
        return math.inf if lower_tail else -math.inf
    p_ = p if lower_tail else (0.5 - p + 0.5)
    q = p_ - 0.5
    if abs(q) <= 0.425:
        r = .180625 - q * q
        return q * (((((((r * 2509.0809287301226727 +
                          33430.575583588128105) * r + 67265.770927008700853) * r +
                        45921.953931549871457) * r + 13731.693765509461125) * r +
                      1971.5909503065514427) * r + 133.14166789178437745) * r +
                    3.387132872796366608) / (((((((r * 5226.495278852545925 +
                                                   28729.085735721942674) * r + 39307.89580009271061) * r +
                                                 21213.794301586595867) * r + 5394.1960214247511077) * r +
                                               687.1870074920579083) * r + 42.313330701600911252) * r + 1.)
    if q < 0:
        r = p_
    else:
        r = (0.5 - p + 0.5) if lower_tail else p
    r = math.sqrt(-math.log(r))
    if r <= 5.:
        r += -1.6
        val = (((((((r * 7.7454501427834140764e-4 +
                     .0227238449892691845833) * r + .24178072517745061177) *
                   r + 1.27045825245236838258) * r +
                  3.64784832476320460504) * r + 5.7694972214606914055) *
                r + 4.6303378461565452959) * r +
               1.42343711074968357734) / (((((((r *
                                               1.05075007164441684324e-9 + 5.475938084995344946e-4) *
                                              r + .0151986665636164571966) * r +
                                             .14810397642748007459) * r + .68976733498510000455) *
                                           r + 1.6763848301838038494) * r +
                                          2.05319162663775882187) * r + 1.)
    else:
        r += -5.
        val = (((((((r * 2.01033439929228813265e-7 +
                     2.71155556874348757815e-5) * r +
                    .0012426609473880784386) * r + .026532189526576123093) *
                  r + .29656057182850489123) * r +
                 1.7848265399172913358) * r + 5.4637849111641143699) *
               r + 6.6579046435011037772) / (((((((r *
                                                   2.04426310338993978564e-15 + 1.4215117583164458887e-7) *
                                                  r + 1.8463183175100546818e-5) * r +
                                                 7.868691311456132591e-4) * r + .0148753612908506148525)
                                               * r + .13692988092273580531) * r +
                                              .59983220655588793769) * r + 1.)
    return -val if q < 0.0 else val


def _pnorm2(z: float) -> float:
    """Two-sided normal p: 2 min(Φ(z), 1 − Φ(z))."""
    if math.isnan(z):
        return float("nan")
    return 2 * min(float(special.ndtr(z)), float(special.ndtr(-z)))


def zeroin(f, ax, bx, fa, fb, tol, maxit=1000):
    """R's R_zeroin2 (Brent), step for step: the root uniroot() returns."""
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    it = maxit + 1
    while it:
        it -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * DBL_EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0.0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _uniroot(f, lower, upper, f_lower, f_upper, tol=1e-4):
    if not lower < upper or math.isnan(f_lower) or math.isnan(f_upper):
        return float("nan")
    if not np.sign(f_lower) * np.sign(f_upper) <= 0:
        return float("nan")
    return zeroin(f, lower, upper, f_lower, f_upper, tol)


def _div(num, den):
    if den == 0:
        return float("nan") if num == 0 else math.copysign(math.inf, num)
    return num / den


def _median(x):
    x = np.sort(np.asarray(x, float))
    n = len(x)
    if n == 0:
        return float("nan")
    h = (n + 1) // 2
    return float(x[h - 1]) if n % 2 else float((x[h - 1] + x[h]) / 2)


# ---------------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RankResult:
    method: str  # R's method line, e.g. "Wilcoxon signed rank exact test"
    statistic: float  # V (signed rank), W (rank sum), H (Kruskal–Wallis)
    p_value: float
    exact: bool  # p-value from the exact null distribution
    n: int  # values used (signed rank: non-zero differences)
    estimate: float | None = None  # (pseudo)median or difference in location
    ci_low: float | None = None
    ci_high: float | None = None
    conf_level: float | None = None  # the level R reports (lower when 95 % is not achievable)
    ci_exact: bool = False
    zeros: int = 0
    ties: bool = False
    df: int | None = None


def signed_rank(d, conf_level: float = 0.95, correct: bool = True, tol_root: float = 1e-4) -> RankResult:
    """``wilcox.test(d, conf.int = TRUE)`` (for pairs: d = b − a, i.e. ``wilcox.test(b, a, paired = TRUE)``)."""
    x = np.asarray(d, float)
    x = x[~np.isnan(x)]
    zeroes = bool(np.any(x == 0))
    nz = int(np.sum(x == 0))
    if zeroes:
        x = x[x != 0]
    n = len(x)
    exact = n < EXACT_BELOW
    r, cnt = _rank(np.abs(x)) if n else (np.zeros(0), np.zeros(0, int))
    stat = float(np.sum(r[x > 0]))
    ties = bool(n and len(cnt) != n)
    method = "Wilcoxon signed rank test"
    if exact and not ties and not zeroes:
        method = "Wilcoxon signed rank exact test"
        p = psignrank(stat - 1, n, lower_tail=False) if stat > n * (n + 1) / 4 else psignrank(stat, n)
        p = min(2 * p, 1.0)
        alpha = 1 - conf_level
        i, j = np.triu_indices(n)
        diffs = np.sort(x[i] + x[j]) / 2
        qu = qsignrank(alpha / 2, n)
        if qu == 0:
            qu = 1
        ql = n * (n + 1) // 2 - qu
        achieved = 2 * psignrank(math.trunc(qu) - 1, n)
        lo, hi = float(diffs[qu - 1]), float(diffs[ql])
        level = conf_level
        if achieved - alpha > alpha / 2:
            level = 1 - float(f"{achieved:.2g}")
        return RankResult(method, stat, p, True, n, _median(diffs), lo, hi, level, True, nz, ties)
    # normal approximation
    z = stat - n * (n + 1) / 4
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - float(np.sum(cnt.astype(float) ** 3 - cnt)) / 48)
    corr = 0.0
    if correct:
        corr = float(np.sign(z)) * 0.5
        method += " with continuity correction"
    zz = _div(z - corr, sigma)
    p = _pnorm2(zz)
    est = lo = hi = None
    level = conf_level
    if n > 0:
        state = {"correct": correct}

        def W(dd):
            xd = x - dd
            xd = xd[xd != 0]
            nx = len(xd)
            if nx:
                dr, tc = _rank(np.abs(xd))
            else:
                dr, tc = np.zeros(0), np.zeros(0, int)
            zd = float(np.sum(dr[xd > 0])) - nx * (nx + 1) / 4
            sig = math.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - float(np.sum(tc.astype(float) ** 3 - tc)) / 48)
            cc = float(np.sign(zd)) * 0.5 if state["correct"] else 0.0
            return _div(zd - cc, sig)

        mumin, mumax = float(np.min(x)), float(np.max(x))
        wmin = W(mumin)
        wmax = W(mumax) if math.isfinite(wmin) else float("nan")
        if not math.isfinite(wmax):
            level = 0.0
            lo = hi = float("nan")
            est = (mumin + mumax) / 2
        else:
            alpha = 1 - conf_level
            while True:
                mindiff = wmin - qnorm(alpha / 2, lower_tail=False)
                maxdiff = wmax - qnorm(alpha / 2)
                if mindiff < 0 or maxdiff > 0:
                    alpha = alpha * 2
                else:
                    break
            if alpha >= 1 or 1 - conf_level < alpha * 0.75:
                level = 1 - min(1.0, alpha)
            if alpha < 1:
                zq = qnorm(alpha / 2, lower_tail=False)
                lo = _uniroot(lambda dd: W(dd) - zq, mumin, mumax, wmin - zq, wmax - zq, tol_root)
                zq = qnorm(alpha / 2)
                hi = _uniroot(lambda dd: W(dd) - zq, mumin, mumax, wmin - zq, wmax - zq, tol_root)
            else:
                lo = hi = _median(x)
            state["correct"] = False
            est = _uniroot(W, mumin, mumax, W(mumin), W(mumax), tol_root)
    return RankResult(method, stat, p, False, n, est, lo, hi, level, False, nz, ties)


def rank_sum(x, y, conf_level: float = 0.95, correct: bool = True, tol_root: float = 1e-4) -> RankResult:
    """``wilcox.test(x, y, conf.int = TRUE)``: W of x, estimate = location of x − y."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    nx_, ny_ = float(len(x)), float(len(y))
    r, cnt = _rank(np.concatenate([x, y]))
    exact = nx_ < EXACT_BELOW and ny_ < EXACT_BELOW
    stat = float(np.sum(r[:len(x)])) - nx_ * (nx_ + 1) / 2
    ties = len(cnt) != len(r)
    m, n = len(x), len(y)
    if exact and not ties:
        method = "Wilcoxon rank sum exact test"
        p = pwilcox(stat - 1, m, n, lower_tail=False) if stat > nx_ * ny_ / 2 else pwilcox(stat, m, n)
        p = min(2 * p, 1.0)
        alpha = 1 - conf_level
        diffs = np.sort(np.subtract.outer(x, y).ravel())
        qu = qwilcox(alpha / 2, m, n)
        if qu == 0:
            qu = 1
        ql = m * n - qu
        achieved = 2 * pwilcox(math.trunc(qu) - 1, m, n)
        level = conf_level if not achieved - alpha > alpha / 2 else 1 - achieved
        return RankResult(method, stat, p, True, m + n, _median(diffs), float(diffs[qu - 1]), float(diffs[ql]),
                          level, True, 0, False)
    method = "Wilcoxon rank sum test"
    z = stat - nx_ * ny_ / 2
    T = float(np.sum(cnt.astype(float) ** 3 - cnt))
    sigma = math.sqrt((nx_ * ny_ / 12) * ((nx_ + ny_ + 1) - T / ((nx_ + ny_) * (nx_ + ny_ - 1))))
    corr = 0.0
    if correct:
        corr = float(np.sign(z)) * 0.5
        method += " with continuity correction"
    p = _pnorm2(_div(z - corr, sigma))
    state = {"correct": correct}

    def W(dd):
        dr, tc = _rank(np.concatenate([x - dd, y]))
        dz = float(np.sum(dr[:m])) - nx_ * (nx_ + 1) / 2 - nx_ * ny_ / 2
        cc = float(np.sign(dz)) * 0.5 if state["correct"] else 0.0
        sig = math.sqrt((nx_ * ny_ / 12) * ((nx_ + ny_ + 1) - float(np.sum(tc.astype(float) ** 3 - tc)) /
                                           ((nx_ + ny_) * (nx_ + ny_ - 1))))
        return _div(dz - cc, sig)

    alpha = 1 - conf_level
    mumin, mumax = float(np.min(x) - np.max(y)), float(np.max(x) - np.min(y))
    wmin, wmax = W(mumin), W(mumax)

    def root(zq):
        fl = wmin - zq
        if fl <= 0:
            return mumin
        fu = wmax - zq
        if fu >= 0:
            return mumax
        return _uniroot(lambda dd: W(dd) - zq, mumin, mumax, fl, fu, tol_root)

    lo = root(qnorm(alpha / 2, lower_tail=False))
    hi = root(qnorm(alpha / 2))
    state["correct"] = False
    est = _uniroot(W, mumin, mumax, W(mumin), W(mumax), tol_root)
    return RankResult(method, stat, p, False, m + n, est, lo, hi, conf_level, False, 0, ties)


def kruskal(groups) -> RankResult:
    """``kruskal.test(list of groups)``."""
    gs = [np.asarray(g, float)[~np.isnan(np.asarray(g, float))] for g in groups]
    x = np.concatenate(gs)
    n = len(x)
    r, cnt = _rank(x)
    bounds = np.cumsum([0] + [len(g) for g in gs])
    s = sum(float(np.sum(r[bounds[i]:bounds[i + 1]])) ** 2 / len(gs[i]) for i in range(len(gs)))
    h = (12 * s / (n * (n + 1)) - 3 * (n + 1)) / (1 - float(np.sum(cnt.astype(float) ** 3 - cnt)) / (n ** 3 - n))
    df = len(gs) - 1
    return RankResult("Kruskal-Wallis rank sum test", h, float(stats.chi2.sf(h, df)), False, n,
                      ties=len(cnt) != n, df=df)
