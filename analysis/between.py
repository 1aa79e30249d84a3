"""Between-arm comparisons of the change from a first to a second timepoint.

Rank tests as R computes them by default (``analysis.ranktests``; checked against R to 1e-10):

- Kruskal–Wallis across all arms on the change (R ``kruskal.test``: chi-squared approximation
  with the tie correction).
- Pairwise Mann–Whitney U = Wilcoxon rank sum (R ``wilcox.test(b, a, conf.int = TRUE)``): exact
  when both arms have fewer than 50 values and there are no ties, else the normal approximation
  with tie and continuity corrections; the Hodges–Lehmann shift (b − a) with its 95% CI, exact or
  approximate as R computes it. p-values adjusted across the pairs with Holm
  (``analysis.multiplicity``).
- Changes and % changes at the data's recorded precision (``ranktests.changes``): ties are ties
  of the recorded values, not of floating-point noise.
- ANCOVA: value at timepoint 2 ~ value at timepoint 1 + arm, ordinary least
  squares (statsmodels) on a design matrix built from validated columns only
  (no formula string); adjusted difference of each arm vs a reference arm with its
  t-based 95% CI and p, and the overall F-test of the arm terms.

Pure pandas / numpy / scipy / statsmodels: no Dash imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis import ranktests as RT
from analysis.multiplicity import METHODS, adjust

EXACT_BELOW = RT.EXACT_BELOW  # per group, as R
MIN_N = 3  # per group: below this no test is reported, the UI says so


@dataclass(frozen=True)
class GroupTest:
    """A test across several groups (Kruskal–Wallis)."""

    method: str
    statistic: float | None
    df: int | None
    p_value: float | None
    n: dict[str, int]
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.p_value is not None


@dataclass(frozen=True)
class PairTest:
    """Two-group comparison ``b`` vs ``a`` (estimate: b minus a)."""

    a: str
    b: str
    n_a: int
    n_b: int
    method: str
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    estimate: float | None  # Hodges–Lehmann shift, b − a
    adjustment: str = ""
    note: str = ""
    ci_low: float | None = None
    ci_high: float | None = None
    conf_level: float | None = None
    ci_exact: bool = False

    @property
    def ok(self) -> bool:
        return self.p_value is not None


@dataclass(frozen=True)
class AncovaContrast:
    arm: str
    reference: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_arm: int
    n_reference: int


@dataclass(frozen=True)
class AncovaResult:
    method: str
    n: int
    reference: str
    contrasts: tuple[AncovaContrast, ...] = ()
    slope: float | None = None  # coefficient of the timepoint-1 value
    f_statistic: float | None = None
    f_df: tuple[int, int] | None = None
    f_p_value: float | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.note


# -- data shaping -----------------------------------------------------------------------
def change_frame(df: pd.DataFrame, visit_a: float, visit_b: float, arm: str = "ARM", value: str = "AVAL",
                 subject: str = "USUBJID", visit: str = "AVISITN") -> pd.DataFrame:
    """One row per subject with a value at both visits: subject, arm, a, b, chg (= b − a), pchg.

    ``pchg`` = 100 × (b − a) / a, missing where a = 0.

    ``df`` holds one parameter. Arms keep their (categorical) order; subjects
    with a missing value at either visit are left out.
    """
    cols = [subject, arm, visit, value]
    d = df[cols]
    a = d[d[visit] == visit_a].drop_duplicates(subject).set_index(subject)
    b = d[d[visit] == visit_b].drop_duplicates(subject).set_index(subject)
    both = a[[arm, value]].rename(columns={value: "a"}).join(b[[value]].rename(columns={value: "b"}), how="inner")
    both = both.dropna(subset=["a", "b"])
    both["a"] = both["a"].astype(float)
    both["b"] = both["b"].astype(float)
    # at the recorded precision: equal changes are equal numbers (ties as R sees the recorded data)
    both["chg"], both["pchg"] = RT.changes(both["a"].to_numpy(), both["b"].to_numpy())
    both.index = both.index.astype(str)
    both.index.name = subject
    return both.reset_index()


def groups_of(frame: pd.DataFrame, column: str, arms: list[str], arm: str = "ARM") -> dict[str, np.ndarray]:
    """{arm label: values of ``column``} in the order of ``arms`` (empty arrays kept)."""
    labels = frame[arm].astype(str)
    return {a: frame.loc[labels == a, column].to_numpy(float) for a in arms}


# -- Kruskal–Wallis ---------------------------------------------------------------------
def kruskal_wallis(groups: dict[str, np.ndarray]) -> GroupTest:
    """Kruskal–Wallis H across the groups with at least ``MIN_N`` values (R ``kruskal.test``)."""
    n = {k: int(len(v)) for k, v in groups.items()}
    method = "Kruskal–Wallis (chi-squared approximation, tie-corrected)"
    used = {k: np.asarray(v, float) for k, v in groups.items() if len(v) >= MIN_N}
    small = [f"{k} (n = {n[k]})" for k in groups if n[k] < MIN_N]
    if len(used) < 2:
        return GroupTest(method, None, None, None, n,
                         note=f"fewer than two arms with at least {MIN_N} subjects: no Kruskal–Wallis test")
    pooled = np.concatenate(list(used.values()))
    if np.all(pooled == pooled[0]):
        return GroupTest(method, None, None, None, n, note="all values equal: no Kruskal–Wallis test")
    res = RT.kruskal(list(used.values()))
    note = ("left out, too few: " + ", ".join(small)) if small else ""
    return GroupTest(method, float(res.statistic), res.df, float(res.p_value), n, note=note)


# -- Mann–Whitney -------------------------------------------------------------------------
def mann_whitney(x, y, a: str = "a", b: str = "b", alpha: float = 0.05) -> PairTest:
    """Two-sided Mann–Whitney U of ``y`` (arm ``b``) vs ``x`` (arm ``a``): R's wilcox.test(y, x, conf.int = TRUE)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n_a, n_b = len(x), len(y)
    if min(n_a, n_b) < MIN_N:
        return PairTest(a, b, n_a, n_b, "Mann–Whitney U", None, None, None, None,
                        note=f"n = {n_a} vs {n_b}: too few for Mann–Whitney U (needs at least {MIN_N} per arm)")
    pooled = np.concatenate([x, y])
    if np.all(pooled == pooled[0]):
        return PairTest(a, b, n_a, n_b, "Mann–Whitney U", None, None, None, 0.0, note="all values equal: no test")
    r = RT.rank_sum(y, x, conf_level=1 - alpha)
    if r.exact:
        method = "Mann–Whitney U, exact"
    else:
        why = " or ".join(w for w, on in (("ties", r.ties), ("n ≥ 50", max(n_a, n_b) >= EXACT_BELOW)) if on)
        method = f"Mann–Whitney U, normal approximation with continuity correction ({why})"
    return PairTest(a, b, n_a, n_b, method, float(r.statistic), float(r.p_value), None, float(r.estimate),
                    ci_low=r.ci_low, ci_high=r.ci_high, conf_level=r.conf_level, ci_exact=r.ci_exact)


def hodges_lehmann_shift(x, y) -> float:
    """Median of all pairwise differences y_j − x_i (the two-sample Hodges–Lehmann estimate)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.median(np.subtract.outer(y, x)))


def pairwise_mann_whitney(groups: dict[str, np.ndarray], method: str = "holm") -> list[PairTest]:
    """Every pair of arms (in arm order: later arm vs earlier arm), p adjusted across the pairs."""
    tests = [mann_whitney(groups[a], groups[b], a, b) for a, b in combinations(list(groups), 2)]
    adj = adjust([t.p_value for t in tests], method)
    name = METHODS[method]
    out = []
    for t, p in zip(tests, adj):
        out.append(PairTest(t.a, t.b, t.n_a, t.n_b, t.method, t.statistic, t.p_value, p, t.estimate,
                            adjustment=name if t.p_value is not None else "", note=t.note, ci_low=t.ci_low,
                            ci_high=t.ci_high, conf_level=t.conf_level, ci_exact=t.ci_exact))
    return out


# -- ANCOVA -------------------------------------------------------------------------------
def ancova(frame: pd.DataFrame, arms: list[str], reference: str, arm: str = "ARM",
           baseline: str = "a", outcome: str = "b", alpha: float = 0.05) -> AncovaResult:
    """OLS of ``outcome`` on ``baseline`` and arm indicators (treatment coding vs ``reference``).

    ``arms``: the arms to include, in display order. Arms with no subject are
    dropped; the model is not reported when the reference arm is missing, when
    it has fewer residual degrees of freedom than 2, or is rank deficient.
    """
    method = "ANCOVA (OLS: value at timepoint 2 ~ value at timepoint 1 + arm)"
    labels = frame[arm].astype(str)
    d = frame[labels.isin(arms)].dropna(subset=[baseline, outcome])
    labels = d[arm].astype(str)
    present = [a for a in arms if (labels == a).sum() > 0]
    n = int(len(d))
    if reference not in present:
        return AncovaResult(method, n, reference, note=f"no subject in the reference arm {reference}: no ANCOVA")
    others = [a for a in present if a != reference]
    if not others:
        return AncovaResult(method, n, reference, note="only one arm in the filter: no between-arm ANCOVA")
    small = [a for a in present if (labels == a).sum() < 2]
    if small:
        return AncovaResult(method, n, reference,
                            note=f"fewer than 2 subjects in {', '.join(small)}: no ANCOVA")
    X = np.column_stack([np.ones(n), d[baseline].to_numpy(float)]
                        + [(labels == a).to_numpy(float) for a in others])
    y = d[outcome].to_numpy(float)
    k = X.shape[1]
    if n - k < 2:
        return AncovaResult(method, n, reference, note=f"n = {n} for {k} coefficients: too few for ANCOVA")
    if np.linalg.matrix_rank(X) < k:
        return AncovaResult(method, n, reference, note="design matrix is rank deficient (constant baseline?): no ANCOVA")
    fit = sm.OLS(y, X).fit()
    ci = fit.conf_int(alpha)
    contrasts = []
    for i, a in enumerate(others, start=2):
        contrasts.append(AncovaContrast(a, reference, float(fit.params[i]), float(ci[i, 0]), float(ci[i, 1]),
                                        float(fit.pvalues[i]), int((labels == a).sum()),
                                        int((labels == reference).sum())))
    R = np.zeros((len(others), k))
    for j in range(len(others)):
        R[j, 2 + j] = 1.0
    ft = fit.f_test(R)
    return AncovaResult(method, n, reference, tuple(contrasts), float(fit.params[1]),
                        float(np.squeeze(ft.fvalue)), (int(ft.df_num), int(ft.df_denom)), float(ft.pvalue))


@dataclass(frozen=True)
class BetweenArms:
    kruskal: GroupTest
    pairs: tuple[PairTest, ...]
    ancova: AncovaResult
    n: dict[str, int] = field(default_factory=dict)


def compare_arms(frame: pd.DataFrame, arms: list[str], reference: str, arm: str = "ARM",
                 change: str = "chg") -> BetweenArms:
    """Kruskal–Wallis and pairwise Mann–Whitney (Holm) on ``change`` (``chg`` or ``pchg``);
    ANCOVA of ``b`` on ``a`` + arm (always on the values themselves)."""
    if change not in ("chg", "pchg"):
        raise ValueError(f"unknown change column {change!r}")
    g = {k: v[np.isfinite(v)] for k, v in groups_of(frame, change, arms, arm).items()}
    return BetweenArms(kruskal_wallis(g), tuple(pairwise_mann_whitney(g)), ancova(frame, arms, reference, arm),
                       {k: int(len(v)) for k, v in g.items()})
