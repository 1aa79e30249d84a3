"""Within-arm paired comparisons (e.g. week 0 vs week 48), shared by every page.

- Wilcoxon signed-rank: exact null distribution for n <= 25 without ties or
  zero differences, else the normal approximation (said in ``method``).
- Hodges–Lehmann estimate of the median difference (median of the Walsh
  averages) with its distribution-free confidence interval from the
  signed-rank distribution (Hollander & Wolfe).
- Paired t-test with the mean difference and its t-based CI, as a secondary line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

EXACT_MAX_N = 25
MIN_PAIRS = 3


@dataclass(frozen=True)
class PairedResult:
    n_pairs: int
    method: str
    statistic: float | None
    p_value: float | None
    estimate: float | None  # HL median difference (Wilcoxon) or mean difference (t)
    ci_low: float | None
    ci_high: float | None
    estimate_name: str
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.p_value is not None


def pair_values(df: pd.DataFrame, visit_a: float, visit_b: float, value: str = "AVAL",
                subject: str = "USUBJID", visit: str = "AVISITN") -> pd.DataFrame:
    """Subjects with a value at both visits: columns a, b, indexed by subject."""
    a = df[df[visit] == visit_a].set_index(subject)[value].astype(float)
    b = df[df[visit] == visit_b].set_index(subject)[value].astype(float)
    both = pd.concat({"a": a, "b": b}, axis=1, join="inner").dropna()
    return both


def _too_few(n: int, method: str, name: str) -> PairedResult:
    return PairedResult(n, method, None, None, None, None, None, name,
                        note=f"n = {n} pairs: too few for {method.split(',')[0]} (needs at least {MIN_PAIRS})")


def walsh_averages(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(len(d))
    return (d[i] + d[j]) / 2.0


def signed_rank_critical(n: int, alpha: float = 0.05) -> int:
    """Largest k with P(T+ <= k - 1) <= alpha/2 under the exact null, T+ the signed-rank sum.

    The (k)th smallest and (N - k + 1)th largest Walsh averages bound a CI of
    coverage at least 1 - alpha.
    """
    # Exact distribution of T+ by dynamic programming over ranks 1..n.
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    cdf = np.cumsum(counts) / 2.0**n
    k = int(np.searchsorted(cdf, alpha / 2, side="right"))  # number of t with P(T<=t) <= alpha/2
    return k  # P(T+ <= k-1) <= alpha/2


def hodges_lehmann_ci(d: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float, str]:
    """HL estimate and CI for the median of paired differences ``d``."""
    w = np.sort(walsh_averages(d))
    n, m = len(d), len(w)
    est = float(np.median(w))
    if n <= EXACT_MAX_N:
        k = signed_rank_critical(n, alpha)
        how = "exact"
    else:
        z = stats.norm.ppf(1 - alpha / 2)
        k = int(math.floor(n * (n + 1) / 4 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24)))
        how = "normal approximation"
    if k < 1:
        return est, float("nan"), float("nan"), how
    return est, float(w[k - 1]), float(w[m - k]), how


def wilcoxon_signed_rank(a, b, alpha: float = 0.05) -> PairedResult:
    """Test b - a against zero. ``a`` baseline, ``b`` follow-up, paired by position."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    n = len(d)
    if n < MIN_PAIRS:
        return _too_few(n, "Wilcoxon signed-rank", "Hodges–Lehmann median difference")
    nonzero = d[d != 0]
    ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
    exact = n <= EXACT_MAX_N and len(nonzero) == n and not ties
    if len(nonzero) == 0:
        p, stat = 1.0, 0.0
    else:
        res = stats.wilcoxon(b, a, method="exact" if exact else "approx", zero_method="wilcox")
        p, stat = float(res.pvalue), float(res.statistic)
    est, lo, hi, how = hodges_lehmann_ci(d, alpha)
    method = "Wilcoxon signed-rank, " + ("exact" if exact else "normal approximation" + (" (ties/zeros)" if n <= EXACT_MAX_N else ""))
    return PairedResult(n, method, stat, p, est, lo, hi, f"Hodges–Lehmann median difference ({how} {100 * (1 - alpha):.0f}% CI)")


def paired_t(a, b, alpha: float = 0.05, log: bool = False) -> PairedResult:
    """Paired t-test of b - a (on log values when ``log``; estimate then a ratio)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if log:
        if (a <= 0).any() or (b <= 0).any():
            return PairedResult(len(a), "Paired t-test on log values", None, None, None, None, None,
                                "geometric mean ratio", note="log scale needs positive values")
        a, b = np.log(a), np.log(b)
    d = b - a
    n = len(d)
    name = "geometric mean ratio" if log else "mean difference"
    method = "Paired t-test" + (" on log values" if log else "")
    if n < MIN_PAIRS:
        return _too_few(n, method, name)
    sd = d.std(ddof=1)
    mean = float(d.mean())
    if sd == 0:
        return PairedResult(n, method, None, None, mean, mean, mean, name, note="all differences equal: no test")
    res = stats.ttest_rel(b, a)
    half = stats.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if log:
        mean, lo, hi = math.exp(mean), math.exp(lo), math.exp(hi)
    return PairedResult(n, method, float(res.statistic), float(res.pvalue), mean, lo, hi,
                        f"{name} ({100 * (1 - alpha):.0f}% CI)")


def format_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
