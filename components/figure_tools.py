"""The strip under every figure: PNG / SVG export, the figure's data as CSV, and "Show code".

- PNG (1920×1080 at 2×) and SVG are drawn in the browser from the figure as shown, by
  ``assets/figure_export.js`` (no inline script: the CSP allows scripts from the app's
  origin only). The caption strip that ``components.theme.stamp`` writes into every
  figure (study, dataset fingerprint, simulated, filters, method, date) is in the image.
- "Data (CSV)" downloads the numbers behind the figure with the provenance header of
  ``components.export.csv_with_provenance``; the page supplies the frame.
- "Show code" opens a panel with a short, runnable Python script (``analysis.codegen``)
  that rebuilds the figure's numbers and statistics from the dataset files with the
  current filters and options; "Copy" and "Download .py" take it away.

A page adds ``toolbar(prefix, graph_id, filename)`` under its ``dcc.Graph`` and calls
``register(app, prefix, inputs, code=..., data=...)`` from its own ``register``. The
page's functions receive the raw values of ``inputs`` and must validate them exactly as
the figure callback does (raising ``PreventUpdate`` on a forged value).
"""

from __future__ import annotations

import math
import re

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str) -> str:
    return _SAFE_NAME.sub("_", str(name)).strip("_")[:120] or "figure"


def ids(prefix: str) -> dict[str, str]:
    return {k: f"{prefix}-{k}" for k in ("data-btn", "data-download", "code-btn", "code-collapse", "code",
                                         "code-copy", "code-dl-btn", "code-download", "code-req")}


def toolbar(prefix: str, graph_id: str, filename: str, *, data: bool = True, code: bool = True,
            data_label: str = "Data (CSV)", deck: bool | str = False):
    """Buttons under a figure and the (closed) Show-code panel.

    ``deck``: an "Add to deck" button (``components.deck``) for the page's view, part "figure" (or the
    part named).
    """
    i = ids(prefix)
    name = safe_filename(filename)
    btn = {"size": "sm", "color": "secondary", "outline": True, "className": "me-1"}
    items = [
        html.Span("Export", className="fig-tools-label me-2"),
        html.Button("PNG", className="btn btn-sm btn-outline-secondary me-1 fig-export", type="button",
                    title="PNG as on screen (1920×1080 at 2×) with the provenance caption",
                    **{"data-graph": graph_id, "data-format": "png", "data-filename": name}),
        html.Button("SVG", className="btn btn-sm btn-outline-secondary me-1 fig-export", type="button",
                    title="Vector SVG as on screen (1920×1080) with the provenance caption",
                    **{"data-graph": graph_id, "data-format": "svg", "data-filename": name}),
        html.Button("PNG slide", className="btn btn-sm btn-outline-secondary me-1 fig-export", type="button",
                    title="16:9 slide size at slide typography (axis text ≥ 14 pt on a 13.33-in slide), 3840×2160",
                    **{"data-graph": graph_id, "data-format": "png", "data-size": "slide",
                       "data-filename": f"{name}-slide"}),
        html.Button("SVG slide", className="btn btn-sm btn-outline-secondary me-1 fig-export", type="button",
                    title="16:9 vector at slide typography (axis text ≥ 14 pt on a 13.33-in slide)",
                    **{"data-graph": graph_id, "data-format": "svg", "data-size": "slide",
                       "data-filename": f"{name}-slide"}),
    ]
    # the figure's text alternative: its numbers as a table under it, drawn in the browser (assets/a11y.js)
    items.append(html.Button("Data table", className="btn btn-sm btn-outline-secondary me-1 fig-table-btn",
                             type="button", title="Show the numbers the figure draws as a table",
                             **{"data-graph": graph_id, "aria-expanded": "false", "aria-controls": f"{graph_id}-table"}))
    if data:
        items += [dbc.Button(data_label, id=i["data-btn"], **btn), dcc.Download(id=i["data-download"])]
    if deck:
        from components.deck import add_button  # (deck imports this module)

        items.append(add_button(deck if isinstance(deck, str) else "figure"))
    panel = None
    if code:
        items.append(dbc.Button("Show code", id=i["code-btn"], size="sm", color="primary", outline=True,
                                className="ms-auto fig-code-btn"))
        panel = dbc.Collapse(
            dbc.Card(dbc.CardBody([
                html.Div([
                    html.Span("Python script: rebuilds this figure's numbers and statistics from the dataset files "
                              "with the current filters and options (pandas, scipy, statsmodels, plotly; nothing "
                              "from this app).", className="caption me-auto"),
                    dcc.Clipboard(id=i["code-copy"], target_id=i["code"], title="Copy the script",
                                  className="fig-code-copy me-2"),
                    dbc.Button("Download .py", id=i["code-dl-btn"], size="sm", color="secondary", outline=True,
                               className="text-nowrap"),
                    dcc.Download(id=i["code-download"]),
                ], className="d-flex align-items-center gap-1 mb-1"),
                html.Pre(id=i["code"], className="fig-code", tabIndex="0"),
                dcc.Store(id=i["code-req"]),
            ], className="p-2")),
            id=i["code-collapse"], is_open=False,
        )
    table = html.Div(id=f"{graph_id}-table", className="fig-table", hidden=True)
    return html.Div([html.Div(items, className="d-flex align-items-center flex-wrap fig-tools"), table, panel],
                    className="fig-tools-wrap")


def _clicked(n) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 1


def register(app, prefix: str, inputs: list[tuple[str, str]], *, code=None, code_filename=None, data=None):
    """Callbacks of one toolbar.

    ``inputs``: (component id, property) pairs whose raw values go to ``code`` / ``data``.
    ``code(*values) -> str``: the script. ``code_filename(*values) -> str``: its file name.
    ``data(*values) -> dict``: a dcc.Download payload (the CSV with its provenance header).
    """
    i = ids(prefix)

    if code is not None:
        @app.callback(Output(i["code-collapse"], "is_open"), Output(i["code-btn"], "children"),
                      Input(i["code-btn"], "n_clicks"), State(i["code-collapse"], "is_open"),
                      prevent_initial_call=True)
        def toggle(n, is_open):
            if not _clicked(n):
                raise PreventUpdate
            opened = not bool(is_open)
            return opened, ("Hide code" if opened else "Show code")

        # The script is computed only while the panel is open: the browser passes the view's values on then,
        # and a click on the page's controls with the panel closed sends no request for it.
        app.clientside_callback(
            ClientsideFunction("figureTools", "codeGate"),
            Output(i["code-req"], "data"),
            Input(i["code-collapse"], "is_open"), *[Input(c, p) for c, p in inputs],
        )

        # (not on the page's first render: the gate has sent nothing yet, and a request would answer 204)
        @app.callback(Output(i["code"], "children"), Input(i["code-req"], "data"), prevent_initial_call=True)
        def show(req):
            if not isinstance(req, list) or len(req) != len(inputs):
                raise PreventUpdate
            return code(*req)

        @app.callback(Output(i["code-download"], "data"), Input(i["code-dl-btn"], "n_clicks"),
                      *[State(c, p) for c, p in inputs], prevent_initial_call=True)
        def download_code(n, *values):
            if not _clicked(n):
                raise PreventUpdate
            text = code(*values)
            name = safe_filename(code_filename(*values) if code_filename else prefix)
            return dict(content=text, filename=f"{name}.py", type="text/x-python")

    if data is not None:
        @app.callback(Output(i["data-download"], "data"), Input(i["data-btn"], "n_clicks"),
                      *[State(c, p) for c, p in inputs], prevent_initial_call=True)
        def download_data(n, *values):
            if not _clicked(n):
                raise PreventUpdate
            return data(*values)


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def unless_same(new, current):
    """``new``, or no_update when the browser holds it already (``current``, sent as State): each output sent is
    applied and re-rendered in the browser even when equal. A forged ``current`` only leaves the sender's own
    page as it was."""
    return no_update if new == current else new
