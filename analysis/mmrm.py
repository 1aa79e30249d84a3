"""Between-arm comparison over time: a mixed model for repeated measures (MMRM).

Model (statsmodels ``MixedLM``, REML), on post-baseline rows of one parameter:

    change = β0 + β1·BASE + visit + arm + arm × visit + u_subject + ε

- visit is categorical (one level per scheduled post-baseline visit with data);
- u_subject ~ N(0, τ²) is a random intercept per subject, ε ~ N(0, σ²): the
  within-subject covariance is compound symmetric (equal correlation between
  any two visits of a subject);
- the adjusted mean difference of arm A vs the reference arm at visit v is the
  contrast L·β with L picking the arm A main effect plus the arm A × visit v
  interaction (treatment coding); its variance is L·Cov(β)·Lᵀ;
- 95% CI and p-value from a Wald t statistic with df = subjects − arms − 1
  (the between-subject residual df; with one post-baseline visit the model is
  ordinary least squares and this df is the OLS one).

With a single post-baseline visit in the data there is nothing repeated: the
same model without the random intercept (ANCOVA) is fitted by least squares,
and the result says so in ``method`` and ``covariance``.

The design matrix is built with numpy from validated column names only (no
formula strings). When the data are too few or the fit fails, the result
carries a ``note`` instead of numbers. No Dash imports here.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

MIN_PER_ARM = 3
OPTIMIZERS = ("bfgs", "lbfgs", "powell", "nm")  # subjects with a value at the comparison visit, per arm
COVARIANCE = "random intercept per subject (compound-symmetric within-subject covariance)"
METHOD = "MMRM, statsmodels MixedLM (REML)"
TEST = "Wald t-test, df = subjects − arms − 1"


@dataclass(frozen=True)
class Contrast:
    arm: str
    reference: str
    visit: float
    n_arm: int
    n_ref: int
    estimate: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    df: float | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.p_value is not None


@dataclass(frozen=True)
class MMRMResult:
    outcome: str
    reference: str
    visit: float | None
    visits: tuple[float, ...] = ()
    contrasts: tuple[Contrast, ...] = ()
    n_subjects: int = 0
    n_obs: int = 0
    df: float | None = None
    re_var: float | None = None
    resid_var: float | None = None
    note: str = ""
    remarks: tuple[str, ...] = field(default=())
    method: str = METHOD
    covariance: str = COVARIANCE
    test: str = TEST

    @property
    def ok(self) -> bool:
        return not self.note


def _dummies(values: np.ndarray, levels: list, ref) -> tuple[np.ndarray, list]:
    others = [lv for lv in levels if lv != ref]
    if not others:
        return np.zeros((len(values), 0)), []
    return np.column_stack([(values == lv).astype(float) for lv in others]), others


def design(df: pd.DataFrame, outcome: str, arms: list[str], reference: str, visit: float):
    """(y, X, column names, groups) with the comparison visit and the reference arm as reference levels."""
    visits = sorted(float(v) for v in df["AVISITN"].unique())
    arm_v = df["ARM"].astype(str).to_numpy()
    vis_v = df["AVISITN"].to_numpy(float)
    Xv, v_lv = _dummies(vis_v, visits, float(visit))
    Xa, a_lv = _dummies(arm_v, arms, reference)
    cols = [np.ones(len(df)), df["BASE"].to_numpy(float)]
    names = ["const", "BASE"]
    cols += list(Xv.T)
    names += [f"visit[{v:g}]" for v in v_lv]
    cols += list(Xa.T)
    names += [f"arm[{a}]" for a in a_lv]
    for i, a in enumerate(a_lv):
        for j, v in enumerate(v_lv):
            cols.append(Xa[:, i] * Xv[:, j])
            names.append(f"arm[{a}]:visit[{v:g}]")
    X = np.column_stack(cols)
    keep = X.any(axis=0)  # an arm never seen at a visit has an all-zero interaction column
    return df[outcome].to_numpy(float), X[:, keep], [n for n, k in zip(names, keep) if k], \
        df["USUBJID"].astype(str).to_numpy(), visits


def fit_mmrm(df: pd.DataFrame, reference: str, visit: float, arm_order, outcome: str = "CHG",
             alpha: float = 0.05) -> MMRMResult:
    """Adjusted mean difference in ``outcome`` of every arm vs ``reference`` at ``visit``.

    ``df``: rows of one parameter with USUBJID, ARM (display label), AVISITN, BASE and ``outcome``;
    baseline rows (AVISITN 0 / ABLFL = "Y") and missing values are dropped here.
    """
    need = {"USUBJID", "ARM", "AVISITN", "BASE", outcome}
    if not need <= set(df.columns):
        return MMRMResult(outcome, reference, visit, note=f"missing columns: {', '.join(sorted(need - set(df.columns)))}")
    post = df["AVISITN"] > 0
    if "ABLFL" in df.columns:
        post &= df["ABLFL"].astype(str) != "Y"
    d = df.loc[post, ["USUBJID", "ARM", "AVISITN", "BASE", outcome]].copy()
    d = d[np.isfinite(d[outcome].astype(float)) & np.isfinite(d["BASE"].astype(float))]
    d["ARM"] = d["ARM"].astype(str)
    d = d.sort_values(["USUBJID", "AVISITN"]).reset_index(drop=True)

    at_visit = d[d["AVISITN"] == visit].groupby("ARM")["USUBJID"].nunique()
    counts = {a: int(at_visit.get(a, 0)) for a in arm_order}
    if reference not in arm_order:
        return MMRMResult(outcome, reference, visit, note=f"reference arm {reference} is not among the arms shown")
    if counts[reference] < MIN_PER_ARM:
        return MMRMResult(outcome, reference, visit,
                          note=f"reference arm {reference}: n = {counts[reference]} at week {visit:g}, "
                               f"too few for a model (needs at least {MIN_PER_ARM})")
    arms = [a for a in arm_order if counts[a] >= MIN_PER_ARM]
    skipped = [Contrast(a, reference, visit, counts[a], counts[reference],
                        note=f"n = {counts[a]} at week {visit:g}: too few (needs at least {MIN_PER_ARM})")
               for a in arm_order if a != reference and counts[a] < MIN_PER_ARM]
    if len(arms) < 2:
        return MMRMResult(outcome, reference, visit, contrasts=tuple(skipped),
                          note="fewer than two arms with enough subjects at this visit: no comparison")
    d = d[d["ARM"].isin(arms)]
    y, X, names, groups, visits = design(d, outcome, arms, reference, visit)
    n_subj = len(np.unique(groups))
    df_t = n_subj - len(arms) - 1
    base = dict(outcome=outcome, reference=reference, visit=visit, visits=tuple(visits),
                n_subjects=n_subj, n_obs=len(y))
    if df_t < 1 or len(y) <= X.shape[1]:
        return MMRMResult(**base, contrasts=tuple(skipped), note="too few observations for the model's parameters")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        return MMRMResult(**base, contrasts=tuple(skipped),
                          note="the design is not of full rank (e.g. baseline constant): model not estimable")

    if np.ptp(y) == 0:
        return MMRMResult(**base, contrasts=tuple(skipped), note="the outcome does not vary: nothing to model")
    remarks = []
    if len(visits) == 1:
        # One post-baseline visit: no repeated measures, the model is ANCOVA fitted by least squares.
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        resid_var = float(resid @ resid / (len(y) - X.shape[1]))
        cov = resid_var * np.linalg.inv(X.T @ X)
        re_var = None
        base.update(method="ANCOVA by least squares (one post-baseline visit: no repeated measures)",
                    covariance="independent errors (one observation per subject)")
    else:
        fitted = _fit_mixed(y, X, groups)
        if isinstance(fitted, str):
            return MMRMResult(**base, contrasts=tuple(skipped), note=fitted)
        beta, cov, re_var, resid_var = fitted
        if re_var <= 1e-6 * max(resid_var, 1e-300):
            remarks.append("random-intercept variance estimated at 0 (boundary): equivalent to independent errors")
    k = X.shape[1]
    if resid_var <= 1e-10 * float(np.var(y)):
        return MMRMResult(**base, contrasts=tuple(skipped),
                          note="the model fits the data exactly (no residual variability): no test possible")

    tcrit = stats.t.ppf(1 - alpha / 2, df_t)
    out = []
    for a in arms:
        if a == reference:
            continue
        L = np.zeros(k)
        L[names.index(f"arm[{a}]")] = 1.0  # the comparison visit is the reference visit level
        est = float(L @ beta)
        var = float(L @ cov @ L)
        if not (np.isfinite(est) and np.isfinite(var) and var > 0):
            out.append(Contrast(a, reference, visit, counts[a], counts[reference],
                                note="standard error not estimable"))
            continue
        se = math.sqrt(var)
        t = est / se
        out.append(Contrast(a, reference, visit, counts[a], counts[reference], est, se,
                            est - tcrit * se, est + tcrit * se, float(2 * stats.t.sf(abs(t), df_t)), float(df_t)))
    order = {a: i for i, a in enumerate(arm_order)}
    allc = sorted(out + skipped, key=lambda c: order[c.arm])
    return MMRMResult(**base, contrasts=tuple(allc), df=float(df_t), re_var=re_var, resid_var=resid_var,
                      remarks=tuple(remarks))


def _fit_mixed(y, X, groups):
    """(beta, Cov(beta), random-intercept variance, residual variance), or a note when the fit fails."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    failure = "the model could not be fitted"
    for method in OPTIMIZERS:  # the first optimiser that converges to a proper maximum wins
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = MixedLM(y, X, groups=groups).fit(reml=True, method=[method])
            except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, OverflowError) as exc:
                failure = f"the model could not be fitted ({type(exc).__name__})"
                continue
        messages = [str(w.message) for w in caught]
        if not getattr(res, "converged", False):
            failure = "the model did not converge: no estimate shown"
            continue
        if any("Hessian" in m for m in messages):
            failure = "the fit is degenerate (non-positive-definite Hessian): no estimate shown"
            continue
        k = X.shape[1]
        beta = np.asarray(res.fe_params, float)
        cov = np.asarray(res.cov_params(), float)[:k, :k]
        re_var = float(np.asarray(res.cov_re).ravel()[0]) if np.size(res.cov_re) else 0.0
        return beta, cov, re_var, float(res.scale)
    return failure
