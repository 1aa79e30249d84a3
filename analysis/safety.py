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
- Vocabularies (``summary_rules``): relatedness in any of the common codings (Y/N,
  RELATED/NOT RELATED, DEFINITE/PROBABLE/POSSIBLE vs UNLIKELY/REMOTE/NONE/NOT RELATED…; numeric
  codes only with study.toml ``[safety] related``); discontinuation from ADAE ``AEACN`` =
  "DRUG WITHDRAWN", else ADSL ``DSRAEFL`` = "Y", else ADSL ``DCSREAS`` = "ADVERSE EVENT". A
  row whose source variable is absent or empty is "not available", never 0 (%), and says
  where the fact would come from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis.descriptive import n_pct
from analysis.exposure import runs

RD_METHOD = "Newcombe hybrid score"
RD_MIN_N = 3
ONSET_RULE = "onset week = ⌊(AE start study day − 1) / 7⌋, so days 1–7 are week 0"
THRESHOLDS = (0, 5, 10, 20, 30, 50)  # % of subjects in any shown arm; 0 = every PT
# Relatedness (AEREL) as sponsors code it; a study adds or overrides values with [safety] related / not_related.
RELATED_VALUES = frozenset({
    "Y", "YES", "RELATED", "DEFINITE", "DEFINITELY", "DEFINITELY RELATED", "PROBABLE", "PROBABLY",
    "PROBABLY RELATED", "POSSIBLE", "POSSIBLY", "POSSIBLY RELATED", "LIKELY", "LIKELY RELATED", "RELATED TO STUDY DRUG"})
NOT_RELATED_VALUES = frozenset({
    "N", "NO", "NOT RELATED", "UNRELATED", "UNLIKELY", "UNLIKELY RELATED", "UNLIKELY TO BE RELATED", "REMOTE",
    "REMOTELY RELATED", "NONE", "NOT APPLICABLE", "NOT SUSPECTED"})
DISCONTINUATION_ACTION = "DRUG WITHDRAWN"
DISCONTINUATION_REASON = "ADVERSE EVENT"
NOT_AVAILABLE = "not available"

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
    """USUBJID and ARM (display label) of the safety population within the filter: safety data are analysed in
    the arm each subject received (``ARM_SAFETY``, the actual treatment), when the study has one."""
    arm = "ARM_SAFETY" if "ARM_SAFETY" in adsl.columns else "ARM_LABEL"
    mask = adsl["USUBJID"].isin(list(subjects)) & adsl[arm].isin(arm_labels)
    if flag and flag in adsl.columns:
        mask &= adsl[flag].astype(str) == "Y"
    pop = adsl.loc[mask, ["USUBJID", arm]].rename(columns={arm: "ARM"})
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


def norm_text(values: pd.Series) -> pd.Series:
    """Values compared as text: stripped, upper case; whole numbers without '.0'; missing as ''."""
    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return str(int(v)) if float(v).is_integer() else repr(float(v))
        t = str(v).strip().upper()
        return "" if t in ("NAN", "<NA>") else t  # (not "NONE": a relatedness value)
    return values.map(one).astype(object)


def _filled(frame: pd.DataFrame | None, col: str) -> bool:
    """``col`` is in ``frame`` and has at least one value."""
    return frame is not None and col in frame.columns and bool((norm_text(frame[col]) != "").any())


@dataclass(frozen=True)
class Rule:
    """How one row of the AE overview is counted, or why it cannot be."""

    key: str
    label: str
    source: str  # the fact it reads, for the caption ("ADAE AESER = 'Y'")
    kind: str = "event"  # "event": subjects with such a TEAE; "subject": ADSL subjects; "na": not available
    column: str = ""
    values: frozenset = frozenset()  # event/subject values that count
    extra_subjects: frozenset = frozenset()  # subjects counted from ADSL on top of the events (deaths)
    reason: str = ""  # kind "na": why, and what to change
    note: str = ""  # a fact the caption states (blank relatedness counted as related…)

    @property
    def available(self) -> bool:
        return self.kind != "na"

    def mask(self, events: pd.DataFrame) -> pd.Series:
        if self.kind != "event":
            return pd.Series(False, index=events.index)
        if self.key == "any":
            return pd.Series(True, index=events.index)
        if self.column == "AETOXGR":
            return grade_number(events) >= 3
        if self.column not in events.columns:
            return pd.Series(False, index=events.index)
        return norm_text(events[self.column]).isin(self.values)


def _na(key, label, reason) -> Rule:
    return Rule(key, label, "", kind="na", reason=reason)


def relatedness_rule(adae: pd.DataFrame | None, cfg=None, variable: str | None = None) -> Rule:
    """Any TEAE related to study drug: the relatedness variable's values read with the vocabulary."""
    label = "Any TEAE related to study drug"
    col = (getattr(cfg, "relatedness", None) or variable
           or next((c for c in ("AEREL", "AERELN") if adae is not None and c in adae.columns), None))
    if adae is None or col is None or col not in adae.columns:
        return _na("related", label, "no AEREL in the adverse-event dataset ([safety] relatedness names another "
                                     "variable)")
    vals = norm_text(adae[col])
    if not (vals != "").any():
        return _na("related", label, f"{col} is empty in the adverse-event dataset")
    related = set(RELATED_VALUES) | set(getattr(cfg, "related", ()) or ())
    not_related = set(NOT_RELATED_VALUES) | set(getattr(cfg, "not_related", ()) or ())
    if getattr(cfg, "related", ()):  # a study's own list of related values decides alone
        related = set(cfg.related)
        not_related = (not_related | set(RELATED_VALUES)) - related
    if getattr(cfg, "not_related", ()):
        related -= set(cfg.not_related)
    seen = sorted(set(vals) - {""})
    unknown = [v for v in seen if v not in related and v not in not_related]
    if unknown:
        coded = all(v.lstrip("-").replace(".", "", 1).isdigit() for v in unknown)
        what = "numeric codes" if coded else "values"
        return _na("related", label, f"{col} {what} {', '.join(map(repr, unknown[:6]))} not recognised: list the "
                                     f"related ones under [safety] related (and the others under not_related) "
                                     f"in study.toml")
    blank = int((vals == "").sum())
    note = (f"{blank} event(s) with a blank {col} are counted as related (the conservative convention)"
            if blank else "")
    shown = sorted(v for v in seen if v in related)
    return Rule("related", label, f"{col} in {', '.join(map(repr, shown)) or 'no related value'}"
                + (" or blank" if blank else ""), column=col, values=frozenset(related | ({""} if blank else set())),
                note=note)


def discontinuation_rule(adae: pd.DataFrame | None, adsl: pd.DataFrame | None, cfg=None) -> Rule:
    """TEAE leading to discontinuation: ADAE AEACN = DRUG WITHDRAWN, else ADSL DSRAEFL, else DCSREAS."""
    given = getattr(cfg, "discontinuation", None)
    order = [given] if given else ["AEACN", "DSRAEFL", "DCSREAS"]
    for src in order:
        if src == "AEACN" and _filled(adae, "AEACN"):
            return Rule("discontinued", "Any TEAE leading to discontinuation",
                        f"ADAE AEACN = '{DISCONTINUATION_ACTION}'", column="AEACN",
                        values=frozenset({DISCONTINUATION_ACTION}))
        if src == "DSRAEFL" and _filled(adsl, "DSRAEFL"):
            return Rule("discontinued", "Discontinued the study because of an AE (ADSL DSRAEFL = Y)",
                        "ADSL DSRAEFL = 'Y' (subject level, whatever the AE's onset)", kind="subject",
                        column="DSRAEFL", values=frozenset({"Y"}))
        if src == "DCSREAS" and _filled(adsl, "DCSREAS"):
            return Rule("discontinued", f"Discontinued the study because of an AE (ADSL DCSREAS = "
                                        f"{DISCONTINUATION_REASON})",
                        f"ADSL DCSREAS = '{DISCONTINUATION_REASON}' (subject level, whatever the AE's onset)",
                        kind="subject", column="DCSREAS", values=frozenset({DISCONTINUATION_REASON}))
    if given:
        where = "the adverse-event dataset" if given == "AEACN" else "ADSL"
        why = f"[safety] discontinuation = {given}, but {given} is absent or empty in {where}"
    else:
        why = ("AEACN is absent or empty in the adverse-event dataset, and ADSL has no DSRAEFL or DCSREAS values "
               "([safety] discontinuation names the source)")
    return _na("discontinued", "Any TEAE leading to discontinuation", why)


def summary_rules(adae: pd.DataFrame | None, adsl: pd.DataFrame | None = None, cfg=None,
                  ae_vars: dict | None = None) -> list[Rule]:
    """The AE overview's rows and how each is counted, from the whole study's data (not a filter's rows):
    a variable absent or empty in the dataset makes its row "not available"."""
    rules = [Rule("any", "Any TEAE", "every TEAE")]
    if _filled(adae, "AESER"):
        rules.append(Rule("serious", "Any serious TEAE", "ADAE AESER = 'Y'", column="AESER", values=frozenset({"Y"})))
    else:
        why = "AESER is empty" if adae is not None and "AESER" in adae.columns else "no AESER"
        rules.append(_na("serious", "Any serious TEAE", f"{why} in the adverse-event dataset"))
    if _filled(adae, "AETOXGR") and grade_number(adae).notna().any():
        rules.append(Rule("grade3", "Any grade ≥3 TEAE", "ADAE AETOXGR ≥ 3", column="AETOXGR"))
    elif _filled(adae, "AESEV"):
        rules.append(Rule("grade3", "Any severe TEAE", "ADAE AESEV = 'SEVERE'", column="AESEV",
                          values=frozenset({"SEVERE"})))
    else:
        rules.append(_na("grade3", "Any grade ≥3 or severe TEAE",
                         "neither AETOXGR nor AESEV has values in the adverse-event dataset"))
    rules.append(relatedness_rule(adae, cfg, (ae_vars or {}).get("related")))
    rules.append(discontinuation_rule(adae, adsl, cfg))
    dthfl = _filled(adsl, "DTHFL")
    dead_adsl = frozenset(adsl.loc[norm_text(adsl["DTHFL"]) == "Y", "USUBJID"].astype(str)) if dthfl else frozenset()
    if _filled(adae, "AESDTH"):
        rules.append(Rule("death", "Deaths", "ADAE AESDTH = 'Y'" + (" or ADSL DTHFL = 'Y'" if dthfl else ""),
                          column="AESDTH", values=frozenset({"Y"}), extra_subjects=dead_adsl))
    elif dthfl:
        rules.append(Rule("death", "Deaths", "ADSL DTHFL = 'Y' (subject level)", kind="subject", column="DTHFL",
                          values=frozenset({"Y"})))
    else:
        rules.append(_na("death", "Deaths", "no AESDTH in the adverse-event dataset and no DTHFL in ADSL"))
    return rules


def event_flags(events: pd.DataFrame, rules: list[Rule] | None = None) -> dict[str, tuple[str, pd.Series]]:
    """Row label -> boolean event mask of the rows counted from events (``rules``: ``summary_rules``)."""
    rules = summary_rules(events) if rules is None else rules
    return {r.key: (r.label, r.mask(events)) for r in rules if r.kind == "event"}


# -- overview summary --------------------------------------------------------------------
def arm_columns(pop: pd.DataFrame, arm_labels: list[str]) -> list[tuple[str, str | None, int]]:
    """(column title, arm label or None for Total, N)."""
    cols = [(f"{a} (N={int((pop['ARM'] == a).sum())})", a, int((pop["ARM"] == a).sum())) for a in arm_labels]
    cols.append((f"Total (N={len(pop)})", None, len(pop)))
    return cols


def overview_counts(pop: pd.DataFrame, events: pd.DataFrame, arm_labels: list[str],
                    adsl: pd.DataFrame | None = None, rules: list[Rule] | None = None) -> pd.DataFrame:
    """Subjects per category and arm (numbers): index = category key, columns = arms + Total.

    ``rules``: how each row is counted (``summary_rules`` of the whole study; default: read from
    ``events`` and ``adsl``). Rows that are not available are left out. Deaths also count ADSL
    DTHFL = "Y" subjects of the population. Row "events" is the number of TEAEs (events, not subjects).
    """
    rules = summary_rules(events, adsl) if rules is None else rules
    ev = events[events["USUBJID"].isin(pop["USUBJID"])]
    arm_of = pop.set_index("USUBJID")["ARM"]
    in_pop = set(pop["USUBJID"].astype(str))
    out = {}
    for rule in rules:
        if rule.kind == "na":
            continue
        if rule.kind == "event":
            subj = set(ev.loc[rule.mask(ev).to_numpy(bool), "USUBJID"]) | (set(rule.extra_subjects) & in_pop)
        else:
            flag = norm_text(adsl[rule.column]).isin(rule.values) if adsl is not None else pd.Series(dtype=bool)
            subj = set(adsl.loc[flag, "USUBJID"].astype(str)) & in_pop
        per_arm = arm_of.reindex(sorted(subj)).value_counts()
        out[rule.key] = {a: int(per_arm.get(a, 0)) for a in arm_labels} | {"Total": len(subj)}
    per_arm_ev = ev["USUBJID"].map(arm_of).value_counts()
    out["events"] = {a: int(per_arm_ev.get(a, 0)) for a in arm_labels} | {"Total": len(ev)}
    return pd.DataFrame.from_dict(out, orient="index")


def overview_summary(pop: pd.DataFrame, events: pd.DataFrame, arm_labels: list[str],
                     adsl: pd.DataFrame | None = None, rules: list[Rule] | None = None) -> pd.DataFrame:
    """The standard first safety table: rows = categories, cells "n (%)" of subjects, then events.

    A row whose source is absent or empty reads "not available" in every cell, its label saying why."""
    rules = summary_rules(events, adsl) if rules is None else rules
    counts = overview_counts(pop, events, arm_labels, adsl, rules)
    cols = arm_columns(pop, arm_labels)
    rows = []
    for rule in rules:
        if rule.kind == "na":
            rows.append({"Subjects with": f"{rule.label} — {NOT_AVAILABLE}: {rule.reason}",
                         **{title: NOT_AVAILABLE for title, _arm, _n in cols}})
            continue
        rows.append({"Subjects with": rule.label,
                     **{title: n_pct(int(counts.at[rule.key, arm or "Total"]), n) for title, arm, n in cols}})
    rows.append({"Subjects with": "Number of TEAEs (events)",
                 **{title: str(int(counts.at["events", arm or "Total"])) for title, arm, n in cols}})
    return pd.DataFrame(rows)


def rules_text(rules: list[Rule]) -> str:
    """The caption's sentence on where each row's fact comes from."""
    parts = []
    for r in rules:
        if r.key == "any":
            continue
        if r.kind == "na":
            parts.append(f"{r.label}: not available ({r.reason})")
        else:
            parts.append(f"{r.label}: {r.source}" + (f"; {r.note}" if r.note else ""))
    return "Sources — " + "; ".join(parts) + "."


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
    rid = pd.Series([f"{u}/{s}" for u, s in zip(ae["USUBJID"], ae["AESEQ"] if "AESEQ" in ae.columns else ae.index)],
                    index=ae.index)
    # Unique even when a subject's AESEQ repeats: the grid keys its rows by it and the export maps them back.
    k = rid.groupby(rid).cumcount()
    out["ROWID"] = rid.where(k == 0, rid + "~" + k.astype(str))
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
    has_route = "EXROUTE" in ex.columns
    rows = []
    # Each subject's own runs (dosing_segments with the subject as its own arm), grouped once: per subject
    # through dosing_segments it took 10 ms a subject, most of an uncached AE timeline.
    for (subj, trt), d in ex.groupby(["USUBJID", "EXTRT"], observed=True, sort=True):
        route = str(d["EXROUTE"].iloc[0]) if has_route else ""
        rows += [(str(subj), trt, route, *run) for run in runs(np.sort(d["ASTDY"].to_numpy(float)))]
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows, columns=cols)


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
