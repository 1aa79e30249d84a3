"""The deck tray: "Add to deck" on every figure and statistics table, the tray, and its downloads.

An item is the view as the page's link holds it — ``{"id", "page", "part", "query", "title",
"custom"}`` — kept in the browser (``dcc.Store`` in local storage, so the tray survives page
changes and reloads) and, when small enough, in the copied link (``#deck=…``, read back here).
The tray lists the items; each can be retitled, moved up or down, or removed.

"Download deck" and "Download report" send the tray to the server, which resolves every item
afresh from its link (``components.deckviews``: the same validation as the page's callbacks),
so the slides show exactly those views drawn by the server, never a figure sent by the client.
A tray that is not a list of this app's views gets a message naming the item and why, never an
error page; at most ``MAX_ITEMS`` views.

Pages place ``add_button(part)`` where a view can be added (``figure_tools.toolbar`` does for
figures); the floating "+ Add to deck" button adds the current page's main view and stays on
screen in presentation mode.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets

import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from components.deckviews import PARTS, Pages, ViewError
from components.figure_tools import safe_filename

TRAY = "deck-tray"
MAX_ITEMS = 20  # views in one deck (each gives one to a few slides)
MAX_TITLE = 160
MAX_LINK_HASH = 1800  # characters of "#deck=…" in a copied link; a bigger tray stays out of the link
MAIN_PART = {"overview": "figure", "trajectories": "figure", "comparison": "figure", "safety": "incidence",
             "patient": "figure"}
_ID = re.compile(r"^[a-z0-9]{1,16}$")


def add_button(part: str, label: str = "Add to deck", **kw):
    """The button that adds this page's view (``part``: what of it, see ``deckviews.PARTS``) to the tray."""
    return dbc.Button(label, id={"type": "deck-add", "part": part}, size="sm", color="primary", outline=True,
                      className=kw.pop("className", "me-1 deck-add"),
                      title="Add this view (filters and controls as shown) to the deck tray: slides and report", **kw)


def tray(study):
    """The tray's store, its floating buttons and the panel (placed once, in the shell)."""
    return html.Div([
        dcc.Store(id=TRAY, storage_type="local"),
        html.Div([
            dbc.Button("+ Add to deck", id="deck-add-current", color="primary", size="sm", className="me-1",
                       title="Add the main view of this page (as shown) to the deck"),
            dbc.Button("Deck · 0", id="deck-open", color="dark", size="sm", title="Open the deck tray"),
            html.Span(id="deck-flash", className="deck-flash ms-2", role="status"),
        ], className="deck-dock", id="deck-dock"),
        dbc.Offcanvas([
            html.Div("The views you add, in slide order. Each is drawn again by the server from its link when you "
                     "download: filters, parameters and options as they were when added.", className="caption mb-2"),
            html.Div(id="deck-list"),
            html.Div([
                dbc.Button("Download deck (PPTX)", id="deck-download-btn", color="primary", size="sm",
                           className="me-2 mb-1"),
                dbc.Button("Download report (HTML)", id="deck-report-btn", color="secondary", size="sm",
                           className="me-2 mb-1", title="One self-contained HTML file: interactive figures, tables "
                                                        "and provenance; opens without the server or a network"),
                dbc.Button("Clear", id="deck-clear", color="danger", outline=True, size="sm", className="mb-1"),
            ], className="mt-2"),
            dcc.Loading(html.Div(id="deck-status", className="deck-status mt-2", role="status"), type="dot"),
            dcc.Download(id="deck-download"), dcc.Download(id="deck-report-download"),
        ], id="deck-panel", title="Deck", placement="end", is_open=False, scrollable=True, className="deck-panel"),
    ], className="deck-tray-root")


# -- the tray as sent back by a browser -----------------------------------------------------------------
def clean_tray(data) -> list[dict] | None:
    """The tray's items when ``data`` has the tray's shape (None: empty); None when it does not."""
    if data is None:
        return []
    if not isinstance(data, list) or len(data) > MAX_ITEMS:
        return None
    out = []
    for it in data:
        if not isinstance(it, dict) or set(it) - {"id", "page", "part", "query", "title", "custom"}:
            return None
        if not (isinstance(it.get("id"), str) and _ID.match(it["id"]) and isinstance(it.get("page"), str)
                and isinstance(it.get("part"), str) and isinstance(it.get("query"), str)
                and isinstance(it.get("title"), str) and len(it["title"]) <= 400
                and (it.get("custom") is None or isinstance(it["custom"], str) and len(it["custom"]) <= MAX_TITLE)):
            return None
        out.append(dict(it))
    if len({it["id"] for it in out}) != len(out):
        return None
    return out


def slide_title(item: dict, default: str) -> str:
    custom = item.get("custom")
    return " ".join(custom.split()) if isinstance(custom, str) and custom.strip() else default


def encode_link(items: list[dict]) -> str:
    """``#deck=…`` for a copied link (URL-safe base64 of the items' page, part, query, title)."""
    slim = [[it["page"], it["part"], it["query"], it.get("custom") or ""] for it in items]
    return "#deck=" + base64.urlsafe_b64encode(json.dumps(slim, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_link(hash_text) -> list[dict] | None:
    if not isinstance(hash_text, str) or not hash_text.startswith("#deck=") or len(hash_text) > MAX_LINK_HASH * 2:
        return None
    body = hash_text[len("#deck="):]
    try:
        raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(raw, list) or len(raw) > MAX_ITEMS:
        return None
    out = []
    for r in raw:
        if not (isinstance(r, list) and len(r) == 4 and all(isinstance(x, str) for x in r)):
            return None
        out.append({"page": r[0], "part": r[1], "query": r[2], "custom": r[3][:MAX_TITLE] or None})
    return out


def _new_id() -> str:
    return secrets.token_hex(4)


def _list(items: list[dict], pages: Pages):
    if not items:
        return html.Div("The deck is empty. Use “Add to deck” under a figure or table, or “+ Add to deck” at the "
                        "bottom of the screen.", className="empty-note", id="deck-empty")
    rows = []
    for i, it in enumerate(items):
        page = pages.by_id.get(it["page"])
        where = f"{getattr(page, 'TITLE', it['page'])} · {PARTS.get(it['page'], {}).get(it['part'], it['part'])}"
        rows.append(html.Li([
            html.Div([
                html.Span(f"{i + 1}.", className="deck-num me-1"),
                html.Label([html.Span(f"Title of slide {i + 1}", className="visually-hidden"),
                            dbc.Input(id={"type": "deck-title", "id": it["id"]}, value=slide_title(it, it["title"]),
                                      debounce=True, size="sm", maxLength=MAX_TITLE, className="deck-title",
                                      placeholder=it["title"][:80])], className="flex-grow-1 mb-0"),
            ], className="d-flex align-items-center"),
            html.Div([
                html.Span(where, className="deck-where me-auto"),
                dbc.Button("↑", id={"type": "deck-up", "id": it["id"]}, size="sm", color="secondary", outline=True,
                           disabled=i == 0, className="deck-up", title="Move up"),
                dbc.Button("↓", id={"type": "deck-down", "id": it["id"]}, size="sm", color="secondary",
                           outline=True, disabled=i == len(items) - 1, className="deck-down ms-1", title="Move down"),
                dbc.Button("✕", id={"type": "deck-remove", "id": it["id"]}, size="sm", color="danger",
                           outline=True, className="deck-remove ms-1", title="Remove from the deck"),
            ], className="d-flex align-items-center mt-1"),
        ], className="deck-item", id=f"deck-item-{i + 1}"))
    return html.Ol(rows, className="deck-items list-unstyled mb-0")


def _clicked(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _views(study, pages: Pages, items: list[dict]):
    """[(View, slide title)] of the tray, or (None, message) naming the first items that are not views."""
    views, errors = [], []
    for i, it in enumerate(items, start=1):
        try:
            v = pages.view(it)
        except ViewError as exc:
            errors.append(f"Slide {i} ({it.get('title', '')[:60]}): {exc}.")
            continue
        views.append((v, slide_title(it, v.title)))
    if errors:
        return None, " ".join(errors[:3]) + " Remove it from the deck (✕) and add the view again from its page."
    return views, ""


def register(app, study, page_modules):
    pages = Pages(study, page_modules)
    path_to_id = {p.PATH: p.ID for p in page_modules if p.ID in PARTS}

    @app.callback(Output(TRAY, "data"), Output("deck-flash", "children"),
                  Input({"type": "deck-add", "part": ALL}, "n_clicks"), Input("deck-add-current", "n_clicks"),
                  State("url", "pathname"), State("url", "search"), State(TRAY, "data"),
                  prevent_initial_call=True)
    def add(_parts, current, pathname, search, data):
        trig = ctx.triggered_id
        value = ctx.triggered[0]["value"] if ctx.triggered else None
        if not _clicked(value):
            raise PreventUpdate
        page_id = path_to_id.get(pathname) if isinstance(pathname, str) else None
        if page_id is None:
            return no_update, "This page has no view to add."
        if trig == "deck-add-current":
            part = MAIN_PART[page_id]
        elif isinstance(trig, dict) and isinstance(trig.get("part"), str) and trig["part"] in PARTS[page_id]:
            part = trig["part"]
        else:
            raise PreventUpdate
        items = clean_tray(data)
        if items is None:
            items = []  # a tray this app did not write: start again rather than keep it
        query = search if isinstance(search, str) else ""
        item = {"page": page_id, "part": part, "query": query}
        try:
            _p, _part, _state, _values, link = pages.parse(item)
            title = pages.view(item, title_only=True).title
        except ViewError as exc:
            return no_update, f"Not added: {exc}."
        item["query"] = link[len(pages.by_id[page_id].PATH):]  # canonical: no presentation flag
        same = next((i for i, it in enumerate(items, 1) if (it["page"], it["part"], it["query"]) ==
                     (item["page"], item["part"], item["query"])), None)
        if same:
            return no_update, f"Already in the deck (slide {same})."
        if len(items) >= MAX_ITEMS:
            return no_update, f"The deck holds at most {MAX_ITEMS} views: remove one first."
        items.append({"id": _new_id(), **item, "title": title, "custom": None})
        return items, f"Added: {title} ({len(items)} in the deck)"

    @app.callback(Output("deck-list", "children"), Output("deck-open", "children"), Input(TRAY, "data"))
    def show(data):
        items = clean_tray(data)
        if items is None:
            return html.Div("The deck stored in this browser is not one this app wrote: clear it.",
                            className="empty-note"), "Deck · ?"
        return _list(items, pages), f"Deck · {len(items)}"

    @app.callback(Output(TRAY, "data", allow_duplicate=True),
                  Input({"type": "deck-up", "id": ALL}, "n_clicks"), Input({"type": "deck-down", "id": ALL}, "n_clicks"),
                  Input({"type": "deck-remove", "id": ALL}, "n_clicks"),
                  Input({"type": "deck-title", "id": ALL}, "value"), Input("deck-clear", "n_clicks"),
                  State(TRAY, "data"), prevent_initial_call=True)
    def edit(_up, _down, _remove, _titles, _clear, data):
        trig = ctx.triggered_id
        value = ctx.triggered[0]["value"] if ctx.triggered else None
        if trig == "deck-clear":
            if not _clicked(value):
                raise PreventUpdate
            return []
        items = clean_tray(data)
        if items is None or not isinstance(trig, dict) or not isinstance(trig.get("id"), str):
            raise PreventUpdate
        pos = next((i for i, it in enumerate(items) if it["id"] == trig["id"]), None)
        if pos is None:
            raise PreventUpdate
        kind = trig.get("type")
        if kind == "deck-title":
            if not isinstance(value, str):
                raise PreventUpdate
            text = " ".join(value.split())[:MAX_TITLE]
            custom = None if not text or text == items[pos]["title"] else text
            if custom == items[pos].get("custom"):
                raise PreventUpdate
            items[pos]["custom"] = custom
            return items
        if not _clicked(value):
            raise PreventUpdate
        if kind == "deck-remove":
            items.pop(pos)
        elif kind in ("deck-up", "deck-down"):
            to = pos - 1 if kind == "deck-up" else pos + 1
            if not 0 <= to < len(items):
                raise PreventUpdate
            items[pos], items[to] = items[to], items[pos]
        else:
            raise PreventUpdate
        return items

    @app.callback(Output("deck-panel", "is_open"), Input("deck-open", "n_clicks"), State("deck-panel", "is_open"),
                  prevent_initial_call=True)
    def toggle(n, is_open):
        if not _clicked(n):
            raise PreventUpdate
        return not bool(is_open)

    # A copied link may carry a deck (#deck=…): its views join the tray, each validated like an added one.
    @app.callback(Output(TRAY, "data", allow_duplicate=True), Output("deck-flash", "children", allow_duplicate=True),
                  Input("url", "hash"), State(TRAY, "data"), prevent_initial_call="initial_duplicate")
    def from_link(hash_text, data):
        got = decode_link(hash_text)
        if not got:
            raise PreventUpdate
        items = clean_tray(data) or []
        have = {(it["page"], it["part"], it["query"]) for it in items}
        added, refused = 0, 0
        for it in got:
            try:
                _p, _part, _s, _v, link = pages.parse(it)
                title = pages.view(it, title_only=True).title
            except ViewError:
                refused += 1
                continue
            key = (it["page"], it["part"], link[len(pages.by_id[it["page"]].PATH):])
            if key in have or len(items) >= MAX_ITEMS:
                continue
            have.add(key)
            items.append({"id": _new_id(), "page": key[0], "part": key[1], "query": key[2], "title": title,
                          "custom": it["custom"]})
            added += 1
        msg = f"The link's deck: {added} view(s) added to the tray" + (f", {refused} not views of this app" if
                                                                        refused else "") + "."
        return items, msg

    @app.callback(Output("deck-download", "data"), Output("deck-status", "children"),
                  Input("deck-download-btn", "n_clicks"), State(TRAY, "data"), prevent_initial_call=True)
    def download_deck(n, data):
        from components import slides
        from components.pictures import PictureError

        if not _clicked(n):
            raise PreventUpdate
        items = clean_tray(data)
        if items is None:
            return no_update, ("The deck could not be built: the tray is not a list of this app's views (at most "
                               f"{MAX_ITEMS}). Clear it and add the views again.")
        if not items:
            return no_update, "The deck is empty: add views first."
        views, msg = _views(study, pages, items)
        if views is None:
            return no_update, f"The deck could not be built. {msg}"
        try:
            content = slides.build(study, views)
        except PictureError as exc:
            return no_update, (f"The deck could not be built: the server could not draw the pictures ({exc}). "
                               "It needs Chromium installed on the server.")
        name = safe_filename(f"{study.study_id}-deck")
        return (dcc.send_bytes(content, f"{name}.pptx",
                               type="application/vnd.openxmlformats-officedocument.presentationml.presentation"),
                f"Deck ready: {len(views)} view(s), {slides.count_slides(content)} slides.")

    @app.callback(Output("deck-report-download", "data"), Output("deck-status", "children", allow_duplicate=True),
                  Input("deck-report-btn", "n_clicks"), State(TRAY, "data"), prevent_initial_call=True)
    def download_report(n, data):
        from components import report

        if not _clicked(n):
            raise PreventUpdate
        items = clean_tray(data)
        if items is None:
            return no_update, ("The report could not be built: the tray is not a list of this app's views. "
                               "Clear it and add the views again.")
        if not items:
            return no_update, "The deck is empty: add views first."
        views, msg = _views(study, pages, items)
        if views is None:
            return no_update, f"The report could not be built. {msg}"
        html_text = report.build(study, views)
        name = safe_filename(f"{study.study_id}-report")
        return (dict(content=html_text, filename=f"{name}.html", type="text/html"),
                f"Report ready: {len(views)} view(s), one HTML file that opens without the server.")

    app.clientside_callback(ClientsideFunction("trialDeck", "flash"), Output("deck-flash", "className"),
                            Input("deck-flash", "children"), prevent_initial_call=True)
