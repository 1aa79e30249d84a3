"""The whole-study offline report: one self-contained HTML file built from the deck tray.

Every view of the tray (``components.deckviews``) as a section: its title, the page's figure as an
interactive plotly figure, its tables, method and notes, and the provenance (study, lock, dataset
fingerprint, filters, "SIMULATED DATA" where so). plotly.js is inlined once; nothing is loaded from
anywhere (a Content-Security-Policy in the file forbids it), so the file opens from a USB stick in
a meeting room without the server or a network. Every text from the data is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from components.deckviews import Chart, Table, View
from components.export import filter_text
from components.theme import base_layout, graph_config

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "font-src data:; connect-src 'none'; worker-src blob:; form-action 'none'; base-uri 'none'")
STYLE = """
body { font-family: Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2933; margin: 0;
       background: #f5f7fa; font-size: 15px; }
header, section, footer { max-width: 1180px; margin: 0 auto; padding: 12px 20px; }
header { background: #12263a; color: #fff; max-width: none; }
header h1 { font-size: 1.5rem; margin: 4px 0; }
.sim { display: inline-block; background: #c0392b; color: #fff; font-weight: 700; padding: 3px 10px; border-radius: 4px; }
.prov { font-size: .85rem; color: #52606d; }
header .prov { color: #d9e2ec; }
section { background: #fff; margin-top: 14px; border: 1px solid #d9e0e8; border-radius: 6px; }
section h2 { font-size: 1.35rem; margin: 6px 0 2px; }
.sub { color: #52606d; margin: 0 0 8px; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: .9rem; width: 100%; }
th { background: #12263a; color: #fff; text-align: left; padding: 4px 6px; }
td { border-bottom: 1px solid #e4e9ef; padding: 3px 6px; vertical-align: top; }
tr.group td { background: #eef2f6; font-weight: 700; }
h3 { font-size: 1.05rem; margin: 12px 0 2px; }
.notes { font-size: .85rem; color: #3e4c59; }
.notes li { margin-bottom: 2px; }
nav ol { margin: 6px 0; }
@media print { section { break-inside: avoid-page; } .plot { break-inside: avoid; } }
"""


def chart_figure(chart: Chart) -> go.Figure:
    """A plotly figure of a native-chart view that has no page figure (the AE bar charts)."""
    fig = go.Figure()
    for s in chart.series:
        if chart.kind == "bar":
            fig.add_trace(go.Bar(y=s.x, x=s.y, name=s.name, orientation="h", marker_color=s.colour))
        else:
            fig.add_trace(go.Bar(x=s.x, y=s.y, name=s.name, marker_color=s.colour, text=[
                "" if v is None else f"{v:.0f}" for v in s.y], textposition="outside"))
    fig.update_layout(**base_layout(barmode="group", height=520 if chart.kind == "bar" else 440,
                                    margin=dict(l=240 if chart.kind == "bar" else 60, r=20, t=50, b=80)))
    if chart.kind == "bar":
        fig.update_yaxes(autorange="reversed")
        fig.update_xaxes(title=chart.y_title, range=[0, 100])
    else:
        fig.update_yaxes(title=chart.y_title, range=[0, 110])
    return fig


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.frame.columns)
    rows = []
    for i, row in enumerate(t.frame.itertuples(index=False, name=None)):
        cells = []
        for j, v in enumerate(row):
            style = ""
            if j == 0 and str(v) in t.colours:
                style = f' style="border-left:5px solid {html.escape(t.colours[str(v)])};font-weight:600"'
            cells.append(f"<td{style}>{html.escape('' if v is None else str(v))}</td>")
        cls = " class='group'" if i in t.groups else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (f"<h3>{html.escape(t.title)}</h3><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _figure(fig: go.Figure, div_id: str) -> str:
    config = {**graph_config(div_id), "showSendToCloud": False, "responsive": True}
    height = int(fig.layout.height or 450)
    text = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=config,
                       include_mathjax=False, validate=False)
    # the div gets the figure's height (plotly writes 100%), so the page flows around the figure
    return f"<div class='plot' style='height:{height}px'>" + text.replace(
        'style="height:100%; width:100%;"', f'style="height:{height}px; width:100%;"', 1) + "</div>"


def build(study, views: list[tuple[View, str]], when: str | None = None) -> str:
    when = when or dt.date.today().isoformat()
    lk = study.lock
    prov = (f"{study.study_id} · {'locked ' + str(lk.lock_date) if lk.locked else 'UNLOCKED dataset'} · "
            f"dataset fingerprint {lk.short} · report made {when}")
    sim = "<p><span class='sim'>SIMULATED DATA — not the trial's results</span></p>" if study.simulated else ""
    toc = "".join(f"<li><a href='#view-{i}'>{html.escape(t)}</a></li>" for i, (_v, t) in enumerate(views, 1))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(study.study_id)} report</title><style>{STYLE}</style>",
        f"<script>{get_plotlyjs()}</script></head><body>",
        f"<header><h1>{html.escape(study.title)}</h1>{sim}<div class='prov'>{html.escape(prov)}</div></header>",
        f"<section><h2>Contents</h2><nav><ol>{toc}</ol></nav><p class='prov'>Each view was drawn by the results "
        "explorer's server from its link, with the filters and options shown under it. This file needs no server "
        "and no network.</p></section>",
    ]
    for i, (v, title) in enumerate(views, 1):
        fig = v.figure if v.figure is not None else (chart_figure(v.chart) if v.chart is not None else None)
        body = [f"<section id='view-{i}'><h2>{i}. {html.escape(title)}</h2>"]
        if v.subtitle:
            body.append(f"<p class='sub'>{html.escape(v.subtitle)}</p>")
        if study.simulated:
            body.append("<p><span class='sim'>SIMULATED DATA</span></p>")
        if fig is not None:
            body.append(_figure(fig, f"fig-{i}"))
        if v.facts:
            body.append("<p>" + " · ".join(f"<b>{html.escape(k)}</b>: {html.escape(str(x))}" for k, x in v.facts)
                        + "</p>")
        body += [_table(t) for t in v.tables]
        body.append("<ul class='notes'>" + "".join(f"<li>{html.escape(n)}</li>" for n in v.notes) + "</ul>")
        body.append(f"<p class='prov'>{html.escape(prov)} · Filters: {html.escape(filter_text(study, v.state))}</p>")
        body.append("</section>")
        parts.append("".join(body))
    parts.append(f"<footer class='prov'>{html.escape(prov)}"
                 + (" · SIMULATED DATA — not the trial's results" if study.simulated else "") + "</footer>")
    parts.append("</body></html>")
    return "".join(parts)

