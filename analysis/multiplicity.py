"""Multiplicity adjustment of a family of p-values (missing values pass through).

Holm and Benjamini–Hochberg computed here with the same operations, in the same order, as
statsmodels' ``multipletests`` (so the numbers are identical, which a test checks, and they
match R's ``p.adjust``), without its ``gc.collect()``: that full collection ran on every
call and cost seconds per request on a worker holding a full result cache.
"""

from __future__ import annotations

import numpy as np

METHODS = {"none": "unadjusted", "holm": "Holm", "fdr_bh": "Benjamini–Hochberg"}


def _holm(p_sorted: np.ndarray) -> np.ndarray:
    n = len(p_sorted)
    return np.maximum.accumulate(p_sorted * np.arange(n, 0, -1))


def _bh(p_sorted: np.ndarray) -> np.ndarray:
    n = len(p_sorted)
    ecdf = np.arange(1, n + 1) / float(n)
    return np.minimum.accumulate((p_sorted / ecdf)[::-1])[::-1]


def adjust(pvalues, method: str = "holm") -> list[float | None]:
    """Adjusted p-values in the input order; None stays None. ``method``: none | holm | fdr_bh."""
    if method not in METHODS:
        raise ValueError(f"unknown adjustment {method!r}")
    p = [None if v is None or not np.isfinite(v) else float(v) for v in pvalues]
    idx = [i for i, v in enumerate(p) if v is not None]
    if method == "none" or not idx:
        return p
    vals = np.asarray([p[i] for i in idx], dtype=float)
    order = np.argsort(vals)
    corrected = (_holm if method == "holm" else _bh)(np.take(vals, order))
    corrected[corrected > 1] = 1
    adj = np.empty_like(corrected)
    adj[order] = corrected
    out = list(p)
    for i, v in zip(idx, adj):
        out[i] = float(v)
    return out
