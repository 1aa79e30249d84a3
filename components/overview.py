"""Overview page: study design (arms, dosing, visits), disposition, baseline characteristics."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
import pandas as pd
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from analysis import codegen
from analysis.descriptive import QUANTILE_METHOD, baseline_table, disposition_table, randomised_flag
from analysis.exposure import dosing_segments
from components import deck, figure_tools
from components.export import csv_with_provenance
from components.markup import static
from components.shell import FILTER_STORE
from components.tables import frame_table
from components.theme import PLOT_PX, base_layout, graph_config, stamp, step_labels, upright, window_band
from data import filters as F
from data import words as W

ID = "overview"
PATH = "/"
TITLE = "Overview"

_ROUTE = {"INTRAVENOUS": "IV", "SUBCUTANEOUS": "SC", "ORAL": "PO", "INTRAMUSCULAR": "IM"}


def _readable(category: str) -> str:
    """'CYTOKINE-PRODUCING T CELLS' -> 'cytokine-producing T cells': lower case, single letters kept."""
    return W.readable(category)


def title(study) -> str:
    return W.page_title(study, ID)


def heading(study, page: str):
    """The page's H2: its heading, and its subheading in small grey text when the study gives one."""
    text = W.page_text(study, page)
    if not text.subheading:
        return html.H1(text.heading, className="page-title")
    return html.H1([text.heading + " ", html.Small(text.subheading, className="text-muted", style={"fontSize": "1rem"})],
                   className="page-title")


def layout(study):
    arm_cards = [
        dbc.Col(
            dbc.Card(
                dbc.CardBody([html.Div(a.label, className="arm-card-title"), html.Div(f"n = {a.n}", className="arm-card-n")]),
                className="arm-card", style={"borderLeft": f"8px solid {a.colour}"},
            ),
            md=4,
        )
        for a in study.arms
    ]
    return html.Div(
        [
            heading(study, ID),
            dbc.Row(arm_cards, className="g-2 mb-2"),
            dbc.Card(
                [
                    dbc.CardHeader("Design: dosing and visit schedule"),
                    dbc.CardBody([dcc.Graph(id="ov-design", config=graph_config(f"{study.study_id}-design"),
                                            style={"height": "360px"}),
                                  figure_tools.toolbar("ov", "ov-design", f"{study.study_id}-design", deck=True)]),
                ],
                className="mb-3",
            ),
            # Side by side only from 1400 px: at 1280 (a laptop, a projector) the disposition card was 5/12 wide
            # and its Total column scrolled out of view.
            dbc.Row(
                [
                    dbc.Col(dbc.Card([dbc.CardHeader("Subject disposition"),
                                      dbc.CardBody(html.Div(id="ov-disposition"))]), xxl=5),
                    dbc.Col(dbc.Card([dbc.CardHeader("Baseline characteristics"),
                                      dbc.CardBody(html.Div(id="ov-baseline"))]), xxl=7),
                ],
                className="g-3",
            ),
            html.Div([deck.add_button("tables", "Add tables to deck"),
                      dbc.Button("Download disposition and baseline tables (CSV)", id="ov-tables-csv-btn", size="sm",
                                 color="secondary", outline=True),
                      dcc.Download(id="ov-tables-download")], className="text-end mt-2 mb-3"),
        ]
    )


def design_figure(study, state: F.FilterState) -> go.Figure:
    """One row per arm × treatment with its doses, then one row per visit schedule.

    Built as plain dicts and validated once, when the figure is made: through add_trace/add_annotation (each
    annotation re-validates all the earlier ones) it took ~45 ms at LSO-088 size, against ~6 ms for its data.
    """
    labels = state.arm_labels(study)
    seg = dosing_segments(study.adex, labels)
    traces: list[dict] = []
    annotations: list[dict] = []
    rows: list[str] = []
    for arm in labels:
        colour = study.arm_by_label[arm].colour
        for trt, d in seg[seg["ARM"] == arm].groupby("EXTRT", sort=False):
            route = _ROUTE.get(str(d["EXROUTE"].iloc[0]).upper(), "")
            row = f"{arm}: {trt} {route}".strip()
            rows.append(row)
            for s in d.itertuples():
                if s.frequency in ("every 4 weeks", "every 2 weeks", "single dose"):
                    traces.append(dict(
                        type="scatter", x=s.dose_weeks, y=[row] * len(s.dose_weeks), mode="markers",
                        marker=dict(symbol="diamond", size=13, color=colour, line=dict(width=1, color="#222")),
                        name=f"{trt} {s.EXROUTE.lower()}, {s.frequency}", showlegend=False,
                        hovertemplate=f"{arm}<br>{trt} {s.EXROUTE.lower()}<br>{s.frequency}<br>week %{{x:.0f}}<extra></extra>",
                    ))
                else:
                    dense = s.frequency in ("daily", "every other day")
                    traces.append(dict(
                        type="scatter", x=[s.start_week, s.end_week], y=[row, row], mode="lines",
                        line=dict(width=18 if dense else 8, color=colour), opacity=0.95 if dense else 0.55,
                        showlegend=False,
                        hovertemplate=(f"{arm}<br>{trt} {s.EXROUTE.lower()}, {s.frequency}<br>"
                                       f"weeks {s.start_week:.0f}–{s.end_week:.0f} ({s.doses} doses)<extra></extra>"),
                    ))
                    annotations.append(dict(x=(s.start_week + s.end_week) / 2, y=row, text=s.frequency,
                                            showarrow=False, font=dict(size=12, color="#111"),
                                            bgcolor="rgba(255,255,255,0.85)", borderpad=1))
    # Visit schedules read from the data: parameter categories sharing a schedule share a row.
    meas = study.measurements
    if len(meas):
        cat_col = "PARCAT1" if "PARCAT1" in meas.columns else "DATASET"
        sched = meas.groupby(cat_col, observed=True)["TIME"].unique()
        groups: dict[tuple, list[str]] = {}
        for cat, weeks in sched.items():
            groups.setdefault(tuple(sorted(float(w) for w in weeks if w == w)), []).append(
                W.category_topic(study, str(cat)))
        for weeks, cats in sorted(groups.items(), key=lambda kv: len(kv[0]), reverse=True):
            gaps = sorted({b - a for a, b in zip(weeks, weeks[1:])})
            row = f"Visits every {gaps[0]:g} weeks" if len(gaps) == 1 and study.time_unit == "week" \
                else f"Visits ({len(weeks)})"
            rows.append(row)
            traces.append(dict(type="scatter", x=list(weeks), y=[row] * len(weeks), mode="markers",
                               showlegend=False, marker=dict(symbol="circle", size=11, color="#3e4c59"),
                               hovertemplate=f"{row}: {', '.join(cats)}<br>{study.time_word} %{{x:g}}"
                                             f"<extra></extra>"))
            annotations.append(dict(x=weeks[-1], y=row, text=", ".join(cats), showarrow=False, xanchor="right",
                                    yshift=14, font=dict(size=11, color="#52606d")))
    lo, hi = state.weeks
    last = max(study.visit_numbers or (0,))
    layout = base_layout(margin=dict(l=290, r=20, t=20, b=80))
    layout.update(
        shapes=[window_band(lo, hi, 0.05)],
        annotations=annotations,
        yaxis=dict(categoryorder="array", categoryarray=list(reversed(rows)), automargin=True),
        xaxis=dict(title=dict(text="Study week" if study.time_unit == "week" else
                              "Study week (doses); visit number (visits)"),
                   dtick=4, range=[-1.5, last + 1.5], tickangle=upright(step_labels(-1.5, last + 1.5, 4), PLOT_PX)))
    fig = go.Figure(data=traces, layout=layout)
    visits = "visits: scheduled visits on the time axis per parameter category"
    dosing = ("dosing: ADEX doses of the most-dosed subject per arm and treatment; " if len(seg) else
              "no dosing rows (the study has no exposure dataset, ADEX); " if study.adex is None else
              "no dosing rows (no ADEX dose of the arms in the filter); ")
    stamp(fig, study, dosing + visits, state=state)
    return fig


def population_words(study) -> str:
    """Who the disposition and baseline tables count: the randomised subjects, by the arm they were randomised to."""
    flag = randomised_flag(study.adsl)
    who = f"randomised subjects ({flag} = 'Y')" if flag else "all randomised subjects"
    eff, saf = study.arm_variable_of("efficacy"), study.arm_variable_of("safety")
    arm = f", by planned arm ({eff}; safety data by actual arm, {saf})" if eff != saf else ""
    return f"{who} in the filter{arm}"


def _baseline_specs(study):
    return W.baseline_specs(study)


def _valid_state(study, store) -> F.FilterState:
    state = F.from_store(store, study)
    if state is None:
        raise PreventUpdate
    return state


def design_csv(study, store) -> dict:
    """The design figure's data: each run of doses per arm and treatment, with every dose's week."""
    state = _valid_state(study, store)
    seg = dosing_segments(study.adex, state.arm_labels(study))
    out = seg.assign(dose_weeks=[" ".join(f"{w:.2f}" for w in ws) for ws in seg["dose_weeks"]])
    note = ("Design: dosing schedule per arm and treatment, one row per run of doses\n"
            "Method: ADEX doses of the subject with the most doses per arm and treatment; week = (study day − 1) / 7; "
            "frequency from the intervals between doses")
    return dict(content=csv_with_provenance(out, study, state, note), filename=f"{study.study_id}-design.csv",
                type="text/csv")


def tables_frame(study, state) -> pd.DataFrame:
    """Disposition then baseline characteristics, one CSV table (a Table column says which)."""
    labels, subjects = state.arm_labels(study), state.subjects(study)
    disp = disposition_table(study.adsl, labels, subjects).rename(columns={"Status": "Characteristic"})
    disp.insert(1, "Statistic", ["n"] + ["n (%)"] * (len(disp) - 1))
    base = baseline_table(study.adsl, study.measurements, labels, subjects, _baseline_specs(study))
    return pd.concat([disp.assign(Table="Disposition"), base.assign(Table="Baseline characteristics")],
                     ignore_index=True)[["Table", *base.columns]]


def code_script(study, store) -> str:
    state = _valid_state(study, store)
    return codegen.overview_script(study, state, _baseline_specs(study))


def register(app, study, cache):
    figure_tools.register(app, "ov", [(FILTER_STORE, "data")], code=lambda store: code_script(study, store),
                          code_filename=lambda _store: f"{study.study_id}-overview",
                          data=lambda store: design_csv(study, store))

    @app.callback(Output("ov-tables-download", "data"), Input("ov-tables-csv-btn", "n_clicks"),
                  State(FILTER_STORE, "data"), prevent_initial_call=True)
    def download_tables(n_clicks, store):
        if not figure_tools.is_number(n_clicks) or n_clicks < 1:
            raise PreventUpdate
        state = _valid_state(study, store)
        params = any(sp.source == "parameter" for sp in _baseline_specs(study))
        note = (f"Subject disposition and baseline characteristics; population: {population_words(study)}"
                + (" (baseline values of parameters: efficacy population)" if params else "") + ".\nMethod: n (%) of subjects; mean (SD) with the "
                f"sample SD; median [Q1, Q3] with quantiles by {QUANTILE_METHOD}")
        return dict(content=csv_with_provenance(tables_frame(study, state), study, state, note),
                    filename=f"{study.study_id}-baseline-disposition.csv", type="text/csv")

    @app.callback(
        Output("ov-design", "figure"),
        Output("ov-disposition", "children"),
        Output("ov-baseline", "children"),
        Input(FILTER_STORE, "data"),
    )
    def update(store):
        state = F.from_store(store, study)
        if state is None:
            raise PreventUpdate
        labels = state.arm_labels(study)
        subjects = state.subjects(study)

        def compute():
            disp = disposition_table(study.adsl, labels, subjects)
            base = baseline_table(study.adsl, study.measurements, labels, subjects, _baseline_specs(study))
            caption = html.Div(
                f"Counts are subjects. mean (SD): sample SD; median [Q1, Q3]: quantiles by {QUANTILE_METHOD}. "
                f"Population: {population_words(study)}.",
                className="caption",
            )
            # the whole view, the figure as JSON-ready data: a repeated request only encodes it
            return (design_figure(study, state).to_plotly_json(), static(frame_table(disp, "ov-disposition-table")),
                    static([frame_table(base, "ov-baseline-table"), caption]))

        return cache.get_or_compute("overview", state.key(), compute)
