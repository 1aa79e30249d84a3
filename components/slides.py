"""The deck: ``View``s (``components.deckviews``) as a 16:9 PowerPoint file at slide typography.

Per view: a figure slide — a native PowerPoint chart where PowerPoint has the chart type
(trajectory lines with error bars as an XY chart, AE incidence and the AE overview as bar and
column charts: the presenter can restyle them, and their data sit in the chart's workbook), else
the page's figure as a picture drawn on the server at 4× its size on the slide
(``components.pictures``; a patient profile gives one slide per four panels, the AE timeline one
per arm) — then its tables as native tables, split over as many slides as their rows need.

Every slide: a title ≥ 28 pt naming the parameter, scale and visits (the tray may retitle it),
axis and table text ≥ 14 pt, the provenance strip as its footer ("SIMULATED DATA" where so, study,
lock, dataset fingerprint, date, filters), and speaker notes with the filters, methods,
population and the link that reopens the view.
"""

from __future__ import annotations

import datetime as dt
import io
import math

from lxml import etree

from components.deckviews import Chart, Table, View
from components.export import filter_text
from components.pictures import render_png, slide_figure

SLIDE_W_IN, SLIDE_H_IN = 13.333, 7.5
MARGIN_IN = 0.45
TITLE_PT = 30  # ≥ 28 pt
SUBTITLE_PT = 16
AXIS_PT = 16  # chart tick labels (≥ 14 pt)
AXIS_TITLE_PT = 18
LEGEND_PT = 16
TABLE_PT = 14  # table text (≥ 14 pt)
FOOTER_PT = 11
CONTENT_TOP_IN = 1.62
FOOTER_TOP_IN = 6.92
CONTENT_H_IN = FOOTER_TOP_IN - CONTENT_TOP_IN - 0.07
CONTENT_W_IN = SLIDE_W_IN - 2 * MARGIN_IN
RED, GREY, INK = "8A1C1C", "52606D", "1F2933"
NS_C = "http://schemas.openxmlformats.org/drawingml/2006/chart"
NS_A = "http://schemas.openxmlformats.org/drawingml/2006/main"


def footer_lines(study, state, when: str | None = None) -> list[str]:
    lk = study.lock
    head = []
    if study.simulated:
        head.append("SIMULATED DATA — not the trial's results")
    head += [study.study_id, f"locked {lk.lock_date}" if lk.locked else "UNLOCKED dataset", f"dataset {lk.short}",
             f"exported {when or dt.date.today().isoformat()}"]
    return [" · ".join(head), f"Filters: {filter_text(study, state)}"]


# -- low-level helpers ------------------------------------------------------------------------------
def _rgb(hex_colour: str):
    from pptx.dml.color import RGBColor

    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return RGBColor.from_string(h.upper()[:6])


def _text(slide, left, top, width, height, lines, size, colour=INK, bold=False, first_colour=None):
    from pptx.util import Pt

    box = slide.shapes.add_textbox(left, top, width, height)
    tf = box.text_frame
    tf.word_wrap = True
    for i, line in enumerate(lines):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        run = p.add_run()
        run.text = line
        run.font.size = Pt(size)
        run.font.bold = bold
        run.font.color.rgb = _rgb(first_colour if (i == 0 and first_colour) else colour)
    return box


def _chars_per_line(width_in: float, pt: float) -> int:
    return max(3, int(width_in * 72 / (pt * 0.6)))


# -- slide frame ---------------------------------------------------------------------------------
class Deck:
    def __init__(self, study, when: str | None = None):
        from pptx import Presentation
        from pptx.util import Inches

        self.study, self.when = study, when or dt.date.today().isoformat()
        self.prs = Presentation()
        self.prs.slide_width, self.prs.slide_height = Inches(SLIDE_W_IN), Inches(SLIDE_H_IN)
        self.blank = self.prs.slide_layouts[6]

    def slide(self, title: str, state, notes: list[str], subtitle: str = ""):
        from pptx.util import Inches

        s = self.prs.slides.add_slide(self.blank)
        # a title that would take three lines at 30 pt gets 28 pt (the floor), and is cut at two lines
        per_line = _chars_per_line(CONTENT_W_IN, 28) * 1.1
        size = TITLE_PT if len(title) <= 2 * _chars_per_line(CONTENT_W_IN, TITLE_PT) * 1.1 else 28
        if len(title) > 2 * per_line:
            title = title[: int(2 * per_line) - 1].rsplit(" ", 1)[0] + "…"
        box = _text(s, Inches(MARGIN_IN), Inches(0.2), Inches(CONTENT_W_IN), Inches(1.05), [title], size,
                    bold=True)
        box.name = "Title"
        if subtitle:
            lines = 1 if len(title) <= _chars_per_line(CONTENT_W_IN, TITLE_PT) * 0.95 else 2
            _text(s, Inches(MARGIN_IN), Inches(0.25 + 0.52 * lines), Inches(CONTENT_W_IN), Inches(0.4), [subtitle],
                  SUBTITLE_PT, colour=GREY).name = "Subtitle"
        lines = footer_lines(self.study, state, self.when)
        foot = _text(s, Inches(MARGIN_IN), Inches(FOOTER_TOP_IN), Inches(CONTENT_W_IN), Inches(0.5), lines,
                     FOOTER_PT, colour=GREY, first_colour=RED if self.study.simulated else GREY)
        foot.name = "Provenance"
        s.notes_slide.notes_text_frame.text = "\n".join(notes)
        return s

    def title_slide(self, views: list[View], state):
        from pptx.util import Inches

        s = self.prs.slides.add_slide(self.blank)
        _text(s, Inches(0.8), Inches(1.3), Inches(11.7), Inches(1.3), [self.study.title], 34, bold=True)
        y = 2.7
        if self.study.simulated:
            _text(s, Inches(0.8), Inches(y), Inches(11.7), Inches(0.6), ["SIMULATED DATA — not the trial's results"],
                  24, colour=RED, bold=True)
            y += 0.7
        items = [f"{i}. {v.title}" for i, v in enumerate(views, 1)]
        if len(items) > 8:
            items = items[:7] + [f"… and {len(items) - 7} more"]
        _text(s, Inches(0.8), Inches(y), Inches(11.7), Inches(FOOTER_TOP_IN - y - 0.1), items, 16, colour=INK)
        lk = self.study.lock
        _text(s, Inches(0.8), Inches(FOOTER_TOP_IN), Inches(11.7), Inches(0.5),
              [f"{self.study.study_id} · {'locked ' + str(lk.lock_date) if lk.locked else 'UNLOCKED dataset'} · "
               f"dataset {lk.short} · exported {self.when}"], FOOTER_PT, colour=GREY).name = "Provenance"
        s.notes_slide.notes_text_frame.text = (
            f"{len(views)} view(s) from the {self.study.study_id} results explorer, each re-drawn by the server from "
            f"its link. Filters of the first view: {filter_text(self.study, state)}.")

    def save(self) -> bytes:
        buf = io.BytesIO()
        self.prs.save(buf)
        return buf.getvalue()


# -- native charts ----------------------------------------------------------------------------------
def _num_lit(values: list[float]):
    lit = etree.Element(f"{{{NS_C}}}numLit")
    etree.SubElement(lit, f"{{{NS_C}}}formatCode").text = "General"
    etree.SubElement(lit, f"{{{NS_C}}}ptCount").set("val", str(len(values)))
    for i, v in enumerate(values):
        pt = etree.SubElement(lit, f"{{{NS_C}}}pt")
        pt.set("idx", str(i))
        etree.SubElement(pt, f"{{{NS_C}}}v").text = repr(float(v))
    return lit


def _error_bars(ser_el, plus: list[float], minus: list[float], colour: str):
    """Custom ± error bars on a scatter series (python-pptx has no API for them): c:errBars before c:xVal."""
    eb = etree.Element(f"{{{NS_C}}}errBars")
    etree.SubElement(eb, f"{{{NS_C}}}errDir").set("val", "y")
    etree.SubElement(eb, f"{{{NS_C}}}errBarType").set("val", "both")
    etree.SubElement(eb, f"{{{NS_C}}}errValType").set("val", "cust")
    etree.SubElement(eb, f"{{{NS_C}}}noEndCap").set("val", "0")
    etree.SubElement(eb, f"{{{NS_C}}}plus").append(_num_lit(plus))
    etree.SubElement(eb, f"{{{NS_C}}}minus").append(_num_lit(minus))
    sp = etree.SubElement(eb, f"{{{NS_C}}}spPr")
    ln = etree.SubElement(sp, f"{{{NS_A}}}ln")
    ln.set("w", "19050")
    fill = etree.SubElement(ln, f"{{{NS_A}}}solidFill")
    etree.SubElement(fill, f"{{{NS_A}}}srgbClr").set("val", colour.lstrip("#").upper())
    x_val = ser_el.find(f"{{{NS_C}}}xVal")
    x_val.addprevious(eb)


def _log_axis(axis):
    scaling = axis._element.find(f"{{{NS_C}}}scaling")
    log = etree.Element(f"{{{NS_C}}}logBase")
    log.set("val", "10")
    scaling.insert(0, log)


def _style_axis(axis, title: str | None, number_format: str | None = None, size=AXIS_PT):
    from pptx.util import Pt

    axis.tick_labels.font.size = Pt(size)
    axis.tick_labels.font.color.rgb = _rgb(INK)
    if number_format:
        axis.tick_labels.number_format = number_format
        axis.tick_labels.number_format_is_linked = False
    if title:
        axis.has_title = True
        tf = axis.axis_title.text_frame
        tf.text = title
        for p in tf.paragraphs:
            for r in p.runs:
                r.font.size = Pt(AXIS_TITLE_PT)
                r.font.bold = False


def add_chart(slide, chart: Chart, left, top, width, height):
    """A native chart of ``chart`` on ``slide``; returns the python-pptx chart."""
    from pptx.chart.data import CategoryChartData, XyChartData
    from pptx.enum.chart import XL_AXIS_CROSSES, XL_CHART_TYPE, XL_LEGEND_POSITION, XL_MARKER_STYLE
    from pptx.enum.dml import MSO_LINE_DASH_STYLE
    from pptx.util import Pt

    if chart.kind == "xy":
        data = XyChartData()
        kept = []
        for s in chart.series:
            ser = data.add_series(s.name, number_format=chart.number_format)
            idx = [i for i, y in enumerate(s.y) if y is not None]
            for i in idx:
                ser.add_data_point(s.x[i], s.y[i])
            kept.append(idx)
        frame = slide.shapes.add_chart(XL_CHART_TYPE.XY_SCATTER_LINES, left, top, width, height, data)
        ch = frame.chart
        for s, idx, plot_ser in zip(chart.series, kept, ch.plots[0].series):
            plot_ser.smooth = False
            line = plot_ser.format.line
            line.color.rgb = _rgb(s.colour)
            line.width = Pt(2.0 if s.dash else 3.0)
            if s.dash:
                line.dash_style = MSO_LINE_DASH_STYLE.DASH
            plot_ser.marker.style = XL_MARKER_STYLE.DIAMOND if s.dash else XL_MARKER_STYLE.CIRCLE
            plot_ser.marker.size = 8
            plot_ser.marker.format.fill.solid()
            plot_ser.marker.format.fill.fore_color.rgb = _rgb("FFFFFF" if s.dash else s.colour)
            plot_ser.marker.format.line.color.rgb = _rgb(s.colour)
            if s.plus is not None and s.minus is not None:
                _error_bars(plot_ser._element, [s.plus[i] or 0.0 for i in idx], [s.minus[i] or 0.0 for i in idx],
                            s.colour)
        x_axis, y_axis = ch.category_axis, ch.value_axis
        x_format = "0"
        if chart.x_range:
            x_axis.minimum_scale, x_axis.maximum_scale = chart.x_range
        if len(chart.x_ticks) > 1:
            # Ticks on the visits: the axis starts one step before the first visit (room for the arms'
            # dodged error bars) and that tick's label is hidden by the number format.
            first, last = chart.x_ticks[0], chart.x_ticks[-1]
            step = min(b - a for a, b in zip(chart.x_ticks, chart.x_ticks[1:]))
            x_axis.major_unit = step
            x_axis.minimum_scale = first - step
            x_axis.maximum_scale = last + step / 2
            x_format = f'[<{first:g}]"";0'
        x_axis.has_major_gridlines = False
        _style_axis(x_axis, chart.x_title, x_format)
        y_axis.crosses = XL_AXIS_CROSSES.MINIMUM  # the week axis at the bottom, whatever the sign of the values
        x_axis.crosses = XL_AXIS_CROSSES.MINIMUM
        _style_axis(y_axis, chart.y_title, chart.number_format)
        y_axis.has_major_gridlines = True
        y_axis.major_gridlines.format.line.color.rgb = _rgb("E4E9EF")
        if chart.log:
            _log_axis(y_axis)
    else:
        data = CategoryChartData(number_format=chart.number_format)
        data.categories = chart.categories
        for s in chart.series:
            data.add_series(s.name, [v if v is not None else 0.0 for v in s.y])
        kind = XL_CHART_TYPE.BAR_CLUSTERED if chart.kind == "bar" else XL_CHART_TYPE.COLUMN_CLUSTERED
        frame = slide.shapes.add_chart(kind, left, top, width, height, data)
        ch = frame.chart
        for s, plot_ser in zip(chart.series, ch.plots[0].series):
            plot_ser.format.fill.solid()
            plot_ser.format.fill.fore_color.rgb = _rgb(s.colour)
        plot = ch.plots[0]
        plot.gap_width = 60
        plot.overlap = 0
        cat_axis, val_axis = ch.category_axis, ch.value_axis
        if chart.kind == "bar":
            cat_axis.reverse_order = True  # the most frequent term on top, as in the table
        _style_axis(cat_axis, chart.x_title or None, size=14 if chart.kind == "bar" else AXIS_PT)
        _style_axis(val_axis, chart.y_title, chart.number_format)
        val_axis.minimum_scale = 0
        if chart.y_title.startswith("%"):
            val_axis.maximum_scale = 100
        val_axis.has_major_gridlines = True
        val_axis.major_gridlines.format.line.color.rgb = _rgb("E4E9EF")
        if chart.kind == "column":
            plot.has_data_labels = True
            plot.data_labels.font.size = Pt(14)
            plot.data_labels.number_format = "0"
            plot.data_labels.number_format_is_linked = False
    ch.has_legend = True
    ch.legend.position = XL_LEGEND_POSITION.TOP
    ch.legend.include_in_layout = False
    ch.legend.font.size = Pt(LEGEND_PT)
    ch.font.size = Pt(AXIS_PT)
    return ch


# -- native tables ------------------------------------------------------------------------------------
def _col_widths(frame, total_in: float, pt=TABLE_PT) -> list[float]:
    """Short columns (n, p) get their longest text on one line; the rest share what is left."""
    char_in = pt * 0.55 / 72
    want, need = [], []
    for c in frame.columns:
        cells = [str(v) for v in frame[c]]
        longest = max([len(x) for x in cells] + [max((len(w) for w in str(c).split()), default=4)])
        want.append(min(longest, 60) * char_in + 0.16)
        need.append(min(longest, 14) * char_in + 0.16)
    spare = total_in - sum(need)
    if spare <= 0:
        return [total_in * n / sum(need) for n in need]
    extra = [w - n for w, n in zip(want, need)]
    k = min(1.0, spare / sum(extra)) if sum(extra) else 0
    widths = [n + e * k for n, e in zip(need, extra)]
    rest = total_in - sum(widths)  # room left when every column has what it wants: shared alike
    return [w + rest / len(widths) for w in widths]


def _row_height_in(values, widths, pt=TABLE_PT) -> float:
    def lines(v, w):
        per = _chars_per_line(w - 0.12, pt)
        return sum(max(1, math.ceil(len(part) / per)) for part in str(v).split("\n"))

    return max(lines(v, w) for v, w in zip(values, widths)) * pt * 1.08 / 72 + 0.09


def table_pages(table: Table, height_in: float = CONTENT_H_IN, width_in: float = CONTENT_W_IN) -> list[range]:
    """Row ranges that fit one slide each (the header repeats on every slide)."""
    widths = _col_widths(table.frame, width_in)
    head = _row_height_in(list(table.frame.columns), widths)
    room = height_in - head - 0.3
    pages, start, used = [], 0, 0.0
    for i, row in enumerate(table.frame.itertuples(index=False)):
        h = _row_height_in(list(row), widths)
        if used + h > room and i > start:
            pages.append(range(start, i))
            start, used = i, 0.0
        used += h
    pages.append(range(start, len(table.frame)))
    return pages


def add_table(slide, table: Table, rows: range, left, top, width, pt=TABLE_PT):
    from pptx.util import Emu, Inches, Pt

    frame = table.frame
    widths = _col_widths(frame, width / 914400)
    heights = [_row_height_in(list(frame.columns), widths)] + [_row_height_in(list(frame.iloc[i]), widths)
                                                                for i in rows]
    shape = slide.shapes.add_table(len(rows) + 1, len(frame.columns), left, top, width,
                                   Inches(sum(heights)))
    tbl = shape.table
    for j, w in enumerate(widths):
        tbl.columns[j].width = Emu(int(Inches(w)))
    for r, h in enumerate(heights):
        tbl.rows[r].height = Emu(int(Inches(h)))

    def fill(cell, text, bold=False, colour=INK, bg=None):
        cell.text = str(text)
        cell.margin_left = cell.margin_right = Inches(0.06)
        cell.margin_top = cell.margin_bottom = Inches(0.03)
        for p in cell.text_frame.paragraphs:
            for run in p.runs:
                run.font.size = Pt(pt)
                run.font.bold = bold
                run.font.color.rgb = _rgb(colour)
        cell.fill.solid()
        cell.fill.fore_color.rgb = _rgb(bg or "FFFFFF")

    for j, c in enumerate(frame.columns):
        fill(tbl.cell(0, j), c, bold=True, colour="FFFFFF", bg="12263A")
    for r, i in enumerate(rows, start=1):
        group = i in table.groups
        for j, v in enumerate(frame.iloc[i]):
            colour = table.colours.get(str(v), INK) if j == 0 else INK
            fill(tbl.cell(r, j), "" if v is None else v, bold=group or (j == 0 and str(v) in table.colours),
                 colour=colour, bg="EEF2F6" if group else ("F8FAFC" if r % 2 == 0 else "FFFFFF"))
    return shape


# -- the deck --------------------------------------------------------------------------------------
def picture_size_pt(has_subtitle: bool = False) -> tuple[float, float]:
    return CONTENT_W_IN * 72, (CONTENT_H_IN - (0.1 if has_subtitle else 0)) * 72


def build(study, views: list[tuple[View, str]], when: str | None = None) -> bytes:
    """The PPTX of ``views``: (View, slide title) pairs in the tray's order."""
    from pptx.util import Inches

    deck = Deck(study, when)
    deck.title_slide([v for v, _t in views], views[0][0].state)
    # Every picture of the deck in one browser session (starting Chromium is most of the cost).
    w_pt, h_pt = picture_size_pt()
    jobs = [(vi, pi) for vi, (v, _t) in enumerate(views) if v.chart is None for pi in range(len(v.pictures))]
    pngs = render_png([slide_figure(views[vi][0].pictures[pi][1], w_pt, h_pt) for vi, pi in jobs])
    picture = dict(zip(jobs, pngs))
    for vi, (v, title) in enumerate(views):
        notes = [title, *v.notes]
        retitled = title != v.title
        left, top = Inches(MARGIN_IN), Inches(CONTENT_TOP_IN)
        if v.chart is not None:
            s = deck.slide(title, v.state, notes, v.subtitle)
            below = v.chart.below
            chart_h = CONTENT_H_IN - (0.42 * (len(below.frame) + 1) + 0.1 if below is not None else 0)
            if v.chart.band:
                chart_h -= 0.35
            add_chart(s, v.chart, left, top, Inches(CONTENT_W_IN), Inches(chart_h))
            y = CONTENT_TOP_IN + chart_h
            if v.chart.band:
                lo, hi = v.chart.band
                _text(s, left, Inches(y), Inches(CONTENT_W_IN), Inches(0.35),
                      [f"Normal range {lo:g}–{hi:g} (shaded in the app and the report)."], 14, colour=GREY)
                y += 0.35
            if below is not None:
                add_table(s, below, range(len(below.frame)), left, Inches(y + 0.05), Inches(CONTENT_W_IN))
        elif v.pictures:
            for pi, (suffix, _fig) in enumerate(v.pictures):
                sub = v.subtitle if len(v.pictures) == 1 else f"{pi + 1}/{len(v.pictures)}: {suffix}"
                s = deck.slide(title, v.state, notes, sub)
                s.shapes.add_picture(io.BytesIO(picture[(vi, pi)]), left, top, Inches(CONTENT_W_IN),
                                     Inches(CONTENT_H_IN))
        for table in v.tables:
            pages = table_pages(table)
            for k, rows in enumerate(pages):
                t = (f"{title}: {table.short}" if retitled else table.title) + \
                    (f" ({k + 1}/{len(pages)})" if len(pages) > 1 else "")
                s = deck.slide(t, v.state, notes + [table.note] if table.note else notes)
                add_table(s, table, rows, left, top, Inches(CONTENT_W_IN))
    return deck.save()


def count_slides(content: bytes) -> int:
    from pptx import Presentation

    return len(Presentation(io.BytesIO(content)).slides)
