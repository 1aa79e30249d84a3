"""Trajectories by arm of the study's parameters, with their statistics (LSO-088: its Figure 1).

The page's words, parameters and default selections come from the study (``data.words``:
``[pages.trajectories]`` of study.toml, else the ADaM metadata).

Figure: x = the study's time axis (study weeks, else visit numbers), one line per arm (mean ± 95% t-CI, or median with IQR) on the
raw, change-from-baseline or %-change scale; optional faded patient lines; the
patients chosen in the global filter highlighted and labelled; the normal range as
a band on raw values; n per arm and visit under the plot (one parameter) and in
every hover. Small multiples show several parameters side by side.

Statistics: within arm, baseline vs the comparison visit (Wilcoxon signed-rank +
Hodges–Lehmann, paired t secondary; ``analysis.paired``); between arms, MMRM
adjusted differences vs a reference arm (``analysis.mmrm``); Holm / BH across the
parameters shown (``analysis.multiplicity``).
"""

from __future__ import annotations

import math
import re
import weakref

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate
from plotly.subplots import make_subplots

from analysis import codegen, explain
from analysis import mmrm as MM
from analysis import trajectory as T
from analysis.descriptive import QUANTILE_METHOD, param_slices
from analysis.multiplicity import METHODS as ADJUST_METHODS
from analysis.multiplicity import adjust
from analysis.paired import format_p, pair_values, paired_t, wilcoxon_signed_rank
from components import deck, figure_tools
from components.export import csv_with_provenance
from components.markup import static
from components.shell import FILTER_STORE, register_patient_click
from components.textfit import clip, clip_lines, fit_title
from components.theme import (PLOT_PX, arm_dash, arm_symbol, axis_key, base_layout, graph_config, hline,
                              panel_refs, panel_titles, stamp, subplot_grid, upright)
from data import blinding
from data import filters as F
from data import words as W
from data.adam import strip_unit

ID = "trajectories"
PATH = "/trajectories"
TITLE = W.DEFAULT_TITLES[ID]  # the study's own title: title(study)
# The view in the URL ("Copy link to this view"; components.viewstate) and the presentation-mode arrow keys.
URL_STATE = {"view": ("traj-mode", "value"), "param": ("traj-param", "value"), "params": ("traj-params", "value"),
             "scale": ("traj-scale", "value"), "stat": ("traj-stat", "value"), "opts": ("traj-opts", "value"),
             "patients": ("traj-patmode", "value"), "visit": ("traj-visit", "value"), "ref": ("traj-ref", "value"),
             "adjust": ("traj-adjust", "value"), "cov": ("traj-cov", "value"), "ddfm": ("traj-ddfm", "value")}
PRESENT_STEP = {"control": "traj-param", "when": ("traj-mode", "value", "single")}

MAX_MULTI = 6
MODES = {"single": "One parameter", "multi": "Small multiples"}
SCALE_LABELS = {"raw": "Value", "chg": "Change from baseline", "pchg": "% change from baseline"}
STATS = {"mean": "Mean ± 95% CI", "median": "Median with IQR"}
OPTS = {"log": "Log y axis", "indiv": "Individual patients", "imputed": "Include the sponsor's imputed values"}
PATMODES = {"highlight": "Highlight them", "restrict": "Restrict summaries to them"}
ADJUST_LABELS = {"none": "None (raw p)", "holm": "Holm", "fdr_bh": "Benjamini–Hochberg"}
# MMRM covariance structure (SAS TYPE=) and denominator df method (SAS DDFM=) offered to the statistician
# "Unstructured (UN)"; the SAS name only when it adds something ("AR(1)", not "AR(1) (AR(1))")
COV_LABELS = {code: f"{name[:1].upper()}{name[1:]}" + (f" ({sas})" if sas.casefold() != name.casefold() else "")
              for code, (name, sas, _) in MM.STRUCTURES.items()}
DDFM_LABELS = {"kr": "Kenward–Roger (SAS DDFM=KR)", "kr-expected": "Kenward–Roger, expected information (pbkrtest)",
               "satterthwaite": "Satterthwaite (lmerTest, SAS)"}
DDFM_SHORT = {"kr": "Kenward–Roger", "kr-expected": "Kenward–Roger (expected information)",
              "satterthwaite": "Satterthwaite"}
END = "end"
WRAP = {"whiteSpace": "normal", "minWidth": "10.5em"}
BAND_COLOUR = "#2f855a"


# -- parameters offered ------------------------------------------------------------------------
def title(study) -> str:
    return W.page_title(study, ID)


def page_params(study) -> list:
    """study.toml [pages.trajectories] datasets / parcat1 when set, else every parameter; grouped by category."""
    return W.page_params(study, ID)


def allowed_codes(study) -> list[str]:
    return [p.code for p in page_params(study)]


def _cat_title(cat: str) -> str:
    return cat[:1].upper() + cat[1:].lower() if cat.isupper() else cat


def param_options(study) -> list[dict]:
    """Grouped options: a disabled header per category, then its parameters."""
    opts, last = [], None
    for p in page_params(study):
        if p.category != last:
            title = W.category_label(study, p.category) or _cat_title(p.category)
            opts.append({"label": f"— {title} —", "value": f"__group__{p.category}", "disabled": True})
            last = p.category
        opts.append({"label": p.name, "value": p.code})
    return opts


def baseline_only_notes(study, codes) -> list[str]:
    """Why a parameter with baseline values only shows no change, comparison or mixed model."""
    only = [study.params[c].name for c in codes if not study.params[c].after_baseline]
    return [f"{', '.join(only)}: values at baseline only (no visit after baseline on the time axis): there is no "
            f"change from baseline, between-arm comparison or mixed model to show. Choose a parameter measured "
            f"over time."] if only else []


def default_single(study) -> str | None:
    """[pages.trajectories] parameter, else the first parameter offered."""
    return W.default_parameter(study, ID)


def default_multi(study) -> list[str]:
    """[pages.trajectories] multiples, else the first four parameters offered."""
    return W.default_multiples(study, ID)


_SLICES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # study -> {PARAMCD: its rows}
_IMPUTED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # study -> {PARAMCD: its imputed rows}


def param_rows(study, code: str, imputed: bool = False) -> pd.DataFrame:
    """The rows of one parameter: a slice of ``study.measurements`` built once per study
    (``param_slices``), so a request touches only its parameter's rows, not the whole frame.

    ``imputed``: with the sponsor's imputed records (DTYPE LOCF…, at visits without an observed
    value) added; their DTYPE says which they are (observed rows: "").
    """
    slices = _SLICES.get(study)
    if slices is None:
        slices = _SLICES[study] = param_slices(study.measurements)
    rows = slices.get(code)
    rows = study.measurements.iloc[0:0] if rows is None else rows
    if not imputed:
        return rows
    imp = _IMPUTED.get(study)
    if imp is None:
        frame = study.imputed if study.imputed is not None else study.measurements.iloc[0:0]
        imp = _IMPUTED[study] = param_slices(frame)
    extra = imp.get(code)
    if extra is None or extra.empty:
        return rows.assign(DTYPE="")
    both = pd.concat([rows.assign(DTYPE=""), extra.assign(DTYPE=extra["DTYPE"].astype(str))], ignore_index=True)
    return both.sort_values(["USUBJID", "TIME"], kind="stable")


def imputation_types(study, codes=None) -> tuple[str, ...]:
    """The sponsor's imputations (DTYPE) the study has, for ``codes`` (default: the page's parameters)."""
    params = [study.params[c] for c in (codes if codes is not None else allowed_codes(study))]
    return tuple(sorted({t for p in params for t in getattr(p, "imputations", ())}))


def imputed_counts(df: pd.DataFrame, scale: str) -> pd.Series:
    """Imputed values shown per (ARM, TIME) on ``scale`` (0 where none; empty without a DTYPE column)."""
    if "DTYPE" not in df.columns or df.empty:
        return pd.Series(dtype=int)
    ok = np.isfinite(T.scale_values(df, scale).to_numpy(float)) & (df["DTYPE"].astype(str) != "").to_numpy()
    d = df[ok]
    return d.groupby([d["ARM"].astype(str), d["TIME"].astype(float)]).size()


def visit_suffix(study, tm: float) -> str:
    """' (Month 3)' after 'Week 13.04' in a hover: the visit's name when it is not just the axis value."""
    lab = study.visit_label(tm)
    return "" if lab.lower() == study.time_text(tm).lower() else f" ({lab})"


def visit_words(study, tm: float) -> str:
    """A visit in running text: 'week 48' when its name says just that, else its name ('Month 3')."""
    lab = study.visit_label(tm)
    return study.time_text(tm) if lab.lower() == study.time_text(tm).lower() else lab


def n_text(n: int, k: int, kinds: str) -> str:
    """'12' or '12 (3 LOCF)': an n that includes imputed values says how many."""
    return f"{n}" + (f" ({k} {kinds})" if k else "")


def opts_options(study, scale: str = "raw", codes=None) -> list[dict]:
    opts = [{"label": OPTS["log"] + ("" if scale == "raw" else " (raw values only)"), "value": "log",
             "disabled": scale != "raw"},
            {"label": OPTS["indiv"], "value": "indiv"}]
    kinds = imputation_types(study)
    if kinds:  # only a study whose sponsor delivered imputed records has the switch
        here = imputation_types(study, codes) if codes is not None else kinds
        opts.append({"label": f"{OPTS['imputed']} ({', '.join(kinds)})" + ("" if here else ": none for this "
                                                                                           "parameter"),
                     "value": "imputed"})
    return opts


def post_baseline_visits(study) -> list[float]:
    return [v for v in study.visit_numbers if v > 0]


# -- layout ----------------------------------------------------------------------------------
def _label(text, for_id=None):
    return html.Label(text, htmlFor=for_id, className="filter-label mt-2") if for_id else \
        html.Div(text, className="filter-label mt-2")


def _group(legend, control, **kw):
    """A group of radio buttons or check boxes under its name (a fieldset: screen readers say both)."""
    return html.Fieldset([html.Legend(legend, className="filter-label mt-2 mb-0"), control], **kw)


def controls(study):
    arms = [{"label": a.label, "value": a.code} for a in study.arms]
    visits = [{"label": "End of the timepoint window", "value": END}] + [
        {"label": study.visit_label(v), "value": v} for v in post_baseline_visits(study)]
    return dbc.Card(
        dbc.CardBody(
            [
                _group("View", dbc.RadioItems(id="traj-mode", options=[{"label": v, "value": k}
                                                                      for k, v in MODES.items()],
                                              value="single", inline=True, className="traj-radio")),
                html.Div([_label(W.page_text(study, ID).parameter_label, "traj-param"),
                          dcc.Dropdown(id="traj-param", options=param_options(study), value=default_single(study),
                                       clearable=False, searchable=True, maxHeight=320)],
                         id="traj-param-wrap", style={"display": "block"}),
                html.Div([_label(f"Parameters (up to {MAX_MULTI})", "traj-params"),
                          dcc.Dropdown(id="traj-params", options=param_options(study), value=default_multi(study),
                                       multi=True, clearable=True, searchable=True, maxHeight=320)],
                         id="traj-params-wrap", style={"display": "none"}),
                _group("Scale", dbc.RadioItems(id="traj-scale", options=[{"label": v, "value": k}
                                                                        for k, v in SCALE_LABELS.items()],
                                               value="raw", className="traj-radio")),
                _group("Summary", html.Div([
                    dbc.RadioItems(id="traj-stat", options=[{"label": v, "value": k} for k, v in STATS.items()],
                                   value="mean", className="traj-radio"),
                    dbc.Checklist(id="traj-opts", options=opts_options(study), value=[], className="traj-radio mt-1"),
                ])),
                _group("Patients chosen in the filter", dbc.RadioItems(
                    id="traj-patmode", options=[{"label": v, "value": k} for k, v in PATMODES.items()],
                    value="highlight", className="traj-radio")),
                html.Hr(className="my-2"),
                _label("Comparison visit (vs baseline)", "traj-visit"),
                dcc.Dropdown(id="traj-visit", options=visits, value=END, clearable=False, searchable=False),
                _label("Reference arm (MMRM)", "traj-ref"),
                dcc.Dropdown(id="traj-ref", options=arms, value=default_reference(study),
                             clearable=False, searchable=False),
                _label("MMRM covariance (falls back UN → TOEPH → ARH(1) → CS)", "traj-cov"),
                dcc.Dropdown(id="traj-cov", options=[{"label": v, "value": k} for k, v in COV_LABELS.items()],
                             value="UN", clearable=False, searchable=False),
                _group("Degrees of freedom", dbc.RadioItems(
                    id="traj-ddfm", options=[{"label": v, "value": k} for k, v in DDFM_LABELS.items()],
                    value="kr", className="traj-radio")),
                _group("Multiplicity across parameters", dbc.RadioItems(
                    id="traj-adjust", options=[{"label": v, "value": k} for k, v in ADJUST_LABELS.items()],
                    value="holm", className="traj-radio"), id="traj-adjust-wrap", style={"display": "none"}),
            ],
            className="py-2",
        ),
        className="traj-controls",
    )


def default_reference(study) -> str | None:
    """The study's reference arm ([arms] reference, else the ADaM default) for the MMRM."""
    if study.reference_arm in study.arm_codes:
        return study.reference_arm
    return study.arms[0].code if study.arms else None


def _heading(study):
    text = W.page_text(study, ID)
    small = [html.Small(text.subheading, className="text-muted", style={"fontSize": "1rem"})] if text.subheading else []
    return html.H1([text.heading + (" " if small else ""), *small], className="page-title")


def layout(study):
    return html.Div(
        [
            _heading(study),
            dbc.Row(
                [
                    dbc.Col(controls(study), lg=3, md=4),
                    dbc.Col(
                        [
                            html.Div(id="traj-message", className="traj-message"),
                            dcc.Loading(dcc.Graph(id="traj-graph", config=graph_config(f"{study.study_id}-trajectories"),
                                                  style={"height": "470px"}), type="default", delay_show=400),
                            figure_tools.toolbar("traj", "traj-graph", f"{study.study_id}-trajectories", data=False,
                                                 deck=True),
                            # the small multiples' between-arm answer: a forest plot of the MMRM differences
                            html.Div([dcc.Graph(id="traj-forest", config=graph_config(f"{study.study_id}-forest"),
                                                style={"height": "100%"})],
                                     id="traj-forest-wrap", style={"display": "none"}, className="mt-2"),
                        ],
                        lg=9, md=8,
                    ),
                ],
                className="g-2 mb-2",
            ),
            dbc.Card([dbc.CardHeader(html.Div([html.Span("Statistics", className="me-auto"),
                                               deck.add_button("stats", "Add statistics to deck")],
                                              className="d-flex align-items-center")),
                      dbc.CardBody(html.Div(id="traj-stats"))], className="mb-3"),
            dbc.Card(
                [
                    dbc.CardHeader(
                        html.Div(
                            [html.Span("Summary by arm and visit", className="me-auto"),
                             dbc.Button("Download CSV", id="traj-csv-btn", size="sm", color="secondary",
                                        outline=True)],
                            className="d-flex align-items-center",
                        )
                    ),
                    dbc.CardBody(html.Div(id="traj-table")),
                    dcc.Download(id="traj-download"),
                ],
                className="mb-3",
            ),
        ]
    )


# -- validation of the page's own controls -------------------------------------------------
def _choice(value, allowed) -> bool:
    """A plain string among ``allowed`` (a list or dict sent by a forger is neither hashable nor allowed)."""
    return isinstance(value, str) and value in allowed


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def clean_controls(study, mode, param, params, scale, stat, opts, patmode) -> dict:
    """Validate the figure's controls; a forged or stale value raises PreventUpdate (HTTP 204)."""
    codes = allowed_codes(study)
    if not (_choice(mode, MODES) and _choice(scale, SCALE_LABELS) and _choice(stat, STATS)
            and _choice(patmode, PATMODES)):
        raise PreventUpdate
    if not isinstance(param, str) or param not in codes:
        raise PreventUpdate
    if params is None:
        params = []
    if not isinstance(params, list) or len(params) > len(codes) or \
            not all(isinstance(p, str) and p in codes for p in params):
        raise PreventUpdate
    if opts is None:
        opts = []
    if not isinstance(opts, list) or not all(isinstance(o, str) and o in OPTS for o in opts):
        raise PreventUpdate
    if "imputed" in opts and not imputation_types(study):
        raise PreventUpdate  # no control offers it
    chosen = [param] if mode == "single" else list(dict.fromkeys(params))
    notes = []
    if mode == "multi" and len(chosen) > MAX_MULTI:
        notes.append(f"Showing the first {MAX_MULTI} of the {len(chosen)} parameters chosen.")
        chosen = chosen[:MAX_MULTI]
    return {"mode": mode, "codes": tuple(chosen), "scale": scale, "stat": stat,
            "log": "log" in opts and scale == "raw", "log_asked": "log" in opts, "indiv": "indiv" in opts,
            "imputed": "imputed" in opts, "patmode": patmode, "notes": notes}


def clean_stats_controls(study, ref, visit, adjust_method, cov="UN", ddfm="kr") -> dict:
    if not isinstance(ref, str) or ref not in study.arm_codes:
        raise PreventUpdate
    if not _choice(adjust_method, ADJUST_METHODS):
        raise PreventUpdate
    if not (_choice(cov, COV_LABELS) and _choice(ddfm, DDFM_LABELS)):
        raise PreventUpdate
    if visit == END:
        v = None
    elif _is_num(visit) and float(visit) in post_baseline_visits(study):
        v = float(visit)
    else:
        raise PreventUpdate
    return {"ref": ref, "visit": v, "adjust": adjust_method, "cov": cov, "ddfm": ddfm}


def _population(study, state: F.FilterState, patmode: str):
    """(arm labels, subjects summarised, highlighted patients, notes)."""
    labels = state.arm_labels(study)
    adsl = study.adsl
    in_arms = adsl[F.arm_mask(adsl, labels)]  # by the planned or actual arm: each record carries its arm
    arm_of = dict(zip(adsl["USUBJID"], adsl["ARM_LABEL"].astype(str)))
    members = set(in_arms["USUBJID"])
    highlighted = [p for p in state.patients if p in members]
    notes = [f"{p} ({arm_of.get(p)}) is outside the arm filter: not shown." for p in state.patients
             if p not in highlighted]
    if patmode == "restrict" and state.patients:
        subjects = tuple(highlighted)
        if highlighted:
            notes.append(f"Summaries and statistics restricted to the {len(highlighted)} chosen patient(s).")
    else:
        subjects = tuple(in_arms["USUBJID"])
    return labels, subjects, highlighted, notes


# -- number formatting ------------------------------------------------------------------------
def decimals_for(values, scale: str) -> int:
    if scale == "pchg":
        return 1
    v = np.abs(np.asarray(values, float))
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return 1
    m = float(np.median(v))
    return 0 if m >= 100 else 1 if m >= 5 else 2 if m >= 0.1 else 3


def recorded_decimals(values, most: int = 4) -> int:
    """The decimals the values were recorded with (the fewest that hold every value exactly), at most ``most``."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    for k in range(most + 1):
        if np.all(np.abs(v * 10 ** k - np.round(v * 10 ** k)) < 1e-6 * max(1.0, 10 ** k)):
            return k
    return most


def _f(x, d: int) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{d}f}"


_RANGE_RE = re.compile(r"^\s*[-+]?\d+(\.\d+)?\s*[-–]\s*\d+(\.\d+)?\s*$")


def param_unit(info) -> str:
    """The parameter's unit; a scale range in PARAM's parentheses ("(0-3)") is not a unit."""
    return "" if _RANGE_RE.match(info.unit or "") else (info.unit or "")


def _unit_text(info, scale: str) -> str:
    return "%" if scale == "pchg" else param_unit(info)


N_ROW_MIN_PLOT = 250  # px of plot area (both rows) of the single figure at its smallest (present mode, 720 px)
AXIS_TITLE_CHARS = 32  # a y-axis title line that fits the single figure's height (also in present mode)


def axis_title(info, scale: str, short: bool = False) -> str:
    u = param_unit(info)
    unit_sfx = f" ({u})" if u else ""
    base_name = strip_unit(info.name, u).replace(" · ", "<br>")  # the unit may be PARAM's '(…)' or AVALU
    if scale == "raw":  # a timepoint parameter's long name on two lines: 'Systolic BP<br>after standing… (mmHg)'
        return (u or "value") if short else f"{base_name}{unit_sfx}"
    if scale == "chg":
        return (f"Change ({u})" if u else "Change") if short else f"Change in {base_name}{unit_sfx}"
    return "% change" if short else f"% change in {base_name}"


# -- the figure -------------------------------------------------------------------------------
def _grid(n: int) -> tuple[int, int]:
    return {1: (1, 1), 2: (1, 2), 3: (2, 2), 4: (2, 2)}.get(n, (2, 3))


def _short_id(usubjid: str) -> str:
    return usubjid.rsplit("-", 1)[-1]


def trajectory_figure(study, state: F.FilterState, ctl: dict, answer=None) -> tuple[go.Figure, dict]:
    """The figure and the per-parameter summaries it shows ({code: summary frame}).

    ``answer(fig, summaries)``: draws the between-arm answer on the figure and returns its method line
    (for the caption strip), or None.

    Built as plain dicts and validated once, when the figure is made: through plotly's add_trace/update_*
    with row/col selectors the small multiples took ~90 ms of an uncached view at LSO-088 size.
    """
    labels, subjects, highlighted, _ = _population(study, state, ctl["patmode"])
    codes = ctl["codes"]
    scale, stat, single = ctl["scale"], ctl["stat"], ctl["mode"] == "single"
    lo_w, hi_w = state.weeks
    n_arms = len(labels)
    traces: list[dict] = []
    shapes: list[dict] = []
    if single:
        rows, cols = 2, 1
        # the n rows get ~18 px per arm even when the figure is shrunk to the window while presenting (plotly
        # shares the height by fractions: sized for the smallest plot area, N_ROW_MIN_PLOT px)
        n_frac = min(0.4, max(0.2, (18 * n_arms + 14) / N_ROW_MIN_PLOT))
        layout, _ = subplot_grid(rows, cols, shared_xaxes=True, row_heights=(1 - n_frac, n_frac),
                                 vertical_spacing=0.04)
        titles = []
    else:
        rows, cols = _grid(len(codes))
        layout, at = subplot_grid(rows, cols, horizontal_spacing=0.09, vertical_spacing=0.17 if rows > 1 else 0.1)
        letters = "ABCDEF"
        per_panel = int(1160 / cols / 7.6)  # characters a panel title holds at 1280 px (14 px font)
        titles = panel_titles([f"{letters[i]} · {clip(study.params[c].name, per_panel - 4)}"
                               for i, c in enumerate(codes)], at, 14)
    summaries = {}
    week_ticks = set()
    imputed = bool(ctl.get("imputed"))
    word = study.time_word.capitalize()  # hovers say what x is: "Week 4", "Visit 5 (Week 2)"
    dodge = arm_dodge(study)  # arms side by side, never as far as the next visit
    kinds = "/".join(imputation_types(study, codes)) or "imputed"
    n_all = n_imp = 0  # values shown, and how many of them the sponsor imputed
    sampled_arms = {}  # arm -> patients in it, when its patient lines are a sample
    arm_of_pt = dict(zip(study.adsl["USUBJID"].astype(str), study.adsl["ARM_LABEL"].astype(str))) \
        if ctl["indiv"] and highlighted else {}
    band_in_legend = False
    for i, code in enumerate(codes):
        info = study.params[code]
        panel = 1 if single else i + 1
        refs = panel_refs(panel)
        xax, yax = layout[axis_key("x", panel)], layout[axis_key("y", panel)]
        df = T.select(param_rows(study, code, imputed), code, labels, subjects, state.weeks)
        summ = T.summarise(df, scale, labels)
        cnt = imputed_counts(df, scale) if imputed else pd.Series(dtype=int)
        summ["n_imputed"] = [int(cnt.get((a, tm), 0)) for a, tm in zip(summ["ARM"], summ["TIME"])]
        n_all, n_imp = n_all + int(summ["n"].sum()), n_imp + int(summ["n_imputed"].sum())
        summaries[code] = summ
        week_ticks |= set(float(v) for v in info.visits if lo_w <= v <= hi_w)
        raw_vals = df["AVAL"].to_numpy(float)
        d = decimals_for(raw_vals if scale != "pchg" else [], scale)
        unit = _unit_text(info, scale)
        unit_sp = f" {unit}" if unit and unit != "%" else unit
        lines = T.subject_lines(df, scale)
        span = []  # every y plotted in this panel: the log axis ticks are chosen from it
        # -- individual patients behind the summary
        if ctl["indiv"]:
            for arm in labels:
                pts = lines[(lines["ARM"] == arm) & ~lines["USUBJID"].isin(highlighted)]
                if pts.empty:
                    continue
                ids_arm = pts["USUBJID"].unique()
                if len(ids_arm) > T.INDIV_MAX_PER_ARM:  # a systematic sample; the chosen patients are drawn on top
                    sampled_arms[arm] = len(ids_arm) + sum(arm_of_pt.get(p) == arm for p in highlighted)
                    pts = pts[pts["USUBJID"].isin(T.sample_subjects(ids_arm))]
                xs, ys, ids, names = [], [], [], []
                span += list(pts["y"])
                for sid, g in pts.groupby("USUBJID", sort=True):
                    xs += list(g["TIME"]) + [None]
                    ys += list(g["y"]) + [None]
                    ids += [sid] * len(g) + [None]
                    names += [visit_suffix(study, x) for x in g["TIME"]] + [None]
                colour = study.arm_by_label[arm].light
                traces.append(dict(
                    type="scatter", x=xs, y=ys, customdata=ids, text=names, mode="lines+markers",
                    name=f"{arm}: patients", line=dict(color=colour, width=1.2), marker=dict(size=4, color=colour),
                    opacity=0.75, legendgroup=f"indiv-{arm}", showlegend=False, connectgaps=False,
                    hovertemplate=(f"%{{customdata}} · {arm}<br>{word} %{{x}}%{{text}}<br>%{{y:.{d}f}}{unit_sp}"
                                   f"<extra></extra>"), **refs))
        # -- normal range on raw values
        if scale == "raw" and (info.lo is not None or info.hi is not None):
            y0 = info.lo if info.lo is not None else 0.0
            y1 = info.hi if info.hi is not None else float(np.nanmax(raw_vals)) if len(raw_vals) else y0
            if ctl["log"] and y0 <= 0:
                pos = raw_vals[raw_vals > 0]
                y0 = float(pos.min()) / 2 if len(pos) else y1 / 100
            shapes.append(dict(type="rect", x0=0, x1=1, xref=f"{refs['xaxis']} domain", y0=y0, y1=y1,
                               yref=refs["yaxis"], fillcolor=BAND_COLOUR, opacity=0.12, line=dict(width=0),
                               layer="below"))
            traces.append(dict(
                type="scatter", x=[None], y=[None], mode="markers", name="Normal range",
                marker=dict(symbol="square", size=14, color=BAND_COLOUR, opacity=0.25),
                legendgroup="normal", showlegend=not band_in_legend, hoverinfo="skip", **refs))
            band_in_legend = True
        # -- one summary line per arm
        for k, arm in enumerate(labels):
            s = summ[summ["ARM"] == arm]
            if s.empty:
                continue
            colour = study.arm_by_label[arm].colour
            off = (k - (n_arms - 1) / 2) * dodge
            if stat == "mean" and ctl["log"] and s["gmean"].notna().all():
                y, lo, hi = s["gmean"], s["gci_low"], s["gci_high"]
                what, band = "geometric mean", "95% CI"
            elif stat == "mean":
                y, lo, hi = s["mean"], s["ci_low"], s["ci_high"]
                what, band = "mean", "95% CI"
            else:
                y, lo, hi = s["median"], s["q1"], s["q3"]
                what, band = "median", "IQR"
            up = (hi - y).fillna(0).clip(lower=0)
            down = (y - lo).fillna(0).clip(lower=0)
            custom = np.column_stack([s["n"], lo, hi, s["TIME"]])
            hover = [f"{word} {tm:g}{visit_suffix(study, tm)} · n = {n_text(int(n), int(k), kinds)}"
                     for tm, n, k in zip(s["TIME"], s["n"], s["n_imputed"])]
            span += [*y, *lo, *hi]
            traces.append(dict(
                type="scatter", x=s["TIME"] + off, y=y, customdata=custom, text=hover, mode="lines+markers",
                name=arm, line=dict(color=colour, width=3.2, dash=arm_dash(study, arm)),
                marker=dict(size=9, symbol=arm_symbol(study, arm), color=colour, line=dict(width=1, color="white")),
                error_y=dict(type="data", array=up.to_numpy(), arrayminus=down.to_numpy(), thickness=1.6, width=4,
                             color=colour),
                legendgroup=arm, showlegend=(i == 0),
                hovertemplate=(f"<b>{arm}</b><br>%{{text}}<br>"
                               f"{what} %{{y:.{d}f}}{unit_sp}<br>{band} %{{customdata[1]:.{d}f}} to "
                               f"%{{customdata[2]:.{d}f}}<extra></extra>"), **refs))
        # -- highlighted patients on top, labelled
        for j, sid in enumerate(highlighted):
            g = lines[lines["USUBJID"] == sid]
            if g.empty:
                continue
            arm = str(g["ARM"].iloc[0])
            colour = study.arm_by_label[arm].colour
            text = [""] * (len(g) - 1) + [_short_id(sid)]
            span += list(g["y"])
            traces.append(dict(
                type="scatter", x=g["TIME"], y=g["y"], mode="lines+markers+text", name=f"{sid} ({arm})", text=text,
                customdata=[visit_suffix(study, x) for x in g["TIME"]],
                textposition=("top right", "bottom right")[j % 2], textfont=dict(size=13, color="#111"),
                line=dict(color=colour, width=2.2, dash="dot"),
                marker=dict(size=7, symbol="diamond", color="white", line=dict(width=2, color=colour)),
                legendgroup=sid, showlegend=(i == 0),
                hovertemplate=f"<b>{sid}</b> · {arm}<br>{word} %{{x}}%{{customdata}}<br>%{{y:.{d}f}}{unit_sp}"
                              f"<extra></extra>", **refs))
        # -- axes
        if single:
            title = fit_title(axis_title(info, scale), AXIS_TITLE_CHARS)  # a long timepoint name: clipped
            long = max(len(x) for x in title.split("<br>")) > 28  # a timepoint's two-line name: smaller, in the plot
            # the title stays beside its panel (never over the n rows below it): two lines when it is longer
            title = wrap_to_room(title, 13 if long else 15, SINGLE_PANEL_PX)
            yax["title"] = dict(text=title, **({"font": dict(size=13)} if long else {}))
        else:
            yax["title"] = dict(text=clip_lines(axis_title(info, scale, short=True), 24))
            bottom = i + cols >= len(codes)  # no panel under this one: its time axis is labelled
            # the same visits on every panel: ticks labelled on the bottom panels only, so a panel's title does
            # not run into the tick labels above it when the figure is shrunk to the window (present mode)
            if bottom:
                xax["title"] = dict(text=study.time_title)
            xax["showticklabels"] = bottom
        if ctl["log"]:
            if scale == "raw" and (info.lo is not None or info.hi is not None):
                span += [y0, y1]
            vals = log_ticks(span)
            yax["type"] = "log"
            if vals:
                yax.update(tickvals=vals, ticktext=[f"{v:g}" for v in vals])
        elif scale != "raw":
            shapes.append(hline(0, dict(color="#52606d", width=1, dash="dash"), panel))
    ticks = sorted(week_ticks)
    x_range = [lo_w - 2.2, hi_w + (5 if highlighted else 2.2)]
    text = [f"{t:g}" for t in ticks]
    for key, ax in layout.items():  # every time axis, the empty panels' too
        if key.startswith("xaxis"):
            ax.update(tickvals=ticks, ticktext=text, range=x_range, showgrid=True,
                      tickangle=upright(text, PLOT_PX / cols * 0.9))
    if single:
        traces += _n_row(study, labels, summaries[codes[0]], kinds)
        layout["yaxis2"].update(_n_row_axis(study, labels))
        layout["xaxis2"]["title"] = dict(text=study.time_title)
        height = 470
        margin = dict(l=80, r=20, t=40, b=82)
    else:
        height = 330 * rows + 40
        margin = dict(l=70, r=20, t=60, b=82)
    layout.update(base_layout(margin=margin, height=height, hovermode="closest",
                              legend=dict(orientation="h", yanchor="bottom", y=1.0 if single else 1.06,
                                          xanchor="left", x=0, font=dict(size=13))))
    if titles:
        layout["annotations"] = titles
    if shapes:
        layout["shapes"] = shapes
    what = ("geometric mean ± 95% CI (t on logs)" if ctl["log"] else "mean ± 95% CI (t)") if stat == "mean" \
        else "median, IQR"
    pop = "; summaries of the chosen patients only" if ctl["patmode"] == "restrict" and state.patients else ""
    if sampled_arms:
        pop += "; " + indiv_sample_text(sampled_arms)
    if imputed:
        pop += f"; {imputed_text(kinds, n_imp, n_all)}"
        layout["legend"]["title"] = dict(text=f"{kinds}: {n_imp} of {n_all} values imputed ·")
    fig = go.Figure(data=traces, layout=layout)
    line = answer(fig, summaries) if answer is not None else None
    if line:
        pop += f"; {line}"
    stamp(fig, study, f"{SCALE_LABELS[scale].lower()}, {what}; n per arm and visit{pop}", state=state)
    return fig, summaries


SINGLE_PANEL_PX = 230  # height of the one-parameter figure's main panel (470 px less margins, caption, n rows)


def arm_dodge(study) -> float:
    """How far apart (x units) the arms' points of one visit are drawn: never as far as the next visit."""
    gaps = np.diff(sorted(set(study.visit_numbers))) if len(study.visit_numbers) > 1 else np.array([4.0])
    return min(0.55, 0.18 * float(gaps.min()))


def wrap_to_room(text: str, size: float, room_px: float) -> str:
    """An axis title on two lines (at the space nearest its middle) when one line is longer than ``room_px``."""
    lines = text.split("<br>")
    if len(lines) > 1 or len(text) * size * 0.56 <= room_px:
        return text
    mid = len(text) / 2
    cuts = [i for i, ch in enumerate(text) if ch == " "]
    if not cuts:
        return text
    cut = min(cuts, key=lambda i: abs(i - mid))
    return text[:cut] + "<br>" + text[cut + 1:]


def imputed_text(kinds: str, k: int, n: int) -> str:
    """'LOCF: 7 of 58 values imputed': the label of every view that includes the sponsor's imputations."""
    return f"{kinds}: {k} of {n} values imputed (the sponsor's DTYPE records, at visits with no observed value)"


def indiv_sample_text(sampled_arms: dict) -> str:
    """What the patient lines are when some arm has more than ``T.INDIV_MAX_PER_ARM`` patients."""
    arms = ", ".join(sampled_arms)
    return (f"patient lines: a systematic sample of {T.INDIV_MAX_PER_ARM} per arm in USUBJID order ({arms}), "
            f"chosen patients always drawn")


def indiv_sample_note(study, state, ctl) -> str | None:
    """The page's note when the "Individual patients" lines are sampled (counts from ADSL, cheap)."""
    if not ctl["indiv"]:
        return None
    labels, subjects, _, _ = _population(study, state, ctl["patmode"])
    adsl = study.adsl
    counts = adsl.loc[adsl["USUBJID"].isin(list(subjects)), "ARM_LABEL"].astype(str).value_counts()
    big = {a: int(counts[a]) for a in labels if counts.get(a, 0) > T.INDIV_MAX_PER_ARM}
    if not big:
        return None
    return (f"Individual patients: above {T.INDIV_MAX_PER_ARM} patients per arm the figure draws a systematic "
            f"sample of {T.INDIV_MAX_PER_ARM} patient lines per arm (evenly spaced in USUBJID order: "
            + ", ".join(f"{a} has {n}" for a, n in big.items())
            + "); the patients chosen in the filter are always drawn. Summaries and statistics use every patient.")


def log_ticks(values) -> list[float]:
    """1-2-5 ticks covering the positive ``values`` (labelled in full: no bare '2' or '5' on a projector)."""
    v = np.asarray([x for x in values if x is not None], float)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return []
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    steps = (1, 1.5, 2, 3, 5, 7) if hi - lo <= 1 else (1, 2, 5) if hi - lo <= 3 else (1,)
    ticks = [m * 10.0 ** e for e in range(lo, hi + 1) for m in steps]
    inside = [t for t in ticks if v.min() / 1.5 <= t <= v.max() * 1.5]
    return [float(f"{t:.6g}") for t in inside]


def _n_row(study, labels, summ, kinds: str = "imputed") -> list[dict]:
    """The 'n at each visit' rows under the single-parameter plot (drop-outs show as smaller n; an n that
    includes the sponsor's imputed values says how many): their traces, on the second panel."""
    traces = []
    for arm in labels:
        s = summ[summ["ARM"] == arm]
        colour = study.arm_by_label[arm].colour
        k = s["n_imputed"] if "n_imputed" in s.columns else [0] * len(s)
        traces.append(dict(
            type="scatter", x=s["TIME"], y=[arm] * len(s),
            text=[n_text(int(n), int(j), kinds) for n, j in zip(s["n"], k)], mode="text",
            textfont=dict(size=13, color=colour), showlegend=False, name=f"n {arm}",
            customdata=[f"{study.time_word.capitalize()} {tm:g}{visit_suffix(study, tm)}" for tm in s["TIME"]],
            hovertemplate=f"{arm}<br>%{{customdata}}: n = %{{text}}<extra></extra>", **panel_refs(2)))
    return traces


def _n_row_axis(study, labels) -> dict:
    """The n rows' y axis: one row per arm, in the legend's order."""
    ys = list(reversed(labels))
    # "n" in each arm's colour: arm names here would run into the y-axis title of the plot above (long names,
    # and the narrow figure while presenting)
    return dict(categoryorder="array", categoryarray=ys, showgrid=False, zeroline=False, tickvals=ys,
                ticktext=[f"<span style='color:{study.arm_by_label[a].colour}'>n</span>" for a in ys],
                tickfont=dict(size=13), fixedrange=True, range=[-0.6, len(ys) - 0.4])


# -- the summary table -----------------------------------------------------------------------
def summary_frame(study, codes, summaries: dict, scale: str) -> pd.DataFrame:
    """Long table for the CSV: one row per parameter × arm × visit."""
    rows = []
    when = "Week" if study.time_unit == "week" else "Visit number (AVISITN)"
    kinds = "/".join(imputation_types(study, codes)) or "imputed"
    imputed = any("n_imputed" in s.columns and s["n_imputed"].sum() for s in summaries.values())
    for code in codes:
        info = study.params[code]
        for r in summaries[code].itertuples():
            rows.append({"PARAMCD": code, "Parameter": info.name, "Scale": SCALE_LABELS[scale],
                         "Unit": _unit_text(info, scale), "Arm": r.ARM, when: r.TIME, "Visit": study.visit_label(r.TIME),
                         "n": r.n, **({f"n {kinds}": getattr(r, "n_imputed", 0)} if imputed else {}),
                         "Mean": r.mean, "SD": r.sd, "CI95 low": r.ci_low, "CI95 high": r.ci_high,
                         "Median": r.median, "Q1": r.q1, "Q3": r.q3, "Geometric mean": r.gmean,
                         "GM CI95 low": r.gci_low, "GM CI95 high": r.gci_high})
    return pd.DataFrame(rows)


def summary_table(study, summ: pd.DataFrame, labels, d: int, table_id: str, kinds: str = "imputed"):
    if summ.empty:
        return html.Div("No values in the current filter.", className="empty-note", id=table_id)
    arms = [a for a in labels if (summ["ARM"] == a).any()]
    head1 = [html.Th("Visit", rowSpan=2)] + [
        html.Th(a, colSpan=3, style={"borderBottom": f"3px solid {study.arm_by_label[a].colour}",
                                     "textAlign": "center"}) for a in arms]
    head2 = [html.Th(x) for _ in arms for x in ("n", "mean (SD)", "median [Q1, Q3]")]
    body = []
    by = {(r.ARM, r.TIME): r for r in summ.itertuples()}
    for v in sorted(summ["TIME"].unique()):
        cells = [html.Td(study.visit_label(v), className="row-label")]
        for a in arms:
            r = by.get((a, v))
            if r is None:
                cells += [html.Td("0"), html.Td("–"), html.Td("–")]
            else:
                cells += [html.Td(n_text(int(r.n), int(getattr(r, "n_imputed", 0)), kinds)),
                          html.Td(f"{_f(r.mean, d)} ({_f(r.sd, d)})"),
                          html.Td(f"{_f(r.median, d)} [{_f(r.q1, d)}, {_f(r.q3, d)}]")]
        body.append(html.Tr(cells))
    return dbc.Table([html.Thead([html.Tr(head1), html.Tr(head2)]), html.Tbody(body)], id=table_id, bordered=False,
                     striped=True, hover=True, size="sm", responsive=True, className="summary-table")


def zero_baseline_note(study, codes, labels, subjects, scale: str) -> str:
    """% change is undefined where the baseline is 0: how many subjects that leaves out, per parameter."""
    if scale != "pchg":
        return ""
    parts = []
    for code in codes:
        df = T.select(param_rows(study, code), code, labels, subjects)
        n = df.loc[df["BASE"].astype(float) == 0, "USUBJID"].nunique() if "BASE" in df.columns else 0
        if n:
            parts.append(f"{study.params[code].name}: {n}")
    return ("% change from baseline is not defined where the baseline is 0: subjects with a baseline of 0 are "
            f"not in the % change summaries ({'; '.join(parts)}); the Change from baseline scale includes them. "
            ) if parts else ""


def tables_block(study, state, ctl, summaries):
    labels, subjects, *_ = _population(study, state, ctl["patmode"])
    blocks = []
    kinds = "/".join(imputation_types(study, ctl["codes"])) or "imputed"
    for i, code in enumerate(ctl["codes"]):
        info = study.params[code]
        d = decimals_for(T.select(param_rows(study, code), code, labels, subjects)["AVAL"], ctl["scale"])
        tbl = summary_table(study, summaries[code], labels, d, f"traj-table-{code}", kinds)
        title = f"{info.name} — {SCALE_LABELS[ctl['scale']].lower()}"
        if len(ctl["codes"]) == 1:
            blocks += [html.Div(title, className="fw-semibold mt-2 mb-1 traj-table-title"), tbl]
        else:
            blocks.append(html.Details([html.Summary(title, className="fw-semibold mt-2 mb-1 traj-table-title"), tbl], open=(i == 0)))
    n_all = sum(int(s["n"].sum()) for s in summaries.values())
    n_imp = sum(int(s["n_imputed"].sum()) for s in summaries.values() if "n_imputed" in s.columns)
    imputed = (f"With the sponsor's imputed values switched on ({imputed_text(kinds, n_imp, n_all)}), n includes "
               f"them and says how many in parentheses. ") if ctl.get("imputed") else \
        ("Observed values only (the sponsor's imputed records are a switch above the figure). "
         if imputation_types(study, ctl["codes"]) else "")
    blocks.append(html.Div(
        imputed +
        f"n: subjects with a value at the visit. mean (SD): sample SD. median [Q1, Q3]: quantiles by "
        f"{QUANTILE_METHOD}. "
        # the figure's interval as the figure draws it: a t-based CI of the mean, or the median's IQR
        + (f"The figure's 95% CI is {T.CI_METHOD}. " if ctl["stat"] == "mean" else
           "The figure shows the median with its interquartile range (Q1 to Q3, as in the table). ")
        + ("On the change scales the baseline row is 0 by definition. " if ctl["scale"] != "raw" else "")
        + zero_baseline_note(study, ctl["codes"], labels, subjects, ctl["scale"])
        + (f"With the log axis the figure shows the {T.GEO_METHOD}; the table's means are arithmetic."
           if ctl["log"] and ctl["stat"] == "mean" else ""),
        className="caption"))
    return blocks


# -- statistics -------------------------------------------------------------------------------
def _baseline_visit(df: pd.DataFrame) -> float:
    b = df.loc[T.is_baseline(df), "TIME"].dropna()
    return float(b.min()) if len(b) else 0.0


def param_stats(study, code, labels, subjects, weeks, visit, ref_label, log, outcome, *, imputed=False, structure="UN",
                df_method="kr") -> dict:
    """Within-arm paired tests and the MMRM for one parameter (plain data, cacheable).

    ``imputed``: the paired tests include the sponsor's imputed values (at visits with no observed
    value; ``k`` per arm counts them); the mixed model always uses observed values only.
    """
    info = study.params[code]
    v = T.effective_visit(visit, info.visits, weeks)
    out = {"code": code, "visit": v, "within": [], "mmrm": None}
    if v is None:
        return out
    df = T.select(param_rows(study, code), code, labels, subjects)
    paired = T.select(param_rows(study, code, True), code, labels, subjects) if imputed else df
    b0 = _baseline_visit(df)
    positive = bool((paired["AVAL"].dropna() > 0).all())
    for arm in labels:
        d = paired[paired["ARM"] == arm]
        pairs = pair_values(d, b0, v, visit="TIME")
        w = wilcoxon_signed_rank(pairs["a"], pairs["b"])
        t = paired_t(pairs["a"], pairs["b"], log=log and positive)
        why = (explain.arm_pairs_cause(paired, arm, b0, v, study.visit_label(b0), study.visit_label(v),
                                       reference=arm == ref_label, baseline=True) if not len(pairs) else None)
        k = 0
        if imputed:
            at_v = d[(d["TIME"] == v) & (d["DTYPE"].astype(str) != "")]
            k = int(at_v["USUBJID"].astype(str).isin(pairs.index.astype(str)).sum())
        out["within"].append({"arm": arm, "w": w, "t": t, "k": k, "why": why})
    win = df[df["TIME"].between(max(weeks[0], b0), weeks[1]) | T.is_baseline(df)]
    # analysis.mmrm reads the visit from AVISITN: give it the position on the time axis
    out["mmrm"] = MM.fit_mmrm(win.assign(AVISITN=win["TIME"]), ref_label, v, labels, outcome=outcome,
                              structure=structure, df_method=df_method)
    if not out["mmrm"].ok:  # the cause in the data, when there is a more specific one than the model's note
        out["mmrm_cause"] = (blinding.between_arms_na(study)
                             or explain.baseline_cause(win, ref_label, v, labels, outcome, study.visit_label(v)))
    return out


def _ci(est, lo, hi, d):
    if est is None:
        return "–"
    if lo is None or not np.isfinite(lo):
        return f"{_f(est, d)} (CI not available)"
    return f"{_f(est, d)} [{_f(lo, d)}, {_f(hi, d)}]"


def _pcell(p_raw, p_adj, method, adj_label):
    if p_raw is None:
        return html.Td("–")
    parts = [html.Span(f"{format_p(p_raw)}" + (" raw" if adj_label else ""))]
    if adj_label:
        parts += [html.Br(), html.Strong(f"{format_p(p_adj)} {adj_label}")]
    parts += [html.Br(), html.Small(method, className="text-muted")]
    return html.Td(parts, style=WRAP)


def _group_row(text, span):
    return html.Tr(html.Td(text, colSpan=span, className="fw-semibold", style={"background": "#eef2f6", "whiteSpace": "normal"}))


def _arm_cell(study, arm, text):
    return html.Td(text, style={"borderLeft": f"5px solid {study.arm_by_label[arm].colour}", "whiteSpace": "nowrap"})


def arm_families(results: list[dict], labels, method: str, getter) -> dict:
    """{arm: p-values of ``getter(result, arm)`` across the parameters shown}, adjusted by ``method`` (Holm/BH)
    as one family per (test, arm); ``method`` "none" leaves them as they are (the page and its slides)."""
    table = {}
    for arm in labels:
        ps = [getter(r, arm) for r in results]
        table[arm] = adjust(ps, method) if method != "none" else ps
    return table


def stats_panel(study, state, ctl, sctl, results: list[dict], notes: list[str]):
    labels, subjects, *_ = _population(study, state, ctl["patmode"])
    kinds = "/".join(imputation_types(study, ctl["codes"])) or "imputed"
    multi = len(results) > 1
    method = sctl["adjust"] if multi else "none"
    adj_label = {"holm": "Holm", "fdr_bh": "BH"}.get(method)

    def adjusted(getter):
        return arm_families(results, labels, method, getter)

    def w_p(r, arm):
        x = next((w for w in r["within"] if w["arm"] == arm), None)
        return x["w"].p_value if x else None

    def t_p(r, arm):
        x = next((w for w in r["within"] if w["arm"] == arm), None)
        return x["t"].p_value if x else None

    def m_p(r, arm):
        m = r["mmrm"]
        c = next((c for c in m.contrasts if c.arm == arm), None) if m is not None else None
        return c.p_value if c is not None else None

    aw, at, am = adjusted(w_p), adjusted(t_p), adjusted(m_p)

    # -- within arm: a header row per parameter, then one row per arm
    head = ["Arm", "n pairs", "Median change, Hodges–Lehmann [95% CI]", "Wilcoxon signed-rank",
            "Paired t: estimate [95% CI]", "Paired t-test"]
    rows = []
    for i, r in enumerate(results):
        info = study.params[r["code"]]
        if r["visit"] is None:
            rows.append(_group_row(f"{info.name}: no post-baseline visit of this parameter in the timepoint window — "
                                   f"no comparison", len(head)))
            continue
        rows.append(_group_row(f"{info.name} · baseline vs {visit_words(study, r['visit'])}", len(head)))
        d = decimals_for(T.select(param_rows(study, r["code"]), r["code"], labels, subjects)["AVAL"], "raw")
        unit = f" {param_unit(info)}" if param_unit(info) else ""
        for x in r["within"]:
            w, t = x["w"], x["t"]
            cells = [_arm_cell(study, x["arm"], x["arm"]), html.Td(n_text(w.n_pairs, x.get("k", 0), kinds))]
            if not w.ok:
                why = x.get("why")
                cells.append(html.Td((why[:1].upper() + why[1:]) if why else (w.note or "not computable"), colSpan=4,
                                     className="text-muted", style=WRAP))
            else:
                ci_how = (f"{'exact' if w.ci_exact else 'approximate'} {100 * w.conf_level:.4g}% CI"
                          if w.has_ci else "no CI")
                cells += [html.Td([_ci(w.estimate, w.ci_low if w.has_ci else None, w.ci_high, d) + unit, html.Br(),
                                   html.Small(ci_how + (f"; {w.remark}" if w.remark else ""), className="text-muted")],
                                  style=WRAP),
                          _pcell(w.p_value, aw[x["arm"]][i], w.method, adj_label)]
                if t.ok:
                    ratio = t.estimate_name.startswith("geometric")
                    cells += [html.Td([_ci(t.estimate, t.ci_low, t.ci_high, 2 if ratio else d) + ("" if ratio else unit),
                                       html.Br(), html.Small(t.estimate_name, className="text-muted")], style=WRAP),
                              _pcell(t.p_value, at[x["arm"]][i], t.method, adj_label)]
                else:
                    cells += [html.Td(t.note or "not computable", colSpan=2, className="text-muted", style=WRAP)]
            rows.append(html.Tr(cells))
    within = dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)], id="traj-within",
                       size="sm", striped=False, responsive=True, className="summary-table stats-table")

    # -- between arms (MMRM)
    ref_label = study.arm_by_code[sctl["ref"]].label
    outcome_name = "% change from baseline" if ctl["scale"] == "pchg" else "change from baseline"
    mhead = ["Comparison", "n at the visit (arm / ref.)", "LS-mean difference [95% CI]", "p",
             "Covariance · df method"]
    mrows, mnotes = [], []
    for i, r in enumerate(results):
        info = study.params[r["code"]]
        m = r["mmrm"]
        if m is None:
            continue
        mrows.append(_group_row(f"{info.name} · {visit_words(study, r['visit'])} · {outcome_name}", len(mhead)))
        # LS means and their differences: one decimal more than the data were recorded with (reporting convention)
        d = 1 if ctl["scale"] == "pchg" else min(4, recorded_decimals(
            T.select(param_rows(study, r["code"]), r["code"], labels, subjects)["AVAL"]) + 1)
        unit = "%" if ctl["scale"] == "pchg" else (f" {param_unit(info)}" if param_unit(info) else "")
        if not m.ok:
            mrows.append(html.Tr([html.Td(f"vs {ref_label}"),
                                  html.Td(f"Not estimated: {r.get('mmrm_cause') or m.note}", colSpan=4,
                                          className="text-muted", style=WRAP)]))
            continue
        sas = MM.STRUCTURES[m.structure][1]
        used = m.covariance if m.single_visit or sas.casefold() == str(m.covariance).casefold() \
            else f"{m.covariance} ({sas})"  # "AR(1)", not "AR(1) (AR(1))"
        for c in m.contrasts:
            cells = [html.Td(f"{c.arm} − {ref_label}", style={"borderLeft": f"5px solid {study.arm_by_label[c.arm].colour}",
                                                               "whiteSpace": "normal", "minWidth": "9em"}),
                     html.Td(f"{c.n_arm} / {c.n_ref}")]
            if c.ok:
                cells += [html.Td(_ci(c.estimate, c.ci_low, c.ci_high, d) + unit),
                          _pcell(c.p_value, am[c.arm][i], f"t-test, df = {c.df:.1f}", adj_label),
                          html.Td([html.Span(used), html.Br(),
                                   html.Small(f"{DDFM_SHORT[m.df_method]} df; SE {_f(c.se, d + 1)}"
                                              + (f" (model-based {_f(c.se_model, d + 1)})"
                                                 if m.df_method != "satterthwaite" else ""),
                                              className="text-muted")], style=WRAP, className="mmrm-method")]
            else:
                cells.append(html.Td(f"Not estimated: {c.note}", colSpan=3, className="text-muted", style=WRAP))
            mrows.append(html.Tr(cells))
        if m.fallback_note:
            mrows.append(html.Tr(html.Td(f"Covariance: {m.fallback_note}.", colSpan=len(mhead),
                                         className="mmrm-fallback text-warning-emphasis", style=WRAP)))
        extra = f"; {'; '.join(m.remarks)}" if m.remarks else ""
        mnotes.append(f"{info.name}: {m.method}; {m.n_subjects} subjects, {m.n_obs} post-baseline values at "
                      f"{study.time_word}s {', '.join(f'{v:g}' for v in m.visits)}; {m.n_cov_params} covariance "
                      f"parameters, REML log-likelihood {m.reml_loglik:.3f}, AIC {m.aic:.1f}{extra}.")
    between = dbc.Table([html.Thead(html.Tr([html.Th(h, style={"whiteSpace": "normal"}) for h in mhead])),
                         html.Tbody(mrows)], id="traj-mmrm",
                        size="sm", striped=True, responsive=True, className="summary-table stats-table")

    pop = "the chosen patients only" if ctl["patmode"] == "restrict" and state.patients else \
        f"{W.population_text(study, ctl['codes'])}; the arms in the filter"
    model_text = (f"Model: {MM.model_formula('CHG' if ctl['scale'] != 'pchg' else 'PCHG')} (visit categorical; "
                  f"arm, visit and baseline effects estimated at each visit), fitted by REML to the observed "
                  f"post-baseline values inside the timepoint window{' (never the imputed ones)' if ctl.get('imputed') else ''}, "
                  f"every subject with the visits they have (missing visits left out, no imputation). Within-subject "
                  f"covariance: {COV_LABELS[sctl['cov']]} as chosen; "
                  f"when it does not converge the model falls back along unstructured → heterogeneous Toeplitz → "
                  f"heterogeneous AR(1) → compound symmetry and says so. LS-mean difference of each arm vs the "
                  f"reference arm at the comparison visit, t-test with {DDFM_LABELS[sctl['ddfm']]} degrees of "
                  f"freedom" + (" and the Kenward–Roger adjusted SE" if sctl["ddfm"] != "satterthwaite" else "")
                  + f". R equivalent: nlme::gls / mmrm::mmrm with emmeans; SAS PROC MIXED REPEATED / "
                  f"TYPE={MM.STRUCTURES[sctl['cov']][1]} DDFM={'KR' if sctl['ddfm'] != 'satterthwaite' else 'SAT'}. "
                  f"Arms with fewer than {MM.MIN_PER_ARM} subjects at the visit are not compared.")
    adj_text = ""
    if multi:
        adj_text = (f"Multiplicity: p-values adjusted by {ADJUST_LABELS[method]} across the {len(results)} parameters "
                    f"shown, separately for each test and arm; raw and adjusted are both shown."
                    if adj_label else f"Multiplicity: p-values are raw (unadjusted) across the {len(results)} "
                                      f"parameters shown.")
    return [
        *[dbc.Alert(n, color="secondary", className="py-1 mb-2") for n in notes],
        html.H2(f"Within arm: baseline vs the comparison visit (population: {pop})",
                className="h6 fw-semibold mt-1 stats-title"),
        within,
        html.Div("Wilcoxon signed-rank test of the paired differences with the Hodges–Lehmann median difference "
                 "and its 95% CI, as R's wilcox.test(conf.int = TRUE) computes them: differences at the data's "
                 "recorded precision (ties are ties of the recorded values); zero differences are left out of the "
                 "test, the estimate and the CI alike (R's convention, said in the row); exact for fewer than 50 "
                 "non-zero differences without ties or zeros, else the normal approximation with tie and continuity "
                 "corrections; the CI is labelled exact or approximate, at the level R reaches. Paired t-test"
                 + (" on log values (estimate: geometric mean ratio)" if ctl["log"] else "") +
                 " as a secondary analysis. n pairs: subjects with a value at baseline and at the visit"
                 + (f" (with the sponsor's {kinds} values where none was observed; how many in parentheses)"
                    if ctl.get("imputed") else "") + ". Two-sided p-values.", className="caption mb-3"),
        *([html.H2(f"Between arms: mixed model for repeated measures (MMRM), reference arm {ref_label}",
                   className="h6 fw-semibold mt-1 stats-title"),
           between,
           html.Div([html.Div(model_text), *[html.Div(t) for t in mnotes], html.Div(adj_text) if adj_text else None],
                    className="caption")] if not blinding.between_arms_na(study) else
          [html.H2(f"Between arms (MMRM): {blinding.between_arms_na(study)}", id="traj-mmrm-na",
                   className="h6 fw-semibold mt-1 stats-title")]),
    ]


# -- the between-arm answer on the figures -------------------------------------------------------
def mmrm_method(m, sctl) -> str:
    """'MMRM, unstructured covariance, Kenward–Roger df': the model behind a difference, in a few words."""
    used = m.covariance if getattr(m, "single_visit", False) else f"{m.covariance} ({MM.STRUCTURES[m.structure][1]})"
    return f"MMRM, {used} covariance, {DDFM_SHORT.get(m.df_method, m.df_method)} df"


def adjusted_mmrm_p(results: list[dict], labels, method: str) -> dict:
    """{arm: [adjusted p per result]}: each arm's family of MMRM p-values across the parameters shown."""
    table = {}
    for arm in labels:
        ps = []
        for r in results:
            m = r["mmrm"]
            c = next((c for c in m.contrasts if c.arm == arm), None) if m is not None else None
            ps.append(c.p_value if c is not None else None)
        table[arm] = adjust(ps, method) if method != "none" and len(results) > 1 else ps
    return table


def _plotted(summ: pd.DataFrame, arm: str, tm: float, ctl: dict) -> float | None:
    row = summ[(summ["ARM"] == arm) & (summ["TIME"] == tm)]
    if row.empty:
        return None
    col = "median" if ctl["stat"] == "median" else ("gmean" if ctl["log"] and row["gmean"].notna().all() else "mean")
    y = float(row[col].iloc[0])
    return y if np.isfinite(y) else None


def answer_text(c, d: int, unit: str) -> str:
    """'Δ −40 [−78, −2] IU/mL · p = 0.041': one arm's adjusted difference vs the reference."""
    def f(x):
        return _f(x, d).replace("-", "−")
    ci = f" [{f(c.ci_low)}, {f(c.ci_high)}]" if c.ci_low is not None and np.isfinite(c.ci_low) else ""
    return f"Δ {f(c.estimate)}{ci}{unit} · {format_p(c.p_value)}"


def add_answer(fig, study, state, ctl: dict, sctl: dict, res: dict, summ: pd.DataFrame, labels) -> str | None:
    """Brackets at the comparison visit from the reference arm to each arm, labelled with the MMRM adjusted
    difference [95% CI] and p (the trajectory figure's answer, as the comparison page's brackets are).
    Returns the method line for the caption, or None when nothing is drawn."""
    m, v = res.get("mmrm"), res.get("visit")
    ref_label = study.arm_by_code[sctl["ref"]].label
    if m is None or not m.ok or v is None or ref_label not in labels:
        return None
    info = study.params[res["code"]]
    y_ref = _plotted(summ, ref_label, v, ctl)
    if y_ref is None:
        return None
    n_arms, dodge = len(labels), arm_dodge(study)
    off = {a: (k - (n_arms - 1) / 2) * dodge for k, a in enumerate(labels)}
    d = 1 if ctl["scale"] == "pchg" else decimals_for(summ["mean"].dropna(), "raw")
    unit = "%" if ctl["scale"] == "pchg" else (f" {param_unit(info)}" if param_unit(info) else "")
    marks = []
    for c in m.contrasts:
        y = _plotted(summ, c.arm, v, ctl) if c.arm in labels else None
        if y is None or not c.ok:
            continue
        marks.append((c, y))
    if not marks:
        return None
    log = ctl["log"]
    fwd = (lambda y: math.log10(y)) if log else (lambda y: y)
    back = (lambda y: 10 ** y) if log else (lambda y: y)
    lo_w, hi_w = state.weeks
    span_x = (hi_w - lo_w) + 4.4
    step = max(0.35, 0.012 * span_x)
    x0 = v + max(off.values()) + step
    ys = [fwd(y) for _, y in marks] + [fwd(y_ref)]
    vals = [fwd(x) for x in summ[["ci_low", "ci_high", "mean"]].to_numpy(float).ravel() if np.isfinite(x)
            and (x > 0 or not log)]
    # the labels are spaced on the span the y axis will show (every trace of the panel, error bars and the
    # normal range included), not only the means: otherwise two labels overlap on a tall axis
    for t in fig.data:
        if getattr(t, "yaxis", None) not in (None, "y") or t.y is None:
            continue
        y = pd.to_numeric(pd.Series(list(t.y)), errors="coerce").to_numpy(float)
        ext = [y]
        err = getattr(t, "error_y", None)
        if err is not None and err.array is not None:
            up = pd.to_numeric(pd.Series(list(err.array)), errors="coerce").to_numpy(float)
            down = pd.to_numeric(pd.Series(list(err.arrayminus if err.arrayminus is not None else err.array)),
                                 errors="coerce").to_numpy(float)
            if len(up) == len(y) and len(down) == len(y):
                ext += [y + up, y - down]
        vals += [fwd(x) for e in ext for x in e if np.isfinite(x) and (x > 0 or not log)]
    for sh in fig.layout.shapes or ():  # the normal-range band
        if sh.yref in ("y", None) and sh.y0 is not None and sh.y1 is not None:
            vals += [fwd(float(y)) for y in (sh.y0, sh.y1) if np.isfinite(float(y)) and (float(y) > 0 or not log)]
    yspan = (max(vals) - min(vals)) if vals else 1.0
    yspan = yspan or 1.0
    # labels at their bracket's middle, moved apart when they would overlap (two lines of text each)
    mids = sorted(((fwd(y) + fwd(y_ref)) / 2, k) for k, (_, y) in enumerate(marks))
    gap = 0.19 * yspan  # two 12 px lines and their border: ~40 px of the ~230 px panel (the axis pads ~10 %)
    placed = {}
    last = None
    for mid, k in mids:
        y_lab = mid if last is None else max(mid, last + gap)
        placed[k] = y_lab
        last = y_lab
    texts = []
    for k, (c, y) in enumerate(marks):
        xb = x0 + k * step
        colour = study.arm_by_label[c.arm].colour
        tick = 0.3 * step
        fig.add_trace(go.Scatter(
            x=[xb - tick, xb, xb, xb - tick], y=[y_ref, y_ref, y, y], mode="lines",
            line=dict(color=colour, width=2.4, dash=arm_dash(study, c.arm)), hoverinfo="skip", showlegend=False,
            name=f"{c.arm} − {ref_label}", meta={"role": "answer-bracket", "arm": c.arm, "p": c.p_value},
            xaxis="x", yaxis="y",  # the main panel
        ))
        text = answer_text(c, d, unit)
        texts += [c.arm, text]
        fig.add_annotation(
            x=xb + 0.4 * step, y=back(placed[k]), xref="x", yref="y", xanchor="left", yanchor="middle",
            text=f"<b>{html_text(c.arm)}</b><br>{text}", showarrow=False, align="left",
            font=dict(size=12, color="#1f2933"), bgcolor="rgba(255,255,255,0.9)", bordercolor=colour, borderwidth=1.5,
            borderpad=2, name="answer",
        )
    # what the brackets are, once, above them
    top = back(max(max(placed.values()) + 0.6 * gap, max(ys)))
    fig.add_annotation(x=x0 - 0.3 * step, y=top, xref="x", yref="y", xanchor="left", yanchor="bottom",
                       text=f"vs {html_text(ref_label)} at {html_text(visit_words(study, v))} (MMRM)", showarrow=False,
                       font=dict(size=12, color="#3e4c59"), name="answer-title")
    # room on the right for the labels (12 px text; the plot is about 820 px wide at 1280 px)
    label_px = min(330, 7.0 * max(len(t) for t in texts) + 14)
    xr = list(fig.layout.xaxis.range)
    need = x0 + len(marks) * step + 0.4 * step
    room = label_px * (need - xr[0]) / max(200.0, 820.0 - label_px)
    if need + room > xr[1]:
        fig.update_xaxes(range=[xr[0], need + room])
    what = "% change" if ctl["scale"] == "pchg" else "change from baseline"
    return (f"brackets at {visit_words(study, v)}: {mmrm_method(m, sctl)}; LS-mean difference in {what} vs "
            f"{ref_label} [95% CI], two-sided t-test")


def html_text(text: str) -> str:
    import html as _html

    return _html.escape(str(text), quote=False)


def forest_figure(study, state, ctl: dict, sctl: dict, results: list[dict]) -> go.Figure:
    """The between-arm differences of the parameters shown (small multiples): one row per parameter, each on
    its own axis (its unit), a point and 95% CI per arm vs the reference, the value and p written beside it."""
    labels, subjects, *_ = _population(study, state, ctl["patmode"])
    ref_label = study.arm_by_code[sctl["ref"]].label
    method = sctl["adjust"] if len(results) > 1 else "none"
    adj = adjusted_mmrm_p(results, labels, method)
    adj_label = {"holm": "Holm", "fdr_bh": "BH"}.get(method)
    others = [a for a in labels if a != ref_label]
    n = max(1, len(results))
    letters = "ABCDEF"
    titles = []
    for i, r in enumerate(results):
        info = study.params[r["code"]]
        when = visit_words(study, r["visit"]) if r["visit"] is not None else "no comparison visit"
        titles.append(f"{letters[i]} · {info.name} · {when}")
    # each panel: 26 px per arm, then 64 px for its x ticks, its axis title and the next panel's title
    row_px = 26 * max(1, len(others)) + 64
    fig = make_subplots(rows=n, cols=1, subplot_titles=titles,
                        vertical_spacing=min(0.5, 64 / max(1, n * row_px - 64)) if n > 1 else 0)
    methods = set()
    for i, r in enumerate(results, start=1):
        info = study.params[r["code"]]
        m = r["mmrm"]
        d = 1 if ctl["scale"] == "pchg" else decimals_for(
            T.select(param_rows(study, r["code"]), r["code"], labels, subjects)["AVAL"], "raw")
        unit = "%" if ctl["scale"] == "pchg" else (f" {param_unit(info)}" if param_unit(info) else "")
        sub = fig.get_subplot(i, 1)
        xa, ya = sub.xaxis.plotly_name.replace("axis", ""), sub.yaxis.plotly_name.replace("axis", "")
        fig.add_vline(x=0, line=dict(color="#52606d", width=1, dash="dash"), row=i, col=1)
        if m is None or not m.ok:
            why = (r.get("mmrm_cause") or (m.note if m is not None else "")) or "no post-baseline visit in the window"
            fig.add_annotation(text=f"Not estimated: {html_text(why)[:120]}", xref=f"{xa} domain",
                               yref=f"{ya} domain", x=0.5, y=0.5, showarrow=False, font=dict(size=12, color="#52606d"))
            sub.yaxis.update(showticklabels=False)
            continue
        methods.add(mmrm_method(m, sctl))
        for c in m.contrasts:
            if c.arm not in others:
                continue
            a = study.arm_by_label[c.arm]
            if not c.ok:
                fig.add_annotation(text=f"{html_text(c.arm)}: not estimated", xref=f"{xa} domain", yref=ya, x=0.02,
                                   y=c.arm, xanchor="left", showarrow=False, font=dict(size=12, color="#52606d"))
                continue
            hi = (c.ci_high - c.estimate) if c.ci_high is not None and np.isfinite(c.ci_high) else 0
            lo = (c.estimate - c.ci_low) if c.ci_low is not None and np.isfinite(c.ci_low) else 0
            fig.add_trace(go.Scatter(
                x=[c.estimate], y=[c.arm], mode="markers", name=c.arm, showlegend=False,
                marker=dict(size=11, symbol=arm_symbol(study, c.arm), color=a.colour, line=dict(width=1, color="white")),
                error_x=dict(type="data", array=[hi], arrayminus=[lo], thickness=2, width=5, color=a.colour),
                hovertemplate=f"<b>{html_text(c.arm)} − {html_text(ref_label)}</b><br>{answer_text(c, d, unit)}"
                              f"<extra></extra>",
                meta={"role": "forest", "code": r["code"], "arm": c.arm, "p": c.p_value},
            ), row=i, col=1)
            p_adj = adj[c.arm][i - 1]
            extra = f" ({adj_label} {format_p(p_adj).replace('p ', '', 1)})" if adj_label and p_adj is not None else ""
            fig.add_annotation(text=answer_text(c, d, unit) + extra, xref=f"{xa} domain", yref=ya, x=1.01,
                               y=c.arm, xanchor="left", showarrow=False, align="left", font=dict(size=12))
        sub.yaxis.update(categoryorder="array", categoryarray=list(reversed(others)), tickfont=dict(size=12),
                         range=[-0.6, len(others) - 0.4])
        # upright: plotly spaces a numeric axis's automatic ticks ~80 px apart, room for a number
        sub.xaxis.update(zeroline=False, tickfont=dict(size=11), tickangle=0,
                         title=dict(text=f"difference vs {html_text(ref_label)}" + (f" ({unit.strip()})" if unit.strip()
                                                                               else ""), font=dict(size=11)))
    for ann in fig.layout.annotations[:len(titles)]:
        ann.update(x=0, xanchor="left", font=dict(size=13))
    height = n * row_px + 70
    fig.update_layout(**base_layout(height=height, margin=dict(l=150, r=330, t=30, b=60), showlegend=False,
                                    hovermode="closest"))
    what = "% change" if ctl["scale"] == "pchg" else "change from baseline"
    stamp(fig, study, f"{'; '.join(sorted(methods)) or 'MMRM'}: LS-mean difference in {what} vs {ref_label} at "
                      f"the comparison visit [95% CI], two-sided t-test"
          + (f"; p adjusted by {ADJUST_LABELS[method]} across the {len(results)} parameters" if adj_label else ""),
          state=state)
    fig.update_layout(height=fig.layout.height + fig.layout.margin.b - 60)
    return fig


def stats_results(study, cache, state, ctl: dict, sctl: dict) -> tuple[list[dict], list[str]]:
    """The within-arm tests and the MMRM of every parameter shown (cached per parameter), and notes."""
    labels, subjects, _, _ = _population(study, state, ctl["patmode"])
    ref_label = study.arm_by_code[sctl["ref"]].label
    outcome = "PCHG" if ctl["scale"] == "pchg" else "CHG"
    log_t = ctl["log"]  # log axis shown <=> paired t on log values
    results, notes = [], []
    if ref_label not in labels:
        notes.append(f"The reference arm {ref_label} is not in the arm filter: no between-arm comparison.")
    notes += baseline_only_notes(study, ctl["codes"])
    # Keyed on what the statistics depend on: highlighted patients change the figure, not the fits.
    restricted = tuple(sorted(subjects)) if ctl["patmode"] == "restrict" and state.patients else None
    for code in ctl["codes"]:
        key = ("stats", code, tuple(labels), restricted, state.weeks, sctl["visit"], sctl["ref"], log_t, outcome,
               ctl["imputed"], sctl["cov"], sctl["ddfm"])
        res = cache.get_or_compute(
            "traj-stats", key,
            lambda c=code: param_stats(study, c, labels, subjects, state.weeks, sctl["visit"], ref_label,
                                       log_t, outcome, imputed=ctl["imputed"], structure=sctl["cov"],
                                       df_method=sctl["ddfm"]))
        results.append(res)
        v = res["visit"]
        if sctl["visit"] is not None and v is not None and v != sctl["visit"]:
            notes.append(f"{study.params[code].name}: {visit_words(study, sctl['visit'])} is not a visit of "
                         f"this parameter inside the window; compared at {visit_words(study, v)}.")
    return results, notes


# -- callbacks --------------------------------------------------------------------------------
def code_script(study, store, mode, param, params, scale, stat, opts, patmode, visit, ref, adjust_method,
                cov="UN", ddfm="kr") -> str:
    """The Show-code script of the current view, from the same validated state as the callbacks."""
    state = F.from_store(store, study)
    if state is None:
        raise PreventUpdate
    ctl = clean_controls(study, mode, param, params, scale, stat, opts, patmode)
    sctl = clean_stats_controls(study, ref, visit, adjust_method, cov, ddfm)
    if not ctl["codes"]:
        return "# Choose at least one parameter: the script rebuilds the parameters shown."
    labels, subjects, _, _ = _population(study, state, ctl["patmode"])
    restricted = ctl["patmode"] == "restrict" and bool(state.patients)
    return codegen.trajectories_script(study, state, ctl, sctl, labels, subjects, restricted)


CODE_INPUTS = [(FILTER_STORE, "data"), ("traj-mode", "value"), ("traj-param", "value"), ("traj-params", "value"),
               ("traj-scale", "value"), ("traj-stat", "value"), ("traj-opts", "value"), ("traj-patmode", "value"),
               ("traj-visit", "value"), ("traj-ref", "value"), ("traj-adjust", "value"), ("traj-cov", "value"),
               ("traj-ddfm", "value")]


def register(app, study, cache):
    figure_tools.register(app, "traj", CODE_INPUTS, code=lambda *v: code_script(study, *v),
                          code_filename=lambda *v: f"{study.study_id}-trajectories")

    def _view_key(state, ctl) -> tuple:
        return (state.key(), ctl["codes"], ctl["scale"], ctl["stat"], ctl["log"], ctl["indiv"], ctl["imputed"],
                ctl["patmode"], ctl["mode"])

    def _figure_and_tables(state, ctl, sctl=None, results=None):
        """The figure (with the between-arm answer of the one-parameter view) and its summaries, cached."""
        key = ("fig", *_view_key(state, ctl),
               tuple(sorted(sctl.items())) if sctl is not None and ctl["mode"] == "single" else None)

        def compute():
            answer = None
            if sctl is not None and ctl["mode"] == "single" and results:
                labels = _population(study, state, ctl["patmode"])[0]

                def answer(fig, summ):
                    return add_answer(fig, study, state, ctl, sctl, results[0], summ[ctl["codes"][0]], labels)
            fig, summ = trajectory_figure(study, state, ctl, answer)
            # JSON-ready: a repeated request does not copy and re-encode a figure object (~5 ms at LSO-088 size)
            return fig.to_plotly_json(), summ

        return cache.get_or_compute("traj-figure", key, compute)

    # One callback for the page's view (one request per click): which controls show, the figure with its
    # between-arm answer, the forest plot of the small multiples, the summary table and the statistics.
    @app.callback(
        Output("traj-graph", "figure"),
        Output("traj-graph", "style"),
        Output("traj-table", "children"),
        Output("traj-message", "children"),
        Output("traj-stats", "children"),
        Output("traj-forest", "figure"),
        Output("traj-forest-wrap", "style"),
        Output("traj-param-wrap", "style"),
        Output("traj-params-wrap", "style"),
        Output("traj-adjust-wrap", "style"),
        Output("traj-opts", "options"),
        Input(FILTER_STORE, "data"),
        Input("traj-mode", "value"),
        Input("traj-param", "value"),
        Input("traj-params", "value"),
        Input("traj-scale", "value"),
        Input("traj-stat", "value"),
        Input("traj-opts", "value"),
        Input("traj-patmode", "value"),
        Input("traj-visit", "value"),
        Input("traj-ref", "value"),
        Input("traj-adjust", "value"),
        Input("traj-cov", "value"),
        Input("traj-ddfm", "value"),
        # what the browser shows now: the layout outputs (styles, options) are sent only when they change
        State("traj-graph", "style"),
        State("traj-forest-wrap", "style"),
        State("traj-param-wrap", "style"),
        State("traj-params-wrap", "style"),
        State("traj-adjust-wrap", "style"),
        State("traj-opts", "options"),
    )
    def update(store, mode, param, params, scale, stat, opts, patmode, visit, ref, adjust_method, cov, ddfm,
               graph_style, forest_wrap, param_wrap, params_wrap, adjust_wrap, opts_now):
        out = list(view(store, mode, param, params, scale, stat, opts, patmode, visit, ref, adjust_method, cov, ddfm))
        for i, now in ((1, graph_style), (6, forest_wrap), (7, param_wrap), (8, params_wrap), (9, adjust_wrap),
                       (10, opts_now)):
            out[i] = figure_tools.unless_same(out[i], now)
        return tuple(out)

    def view(store, mode, param, params, scale, stat, opts, patmode, visit, ref, adjust_method, cov, ddfm):
        state = F.from_store(store, study)
        if state is None:
            raise PreventUpdate
        ctl = clean_controls(study, mode, param, params, scale, stat, opts, patmode)
        sctl = clean_stats_controls(study, ref, visit, adjust_method, cov, ddfm)
        hide, show = {"display": "none"}, {"display": "block"}
        single = ctl["mode"] == "single"
        shown = ((show if single else hide), (hide if single else show), (hide if single else show),
                 opts_options(study, ctl["scale"]))
        if not ctl["codes"]:
            empty = go.Figure()
            empty.update_layout(**base_layout(height=200))
            stamp(empty, study, state=state)
            return (empty, {"height": "200px"}, None,
                    dbc.Alert("Choose at least one parameter for the small multiples.", color="info", className="py-1"),
                    html.Div("Choose at least one parameter.", className="empty-note"), no_update, hide, *shown)
        _, _, _, notes = _population(study, state, ctl["patmode"])
        notes = ctl["notes"] + notes
        if ctl["log_asked"] and not ctl["log"]:
            notes.append("Log axis applies to raw values only: shown on a linear axis.")
        sample_note = indiv_sample_note(study, state, ctl)
        if sample_note:
            notes.append(sample_note)
        notes += baseline_only_notes(study, ctl["codes"])
        vary = [study.params[c].name for c in ctl["codes"] if study.params[c].ranges_vary]
        if vary and ctl["scale"] == "raw":
            notes.append(f"Normal range not drawn for {', '.join(vary)}: its limits (ANRLO/ANRHI) differ between "
                         f"subjects (e.g. by sex). The patient profile shows each subject's own range.")
        sctl_mean = dict(ctl, stat="mean")  # the statistics do not depend on the summary shown
        results, stat_notes = stats_results(study, cache, state, sctl_mean, sctl)
        fig, summ = _figure_and_tables(state, ctl, sctl, results)
        height = fig["layout"].get("height") or 470
        msg = [dbc.Alert(n, color="warning", className="py-1 mb-1") for n in notes] or None
        # The summary table and the statistics panel as static blocks, cached with the view: rebuilding them
        # took most of a repeated request (multi view: ~30 of ~50 ms at LSO-088 size).
        table_block, stats_block = cache.get_or_compute(
            "traj-blocks", (*_view_key(state, ctl), tuple(sorted(sctl.items()))),
            lambda: (static(tables_block(study, state, ctl, summ)),
                     static(stats_panel(study, state, sctl_mean, sctl, results, stat_notes))))
        if single:
            forest, forest_style = no_update, hide
        else:
            forest = cache.get_or_compute("traj-forest", ("forest", state.key(), ctl["codes"], ctl["scale"],
                                                          ctl["log"], ctl["imputed"], ctl["patmode"],
                                                          tuple(sorted(sctl.items()))),
                                          lambda: forest_figure(study, state, ctl, sctl, results).to_plotly_json())
            forest_style = {"display": "block", "height": f"{forest['layout'].get('height') or 300}px"}  # its own
        return (fig, {"height": f"{height}px"}, table_block, msg, stats_block, forest, forest_style, *shown)

    @app.callback(
        Output("traj-download", "data"),
        Input("traj-csv-btn", "n_clicks"),
        State(FILTER_STORE, "data"),
        State("traj-mode", "value"),
        State("traj-param", "value"),
        State("traj-params", "value"),
        State("traj-scale", "value"),
        State("traj-stat", "value"),
        State("traj-opts", "value"),
        State("traj-patmode", "value"),
        prevent_initial_call=True,
    )
    def download(n_clicks, store, mode, param, params, scale, stat, opts, patmode):
        if not _is_num(n_clicks) or n_clicks < 1:
            raise PreventUpdate
        state = F.from_store(store, study)
        if state is None:
            raise PreventUpdate
        ctl = clean_controls(study, mode, param, params, scale, stat, opts, patmode)
        if not ctl["codes"]:
            raise PreventUpdate
        _, summ = _figure_and_tables(state, ctl)
        df = summary_frame(study, ctl["codes"], summ, ctl["scale"])
        pop = ("chosen patients only" if ctl["patmode"] == "restrict" and state.patients
               else f"{W.population_text(study, ctl['codes'])}; the arms in the filter")
        if ctl["imputed"]:
            kinds = "/".join(imputation_types(study, ctl["codes"])) or "imputed"
            n_imp = sum(int(s["n_imputed"].sum()) for s in summ.values())
            pop += f"; {imputed_text(kinds, n_imp, int(df['n'].sum()) if len(df) else 0)}"
        note = (f"Table: {SCALE_LABELS[ctl['scale']].lower()} by arm and visit; population: {pop}\n"
                f"Method: n, mean, SD (ddof 1), {T.CI_METHOD}, median and quartiles ({QUANTILE_METHOD}), "
                f"{T.GEO_METHOD} (positive values only)")
        return dict(content=csv_with_provenance(df, study, state, note),
                    filename=f"{study.study_id}-trajectories-{'-'.join(ctl['codes'])}-{ctl['scale']}.csv",
                    type="text/csv")

    # A click on a patient's line (individual patients shown) chooses that patient in the global filter.
    register_patient_click(app, study, "traj-graph")
