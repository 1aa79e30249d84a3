"""Multiplicity adjustment of a family of p-values (missing values pass through).

Holm (step-down) and Benjamini–Hochberg (step-up), computed here as R's ``p.adjust`` does and
checked against statsmodels' ``multipletests`` in the tests: that function calls ``gc.collect()``
on every use, which took 2.3 s of a 3.4 s grid of 30 parameters in a study held in memory.
"""

from __future__ import annotations

import numpy as np

METHODS = {"none": "unadjusted", "holm": "Holm", "fdr_bh": "Benjamini–Hochberg"}


def adjust(pvalues, method: str = "holm") -> list[float | None]:
    """Adjusted p-values in the input order; None stays None. ``method``: none | holm | fdr_bh."""
    if method not in METHODS:
        raise ValueError(f"unknown adjustment {method!r}")
    p = [None if v is None or not np.isfinite(v) else float(v) for v in pvalues]
    idx = [i for i, v in enumerate(p) if v is not None]
    if method == "none" or not idx:
        return p
    adj = _holm(np.array([p[i] for i in idx])) if method == "holm" else _bh(np.array([p[i] for i in idx]))
    out = list(p)
    for i, v in zip(idx, adj):
        out[i] = float(v)
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm: sorted ascending, (m − j + 1)·p(j), made non-decreasing, capped at 1."""
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg: sorted ascending, m/j·p(j), made non-increasing from the largest, capped at 1."""
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    adj = np.minimum(1.0, np.minimum.accumulate((m / np.arange(m, 0, -1)) * p[order][::-1])[::-1])
    out = np.empty(m)
    out[order] = adj
    return out
