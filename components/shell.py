"""The frame around every page: navigation, global filter bar, badges, footer, router.

The filter bar is the single source of the global filter state. Its values live
in the URL query string (a copied link reproduces the view) and in the
``filter-state`` store that every page listens to. Values that arrive from the
URL or a client are validated by ``data.filters``; invalid ones are dropped with
a visible notice.

The URL also carries each page's own controls (``URL_STATE`` of the page module,
see ``components.viewstate``) and presentation mode (``present=1``), so "Copy link
to this view" gives a link that reopens exactly this view. Presentation mode hides
the filter bar and page controls (CSS on the ``presenting`` root class), enlarges
the figures' fonts, lines and markers and fits them to the screen (a clientside
callback per figure, ``assets/views.js``), and lets the arrow keys step through a
page's parameters (``PRESENT_STEP`` of the page module).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from components import deck
from components import viewstate as V
from data import filters as F
from data import words as W

FILTER_STORE = "filter-state"
PRESENT_STORE = "presentation"
PATIENT_PAGE = "patient"  # the page ID a chosen patient links to, when the app has it


def badge_simulated(study):
    if not study.simulated:
        return None
    return dbc.Badge("SIMULATED DATA — not the trial's results", color="danger", className="sim-badge",
                     id="sim-badge")


def navbar(study, pages):
    links = [dbc.NavItem(dbc.NavLink(W.page_title(study, p), href=p.PATH, id=f"nav-{p.ID}", active="exact"))
             for p in pages]
    return dbc.Navbar(
        dbc.Container(
            [
                html.Div(
                    [html.Span(study.study_id, className="brand-id"),
                     # no title of its own (it defaults to the id): the id once, not "HTN-301 / HTN-301"
                     *([html.Span(study.title, className="brand-title")]
                       if str(study.title).strip().casefold() != str(study.study_id).strip().casefold() else [])],
                    className="brand",
                ),
                dbc.Nav(links, navbar=True, className="me-auto ms-3"),
                html.Div(
                    [
                        dbc.Button("Copy link", id="copy-link", size="sm", color="light", outline=True,
                                   title="Copy a link that reopens this page with its filters and controls"),
                        dbc.Button("Present", id="present-toggle", size="sm", color="light", outline=True,
                                   className="ms-2",
                                   title="Presentation mode: hide the controls, enlarge the figure; "
                                         "← → step through the parameters"),
                    ],
                    className="view-tools d-flex align-items-center me-2",
                ),
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


def slider_marks(visits, room: int = 24) -> dict:
    """Every visit a stop on the slider; labels only where they do not overlap (at most ``room``)."""
    if not visits:
        return {}
    gap = (visits[-1] - visits[0]) / room if len(visits) > room else 0
    labelled, last = set(), None
    for v in visits:
        if last is None or v - last >= gap:
            labelled.add(v)
            last = v
    if gap and visits[-1] not in labelled:  # the end of the study is always labelled
        near = [v for v in labelled if visits[-1] - v < gap]
        labelled -= set(near) - {visits[0]}
        labelled.add(visits[-1])
    # An unlabelled stop is the string "" (a {"label": ""} mark shows its value instead).
    return {v: {"label": f"{v:g}"} if v in labelled else "" for v in visits}


def filter_bar(study):
    full = F.full_window(study)
    marks = slider_marks(study.visit_numbers)
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
                            html.Label("Timepoint window (study week)" if study.time_unit == "week" else
                                       "Timepoint window (visit number, AVISITN)", htmlFor="f-weeks",
                                       className="filter-label"),
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


def not_found(pathname: str, pages, study=None):
    return dbc.Container(
        [
            html.H2("Page not found"),
            html.P(f"There is no page at {pathname!s:.80}. The pages of this dashboard are:"),
            html.Ul([html.Li(dcc.Link(W.page_title(study, p) if study is not None else p.TITLE, href=p.PATH))
                     for p in pages]),
        ],
        className="py-4",
    )


def data_notes(study):
    if not study.notes:
        return None
    # one line until opened: the notes must not fill the first screen (the first note shows what they are about)
    first = study.notes[0] if len(study.notes[0]) <= 110 else study.notes[0][:109].rstrip() + "…"
    return dbc.Alert(
        html.Details([html.Summary([html.Strong(f"Data notes ({len(study.notes)})"), f" · {first}"],
                                   className="data-notes-summary"),
                      html.Ul([html.Li(n) for n in study.notes])]),
        color="warning", className="data-notes py-2", dismissable=True,
    )


def dropped_notice(study):
    """Red, on every page: a parameter dataset that could not be read or resolved is not shown at all."""
    dropped = getattr(study, "dropped", None)
    if not dropped:
        return None
    head = (f"Served without {', '.join(dropped)}: " + ("its parameters are" if len(dropped) == 1 else
                                                          "their parameters are") + " on no page")
    return dbc.Alert(
        [html.Strong(head), html.Ul([html.Li(line) for lines in dropped.values() for line in lines])],
        color="danger", className="dropped-notice", id="dropped-notice",
    )


def layout(study, pages):
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Store(id=FILTER_STORE, data=F.default_state(study).to_store()),
            dcc.Store(id=PRESENT_STORE, data=False),
            navbar(study, pages),
            dbc.Container(
                [
                    dbc.Alert(
                        [html.Div(id="copy-link-status", className="copy-link-status"),
                         dbc.Input(id="copy-link-url", type="text", readonly=True, size="sm",
                                   className="copy-link-url", value="")],
                        id="copy-link-box", is_open=False, dismissable=True, color="light", className="py-2 mb-2",
                    ),
                    html.Div(id="present-summary", className="present-summary"),
                    filter_bar(study),
                    dbc.Alert(id="filter-notice", color="info", is_open=False, dismissable=True, className="py-2"),
                    dropped_notice(study),
                    data_notes(study),
                    html.Main(id="page-content"),
                ],
                fluid=True,
            ),
            footer(study),
            deck.tray(study),
        ],
        id="app-root",
    )


def arm_count_badges(study, state: F.FilterState, patient_href: str | None = None):
    subjects = set(state.subjects(study))
    chips = []
    for a in study.arms:
        if state.arms and a.code not in state.arms:
            continue
        n = int(study.adsl["USUBJID"].isin(subjects)[study.adsl["ARM_LABEL"] == a.label].sum())
        chips.append(html.Span([html.Span(className="arm-dot", style={"background": a.colour}), f"{a.label}: {n}"],
                               className="arm-chip"))
    if patient_href and state.patients:
        chips.append(dcc.Link("Patient profile →", href=patient_href, id="patient-link", className="patient-link"))
    return chips


def graph_ids(component) -> list[str]:
    """Ids of the dcc.Graph components in a page layout (the figures presentation mode enlarges)."""
    found = [component] if isinstance(component, dcc.Graph) else []
    found += [c for c in component._traverse() if isinstance(c, dcc.Graph)]
    return [c.id for c in found if isinstance(getattr(c, "id", None), str)]


def step_buttons(page):
    """On-screen ◀ ▶ of presentation mode (the arrow keys click them: assets/views.js)."""
    return html.Div(
        [dbc.Button("◀", id=f"present-prev-{page.ID}", className="present-step-prev", color="dark", size="sm",
                    title="Previous (← key)"),
         dbc.Button("▶", id=f"present-next-{page.ID}", className="present-step-next ms-1", color="dark", size="sm",
                    title="Next (→ key)")],
        className="present-step",
    )


def register(app, study, pages):
    page_by_path = {p.PATH: p for p in pages}
    controls = {p.ID: V.url_controls(p, study) for p in pages}
    patient_page = next((p for p in pages if p.ID == PATIENT_PAGE), None)

    def page_of(pathname):
        return page_by_path.get(pathname if isinstance(pathname, str) else "/")

    def view_query(search, pathname):
        """(valid page pairs, presentation flag, notices) of a query for the page at ``pathname``."""
        page = page_of(pathname)
        ctl = controls.get(page.ID, []) if page is not None else []
        values, notices = V.parse_page(search, ctl)
        present, n2 = V.parse_present(search)
        notices += n2 + [f"Link parameter ignored: {k[:40]}" for k in V.unknown_keys(search, ctl)]
        return V.page_pairs(ctl, values), present, notices

    def wrap(page):
        parts = []
        if controls[page.ID]:
            parts.append(dcc.Store(id=f"urlstate-{page.ID}", data=None))
        if getattr(page, "PRESENT_STEP", None):
            parts.append(step_buttons(page))
        parts.append(page.layout(study))
        return html.Div(parts, id=f"page-{page.ID}", className="page-wrap")

    @app.callback(Output("page-content", "children"), Input("url", "pathname"))
    def route(pathname):
        page = page_of(pathname)
        if page is None:
            return not_found(pathname, pages, study)
        return wrap(page)

    @app.callback(
        Output("f-arm", "value"),
        Output("f-weeks", "value"),
        Output("f-patient", "value"),
        Output("url", "search"),
        Output(FILTER_STORE, "data"),
        Output("filter-notice", "children"),
        Output("filter-notice", "is_open"),
        Output("arm-counts", "children"),
        Output(PRESENT_STORE, "data"),
        Input("url", "search"),
        Input("f-arm", "value"),
        Input("f-weeks", "value"),
        Input("f-patient", "value"),
        State("url", "pathname"),
        State(FILTER_STORE, "data"),
        State(PRESENT_STORE, "data"),
        State("arm-counts", "children"),
    )
    def sync_filters(search, arms, weeks, patients, pathname, store, presenting, counts):
        """URL <-> controls <-> store, in one callback so the three cannot disagree.

        The rest of the query (the page's own controls, ``present``) is kept, validated.
        A URL change that leaves the filters as they are (a page control was written to the
        URL) updates nothing else, so the pages do not recompute and a notice stays open.
        """
        trigger = ctx.triggered_id
        from_url = trigger in (None, "url")
        if from_url:
            state, notices = F.from_query(search, study)
        else:
            state, notices = F.from_values(arms, weeks, patients, study)
        pairs, present, view_notices = view_query(search, pathname)
        if from_url:
            notices = notices + view_notices
        outside = [p for p in state.patients if state.arms
                   and study.arm_by_label[str(study.adsl.set_index("USUBJID").at[p, "ARM_LABEL"])].code not in state.arms]
        if outside:  # say so once, here, rather than let each page show an unexplained N = 0
            notices = notices + [f"Chosen patient(s) outside the arm filter: {', '.join(outside[:5])}. Pages that "
                                 "count chosen patients only (Overview, Safety) show none of them; trajectory "
                                 "and box pages show the selected arms without them."]
        query = V.compose(state.to_query(study), pairs, present)
        new_store = state.to_store()
        # (the first call of a page load is never quiet: it fills the subject counts)
        quiet = trigger == "url" and counts is not None and store == new_store and not notices
        if quiet:
            return (no_update, no_update, no_update, query if query != (search or "") else no_update, no_update,
                    no_update, no_update, no_update, present if present != presenting else no_update)
        href = (patient_page.PATH + V.compose(state.to_query(study), [], present)) if patient_page else None
        return (
            list(state.arms),
            list(state.weeks),
            list(state.patients),
            query if query != (search or "") else no_update,
            new_store if new_store != store else no_update,
            [html.Div(n) for n in notices] if notices else None,
            bool(notices),
            arm_count_badges(study, state, href),
            present if present != presenting else no_update,
        )

    # Keep the filter (and presentation mode) in the query string when moving between pages.
    @app.callback([Output(f"nav-{p.ID}", "href") for p in pages], Input("url", "search"), State("url", "pathname"))
    def nav_hrefs(search, _pathname):
        q = F.from_query(search, study)[0].to_query(study)
        q = V.compose(q, [], V.parse_present(search)[0])
        return [p.PATH + q for p in pages]

    # -- presentation mode ------------------------------------------------------------------
    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("present-toggle", "n_clicks"),
        State("url", "search"),
        State("url", "pathname"),
        prevent_initial_call=True,
    )
    def toggle_present(n_clicks, search, pathname):
        if not isinstance(n_clicks, int) or isinstance(n_clicks, bool) or n_clicks < 1:
            raise PreventUpdate
        state = F.from_query(search, study)[0]
        pairs, present, _ = view_query(search, pathname)
        return V.compose(state.to_query(study), pairs, not present)

    app.clientside_callback(
        ClientsideFunction("views", "presentClass"),
        Output("app-root", "className"),
        Output("present-toggle", "children"),
        Output("present-toggle", "active"),
        Input(PRESENT_STORE, "data"),
    )

    @app.callback(Output("present-summary", "children"), Input(FILTER_STORE, "data"))
    def present_summary(store):
        from components.export import filter_text

        state = F.from_store(store, study)
        if state is None:
            raise PreventUpdate
        return f"Filters: {filter_text(study, state)}"

    # -- copy link to this view -------------------------------------------------------------
    app.clientside_callback(
        ClientsideFunction("views", "copyLink"),
        Output("copy-link-url", "value"),
        Output("copy-link-status", "children"),
        Output("copy-link-box", "is_open"),
        Input("copy-link", "n_clicks"),
        prevent_initial_call=True,
    )

    for page in pages:
        if controls[page.ID]:
            _register_url_state(app, page, controls[page.ID])
        if getattr(page, "PRESENT_STEP", None):
            _register_step(app, page, study)
        for gid in graph_ids(page.layout(study)):
            app.clientside_callback(
                ClientsideFunction("views", "presentFigure"),
                Output(gid, "figure", allow_duplicate=True),
                Input(gid, "figure"),
                Input(PRESENT_STORE, "data"),
                State(gid, "id"),
                prevent_initial_call=True,
            )


def _split(dep: str) -> tuple[str, str]:
    cid, prop = dep.rsplit(".", 1)
    return cid, prop


def _register_url_state(app, page, ctl: list):
    """Three callbacks per page: link -> controls (once per page load), late controls, controls -> link.

    The marker store ``urlstate-<ID>`` (in the page wrapper) records that the link was
    applied, and holds the values of "late" controls until their options are computed.
    """
    marker = f"urlstate-{page.ID}"
    early = [c for c in ctl if c.after is None]
    late = [c for c in ctl if c.after is not None]

    # Plain (not duplicate) outputs: Dash then holds back the page's own callbacks that read these
    # controls until the link is applied (it does not for allow_duplicate outputs). A control that a
    # page callback also writes must therefore be declared "late" in URL_STATE.
    @app.callback(
        [Output(c.cid, c.prop) for c in early] + [Output(marker, "data")],
        Input(marker, "data"),
        Input(FILTER_STORE, "data"),  # after the filters of the link are in force
        [State("url", "search")] + [State(c.cid, c.prop) for c in early],
        optional=True,
    )
    def apply_link(mark, _store, search, *current):
        if isinstance(mark, dict) and mark.get("applied"):
            raise PreventUpdate
        values, _ = V.parse_page(search, ctl)
        out = [values[c.key] if c.key in values and not V.equal(c, values[c.key], cur) else no_update
               for c, cur in zip(early, current)]
        pending = {c.key: c.encode(values[c.key]) for c in late if c.key in values}
        return out + [{"applied": True, "late": pending}]

    if late:
        afters = list(dict.fromkeys(c.after for c in late))

        @app.callback(
            [Output(c.cid, c.prop, allow_duplicate=True) for c in late]
            + [Output(marker, "data", allow_duplicate=True)],
            [Input(*_split(a)) for a in afters] + [Input(marker, "data")],
            prevent_initial_call=True,
            optional=True,
        )
        def apply_late(*args):
            after_vals = dict(zip(afters, args[:len(afters)]))
            mark = args[len(afters)]
            if not (isinstance(mark, dict) and mark.get("applied") and isinstance(mark.get("late"), dict)
                    and mark["late"]):
                raise PreventUpdate
            out = []
            for c in late:
                tok = mark["late"].get(c.key)
                ok, val = c.decode(tok) if isinstance(tok, str) else (False, None)
                if ok and c.after.endswith(".options"):
                    ok = V.offered(c, val, after_vals[c.after])
                out.append(val if ok else no_update)
            return out + [{"applied": True, "late": {}}]

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        [Input(c.cid, c.prop) for c in ctl] + [Input(marker, "data")],
        State("url", "search"),
        prevent_initial_call=True,
        optional=True,
    )
    def write_link(*args):
        vals, mark, search = args[:len(ctl)], args[len(ctl)], args[len(ctl) + 1]
        if not (isinstance(mark, dict) and mark.get("applied")) or mark.get("late"):
            raise PreventUpdate  # the link is still being applied
        pairs = V.page_pairs(ctl, {c.key: v for c, v in zip(ctl, vals)})
        query = V.compose(V.filter_part(search), pairs, V.parse_present(search)[0])
        if query == (search or ""):
            raise PreventUpdate
        return query


def _register_step(app, page, study):
    """← / → in presentation mode: the previous / next option of the page's parameter picker."""
    step = page.PRESENT_STEP
    cid, when = step["control"], step.get("when")
    prev_id, next_id = f"present-prev-{page.ID}", f"present-next-{page.ID}"
    try:
        comp = page.layout(study)[cid]
    except KeyError:
        return
    allowed = V.option_values(getattr(comp, "options", None))
    states = [State(cid, "value"), State(cid, "options")] + ([State(when[0], when[1])] if when else [])

    @app.callback(
        Output(cid, "value", allow_duplicate=True),
        Input(prev_id, "n_clicks"),
        Input(next_id, "n_clicks"),
        *states,
        prevent_initial_call=True,
        optional=True,
    )
    def step_param(_prev, _next, value, options, *guard):
        if ctx.triggered_id not in (prev_id, next_id):
            raise PreventUpdate
        if when and (not guard or guard[0] != when[2]):
            raise PreventUpdate
        # The options the browser shows (they may be narrowed by a filter), never beyond the page's own.
        seq = [v for v in V.option_values(options) if any(V.same(v, a) for a in allowed)] or allowed
        pos = next((i for i, v in enumerate(seq) if V.same(v, value)), None)
        if pos is None:
            return seq[0] if seq else no_update
        pos += -1 if ctx.triggered_id == prev_id else 1
        if not 0 <= pos < len(seq):
            raise PreventUpdate
        return seq[pos]


def clicked_subject(click, study) -> str | None:
    """The USUBJID a figure click points at (the point's customdata, or its first item), or None.

    Figures put the subject in customdata; anything else (a summary line, a forged payload)
    gives None, and the caller makes no update.
    """
    if not isinstance(click, dict) or not isinstance(click.get("points"), list) or not click["points"]:
        return None
    point = click["points"][0]
    if not isinstance(point, dict):
        return None
    cd = point.get("customdata")
    subject = cd[0] if isinstance(cd, list) and cd else cd
    if not isinstance(subject, str) or subject not in set(study.subjects):
        return None
    return subject


def register_patient_click(app, study, graph_id: str) -> None:
    """A click on a patient's trace of ``graph_id`` chooses that patient in the global filter.

    One callback per graph (output ``f-patient.value`` with ``allow_duplicate``); a click on
    anything that is not a subject of the study (a summary line, a forged payload) makes no update.
    """

    @app.callback(Output("f-patient", "value", allow_duplicate=True), Input(graph_id, "clickData"),
                  prevent_initial_call=True)
    def click_patient(click):
        subject = clicked_subject(click, study)
        if subject is None:
            raise PreventUpdate
        return [subject]
