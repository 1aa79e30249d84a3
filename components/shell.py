"""The frame around every page: skip link, sticky navigation, the filter bar, badges, footer, router.

The URL is the one source of truth for a view. It holds the global filters (arm, timepoint
window, patients), each page's own controls (``URL_STATE`` of the page module, see
``components.viewstate``) and presentation mode (``present=1``); the browser history holds
every view built, so Back/Forward restore the controls exactly and "Copy link" reproduces
the screen.

Round trips: keeping the URL, the controls, the filter store, the filter chips, the
navigation links and the per-page memory of the last view in step is bookkeeping done in the
browser (``assets/viewstate.js``: clientside callbacks, no request). The browser validates a
link against the same rules (``viewstate.client_spec``) to show what it dropped; the server
never trusts what it is sent: the router validates the page's link values before it renders
the page with them, and every page callback validates the filter store and its controls.
A click on a control therefore costs the page's own callback only (one request); opening a
page costs the router and the page's callback (two).

Presentation mode hides the filter bar and page controls (CSS on the ``presenting`` root
class), enlarges the figures' fonts, lines and markers and fits them to the screen (a
clientside callback per figure, ``assets/views.js``), and lets the arrow keys step through a
page's parameters (``PRESENT_STEP`` of the page module).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from components import deck
from components import viewstate as V
from components.theme import arm_glyph
from data import filters as F
from data import words as W

FILTER_STORE = "filter-state"
PRESENT_STORE = "presentation"
SPEC_STORE = "view-spec"  # the URL rules, for the browser (viewstate.client_spec)
MEMORY_STORE = "view-memory"  # the last view of each page in this tab (session storage)
WRITE_SINK = "url-write"  # the (unused) output of the clientside callbacks that write the URL
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
                dbc.Nav(links, navbar=True, className="me-auto ms-3", id="main-nav"),
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
        className="py-1 app-navbar",
    )


def slider_marks(visits, room: int = 24) -> dict:
    """Every visit a stop on a slider; labels only where they do not overlap (at most ``room``)."""
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


def window_options(study) -> list[dict]:
    """The timepoint window's stops: every visit on the time axis, by its name ('Baseline', 'Week 4')."""
    return [{"label": f"{study.visit_label(v)}" + ("" if study.visit_label(v).lower() == study.time_text(v).lower()
                                                     else f" ({study.time_text(v)})"),
             "value": f"{v:g}"} for v in study.visit_numbers]


def axis_words(study) -> str:
    """The time axis in running text: 'study week', 'visit number, AVISITN'."""
    t = study.time_title.replace(" (", ", ").replace(")", "")
    return t[:1].lower() + t[1:]


def arm_label(study, a):
    """An arm's name after its colour and marker shape (the figures' marker for the arm)."""
    return html.Span([html.Span(arm_glyph(study, a.label), className="arm-glyph", style={"color": a.colour},
                                **{"aria-hidden": "true"}), a.label])


def filter_bar(study):
    """One line of chips (the filters in force and the subjects they hold) that opens the controls.

    A <details> element: a click or Enter/Space on the line opens and closes it, with no callback.
    """
    full = F.full_window(study)
    patient_opts = [
        {"label": f"{u} · {arm}", "value": u}
        for u, arm in zip(study.adsl["USUBJID"], study.adsl["ARM_LABEL"].astype(str))
    ]
    controls = dbc.Row(
        [
            dbc.Col(html.Fieldset([
                html.Legend("Arms", className="filter-label"),
                dbc.Checklist(id="f-arm", options=[{"label": arm_label(study, a), "value": a.code} for a in study.arms],
                              value=[a.code for a in study.arms], inline=True, className="arm-checks"),
            ]), lg=4, md=6),
            dbc.Col(html.Fieldset([
                html.Legend(f"Timepoint window ({axis_words(study)})", className="filter-label"),
                html.Div([
                    html.Label("From", htmlFor="f-from", className="me-1 mb-0"),
                    dbc.Select(id="f-from", options=window_options(study), value=f"{full[0]:g}", size="sm",
                               className="window-select me-2"),
                    html.Label("to", htmlFor="f-to", className="me-1 mb-0"),
                    dbc.Select(id="f-to", options=window_options(study), value=f"{full[1]:g}", size="sm",
                               className="window-select"),
                ], className="d-flex align-items-center"),
            ]), lg=4, md=6),
            dbc.Col([
                html.Label("Patients (highlighted; a patient's profile: the link on the right)", htmlFor="f-patient",
                           className="filter-label"),
                dcc.Dropdown(id="f-patient", options=patient_opts, value=[], multi=True,
                             placeholder="Search USUBJID or arm…", searchable=True),
            ], lg=4, md=12),
        ],
        className="g-2 align-items-start filter-panel",
    )
    return html.Section(
        [
            html.Details(
                [
                    html.Summary(
                        [html.Span("Filters", className="filter-toggle"),
                         html.Span(id="filter-summary", className="filter-summary"),
                         html.Span(id="arm-counts", className="arm-counts")],
                        className="filter-chips", title="Show or hide the filter controls",
                    ),
                    controls,
                ],
                id="filter-details", className="filter-details",
            ),
            dcc.Link("Patient profile →", id="patient-link", href="/", className="patient-link",
                     style={"display": "none"}),
        ],
        className="filter-bar", id="filter-bar", **{"aria-label": "Filters"},
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
            html.H1("Page not found", className="page-title"),
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
    controls = {p.ID: V.url_controls(p, study) for p in pages}
    return html.Div(
        [
            html.A("Skip to the page's content", href="#page-content", className="skip-link", id="skip-link"),
            dcc.Location(id="url", refresh=False),
            dcc.Store(id=FILTER_STORE, data=F.default_state(study).to_store()),
            dcc.Store(id=PRESENT_STORE, data=False),
            dcc.Store(id=SPEC_STORE, data=V.client_spec(study, pages, controls)),
            dcc.Store(id=MEMORY_STORE, storage_type="session"),
            dcc.Store(id=WRITE_SINK),
            dcc.Store(id="filter-audit"), dcc.Store(id="filter-audit-ack"), dcc.Store(id="filter-audit-last"),
            html.Header(navbar(study, pages), className="app-header sticky-top"),
            dbc.Container(
                [
                    html.Section(
                        [
                            dbc.Alert(
                                [html.Div(id="copy-link-status", className="copy-link-status", role="status"),
                                 html.Label([html.Span("Link to this view", className="visually-hidden"),
                                             dbc.Input(id="copy-link-url", type="text", readonly=True, size="sm",
                                                       className="copy-link-url", value="")],
                                            className="d-block mb-0")],
                                id="copy-link-box", is_open=False, dismissable=True, color="light",
                                className="py-2 mb-2",
                            ),
                            html.Div(id="present-summary", className="present-summary"),
                            filter_bar(study),
                            dbc.Alert(id="filter-notice", color="info", is_open=False, dismissable=True,
                                      className="py-2 mb-2"),
                            dropped_notice(study),
                            data_notes(study),
                        ],
                        className="app-context", **{"aria-label": "View, filters and notices"},
                    ),
                    html.Main(id="page-content", tabIndex="-1"),
                ],
                fluid=True,
            ),
            footer(study),
            deck.tray(study),
        ],
        id="app-root",
    )


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


def page_view(study, page, controls: list, search) -> tuple:
    """(layout, filter state) of ``page`` opened at the link ``search``: its controls as the link sets them.

    Only values the page offers are applied (``viewstate.parse_page``); the rest stay at the layout's
    default (the browser shows a notice for them). A page may resolve its view further for this
    filter (``initial_view``: the options and values a page callback would otherwise change after the
    first render, which would cost a round trip and a history entry).
    """
    tree = page.layout(study)
    try:
        state = F.from_query(search, study)[0]
    except ValueError:  # more fields than a link of this app has
        state = F.default_state(study)
    values, _ = V.parse_page(search, controls)
    V.apply_values(tree, controls, values)
    hook = getattr(page, "initial_view", None)
    if hook is not None:
        hook(study, state, tree, values)
    return tree, state


def page_frame(page, body):
    """A page as the router shows it: its marker store (the page the URL's controls belong to), the ◀ ▶ of
    presentation mode, then the page's layout."""
    parts = [dcc.Store(id=f"urlstate-{page.ID}", data=page.ID)]
    if getattr(page, "PRESENT_STEP", None):
        parts.append(step_buttons(page))
    parts.append(body)
    return html.Div(parts, id=f"page-{page.ID}", className="page-wrap")


def validation_pages(study, pages) -> list:
    """Every page in its frame: the components callbacks may name (Dash checks them against these)."""
    return [page_frame(p, p.layout(study)) for p in pages]


def register(app, study, pages):
    # the page's language, for screen readers and hyphenation (WCAG 3.1.1); Dash's script container is a
    # <footer>, which made two "contentinfo" landmarks with the app's own footer
    app.index_string = (app.index_string.replace("<html>", '<html lang="en">', 1)
                        .replace("<footer>", '<div class="dash-scripts">', 1).replace("</footer>", "</div>", 1))
    page_by_path = {p.PATH: p for p in pages}
    controls = {p.ID: V.url_controls(p, study) for p in pages}

    def page_of(pathname):
        return page_by_path.get(pathname if isinstance(pathname, str) else "/")

    def wrap(page, search):
        return page_frame(page, page_view(study, page, controls[page.ID], search)[0])

    # The one server callback of the frame: a page rendered with the values of its link.
    @app.callback(Output("page-content", "children"), Input("url", "pathname"), State("url", "search"))
    def route(pathname, search):
        page = page_of(pathname)
        if page is None:
            return not_found(pathname, pages, study)
        return wrap(page, search if isinstance(search, str) else "")

    # URL -> filter controls, filter store, chips, notices, navigation links, memory (no request).
    app.clientside_callback(
        ClientsideFunction("viewstate", "fromUrl"),
        Output(FILTER_STORE, "data"), Output("filter-notice", "children"), Output("filter-notice", "is_open"),
        Output(PRESENT_STORE, "data"), Output("filter-summary", "children"), Output("arm-counts", "children"),
        Output("patient-link", "href"), Output("patient-link", "style"), Output("present-summary", "children"),
        Output(MEMORY_STORE, "data"), [Output(f"nav-{p.ID}", "href") for p in pages],
        Input("url", "search"), Input("url", "pathname"),
        State(SPEC_STORE, "data"), State(MEMORY_STORE, "data"), State(FILTER_STORE, "data"),
        State(PRESENT_STORE, "data"),
    )

    # The filter store -> the filter controls, where they differ (after Back/Forward, or a link).
    app.clientside_callback(
        ClientsideFunction("viewstate", "filterControls"),
        Output("f-arm", "value"), Output("f-from", "value"), Output("f-to", "value"), Output("f-patient", "value"),
        Input(FILTER_STORE, "data"),
        State(SPEC_STORE, "data"), State("f-arm", "value"), State("f-from", "value"), State("f-to", "value"),
        State("f-patient", "value"),
    )

    # The patient picker -> URL (a new history entry; the URL callback above does the rest). The arm boxes and
    # the timepoint window write the URL from the browser's change event (assets/viewstate.js), without a
    # round of the renderer.
    app.clientside_callback(
        ClientsideFunction("viewstate", "filtersToUrl"),
        Output(WRITE_SINK, "data"),
        Input("f-patient", "value"),
        State("f-arm", "value"), State("f-from", "value"), State("f-to", "value"), State(SPEC_STORE, "data"),
        prevent_initial_call=True,
    )

    # The audit trail records a patient added to the filter (audit.py). The store is kept in the browser, so
    # the browser asks the server to acknowledge it, only when the filter gains a patient (not on other clicks).
    app.clientside_callback(
        ClientsideFunction("viewstate", "patientAudit"),
        Output("filter-audit", "data"), Output("filter-audit-last", "data"),
        Input(FILTER_STORE, "data"), State("filter-audit-last", "data"),
    )

    @app.callback(Output("filter-audit-ack", "data"), Input("filter-audit", "data"), prevent_initial_call=True)
    def acknowledge_patients(req):
        state = F.from_store(req.get("after") if isinstance(req, dict) else None, study)
        if state is None or not state.patients:
            raise PreventUpdate
        return state.to_store()

    # -- presentation mode ------------------------------------------------------------------
    app.clientside_callback(
        ClientsideFunction("viewstate", "togglePresent"),
        Output(WRITE_SINK, "data", allow_duplicate=True),
        Input("present-toggle", "n_clicks"),
        State(SPEC_STORE, "data"),
        prevent_initial_call=True,
    )

    app.clientside_callback(
        ClientsideFunction("views", "presentClass"),
        Output("app-root", "className"),
        Output("present-toggle", "children"),
        Output("present-toggle", "active"),
        Input(PRESENT_STORE, "data"),
    )

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


def _register_url_state(app, page, ctl: list):
    """Two clientside callbacks per page: link -> controls (Back/Forward) and controls -> link."""
    marker = f"urlstate-{page.ID}"
    app.clientside_callback(
        ClientsideFunction("viewstate", "applyPage"),
        [Output(c.cid, c.prop, allow_duplicate=True) for c in ctl],
        Input("url", "search"),
        State(marker, "data"), State(SPEC_STORE, "data"), [State(c.cid, c.prop) for c in ctl],
        prevent_initial_call=True,
        optional=True,
    )
    app.clientside_callback(
        ClientsideFunction("viewstate", "pageToUrl"),
        Output(WRITE_SINK, "data", allow_duplicate=True),
        [Input(c.cid, c.prop) for c in ctl],
        State(marker, "data"), State(SPEC_STORE, "data"),
        prevent_initial_call=True,
        optional=True,
    )


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
