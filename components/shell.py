"""The frame around every page: navigation, global filter bar, badges, footer, router.

The filter bar is the single source of the global filter state. Its values live
in the URL query string (a copied link reproduces the view) and in the
``filter-state`` store that every page listens to. Values that arrive from the
URL or a client are validated by ``data.filters``; invalid ones are dropped with
a visible notice.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from data import filters as F

FILTER_STORE = "filter-state"


def badge_simulated(study):
    if not study.simulated:
        return None
    return dbc.Badge("SIMULATED DATA — not the trial's results", color="danger", className="sim-badge",
                     id="sim-badge")


def navbar(study, pages):
    links = [dbc.NavItem(dbc.NavLink(p.TITLE, href=p.PATH, id=f"nav-{p.ID}", active="exact")) for p in pages]
    return dbc.Navbar(
        dbc.Container(
            [
                html.Div(
                    [html.Span(study.study_id, className="brand-id"), html.Span(study.title, className="brand-title")],
                    className="brand",
                ),
                dbc.Nav(links, navbar=True, className="me-auto ms-3"),
                badge_simulated(study),
                dbc.Badge("UNLOCKED DATASET", color="warning", text_color="dark", className="ms-2")
                if not study.lock.locked else None,
            ],
            fluid=True,
        ),
        color="#12263a",
        dark=True,
        className="mb-2 py-1",
    )


def filter_bar(study):
    full = F.full_window(study)
    marks = {v: {"label": f"{v:g}"} for v in study.visit_numbers}
    patient_opts = [
        {"label": f"{u} · {arm}", "value": u}
        for u, arm in zip(study.adsl["USUBJID"], study.adsl["ARM_LABEL"].astype(str))
    ]
    return dbc.Card(
        dbc.CardBody(
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.Label("Arm", htmlFor="f-arm", className="filter-label"),
                            dcc.Dropdown(
                                id="f-arm",
                                options=[{"label": a.label, "value": a.code} for a in study.arms],
                                value=[], multi=True, placeholder="All arms",
                            ),
                        ],
                        md=3,
                    ),
                    dbc.Col(
                        [
                            html.Label("Timepoint window (study week)", htmlFor="f-weeks", className="filter-label"),
                            dcc.RangeSlider(
                                id="f-weeks", min=full[0], max=full[1], step=None, marks=marks,
                                value=list(full), allowCross=False, pushable=0,
                            ),
                        ],
                        md=4,
                    ),
                    dbc.Col(
                        [
                            html.Label("Patients", htmlFor="f-patient", className="filter-label"),
                            dcc.Dropdown(id="f-patient", options=patient_opts, value=[], multi=True,
                                         placeholder="Search USUBJID or arm…", searchable=True),
                        ],
                        md=3,
                    ),
                    dbc.Col([html.Div("Subjects in filter", className="filter-label"),
                             html.Div(id="arm-counts", className="arm-counts")], md=2),
                ],
                className="g-3 align-items-start",
            ),
            className="py-2",
        ),
        className="filter-bar mb-2",
    )


def footer(study):
    lk = study.lock
    lock_text = (f"Locked {lk.lock_date} · fingerprint {lk.short}" if lk.locked
                 else f"Unlocked dataset · fingerprint {lk.short}")
    return html.Footer(
        [
            html.Span("Simulated data — not the trial's results. " if study.simulated else ""),
            html.Span(f"{study.study_id} · {lock_text} · {study.folder.name}", id="footer-lock"),
        ],
        className="app-footer",
    )


def not_found(pathname: str, pages):
    return dbc.Container(
        [
            html.H2("Page not found"),
            html.P(f"There is no page at {pathname!s:.80}. The pages of this dashboard are:"),
            html.Ul([html.Li(dcc.Link(p.TITLE, href=p.PATH)) for p in pages]),
        ],
        className="py-4",
    )


def data_notes(study):
    if not study.notes:
        return None
    return dbc.Alert(
        [html.Strong(f"Data notes ({len(study.notes)})"), html.Ul([html.Li(n) for n in study.notes])],
        color="warning", className="data-notes", dismissable=True,
    )


def layout(study, pages):
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Store(id=FILTER_STORE, data=F.default_state(study).to_store()),
            navbar(study, pages),
            dbc.Container(
                [
                    filter_bar(study),
                    dbc.Alert(id="filter-notice", color="info", is_open=False, dismissable=True, className="py-2"),
                    data_notes(study),
                    html.Main(id="page-content"),
                ],
                fluid=True,
            ),
            footer(study),
        ]
    )


def arm_count_badges(study, state: F.FilterState):
    subjects = set(state.subjects(study))
    chips = []
    for a in study.arms:
        if state.arms and a.code not in state.arms:
            continue
        n = int(study.adsl["USUBJID"].isin(subjects)[study.adsl["ARM_LABEL"] == a.label].sum())
        chips.append(html.Span([html.Span(className="arm-dot", style={"background": a.colour}), f"{a.label}: {n}"],
                               className="arm-chip"))
    return chips


def register(app, study, pages):
    page_by_path = {p.PATH: p for p in pages}

    @app.callback(Output("page-content", "children"), Input("url", "pathname"))
    def route(pathname):
        page = page_by_path.get(pathname if isinstance(pathname, str) else "/")
        if page is None:
            return not_found(pathname, pages)
        return page.layout(study)

    @app.callback(
        Output("f-arm", "value"),
        Output("f-weeks", "value"),
        Output("f-patient", "value"),
        Output("url", "search"),
        Output(FILTER_STORE, "data"),
        Output("filter-notice", "children"),
        Output("filter-notice", "is_open"),
        Output("arm-counts", "children"),
        Input("url", "search"),
        Input("f-arm", "value"),
        Input("f-weeks", "value"),
        Input("f-patient", "value"),
    )
    def sync_filters(search, arms, weeks, patients):
        """URL <-> controls <-> store, in one callback so the three cannot disagree."""
        from_url = ctx.triggered_id in (None, "url")
        if from_url:
            state, notices = F.from_query(search, study)
        else:
            state, notices = F.from_values(arms, weeks, patients, study)
        query = state.to_query(study)
        return (
            list(state.arms),
            list(state.weeks),
            list(state.patients),
            query if query != (search or "") else no_update,
            state.to_store(),
            [html.Div(n) for n in notices] if notices else None,
            bool(notices),
            arm_count_badges(study, state),
        )

    # Keep the filter in the query string when moving between pages.
    @app.callback([Output(f"nav-{p.ID}", "href") for p in pages], Input("url", "search"), State("url", "pathname"))
    def nav_hrefs(search, _pathname):
        q = F.from_query(search, study)[0].to_query(study)
        return [p.PATH + q for p in pages]
