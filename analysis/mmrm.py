"""Mixed model for repeated measures (MMRM): GLS fitted by REML, with Kenward–Roger or Satterthwaite df.

Self-contained on purpose: numpy and scipy only, no pandas, no Dash, nothing from the app. The
Show-code scripts load this very file beside them, the way teal's code loads its statistics
package, so a statistician runs the same model outside the app.

Model (the default, as a statistical-analysis plan writes it)::

    CHG ~ BASE + ARM + VISIT + ARM × VISIT + BASE × VISIT,   Var(y_i) = Σ[visits of i]

- visits are categorical; each subject's observed visits pick their rows and columns of one
  T × T within-subject covariance Σ (missing visits are simply absent: likelihood-based, MAR);
- the fixed effects are written per visit (cell means: intercept, BASE slope and arm effects
  at each visit) — the same model as the treatment-coded formula above, re-parameterised, so
  the LS-mean difference of an arm vs the reference at a visit is one coefficient. A term can be
  made common to all visits (``per_visit``), e.g. ``CHG ~ BASE + ARM × VISIT`` without
  BASE × VISIT. Covariates are subject-level (baseline, arm, strata); each subject's covariate
  vector x_i and its observed visits are all the fit needs, so the fit works per missingness
  pattern on T × T matrices: sufficient statistics Σ x xᵀ, Σ y xᵀ, Σ y yᵀ per pattern;
- REML: −2ℓ = (N − p) log 2π + log|V| + log|XᵀV⁻¹X| + rᵀV⁻¹r, minimised by Fisher scoring with
  a line search on a well-conditioned parameterisation (log-Cholesky for unstructured, log
  variances, Fisher-z correlations, partial autocorrelations for Toeplitz), analytic gradient;
- covariance structures (SAS REPEATED / TYPE=, nlme::gls equivalents in ``STRUCTURES``):
  UN, TOEP, TOEPH, AR1, ARH1, CS, CSH; AR and Toeplitz on visit order (equally spaced);
- a structure that does not converge falls back along ``FALLBACK`` (UN → TOEPH → ARH1 → CS),
  and the result names the structure used and why;
- degrees of freedom (``DF_METHODS``): Kenward–Roger as SAS PROC MIXED DDFM=KR computes it
  (Kenward & Roger 1997: bias-adjusted covariance Φ_A = Φ + 2Λ with the second-order term for
  structures non-linear in SAS's covariance parameters; W = inverse observed REML information;
  SAS's parameterisation of each TYPE); Kenward–Roger with the expected information (as R's
  pbkrtest); Satterthwaite (SAS DDFM=SATTERTHWAITE, R lmerTest / mmrm), unadjusted SE. For one
  contrast the KR df is 2 (lᵀΦl)² / (aᵀWa), a_h = lᵀΦ P_h Φ l, and λ = 1.

Everything KR needs is summed per missingness pattern on T × T and (T·d) × (T·d) matrices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

__all__ = ["STRUCTURES", "FALLBACK", "DF_METHODS", "Contrast", "MMRMResult", "fit", "fit_mmrm"]

STRUCTURES = {  # code: (name, SAS TYPE=, nlme::gls correlation/weights)
    "UN": ("unstructured", "UN", "corSymm + varIdent"),
    "TOEPH": ("heterogeneous Toeplitz", "TOEPH", "corARMA(p = T−1) + varIdent"),
    "TOEP": ("Toeplitz", "TOEP", "corARMA(p = T−1)"),
    "ARH1": ("heterogeneous AR(1)", "ARH(1)", "corAR1 + varIdent"),
    "AR1": ("AR(1)", "AR(1)", "corAR1"),
    "CSH": ("heterogeneous compound symmetry", "CSH", "corCompSymm + varIdent"),
    "CS": ("compound symmetry", "CS", "corCompSymm"),
}
FALLBACK = ("UN", "TOEPH", "ARH1", "CS")  # the usual SAP order when a structure does not converge


def fallback_order(structure: str) -> list[str]:
    """The structure asked for, then the simpler ones tried when it does not converge."""
    if structure in FALLBACK:
        return list(FALLBACK[FALLBACK.index(structure):])
    return [structure] + ([] if structure == "CS" else ["CS"])
DF_METHODS = {
    "kr": "Kenward–Roger (SAS DDFM=KR: observed information)",
    "kr-expected": "Kenward–Roger, expected information (R pbkrtest)",
    "satterthwaite": "Satterthwaite (SAS DDFM=SATTERTHWAITE, R lmerTest)",
}
MIN_PER_ARM = 3  # subjects with a value at the comparison visit, per arm


class _OneBlasThread:
    """The fit multiplies many small and middling matrices: on a shared 2-core machine a multi-threaded
    BLAS spends more time waiting for the other core than computing (S 1.5 s instead of 0.1 s, L 6–9 s
    instead of 1 s, measured under load). For the duration of a fit, numpy's bundled OpenBLAS runs on one
    thread (restored afterwards); nothing happens when it cannot be found."""

    _lib = None

    @classmethod
    def _find(cls):
        if cls._lib is None:
            cls._lib = False
            try:
                import ctypes
                import glob
                import os

                for path in glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*")):
                    lib = ctypes.CDLL(path)
                    for get, set_ in (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                                      ("openblas_get_num_threads", "openblas_set_num_threads")):
                        if hasattr(lib, get) and hasattr(lib, set_):
                            cls._lib = (getattr(lib, get), getattr(lib, set_))
                            return cls._lib
            except OSError:
                pass
        return cls._lib

    def __enter__(self):
        lib = self._find()
        self.prev = lib[0]() if lib else None
        if lib and self.prev != 1:
            lib[1](1)
        return self

    def __exit__(self, *exc):
        lib = self._find()
        if lib and self.prev is not None and self.prev != 1:
            lib[1](self.prev)
        return False
MAX_ITER = 200
FISHER_ITER = 6  # Fisher-scoring iterations before Newton takes over
LOG2PI = math.log(2 * math.pi)


# ============================================================================================
# covariance structures: Σ(φ) on an unconstrained φ, and SAS's parameters σ(φ) with Σ(σ)
# ============================================================================================
def _expit(z):
    return 1.0 / (1.0 + np.exp(-z))


def _toeplitz_corr(pacf, T):
    """Autocorrelations ρ_0..ρ_{T-1} from partial autocorrelations (Durbin–Levinson; complex-safe)."""
    rho = [np.ones((), dtype=pacf.dtype)]
    phi = np.zeros(0, dtype=pacf.dtype)
    for k in range(1, T):
        a = pacf[k - 1]
        # rho_k = a * (1 - sum phi_j rho_j) + sum phi_j rho_{k-j}
        prev = np.array(rho, dtype=pacf.dtype)
        s1 = np.sum(phi * prev[1:k]) if k > 1 else 0.0
        s2 = np.sum(phi * prev[k - 1:0:-1]) if k > 1 else 0.0
        rho_k = s2 + a * (1.0 - s1)
        phi = np.concatenate([phi - a * phi[::-1], [a]]) if k > 1 else np.array([a], dtype=pacf.dtype)
        rho.append(rho_k)
    return np.array(rho, dtype=pacf.dtype)


class _Structure:
    code = ""
    linear = False  # Σ linear in SAS's parameters: no second-order KR term

    def __init__(self, T: int):
        self.T = T
        self.lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))

    # φ -> SAS parameters -> Σ
    def sas(self, phi):
        raise NotImplementedError

    def sigma_sas(self, s):
        raise NotImplementedError

    def sigma(self, phi):
        return self.sigma_sas(self.sas(phi))

    def sas_names(self, visits):
        raise NotImplementedError

    def start(self, S):
        raise NotImplementedError

    def jac(self, phi):
        """∂ vec Σ / ∂φ (T², r)."""
        return _jac_complex(self.sigma, phi)

    def jac_sas(self, theta):
        """∂ vec Σ / ∂θ in SAS's parameters (constant for structures linear in them)."""
        if self.linear:
            if getattr(self, "_jac_lin", None) is None:
                self._jac_lin = _jac_complex(self.sigma_sas, np.asarray(theta, float))
            return self._jac_lin
        return _jac_complex(self.sigma_sas, theta)

    @staticmethod
    def _hetero(s_var, R):
        sd = np.sqrt(s_var) if not np.iscomplexobj(s_var) else np.exp(0.5 * np.log(s_var))
        return sd[:, None] * R * sd[None, :]


class _UN(_Structure):
    code, linear = "UN", True

    def __init__(self, T):
        super().__init__(T)
        self.il = np.tril_indices(T)

    def n(self):
        return self.T * (self.T + 1) // 2

    def sas(self, phi):
        T = self.T
        L = np.zeros((T, T), dtype=phi.dtype)
        L[self.il] = phi
        d = np.arange(T)
        L[d, d] = np.exp(L[d, d])
        S = L @ L.T
        return S[self.il]

    def sigma_sas(self, s):
        S = np.zeros((self.T, self.T), dtype=s.dtype)
        S[self.il] = s
        return S + np.tril(S, -1).T

    def sas_names(self, visits):
        return [f"UN({i + 1},{j + 1})" for i, j in zip(*self.il)]

    def jac(self, phi):
        # Σ = L Lᵀ, L[a,b] = φ_ab (a > b), exp(φ_aa): ∂Σ = c (e_a l_bᵀ + l_b e_aᵀ), l_b = L[:, b]
        T = self.T
        L = np.zeros((T, T))
        L[self.il] = phi
        dg = np.arange(T)
        L[dg, dg] = np.exp(L[dg, dg])
        a, b = self.il
        c = np.where(a == b, L[a, a], 1.0)
        r = len(a)
        J = np.zeros((T, T, r))
        cols = (L[:, b] * c).T  # (r, T)
        J[a, :, np.arange(r)] += cols
        J[:, a, np.arange(r)] += cols.T
        return J.reshape(T * T, r)

    def start(self, S):
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            L = np.diag(np.sqrt(np.diag(S)))
        L = L.copy()
        d = np.arange(self.T)
        L[d, d] = np.log(L[d, d])
        return L[self.il].astype(float)


class _CS(_Structure):
    code, linear = "CS", True

    def n(self):
        return 2

    def _rho(self, z):
        lo = -1.0 / (self.T - 1) if self.T > 1 else -1.0
        return lo + (1 - lo) * _expit(z)

    def sas(self, phi):
        v, r = np.exp(phi[0]), self._rho(phi[1])
        return np.array([v * r, v * (1 - r)])  # SAS: CS (covariance), Residual

    def sigma_sas(self, s):
        return s[1] * np.eye(self.T) + s[0] * np.ones((self.T, self.T))

    def sas_names(self, visits):
        return ["CS", "Residual"]

    def start(self, S):
        v = float(np.mean(np.diag(S)))
        r = _mean_corr(S, self.lag, None)
        lo = -1.0 / (self.T - 1) if self.T > 1 else -1.0
        r = min(max(r, lo + 0.05 * (1 - lo)), 0.95)
        u = (r - lo) / (1 - lo)
        return np.array([math.log(v), math.log(u / (1 - u))])


class _CSH(_CS):
    code, linear = "CSH", False

    def n(self):
        return self.T + 1

    def sas(self, phi):
        return np.concatenate([np.exp(phi[:-1]), [self._rho(phi[-1])]])

    def sigma_sas(self, s):
        r = s[-1]
        R = r * np.ones((self.T, self.T), dtype=s.dtype) + (1 - r) * np.eye(self.T)
        return self._hetero(s[:-1], R)

    def sas_names(self, visits):
        return [f"Var({i + 1})" for i in range(self.T)] + ["CSH"]

    def start(self, S):
        cs = _CS.start(self, S)
        return np.concatenate([np.log(np.diag(S)), cs[1:]])


class _AR1(_Structure):
    code, linear = "AR1", False

    def n(self):
        return 2

    def sas(self, phi):
        return np.array([np.exp(phi[0]), np.tanh(phi[1])])

    def sigma_sas(self, s):
        return s[0] * s[1] ** self.lag

    def sas_names(self, visits):
        return ["Residual", "AR(1)"]

    def start(self, S):
        r = min(max(_mean_corr(S, self.lag, 1), -0.9), 0.9)
        return np.array([math.log(float(np.mean(np.diag(S)))), math.atanh(r)])


class _ARH1(_AR1):
    code = "ARH1"

    def n(self):
        return self.T + 1

    def sas(self, phi):
        return np.concatenate([np.exp(phi[:-1]), [np.tanh(phi[-1])]])

    def sigma_sas(self, s):
        return self._hetero(s[:-1], s[-1] ** self.lag)

    def sas_names(self, visits):
        return [f"Var({i + 1})" for i in range(self.T)] + ["ARH(1)"]

    def start(self, S):
        r = min(max(_mean_corr(S, self.lag, 1), -0.9), 0.9)
        return np.concatenate([np.log(np.diag(S)), [math.atanh(r)]])


class _TOEP(_Structure):
    code, linear = "TOEP", True

    def n(self):
        return self.T

    def sas(self, phi):
        v = np.exp(phi[0])
        rho = _toeplitz_corr(np.tanh(phi[1:]), self.T)
        return v * rho  # SAS: TOEP(1) = variance, TOEP(k+1) = lag-k covariance

    def sigma_sas(self, s):
        return s[self.lag]

    def sas_names(self, visits):
        return [f"TOEP({k + 1})" for k in range(self.T)]

    def start(self, S):
        r = min(max(_mean_corr(S, self.lag, 1), -0.8), 0.8)
        pacf = np.zeros(self.T - 1)
        if self.T > 1:
            pacf[0] = math.atanh(r)
        return np.concatenate([[math.log(float(np.mean(np.diag(S))))], pacf])


class _TOEPH(_TOEP):
    code, linear = "TOEPH", False

    def n(self):
        return 2 * self.T - 1

    def sas(self, phi):
        T = self.T
        rho = _toeplitz_corr(np.tanh(phi[T:]), T)
        return np.concatenate([np.exp(phi[:T]), rho[1:]])

    def sigma_sas(self, s):
        T = self.T
        rho = np.concatenate([np.ones(1, dtype=s.dtype), s[T:]])
        return self._hetero(s[:T], rho[self.lag])

    def sas_names(self, visits):
        return [f"Var({i + 1})" for i in range(self.T)] + [f"TOEPH({k})" for k in range(1, self.T)]

    def start(self, S):
        t = _TOEP.start(self, S)
        return np.concatenate([np.log(np.diag(S)), t[1:]])


_CLASSES = {"UN": _UN, "CS": _CS, "CSH": _CSH, "AR1": _AR1, "ARH1": _ARH1, "TOEP": _TOEP, "TOEPH": _TOEPH}


def _mean_corr(S, lag, k):
    sd = np.sqrt(np.diag(S))
    R = S / np.outer(sd, sd)
    mask = (lag == k) if k is not None else (lag > 0)
    return float(np.mean(R[mask])) if mask.any() else 0.0


def _jac_complex(f, x, h=1e-30):
    """∂ vec f(x) / ∂x by complex step (exact to rounding): columns = parameters."""
    cols = []
    for i in range(len(x)):
        xc = x.astype(complex)
        xc[i] += 1j * h
        cols.append(np.imag(f(xc)).ravel() / h)
    return np.column_stack(cols)


# ============================================================================================
# data: per missingness pattern sufficient statistics
# ============================================================================================
@dataclass
class _Patterns:
    T: int
    d: int
    N: int  # observations
    n: np.ndarray  # (k,) subjects per pattern
    mask: np.ndarray  # (k, T) bool: visits observed
    Sxx: np.ndarray  # (k, d, d) Σ x xᵀ
    Syx: np.ndarray  # (k, T, d) Σ y xᵀ (zero rows at unobserved visits)
    Syy: np.ndarray  # (k, T, T) Σ y yᵀ


def _patterns(subj_index, visit_index, y, X, T):
    """``subj_index``/``visit_index``: integer codes per row; ``X``: (n_subjects, d) subject covariates."""
    ns, d = X.shape
    Y = np.zeros((ns, T))
    M = np.zeros((ns, T), bool)
    Y[subj_index, visit_index] = y
    M[subj_index, visit_index] = True
    keep = M.any(axis=1)
    Y, M, X = Y[keep], M[keep], X[keep]
    key = M @ (1 << np.arange(T, dtype=np.int64)) if T < 63 else np.unique(M, axis=0, return_inverse=True)[1]
    uniq, inv = np.unique(key, return_inverse=True)
    k = len(uniq)
    n = np.bincount(inv, minlength=k)
    mask = np.zeros((k, T), bool)
    mask[inv] = M
    # sums per pattern by one matrix product each (indicator matrix)
    G = np.zeros((k, len(inv)))
    G[inv, np.arange(len(inv))] = 1.0
    Sxx = (G @ np.einsum("si,sj->sij", X, X).reshape(len(inv), -1)).reshape(k, d, d)
    Syx = (G @ np.einsum("st,sj->stj", Y, X).reshape(len(inv), -1)).reshape(k, T, d)
    Syy = (G @ np.einsum("st,su->stu", Y, Y).reshape(len(inv), -1)).reshape(k, T, T)
    return _Patterns(T, d, int(M.sum()), n, mask, Sxx, Syx, Syy)


# ============================================================================================
# the REML machinery
# ============================================================================================
class _Model:
    def __init__(self, pat: _Patterns, C: np.ndarray):
        self.pat = pat
        self.C = C  # (T*d, p): saturated per-visit coefficients = C β
        self.identity_C = C.shape[0] == C.shape[1] and bool(np.all(C == np.eye(C.shape[0])))
        # a C that only selects coefficients (every column a single 1): products become indexing
        self.select_C = np.argmax(C, axis=0) if bool(np.all((C == 0) | (C == 1)) and np.all(C.sum(axis=0) == 1)) \
            else None
        self.T, self.d, self.p = pat.T, pat.d, C.shape[1]
        self.mf = pat.mask.astype(float)
        self.outer_mask = self.mf[:, :, None] * self.mf[:, None, :]

    # -- Σ_p⁻¹ embedded in T × T (zeros at unobserved visits) -----------------------------
    def inverses(self, S):
        T, k = self.T, len(self.pat.n)
        if not np.all(np.isfinite(S)):
            return None
        A = np.where(self.outer_mask > 0, S[None], 0.0) + np.eye(T)[None] * (1 - self.mf)[:, :, None]
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            return None
        logdet = 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)) * self.mf, axis=1)
        Linv = np.linalg.inv(L)
        Sinv = np.einsum("kji,kjl->kil", Linv, Linv) * self.outer_mask
        return Sinv, logdet

    def gls(self, S):
        """−2ℓ_REML and what its derivatives need, or None when Σ is not positive definite."""
        pat, T, d, C = self.pat, self.T, self.d, self.C
        inv = self.inverses(S)
        if inv is None:
            return None
        Sinv, logdet = inv
        k = len(pat.n)
        # XᵀV⁻¹X in the saturated space: Σ_p kron(Sinv_p, Sxx_p) laid out (t, j, u, l)
        XVX = (Sinv.reshape(k, T * T).T @ pat.Sxx.reshape(k, d * d)).reshape(T, T, d, d)
        XVX = XVX.transpose(0, 2, 1, 3).reshape(T * d, T * d)
        XVy = np.einsum("ktu,kuj->tj", Sinv, pat.Syx).reshape(T * d)
        A = C.T @ XVX @ C
        b = C.T @ XVy
        try:
            La = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            return None
        Phi = np.linalg.inv(La)
        Phi = Phi.T @ Phi
        beta = Phi @ b
        yVy = float(np.sum(Sinv * pat.Syy))
        rVr = yVy - float(b @ beta)
        f = (pat.N - self.p) * LOG2PI + float(np.sum(pat.n * logdet)) + 2 * float(np.sum(np.log(np.diag(La)))) + rVr
        return dict(f=f, Sinv=Sinv, Phi=Phi, beta=beta, rVr=rVr, logdet=logdet)

    def derivative_pieces(self, g):
        """Adds M_p, R_p, Rx_p and H (∂(−2ℓ)/∂Σ as a symmetric T × T matrix) to ``g``."""
        pat, T, d, C = self.pat, self.T, self.d, self.C
        k = len(pat.n)
        Phit = (C @ g["Phi"] @ C.T).reshape(T, d, T, d)
        # M_p[t, u] = Σ_jl Φ̃[(t,j),(u,l)] Sxx_p[j,l]
        M = (Phit.transpose(0, 2, 1, 3).reshape(T * T, d * d) @ pat.Sxx.reshape(k, d * d).T).T.reshape(k, T, T)
        M *= self.outer_mask
        B = (C @ g["beta"]).reshape(T, d)
        BSxy = np.einsum("tj,kuj->ktu", B, pat.Syx)
        R = pat.Syy - BSxy - BSxy.transpose(0, 2, 1) + np.einsum("tj,kjl,ul->ktu", B, pat.Sxx, B)
        R *= self.outer_mask
        Rx = (pat.Syx - np.einsum("tj,kjl->ktl", B, pat.Sxx)) * self.mf[:, :, None]
        Sinv = g["Sinv"]
        Hk = pat.n[:, None, None] * Sinv - Sinv @ (M + R) @ Sinv
        g.update(M=M, R=R, Rx=Rx, H=Hk.sum(axis=0), Hk=Hk)
        return g


# ============================================================================================
# fitting
# ============================================================================================
@dataclass
class Fit:
    structure: str
    converged: bool
    message: str
    visits: tuple
    names: tuple  # β names
    beta: np.ndarray | None = None
    Phi: np.ndarray | None = None  # model-based Cov(β)
    sigma: np.ndarray | None = None  # T × T
    theta: np.ndarray | None = None  # SAS covariance parameters
    theta_names: tuple = ()
    reml_loglik: float | None = None
    iterations: int = 0
    n_subjects: int = 0
    n_obs: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def aic(self):
        return None if self.reml_loglik is None else -2 * self.reml_loglik + 2 * len(self.theta)


def _start_sigma(model: _Model):
    """Σ from ordinary least squares residuals, pairwise (positive definite, else its diagonal)."""
    pat, T = model.pat, model.T
    g = model.gls(np.eye(T))
    g = model.derivative_pieces(g)
    R = g["R"].sum(axis=0)
    cnt = np.einsum("kt,ku,k->tu", model.mf, model.mf, pat.n.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        S = np.where(cnt > 1, R / np.maximum(cnt - 1, 1), 0.0)
    diag = np.diag(S).copy()
    good = diag > 0
    fill = float(np.mean(diag[good])) if good.any() else 1.0
    diag[~good] = fill
    S[np.diag_indices(T)] = diag
    try:
        np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        S = np.diag(diag)
    return S


def _optimise(model: _Model, st: _Structure, phi0, tol=1e-9, max_iter=MAX_ITER):
    """Fisher scoring on φ. Returns ((φ, gls), message, iterations); after ``max_iter`` iterations
    without convergence the last point comes back with the message "unfinished"."""
    phi = phi0.copy()
    S = st.sigma(phi)
    g = model.gls(S)
    if g is None or not np.isfinite(g["f"]):
        return None, "the starting covariance is not positive definite", 0
    it = 0
    step = np.inf
    for it in range(1, max_iter + 1):
        model.derivative_pieces(g)
        J = st.jac(phi)  # (T², r)
        grad = J.T @ g["H"].ravel()
        # Fisher-scoring Hessian (−2ℓ_ML expected information): Σ_p n_p tr(S⁻¹ G_i S⁻¹ G_j)
        Sinv = g["Sinv"]
        K = _kron_sum(model.pat.n[:, None, None] * Sinv, Sinv)
        F = J.T @ K @ J
        F = (F + F.T) / 2
        try:
            w, V = np.linalg.eigh(F)
        except np.linalg.LinAlgError:
            return None, "the information matrix could not be computed", it
        w = np.maximum(w, 1e-8 * max(w.max(), 1e-300))
        delta = -(V @ ((V.T @ grad) / w))
        decrement = -float(grad @ delta)
        if float(np.max(np.abs(delta))) < tol or decrement < 1e-15 * max(1.0, abs(g["f"])):
            return (phi, g), "", it
        t = 1.0
        if decrement < 1e-9 * max(1.0, abs(g["f"])):  # inside the quadratic region: full steps
            gc = model.gls(st.sigma(phi + delta))
            if gc is not None and np.isfinite(gc["f"]) and gc["f"] <= g["f"] + 1e-12 * max(1.0, abs(g["f"])):
                phi, g = phi + delta, gc
                continue
        for _ in range(40):
            cand = phi + t * delta
            gc = model.gls(st.sigma(cand))
            if gc is not None and np.isfinite(gc["f"]) and gc["f"] <= g["f"] - 1e-4 * t * decrement:
                break
            t /= 2
        else:
            # no decrease along the scoring direction: at the optimum within rounding?
            if decrement < 1e-7 * max(1.0, abs(g["f"])):
                return (phi, g), "", it
            return None, "the likelihood could not be increased further", it
        step = float(np.max(np.abs(t * delta)))
        phi, g = cand, gc
        if np.max(np.abs(phi)) > 50:
            return None, "a covariance parameter diverged (variance or correlation at its boundary)", it
    return (phi, g), "unfinished", it


def _kron_sum(A, B):
    """K[(a,b),(c,d)] = Σ_k A_k[a,d] B_k[b,c]: vec(G_i)ᵀ K vec(G_j) = Σ_k tr(A_k G_i B_k G_j)."""
    k, T, _ = A.shape
    K = (A.reshape(k, T * T).T @ B.reshape(k, T * T)).reshape(T, T, T, T)  # [a, d, b, c]
    return K.transpose(0, 2, 3, 1).reshape(T * T, T * T)


def _newton_sas(model: _Model, st: _Structure, theta, g, tol=1e-10, max_iter=60):
    """Newton–Raphson on SAS's covariance parameters with the exact observed Hessian (quadratic
    convergence near the optimum); where that Hessian is not positive definite yet, a Fisher-scoring
    step with the expected information; a line search keeps Σ positive definite."""
    for it in range(1, max_iter + 1):
        model.derivative_pieces(g)
        info = _info_at(model, st, theta, g)
        H2, grad = info["H2"], info["grad"]
        try:
            np.linalg.cholesky(H2)
            newton = True
        except np.linalg.LinAlgError:
            newton = False
        step_matrix = H2 if newton else info["E2"]
        try:
            delta = -np.linalg.solve(step_matrix, grad)
        except np.linalg.LinAlgError:
            return None, "the information matrix is singular", it
        decrement = -float(grad @ delta)
        scale = np.maximum(np.abs(theta), 1e-3 * np.max(np.abs(theta)))
        if newton and (float(np.max(np.abs(delta) / scale)) < tol or decrement < 1e-15 * max(1.0, abs(g["f"]))):
            return (theta, g, info), "", it
        t = 1.0
        for _ in range(30):
            cand = theta + t * delta
            with np.errstate(invalid="ignore"):  # a step past a variance of 0 gives NaN: rejected below
                gc = model.gls(st.sigma_sas(cand))
            if gc is not None and np.isfinite(gc["f"]) and gc["f"] <= g["f"] + 1e-12 * max(1.0, abs(g["f"])):
                break
            t /= 2
        else:
            if newton and decrement < 1e-8 * max(1.0, abs(g["f"])):
                return (theta, g, info), "", it
            what = "" if newton else " (the information matrix is not positive definite: a boundary?)"
            return None, "the likelihood could not be increased further" + what, it
        theta, g = cand, gc
    return None, f"no convergence in {max_iter} iterations", max_iter


def fit(pat: _Patterns, C: np.ndarray, structure: str, visits, names, start_sigma=None) -> Fit:
    """REML fit of one covariance structure."""
    T = pat.T
    code = structure if T > 1 else "UN"
    st = _CLASSES[code](T)
    model = _Model(pat, C)
    base = dict(structure=code, visits=tuple(visits), names=tuple(names), n_subjects=int(pat.n.sum()), n_obs=pat.N)
    S0 = _start_sigma(model) if start_sigma is None else start_sigma
    phi0 = st.start(S0)
    # Fisher scoring on the well-conditioned parameterisation, then Newton on SAS's parameters
    res, msg, it = _optimise(model, st, phi0, max_iter=FISHER_ITER)
    if res is None:
        return Fit(converged=False, message=msg, iterations=it, **base)
    theta = st.sas(res[0])
    g = model.gls(st.sigma_sas(theta))
    try:
        res2, msg2, it2 = _newton_sas(model, st, theta, g)
    except np.linalg.LinAlgError:
        res2, msg2, it2 = None, "the information matrix is singular", 0
    if res2 is None:
        return Fit(converged=False, message=msg2, iterations=it + it2, **base)
    theta, g, info = res2
    S = st.sigma_sas(theta)
    # condition of Σ: a (near-)singular estimate is a boundary solution, not a converged fit
    ev = np.linalg.eigvalsh(S)
    if ev[0] <= 1e-10 * ev[-1]:
        return Fit(converged=False, message="the estimated covariance matrix is singular (boundary)",
                   iterations=it + it2, **base)
    out = Fit(converged=True, message="", iterations=it + it2, beta=g["beta"], Phi=g["Phi"], sigma=S, theta=theta,
              theta_names=tuple(st.sas_names(visits)), reml_loglik=-0.5 * g["f"], **base)
    out._cache.update(model=model, st=st, g=g, info=info)
    return out


# ============================================================================================
# information matrices, Satterthwaite and Kenward–Roger
# ============================================================================================
def _information(fit_: Fit):
    if "info" not in fit_._cache:
        fit_._cache["info"] = _info_at(fit_._cache["model"], fit_._cache["st"], fit_.theta, fit_._cache["g"])
    return fit_._cache["info"]


def _info_at(model: _Model, st: _Structure, theta, g):
    """Observed (H2) and expected (E2) Hessians of −2ℓ_REML in SAS's parameters θ, the gradient, and
    P_i = Xᵀ V⁻¹ (∂Σ/∂θ_i) V⁻¹ X. ``g``: ``model.gls`` at Σ(θ) with its derivative pieces."""
    pat, T, d, C, p = model.pat, model.T, model.d, model.C, model.p
    k = len(pat.n)
    J = st.jac_sas(theta)  # (T², r)
    r = J.shape[1]
    Sinv, M, R, Rx, H = g["Sinv"], g["M"], g["R"], g["Rx"], g["H"]
    Phi = g["Phi"]
    # second derivatives of Σ in SAS's parameters (zero for linear structures)
    if st.linear:
        D2 = None
    else:
        h = 1e-5
        D2 = np.zeros((T * T, r, r))
        for i in range(r):
            e = np.zeros(r)
            e[i] = h * max(1.0, abs(theta[i]))
            D2[:, i, :] = (st.jac_sas(theta + e) - st.jac_sas(theta - e)) / (2 * e[i])
        D2 = (D2 + D2.transpose(0, 2, 1)) / 2
    SMS = Sinv @ M @ Sinv
    SRS = Sinv @ R @ Sinv
    un = st.code == "UN"  # J is the 0/1 symmetriser: products with it are gathers
    if un:
        a_, b_ = st.il
        i1, i2 = a_ * T + b_, b_ * T + a_
        off = (a_ != b_).astype(float)

    def jt(X):  # Jᵀ X, X indexed by (a, b) on its first axis
        if un:
            return X[i1] + off.reshape((-1,) + (1,) * (X.ndim - 1)) * X[i2]
        return np.tensordot(J.T, X, axes=(1, 0))

    def quad(K):
        Q = jt(jt(K).T)
        return (Q + Q.T) / 2

    # tr(P̃ G_i P̃ G_j) = T1 − 2 T2 + T3 (expected information) and r'V⁻¹G_iV⁻¹G_jV⁻¹r (T4)
    TE = quad(_kron_sum(pat.n[:, None, None] * Sinv - 2 * SMS, Sinv))  # T1 − 2 T2
    T4 = quad(_kron_sum(SRS, Sinv))
    # P_i = Cᵀ [Σ_p kron(S⁻¹ G_i S⁻¹, Sxx_p)] C
    Z = np.zeros((d * d, T ** 4))  # [(j,l), (t,a,b,u)] = Σ_p Sxx_p[j,l] S⁻¹_p[t,a] S⁻¹_p[b,u], in chunks
    step = max(1, 2 ** 22 // T ** 4)
    for i in range(0, k, step):
        s_ = Sinv[i:i + step]
        Z += pat.Sxx[i:i + step].reshape(-1, d * d).T @ (s_[:, :, :, None, None] * s_[:, None, None, :, :]).reshape(
            -1, T ** 4)
    Z = Z.reshape(d, d, T, T, T, T).transpose(3, 4, 2, 5, 0, 1).reshape(T * T, T, T, d, d)  # [(a,b), t, u, j, l]
    Pt = jt(Z)  # (r, t, u, j, l)
    Pt = Pt.transpose(0, 1, 3, 2, 4).reshape(r, T * d, T * d)
    if model.identity_C:
        P = Pt
    elif model.select_C is not None:
        P = Pt[:, model.select_C][:, :, model.select_C]
    else:
        P = np.matmul(C.T, np.matmul(Pt, C))
    P = (P + P.transpose(0, 2, 1)) / 2
    PhiP = np.matmul(Phi, P)
    T3 = PhiP.reshape(r, p * p) @ PhiP.transpose(0, 2, 1).reshape(r, p * p).T
    # g_i = Xᵀ V⁻¹ G_i V⁻¹ r
    SRx = Sinv @ Rx  # (k, T, d)
    Gam = (Sinv.reshape(k, T * T).T @ SRx.reshape(k, T * d)).reshape(T, T, T, d).transpose(1, 2, 0, 3)
    Gam = Gam.reshape(T * T, T * d)  # [(a,b), (t,j)] = Σ_p S⁻¹_p[t,a] (S⁻¹_p Rx_p)[b,j]
    gv = jt(Gam) @ C  # (r, p)
    gPg = gv @ Phi @ gv.T
    E2 = TE + T3
    E2 = (E2 + E2.T) / 2
    H2 = -E2 + 2 * T4 - 2 * gPg
    if D2 is not None:
        H2 = H2 + np.einsum("x,xij->ij", H.ravel(), D2)
    H2 = (H2 + H2.T) / 2
    return dict(J=J, D2=D2, P=P, H2=H2, E2=E2, grad=jt(H.ravel()))


def _W(fit_: Fit, method: str):
    info = _information(fit_)
    key = "W_exp" if method == "kr-expected" else "W_obs"
    if key not in info:
        info[key] = 2 * np.linalg.inv(info["E2"] if method == "kr-expected" else info["H2"])
    return info[key]


def _phi_adjusted(fit_: Fit, method: str):
    """Kenward–Roger's bias-adjusted Cov(β): Φ_A = Φ + 2Φ{Σ W_ij (Q_ij − P_i Φ P_j − ¼ R_ij)}Φ."""
    key = f"PhiA_{method}"
    if key in fit_._cache:
        return fit_._cache[key]
    model, st, g = fit_._cache["model"], fit_._cache["st"], fit_._cache["g"]
    info = _information(fit_)
    pat, T, d, C, p = model.pat, model.T, model.d, model.C, model.p
    k = len(pat.n)
    W = _W(fit_, method)
    J, P, D2 = info["J"], info["P"], info["D2"]
    Phi, Sinv = g["Phi"], g["Sinv"]
    # Σ_ij W_ij Q_ij: Ω = J W Jᵀ, ω_p[a, d] = Σ_bc Ω[(a,b),(c,d)] S⁻¹_p[b, c], q_p = S⁻¹ ω_p S⁻¹
    Om = (J @ W @ J.T).reshape(T, T, T, T)  # [a, b, c, d]
    om = (Om.transpose(0, 3, 1, 2).reshape(T * T, T * T) @ Sinv.reshape(k, T * T).T).T.reshape(k, T, T)
    q = Sinv @ om @ Sinv
    Qb = (q.reshape(k, T * T).T @ pat.Sxx.reshape(k, d * d)).reshape(T, T, d, d).transpose(0, 2, 1, 3)
    Qs = C.T @ Qb.reshape(T * d, T * d) @ C
    PW = np.tensordot(W, P, axes=(1, 0))  # Σ_j W_ij P_j
    r = P.shape[0]
    PPP = (P @ Phi).transpose(1, 0, 2).reshape(p, r * p) @ PW.reshape(r * p, p)
    U = Qs - PPP
    if D2 is not None:
        Gbar = np.einsum("xij,ij->x", D2, W).reshape(T, T)
        SGS = Sinv @ Gbar @ Sinv
        Rb = (SGS.reshape(k, T * T).T @ pat.Sxx.reshape(k, d * d)).reshape(T, T, d, d).transpose(0, 2, 1, 3)
        U = U - 0.25 * (C.T @ Rb.reshape(T * d, T * d) @ C)
    U = (U + U.T) / 2
    PhiA = Phi + 2 * Phi @ U @ Phi
    fit_._cache[key] = PhiA
    return PhiA


def contrast(fit_: Fit, L, method: str = "kr", alpha: float = 0.05) -> dict:
    """Estimate, SE, df, t, p and CI of lᵀβ (``L``: p-vector) with the chosen df method."""
    L = np.asarray(L, float)
    est = float(L @ fit_.beta)
    var0 = float(L @ fit_.Phi @ L)
    info = _information(fit_)
    W = _W(fit_, method)
    u = fit_.Phi @ L
    a = np.einsum("ipq,p,q->i", info["P"], u, u)
    denom = float(a @ W @ a)
    df = 2 * var0 ** 2 / denom if denom > 0 else float("inf")
    var = float(L @ _phi_adjusted(fit_, method) @ L) if method in ("kr", "kr-expected") else var0
    if not (var > 0 and np.isfinite(var) and np.isfinite(df) and df > 0):
        return dict(estimate=est, se=None, df=None, t=None, p=None, ci=(None, None), se_model=math.sqrt(max(var0, 0)))
    se = math.sqrt(var)
    t = est / se
    q = float(special.stdtrit(df, 1 - alpha / 2))
    return dict(estimate=est, se=se, df=df, t=t, p=float(2 * special.stdtr(df, -abs(t))),
                ci=(est - q * se, est + q * se), se_model=math.sqrt(var0))


# ============================================================================================
# the high-level call: a long table in, arm-vs-reference contrasts at each visit out
# ============================================================================================
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
    se_model: float | None = None  # unadjusted (model-based) SE
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
    contrasts: tuple[Contrast, ...] = ()  # at ``visit``
    by_visit: tuple[Contrast, ...] = ()  # every arm at every visit
    n_subjects: int = 0
    n_obs: int = 0
    structure: str = ""  # code of the structure used
    requested: str = ""
    df_method: str = ""
    fallback_note: str = ""  # "unstructured did not converge (...); heterogeneous Toeplitz used"
    reml_loglik: float | None = None
    aic: float | None = None
    n_cov_params: int = 0
    model: str = ""
    note: str = ""
    remarks: tuple[str, ...] = ()
    sigma: object = None  # fitted T × T covariance (numpy array)
    theta: tuple[float, ...] = ()  # SAS's covariance parameters
    theta_names: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.note

    @property
    def single_visit(self) -> bool:
        return len(self.visits) == 1

    @property
    def covariance(self) -> str:
        if self.single_visit:
            return "independent errors (one observation per subject)"
        return STRUCTURES[self.structure][0] if self.structure in STRUCTURES else ""

    @property
    def method(self) -> str:
        if self.single_visit:
            return "ANCOVA by least squares (one post-baseline visit: no repeated measures)"
        return f"MMRM, REML, {self.covariance} covariance" if self.structure else "MMRM"

    @property
    def test(self) -> str:
        return DF_METHODS.get(self.df_method, "")


def model_formula(outcome: str = "CHG", base_by_visit: bool = True, arm_by_visit: bool = True) -> str:
    terms = ["BASE", "ARM", "VISIT"] + (["ARM × VISIT"] if arm_by_visit else []) + (
        ["BASE × VISIT"] if base_by_visit else [])
    return f"{outcome} ~ " + " + ".join(terms)


def _constraint(T, d, per_visit):
    """C (T·d × p) mapping β to the per-visit coefficients, and column → (visit or None, covariate)."""
    cols, where = [], []
    for j in range(d):
        if per_visit[j]:
            for t in range(T):
                c = np.zeros(T * d)
                c[t * d + j] = 1.0
                cols.append(c)
                where.append((t, j))
        else:
            c = np.zeros(T * d)
            c[np.arange(T) * d + j] = 1.0
            cols.append(c)
            where.append((None, j))
    return np.column_stack(cols), where


def _design(subj, arm, vis, base_v, yv, extra, arms, reference, covariates, base_by_visit):
    """Rows of the arms kept -> per-pattern sufficient statistics, the constraint C and β names."""
    sel = np.isin(arm, arms)
    subj, arm, vis, base_v, yv = subj[sel], arm[sel], vis[sel], base_v[sel], yv[sel]
    extra = [e[sel] for e in extra]
    # one row per subject and visit (a duplicate would be a data error upstream: keep the first)
    s_code = np.unique(subj, return_inverse=True)[1]
    v_code = np.unique(vis, return_inverse=True)[1]
    _, first = np.unique(s_code.astype(np.int64) * (int(v_code.max(initial=0)) + 1) + v_code, return_index=True)
    first = np.sort(first)
    subj, arm, vis, base_v, yv = subj[first], arm[first], vis[first], base_v[first], yv[first]
    extra = [e[first] for e in extra]
    visits = sorted(set(vis.tolist()))
    T = len(visits)
    subjects, s_idx = np.unique(subj, return_inverse=True)
    v_idx = np.searchsorted(np.asarray(visits), vis)
    # subject-level covariates: 1, BASE, arm dummies, extra (first row of each subject)
    firsts = np.unique(s_idx, return_index=True)[1]
    others = [a for a in arms if a != reference]
    arm_s = arm[firsts]
    Xs = [np.ones(len(subjects)), base_v[firsts]] + [(arm_s == a).astype(float) for a in others] + \
         [e[firsts] for e in extra]
    # baseline must be constant within subject: BASE is a subject-level covariate
    Xs = np.column_stack(Xs)
    d = Xs.shape[1]
    xnames = ["(intercept)", "BASE"] + [f"ARM[{a}]" for a in others] + list(covariates)
    per_visit = [True, base_by_visit] + [True] * len(others) + [False] * len(extra)
    C, where = _constraint(T, d, per_visit)
    pat = _patterns(s_idx, v_idx, yv, Xs, T)
    # drop coefficients no observation informs (an arm never seen at a visit)
    XtX = (pat.mask.astype(float).reshape(-1, T).T @ pat.Sxx.reshape(-1, d * d)).reshape(T, d, d)
    info_diag = np.array([XtX[t, j, j] if t is not None else XtX[:, j, j].sum() for t, j in where])
    C, where = C[:, info_diag > 0], [w for w, ok in zip(where, info_diag > 0) if ok]
    names = [f"{xnames[j]}" + (f":VISIT[{visits[t]:g}]" if t is not None else "") for t, j in where]
    return dict(pat=pat, C=C, names=names, visits=visits, others=others, subj=subj, arm=arm, vis=vis,
                yv=yv, XtX=XtX, T=T, d=d)


def _counts(subj, arm, vis, distinct=False):
    """{(arm, visit): subjects with a value there}."""
    if distinct:
        keep = np.unique(np.column_stack([np.unique(subj, return_inverse=True)[1],
                                          np.unique(vis, return_inverse=True)[1]]), axis=0, return_index=True)[1]
        arm, vis = arm[keep], vis[keep]
    keys, n = np.unique(np.column_stack([np.unique(arm, return_inverse=True)[1], np.unique(vis, return_inverse=True)[1]]),
                        axis=0, return_counts=True)
    arms_u, vis_u = np.unique(arm), np.unique(vis)
    return {(str(arms_u[a]), float(vis_u[t])): int(c) for (a, t), c in zip(keys, n)}


def _rows(df, outcome, covariates):
    cols = set(getattr(df, "columns", None) if hasattr(df, "columns") else df.keys())
    subj = np.asarray(df["USUBJID"]).astype(str)
    arm = np.asarray(df["ARM"]).astype(str)
    vis = np.asarray(df["AVISITN"], float)
    base_v = np.asarray(df["BASE"], float)
    yv = np.asarray(df[outcome], float)
    keep = (vis > 0) & np.isfinite(yv) & np.isfinite(base_v)
    if "ABLFL" in cols:
        keep &= np.asarray(df["ABLFL"]).astype(str) != "Y"
    extra = [np.asarray(df[c], float) for c in covariates]
    for e in extra:
        keep &= np.isfinite(e)
    return subj[keep], arm[keep], vis[keep], base_v[keep], yv[keep], [e[keep] for e in extra]


def design(df, reference: str, arms, outcome: str = "CHG", base_by_visit: bool = True, covariates=()):
    """The model's design for ``arms`` (reference first or not): used by tests and scripts to
    evaluate the REML fit at a given covariance (``gls_at``)."""
    subj, arm, vis, base_v, yv, extra = _rows(df, outcome, covariates)
    return _design(subj, arm, vis, base_v, yv, extra, list(arms), reference, covariates, base_by_visit)


def gls_at(des: dict, sigma) -> dict:
    """REML log-likelihood, β and model-based Cov(β) at a given T × T covariance ``sigma``."""
    m = _Model(des["pat"], des["C"])
    g = m.gls(np.asarray(sigma, float))
    return dict(reml_loglik=-0.5 * g["f"], beta=g["beta"], Phi=g["Phi"], names=des["names"])


def fit_mmrm(df, reference: str, visit, arm_order, outcome: str = "CHG", structure: str = "UN",
             df_method: str = "kr", fallback: bool = True, base_by_visit: bool = True, alpha: float = 0.05,
             covariates=()) -> MMRMResult:
    with _OneBlasThread():
        return _fit_mmrm(df, reference, visit, arm_order, outcome, structure, df_method, fallback, base_by_visit,
                         alpha, covariates)


def _fit_mmrm(df, reference: str, visit, arm_order, outcome: str = "CHG", structure: str = "UN",
              df_method: str = "kr", fallback: bool = True, base_by_visit: bool = True, alpha: float = 0.05,
              covariates=()) -> MMRMResult:
    """Adjusted (LS-mean) difference of every arm vs ``reference`` at every visit; ``contrasts`` at ``visit``.

    ``df``: rows of one parameter with USUBJID, ARM (label), AVISITN, BASE and ``outcome``
    (a pandas DataFrame or any mapping of columns); baseline rows (AVISITN <= 0 or ABLFL = "Y")
    and rows with a missing outcome or baseline are dropped here. ``covariates``: further
    subject-level numeric columns (e.g. stratification dummies), common to all visits.
    """
    if structure not in STRUCTURES:
        raise ValueError(f"unknown covariance structure {structure!r}")
    if df_method not in DF_METHODS:
        raise ValueError(f"unknown df method {df_method!r}")
    need = ["USUBJID", "ARM", "AVISITN", "BASE", outcome, *covariates]
    cols = set(getattr(df, "columns", df.keys()))
    missing = [c for c in need if c not in cols]
    formula = model_formula(outcome, base_by_visit) + "".join(f" + {c}" for c in covariates)
    head = dict(outcome=outcome, reference=reference, visit=visit, requested=structure, df_method=df_method,
                model=formula)
    if missing:
        return MMRMResult(**head, note=f"missing columns: {', '.join(missing)}")
    subj, arm, vis, base_v, yv, extra = _rows(df, outcome, covariates)
    arm_order = list(arm_order)
    if reference not in arm_order:
        return MMRMResult(**head, note=f"reference arm {reference} is not among the arms shown")
    v = None if visit is None else float(visit)
    at = {a: _counts(subj, arm, vis, distinct=True).get((a, v), 0) for a in arm_order} if v is not None else \
        {a: len(set(subj[arm == a])) for a in arm_order}
    where_v = f"at week {v:g}" if v is not None else "in the data"
    if at[reference] < MIN_PER_ARM:
        return MMRMResult(**head, note=f"reference arm {reference}: n = {at[reference]} {where_v}, too few for a "
                                       f"model (needs at least {MIN_PER_ARM})")
    arms = [a for a in arm_order if at[a] >= MIN_PER_ARM]
    skipped = [Contrast(a, reference, v, at[a], at[reference],
                        note=f"n = {at[a]} {where_v}: too few (needs at least {MIN_PER_ARM})")
               for a in arm_order if a != reference and at[a] < MIN_PER_ARM]
    if len(arms) < 2:
        return MMRMResult(**head, contrasts=tuple(skipped),
                          note="fewer than two arms with enough subjects at this visit: no comparison")
    des = _design(subj, arm, vis, base_v, yv, extra, arms, reference, covariates, base_by_visit)
    pat, C, names, visits, others = des["pat"], des["C"], des["names"], des["visits"], des["others"]
    subj, arm, vis, yv, XtX, T, d = des["subj"], des["arm"], des["vis"], des["yv"], des["XtX"], des["T"], des["d"]
    base = dict(head, visits=tuple(visits), n_subjects=int(pat.n.sum()), n_obs=pat.N)
    p = C.shape[1]
    XtXf = np.zeros((T * d, T * d))
    for t in range(T):
        XtXf[t * d:(t + 1) * d, t * d:(t + 1) * d] = XtX[t]
    A = C.T @ XtXf @ C
    if pat.N - p < 1 or np.linalg.matrix_rank(A) < p:
        note = ("too few observations for the model's parameters" if pat.N - p < 1 else
                "the design is not of full rank (e.g. baseline constant): model not estimable")
        return MMRMResult(**base, contrasts=tuple(skipped), note=note)
    if np.ptp(yv) == 0:
        return MMRMResult(**base, contrasts=tuple(skipped), note="the outcome does not vary: nothing to model")
    # an exact fit leaves nothing to estimate a covariance from
    ols = _Model(pat, C).gls(np.eye(T))
    if ols is None or ols["rVr"] <= 1e-10 * float(np.sum((yv - yv.mean()) ** 2)):
        return MMRMResult(**base, contrasts=tuple(skipped),
                          note="the model fits the data exactly (no residual variability): no test possible")
    order = fallback_order(structure) if fallback else [structure]
    if T == 1:
        order = ["UN"]
    failures = []
    f = None
    for code in order:
        f = fit(pat, C, code, visits, names)
        if f.converged:
            break
        failures.append((code, f.message))
    if f is None or not f.converged:
        what = "; ".join(f"{STRUCTURES[c][0]}: {m}" for c, m in failures)
        return MMRMResult(**base, contrasts=tuple(skipped), note=f"the model did not converge ({what})")
    fb = ""
    if failures:
        fb = "; ".join(f"{STRUCTURES[c][0]} did not converge ({m})" for c, m in failures) + \
             f"; {STRUCTURES[f.structure][0]} used"
    remarks = []
    if T == 1:
        remarks.append("one post-baseline visit: no repeated measures, the model is ANCOVA (df = n − p)")
    # every arm at every visit
    counts = _counts(subj, arm, vis)  # one row per subject and visit here: rows = subjects
    by_visit = []
    for t_i, t in enumerate(visits):
        for a in others:
            j = 2 + others.index(a)
            name = f"ARM[{a}]:VISIT[{t:g}]"
            n_a, n_r = counts.get((a, t), 0), counts.get((reference, t), 0)
            if name not in names:
                by_visit.append(Contrast(a, reference, t, n_a, n_r, note="not estimable at this visit"))
                continue
            L = np.zeros(p)
            L[names.index(name)] = 1.0
            try:
                c = contrast(f, L, df_method, alpha)
            except np.linalg.LinAlgError:
                c = dict(se=None)
            if c["se"] is None:
                by_visit.append(Contrast(a, reference, t, n_a, n_r, estimate=c.get("estimate"),
                                         note="standard error or df not estimable"))
                continue
            by_visit.append(Contrast(a, reference, t, n_a, n_r, c["estimate"], c["se"], c["ci"][0], c["ci"][1],
                                     c["p"], c["df"], c["se_model"]))
    pos = {a: i for i, a in enumerate(arm_order)}
    at_v = [c for c in by_visit if v is not None and c.visit == v]
    for c in skipped:
        at_v.append(c)
    at_v.sort(key=lambda c: pos[c.arm])
    return MMRMResult(**{**base, "visits": tuple(visits)}, contrasts=tuple(at_v), by_visit=tuple(by_visit),
                      structure=f.structure, fallback_note=fb, reml_loglik=f.reml_loglik, aic=f.aic,
                      n_cov_params=len(f.theta), remarks=tuple(remarks), sigma=f.sigma,
                      theta=tuple(float(x) for x in f.theta), theta_names=f.theta_names)
