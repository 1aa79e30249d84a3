""""Export deck": the pages' figures as a PowerPoint file (python-pptx), one figure per slide.

The slides hold the views of every page with the filters in force: the page you are on as it
is shown (its own options), every other page in the view it opens with. Each slide has the
page title, the figure (1920×1080, its caption strip inside the image) and the provenance lines
as text under it (study, lock and dataset fingerprint, simulated, filters, date, which view).

The images are drawn in the browser (plotly.js, ``assets/figure_export.js``), because the
server has no browser engine to render plotly figures:

1. the "Deck (PPTX)" button -> server: each other page's figure for the validated filters
   (the page modules' ``deck_figure(study, state)``) into ``<prefix>-deck-request``;
2. the browser renders those and the live figure to PNG and sets ``<prefix>-deck-images``;
3. server: the PNGs are checked (PNG signature, 1920×1080, size, known pages only), the deck
   is assembled with titles and captions the server writes itself, and downloaded.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import importlib
import io
import math
import struct

from dash import ClientsideFunction, Input, Output, State
from dash.exceptions import PreventUpdate

from components.export import filter_text
from components.shell import FILTER_STORE
from data import filters as F
from data import words as W

DECK_PAGES = ("overview", "trajectories", "comparison", "safety", "patient")  # page modules that may offer a slide
WIDTH, HEIGHT = 1920, 1080
MAX_IMAGE = 600_000  # bytes of one PNG; a 1920×1080 figure is ~100–300 kB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def slide_pages(study=None):
    """(ID, title, deck_figure) of the page modules that offer a slide, in page order (the study's page titles)."""
    out = []
    for name in DECK_PAGES:
        try:
            mod = importlib.import_module(f"components.{name}")
        except ImportError:
            continue
        fn = getattr(mod, "deck_figure", None)
        if callable(fn):
            out.append((mod.ID, W.page_title(study, mod) if study is not None else mod.TITLE, fn))
    return out


def provenance_lines(study, state, view: str, when: str | None = None) -> list[str]:
    lk = study.lock
    first = []
    if study.simulated:
        first.append("SIMULATED DATA — not the trial's results")
    first += [study.study_id, f"locked {lk.lock_date}" if lk.locked else "UNLOCKED dataset", f"dataset {lk.short}",
              f"exported {when or dt.date.today().isoformat()}"]
    return [" · ".join(first), f"Filters: {filter_text(study, state)}", f"View: {view}"]


def png_ok(data: bytes) -> bool:
    """A PNG of the slide size: signature, IHDR first, 1920×1080."""
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return False
    w, h = struct.unpack(">II", data[16:24])
    return (w, h) == (WIDTH, HEIGHT)


def decode_images(images, allowed: set[str]) -> dict[str, bytes] | None:
    """{page id: PNG bytes} from the browser's data URLs; None when anything is not as drawn by the app."""
    if not isinstance(images, dict) or not images or len(images) > len(allowed):
        return None
    out = {}
    prefix = "data:image/png;base64,"
    for page, url in images.items():
        if page not in allowed or not isinstance(url, str) or not url.startswith(prefix):
            return None
        body = url[len(prefix):]
        if len(body) > math.ceil(MAX_IMAGE / 3) * 4:
            return None
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
        if not png_ok(data):
            return None
        out[page] = data
    return out


def build_pptx(study, state, slides: list[tuple[str, bytes, list[str]]]) -> bytes:
    """A 16:9 deck: a title slide, then one slide per (title, PNG, caption lines)."""
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Emu, Inches, Pt

    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
    blank = prs.slide_layouts[6]
    red, grey = RGBColor(0x8A, 0x1C, 0x1C), RGBColor(0x52, 0x60, 0x6D)

    def text(slide, left, top, width, height, lines, size, colour=None, bold=False):
        box = slide.shapes.add_textbox(left, top, width, height)
        tf = box.text_frame
        tf.word_wrap = True
        for i, line in enumerate(lines):
            p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
            run = p.add_run()
            run.text = line
            run.font.size = Pt(size)
            run.font.bold = bold
            if colour is not None:
                run.font.color.rgb = colour
        return box

    # title slide
    s = prs.slides.add_slide(blank)
    text(s, Inches(0.8), Inches(2.2), Inches(11.7), Inches(1.2), [study.title], 32, bold=True)
    if study.simulated:
        text(s, Inches(0.8), Inches(3.4), Inches(11.7), Inches(0.6), ["SIMULATED DATA — not the trial's results"],
             20, red, bold=True)
    text(s, Inches(0.8), Inches(4.2), Inches(11.7), Inches(1.6),
         provenance_lines(study, state, f"{len(slides)} figure(s), one per slide")[:2], 16, grey)
    # one figure per slide
    pic_h = Inches(5.75)
    pic_w = Emu(int(pic_h * WIDTH / HEIGHT))
    for title, png, caption in slides:
        s = prs.slides.add_slide(blank)
        text(s, Inches(0.5), Inches(0.15), Inches(12.3), Inches(0.6), [title], 24, bold=True)
        s.shapes.add_picture(io.BytesIO(png), int((prs.slide_width - pic_w) / 2), Inches(0.75), pic_w, pic_h)
        text(s, Inches(0.5), Inches(6.55), Inches(12.3), Inches(0.9), caption, 10,
             red if study.simulated else grey)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def register(app, study, prefix: str, page_id: str, graph_id: str) -> None:
    """The three steps of the deck export for the toolbar ``prefix`` on page ``page_id``."""

    @app.callback(Output(f"{prefix}-deck-request", "data"), Output(f"{prefix}-deck-status", "children"),
                  Input(f"{prefix}-deck-btn", "n_clicks"), State(FILTER_STORE, "data"), prevent_initial_call=True)
    def request(n, store):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise PreventUpdate
        state = F.from_store(store, study)
        if state is None:
            raise PreventUpdate
        figures = []
        for pid, _title, fn in slide_pages(study):
            if pid == page_id:
                continue
            made = fn(study, state)
            if made is not None:
                figures.append({"page": pid, "figure": made[1]})
        return ({"token": n, "current": page_id, "graph": graph_id, "figures": figures},
                f"Drawing {len(figures) + 1} slides…")

    app.clientside_callback(ClientsideFunction(namespace="trialDeck", function_name="render"),
                            Output(f"{prefix}-deck-status", "title"), Input(f"{prefix}-deck-request", "data"),
                            State(f"{prefix}-deck-images", "id"), prevent_initial_call=True)

    @app.callback(Output(f"{prefix}-deck-download", "data"), Output(f"{prefix}-deck-status", "children",
                                                                     allow_duplicate=True),
                  Input(f"{prefix}-deck-images", "data"), State(FILTER_STORE, "data"), prevent_initial_call=True)
    def deliver(images, store):
        state = F.from_store(store, study)
        if state is None or not isinstance(images, dict):
            raise PreventUpdate
        pages = slide_pages(study)
        got = decode_images(images.get("images"), {pid for pid, _t, _f in pages})
        if got is None:
            raise PreventUpdate
        slides = []
        for pid, title, fn in pages:
            if pid not in got:
                continue
            if pid == page_id:
                view = "as shown on screen when exported"
                name = title
            else:
                made = fn(study, state)
                if made is None:
                    continue
                view = f"the {title} page's default view"
                name = f"{title}: {made[0]}"
            slides.append((name, got[pid], provenance_lines(study, state, view)))
        if not slides:
            raise PreventUpdate
        data = build_pptx(study, state, slides)
        return (dict(content=base64.b64encode(data).decode(), base64=True,
                     filename=f"{study.study_id}-deck.pptx",
                     type="application/vnd.openxmlformats-officedocument.presentationml.presentation"),
                f"Deck ready: {len(slides)} slides.")
