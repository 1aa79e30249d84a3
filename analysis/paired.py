"""Within-arm paired comparisons (e.g. week 0 vs week 48), shared by every page.

- Wilcoxon signed-rank test with the Hodges–Lehmann estimate and its 95% CI, computed as R's
  ``wilcox.test(b, a, paired = TRUE, conf.int = TRUE)`` does by default (``analysis.ranktests``):
  differences at the data's recorded precision (ties are ties of the recorded values); zero
  differences dropped from the test, the estimate and the CI alike; exact for n < 50 non-zero
  differences without ties or zeros, else the normal approximation with tie and continuity
  corrections; the CI exact or approximate as it is, at the level R reports.
- Paired t-test with the mean difference and its t-based CI, as a secondary line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis import ranktests as RT

EXACT_BELOW = RT.EXACT_BELOW
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
    remark: str = ""  # e.g. "2 zero differences left out of the test and the estimate (R's convention)"
    exact: bool = False
    ci_exact: bool = False
    conf_level: float | None = None
    zeros: int = 0  # zero differences left out

    @property
    def ok(self) -> bool:
        return self.p_value is not None

    @property
    def has_ci(self) -> bool:
        return self.ci_low is not None and bool(np.isfinite(self.ci_low)) and (self.conf_level or 0) > 0


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


def why_approximate(r: RT.RankResult) -> str:
    why = [w for w, on in (("ties", r.ties), ("zero differences", r.zeros > 0), ("n ≥ 50", r.n >= EXACT_BELOW)) if on]
    return " or ".join(why)


def wilcoxon_signed_rank(a, b, alpha: float = 0.05) -> PairedResult:
    """Test b − a against zero, as R's wilcox.test(b, a, paired = TRUE, conf.int = TRUE)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = len(a)
    name = "Hodges–Lehmann median difference"
    if n < MIN_PAIRS:
        return _too_few(n, "Wilcoxon signed-rank", name)
    d, _ = RT.changes(a, b)
    r = RT.signed_rank(d, conf_level=1 - alpha)
    remark = (f"{r.zeros} zero difference{'s' if r.zeros != 1 else ''} left out of the test, the estimate and "
              f"the CI (R's convention)") if r.zeros else ""
    if r.n == 0:
        return PairedResult(n, "Wilcoxon signed-rank", None, None, 0.0, None, None, name,
                            note="all differences are zero: no test", remark=remark)
    if r.exact:
        method = "Wilcoxon signed-rank, exact"
    else:
        method = f"Wilcoxon signed-rank, normal approximation with continuity correction ({why_approximate(r)})"
    level = r.conf_level if r.conf_level is not None else 1 - alpha
    how = "exact" if r.ci_exact else "approximate"
    pct = f"{100 * level:.4g}%"
    ci_name = f"{how} {pct} CI" + ("" if abs(level - (1 - alpha)) < 1e-12 else
                                   f"; {100 * (1 - alpha):.0f}% not reachable with n = {r.n}")
    lo, hi = r.ci_low, r.ci_high
    if lo is None or not np.isfinite(lo) or level <= 0:  # R's numbers kept; the pages show no interval
        lo = float("nan") if lo is None else lo
        hi = float("nan") if hi is None else hi
        ci_name = "no CI: too few distinct non-zero differences (R: confidence level 0)"
    return PairedResult(n, method, r.statistic, r.p_value, r.estimate, lo, hi, f"{name} ({ci_name})",
                        remark=remark, exact=r.exact, ci_exact=r.ci_exact, conf_level=level, zeros=r.zeros)


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
