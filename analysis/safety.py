"""Adverse events: overview summary, SOC/PT incidence with risk differences, listing, timeline.

Conventions (named in the page's captions):
- Denominator N per arm: subjects of the safety population (ADSL SAFFL = "Y" when the flag
  exists, else every subject) within the global filter.
- Tables count *subjects*, not events: a subject with two events of one PT counts once for
  that PT, once for its SOC and once for "any TEAE". Events are counted separately.
- Treatment-emergent: TRTEMFL = "Y" when ADAE carries the flag, else every AE.
- Onset week = floor((ASTDY − 1) / 7): study days 1–7 are week 0, days 29–35 week 4.
  A narrowed timepoint window keeps the AEs whose onset week lies in it (inclusive); the
  full window keeps every AE, also one without a start day or outside the visit schedule.
- Risk difference of arm A vs reference arm R: p_A − p_R with the Newcombe hybrid score
  95% CI (Wilson score intervals combined, Newcombe 1998 method 10), via statsmodels
  ``confint_proportions_2indep(compare="diff", method="newcomb")``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis.descriptive import n_pct
from analysis.exposure import dosing_segments

RD_METHOD = "Newcombe hybrid score"
RD_MIN_N = 3
ONSET_RULE = "onset week = ⌊(AE start study day − 1) / 7⌋, so days 1–7 are week 0"
THRESHOLDS = (0, 5, 10, 20, 30, 50)  # % of subjects in any shown arm; 0 = every PT
RELATED_VALUES = frozenset({"RELATED", "POSSIBLY RELATED", "PROBABLY RELATED", "DEFINITELY RELATED", "Y", "YES"})
DISCONTINUATION_ACTION = "DRUG WITHDRAWN"

# Listing: (ADAE column or derived name, display header), in display order.
LISTING_COLUMNS = (
    ("USUBJID", "Subject"),
    ("ARM", "Arm"),
    ("AESEQ", "Seq"),
    ("AETERM", "Verbatim term"),
    ("AEDECOD", "Preferred term"),
    ("AEBODSYS", "System organ class"),
    ("ASTDY", "Start day"),
    ("ONSET_WEEK", "Onset week"),
    ("AENDY", "End day"),
    ("DURATION", "Duration (days)"),
    ("AETOXGR", "Grade"),
    ("AESEV", "Severity"),
    ("AESER", "Serious"),
    ("AEREL", "Related"),
    ("AERELTRT", "Related to"),
    ("AEACN", "Action taken"),
    ("AEOUT", "Outcome"),
    ("TRTEMFL", "TEAE"),
)


# -- selection --------------------------------------------------------------------------
def onset_week(astdy) -> pd.Series:
    """floor((ASTDY − 1) / 7) as float; missing start day -> NaN."""
    d = pd.to_numeric(pd.Series(astdy), errors="coerce").astype("float64")
    return np.floor((d - 1) / 7)


def safety_population(adsl: pd.DataFrame, subjects, arm_labels: list[str], flag: str | None = "SAFFL") -> pd.DataFrame:
    """USUBJID and ARM (display label) of the safety population within the filter."""
    mask = adsl["USUBJID"].isin(list(subjects)) & adsl["ARM_LABEL"].isin(arm_labels)
    if flag and flag in adsl.columns:
        mask &= adsl[flag].astype(str) == "Y"
    pop = adsl.loc[mask, ["USUBJID", "ARM_LABEL"]].rename(columns={"ARM_LABEL": "ARM"})
    return pop.reset_index(drop=True)


def in_window(adae: pd.DataFrame, window: tuple[float, float] | None) -> pd.Series:
    """Rows whose onset week lies in ``window`` (inclusive); None = no restriction."""
    if window is None:
        return pd.Series(True, index=adae.index)
    if "ASTDY" not in adae.columns:
        return pd.Series(False, index=adae.index)
    w = onset_week(adae["ASTDY"]).set_axis(adae.index)
    return (w >= window[0]) & (w <= window[1])


def select_events(adae: pd.DataFrame, subjects, window: tuple[float, float] | None,
                  teae_only: bool = True) -> pd.DataFrame:
    """ADAE rows of ``subjects`` with onset in ``window`` (treatment-emergent only by default)."""
    mask = adae["USUBJID"].isin(list(subjects)) & in_window(adae, window)
    if teae_only and "TRTEMFL" in adae.columns:
        mask &= adae["TRTEMFL"].astype(str) == "Y"
    return adae[mask]


def _flag(events: pd.DataFrame, col: str, pred) -> pd.Series:
    if col not in events.columns:
        return pd.Series(False, index=events.index)
    return events[col].map(lambda v: False if v is None or (isinstance(v, float) and math.isnan(v)) else bool(pred(v)))


def grade_number(events: pd.DataFrame) -> pd.Series:
    """CTCAE grade as a number (AETOXGR), NaN where missing or not a number."""
    if "AETOXGR" not in events.columns:
        return pd.Series(np.nan, index=events.index)
    return pd.to_numeric(events["AETOXGR"].astype(str).str.strip(), errors="coerce").astype("float64")


def event_flags(events: pd.DataFrame) -> dict[str, tuple[str, pd.Series]]:
    """Row label -> boolean event mask; labels say how each category is defined."""
    if "AETOXGR" in events.columns:
        g3 = ("Any grade ≥3 TEAE", grade_number(events) >= 3)
    else:
        g3 = ("Any severe TEAE", _flag(events, "AESEV", lambda v: str(v).upper() == "SEVERE"))
    if "AEREL" in events.columns:
        rel = _flag(events, "AEREL", lambda v: str(v).strip().upper() in RELATED_VALUES)
    else:
        rel = _flag(events, "AERELTRT", lambda v: str(v).strip().upper() not in ("", "NONE", "NAN"))
    return {
        "any": ("Any TEAE", pd.Series(True, index=events.index)),
        "serious": ("Any serious TEAE", _flag(events, "AESER", lambda v: str(v).upper() == "Y")),
        "grade3": g3,
        "related": ("Any TEAE related to study drug", rel),
        "discontinued": ("Any TEAE leading to discontinuation",
                         _flag(events, "AEACN", lambda v: str(v).strip().upper() == DISCONTINUATION_ACTION)),
        "death": ("Deaths", _flag(events, "AESDTH", lambda v: str(v).upper() == "Y")),
    }


# -- overview summary --------------------------------------------------------------------
def arm_columns(pop: pd.DataFrame, arm_labels: list[str]) -> list[tuple[str, str | None, int]]:
    """(column title, arm label or None for Total, N)."""
    cols = [(f"{a} (N={int((pop['ARM'] == a).sum())})", a, int((pop["ARM"] == a).sum())) for a in arm_labels]
    cols.append((f"Total (N={len(pop)})", None, len(pop)))
    return cols


def overview_counts(pop: pd.DataFrame, events: pd.DataFrame, arm_labels: list[str],
                    adsl: pd.DataFrame | None = None) -> pd.DataFrame:
    """Subjects per category and arm (numbers): index = category key, columns = arms + Total.

    Deaths also count ADSL DTHFL = "Y" subjects of the population. Row "events" is the
    number of TEAEs (events, not subjects).
    """
    ev = events[events["USUBJID"].isin(pop["USUBJID"])]
    arm_of = pop.set_index("USUBJID")["ARM"]
    flags = event_flags(ev)
    dead_adsl: set[str] = set()
    if adsl is not None and "DTHFL" in adsl.columns:
        dead_adsl = set(adsl.loc[adsl["DTHFL"].astype(str) == "Y", "USUBJID"]) & set(pop["USUBJID"])
    out = {}
    for key, (_label, mask) in flags.items():
        subj = set(ev.loc[mask.to_numpy(bool), "USUBJID"])
        if key == "death":
            subj |= dead_adsl
        per_arm = arm_of.reindex(sorted(subj)).value_counts()
        out[key] = {a: int(per_arm.get(a, 0)) for a in arm_labels} | {"Total": len(subj)}
    per_arm_ev = ev["USUBJID"].map(arm_of).value_counts()
    out["events"] = {a: int(per_arm_ev.get(a, 0)) for a in arm_labels} | {"Total": len(ev)}
    return pd.DataFrame.from_dict(out, orient="index")


def overview_summary(pop: pd.DataFrame, events: pd.DataFrame, arm_labels: list[str],
                     adsl: pd.DataFrame | None = None) -> pd.DataFrame:
    """The standard first safety table: rows = categories, cells "n (%)" of subjects, then events."""
    counts = overview_counts(pop, events, arm_labels, adsl)
    labels = {k: lab for k, (lab, _m) in event_flags(events.iloc[:0]).items()}
    cols = arm_columns(pop, arm_labels)
    rows = []
    for key, label in labels.items():
        rows.append({"Subjects with": label,
                     **{title: n_pct(int(counts.at[key, arm or "Total"]), n) for title, arm, n in cols}})
    rows.append({"Subjects with": "Number of TEAEs (events)",
                 **{title: str(int(counts.at["events", arm or "Total"])) for title, arm, n in cols}})
    return pd.DataFrame(rows)


# -- risk difference -----------------------------------------------------------------------
@dataclass(frozen=True)
class RiskDifference:
    diff: float | None  # p_a − p_r, proportion
    low: float | None
    high: float | None
    note: str = ""

    def text(self) -> str:
        """Percentage points with the CI, or the reason there is no number."""
        if self.diff is None:
            return self.note
        return f"{100 * self.diff:+.1f} ({100 * self.low:+.1f}, {100 * self.high:+.1f})"


def risk_difference(k_a: int, n_a: int, k_r: int, n_r: int, alpha: float = 0.05) -> RiskDifference:
    """k_a/n_a − k_r/n_r with the Newcombe hybrid score CI; no number when an arm has n < 3."""
    if min(n_a, n_r) < RD_MIN_N:
        return RiskDifference(None, None, None, f"n < {RD_MIN_N}: no CI")
    low, high = confint_proportions_2indep(k_a, n_a, k_r, n_r, compare="diff", method="newcomb", alpha=alpha)
    return RiskDifference(k_a / n_a - k_r / n_r, float(low), float(high))


# -- SOC / PT incidence ------------------------------------------------------------------------
def soc_pt_incidence(pop: pd.DataFrame, events: pd.DataFrame, arm_labels: list[str], threshold: float = 0,
                     compare: tuple[str, str] | None = None) -> pd.DataFrame:
    """Subjects with each SOC and PT per arm, sorted by overall frequency.

    Returns one row per SOC followed by its PTs: columns level ("SOC"/"PT"), SOC, PT,
    n per arm (the arm label), Total, pct per arm ("% <arm>"), and when ``compare`` =
    (arm, reference) is given: rd, rd_low, rd_high, rd_note. ``threshold`` keeps the PTs
    reported by at least that % of subjects in any shown arm (and the SOCs holding one);
    a SOC row always counts every PT of that SOC.
    """
    ev = events[events["USUBJID"].isin(pop["USUBJID"])][["USUBJID", "AEBODSYS", "AEDECOD"]].copy()
    ev["AEBODSYS"] = ev["AEBODSYS"].astype(str)
    ev["AEDECOD"] = ev["AEDECOD"].astype(str)
    ev["ARM"] = ev["USUBJID"].map(pop.set_index("USUBJID")["ARM"]).astype(str)
    n_arm = {a: int((pop["ARM"] == a).sum()) for a in arm_labels}

    def counts(keys: list[str]) -> pd.DataFrame:
        subj = ev.drop_duplicates(["USUBJID", *keys])  # subjects, not events
        tab = subj.groupby([*keys, "ARM"]).size().unstack("ARM", fill_value=0)
        tab = tab.reindex(columns=arm_labels, fill_value=0)
        tab["Total"] = subj.groupby(keys).size().reindex(tab.index, fill_value=0)
        return tab

    cols = ["level", "SOC", "PT", *arm_labels, "Total", *[f"% {a}" for a in arm_labels]]
    if ev.empty:
        return pd.DataFrame(columns=cols + (["rd", "rd_low", "rd_high", "rd_note"] if compare else []))
    soc = counts(["AEBODSYS"])
    pt = counts(["AEBODSYS", "AEDECOD"])

    def pct(row) -> dict:
        return {f"% {a}": (100 * row[a] / n_arm[a] if n_arm[a] else np.nan) for a in arm_labels}

    soc_order = sorted(soc.index, key=lambda s: (-soc.at[s, "Total"], s))
    rows = []
    for s in soc_order:
        pts = pt.loc[s]
        kept = []
        for p in sorted(pts.index, key=lambda p: (-pts.at[p, "Total"], p)):
            r = pts.loc[p]
            pc = pct(r)
            shown = [v for v in pc.values() if not np.isnan(v)]
            if threshold and not (shown and max(shown) >= threshold):
                continue
            kept.append({"level": "PT", "SOC": s, "PT": p, **{a: int(r[a]) for a in arm_labels},
                         "Total": int(r["Total"]), **pc})
        if threshold and not kept:
            continue
        r = soc.loc[s]
        rows.append({"level": "SOC", "SOC": s, "PT": "", **{a: int(r[a]) for a in arm_labels},
                     "Total": int(r["Total"]), **pct(r)})
        rows.extend(kept)
    out = pd.DataFrame(rows, columns=cols)
    if compare:
        a, ref = compare
        rds = []
        for k_a, k_r in zip(out[a] if a in n_arm else [0] * len(out), out[ref] if ref in n_arm else [0] * len(out)):
            if a not in n_arm or ref not in n_arm:
                rds.append(RiskDifference(None, None, None, "arm not in filter"))
            else:
                rds.append(risk_difference(int(k_a), n_arm[a], int(k_r), n_arm[ref]))
        out["rd"] = [x.diff for x in rds]
        out["rd_low"] = [x.low for x in rds]
        out["rd_high"] = [x.high for x in rds]
        out["rd_note"] = [x.text() for x in rds]
    return out


# -- listing -----------------------------------------------------------------------------------
def listing(adae: pd.DataFrame, subjects, window: tuple[float, float] | None) -> pd.DataFrame:
    """Every ADAE row of ``subjects`` with onset in ``window``: the listing's columns, plus ROWID.

    Not restricted to treatment-emergent events (the TEAE column says which are).
    """
    ae = adae[adae["USUBJID"].isin(list(subjects)) & in_window(adae, window)]
    out = pd.DataFrame(index=ae.index)
    for col, _head in LISTING_COLUMNS:
        if col == "ONSET_WEEK":
            if "ASTDY" in ae.columns:
                out[col] = onset_week(ae["ASTDY"]).set_axis(ae.index)
        elif col == "DURATION":
            if "ADURN" in ae.columns:
                out[col] = pd.to_numeric(ae["ADURN"], errors="coerce")
            elif {"ASTDY", "AENDY"} <= set(ae.columns):
                out[col] = pd.to_numeric(ae["AENDY"], errors="coerce") - pd.to_numeric(ae["ASTDY"], errors="coerce") + 1
        elif col in ae.columns:
            out[col] = ae[col].astype(str) if col == "ARM" else ae[col]
    out["ROWID"] = [f"{u}/{s}" for u, s in zip(ae["USUBJID"], ae["AESEQ"] if "AESEQ" in ae.columns else ae.index)]
    sort = [c for c in ("USUBJID", "ASTDY", "AESEQ") if c in out.columns]
    return out.sort_values(sort, kind="stable").reset_index(drop=True)


def listing_headers(df: pd.DataFrame) -> dict[str, str]:
    return {c: h for c, h in LISTING_COLUMNS if c in df.columns}


# -- timeline -----------------------------------------------------------------------------------
def severity_label(events: pd.DataFrame) -> pd.Series:
    """'Grade n' from AETOXGR, else the AESEV wording, else 'Unknown'."""
    g = grade_number(events)
    sev = events["AESEV"].astype(str).str.capitalize() if "AESEV" in events.columns else pd.Series("", index=events.index)
    lab = np.where(g.notna(), "Grade " + g.fillna(0).astype(int).astype(str),
                   np.where(sev.isin(["", "Nan", "None"]), "Unknown", sev))
    return pd.Series(lab, index=events.index)


def timeline_events(adae: pd.DataFrame, pop: pd.DataFrame, window: tuple[float, float] | None) -> pd.DataFrame:
    """One row per AE with a start day: subject, arm, start/end in study weeks, severity, serious.

    The bar covers onset day to resolution day inclusive: start (ASTDY − 1)/7, end AENDY/7.
    An AE without an end day is drawn to its subject's last AE day or start + 1 week, marked ongoing.
    """
    cols = ["USUBJID", "ARM", "AEDECOD", "AETERM", "ASTDY", "AENDY", "start", "end", "ongoing", "severity", "serious"]
    if "ASTDY" not in adae.columns:
        return pd.DataFrame(columns=cols)
    ae = adae[adae["USUBJID"].isin(pop["USUBJID"]) & in_window(adae, window)].copy()
    ae["ASTDY"] = pd.to_numeric(ae["ASTDY"], errors="coerce")
    ae = ae[ae["ASTDY"].notna()]
    end = pd.to_numeric(ae["AENDY"], errors="coerce") if "AENDY" in ae.columns else pd.Series(np.nan, index=ae.index)
    ae["AENDY"] = end
    ae["ongoing"] = end.isna()
    ae["start"] = (ae["ASTDY"] - 1) / 7
    ae["end"] = np.where(end.notna(), end / 7, (ae["ASTDY"] + 7) / 7)
    ae["severity"] = severity_label(ae)
    ae["serious"] = _flag(ae, "AESER", lambda v: str(v).upper() == "Y")
    ae["ARM"] = ae["USUBJID"].map(pop.set_index("USUBJID")["ARM"]).astype(str)
    for c in ("AEDECOD", "AETERM"):
        ae[c] = ae[c].astype(str) if c in ae.columns else ""
    return ae[cols].sort_values(["USUBJID", "ASTDY"]).reset_index(drop=True)


def subject_dosing(adex: pd.DataFrame | None, pop: pd.DataFrame) -> pd.DataFrame:
    """Each subject's own dosing runs (from ADEX): USUBJID, EXTRT, frequency, start/end week, dose weeks."""
    cols = ["USUBJID", "EXTRT", "EXROUTE", "start_week", "end_week", "frequency", "doses", "dose_weeks"]
    if adex is None or adex.empty or not {"USUBJID", "EXTRT", "ASTDY"} <= set(adex.columns):
        return pd.DataFrame(columns=cols)
    ex = adex[adex["USUBJID"].isin(pop["USUBJID"])]
    frames = []
    for subj, d in ex.groupby("USUBJID", sort=True):
        d = d.assign(ARM=str(subj))  # one "arm" = this subject: its own schedule, not a reference subject's
        seg = dosing_segments(d, [str(subj)])
        frames.append(seg.rename(columns={"ARM": "USUBJID"}))
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    return out[[c for c in cols if c in out.columns]]


# -- large studies ------------------------------------------------------------------------------
TIMELINE_MAX_SUBJECTS = 100  # rows of the timeline; above this a sample is drawn (the figure says so)


def timeline_sample(pop: pd.DataFrame, max_subjects: int | None = None) -> pd.DataFrame:
    """At most ``max_subjects`` (default TIMELINE_MAX_SUBJECTS) rows of ``pop`` (USUBJID, ARM): all when no more.

    Above that, a systematic sample per arm, proportional to the arm's size: evenly spaced subjects
    in USUBJID order (the first and the last included), so every arm and the whole subject list are
    represented and the same filter always draws the same subjects.
    """
    max_subjects = TIMELINE_MAX_SUBJECTS if max_subjects is None else max_subjects
    if len(pop) <= max_subjects:
        return pop
    pop = pop.sort_values("USUBJID", kind="stable")
    parts = []
    for _arm, d in pop.groupby("ARM", observed=True, sort=False):
        k = max(1, (max_subjects * len(d)) // len(pop))
        idx = np.unique(np.linspace(0, len(d) - 1, min(k, len(d))).round().astype(int))
        parts.append(d.iloc[idx])
    return pd.concat(parts).reset_index(drop=True)
