"""Multiplicity adjustment of a family of p-values (missing values pass through)."""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

METHODS = {"none": "unadjusted", "holm": "Holm", "fdr_bh": "Benjamini–Hochberg"}


def adjust(pvalues, method: str = "holm") -> list[float | None]:
    """Adjusted p-values in the input order; None stays None. ``method``: none | holm | fdr_bh."""
    if method not in METHODS:
        raise ValueError(f"unknown adjustment {method!r}")
    p = [None if v is None or not np.isfinite(v) else float(v) for v in pvalues]
    idx = [i for i, v in enumerate(p) if v is not None]
    if method == "none" or not idx:
        return p
    adj = multipletests([p[i] for i in idx], method=method)[1]
    out = list(p)
    for i, v in zip(idx, adj):
        out[i] = float(v)
    return out
