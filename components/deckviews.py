"""A deck item (page, link query, part) -> the validated view it shows, ready for a slide or the report.

A deck tray item is ``{"page": page ID, "query": "?arm=…&param=…", "part": "figure" | …}``. It is
resolved here exactly as the page would open that link: the global filters by
``data.filters.from_query``, the page's own controls by its ``URL_STATE``
(``components.viewstate``), each value checked against what the page offers, then the same
validators and analysis functions the page's callbacks use. Nothing the client sends is drawn as
sent: a value the page would not accept makes the item invalid (``ViewError`` with the reason).

A ``View`` holds what the slides and the report need, page by page: the slide title (naming the
parameter, scale and visits), a native chart when PowerPoint has the chart type (``Chart``), the
page's figure (the report's interactive copy, and the slide picture when there is no native
chart), tables as data frames (``Table``), the method, and speaker notes (filters, methods,
population, the link). This module renders nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis import mmrm as MM
from analysis import safety as SA
from analysis import trajectory as TR
from analysis.descriptive import QUANTILE_METHOD
from analysis.paired import format_p
from components import viewstate as V
from components.export import filter_text
from data import filters as F

MAX_QUERY = 1500  # characters of one item's link query
PARTS = {  # page ID -> {part: what the tray calls it}
    "overview": {"figure": "design figure", "tables": "disposition and baseline tables"},
    "trajectories": {"figure": "figure and statistics", "stats": "statistics tables"},
    "comparison": {"figure": "figure and statistics", "stats": "summary and statistics tables"},
    "safety": {"incidence": "AE incidence chart and table", "summary": "AE overview table",
               "timeline": "AE timeline"},
    "patient": {"figure": "patient profile"},
}
PATIENT_PANELS_PER_SLIDE = 4


class ViewError(ValueError):
    """An item that is not a view of this app (forged or stale): the message says why, in words."""


@dataclass
class Series:
    name: str
    x: list  # numbers (xy charts) or category labels (bar charts)
    y: list  # None where there is no value
    plus: list | None = None  # error bar lengths above / below (xy charts)
    minus: list | None = None
    colour: str = "#1f2933"
    dash: bool = False


@dataclass
class Chart:
    kind: str  # "xy": lines with error bars on a numeric x; "bar": horizontal clustered bars; "column"
    series: list[Series]
    x_title: str
    y_title: str
    categories: list[str] = field(default_factory=list)  # bar / column charts
    log: bool = False
    number_format: str = "0.0"
    x_range: tuple[float, float] | None = None
    x_ticks: list[float] = field(default_factory=list)
    below: "Table | None" = None  # a small table under the chart (n per arm and visit)
    band: tuple[float, float] | None = None  # a reference range, named in the notes


@dataclass
class Table:
    title: str
    frame: pd.DataFrame
    note: str = ""
    colours: dict = field(default_factory=dict)  # first-column text -> arm colour
    groups: set = field(default_factory=set)  # row positions that are group headers
    short: str = "table"  # after a retitled view's title: "<title>: <short>"


@dataclass
class View:
    page: str
    part: str
    link: str  # page path + validated query: reopens the view in the app
    title: str
    state: F.FilterState
    subtitle: str = ""
    chart: Chart | None = None
    figure: go.Figure | None = None  # the page's figure as the app draws it
    pictures: list[tuple[str, go.Figure]] = field(default_factory=list)  # (slide title suffix, figure)
    tables: list[Table] = field(default_factory=list)
    method: str = ""
    notes: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)  # patient header facts


# -- the item -> validated page values ------------------------------------------------------------
class Pages:
    """The app's page modules and their URL controls, resolved once per app."""

    def __init__(self, study, pages):
        self.study = study
        self.by_id = {p.ID: p for p in pages if p.ID in PARTS}
        self.controls = {p.ID: V.url_controls(p, study) for p in self.by_id.values()}

    def parse(self, item) -> tuple[object, str, F.FilterState, dict, str]:
        """(page module, part, filter state, {URL_STATE key: value}, canonical link) of one tray item."""
        if not isinstance(item, dict):
            raise ViewError("not a view of this app")
        page_id, part, query = item.get("page"), item.get("part"), item.get("query", "")
        if not isinstance(page_id, str) or page_id not in self.by_id:
            raise ViewError(f"unknown page {str(page_id)[:40]!r}")
        if not isinstance(part, str) or part not in PARTS[page_id]:
            raise ViewError(f"unknown part {str(part)[:40]!r} of the {page_id} page")
        if query is None:
            query = ""
        if not isinstance(query, str) or len(query) > MAX_QUERY:
            raise ViewError("the view's link is not a link of this app")
        page = self.by_id[page_id]
        ctl = self.controls[page_id]
        try:
            pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True, max_num_fields=V.MAX_FIELDS)
        except ValueError:
            raise ViewError("the view's link has too many parts") from None
        unknown = V.unknown_keys(query, ctl)
        if unknown:
            raise ViewError(f"the link holds {unknown[0][:40]!r}, which the {page_id} page does not have")
        state, notices = F.from_query(query, self.study)
        values, n2 = V.parse_page(query, ctl)
        if notices or n2:
            raise ViewError((notices + n2)[0])
        if any(k == V.PRESENT_KEY and v not in ("0", "1") for k, v in pairs):
            raise ViewError("the link's presentation flag is not 0 or 1")
        full = {c.key: values.get(c.key, c.default) for c in ctl}
        given = {c.key for c in ctl if c.key in values}
        link = page.PATH + V.compose(state.to_query(self.study), V.page_pairs(ctl, values), False)
        return page, part, state, {**full, "_given": given}, link

    def view(self, item, title_only: bool = False) -> View:
        """The item's view; ``title_only``: just its title (the tray's, computed without the analysis)."""
        page, part, state, values, link = self.parse(item)
        return BUILDERS[page.ID](self.study, page, part, state, values, link, title_only)


# -- shared words -----------------------------------------------------------------------------------
def weeks_text(study, state) -> str:
    """The timepoint window in words: 'weeks 0–48' (or 'visits 1–13' on a visit-number axis)."""
    return f"{study.time_word}s {state.weeks[0]:g}–{state.weeks[1]:g}"


def common_notes(study, state, link: str) -> list[str]:
    lk = study.lock
    out = []
    if study.simulated:
        out.append("SIMULATED DATA — not the trial's results.")
    out += [f"Filters: {filter_text(study, state)}.",
            f"Dataset: {study.study_id}, {'locked ' + str(lk.lock_date) if lk.locked else 'UNLOCKED'}, "
            f"fingerprint {lk.short}.",
            f"Reopen this view in the app: {link}"]
    return out


def _f(x, d: int) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{d}f}"


def _ci(est, lo, hi, d) -> str:
    if est is None or not np.isfinite(est):
        return "–"
    if lo is None or not np.isfinite(lo):
        return f"{_f(est, d)} (CI not available)"
    return f"{_f(est, d)} [{_f(lo, d)}, {_f(hi, d)}]"


def _nums(values) -> list:
    return [None if v is None or not np.isfinite(v) else float(v) for v in pd.to_numeric(pd.Series(values),
                                                                                         errors="coerce")]


# -- Overview -----------------------------------------------------------------------------------
def overview_view(study, page, part, state, values, link, title_only=False) -> View:
    from components import overview as O

    notes = common_notes(study, state, link)
    if title_only:
        return View(page.ID, part, link, f"{study.study_id} design: dosing and visit schedule" if part == "figure"
                    else f"{study.study_id}: disposition and baseline characteristics by arm", state)
    if part == "figure":
        fig = O.design_figure(study, state)
        method = ("Dosing: ADEX doses of the most-dosed subject per arm and treatment; visits: scheduled "
                  "visits on the time axis per parameter category.")
        return View(page.ID, part, link, f"{study.study_id} design: dosing and visit schedule", state,
                    subtitle=f"Highlighted: the filter's window, {weeks_text(study, state)}", figure=fig,
                    pictures=[("", fig)], method=method, notes=[method] + notes)
    frame = O.tables_frame(study, state)
    colours = {}
    tables = []
    for name, t in frame.groupby("Table", sort=False):
        t = t.drop(columns=["Table"]).reset_index(drop=True)
        tables.append(Table(f"{name} by arm", t, colours=colours, short=name.lower()))
    method = (f"n (%) of subjects; mean (SD) with the sample SD; median [Q1, Q3] by {QUANTILE_METHOD}. "
              "Population: all randomised subjects in the filter.")
    return View(page.ID, part, link, f"{study.study_id}: disposition and baseline characteristics by arm", state,
                tables=tables, method=method, notes=[method] + notes)


# -- Trajectories -----------------------------------------------------------------------------------
def _clean(fn, *args):
    """A page validator that raises PreventUpdate on a value it refuses -> ViewError."""
    from dash.exceptions import PreventUpdate

    try:
        return fn(*args)
    except PreventUpdate:
        raise ViewError("a control of the view holds a value the page does not offer") from None


def trajectories_view(study, page, part, state, values, link, title_only=False) -> View:
    from components import trajectories as T

    ctl = _clean(T.clean_controls, study, values["view"], values["param"], values["params"], values["scale"],
                 values["stat"], values["opts"], values["patients"])
    sctl = _clean(T.clean_stats_controls, study, values["ref"], values["visit"], values["adjust"], values["cov"],
                  values["ddfm"])
    if not ctl["codes"]:
        raise ViewError("the small multiples hold no parameter")
    labels, subjects, highlighted, pop_notes = T._population(study, state, ctl["patmode"])
    scale_text = T.SCALE_LABELS[ctl["scale"]]
    names = [study.params[c].name for c in ctl["codes"]]
    what = ("geometric mean ± 95% CI" if ctl["log"] else "mean ± 95% CI") if ctl["stat"] == "mean" \
        else "median with IQR"
    single = ctl["mode"] == "single"
    if single:
        title = f"{names[0]}: {scale_text.lower()}, {weeks_text(study, state)}"
    else:
        title = f"{', '.join(n.split(' (')[0] for n in names)}: {scale_text.lower()}, {weeks_text(study, state)}"
    subtitle = f"{what[:1].upper() + what[1:]} by arm" + (" · n per arm and visit below the chart" if single else "")
    if title_only:
        short = ', '.join(n.split(' (')[0] for n in names)
        return View(page.ID, part, link, title if part == "figure" else f"{short}: statistics ({scale_text.lower()})",
                    state)
    fig, summaries = T.trajectory_figure(study, state, ctl)
    restrict = ctl["patmode"] == "restrict" and bool(state.patients)
    method = (f"{scale_text}; {what} per arm and visit ("
              + (TR.GEO_METHOD if ctl["log"] and ctl["stat"] == "mean" else
                 TR.CI_METHOD if ctl["stat"] == "mean" else f"quartiles by {QUANTILE_METHOD}")
              + "); n: subjects with a value at the visit.")
    pop = "the chosen patients only" if restrict else "all subjects of the arms in the filter"
    notes = [f"Figure: {method} Population: {pop}."]
    if ctl["indiv"]:
        notes.append("Individual patient lines are drawn in the app and the HTML report, not on the slide chart.")
    notes += pop_notes
    view = View(page.ID, part, link, title, state, subtitle=subtitle, figure=fig, method=method)
    if part == "figure":
        if single:
            view.chart = _trajectory_chart(study, T, state, ctl, labels, highlighted, summaries[ctl["codes"][0]])
        else:
            view.pictures = [("", fig)]
    stats, stat_notes = _trajectory_stats(study, T, state, ctl, sctl, labels, subjects)
    for t in stats:
        t.title = f"{names[0].split(' (')[0] if single else f'{len(names)} parameters'}: {t.title}"
    view.tables = stats
    view.notes = notes + stat_notes + common_notes(study, state, link)
    if part == "stats":
        view.title = stats[0].title
    return view


def _trajectory_chart(study, T, state, ctl, labels, highlighted, summ) -> Chart:
    code = ctl["codes"][0]
    info = study.params[code]
    n_arms = len(labels)
    series = []
    for k, arm in enumerate(labels):
        s = summ[summ["ARM"] == arm]
        if s.empty:
            continue
        off = (k - (n_arms - 1) / 2) * 0.55  # the app's dodge, so error bars do not hide each other
        if ctl["stat"] == "mean" and ctl["log"] and s["gmean"].notna().all():
            y, lo, hi = s["gmean"], s["gci_low"], s["gci_high"]
        elif ctl["stat"] == "mean":
            y, lo, hi = s["mean"], s["ci_low"], s["ci_high"]
        else:
            y, lo, hi = s["median"], s["q1"], s["q3"]
        up = (hi - y).fillna(0).clip(lower=0)
        down = (y - lo).fillna(0).clip(lower=0)
        series.append(Series(arm, [float(v) + off for v in s["TIME"]], _nums(y), _nums(up), _nums(down),
                             study.arm_by_label[arm].colour))
    lines = TR.subject_lines(TR.select(T.param_rows(study, code), code, labels, None, state.weeks), ctl["scale"])
    for sid in highlighted:
        g = lines[lines["USUBJID"] == sid]
        if g.empty:
            continue
        arm = str(g["ARM"].iloc[0])
        series.append(Series(f"{sid} ({arm})", [float(v) for v in g["TIME"]], _nums(g["y"]),
                             colour=study.arm_by_label[arm].colour, dash=True))
    d = T.decimals_for(TR.select(T.param_rows(study, code), code, labels, None)["AVAL"], ctl["scale"])
    ticks = sorted(float(v) for v in info.visits if state.weeks[0] <= v <= state.weeks[1])
    n_rows = []
    for arm in labels:
        s = summ[summ["ARM"] == arm].set_index("TIME")["n"]
        n_rows.append({"n": arm, **{f"{w:g}": (str(int(s[w])) if w in s.index else "0") for w in ticks}})
    below = Table("n per arm and visit", pd.DataFrame(n_rows),
                  colours={a: study.arm_by_label[a].colour for a in labels})
    band = (info.lo, info.hi) if ctl["scale"] == "raw" and info.lo is not None and info.hi is not None else None
    return Chart("xy", series, study.time_title, T.axis_title(info, ctl["scale"]), log=ctl["log"],
                 number_format="0" if d == 0 else "0." + "0" * d,
                 x_range=(state.weeks[0] - 2.2, state.weeks[1] + 2.2), x_ticks=ticks, below=below, band=band)


def _trajectory_stats(study, T, state, ctl, sctl, labels, subjects) -> tuple[list[Table], list[str]]:
    ref_label = study.arm_by_code[sctl["ref"]].label
    outcome = "PCHG" if ctl["scale"] == "pchg" else "CHG"
    results = [T.param_stats(study, c, labels, subjects, state.weeks, sctl["visit"], ref_label, ctl["log"], outcome,
                             imputed=ctl["imputed"], structure=sctl["cov"], df_method=sctl["ddfm"])
               for c in ctl["codes"]]
    multi = len(results) > 1
    method = sctl["adjust"] if multi else "none"
    adj = {"holm": "Holm", "fdr_bh": "BH"}.get(method)

    def family(getter):
        return T.arm_families(results, labels, method, getter)

    def within(r, arm, key):
        x = next((w for w in r["within"] if w["arm"] == arm), None)
        return x[key].p_value if x else None

    def contrast(r, arm):
        m = r["mmrm"]
        c = next((c for c in m.contrasts if c.arm == arm), None) if m is not None else None
        return c.p_value if c is not None else None

    aw = family(lambda r, a: within(r, a, "w"))
    at = family(lambda r, a: within(r, a, "t"))
    am = family(contrast)

    def p_text(raw, adjusted):
        if raw is None:
            return "–"
        return f"{format_p(raw)}" + (f" (raw); {format_p(adjusted)} {adj}" if adj else "")

    rows, groups, colours = [], set(), {}
    outcome_name = "% change from baseline" if ctl["scale"] == "pchg" else "change from baseline"
    for i, r in enumerate(results):
        info = study.params[r["code"]]
        if r["visit"] is None:
            groups.add(len(rows))
            rows.append({"Method": f"{info.name}: no post-baseline visit in the timepoint window — no comparison",
                         "Comparison": "", "n": "", "Estimate [95% CI]": "", "p": ""})
            continue
        if multi:
            groups.add(len(rows))
            rows.append({"Method": f"{info.name} · {T.visit_words(study, r['visit'])}", "Comparison": "", "n": "",
                         "Estimate [95% CI]": "", "p": ""})
        d = T.decimals_for(TR.select(T.param_rows(study, r["code"]), r["code"], labels, subjects)["AVAL"], "raw")
        unit = f" {T.param_unit(info)}" if T.param_unit(info) else ""
        for x in r["within"]:
            w, t = x["w"], x["t"]
            comp = f"{x['arm']}: {T.visit_words(study, r['visit'])} vs baseline"
            colours[comp] = study.arm_by_label[x["arm"]].colour
            if not w.ok:
                why = x.get("why") or w.note or "not computable"
                rows.append({"Method": "Wilcoxon signed-rank", "Comparison": comp, "n": f"{w.n_pairs} pairs",
                             "Estimate [95% CI]": why[:1].upper() + why[1:], "p": "–"})
                continue
            rows.append({"Method": f"{w.method}; Hodges–Lehmann median change",
                         "Comparison": comp, "n": f"{w.n_pairs} pairs",
                         "Estimate [95% CI]": _ci(w.estimate, w.ci_low, w.ci_high, d) + unit,
                         "p": p_text(w.p_value, aw[x["arm"]][i])})
            if t.ok:
                ratio = t.estimate_name.startswith("geometric")
                rows.append({"Method": f"Paired t-test; {t.estimate_name}", "Comparison": comp,
                             "n": f"{t.n_pairs} pairs" if hasattr(t, "n_pairs") else f"{w.n_pairs} pairs",
                             "Estimate [95% CI]": _ci(t.estimate, t.ci_low, t.ci_high, 2 if ratio else d)
                             + ("" if ratio else unit), "p": p_text(t.p_value, at[x["arm"]][i])})
        m = r["mmrm"]
        if m is None:
            continue
        dm = 1 if ctl["scale"] == "pchg" else d
        unit_m = "%" if ctl["scale"] == "pchg" else unit
        if not m.ok:
            rows.append({"Method": "MMRM", "Comparison": f"vs {ref_label}", "n": "",
                         "Estimate [95% CI]": f"Not estimated: {r.get('mmrm_cause') or m.note}", "p": "–"})
            continue
        used = m.covariance if m.single_visit else f"{m.covariance} ({MM.STRUCTURES[m.structure][1]})"
        if m.fallback_note:
            rows.append({"Method": "MMRM", "Comparison": f"vs {ref_label}", "n": "",
                         "Estimate [95% CI]": f"Covariance: {m.fallback_note}.", "p": ""})
        for c in m.contrasts:
            comp = f"{c.arm} − {ref_label}, {T.visit_words(study, r['visit'])}"
            colours[comp] = study.arm_by_label[c.arm].colour
            if c.ok:
                rows.append({"Method": f"MMRM ({used}), LS-mean difference in {outcome_name}; t-test, "
                                       f"{T.DDFM_SHORT[m.df_method]} df = {c.df:.1f}",
                             "Comparison": comp, "n": f"{c.n_arm} / {c.n_ref}",
                             "Estimate [95% CI]": _ci(c.estimate, c.ci_low, c.ci_high, dm) + unit_m,
                             "p": p_text(c.p_value, am[c.arm][i])})
            else:
                rows.append({"Method": "MMRM", "Comparison": comp, "n": f"{c.n_arm} / {c.n_ref}",
                             "Estimate [95% CI]": f"Not estimated: {c.note}", "p": "–"})
    notes = ["Within arm: Wilcoxon signed-rank test of the paired differences with the Hodges–Lehmann median "
             "difference and its 95% CI, as R's wilcox.test(conf.int = TRUE) computes them (zero differences left "
             "out; exact or normal approximation with continuity correction, as labelled); paired t-test as a "
             "secondary analysis. Two-sided p.",
             f"Between arms: MMRM, {MM.model_formula(outcome)}, REML on the observed values, covariance "
             f"{T.COV_LABELS[sctl['cov']]} as chosen (falling back UN → TOEPH → ARH(1) → CS when it does not "
             f"converge, said in the table); LS-mean difference vs the reference arm {ref_label}, t-test with "
             f"{T.DDFM_LABELS[sctl['ddfm']]} degrees of freedom."]
    if multi:
        notes.append(f"Multiplicity: {'p-values adjusted by ' + adj if adj else 'raw p-values'} across the "
                     f"{len(results)} parameters shown.")
    visits = sorted({r["visit"] for r in results if r["visit"] is not None})
    at_visit = T.visit_words(study, visits[0]) if len(visits) == 1 else "the comparison visit"
    table = Table(f"statistics, {at_visit} vs baseline and MMRM vs {ref_label}", pd.DataFrame(rows),
                  note=" ".join(notes), colours=colours, groups=groups, short="statistics")
    table.frame = table.frame[["Method", "Comparison", "n", "Estimate [95% CI]", "p"]]
    return [table], notes


# -- Comparison ---------------------------------------------------------------------------------
def comparison_view(study, page, part, state, values, link, title_only=False) -> View:
    from components import comparison as C

    view_mode, code = values["view"], values["param"]
    if view_mode not in C.VIEWS or values["annot"] not in C.ANNOTATIONS or values["scale"] not in C.SCALES:
        raise ViewError("a control of the view holds a value the page does not offer")
    shown = C.subset_codes(study) if view_mode == "grid" else [code]
    offered = C.offered_visits(study, shown, state)
    da, db = C.default_visits(offered, state)
    va = values["v1"] if "v1" in values["_given"] else da
    vb = values["v2"] if "v2" in values["_given"] else db
    if va is not None and va not in offered or vb is not None and vb not in offered:
        raise ViewError("a timepoint of the view is not a visit of this subset inside the window")
    msg = C._visits_message(study, state, shown, va, vb)
    if msg:
        raise ViewError(msg)
    va, vb = sorted((float(va), float(vb)))
    reference, ref_note = C._reference(study, state, values["ref"])
    la, lb = study.visit_label(va), study.visit_label(vb)
    scale_text = C.SCALE_TEXT[values["scale"]]
    words = C.words(study)
    if view_mode == "grid":
        title = f"{C.title(study)}: every {words.noun}, {la} vs {lb}"
    else:
        title = f"{C.short_name(study, code)} ({C.unit_text(study, code)}): {la} vs {lb} by arm"
    subtitle = (f"Boxes: values at both visits per arm, a line per patient; between-arm tests on {scale_text}")
    if title_only:
        return View(page.ID, part, link, title if part == "figure" else
                    f"{C.short_name(study, code)}: {la} vs {lb}, summary and statistics", state)
    arms = state.arm_labels(study)
    subjects = C.population(study, state)
    results = [C.analyse(study, c, va, vb, arms, subjects, reference, values["scale"]) for c in shown]
    log = values["log"] == ["log"]
    highlight = state.patients
    if view_mode == "grid":
        fig = C.grid_figure(study, results, highlight, values["annot"], log, state)
    else:
        fig = C.single_figure(study, results[0], highlight, values["annot"], log, state)
    method = C._method_caption(study, results, values["annot"]) + "."
    colours = {a: study.arm_by_label[a].colour for a in arms}
    res = next((r for r in results if r.code == code), results[0])
    tables = []
    if view_mode == "grid":
        tables.append(Table(f"Every {words.noun}, {la} vs {lb}: median change per arm (within-arm p)",
                            C.grid_table(study, results), short="grid table"))
    stats = C.stats_table(study, res)
    stat_colours = {}
    for comp in stats["Comparison"]:
        arm = next((a for a in arms if str(comp).startswith(a)), None)
        if arm:
            stat_colours[comp] = study.arm_by_label[arm].colour
    short = C.short_name(study, res.code)
    tables += [Table(f"{short}: summary by arm, {la} vs {lb}", C.summary_table(study, res), colours=colours,
                     short="summary"),
               Table(f"{short}: statistics, {la} vs {lb}", stats[["Method", "Comparison", "n", "Estimate [95% CI]",
                                                                  "p", "p (Holm)"]],
                     colours=stat_colours, short="statistics")]
    notes = [f"Figure: {method}",
             f"Population: {', '.join(arms)}; {C.population_text(study)}; the patient filter only highlights.",
             "Wilcoxon signed-rank within arm with Hodges–Lehmann CI; Kruskal–Wallis and Mann–Whitney U (Holm) "
             f"between arms on {scale_text}; ANCOVA (OLS) adjusted for timepoint 1 vs {reference}."]
    if ref_note:
        notes.append(ref_note)
    view = View(page.ID, part, link, title, state, subtitle=subtitle, figure=fig, tables=tables, method=method,
                notes=notes + common_notes(study, state, link))
    if part == "figure":
        view.pictures = [("", fig)]
    else:
        view.title = f"{short}: {la} vs {lb}, summary and statistics"
    return view


# -- Safety ------------------------------------------------------------------------------------------
def safety_view(study, page, part, state, values, link, title_only=False) -> View:
    from components import safety as S

    if study.adae is None:
        raise ViewError("this study has no adverse-event data")
    threshold, arm, ref = values["threshold"], values["rd"], values["vs"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold not in SA.THRESHOLDS:
        raise ViewError("the AE threshold is not one the page offers")
    labels = state.arm_labels(study)
    pop = S._population(study, state)
    window = S._window_text(state, study)
    onset = "" if S._window(state, study) is None else f", onset weeks {state.weeks[0]:g}–{state.weeks[1]:g}"
    flag = f"subjects with {study.safety_flag} = Y" if study.safety_flag else "all subjects"
    notes = [f"Safety population: {flag} within the filter, N = {len(pop)}; {window}; {SA.ONSET_RULE}."]
    if part == "summary":
        table, _pop = S._summary(study, state)
        method = f"n (%) of subjects; each subject counts once per row. {SA.rules_text(S.rules(study))}"
        chart = _summary_chart(study, table, SA.arm_columns(pop, labels))
        return View(page.ID, part, link, f"Treatment-emergent adverse events by arm{onset}", state,
                    subtitle="% of subjects of the safety population with at least one such event", chart=chart,
                    tables=[Table(f"Treatment-emergent adverse events by arm{onset}: subjects, n (%)", table,
                                  short="n (%)")], method=method,
                    notes=notes + [method] + common_notes(study, state, link))
    if part == "timeline":
        pictures = []
        fig_all = None
        for a in labels:
            code = study.arm_by_label[a].code
            sub = F.FilterState((code,), state.weeks, state.patients)
            p = S._population(study, sub)
            if p.empty:
                continue
            events = SA.timeline_events(study.adae, p, S._window(state, study))
            f = S.timeline_figure(study, sub, p, events, SA.subject_dosing(study.adex, p))
            pictures.append((a, f))
        shown = SA.timeline_sample(pop)
        fig_all = S.timeline_figure(study, state, shown, SA.timeline_events(study.adae, shown, S._window(state, study)),
                                    SA.subject_dosing(study.adex, shown))
        method = "Bars from onset to resolution day, coloured by grade; dosing from ADEX behind; one slide per arm."
        return View(page.ID, part, link, f"Adverse events and dosing per subject{onset}", state, figure=fig_all,
                    pictures=pictures, method=method, notes=notes + [method] + common_notes(study, state, link))
    codes = set(study.arm_codes)
    if not isinstance(arm, str) or not isinstance(ref, str) or arm not in codes or ref not in codes:
        raise ViewError("the risk-difference arms are not arms of this study")
    a_lab, r_lab = study.arm_by_code[arm].label, study.arm_by_code[ref].label
    compare = (a_lab, r_lab) if arm != ref and a_lab in labels and r_lab in labels else None
    inc, cols = S._incidence(study, state, int(threshold), compare)
    shown = f"PTs reported by ≥{int(threshold)}% of subjects in any shown arm" if threshold else "every preferred term"
    method = (f"n (%) of subjects by SOC and PT; {shown}; sorted by subjects overall."
              + (f" Risk difference {a_lab} − {r_lab} in percentage points with the {SA.RD_METHOD} 95% CI "
                 f"(Newcombe 1998, method 10)." if compare else ""))
    frame_rows, groups = [], set()
    for row in inc.itertuples(index=False, name=None):
        d = dict(zip(inc.columns, row))
        is_soc = d["level"] == "SOC"
        if is_soc:
            groups.add(len(frame_rows))
        out = {"System organ class / preferred term": d["SOC"] if is_soc else "   " + d["PT"]}
        for title, a, n in cols:
            k = int(d[a or "Total"])
            out[title] = f"{k} ({100 * k / n:.0f}%)" if n else "0"
        if compare is not None:
            out[f"{a_lab} − {r_lab}: RD, % points (95% CI)"] = d["rd_note"]
        frame_rows.append(out)
    table = Table(f"AE incidence by system organ class and preferred term{onset}", pd.DataFrame(frame_rows),
                  groups=groups, short="incidence table")
    pts = inc[inc["level"] == "PT"].head(12)
    series = [Series(a, list(pts["PT"]), _nums(pts[f"% {a}"]), colour=study.arm_by_label[a].colour)
              for a in labels if f"% {a}" in pts.columns]
    chart = Chart("bar", series, "", "% of subjects", categories=list(pts["PT"]), number_format="0") \
        if len(pts) else None
    title = (f"AE incidence by arm: preferred terms in ≥{int(threshold)}% of any arm" if threshold
             else "AE incidence by arm: most frequent preferred terms") + onset
    return View(page.ID, part, link, title, state, chart=chart, tables=[table], method=method,
                subtitle="% of subjects of the safety population; the 12 most frequent preferred terms",
                notes=notes + [method, "Chart: the 12 most frequent preferred terms (subjects overall), % of "
                               "subjects per arm."] + common_notes(study, state, link))


def _summary_chart(study, table: pd.DataFrame, cols) -> Chart | None:
    """% of subjects per row of the AE overview and arm (the subject rows; the event count is left out)."""
    rows = [r for r in table.itertuples(index=False) if "(events)" not in str(r[0])]
    series = []
    for i, (title, arm, n) in enumerate(cols):
        if arm is None or not n:
            continue
        ys = []
        for r in rows:
            cell = str(r[i + 1])
            k = cell.split(" ")[0]
            ys.append(100 * int(k) / n if k.isdigit() else None)
        series.append(Series(arm, [str(r[0]) for r in rows], ys, colour=study.arm_by_label[arm].colour))
    if not series:
        return None
    return Chart("column", series, "", "% of subjects", categories=[str(r[0]) for r in rows], number_format="0")


# -- Patient profile -----------------------------------------------------------------------------
def patient_view(study, page, part, state, values, link, title_only=False) -> View:
    from analysis import patient as A
    from components import patient as P

    codes, group = _clean(P.clean_panels, study, values["panels"], values["group"])
    codes = codes[:P.MAX_PANELS]
    order = A.ordered_subjects(study.adsl, state.subjects(study))
    usubjid = values["subject"] if "subject" in values["_given"] else A.default_subject(order, state.patients)
    if usubjid is None:
        raise ViewError("no subject in the view's filter")
    if usubjid not in set(study.subjects):
        raise ViewError("the view's patient is not a subject of this study")
    row = A.subject_row(study.adsl, usubjid)
    arm = str(row["ARM_LABEL"])
    if title_only:
        return View(page.ID, part, link, f"Patient {usubjid} ({arm})", state)
    fig, fig_notes = P.profile_figure(study, usubjid, codes, group, state)
    # Slides of at most four panels each, in the page's order.
    panels, _ = P.profile_panels(study, usubjid, codes, group)
    pictures = []
    for i in range(0, len(panels), PATIENT_PANELS_PER_SLIDE):
        chunk = panels[i:i + PATIENT_PANELS_PER_SLIDE]
        f, _ = P.profile_figure(study, usubjid, codes, group, state, only={P.panel_key(p) for p in chunk})
        pictures.append((", ".join(p[3].split(" (")[0] for p in chunk), f))
    facts = [(k, v) for k, v in A.demographics(row, P.extra_demographics(study))] + list(A.disposition(row))
    method = ("Values at their visit's nominal week; doses and AEs at study day (week = (day − 1) / 7)."
              if study.time_unit == "week" else
              "Values at their visit number (AVISITN: the study gives no weeks for its visits); doses and AEs at "
              "study day.")
    notes = [f"{usubjid} · {arm}: " + "; ".join(f"{k} {v}" for k, v in facts) + ".", method, *fig_notes]
    title = f"Patient {usubjid} ({arm})"
    return View(page.ID, part, link, title, state, figure=fig, pictures=pictures, method=method,
                notes=notes + common_notes(study, state, link), facts=facts)


BUILDERS = {"overview": overview_view, "trajectories": trajectories_view, "comparison": comparison_view,
            "safety": safety_view, "patient": patient_view}
