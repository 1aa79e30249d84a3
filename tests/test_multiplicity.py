"""Holm and Benjamini–Hochberg as computed by the app equal statsmodels' multipletests (R's p.adjust)."""

import gc

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.multiplicity import adjust


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_adjust_equals_statsmodels(method, monkeypatch):
    # statsmodels' multipletests calls gc.collect() on every call: 300 full collections of the suite's heap took
    # 87 s in `make test`. A collection changes no number; the comparison is the same without it.
    monkeypatch.setattr(gc, "collect", lambda *a, **k: 0)
    rng = np.random.default_rng(11)
    for _ in range(300):
        m = int(rng.integers(1, 40))
        p = rng.random(m) ** rng.uniform(0.3, 4)
        if rng.random() < 0.3:
            p[: m // 2] = p[0]  # ties
        np.testing.assert_allclose(adjust(list(p), method), multipletests(p, method=method)[1], atol=1e-12)


def test_missing_values_pass_through_in_place():
    got = adjust([0.04, None, 0.01, float("nan"), 0.03], "holm")
    assert got[1] is None and got[3] is None
    assert got[0] == pytest.approx(0.06) and got[2] == pytest.approx(0.03) and got[4] == pytest.approx(0.06)
