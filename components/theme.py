"""Shared look: projector-legible plotly defaults, arm colours, the provenance stamp."""

from __future__ import annotations

import datetime as _dt
import functools
import html
import json
import textwrap

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
BASE_FONT_SIZE = 15  # legible from the back of a lab-meeting room at 1280x720


# Each arm has a marker shape and a line dash as well as a colour (WCAG 1.4.1: colour is never the only
# difference), in display order; the glyph stands for the shape in text (filter chips, legends in tables).
ARM_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")
ARM_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
ARM_GLYPHS = ("●", "■", "◆", "▲", "✕", "★")


def arm_index(study, label: str) -> int:
    return next((i for i, a in enumerate(study.arms) if a.label == label), 0)


def arm_symbol(study, label: str) -> str:
    return ARM_SYMBOLS[arm_index(study, label) % len(ARM_SYMBOLS)]


def arm_dash(study, label: str) -> str:
    return ARM_DASHES[arm_index(study, label) % len(ARM_DASHES)]


def arm_glyph(study, label: str) -> str:
    return ARM_GLYPHS[arm_index(study, label) % len(ARM_GLYPHS)]


def derived_template(name: str, base: str, trace_types: tuple[str, ...] | None = None, **layout) -> str:
    """Register, once, the template ``base`` with ``layout`` properties changed (plotly's magic underscores,
    e.g. ``xaxis_title_standoff=None``) and, given ``trace_types``, trace defaults for those types only;
    returns its name."""
    if name not in pio.templates:
        template = go.layout.Template(pio.templates[base])
        template.layout.update(**layout)
        if trace_types is not None:
            template.data = {t: template.data[t] for t in trace_types if template.data[t]}
        pio.templates[name] = template
    return name


def text_px(text: str, font_px: float) -> float:
    """The width of ``text`` in px, estimated generously: DejaVu/Helvetica/Inter advance widths, rounded up
    (capitals and wide letters ~0.72 em, the rest ~0.56 em)."""
    return sum(0.72 if (ch.isupper() or ch in "mw@%") else 0.56 for ch in text) * font_px


def upright(labels, plot_px: float, font_px: int = 13) -> int | None:
    """tickangle 0 (upright) when the x tick ``labels`` fit side by side in ``plot_px``, else None (plotly's
    "auto": tilted when they would overlap).
    Why: with "auto", plotly measures every x label on each redraw to see whether they overlap; a long study
    (a label every 4 weeks over 3 years) or narrow panels still get that check."""
    need = sum(text_px(str(label), font_px) + 12 for label in labels)
    return 0 if need <= plot_px else None


def step_labels(lo: float, hi: float, step: float) -> list[str]:
    """The labels plotly writes on an axis from ``lo`` to ``hi`` with ``dtick=step`` (tick0 0)."""
    first = -(-lo // step) * step
    return [f"{first + i * step:g}" for i in range(int((hi - first) // step) + 1)]


PLOT_PX = 800  # a full-width figure's plot area at 1280 px, less its margins (rounded down)

# The trace types the app's figures draw (a test checks every page's figure against it).
TRACE_TYPES = ("bar", "box", "scatter")

# plotly_white, cut to what a redraw of ours needs. Each figure carries its template, and on every redraw
# plotly re-reads it and measures what it asks to measure:
# - tick labels drawn without measuring each one: by default plotly hides a numeric axis's tick label that
#   would stick out of the figure, and to know that it measures every label. Our margins hold the labels.
# - trace defaults only for the trace types we draw (plotly_white has 24; the figure JSON is ~4 KB smaller).
TEMPLATE = derived_template("trial_white", "plotly_white", trace_types=TRACE_TYPES,
                            xaxis_ticklabeloverflow="allow", yaxis_ticklabeloverflow="allow")


def base_layout(**overrides) -> dict:
    layout = dict(
        template=TEMPLATE,
        font=dict(family=FONT, size=BASE_FONT_SIZE, color="#1f2933"),
        margin=dict(l=70, r=30, t=50, b=80),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hoverlabel=dict(font_size=14),
    )
    layout.update(overrides)
    return layout


# -- figures built as plain dicts ------------------------------------------------------------------
# Why: plotly validates every add_trace/update_* call, and with row/col selectors searches the subplot grid
# each time; the figures with many traces or panels are built as dicts and validated once, by go.Figure.
@functools.lru_cache(maxsize=64)
def _grid_json(rows: int, cols: int, spacing: tuple) -> str:
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[" "] * (rows * cols), **dict(spacing))
    lay = fig.layout.to_plotly_json()
    return json.dumps({"axes": {k: v for k, v in lay.items() if k.startswith(("xaxis", "yaxis"))},
                       "titles": [(a["x"], a["y"]) for a in lay.get("annotations", ())]})


def subplot_grid(rows: int, cols: int, **spacing) -> tuple[dict, list[tuple[float, float]]]:
    """make_subplots' grid as a new layout dict of its axes (domains, anchors, shared axes), and where it puts
    each panel's title, (x, y) in paper coordinates, panel by panel (row by row). ``spacing``: make_subplots'
    keywords (horizontal_spacing, vertical_spacing, shared_xaxes, row_heights as a tuple). Cached: the same
    grid took make_subplots ~8 ms each time."""
    grid = json.loads(_grid_json(rows, cols, tuple(sorted(spacing.items()))))
    return grid["axes"], [tuple(t) for t in grid["titles"]]


def panel_titles(texts, at, size: int) -> list[dict]:
    """Titles centred above the panels (annotations), ``at`` as subplot_grid gives it."""
    return [dict(font=dict(size=size), showarrow=False, text=text, x=x, xanchor="center", xref="paper", y=y,
                 yanchor="bottom", yref="paper") for text, (x, y) in zip(texts, at)]


def axis_key(kind: str, panel: int) -> str:
    """The layout key of a panel's x or y axis: panel 1 is "xaxis", panel 2 "xaxis2", ..."""
    return f"{kind}axis{panel if panel > 1 else ''}"


def panel_refs(panel: int) -> dict:
    """A trace's axis references for a panel: {"xaxis": "x2", "yaxis": "y2"}."""
    return {"xaxis": f"x{panel if panel > 1 else ''}", "yaxis": f"y{panel if panel > 1 else ''}"}


def hline(y: float, line: dict, panel: int = 1) -> dict:
    """A horizontal line across a panel's width at ``y`` (a layout shape, as add_hline draws it)."""
    refs = panel_refs(panel)
    return dict(type="line", x0=0, x1=1, xref=f"{refs['xaxis']} domain", y0=y, y1=y, yref=refs["yaxis"], line=line)


WINDOW_COLOUR = "#12263a"  # the filter's time window, shaded behind the time axes


def window_band(x0: float, x1: float, opacity: float) -> dict:
    """The filter's time window as a band behind the plot, its full height (a layout shape)."""
    return dict(type="rect", x0=x0, x1=x1, xref="x", y0=0, y1=1, yref="y domain", fillcolor=WINDOW_COLOUR,
                opacity=opacity, line=dict(width=0))


MAX_LEFT_MARGIN = 420


def left_margin(labels: list[str], font_px: int = 13) -> tuple[int, bool]:
    """(left margin, whether it fits): room for the longest row label (a patient's dosing and adverse events,
    the AE timeline's arms and subjects), estimated generously from the text.

    Why: with automargin, plotly measures every axis's labels and lays the figure out a second time on each
    redraw (it starts again from the set margin): the patient profile's next patient took ~330 ms at LSO-088
    size, ~190 ms without. A label too long for MAX_LEFT_MARGIN keeps automargin (slower, never cut)."""
    width = max((text_px(label, font_px) for label in labels), default=0) + 24
    return int(min(MAX_LEFT_MARGIN, max(80, width))), width <= MAX_LEFT_MARGIN


def provenance_text(study, extra: str = "") -> str:
    parts = []
    if study.simulated:
        parts.append("SIMULATED DATA — not the trial's results")
    parts.append(f"{study.study_id} · lock {study.lock.lock_date or 'unlocked'} · {study.lock.short}")
    if extra:
        parts.append(extra)
    return " · ".join(parts)


CAPTION_NAME = "provenance"  # the caption annotation's name: the export script (assets) finds it by this
CAPTION_FONT = 12
CAPTION_LINE = 15  # px per caption line
CAPTION_SHIFT = 62  # px below the plot area: under the x-axis ticks and title
CAPTION_WIDTH = 135  # characters per caption line (a 900-px figure at 12 px)


def caption_lines(study, extra: str = "", state=None, when: str | None = None) -> list[str]:
    """The caption strip: study, lock and dataset fingerprint, simulated, date; filters; method."""
    from components.export import filter_text

    lk = study.lock
    head = []
    if study.simulated:
        head.append("SIMULATED DATA — not the trial's results")
    head.append(study.study_id)
    head.append(f"locked {lk.lock_date}" if lk.locked else "UNLOCKED dataset")
    head.append(f"dataset {lk.short}")
    if getattr(study, "blinded_view", False):  # data.blinding: the pooled view of a blinded study
        head.append("blinded view")
    head.append(f"made {when or _dt.date.today().isoformat()}")
    parts = [" · ".join(head), f"Filters: {filter_text(study, state) if state is not None else 'not recorded'}"]
    if extra:
        parts.append(f"Method: {extra}")
    lines: list[str] = []
    for part in parts:
        lines.extend(textwrap.wrap(part, CAPTION_WIDTH, break_on_hyphens=False) or [""])
    return lines


def stamp(fig: go.Figure, study, extra: str = "", *, state=None) -> go.Figure:
    """Write the caption strip inside the figure so a PNG/SVG taken from it stays traceable.

    ``extra``: the statistical method (or what the figure shows); ``state``: the validated
    FilterState in force. The strip sits under the plot; the bottom margin grows to hold it.
    """
    lines = caption_lines(study, extra, state)
    margin = fig.layout.margin
    left = margin.l if margin.l is not None else 80
    bottom = margin.b if margin.b is not None else 80
    fig.add_annotation(
        text="<br>".join(html.escape(line, quote=False) for line in lines), name=CAPTION_NAME,
        xref="paper", yref="paper", x=0, y=0, xshift=-(left - 8), yshift=-CAPTION_SHIFT,
        xanchor="left", yanchor="top", align="left", showarrow=False,
        font=dict(size=CAPTION_FONT, color="#8a1c1c" if study.simulated else "#555"),
    )
    fig.update_layout(margin=dict(b=max(bottom, CAPTION_SHIFT + CAPTION_LINE * len(lines) + 8)))
    return fig


# Modebar buttons that hand the figure (patient-level data) to another origin: plotly's
# "Share chart…" (sendChartToCloud) opens its chart service and posts the figure to it, which no
# CSP can stop. Removed, its destination emptied, and the plotly logo (a link out) hidden.
OUTSIDE_BUTTONS = ("sendChartToCloud",)


def graph_config(filename: str) -> dict:
    """Toolbar: PNG export at slide size; nothing loaded from, or sent to, outside the app."""
    return {
        "displaylogo": False,
        "showSendToCloud": False,
        "showEditInChartStudio": False,
        "showLink": False,
        "plotlyServerURL": "",
        "toImageButtonOptions": {"format": "png", "filename": filename, "width": 1920, "height": 1080, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d", *OUTSIDE_BUTTONS],
    }


def message_figure(study, text: str, state=None, *, height: int = 300, font_size: int = 17) -> go.Figure:
    """An empty figure that says why there is nothing to draw, with the provenance stamp."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=font_size))
    fig.update_layout(**base_layout(height=height))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return stamp(fig, study, state=state)
