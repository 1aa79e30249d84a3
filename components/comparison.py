"""Two-visit comparison: boxplots of the study's parameters at two timepoints by arm (LSO-088: its Figure 2).

One parameter at a time, or all of them as small multiples (the grid). Per arm
two boxes (timepoint 1 in the arm's light colour, timepoint 2 in its colour), every
patient's points jittered on top and a thin line joining each patient's two values.
Within-arm (Wilcoxon signed-rank) or between-arm (Mann–Whitney, Holm) p-values are
drawn as brackets; Kruskal–Wallis and ANCOVA are in the table beneath.

Population: the selected arms (efficacy population). The global patient filter
does not shrink the boxes: the chosen patients are highlighted and labelled.

The page's words ("Cell subset", "Figure 2 grid" for LSO-088), parameters and default come from the
study (``data.words``: ``[pages.comparison]`` of study.toml, else the ADaM metadata).
"""

from __future__ import annotations

import math
import zlib
from html import escape as html_escape
from dataclasses import dataclass

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from analysis import codegen, explain
from analysis.between import BetweenArms, change_frame, compare_arms
from analysis.descriptive import QUANTILE_METHOD, median_iqr, param_slices
from analysis.paired import PairedResult, format_p, wilcoxon_signed_rank
from components import deck, figure_tools
from components.export import csv_with_provenance
from components.markup import static
from components.shell import FILTER_STORE, register_patient_click
from components.tables import frame_table
from components.textfit import clip
from components.theme import (arm_symbol, axis_key, base_layout, graph_config, message_figure, panel_refs,
                              panel_titles, stamp, subplot_grid)
from data import blinding
from data import filters as F
from data import words as W

ID = "comparison"
PATH = "/comparison"
TITLE = W.DEFAULT_TITLES[ID]  # the study's own title: title(study)
# The view in the URL ("Copy link to this view"; components.viewstate) and the presentation-mode arrow keys.
# The timepoints' options follow the subset and the window: their link values wait for the options.
URL_STATE = {"view": ("cmp-view", "value"), "param": ("cmp-param", "value"),
             "v1": ("cmp-visit-a", "value", "cmp-visit-a.options"),
             "v2": ("cmp-visit-b", "value", "cmp-visit-b.options"),
             "annot": ("cmp-annot", "value"), "log": ("cmp-log", "value"), "scale": ("cmp-scale", "value"),
             "ref": ("cmp-ref", "value")}
PRESENT_STEP = {"control": "cmp-param", "when": ("cmp-view", "value", "single")}

VIEWS = ("single", "grid")
ANNOTATIONS = ("within", "between", "none")
SCALES = ("pchg", "chg")
SCALE_TEXT = {"pchg": "% change", "chg": "absolute change"}
GRID_COLS = 4
BOX_OFFSET = 0.2  # each arm's two boxes sit at arm ± offset on a numeric x axis
BOX_WIDTH = 0.32
JITTER = 0.07
SINGLE_HEIGHT = 540
GRID_ROW_HEIGHT = 270
GRID_PANEL_PX = 250  # a grid panel's plot width at 1280 px, for wrapping the arm names under it
# Above this many patients in a box, the box is drawn from its quartiles and the individual points and
# patient lines are left out (chosen patients are still drawn): at 1,667 patients per arm the points
# made a 0.9 MB figure (26 MB for the grid) that no one can read; the page says so under the figure.
MAX_POINTS = 150
# The grid draws every patient's points and lines up to this many values in all its panels; above, each box
# from its quartiles alone. 30 parameters x 254 subjects drew 630 traces and ~15,000 points: plotly took
# seconds to lay them out, and at that size the points are unreadable at a panel's 270 px anyway.
GRID_POINT_BUDGET = 2000


# -- catalogue helpers --------------------------------------------------------------------
def title(study) -> str:
    return W.page_title(study, ID)


def words(study) -> W.PageText:
    return W.page_text(study, ID)


def subset_codes(study) -> list[str]:
    """The page's parameters: study.toml [pages.comparison] datasets / parcat1 when set, else every parameter."""
    return [p.code for p in W.page_params(study, ID)]


def default_reference(study) -> str | None:
    """The study's reference arm ([arms] reference, else the ADaM default): every between-arm statistic's."""
    if getattr(study, "reference_arm", None) in study.arm_codes:
        return study.reference_arm
    return study.arms[0].code if study.arms else None


def default_code(study) -> str | None:
    """[pages.comparison] parameter, else the first parameter offered."""
    return W.default_parameter(study, ID)


def _strip_unit(name: str, unit: str) -> str:
    if unit and name.rstrip().endswith(f"({unit})"):
        return name.rstrip()[: -len(unit) - 2].rstrip()
    return name


def short_name(study, code: str) -> str:
    """'Naive B cells, IgD+CD27- (% of CD19+)' -> 'Naive B cells'."""
    p = study.params[code]
    return _strip_unit(p.name, p.unit).split(", ")[0]


def full_name(study, code: str) -> str:
    p = study.params[code]
    return _strip_unit(p.name, p.unit)


def unit_text(study, code: str) -> str:
    return study.params[code].unit


def group_name(category: str) -> str:
    """'CYTOKINE-PRODUCING T CELLS' -> 'Cytokine-producing T cells' (one-letter words stay capitals)."""
    words = [w if len(w) == 1 else w.lower() for w in category.split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def subset_options(study) -> list[dict]:
    """Dropdown options grouped by PARCAT1: a disabled header, then its subsets."""
    opts, seen = [], None
    for code in subset_codes(study):
        cat = study.params[code].category
        if cat != seen:
            opts.append({"label": html.Span(W.category_label(study, cat) or group_name(cat), className="cmp-opt-group",
                                            style={"fontWeight": 700, "color": "#52606d"}),
                         "value": f"group:{cat}", "disabled": True})
            seen = cat
        opts.append({"label": short_name(study, code), "value": code, "search": full_name(study, code)})
    return opts


def measured_visits(study, codes) -> list[float]:
    vs = set()
    for c in codes:
        vs.update(study.params[c].visits)
    return sorted(vs)


def offered_visits(study, codes, state: F.FilterState) -> list[float]:
    """Visits with data for the subset(s), inside the global timepoint window."""
    lo, hi = state.weeks
    return [v for v in measured_visits(study, codes) if lo <= v <= hi]


def visit_name(study, v: float) -> str:
    """'Week 12'; a visit whose name is not its place on the axis says both: 'Month 3 (week 13.04)'."""
    lab = study.visit_label(v)
    if lab.lower() == study.time_text(v).lower() or (study.time_unit == "week" and lab.lower().startswith("week")):
        return lab
    return f"{lab} ({study.time_text(v)})"


def short_visit(study, v: float) -> str:
    lab = study.visit_label(v)
    return lab if len(lab) <= 9 else (f"Wk {v:g}" if study.time_unit == "week" else f"Visit {v:g}")


def visit_options(study, visits) -> list[dict]:
    return [{"label": visit_name(study, v), "value": v} for v in visits]


def default_visits(offered: list[float], state: F.FilterState) -> tuple[float | None, float | None]:
    """The window's ends when they are measured visits, else the first/last measured one inside it."""
    if not offered:
        return None, None
    lo, hi = state.weeks
    return (lo if lo in offered else offered[0]), (hi if hi in offered else offered[-1])


def population(study, state: F.FilterState) -> pd.Index:
    """Subjects of the selected arms; patients do not shrink it. Each parameter's values are already those
    of its dataset's population (safety data: safety population; efficacy data: efficacy population)."""
    adsl = study.adsl
    mask = F.arm_mask(adsl, state.arm_labels(study))  # by the planned or actual arm: each record carries its arm
    return pd.Index(adsl.loc[mask, "USUBJID"].astype(str))


def population_text(study, codes=None) -> str:
    """The population(s) of the parameters ``codes`` (default: the page's)."""
    return W.population_text(study, subset_codes(study) if codes is None else codes)


def patient_label(study, usubjid: str) -> str:
    prefix = f"{study.study_id}-"
    return usubjid[len(prefix):] if usubjid.startswith(prefix) else usubjid


# -- analysis of one subset -----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SubsetAnalysis:
    code: str
    visit_a: float
    visit_b: float
    arms: tuple[str, ...]
    reference: str
    scale: str
    values: pd.DataFrame  # USUBJID, ARM, TIME, AVAL at the two visits
    pairs: pd.DataFrame  # USUBJID, ARM, a, b, chg, pchg
    within: tuple[PairedResult, ...]  # one per arm, in arm order
    between: BetweenArms


def analyse(study, code: str, va: float, vb: float, arms: list[str], subjects, reference: str,
            scale: str, rows: pd.DataFrame | None = None) -> SubsetAnalysis:
    """``rows``: the parameter's rows when the caller has them (``param_slices``), else the whole frame."""
    m = study.measurements if rows is None else rows
    d = m[(m["PARAMCD"] == code) & m["TIME"].isin([va, vb]) & m["USUBJID"].isin(subjects)]
    d = d[d["ARM"].isin(arms)].dropna(subset=["AVAL"])
    values = d[["USUBJID", "ARM", "TIME", "AVAL"]].copy()
    values["USUBJID"] = values["USUBJID"].astype(str)
    values["ARM"] = values["ARM"].astype(str)
    values = values.reset_index(drop=True)
    pairs = change_frame(values, va, vb, visit="TIME")
    within = []
    for arm in arms:
        p = pairs[pairs["ARM"] == arm]
        within.append(wilcoxon_signed_rank(p["a"].to_numpy(float), p["b"].to_numpy(float)))
    between = compare_arms(pairs, arms, reference, change=scale)
    return SubsetAnalysis(code, va, vb, tuple(arms), reference, scale, values, pairs, tuple(within), between)


def _imputations(study, codes) -> tuple[str, ...]:
    """The sponsor's imputed record types (DTYPE LOCF…) of ``codes``: this page does not use them."""
    return tuple(sorted({t for c in codes for t in getattr(study.params[c], "imputations", ())}))


def _decimals(values) -> int:
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().abs()
    return 1 if len(v) and v.median() >= 10 else 2


def summary_numbers(res: SubsetAnalysis) -> pd.DataFrame:
    """Numeric per-arm summary: n, median, Q1, Q3 at each timepoint; n pairs and changes."""
    rows = []
    for arm, w in zip(res.arms, res.within):
        row = {"ARM": arm}
        for tag, v in (("1", res.visit_a), ("2", res.visit_b)):
            x = res.values.loc[(res.values["ARM"] == arm) & (res.values["TIME"] == v), "AVAL"]
            q1, med, q3 = (x.quantile([0.25, 0.5, 0.75]).tolist() if len(x) else (np.nan,) * 3)
            row.update({f"N{tag}": len(x), f"MEDIAN{tag}": med, f"Q1_{tag}": q1, f"Q3_{tag}": q3})
        p = res.pairs[res.pairs["ARM"] == arm]
        c = p["chg"]
        q1c, medc, q3c = c.quantile([0.25, 0.5, 0.75]).tolist() if len(c) else (np.nan,) * 3
        pc = p["pchg"].dropna()
        row.update({"N_PAIRS": len(p), "MEDIAN_CHG": medc, "Q1_CHG": q1c, "Q3_CHG": q3c,
                    "MEDIAN_PCHG": pc.median() if len(pc) else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


# -- tables -------------------------------------------------------------------------------
def _f(x, dec=2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{dec}f}"


def _signed(x, dec=2, suffix="") -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:+.{dec}f}{suffix}"


def summary_table(study, res: SubsetAnalysis) -> pd.DataFrame:
    dec = _decimals(res.values["AVAL"])
    la, lb = short_visit(study, res.visit_a), short_visit(study, res.visit_b)
    rows = []
    for arm, w in zip(res.arms, res.within):
        def vals(v):
            return res.values.loc[(res.values["ARM"] == arm) & (res.values["TIME"] == v), "AVAL"]

        a, b = vals(res.visit_a), vals(res.visit_b)
        p = res.pairs[res.pairs["ARM"] == arm]
        rows.append({
            "Arm": arm,
            f"n {la}": str(len(a)),
            f"{la}: median [Q1, Q3]": median_iqr(a, dec),
            f"n {lb}": str(len(b)),
            f"{lb}: median [Q1, Q3]": median_iqr(b, dec),
            "n pairs": str(len(p)),
            "Median change [Q1, Q3]": median_iqr(p["chg"], dec),
            "Median % change": _signed(p["pchg"].median(), 1, "%") if p["pchg"].notna().any() else "–",
        })
    return pd.DataFrame(rows)


def stats_table(study, res: SubsetAnalysis) -> pd.DataFrame:
    """One row per test: the method named first, then comparison, n, estimate [95% CI], p, Holm p."""
    dec = _decimals(res.values["AVAL"])
    la, lb = short_visit(study, res.visit_a), short_visit(study, res.visit_b)
    scale = SCALE_TEXT[res.scale]
    unit = "%" if res.scale == "pchg" else ""
    rows = []

    def add(method, comparison, n, est, p, p_adj=""):
        rows.append({"Method": method, "Comparison": comparison, "n": n, "Estimate [95% CI]": est,
                     "p": p, "p (Holm)": p_adj})

    # An arm without a single pair: say why (the cause in the data), not only "n = 0".
    no_pairs = {arm: explain.arm_pairs_cause(res.values, arm, res.visit_a, res.visit_b, study.visit_label(res.visit_a),
                                             study.visit_label(res.visit_b), reference=arm == res.reference)
                for arm, w in zip(res.arms, res.within) if w.n_pairs == 0}
    for arm, w in zip(res.arms, res.within):
        if not w.ok:
            est = sentence(no_pairs[arm]) if no_pairs.get(arm) else w.note
        elif w.has_ci:
            est = f"HL {_signed(w.estimate, dec)} [{_f(w.ci_low, dec)}, {_f(w.ci_high, dec)}]" + _ci_note(
                w.ci_exact, w.conf_level)
        else:
            est = f"HL {_signed(w.estimate, dec)} (no CI)"
        add(_short_method(w.method),
            f"{arm}: {lb} vs {la}", f"{w.n_pairs} pairs" + (f" ({w.zeros} zero)" if w.zeros == 1 else
                                                            f" ({w.zeros} zeros)" if w.zeros else ""),
            est, format_p(w.p_value) if w.ok else "–")
    if len(res.arms) < 2:
        return pd.DataFrame(rows)
    kw = res.between.kruskal
    ns = " / ".join(str(res.between.n.get(a, 0)) for a in res.arms)
    add("Kruskal–Wallis", f"All arms, {scale}", ns, f"H = {kw.statistic:.2f}, df {kw.df}" if kw.ok else kw.note,
        format_p(kw.p_value) if kw.ok else "–")
    for t in res.between.pairs:
        empty = next((no_pairs[x] for x in (t.a, t.b) if no_pairs.get(x)), None)
        dd = 1 if unit else dec
        shift = (f"HL shift {_signed(t.estimate, dd, unit)} [{_f(t.ci_low, dd)}, {_f(t.ci_high, dd)}]"
                 + _ci_note(t.ci_exact, t.conf_level)) if t.ok else (sentence(empty) if empty else t.note)
        add(_short_method(t.method),
            f"{t.b} vs {t.a}, {scale}", f"{t.n_b} vs {t.n_a}", shift,
            format_p(t.p_value) if t.ok else "–", format_p(t.p_adjusted) if t.ok else "–")
    an = res.between.ancova
    if an.ok:
        for c in an.contrasts:
            add(f"ANCOVA, adjusted for {la}", f"{c.arm} vs {c.reference}, {lb}", f"{c.n_arm} vs {c.n_reference}",
                f"{_signed(c.estimate, dec)} [{_f(c.ci_low, dec)}, {_f(c.ci_high, dec)}]", format_p(c.p_value))
        if an.f_p_value is not None and len(an.contrasts) > 1:
            add("ANCOVA F-test", f"Arm effect, {lb}", f"{an.n} in model",
                f"F = {an.f_statistic:.2f} ({an.f_df[0]}, {an.f_df[1]} df)", format_p(an.f_p_value))
    else:
        add(f"ANCOVA, adjusted for {la}", f"Arms vs {an.reference}", str(an.n), ancova_note(study, res), "–")
    return pd.DataFrame(rows)


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def ancova_note(study, res: SubsetAnalysis) -> str:
    """Why there is no ANCOVA: the cause found in the data (explain.pairs_cause), else the test's own note."""
    why = explain.pairs_cause(res.values, res.reference, res.visit_a, res.visit_b, study.visit_label(res.visit_a),
                              study.visit_label(res.visit_b), list(res.arms))
    return f"No ANCOVA: {why}" if why else res.between.ancova.note
def _ci_note(exact: bool, level) -> str:
    """Nothing for an exact 95% CI; else what it is (the caption says the rest)."""
    level = 0.95 if level is None else level
    mark = "" if exact else APPROX_MARK
    return mark + ("" if abs(level - 0.95) < 1e-12 else f" ({100 * level:.4g}% CI)")


def _short_method(method: str) -> str:
    """The table's method column: the caption spells out the continuity correction."""
    return (method.replace("normal approximation with continuity correction", "approx.")
            .replace("ties or zero differences", "ties, zeros").replace("zero differences", "zeros"))


def grid_table(study, results: list[SubsetAnalysis]) -> pd.DataFrame:
    """Per subset: median change per arm (within-arm Wilcoxon p), Kruskal–Wallis p, pairwise Holm p."""
    rows = []
    for res in results:
        row = {W.sentence(words(study).noun): short_name(study, res.code)}
        summ = summary_numbers(res)
        dec = _decimals(res.values["AVAL"])
        for (_, s), w in zip(summ.iterrows(), res.within):
            row[s["ARM"]] = f"{_signed(s['MEDIAN_CHG'], dec)} ({format_p(w.p_value) if w.ok else 'n < 3'})"
        kw = res.between.kruskal
        if len(res.arms) >= 2:
            row["Kruskal–Wallis"] = format_p(kw.p_value) if kw.ok else "–"
        for t in res.between.pairs:
            row[f"{study.arm_by_label[t.b].code} vs {study.arm_by_label[t.a].code}"] = (
                format_p(t.p_adjusted) if t.ok else "–")
        rows.append(row)
    return pd.DataFrame(rows)


def export_frame(study, results: list[SubsetAnalysis]) -> pd.DataFrame:
    """Machine-readable: one row per subset × arm (summary and within-arm test), then one per between-arm test."""
    rows = []
    for res in results:
        base = {"PARAMCD": res.code, "PARAM": study.params[res.code].name,
                "VISIT1": res.visit_a, "VISIT2": res.visit_b}
        summ = summary_numbers(res)
        for (_, s), w in zip(summ.iterrows(), res.within):
            rows.append({**base, "ROW": "summary + within-arm", "ARM": s["ARM"], "COMPARATOR": "",
                         **{k: s[k] for k in summ.columns if k != "ARM"},
                         "ESTIMATE": w.estimate, "CI_LOW": w.ci_low, "CI_HIGH": w.ci_high,
                         "STATISTIC": w.statistic, "P": w.p_value, "P_ADJ": None,
                         "METHOD": f"{w.method}; {w.estimate_name}", "NOTE": w.note})
        kw = res.between.kruskal
        rows.append({**base, "ROW": f"between arms ({res.scale})", "ARM": "all", "COMPARATOR": "",
                     "STATISTIC": kw.statistic, "P": kw.p_value, "METHOD": kw.method, "NOTE": kw.note})
        for t in res.between.pairs:
            rows.append({**base, "ROW": f"between arms ({res.scale})", "ARM": t.b, "COMPARATOR": t.a,
                         "N1": t.n_a, "N2": t.n_b, "ESTIMATE": t.estimate, "CI_LOW": t.ci_low, "CI_HIGH": t.ci_high,
                         "STATISTIC": t.statistic,
                         "P": t.p_value, "P_ADJ": t.p_adjusted,
                         "METHOD": f"{t.method}; Hodges–Lehmann shift; {t.adjustment} adjusted", "NOTE": t.note})
        an = res.between.ancova
        for c in an.contrasts:
            rows.append({**base, "ROW": "ANCOVA", "ARM": c.arm, "COMPARATOR": c.reference, "N1": c.n_reference,
                         "N2": c.n_arm, "ESTIMATE": c.estimate, "CI_LOW": c.ci_low, "CI_HIGH": c.ci_high,
                         "P": c.p_value, "METHOD": an.method, "NOTE": ""})
        if not an.ok:
            rows.append({**base, "ROW": "ANCOVA", "ARM": "", "COMPARATOR": an.reference, "METHOD": an.method,
                         "NOTE": ancova_note(study, res)})
    return pd.DataFrame(rows)


# -- figure -------------------------------------------------------------------------------
def _jitter(usubjid: str) -> float:
    """Deterministic horizontal offset per patient (same in every process and every view)."""
    return ((zlib.crc32(usubjid.encode()) % 1001) / 1000.0 - 0.5) * 2 * JITTER


class _Scale:
    """Bracket geometry computed in display space (log10 when the axis is log)."""

    def __init__(self, log: bool):
        self.log = log

    def fwd(self, y):
        return math.log10(y) if self.log else y

    def back(self, y):
        return 10 ** y if self.log else y


def is_large(res: SubsetAnalysis) -> bool:
    """More than ``MAX_POINTS`` patients in one of the subset's boxes."""
    v = res.values
    return bool(len(v)) and int(v.groupby(["ARM", "TIME"]).size().max()) > MAX_POINTS


def _within_whiskers(vals: pd.DataFrame, highlight) -> pd.DataFrame:
    """Rows inside their box's whiskers (Q1 − 1.5 IQR to Q3 + 1.5 IQR), and every chosen patient's row."""
    if vals.empty:
        return vals
    q = vals.groupby(["ARM", "TIME"])["AVAL"].quantile([0.25, 0.75]).unstack()  # one pass, not a lambda per box
    key = pd.MultiIndex.from_frame(vals[["ARM", "TIME"]])
    q1 = pd.Series(q[0.25].reindex(key).to_numpy(), index=vals.index)
    q3 = pd.Series(q[0.75].reindex(key).to_numpy(), index=vals.index)
    iqr = q3 - q1
    keep = vals["AVAL"].between(q1 - 1.5 * iqr, q3 + 1.5 * iqr) | vals["USUBJID"].isin(list(highlight))
    return vals[keep]


def box_summary(values, x: float) -> dict:
    """go.Box arguments of a box drawn from its statistics: quartiles by linear interpolation (type 7,
    as in the tables), whiskers to the furthest value within 1.5 IQR of the box."""
    v = np.sort(pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(float))
    if not len(v):
        return dict(x=[], y=[])
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    lo, hi = v[v >= q1 - 1.5 * iqr][0], v[v <= q3 + 1.5 * iqr][-1]
    return dict(x=[x], q1=[q1], median=[med], q3=[q3], lowerfence=[lo], upperfence=[hi])


def outline_on(fill: str) -> str:
    """The outline (and median line) of a box filled with ``fill``: dark, or grey on a near-black fill where a
    dark median would be unseen (grey keeps 3:1 against both the fill and the white plot)."""
    r, g, b = (int(fill[i:i + 2], 16) / 255 for i in (1, 3, 5))
    lum = sum(w * (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4) for w, c in ((0.2126, r), (0.7152, g),
                                                                                            (0.0722, b)))
    return "#8a8a8a" if lum < 0.03 else "#1f2933"


def _draw_subset(traces: list, study, res: SubsetAnalysis, highlight: tuple[str, ...], annot: str, log: bool,
                 refs: dict | None = None, grid=False, large: bool | None = None,
                 legend=True) -> tuple[float, float] | None:
    """Boxes, points, paired lines, highlights and brackets of one subset, appended to ``traces`` as plain
    dicts on the axes ``refs`` (a grid's panel). ``large``: boxes from quartiles, no points (None: decided by
    the subset's size); ``legend``: the chosen patients' entry is in the legend. Returns the y range (display
    space)."""
    rc = refs or {}
    unit = unit_text(study, res.code)
    va, vb = res.visit_a, res.visit_b
    vals = res.values
    if log:
        vals = vals[vals["AVAL"] > 0]
    sc = _Scale(log)
    large = is_large(res) if large is None else large
    # the values drawn, which set the y range and the brackets: with aggregated boxes, those within the
    # whiskers and the chosen patients' (outliers are not drawn)
    drawn = _within_whiskers(vals, highlight) if large else vals
    ys_all = drawn["AVAL"].to_numpy(float)
    ys_all = np.log10(ys_all) if log else ys_all
    arm_of, time_of = vals["ARM"].to_numpy(), vals["TIME"].to_numpy(float)
    cells = {(arm, v): vals[(arm_of == arm) & (time_of == v)] for arm in res.arms for v in (va, vb)}  # each once
    for i, arm in enumerate(res.arms):
        a = study.arm_by_label[arm]
        pos = {va: i - BOX_OFFSET, vb: i + BOX_OFFSET}
        for v, fill, tag in ((va, a.light, "1"), (vb, a.colour, "2")):
            d = cells[(arm, v)]
            # always our own quartiles (type 7) and whiskers: plotly's quartile method differs from the table's;
            # the individual values are drawn as their own points below
            data = box_summary(d["AVAL"], pos[v])
            traces.append(dict(
                type="box", **data, name=f"{arm} · {study.visit_label(v)}",
                fillcolor=fill, line=dict(color=a.colour if tag == "1" else outline_on(a.colour), width=1.6),
                marker=dict(color=a.colour), boxpoints=False, width=BOX_WIDTH, showlegend=False,
                legendgroup=arm, hoverinfo="y", meta={"role": "box", "arm": arm, "visit": v, "n": len(d)}, **rc))
        if large:
            continue
        # Paired lines: one segment per patient with both values (None separates segments).
        p = res.pairs[res.pairs["ARM"] == arm]
        if log:
            p = p[(p["a"] > 0) & (p["b"] > 0)]
        lx, ly = [], []
        for s in p.itertuples():
            j = _jitter(s.USUBJID)
            lx += [pos[va] + j, pos[vb] + j, None]
            ly += [s.a, s.b, None]
        traces.append(dict(
            type="scatter", x=lx, y=ly, mode="lines", line=dict(color=a.colour, width=1), opacity=0.45,
            hoverinfo="skip", showlegend=False, meta={"role": "pairs", "arm": arm, "subjects": p["USUBJID"].tolist()},
            **rc))
        for v, tag in ((va, "1"), (vb, "2")):
            d = cells[(arm, v)]
            traces.append(dict(
                type="scatter", x=[pos[v] + _jitter(u) for u in d["USUBJID"]], y=d["AVAL"].tolist(), mode="markers",
                marker=dict(size=6 if grid else 8, color=a.light if tag == "1" else a.colour,
                            symbol=arm_symbol(study, arm),  # the arm's marker shape, as on every page
                            line=dict(color=a.colour if tag == "1" else "#ffffff", width=1)),
                customdata=[[u, study.visit_label(v), arm] for u in d["USUBJID"]],
                hovertemplate=f"%{{customdata[0]}}<br>%{{customdata[1]}} · %{{customdata[2]}}<br>"
                              f"%{{y:.2f}} {unit}<extra></extra>",
                showlegend=False, meta={"role": "points", "arm": arm, "visit": v}, **rc))
    # Highlighted patients (global patient filter): thick line, outlined markers, label.
    arm_idx = {a: i for i, a in enumerate(res.arms)}
    hx, hy, ht, hc, lxs, lys = [], [], [], [], [], []
    for u in highlight:
        d = vals[vals["USUBJID"] == u]
        if d.empty:
            continue
        i = arm_idx[str(d["ARM"].iloc[0])]
        pos = {va: i - BOX_OFFSET, vb: i + BOX_OFFSET}
        pts = [(pos[v] + _jitter(u), float(d.loc[d["TIME"] == v, "AVAL"].iloc[0]), v) for v in (va, vb)
               if (d["TIME"] == v).any()]
        for k, (x, y, v) in enumerate(pts):
            hx.append(x)
            hy.append(y)
            ht.append(patient_label(study, u) if k == len(pts) - 1 else "")
            hc.append([u, study.visit_label(v)])
        if len(pts) == 2:
            lxs += [pts[0][0], pts[1][0], None]
            lys += [pts[0][1], pts[1][1], None]
    chosen = [u for u in highlight if u in set(vals["USUBJID"])]
    if chosen:
        traces.append(dict(type="scatter", x=lxs, y=lys, mode="lines", line=dict(color="#111111", width=2.5),
                           hoverinfo="skip", showlegend=False, meta={"role": "highlight-lines", "subjects": chosen},
                           **rc))
        traces.append(dict(
            type="scatter", x=hx, y=hy, mode="markers+text", text=ht, textposition="middle right",
            textfont=dict(size=13, color="#111111"),
            marker=dict(size=11 if grid else 13, color="#ffd400", symbol="diamond", line=dict(color="#111111", width=2)),
            customdata=hc, hovertemplate=f"%{{customdata[0]}} (chosen)<br>%{{customdata[1]}}<br>%{{y:.2f}} {unit}<extra></extra>",
            name="Chosen patients", showlegend=legend, meta={"role": "highlight", "subjects": chosen}, **rc))
    if not len(ys_all):
        return None
    lo, hi = float(ys_all.min()), float(ys_all.max())
    span = (hi - lo) or (abs(hi) or 1.0)
    top = hi
    fs = 13 if grid else 15

    def bracket(x0, x1, y, text, meta):
        tick = 0.025 * span
        traces.append(dict(type="scatter", x=[x0, x0, x1, x1],
                           y=[sc.back(y - tick), sc.back(y), sc.back(y), sc.back(y - tick)], mode="lines",
                           line=dict(color="#3e4c59", width=1.3), hoverinfo="skip", showlegend=False,
                           meta={"role": "bracket", **meta}, **rc))
        traces.append(dict(type="scatter", x=[(x0 + x1) / 2], y=[sc.back(y + 0.045 * span)], mode="text",
                           text=[text], textfont=dict(size=fs, color="#1f2933"), hoverinfo="skip", showlegend=False,
                           meta={"role": "bracket-label", **meta}, **rc))

    if annot == "within":
        for i, (arm, w) in enumerate(zip(res.arms, res.within)):
            ys = [sc.fwd(y) for y in drawn.loc[drawn["ARM"] == arm, "AVAL"]]
            if not ys:
                continue
            y = max(ys) + 0.07 * span
            text = (format_p(w.p_value) + (APPROX_MARK if _is_approx(w.method) else "")) if w.ok else f"n = {w.n_pairs} pairs"
            bracket(i - BOX_OFFSET, i + BOX_OFFSET, y, text, {"kind": "within", "arm": arm, "p": w.p_value})
            top = max(top, y + 0.1 * span)
    elif annot == "between":
        idx = {a: i for i, a in enumerate(res.arms)}
        pairs = sorted(res.between.pairs, key=lambda t: (abs(idx[t.b] - idx[t.a]), idx[t.a]))
        for k, t in enumerate(pairs):
            y = hi + (0.1 + 0.13 * k) * span
            text = (format_p(t.p_adjusted) + (APPROX_MARK if _is_approx(t.method) else "")) if t.ok else "n < 3"
            bracket(idx[t.a], idx[t.b], y, text, {"kind": "between", "a": t.a, "b": t.b, "p": t.p_adjusted})
            top = max(top, y + 0.1 * span)
    return lo - 0.05 * span, top + 0.03 * span


APPROX_MARK = "†"  # bracket label of a p-value from the normal approximation (ties, zero differences, n ≥ 50)


def _is_approx(method: str) -> bool:
    return not method.endswith("exact")


def _method_caption(study, results: list[SubsetAnalysis], annot: str) -> str:
    """The method behind the brackets, said once for the figure (and stamped into its PNG)."""
    if not results:
        return ""
    res = results[0]
    la, lb = study.visit_label(res.visit_a), study.visit_label(res.visit_b)
    if annot == "within":
        approx = any(_is_approx(w.method) for r in results for w in r.within if w.ok)
        how = (f"exact unless marked {APPROX_MARK} (normal approximation with continuity correction, as R: ties, "
               f"zero differences or n ≥ 50)") if approx else "exact"
        return f"Brackets: Wilcoxon signed-rank test ({how}), {lb} vs {la} within each arm"
    if annot == "between":
        if blinding.between_arms_na(study):
            return f"Between arms: {blinding.between_arms_na(study)}"
        approx = any(_is_approx(t.method) for r in results for t in r.between.pairs if t.ok)
        how = (f"exact unless marked {APPROX_MARK} (normal approximation with continuity correction, as R: ties "
               f"or n ≥ 50)") if approx else "exact"
        kw = ""
        if len(results) == 1 and res.between.kruskal.ok:
            kw = f"; Kruskal–Wallis {format_p(res.between.kruskal.p_value)}"
        n_pairs = len(res.between.pairs)
        return (f"Brackets: Mann–Whitney U ({how}) on {SCALE_TEXT[res.scale]} {la}→{lb}, "
                f"Holm-adjusted over {n_pairs} pair{'s' if n_pairs != 1 else ''}{kw}")
    return "No p-value annotations"


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks between 10**lo and 10**hi (fewer when the range spans many decades)."""
    k0, k1 = math.floor(lo), math.ceil(hi)
    steps = (1, 2, 5) if k1 - k0 <= 3 else (1,)
    vals = [m * 10 ** k for k in range(k0, k1 + 1) for m in steps]
    return [v for v in vals if 10 ** lo <= v <= 10 ** hi]


def _value_axis(yr, log: bool) -> dict:
    """A subset's value axis: linear or log, the range of the values drawn (``yr``, display space, None when
    nothing is drawn), 1-2-5 ticks on a log axis."""
    axis = dict(type="log" if log else "linear", zeroline=False)
    if yr:
        axis["range"] = list(yr)
        if log:
            axis.update(tickvals=_log_ticks(*yr), tickformat="~g")
    return axis


def single_figure(study, res: SubsetAnalysis, highlight, annot: str, log: bool, state=None) -> go.Figure:
    """One subset's boxes at the two timepoints per arm; built as plain dicts and validated once (theme)."""
    traces: list[dict] = []
    yr = _draw_subset(traces, study, res, highlight, annot, log)
    tickvals, ticktext = [], []
    for i, _arm in enumerate(res.arms):
        tickvals += [i - BOX_OFFSET, i + BOX_OFFSET]
        ticktext += [short_visit(study, res.visit_a), short_visit(study, res.visit_b)]
    annotations = [dict(x=i, y=0, yref="paper", yshift=-34, yanchor="top", showarrow=False, text=f"<b>{arm}</b>",
                        font=dict(size=15, color=study.arm_by_label[arm].colour)) for i, arm in enumerate(res.arms)]
    unit = unit_text(study, res.code)
    yaxis = dict(title=dict(text=clip(short_name(study, res.code), 34) + (f" ({unit})" if unit else "")),
                 **_value_axis(yr, log))
    if not len(res.values):
        annotations.append(dict(text="No values in the filter at these timepoints", x=0.5, y=0.5, xref="paper",
                                yref="paper", showarrow=False, font=dict(size=16)))
    layout = base_layout(margin=dict(l=80, r=30, t=60, b=115), height=SINGLE_HEIGHT,
                         title=dict(text=clip(full_name(study, res.code), 110), x=0.01, y=0.98, font=dict(size=17)),
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=1, xanchor="right"),
                         xaxis=dict(tickvals=tickvals, ticktext=ticktext, range=[-0.6, len(res.arms) - 0.4],
                                    showgrid=False, zeroline=False, tickfont=dict(size=14)),
                         yaxis=yaxis, annotations=annotations)
    fig = go.Figure(data=traces, layout=layout)
    stamp(fig, study, _method_caption(study, [res], annot), state=state)
    return fig


def grid_summarised(results: list[SubsetAnalysis]) -> bool:
    """The grid draws boxes from their quartiles (no points) when it would hold more than GRID_POINT_BUDGET values."""
    return any(is_large(r) for r in results) or sum(len(r.values) for r in results) > GRID_POINT_BUDGET


def wrap_label(text: str, width: int) -> str:
    """An arm name on lines of at most ``width`` characters (words kept whole), HTML-escaped for plotly."""
    lines, line = [], ""
    for word in str(text).split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "<br>".join(html_escape(x) for x in lines)


def arm_ticks(study, arms, panel_px: float) -> list[str]:
    """Arm names under a grid panel, in the arm's colour, wrapped to the room each arm has (never rotated)."""
    width = max(6, int(panel_px / max(1, len(arms)) / 7.2))
    return [f"<span style='color:{study.arm_by_label[a].colour}'><b>{wrap_label(a, width)}</b></span>" for a in arms]


def grid_figure(study, results: list[SubsetAnalysis], highlight, annot: str, log: bool, state=None) -> go.Figure:
    """A panel per subset, GRID_COLS to a row; built as plain dicts and validated once (theme): through
    add_trace(row, col) the 8-panel grid took ~300 ms at LSO-088 size."""
    n = len(results)
    summarise = grid_summarised(results)
    rows = max(1, math.ceil(n / GRID_COLS))
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    layout, at = subplot_grid(rows, GRID_COLS, horizontal_spacing=0.065,
                              vertical_spacing=min(0.15, 80 / (rows * GRID_ROW_HEIGHT)) if rows > 1 else 0.1)
    annotations = panel_titles([f"<b>{letters[k] if k < 26 else k + 1}</b>  {clip(short_name(study, r.code), 30)}"
                                for k, r in enumerate(results)], at, 15)
    traces: list[dict] = []
    for k, res in enumerate(results):
        yr = _draw_subset(traces, study, res, highlight, annot, log, refs=panel_refs(k + 1), grid=True,
                          large=summarise, legend=k == 0)
        layout[axis_key("x", k + 1)].update(
            tickvals=list(range(len(res.arms))), ticktext=arm_ticks(study, res.arms, GRID_PANEL_PX),
            range=[-0.6, len(res.arms) - 0.4], tickangle=0, showgrid=False, zeroline=False, tickfont=dict(size=13))
        layout[axis_key("y", k + 1)].update(title=dict(text=unit_text(study, res.code), font=dict(size=13)),
                                            tickfont=dict(size=13), **_value_axis(yr, log))
    for k in range(n, rows * GRID_COLS):  # the last row's empty cells: no empty frame
        layout[axis_key("x", k + 1)]["visible"] = False
        layout[axis_key("y", k + 1)]["visible"] = False
    first = results[0] if results else None
    legend_txt = ""
    if first is not None:
        legend_txt = (f"Each arm: left box {study.visit_label(first.visit_a)} (lighter), right box "
                      f"{study.visit_label(first.visit_b)}"
                      + ("; boxes from quartiles (points not drawn)." if summarise
                         else "; lines join each patient's two values."))
    annotations.append(dict(text=legend_txt, xref="paper", yref="paper", x=0, y=1.0, yshift=46, xanchor="left",
                            yanchor="bottom", showarrow=False, font=dict(size=13)))
    height = rows * GRID_ROW_HEIGHT + 120
    layout.update(base_layout(margin=dict(l=60, r=20, t=95, b=90), height=height, showlegend=bool(highlight),
                              legend=dict(orientation="h", yref="container", y=1 - 40 / height, yanchor="middle",
                                          x=1, xanchor="right"),
                              annotations=annotations))
    fig = go.Figure(data=traces, layout=layout)
    stamp(fig, study, _method_caption(study, results, annot), state=state)
    return fig


def _label(text, for_id):
    return html.Label(text, htmlFor=for_id, className="filter-label")


def layout(study):
    codes = subset_codes(study)
    text = words(study)
    state = F.default_state(study)
    offered = offered_visits(study, codes[:1] if codes else [], state)
    va, vb = default_visits(offered, state)
    arms = [{"label": a.label, "value": a.code} for a in study.arms]
    radio_style = dict(inline=True, inputClassName="me-1", labelClassName="me-3")
    controls = dbc.Card(dbc.CardBody([
        dbc.Row([
            dbc.Col([_label("View", "cmp-view"),
                     dbc.RadioItems(id="cmp-view", value="single", options=[
                         {"label": text.single_view, "value": "single"},
                         {"label": f"{text.grid_view} (all {len(codes)})", "value": "grid"}], **radio_style)], md=3),
            dbc.Col([_label(text.parameter_label, "cmp-param"),
                     dcc.Dropdown(id="cmp-param", options=subset_options(study), value=default_code(study),
                                  clearable=False, searchable=True, maxHeight=360)], md=3),
            dbc.Col([_label("Timepoint 1", "cmp-visit-a"),
                     dcc.Dropdown(id="cmp-visit-a", options=visit_options(study, offered), value=va,
                                  clearable=False, searchable=False)], md=2),
            dbc.Col([_label("Timepoint 2", "cmp-visit-b"),
                     dcc.Dropdown(id="cmp-visit-b", options=visit_options(study, offered), value=vb,
                                  clearable=False, searchable=False)], md=2),
            dbc.Col([_label("Scale", "cmp-log"),
                     dbc.Checklist(id="cmp-log", options=[{"label": "Log y-axis", "value": "log"}], value=[],
                                   switch=True)], md=2),
        ], className="g-2 align-items-end"),
        dbc.Row([
            dbc.Col([_label("p-values on the figure", "cmp-annot"),
                     dbc.RadioItems(id="cmp-annot", value="within", options=[
                         {"label": "Within arm", "value": "within"},
                         {"label": "Between arms", "value": "between"},
                         {"label": "None", "value": "none"}], **radio_style)], md=3),
            dbc.Col([_label("Between-arm rank tests on", "cmp-scale"),
                     dbc.RadioItems(id="cmp-scale", value="pchg", options=[
                         {"label": "% change", "value": "pchg"},
                         {"label": "Absolute change", "value": "chg"}], **radio_style)], md=3),
            dbc.Col([_label("ANCOVA reference arm", "cmp-ref"),
                     dcc.Dropdown(id="cmp-ref", options=arms, value=default_reference(study),
                                  clearable=False, searchable=False)], md=2),
            dbc.Col(html.Div(
                [dbc.Button("Download table (CSV)", id="cmp-csv-btn", color="secondary", outline=True, size="sm"),
                 dcc.Download(id="cmp-csv")], className="text-end"), md=4),
        ], className="g-2 mt-1 align-items-end"),
    ], className="py-2"), className="mb-2")
    return html.Div([
        html.H1([text.heading + " ",
                 html.Small(" · ".join([t for t in (text.subheading, "simulated data" if study.simulated else "") if t]),
                            className="text-muted", style={"fontSize": "1rem"})],
                className="page-title"),
        controls,
        dbc.Alert(id="cmp-message", color="warning", is_open=False, className="py-2"),
        dbc.Card(dbc.CardBody([
            dcc.Graph(id="cmp-fig", config=graph_config(f"{study.study_id}-comparison")),
            html.Div(id="cmp-caption", className="caption"),
            figure_tools.toolbar("cmp", "cmp-fig", f"{study.study_id}-comparison", data=False, deck=True),
        ], className="p-2"), className="mb-3"),
        dbc.Card([dbc.CardHeader(html.Div([html.Span("Summary and statistics", className="me-auto"),
                                           deck.add_button("stats", "Add tables to deck")],
                                          className="d-flex align-items-center")),
                  dbc.CardBody(html.Div(id="cmp-tables"))],
                 className="mb-3"),
    ])


# -- callbacks: validation ------------------------------------------------------------------
class Forged(Exception):
    """An input no control can send: answer with no update."""


def _visit(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Forged
    return float(value)


def _checked(study, store, view, code, annot, log, scale, ref):
    state = F.from_store(store, study)
    if state is None:
        raise Forged
    codes = subset_codes(study)
    if view not in VIEWS or annot not in ANNOTATIONS or scale not in SCALES:
        raise Forged
    if not isinstance(code, str) or code not in codes:
        raise Forged
    if not isinstance(log, list) or len(log) > 1 or any(v != "log" for v in log):
        raise Forged
    if not isinstance(ref, str) or ref not in study.arm_codes:
        raise Forged
    return state, codes, bool(log)


def _visits_message(study, state, shown_codes, va, vb) -> str | None:
    """A readable reason when the two timepoints cannot be compared; None when they can."""
    if va is None or vb is None:
        return "Choose two timepoints."
    if va == vb:
        return f"Both timepoints are {visit_name(study, va)}: choose two different visits."
    measured = measured_visits(study, shown_codes)
    for v in (va, vb):
        if v not in measured:
            what = short_name(study, shown_codes[0]) if len(shown_codes) == 1 else f"these {words(study).nouns}"
            return f"There is no measurement of {what} at {visit_name(study, v)}."
    lo, hi = state.weeks
    for v in (va, vb):
        if not lo <= v <= hi:
            return (f"{visit_name(study, v)} is outside the timepoint window ({study.time_word}s {lo:g}–{hi:g}); "
                    f"widen the window to use it.")
    return None


def _reference(study, state, ref_code) -> tuple[str, str]:
    labels = state.arm_labels(study)
    ref = study.arm_by_code[ref_code].label
    if ref in labels:
        return ref, ""
    return labels[0], f"Reference arm {ref} is not in the arm filter: ANCOVA uses {labels[0]}."


def _request(study, store, view, code, va, vb, annot, log, scale, ref):
    """Validate one request of the page, for the figure and the code panel alike.

    Returns (state, shown codes, visit a, visit b, log, message); visits are in time order
    unless ``message`` says why they cannot be used. Forged values end in PreventUpdate.
    """
    try:
        state, codes, log = _checked(study, store, view, code, annot, log, scale, ref)
        va, vb = _visit(va), _visit(vb)
    except Forged:
        raise PreventUpdate from None
    shown = codes if view == "grid" else [code]
    msg = _visits_message(study, state, shown, va, vb)
    if not msg:
        va, vb = sorted((va, vb))
    return state, shown, va, vb, log, msg


def pickers(study, store, view, code, va, vb, keep_invalid: bool = False):
    """(visit options, visit a, visit b): the visits with data for the subset(s) shown inside the window.

    A chosen visit that is still offered is kept (Back/Forward and a link restore it), else the window's
    end (or the nearest measured visit); ``keep_invalid``: the user has just picked the visits, which are
    kept as they are (a visit without data then gets a message). A forged value ends in PreventUpdate.
    """
    state = F.from_store(store, study)
    codes = subset_codes(study)
    if state is None or view not in VIEWS or not isinstance(code, str) or code not in codes:
        raise PreventUpdate
    try:
        va, vb = _visit(va), _visit(vb)
    except Forged:
        raise PreventUpdate from None
    offered = offered_visits(study, codes if view == "grid" else [code], state)
    if not keep_invalid:
        da, db = default_visits(offered, state)
        va = va if va in offered else da
        vb = vb if vb in offered else db
    return visit_options(study, offered), va, vb


def initial_view(study, state, tree, values) -> None:
    """The page as a link opens it: the timepoint pickers offer the visits of its window and subset."""
    try:
        view, code = tree["cmp-view"].value, tree["cmp-param"].value
        opts, va, vb = pickers(study, state.to_store(), view, code, tree["cmp-visit-a"].value,
                               tree["cmp-visit-b"].value)
    except (KeyError, PreventUpdate):
        return
    tree["cmp-visit-a"].options = tree["cmp-visit-b"].options = opts
    tree["cmp-visit-a"].value, tree["cmp-visit-b"].value = va, vb


def code_script(study, store, view, code, va, vb, annot, log, scale, ref) -> str:
    """The Show-code script of the current view, validated exactly as the figure callback does."""
    state, shown, va, vb, _, msg = _request(study, store, view, code, va, vb, annot, log, scale, ref)
    if msg:
        return f"# {codegen.comment(msg)}"
    reference, _ = _reference(study, state, ref)
    return codegen.comparison_script(study, state, shown, va, vb, scale, reference, state.arm_labels(study))


CODE_INPUTS = [(FILTER_STORE, "data"), ("cmp-view", "value"), ("cmp-param", "value"), ("cmp-visit-a", "value"),
               ("cmp-visit-b", "value"), ("cmp-annot", "value"), ("cmp-log", "value"), ("cmp-scale", "value"),
               ("cmp-ref", "value")]


def register(app, study, cache):
    rows_of = param_slices(study.measurements)  # once: a slice per parameter instead of a mask per request
    figure_tools.register(app, "cmp", CODE_INPUTS, code=lambda *v: code_script(study, *v),
                          code_filename=lambda *v: f"{study.study_id}-comparison")

    def results_for(state, codes, va, vb, scale, ref):
        arms = state.arm_labels(study)
        subjects = population(study, state)
        out = []
        for code in codes:
            key = (state.arms, code, va, vb, scale, ref)
            out.append(cache.get_or_compute(
                "comparison", key, lambda code=code: analyse(study, code, va, vb, arms, subjects, ref, scale,
                                                        rows_of.get(code))))
        return out

    # One callback for the page's view (one request per click): the timepoint pickers follow the subset and
    # the window (the visits with data inside it), then the figure, its caption and the tables.
    @app.callback(
        Output("cmp-fig", "figure"), Output("cmp-caption", "children"), Output("cmp-tables", "children"),
        Output("cmp-message", "children"), Output("cmp-message", "is_open"),
        Output("cmp-visit-a", "options"), Output("cmp-visit-a", "value"),
        Output("cmp-visit-b", "options"), Output("cmp-visit-b", "value"),
        Input(FILTER_STORE, "data"), Input("cmp-view", "value"), Input("cmp-param", "value"),
        Input("cmp-visit-a", "value"), Input("cmp-visit-b", "value"), Input("cmp-annot", "value"),
        Input("cmp-log", "value"), Input("cmp-scale", "value"), Input("cmp-ref", "value"),
        # what the browser shows now: the pickers' lists and the message are sent only when they change
        State("cmp-visit-a", "options"), State("cmp-visit-b", "options"), State("cmp-message", "is_open"),
    )
    def update(store, view, code, va, vb, annot, log, scale, ref, opts_a, opts_b, msg_open):
        out = list(view_of(store, view, code, va, vb, annot, log, scale, ref))
        if out[4] is False and msg_open is False:
            out[3] = out[4] = no_update  # no message, none shown
        for i, now in ((5, opts_a), (6, va), (7, opts_b), (8, vb)):
            out[i] = figure_tools.unless_same(out[i], now)
        return tuple(out)

    def view_of(store, view, code, va, vb, annot, log, scale, ref):
        picked = any(t.startswith("cmp-visit-") for t in ctx.triggered_prop_ids)
        opts, va, vb = pickers(study, store, view, code, va, vb, keep_invalid=picked)
        state, shown, va_s, vb_s, log, msg = _request(study, store, view, code, va, vb, annot, log, scale, ref)
        visits = (opts, va, opts, vb) if not picked else (no_update,) * 4
        if picked and not msg and _visit(va) > _visit(vb):
            # the later timepoint picked first: the pickers (and so the link) follow the page's time order
            visits = (no_update, va_s, no_update, vb_s)
        if msg:
            return (message_figure(study, msg, state), "", None, msg, True, *visits)
        reference, ref_note = _reference(study, state, ref)
        key = (state.key(), view, shown, va_s, vb_s, annot, log, scale, reference, ref_note)
        fig, caption = cache.get_or_compute("cmp-figure", key, lambda: render_figure(
            state, view, shown, va_s, vb_s, annot, log, scale, reference, ref_note))
        tables = cache.get_or_compute("cmp-tables", (*key, code), lambda: render_tables(
            state, view, shown, code, va_s, vb_s, scale, reference))
        return (fig, caption, static(tables), None, False, *visits)

    def render_tables(state, view, shown, code, va, vb, scale, reference):
        """The tables under the figure: one parameter's summary and statistics (in the grid view, the grid's
        summary table, then the full statistics of the parameter chosen in the picker)."""
        results = results_for(state, shown, va, vb, scale, reference)
        text = words(study)
        if view == "grid":
            res = next((r for r in results if r.code == code), results[0])
            tables = [frame_table(grid_table(study, results), "cmp-grid-table"),
                      html.Div("Arm columns: median change (timepoint 2 − timepoint 1) with the within-arm "
                               "Wilcoxon signed-rank p. Kruskal–Wallis p and the pairwise columns (Mann–Whitney U p, "
                               f"Holm-adjusted) are on {SCALE_TEXT[scale]}. Below: the full statistics, with ANCOVA, "
                               f"of the {text.noun} chosen in the {text.parameter_label} picker.",
                               className="caption mb-2"),
                      html.H2(full_name(study, res.code), className="h6 fw-semibold mt-2", id="cmp-detail-title"),
                      frame_table(summary_table(study, res), f"cmp-summary-{res.code}"),
                      frame_table(stats_table(study, res), f"cmp-stats-{res.code}")]
        else:
            res = results[0]
            tables = [frame_table(summary_table(study, res), "cmp-summary-table"),
                      frame_table(stats_table(study, res), "cmp-stats-table")]
        tables.append(html.Div(
            f"Population: {', '.join(results[0].arms)}; {population_text(study, shown)}. Observed values only"
            f"{' (not the sponsor’s imputed records)' if _imputations(study, shown) else ''}. Medians and quartiles: "
            f"{QUANTILE_METHOD}. Change = timepoint 2 − timepoint 1; % change relative to timepoint 1. "
            "Rank tests as R's wilcox.test(conf.int = TRUE) and kruskal.test compute them by default, on changes "
            "at the data's recorded precision (ties are ties of the recorded values). Wilcoxon signed-rank: zero "
            "differences left out of the test, the estimate and the CI (R's convention); exact for fewer than 50 "
            "non-zero differences without ties or zeros, else normal approximation with continuity correction; "
            f"HL = Hodges–Lehmann median difference with its 95% CI, exact unless marked {APPROX_MARK} (approximate); "
            "n pairs (k zeros): k zero differences left out. Mann–Whitney U "
            "(Wilcoxon rank sum): exact when both arms have fewer than 50 values and no ties, else normal "
            "approximation with continuity correction; HL shift with its CI. "
            "ANCOVA: value at timepoint 2 ~ value at timepoint 1 + arm (ordinary least squares), difference vs "
            "the reference arm with t-based 95% CI." + (" Simulated data." if study.simulated else ""),
            className="caption"))
        return tables

    def render_figure(state, view, shown, va, vb, annot, log, scale, reference, ref_note):
        """Figure (JSON-ready: a repeated request only encodes it) and caption of a view, cached whole: rebuilding
        the figure was most of a cache hit."""
        results = results_for(state, shown, va, vb, scale, reference)
        highlight = state.patients
        if view == "grid":
            fig = grid_figure(study, results, highlight, annot, log, state)
        else:
            fig = single_figure(study, results[0], highlight, annot, log, state)
        caption = [_method_caption(study, results, annot) + "."]
        if log and any((r.values["AVAL"] <= 0).any() for r in results):
            caption.append(" Values ≤ 0 are not drawn on the log axis.")
        if highlight:
            shown_p = sorted({u for r in results for u in highlight if u in set(r.values["USUBJID"])})
            missing = [u for u in highlight if u not in shown_p]
            caption.append(f" Highlighted (patient filter): {', '.join(shown_p) or 'none with values here'}.")
            if missing:
                caption.append(f" Not shown (other arm or no value): {', '.join(missing)}.")
        caption.append(" Boxes: all patients of the selected arms; statistics do not depend on the patient filter.")
        if any(is_large(r) for r in results):
            caption.append(f" With more than {MAX_POINTS} patients in a box, boxes are drawn from their quartiles "
                           f"({QUANTILE_METHOD}; whiskers to the furthest value within 1.5 IQR) and the individual "
                           "points and patient lines are not drawn.")
        elif view == "grid" and grid_summarised(results):
            n = sum(len(r.values) for r in results)
            caption.append(f" The grid holds {n:,} values (more than {GRID_POINT_BUDGET:,}): its boxes are drawn from "
                           f"their quartiles ({QUANTILE_METHOD}; whiskers to the furthest value within 1.5 IQR), "
                           f"without the individual points and patient lines; the one-{words(study).noun} view "
                           "draws them.")
        if ref_note:
            caption.append(" " + ref_note)
        return fig.to_plotly_json(), caption

    @app.callback(
        Output("cmp-csv", "data"),
        Input("cmp-csv-btn", "n_clicks"),
        State(FILTER_STORE, "data"), State("cmp-view", "value"), State("cmp-param", "value"),
        State("cmp-visit-a", "value"), State("cmp-visit-b", "value"), State("cmp-scale", "value"),
        State("cmp-ref", "value"),
        prevent_initial_call=True,
    )
    def download(n_clicks, store, view, code, va, vb, scale, ref):
        if not n_clicks:
            raise PreventUpdate
        try:
            state, codes, _ = _checked(study, store, view, code, "none", [], scale, ref)
            va, vb = _visit(va), _visit(vb)
        except Forged:
            raise PreventUpdate from None
        shown = codes if view == "grid" else [code]
        if _visits_message(study, state, shown, va, vb):
            raise PreventUpdate
        va, vb = sorted((va, vb))
        reference, _ = _reference(study, state, ref)
        results = results_for(state, shown, va, vb, scale, reference)
        note = (f"{title(study)}, {visit_name(study, va)} vs {visit_name(study, vb)}; population: selected arms, "
                f"{population_text(study, shown)} (the patient filter only highlights).\n"
                f"Methods: median [Q1, Q3] by {QUANTILE_METHOD}; within arm Wilcoxon signed-rank with "
                f"Hodges–Lehmann CI; between arms Kruskal–Wallis and Mann–Whitney U on {SCALE_TEXT[scale]} "
                f"(Holm-adjusted); rank tests as R's wilcox.test/kruskal.test defaults; ANCOVA (OLS) vs {reference}.")
        csv = csv_with_provenance(export_frame(study, results), study, state, note)
        tag = "grid" if view == "grid" else code
        return dict(content=csv, filename=f"{study.study_id}-comparison-{tag}-wk{va:g}-wk{vb:g}.csv")

    # A click on a patient's point chooses that patient in the global filter (and the patient profile).
    register_patient_click(app, study, "cmp-fig")
