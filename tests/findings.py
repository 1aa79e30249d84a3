"""The design document's section-7 findings, computed straight from the tables with scipy.

Kept independent of the app's analysis layer on purpose: it is the yardstick.
"""

import numpy as np
from scipy import stats


def _wk(df, code, arm, week):
    d = df[(df["PARAMCD"] == code) & (df["TRT01A"] == arm) & (df["AVISITN"] == week)]
    return d.set_index("USUBJID")["AVAL"]


def _paired(df, code, arm, week=48):
    a, b = _wk(df, code, arm, 0), _wk(df, code, arm, week)
    common = a.index.intersection(b.index)
    return a[common].to_numpy(float), b[common].to_numpy(float)


def _chg(df, code, arm, week=48, col="PCHG"):
    d = df[(df["PARAMCD"] == code) & (df["TRT01A"] == arm) & (df["AVISITN"] == week)]
    return d[col].dropna().to_numpy(float)


COMBO, BEL, IL2 = "Belimumab + Ld-IL2", "Belimumab", "Ld-IL2"


def findings(t) -> dict[str, bool]:
    lb, cell, ae = t["adlb"], t["adcell"], t["adae"]
    out = {}
    for code in ("IGG", "DSDNA", "ANUA"):
        b0, b48 = _paired(lb, code, COMBO)
        out[f"1 {code} lower"] = np.median(b48 - b0) < 0 and stats.wilcoxon(b48, b0).pvalue < 0.05
    b0, b48 = _paired(lb, "C3", COMBO)
    out["2 C3 higher"] = np.mean(b48 - b0) > 0 and stats.ttest_rel(np.log(b48), np.log(b0)).pvalue < 0.001

    def subjects(arm, mask=None):
        d = ae[(ae["TRT01A"] == arm) & (ae["TRTEMFL"] == "Y")]
        if mask is not None:
            d = d[mask(d)]
        return d["USUBJID"].nunique()

    out["3 TEAE"] = subjects(COMBO) <= subjects(BEL)
    out["3 SAE"] = subjects(COMBO, lambda d: d["AESER"] == "Y") <= subjects(BEL, lambda d: d["AESER"] == "Y")
    for code in ("NAIVEB", "PLASMA"):
        c = _chg(cell, code, COMBO)
        out[f"4 {code}"] = all(
            stats.mannwhitneyu(c, _chg(cell, code, other), alternative="two-sided").pvalue < 0.05
            and np.median(c) < np.median(_chg(cell, code, other))
            for other in (BEL, IL2)
        )
    for code in ("MEMB", "BREG"):
        c, b = _chg(cell, code, COMBO), _chg(cell, code, BEL)
        out[f"5 {code}"] = np.median(c) > np.median(b) and stats.mannwhitneyu(c, b).pvalue < 0.05
    for code in ("IL2POS", "IL17POS"):
        b0, b48 = _paired(cell, code, COMBO)
        out[f"6 {code} unchanged"] = stats.wilcoxon(b48, b0).pvalue > 0.05
    out["7 TREG up"] = np.median(_chg(cell, "TREG", COMBO)) > 0
    out["7 TFH down"] = np.median(_chg(cell, "TFH", COMBO)) < 0
    sled = {arm: np.median(_chg(lb, "SLEDAI", arm, col="CHG")) for arm in (BEL, IL2, COMBO)}
    out["8 SLEDAI"] = all(v < 0 for v in sled.values()) and sled[COMBO] < min(sled[BEL], sled[IL2])
    return out
