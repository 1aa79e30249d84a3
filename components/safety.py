"""Safety page: AE overview summary, SOC/PT incidence with risk differences, listing, timeline.

Everything is recomputed from the validated global filter (arm, patients, and the timepoint
window read as the AE *onset* window). Tables count subjects of the safety population.
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from analysis import codegen
from analysis import safety as S
from analysis.descriptive import n_pct
from components import deck, figure_tools
from components.export import csv_with_provenance
from components.markup import static
from components import viewstate as V
from components.shell import FILTER_STORE
from components.tables import frame_table
from components.theme import (PLOT_PX, WINDOW_COLOUR, arm_symbol, base_layout, graph_config, hline, left_margin,
                              stamp, step_labels, upright, window_band)
from data import blinding
from data import filters as F
from data import words as W

ID = "safety"
PATH = "/safety"
TITLE = "Safety"
# The view in the URL ("Copy link to this view"; components.viewstate).
URL_STATE = {"threshold": ("ae-threshold", "value"), "rd": ("ae-arm", "value"), "vs": ("ae-ref", "value"),
             "q": ("ae-quick", "value", V.Text(80))}  # the listing's quick search (MAX_QUICK characters)

# A sequential pink-purple scale for the bars; arms are told apart by the subject dots' shape and colour in
# their own column at the left, never by a bar's colour.
GRADE_COLOURS = {
    "Grade 1": "#fbb4b9", "Grade 2": "#f768a1", "Grade 3": "#ae017e", "Grade 4": "#5c0060", "Grade 5": "#111111",
    "Mild": "#fbb4b9", "Moderate": "#f768a1", "Severe": "#ae017e", "Unknown": "#7b8794",
}
DOSING_GREY = "#52606d"
MAX_QUICK = 80
# Rows sent to the listing grid. The listing of 14,000 events of a 5,000-subject study was a 5.6 MB
# response; above this the grid holds the first rows of the filter and a note says so.
MAX_LISTING_ROWS = 2000
THRESHOLD_OPTIONS = [{"label": "All preferred terms", "value": 0}] + [
    {"label": f"PTs ≥{t}% in any arm", "value": t} for t in S.THRESHOLDS if t
]
CARD = "mb-3"


def title(study) -> str:
    return W.page_title(study, ID)


# -- layout ------------------------------------------------------------------------------------
def _csv_header(title, button_id, download_id, part=None):
    """A card header with the card's "Download CSV" button (and "Add to deck" for the deck part ``part``)."""
    return dbc.CardHeader(html.Div([html.Span(title, className="me-auto"),
                                    deck.add_button(part) if part else None,
                                    dbc.Button("Download CSV", id=button_id, size="sm", color="secondary", outline=True),
                                    dcc.Download(id=download_id)], className="d-flex align-items-center"))


def default_arms(study) -> tuple[str, str]:
    """(compared arm, reference arm) of the risk difference: the study's reference arm ([arms] reference, else
    the ADaM default) and the last other arm."""
    codes = study.arm_codes
    ref = study.reference_arm if study.reference_arm in codes else codes[0]
    others = [c for c in codes if c != ref]
    return ref, (others[-1] if others else ref)


def rules(study) -> list:
    """How each row of the AE overview is counted in this study (or why it cannot be), from the whole ADAE/ADSL."""
    return W.cached(study, "safety-rules", lambda: S.summary_rules(
        study.adae, study.adsl, getattr(study.config, "safety", None), study.ae_vars))


def _arm_options(study):
    return [{"label": a.label, "value": a.code} for a in study.arms]


def layout(study):
    text = W.page_text(study, ID)
    title = html.H1([text.heading + " ", html.Small(text.subheading, className="text-muted", style={"fontSize": "1rem"})]
                    if text.subheading else text.heading, className="page-title")
    if study.adae is None:
        return html.Div([
            title,
            dbc.Alert(["There is no adverse-event data in this study: the dataset folder holds no ADAE, ",
                       "so there is nothing to summarise, list or plot here."], color="secondary", id="ae-none"),
        ])
    ref, comp = default_arms(study)
    label = {"className": "filter-label"}
    incidence_controls = dbc.Row(
        [
            dbc.Col([html.Label("Show", htmlFor="ae-threshold", **label),
                     dcc.Dropdown(id="ae-threshold", options=THRESHOLD_OPTIONS, value=0, clearable=False)], md=3),
            dbc.Col([html.Label("Risk difference of arm", htmlFor="ae-arm", **label),
                     dcc.Dropdown(id="ae-arm", options=_arm_options(study), value=comp, clearable=False)], md=3),
            dbc.Col([html.Label("vs reference arm", htmlFor="ae-ref", **label),
                     dcc.Dropdown(id="ae-ref", options=_arm_options(study), value=ref, clearable=False)], md=3),
            dbc.Col([html.Div("Preferred terms", **label),
                     dbc.ButtonGroup([
                         dbc.Button("Expand all", id="ae-expand", size="sm", color="secondary", outline=True),
                         dbc.Button("Collapse all", id="ae-collapse", size="sm", color="secondary", outline=True),
                     ])], md=3),
        ],
        className="g-2 mb-2 align-items-end",
    )
    listing_controls = dbc.Row(
        [
            dbc.Col(dbc.Input(id="ae-quick", type="search", placeholder="Quick search: any column…",
                              debounce=True, maxLength=MAX_QUICK), md=4),
            dbc.Col(html.Div(id="ae-listing-count", className="caption"), md=5, className="align-self-center"),
            dbc.Col(dbc.Button("Export filtered rows (CSV)", id="ae-export", size="sm", color="primary"),
                    md=3, className="text-end"),
        ],
        className="g-2 mb-2",
    )
    return html.Div(
        [
            title,
            html.Div(id="ae-caption", className="caption mb-2", style={"fontSize": "0.9rem"}),
            dcc.Store(id="ae-collapsed", data=[]),
            dbc.Card([_csv_header("Overview of treatment-emergent adverse events (subjects, n (%))",
                                  "ae-summary-csv-btn", "ae-summary-download", "summary"),
                      dbc.CardBody(html.Div(id="ae-summary"))], className=CARD),
            # the page's figure right after the overview table: on screen when the page opens
            dbc.Card([dbc.CardHeader("Timeline: adverse events and dosing per subject"),
                      dbc.CardBody([
                          dcc.Graph(id="ae-timeline", config=graph_config(f"{study.study_id}-ae-timeline")),
                          figure_tools.toolbar("ae", "ae-timeline", f"{study.study_id}-ae-timeline", deck="timeline"),
                          html.Div("Click a subject's dot (left) or one of its AE bars to set the patient filter to that subject. Bars run from "
                                   "onset to resolution day; grey marks show that subject's own dosing from ADEX.",
                                   className="caption"),
                      ])], className=CARD),
            dbc.Card([_csv_header("Incidence by system organ class and preferred term",
                                  "ae-incidence-csv-btn", "ae-incidence-download", "incidence"),
                      dbc.CardBody([
                          incidence_controls,
                          html.Div(id="ae-incidence-msg"),
                          dag.AgGrid(
                              id="ae-incidence-grid", rowData=[],
                              # (a grid with no column is an invalid ARIA grid until the callback answers)
                              columnDefs=[{"field": "label", "headerName": "System organ class / preferred term",
                                           "flex": 1}],
                              defaultColDef={"sortable": False, "filter": False, "resizable": True,
                                             "wrapHeaderText": True, "autoHeaderHeight": True,
                                             "suppressMovable": True},
                              getRowId="params.data.id",
                              getRowStyle={"styleConditions": [{
                                  "condition": "params.data.level === 'SOC'",
                                  "style": {"fontWeight": "700", "backgroundColor": "#f1f4f8", "cursor": "pointer"},
                              }]},
                              dashGridOptions={"domLayout": "autoHeight", "suppressCellFocus": True, "rowHeight": 34},
                              columnSize="responsiveSizeToFit", style={"width": "100%"},
                          ),
                          html.Div(id="ae-incidence-caption"),
                      ])], className=CARD),
            dbc.Card([dbc.CardHeader("Listing: every adverse event"),
                      dbc.CardBody([
                          listing_controls,
                          html.Div(id="ae-listing-note", className="caption mb-1"),
                          dag.AgGrid(
                              id="ae-listing", rowData=[], columnDefs=_column_defs(study),
                              defaultColDef={"sortable": True, "filter": True, "floatingFilter": True,
                                             "resizable": True, "minWidth": 80},
                              dashGridOptions={"animateRows": False, "quickFilterText": "",
                                               "tooltipShowDelay": 300, "rowHeight": 34},
                              columnSize=None, style={"height": "430px", "width": "100%"},
                          ),
                          dcc.Download(id="ae-download"),
                          html.Div("Column filters sit under each header; the export writes exactly the rows the "
                                   "grid shows, in its order, after a provenance header.", className="caption"),
                      ])], className=CARD),
        ]
    )


def _column_defs(study=None) -> list[dict]:
    numeric = {"AESEQ", "ASTDY", "ONSET_WEEK", "AENDY", "DURATION"}
    widths = {"USUBJID": 130, "ARM": 160, "AESEQ": 95, "AETERM": 220, "AEDECOD": 220, "AEBODSYS": 290,
              "ASTDY": 105, "ONSET_WEEK": 115, "AENDY": 100, "DURATION": 130, "AETOXGR": 95, "AESEV": 115,
              "AESER": 100, "AEREL": 130, "AERELTRT": 130, "AEACN": 195, "AEOUT": 220, "TRTEMFL": 90}
    defs = []
    # What a reader scans for first (term, grade, seriousness) fits the card at 1280 px; the rest scrolls in
    # the grid with the subject pinned on the left.
    first = ("USUBJID", "ARM", "AEDECOD", "AETOXGR", "AESER", "AESEV", "ASTDY", "ONSET_WEEK", "AENDY", "DURATION")
    order = sorted(S.LISTING_COLUMNS, key=lambda ch: first.index(ch[0]) if ch[0] in first else len(first))
    for col, head in order:
        if blinding.is_blinded_view(study) and col not in study.adae.columns and col not in ("ONSET_WEEK", "DURATION"):
            continue  # withheld in a blinded view (data.blinding): the arm, the treatment named (AERELTRT)
        d = {"field": col, "headerName": head, "width": widths.get(col, 120), "headerTooltip": f"ADAE {col}"
             if col not in ("ONSET_WEEK", "DURATION", "ARM") else head}
        d["filter"] = "agNumberColumnFilter" if col in numeric else "agTextColumnFilter"
        if col == "USUBJID":
            d["pinned"] = "left"
        if col in ("AETERM", "AEDECOD", "AEBODSYS", "AEOUT"):
            d["tooltipField"] = col
        if col == "ONSET_WEEK":
            d["headerTooltip"] = S.ONSET_RULE
        defs.append(d)
    return defs


# -- validation -------------------------------------------------------------------------------------
def _state(store, study) -> F.FilterState:
    state = F.from_store(store, study)
    if state is None:
        raise PreventUpdate
    return state


def _window(state, study):
    """None (every AE) for the full window, else the inclusive onset-week window."""
    return None if state.weeks == F.full_window(study) else state.weeks


def _population(study, state) -> pd.DataFrame:
    return S.safety_population(study.adsl, state.subjects(study), state.arm_labels(study), study.safety_flag)


def _window_text(state, study) -> str:
    w = _window(state, study)
    if w is None:
        return "every AE (the timepoint window is the full study)"
    return f"AEs with onset in weeks {w[0]:g}–{w[1]:g}"


def _caption(study, state, pop) -> list:
    flag = study.safety_flag
    popn = f"subjects with {flag} = Y" if flag else "all subjects (no safety flag in ADSL)"
    teae = ("treatment-emergent AEs (TRTEMFL = Y)" if "TRTEMFL" in study.adae.columns else "all AEs (no TRTEMFL)")
    return [
        html.Strong("Simulated data. ") if study.simulated else None,
        f"Safety population: {popn} within the filter, N = {len(pop)}. Tables count {teae} by subject: "
        f"a subject counts once per row however many events. Onset window: {_window_text(state, study)}; "
        f"{S.ONSET_RULE}.",
    ]


# -- tables ----------------------------------------------------------------------------------------
def _summary(study, state):
    labels = state.arm_labels(study)
    pop = _population(study, state)
    events = S.select_events(study.adae, pop["USUBJID"], _window(state, study))
    return S.overview_summary(pop, events, labels, study.adsl, rules(study)), pop


def _incidence(study, state, threshold, compare):
    labels = state.arm_labels(study)
    pop = _population(study, state)
    events = S.select_events(study.adae, pop["USUBJID"], _window(state, study))
    return S.soc_pt_incidence(pop, events, labels, threshold, compare), S.arm_columns(pop, labels)


def incidence_grid(inc: pd.DataFrame, cols, compare_labels, collapsed: set[str]) -> tuple[list, list]:
    """(columnDefs, rowData) of the SOC/PT grid; PT rows of a collapsed SOC are left out."""
    right = {"textAlign": "right"}
    defs = [{"field": "label", "headerName": "System organ class / preferred term", "flex": 3, "minWidth": 330,
             "headerTooltip": "Click a system organ class row to show or hide its preferred terms"}]
    for i, (title, _arm, _n) in enumerate(cols):
        defs.append({"field": f"c{i}", "headerName": title, "flex": 1, "minWidth": 120, "cellStyle": right,
                     "headerClass": "ag-right-aligned-header"})
    if compare_labels is not None:
        a, r = compare_labels
        defs.append({"field": "rd", "headerName": f"{a} − {r}: risk difference, % points (95% CI)",
                     "flex": 2, "minWidth": 230, "cellStyle": right, "headerClass": "ag-right-aligned-header",
                     "headerTooltip": f"{S.RD_METHOD} 95% confidence interval"})
    rows = []
    for row in inc.itertuples(index=False, name=None):
        d = dict(zip(inc.columns, row))
        is_soc = d["level"] == "SOC"
        if not is_soc and d["SOC"] in collapsed:
            continue
        if is_soc:
            label = ("▸ " if d["SOC"] in collapsed else "▾ ") + d["SOC"]
            rid = f"SOC::{d['SOC']}"
        else:
            label = "\u2003\u2003" + d["PT"]
            rid = f"PT::{d['SOC']}::{d['PT']}"
        out = {"id": rid, "level": d["level"], "label": label}
        for i, (_t, arm, n) in enumerate(cols):
            out[f"c{i}"] = n_pct(int(d[arm or "Total"]), n)
        if compare_labels is not None:
            out["rd"] = d["rd_note"]
        rows.append(out)
    return defs, rows


# -- timeline -------------------------------------------------------------------------------------
TICK_FRACTION = 0.002  # a dose tick's width, as a fraction of the week axis (2 px on a 1,000-px plot)


def _short(usubjid: str) -> str:
    return usubjid.rsplit("-", 1)[-1] if "-" in usubjid else usubjid


def _hover(r) -> str:
    end = f"{r.AENDY:.0f}" if not r.ongoing else "ongoing"
    return (f"{r.USUBJID} · {r.ARM}<br><b>{r.AEDECOD}</b> ({r.AETERM})<br>"
            f"days {r.ASTDY:.0f}–{end} (onset week {np.floor((r.ASTDY - 1) / 7):.0f})<br>"
            f"{r.severity}{' · SERIOUS' if r.serious else ''}")


def timeline_figure(study, state, pop: pd.DataFrame, events: pd.DataFrame, dosing: pd.DataFrame) -> go.Figure:
    """One row per subject grouped by arm (header row per arm), AE bars by grade, dosing behind.

    Built as plain dicts and validated once, when the figure is made: through plotly's add_trace/update_* the
    same figure took ~50 ms at LSO-088 size, most of an uncached Safety view (as the patient profile's _Panels).
    """
    order: list[str] = []
    ticktext: list[str] = []
    for arm in state.arm_labels(study):
        subj = sorted(pop.loc[pop["ARM"] == arm, "USUBJID"])
        if not subj:
            continue
        colour = study.arm_by_label[arm].colour
        order.append(f"§{arm}")
        ticktext.append(f"<b><span style='color:{colour}'>{arm}</span></b>")
        order.extend(subj)
        ticktext.extend(f"<span style='color:{colour}'>{_short(s)}</span>" for s in subj)
    subjects = [s for s in order if not s.startswith("§")]
    if not subjects:
        fig = go.Figure()
        fig.add_annotation(text="No subject of the safety population in the current filter.", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5, font=dict(size=16))
        fig.update_layout(**base_layout(height=300))
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return stamp(fig, study, state=state)
    # To the study's last visit, or further when an AE or a dose of the subjects shown runs past it.
    xmax = max(max(study.visit_numbers or (0.0,)),
               float(events["end"].max()) if len(events) else 0.0,
               float(dosing["end_week"].max()) if len(dosing) else 0.0) + 1
    xmin = -1.0
    traces: list[dict] = []
    shapes: list[dict] = []
    annotations: list[dict] = []
    # A dot per subject at the left edge: a click on it (or on any AE bar) selects that subject.
    arm_of = pop.set_index("USUBJID")["ARM"]
    traces.append(dict(
        type="scatter", x=[xmin + 0.45] * len(subjects), y=subjects, mode="markers", showlegend=False,
        name="subject",
        marker=dict(size=10, symbol=[arm_symbol(study, arm_of[s]) for s in subjects],
                    color=[study.arm_by_label[arm_of[s]].colour for s in subjects], line=dict(width=1, color="#fff")),
        customdata=[[s, s] for s in subjects], hovertemplate="Click: show only %{customdata[0]}<extra></extra>",
    ))
    # Dosing, faint, behind the events.
    for (trt, freq), d in dosing.groupby(["EXTRT", "frequency"], sort=True):
        route = {"INTRAVENOUS": "IV", "SUBCUTANEOUS": "SC"}.get(str(d["EXROUTE"].iloc[0]).upper(), "")
        name = f"{trt} {route} {freq}".replace("  ", " ")
        if freq not in ("daily", "every other day", "weekly"):  # separate doses (infusions): one tick each
            # Each tick is a short, thick segment of one line (one SVG path for all doses; a marker each was
            # a path each, ~15 ms of every redraw at LSO-088 size). The legend shows the tick marker.
            half = TICK_FRACTION * (xmax - xmin) / 2
            xs: list = []
            ys: list = []
            for s, ws in zip(d["USUBJID"], d["dose_weeks"]):
                for w in ws:
                    xs += [w - half, w + half, None]
                    ys += [s, s, None]
            kind = "infusion" if route == "IV" else "dose"
            group = f"dose-{trt}-{route}-{freq}"
            traces.append(dict(type="scatter", x=xs, y=ys, mode="lines", name=f"{trt} {route} {kind}",
                               legendgroup=group, showlegend=False, line=dict(width=15, color=DOSING_GREY),
                               opacity=0.55, connectgaps=False, hoverinfo="skip"))
            traces.append(dict(type="scatter", x=[None], y=[None], mode="markers", name=f"{trt} {route} {kind}",
                               legendgroup=group, marker=dict(symbol="line-ns-open", size=15, color=DOSING_GREY,
                                                              line=dict(width=2, color=DOSING_GREY)),
                               opacity=0.55, hoverinfo="skip"))
        else:
            dense = freq in ("daily", "every other day")
            traces.append(dict(type="bar", y=d["USUBJID"], x=d["end_week"] - d["start_week"], base=d["start_week"],
                               orientation="h", width=0.7, name=name, hoverinfo="skip",
                               marker=dict(color=DOSING_GREY, line=dict(width=0)), opacity=0.28 if dense else 0.12))
    # Adverse events by grade.
    sev_order = [k for k in GRADE_COLOURS if k in set(events["severity"])] + sorted(
        set(events["severity"]) - set(GRADE_COLOURS))
    for sev in sev_order:
        e = events[events["severity"] == sev]
        traces.append(dict(
            type="bar", y=e["USUBJID"], x=e["end"] - e["start"], base=e["start"], orientation="h", width=0.5,
            name=sev,
            marker=dict(color=GRADE_COLOURS.get(sev, "#7b8794"),
                        line=dict(color=["#000" if s else "rgba(0,0,0,0.35)" for s in e["serious"]],
                                  width=[2.5 if s else 0.5 for s in e["serious"]])),
            customdata=[[r.USUBJID, _hover(r)] for r in e.itertuples(index=False)],
            hovertemplate="%{customdata[1]}<extra></extra>",
        ))
    ser = events[events["serious"]]
    if len(ser):
        traces.append(dict(
            type="scatter", x=ser["start"], y=ser["USUBJID"], mode="markers", name="Serious (★ at onset)",
            marker=dict(symbol="star", size=16, color="#000", line=dict(width=1, color="#fff")),
            customdata=[[r.USUBJID, _hover(r)] for r in ser.itertuples(index=False)],
            hovertemplate="%{customdata[1]}<extra></extra>",
        ))
    w = _window(state, study)
    if w is not None:
        shapes.append(window_band(w[0], w[1] + 1, 0.06))
        annotations.append(dict(x=(w[0] + w[1] + 1) / 2, y=1, yref="paper", yanchor="top", showarrow=False,
                                text=f"onset window weeks {w[0]:g}–{w[1]:g}",
                                font=dict(size=13, color=WINDOW_COLOUR)))
    # Separators between arm groups.
    for i, cat in enumerate(order):
        if cat.startswith("§") and i:
            shapes.append(hline(i - 0.5, dict(color="#9aa5b1", width=1)))
    # The same week axis on top: with 30+ rows the bottom axis is below a 720-px screen.
    traces.append(dict(type="scatter", x=[xmin, xmax], y=[subjects[0]] * 2, xaxis="x2", mode="markers",
                       marker=dict(opacity=0), hoverinfo="skip", showlegend=False))
    height = 22 * len(order) + 230
    # The left margin from the row labels (arm names in bold, as if ~15 % larger): no automargin pass on each
    # redraw unless a label is too long for the cap.
    arm_left, arm_fits = left_margin([c[1:] for c in order if c.startswith("§")], font_px=15)
    subject_left, subject_fits = left_margin([_short(s) for s in subjects])
    left, fits = max(arm_left, subject_left), arm_fits and subject_fits
    angle = upright(step_labels(xmin, xmax, 4), PLOT_PX)
    # both week axes (bottom and top) share these
    weeks = dict(title=dict(text="Study week"), dtick=4, range=[xmin, xmax], zeroline=False, showgrid=True,
                 tickangle=angle, gridcolor="#eef2f6", automargin=False)
    layout = base_layout(height=height, barmode="overlay", bargap=0.1, margin=dict(l=left, r=20, t=110, b=90),
                         hovermode="closest",
                         # below the mode bar (top right), above the top week axis
                         legend=dict(orientation="h", yref="container", y=1 - 32 / height, yanchor="top",
                                     xanchor="left", x=0, font=dict(size=13), traceorder="normal"))
    layout.update(
        xaxis=weeks,
        xaxis2=dict(overlaying="x", side="top", matches="x", tickfont=dict(size=13), **weeks),
        yaxis=dict(type="category", categoryorder="array", categoryarray=order, tickmode="array", tickvals=order,
                   ticktext=ticktext, autorange="reversed", tickfont=dict(size=13), showgrid=False, fixedrange=True,
                   automargin=not fits),
        shapes=shapes, annotations=annotations)
    fig = go.Figure(data=traces, layout=layout)
    flag = f"{study.safety_flag} = Y" if study.safety_flag else "all subjects"
    stamp(fig, study, f"safety population ({flag}); bars from onset to resolution day; "
                      "onset week = ⌊(start day − 1)/7⌋", state=state)
    return fig


# -- callbacks -------------------------------------------------------------------------------------
def _filter_model_text(model) -> str:
    if not isinstance(model, dict) or not model:
        return "none"
    heads = dict(S.LISTING_COLUMNS)
    cols = [heads[c] for c in model if isinstance(c, str) and c in heads]
    return ", ".join(cols) if cols else "none"


def _clean_quick(value) -> str | None:
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    return " ".join(value.split())[:MAX_QUICK]


def summary_csv(study, store) -> dict:
    """The AE overview table as shown, with the provenance header."""
    state = _state(store, study)
    table, pop = _summary(study, state)
    note = (f"Overview of treatment-emergent AEs: n (%) of the {len(pop)} subjects of the safety population; "
            f"{_window_text(state, study)}.\nMethod: subjects counted once per row; last row counts events. "
            f"{S.rules_text(rules(study))}")
    return dict(content=csv_with_provenance(table, study, state, note),
                filename=f"{study.study_id}-ae-summary.csv", type="text/csv")


def incidence_csv(study, store, threshold, arm, ref) -> dict:
    """The SOC/PT incidence (every row, expanded) with counts, % and the risk difference, as numbers."""
    state = _state(store, study)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold not in S.THRESHOLDS:
        raise PreventUpdate
    codes = set(study.arm_codes)
    if not isinstance(arm, str) or not isinstance(ref, str) or arm not in codes or ref not in codes:
        raise PreventUpdate
    labels = state.arm_labels(study)
    a_lab, r_lab = study.arm_by_code[arm].label, study.arm_by_code[ref].label
    compare = (a_lab, r_lab) if arm != ref and a_lab in labels and r_lab in labels else None
    inc, _cols = _incidence(study, state, int(threshold), compare)
    out = inc.drop(columns=["rd_note"], errors="ignore")
    if compare is None:
        out = out.drop(columns=["rd", "rd_low", "rd_high"], errors="ignore")
        method = "no risk difference (choose two different arms in the filter)"
    else:
        out = out.rename(columns={"rd": f"RD {a_lab} − {r_lab}", "rd_low": "RD 95% CI low",
                                  "rd_high": "RD 95% CI high"})
        method = f"risk difference (proportion) with the {S.RD_METHOD} 95% CI (Newcombe 1998, method 10)"
    shown = f"PTs reported by ≥{int(threshold)}% of subjects in any shown arm" if threshold else "every preferred term"
    note = (f"Incidence of treatment-emergent AEs by SOC and PT, subjects n and %; {shown}; "
            f"{_window_text(state, study)}.\nMethod: {method}")
    return dict(content=csv_with_provenance(out, study, state, note),
                filename=f"{study.study_id}-ae-incidence.csv", type="text/csv")


def timeline_csv(study, store) -> dict:
    """The timeline's bars as CSV (one row per AE drawn) with the provenance header."""
    state = _state(store, study)
    pop = _population(study, state)
    events = S.timeline_events(study.adae, pop, _window(state, study))
    out = events.rename(columns={"start": "bar start (week)", "end": "bar end (week)"})
    note = (f"AE timeline: {len(events)} adverse events of {len(pop)} subjects of the safety population; "
            f"{_window_text(state, study)}.\nMethod: bar from (start day − 1)/7 to end day/7 (ongoing: one week); "
            f"{S.ONSET_RULE}.")
    return dict(content=csv_with_provenance(out, study, state, note),
                filename=f"{study.study_id}-ae-timeline.csv", type="text/csv")


def code_script(study, store) -> str:
    state = _state(store, study)
    return codegen.safety_script(study, state, _window(state, study))


def sample_note(fig: go.Figure, shown: int, total: int, room: int = 46) -> None:
    """Two lines above the timeline saying it draws a sample; the legend and the plot move down to make room."""
    h, top, left = fig.layout.height or 450, (fig.layout.margin.t or 0) + room, fig.layout.margin.l or 0
    fig.update_layout(height=h + room, margin=dict(t=top))
    legend_y = fig.layout.legend.y
    if fig.layout.legend.yref == "container" and legend_y is not None:
        fig.update_layout(legend=dict(y=1 - ((1 - legend_y) * h + room) / (h + room)))
    fig.add_annotation(
        text=(f"<b>{shown} of {total:,} subjects shown</b>: the timeline draws at most {S.TIMELINE_MAX_SUBJECTS} "
              f"subjects, here evenly spaced ones of each arm (USUBJID order).<br>Choose patients in the filter "
              f"to see any other subject."),
        xref="paper", yref="paper", x=0, y=1, xshift=12 - left, yshift=top - 8, xanchor="left", yanchor="top",
        showarrow=False, align="left", font=dict(size=13, color="#8a1c1c"))


def listing_rows(df: pd.DataFrame) -> tuple[list[dict], str | None]:
    """The grid's rows (at most MAX_LISTING_ROWS) and, when the filter holds more, the note that says so."""
    shown = df.iloc[:MAX_LISTING_ROWS]
    rows = shown.astype(object).where(shown.notna(), None).to_dict("records")
    if len(df) <= MAX_LISTING_ROWS:
        return rows, None
    return rows, (f"The grid holds the first {MAX_LISTING_ROWS:,} of the {len(df):,} adverse events in the filter "
                  f"(by subject, then onset day): the quick search, the column filters and the export work on "
                  f"those. Narrow the filter (arms, timepoint window, patients) to list the others.")


def register(app, study, cache):
    if study.adae is None:  # the layout says there is no AE data; nothing to compute
        return

    @app.callback(Output("ae-summary-download", "data"), Input("ae-summary-csv-btn", "n_clicks"),
                  State(FILTER_STORE, "data"), prevent_initial_call=True)
    def download_summary(n, store):
        if not figure_tools.is_number(n) or n < 1:
            raise PreventUpdate
        return summary_csv(study, store)

    @app.callback(Output("ae-incidence-download", "data"), Input("ae-incidence-csv-btn", "n_clicks"),
                  State(FILTER_STORE, "data"), State("ae-threshold", "value"), State("ae-arm", "value"),
                  State("ae-ref", "value"), prevent_initial_call=True)
    def download_incidence(n, store, threshold, arm, ref):
        if not figure_tools.is_number(n) or n < 1:
            raise PreventUpdate
        return incidence_csv(study, store, threshold, arm, ref)

    figure_tools.register(app, "ae", [(FILTER_STORE, "data")], code=lambda store: code_script(study, store),
                          code_filename=lambda _store: f"{study.study_id}-ae-timeline",
                          data=lambda store: timeline_csv(study, store))
    socs = set(study.adae["AEBODSYS"].astype(str))
    codes = set(study.arm_codes)

    def summary_part(state):
        table, pop = cache.get_or_compute("safety-summary", state.key(), lambda: _summary(study, state))
        note = html.Div(
            f"n (%) of subjects in the safety population; each subject counts once per row. {S.rules_text(rules(study))} "
            "Last row: events, not subjects.",
            className="caption", id="ae-summary-note")
        return static([frame_table(table, "ae-summary-table"), note]), _caption(study, state, pop)

    def incidence_part(state, threshold, arm, ref, collapsed):
        threshold = int(threshold)
        labels = state.arm_labels(study)
        a_lab, r_lab = study.arm_by_code[arm].label, study.arm_by_code[ref].label
        messages = []
        compare = (a_lab, r_lab)
        if arm == ref:
            compare = None
            messages.append(f"Risk difference: {blinding.between_arms_na(study)}." if blinding.between_arms_na(study)
                            else "Choose two different arms for the risk difference.")
        elif a_lab not in labels or r_lab not in labels:
            compare = None
            messages.append(f"Risk difference not shown: {a_lab if a_lab not in labels else r_lab} "
                            "is not in the arm filter.")
        inc, cols = cache.get_or_compute("safety-incidence", [state.key(), threshold, compare],
                                         lambda: _incidence(study, state, threshold, compare))
        defs, rows = incidence_grid(inc, cols, compare, set(collapsed))
        if not rows:
            messages.append("No treatment-emergent AE in the current filter." if not threshold
                            else f"No preferred term reaches {threshold}% of subjects in any shown arm.")
        shown = (f"PTs reported by ≥{threshold}% of subjects in any shown arm (a SOC row counts all its PTs)"
                 if threshold else "every preferred term")
        method = (f"Risk difference {compare[0]} − {compare[1]} in percentage points with 95% CI by the "
                  f"{S.RD_METHOD} method (Newcombe 1998, method 10; statsmodels confint_proportions_2indep); "
                  f"no CI when an arm has fewer than {S.RD_MIN_N} subjects. " if compare else "")
        caption = html.Div(
            f"n (%) of subjects; a subject with several events of one PT counts once. Sorted by subjects overall. "
            f"Showing {shown}. {method}Click a system organ class row (▾/▸) to show or hide its preferred terms.",
            className="caption", id="ae-incidence-note")
        alert = [dbc.Alert(m, color="warning", className="py-1 mb-2") for m in messages]
        return defs, rows, alert or None, caption

    def timeline_part(state):
        def compute():
            pop = _population(study, state)
            shown = S.timeline_sample(pop)  # at most S.TIMELINE_MAX_SUBJECTS rows
            events = S.timeline_events(study.adae, shown, _window(state, study))
            dosing = S.subject_dosing(study.adex, shown)
            fig = timeline_figure(study, state, shown, events, dosing)
            if len(shown) < len(pop):
                sample_note(fig, len(shown), len(pop))
            return fig.to_plotly_json()  # JSON-ready: a repeated request only encodes it

        return cache.get_or_compute("safety-timeline", state.key(), compute)

    # Two callbacks, answered in parallel (one round trip): the first screen (the AE overview table) and the
    # timeline are drawn without waiting for the browser to rebuild the grids below them.
    @app.callback(
        Output("ae-summary", "children"),
        Output("ae-caption", "children"),
        Output("ae-timeline", "figure"),
        Input(FILTER_STORE, "data"),
    )
    def update(store):
        state = _state(store, study)
        return (*summary_part(state), timeline_part(state))

    # The grids: a filter change redraws both; the incidence controls redraw the incidence grid only.
    @app.callback(
        Output("ae-incidence-grid", "columnDefs"),
        Output("ae-incidence-grid", "rowData"),
        Output("ae-incidence-msg", "children"),
        Output("ae-incidence-caption", "children"),
        Output("ae-listing", "rowData"),
        Output("ae-listing-note", "children"),
        Input(FILTER_STORE, "data"),
        Input("ae-threshold", "value"),
        Input("ae-arm", "value"),
        Input("ae-ref", "value"),
        Input("ae-collapsed", "data"),
    )
    def update_grids(store, threshold, arm, ref, collapsed):
        state = _state(store, study)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold not in S.THRESHOLDS:
            raise PreventUpdate
        if not isinstance(arm, str) or not isinstance(ref, str) or arm not in codes or ref not in codes:
            raise PreventUpdate
        if not isinstance(collapsed, list) or len(collapsed) > len(socs) or \
                not all(isinstance(c, str) and c in socs for c in collapsed):
            raise PreventUpdate
        incidence = incidence_part(state, threshold, arm, ref, collapsed)
        trig = ctx.triggered_prop_ids
        if trig and f"{FILTER_STORE}.data" not in trig:
            return (*incidence, no_update, no_update)
        listing = cache.get_or_compute("safety-listing-rows", state.key(), lambda: listing_rows(_listing(state)))
        return (*incidence, *listing)

    @app.callback(
        Output("ae-collapsed", "data"),
        Input("ae-incidence-grid", "cellClicked"),
        Input("ae-expand", "n_clicks"),
        Input("ae-collapse", "n_clicks"),
        State("ae-collapsed", "data"),
        prevent_initial_call=True,
    )
    def toggle(clicked, _expand, _collapse, collapsed):
        trig = ctx.triggered_id
        if trig == "ae-expand":
            return []
        if trig == "ae-collapse":
            return sorted(socs)
        if not isinstance(clicked, dict):
            raise PreventUpdate
        rid = clicked.get("rowId")
        if not isinstance(rid, str) or not rid.startswith("SOC::") or rid[5:] not in socs:
            raise PreventUpdate  # a PT row, or a forged id
        current = {c for c in collapsed if isinstance(c, str) and c in socs} if isinstance(collapsed, list) else set()
        current ^= {rid[5:]}
        return sorted(current)

    def _listing(state) -> pd.DataFrame:
        return cache.get_or_compute("safety-listing", state.key(),
                                    lambda: S.listing(study.adae, state.subjects(study), _window(state, study)))

    # The listing's count and its quick search are the browser's own (no request): the grid filters its rows.
    app.clientside_callback(
        ClientsideFunction("safety", "count"),
        Output("ae-listing-count", "children"),
        Input("ae-listing", "virtualRowData"),
        Input("ae-listing", "rowData"),
    )
    app.clientside_callback(
        ClientsideFunction("safety", "quickSearch"),
        Output("ae-listing", "dashGridOptions"),
        Input("ae-quick", "value"),
        State("ae-listing", "dashGridOptions"),
    )

    @app.callback(
        Output("ae-download", "data"),
        Input("ae-export", "n_clicks"),
        State(FILTER_STORE, "data"),
        State("ae-listing", "virtualRowData"),
        State("ae-quick", "value"),
        State("ae-listing", "filterModel"),
        prevent_initial_call=True,
    )
    def export(n_clicks, store, virtual, quick, model):
        if not n_clicks:
            raise PreventUpdate
        state = _state(store, study)
        full = _listing(state)
        if virtual is None:
            rows = full
        else:
            if not isinstance(virtual, list) or len(virtual) > 10 * len(full) + 10 or \
                    not all(isinstance(r, dict) for r in virtual):
                raise PreventUpdate
            ids = [r.get("ROWID") for r in virtual if isinstance(r.get("ROWID"), str)]  # a list is unhashable
            pos = {rid: i for i, rid in enumerate(full["ROWID"])}
            # Only rows the server itself lists for this filter; anything else sent is dropped.
            keep = [pos[i] for i in dict.fromkeys(ids) if isinstance(i, str) and i in pos]
            rows = full.iloc[keep]
        quick_text = _clean_quick(quick) or ""
        note = (f"Adverse-event listing: {len(rows)} of {len(full)} rows of the filter, as filtered and sorted in "
                f"the grid (quick search: {quick_text!r}; column filters on: {_filter_model_text(model)}).\n"
                f"Onset window: {_window_text(state, study)}; {S.ONSET_RULE}.")
        out = rows.drop(columns=["ROWID"]).rename(columns=S.listing_headers(rows))
        text = csv_with_provenance(out, study, state, note)
        return dict(content=text, filename=f"{study.study_id}-adverse-events.csv", type="text/csv")

    @app.callback(
        Output("f-patient", "value", allow_duplicate=True),
        Input("ae-timeline", "clickData"),
        prevent_initial_call=True,
    )
    def click_subject(click):
        if not isinstance(click, dict) or not isinstance(click.get("points"), list) or not click["points"]:
            raise PreventUpdate
        point = click["points"][0]
        if not isinstance(point, dict):
            raise PreventUpdate
        cd = point.get("customdata")
        subject = cd[0] if isinstance(cd, list) and cd else point.get("y")
        if not isinstance(subject, str) or subject not in set(study.subjects):
            raise PreventUpdate
        return [subject]
