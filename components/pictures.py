"""Figures at slide typography, and their pictures drawn on the server.

A slide is 13.33 × 7.5 in, that is 960 × 540 pt. A figure laid out at its region's size in
points (1 layout px = 1 pt) and rendered at ``SCALE`` × keeps its font sizes as points on the
slide: tick labels ``AXIS_PT`` (≥ 14 pt), axis titles ``TITLE_PT``, legend ``LEGEND_PT``. The
PNG is 4× the layout size (a full-slide picture is 3840 × 2160 px, twice a 1920 × 1080 screen).

``slide_figure`` is pure (a copy of the page's figure with slide fonts); ``render_png`` draws
figures with kaleido, which drives the system Chromium with the plotly.js of the installed
plotly package and MathJax off: nothing is fetched from outside. ``assets/figure_export.js``
applies the same sizes in the browser for the PNG/SVG "slide" exports.
"""

from __future__ import annotations

import asyncio
import copy
import threading

import plotly.graph_objects as go

from components.theme import CAPTION_NAME

SLIDE_W_PT, SLIDE_H_PT = 960, 540
SCALE = 4
BASE_PT = 16
AXIS_PT = 16  # tick labels: ≥ 14 pt on the slide
TITLE_PT = 18  # axis titles
LEGEND_PT = 16
ANNOTATION_MIN_PT = 13  # p-value brackets, panel titles, labels
RENDER_TIMEOUT = 90  # seconds for one picture


class PictureError(RuntimeError):
    """The server could not draw a picture (no Chromium, a crash): the caller says so in words."""


def _grow(font, size_min: float, factor: float = 1.0) -> dict:
    f = font.to_plotly_json() if hasattr(font, "to_plotly_json") else dict(font or {})
    f["size"] = max(size_min, round((f.get("size") or BASE_PT) * factor, 1))
    return f


def slide_figure(fig: go.Figure, width: float = SLIDE_W_PT, height: float = SLIDE_H_PT, *,
                 caption: bool = False) -> go.Figure:
    """A copy of ``fig`` laid out at ``width`` × ``height`` pt with slide-size fonts.

    ``caption``: keep the provenance caption strip inside the picture (the PNG/SVG exports);
    on a slide the footer carries it instead, so it is dropped.
    """
    out = go.Figure(copy.deepcopy(fig.to_plotly_json()))
    L = out.layout
    anns = [a for a in (L.annotations or ()) if caption or a.name != CAPTION_NAME]
    dense = len(anns) > 12 or sum(1 for k in L.to_plotly_json() if k.startswith("xaxis")) > 4
    below = 0.0  # room the annotations under the plot (arm names under boxes) need
    for a in anns:
        factor = 1.0 if a.name == CAPTION_NAME else (1.05 if dense else 1.15)
        a.font = _grow(a.font, 10 if a.name == CAPTION_NAME else ANNOTATION_MIN_PT, factor)
        if a.name == CAPTION_NAME:
            a.yshift = -50
        elif a.yref == "paper" and a.y is not None and a.y <= 0 and (a.yshift or 0) < 0:
            a.yshift = a.yshift * 1.15
            lines_a = (a.text or "").count("<br>") + 1
            below = max(below, -a.yshift + a.font.size * 1.3 * lines_a + 6)
    L.annotations = anns
    L.font = _grow(L.font, BASE_PT)
    for key, ax in L.to_plotly_json().items():
        if not (key.startswith("xaxis") or key.startswith("yaxis")):
            continue
        axis = L[key]
        axis.tickfont = _grow(axis.tickfont, AXIS_PT)
        if axis.title is not None and axis.title.text:
            axis.title.font = _grow(axis.title.font, TITLE_PT)
        axis.automargin = True
    for key in L.to_plotly_json():
        if key.startswith("legend") and L[key] is not None:
            L[key].font = _grow(L[key].font, LEGEND_PT)
    for t in out.data:
        if getattr(t, "textfont", None) is not None and "textfont" in t:
            t.textfont = _grow(t.textfont, 14 if not dense else ANNOTATION_MIN_PT)
        if getattr(t, "line", None) is not None and t.line.width is not None:
            t.line.width = max(t.line.width, 1.0) * 1.2
    m = L.margin
    lines = 0
    if caption:
        cap = next((a for a in anns if a.name == CAPTION_NAME), None)
        lines = cap.text.count("<br>") + 1 if cap is not None else 0
    L.margin = dict(l=min(m.l or 60, 200), r=min(m.r or 20, 240), t=min(max(m.t or 40, 40), 110),
                    b=max(45, below) + (60 + 14 * lines if caption else 0))
    L.width, L.height, L.autosize = width, height, False
    return out


_LOCK = threading.Lock()  # one Chromium per process at a time: 2 cores, and each render is a browser


def render_png(figures: list[go.Figure], scale: int = SCALE) -> list[bytes]:
    """PNG bytes of each figure at its layout size × ``scale``, drawn by kaleido in one browser."""
    if not figures:
        return []
    try:
        import kaleido
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise PictureError("kaleido is not installed") from exc

    async def draw():
        async with kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT, mathjax=False) as k:
            out = []
            for fig in figures:
                opts = dict(format="png", width=int(fig.layout.width or SLIDE_W_PT),
                            height=int(fig.layout.height or SLIDE_H_PT), scale=scale)
                out.append(await k.calc_fig(fig, opts=opts))
            return out

    with _LOCK:
        try:
            return asyncio.run(draw())
        except Exception as exc:  # Chromium missing or crashed: the deck says so instead of a 500
            raise PictureError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
