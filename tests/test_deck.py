"""The deck tray through Dash's real callback endpoint: adding views, editing the tray, forged trays,
and the PPTX / HTML report built from the views (native charts with the app's numbers, slide
typography, notes, provenance footer)."""

from __future__ import annotations

import base64
import io
import json

import pytest
from lxml import etree

from components import deck, trajectories as T
from components.deckviews import Pages, ViewError
from data import filters as F

NS = {"c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}
DOWNLOAD = {"deck-download-btn.n_clicks": 1}


def add(cb, path, search, part="figure", tray=None):
    key = json.dumps({"part": part, "type": "deck-add"}, separators=(",", ":"), sort_keys=True)
    body = {"output": "..deck-tray.data...deck-flash.children..", "changed": [f"{key}.n_clicks"]}
    r = cb.client.post("/_dash-update-component", data=json.dumps({
        "output": body["output"],
        "outputs": [{"id": "deck-tray", "property": "data"}, {"id": "deck-flash", "property": "children"}],
        "inputs": [[{"id": {"part": part, "type": "deck-add"}, "property": "n_clicks", "value": 1}],
                   {"id": "deck-add-current", "property": "n_clicks", "value": None}],
        "state": [{"id": "url", "property": "pathname", "value": path}, {"id": "url", "property": "search", "value": search},
                  {"id": "deck-tray", "property": "data", "value": tray}],
        "changedPropIds": body["changed"]}), content_type="application/json")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    resp = r.get_json()["response"]
    return resp.get("deck-tray", {}).get("data"), resp["deck-flash"]["children"]


def edit(cb, tray, kind, item_id, value):
    """One edit of the tray (↑ ↓ ✕ or a title) as the browser posts it; the new tray, or None (no update)."""
    ids = [it["id"] for it in tray]
    inputs = []
    for k, prop in (("deck-up", "n_clicks"), ("deck-down", "n_clicks"), ("deck-remove", "n_clicks"),
                    ("deck-title", "value")):
        inputs.append([{"id": {"id": i, "type": k}, "property": prop,
                        "value": value if (k == kind and i == item_id) else None} for i in ids])
    inputs.append({"id": "deck-clear", "property": "n_clicks", "value": None})
    key = next(k for k in cb.app.callback_map if k.startswith("deck-tray.data@"))
    changed = json.dumps({"id": item_id, "type": kind}, separators=(",", ":"), sort_keys=True)
    r = cb.client.post("/_dash-update-component", data=json.dumps({
        "output": key, "outputs": {"id": "deck-tray", "property": key.split(".", 1)[1]}, "inputs": inputs,
        "state": [{"id": "deck-tray", "property": "data", "value": tray}],
        "changedPropIds": [f"{changed}.{'value' if kind == 'deck-title' else 'n_clicks'}"]}),
        content_type="application/json")
    assert r.status_code in (200, 204), r.get_data(as_text=True)[:300]
    return None if r.status_code == 204 else r.get_json()["response"]["deck-tray"]["data"]


def download(cb, tray):
    return cb.outputs("deck-download", "data", DOWNLOAD, state={"deck-tray.data": tray})


def pptx(out):
    from pptx import Presentation

    data = out["deck-download.data"]
    return Presentation(io.BytesIO(base64.b64decode(data["content"])))


def title_of(slide):
    return next(sh.text_frame.text for sh in slide.shapes if sh.name == "Title")


def test_add_edit_and_download(cb, study):
    tray, msg = add(cb, "/trajectories", "?arm=BEL,BELIL2&param=C3&scale=chg&present=1")
    assert msg.startswith("Added: Complement C3") and len(tray) == 1
    assert tray[0]["query"] == "?arm=BEL,BELIL2&param=C3&scale=chg"  # canonical: no presentation flag
    again, msg = add(cb, "/trajectories", "?arm=BEL,BELIL2&param=C3&scale=chg", tray=tray)
    assert again is None and msg == "Already in the deck (slide 1)."
    tray, _ = add(cb, "/safety", "?threshold=10", part="incidence", tray=tray)
    tray, _ = add(cb, "/comparison", "?param=TREG&v2=24", tray=tray)
    assert [t["page"] for t in tray] == ["trajectories", "safety", "comparison"]
    shown = cb.outputs("deck-list", "children", {"deck-tray.data": tray})
    assert shown["deck-open.children"] == "Deck · 3" and "Complement C3" in json.dumps(shown["deck-list.children"])
    assert cb.outputs("deck-list", "children", {"deck-tray.data": "junk"})["deck-open.children"] == "Deck · ?"
    # reorder: the comparison up twice; retitle the safety view; remove and re-add nothing
    cmp_id = tray[2]["id"]
    tray = edit(cb, tray, "deck-up", cmp_id, 1)
    tray = edit(cb, tray, "deck-up", cmp_id, 1)
    assert [t["page"] for t in tray] == ["comparison", "trajectories", "safety"]
    assert edit(cb, tray, "deck-up", cmp_id, 1) is None  # already first
    tray = edit(cb, tray, "deck-title", tray[2]["id"], "  Injection-site reactions   lead the list ")
    assert tray[2]["custom"] == "Injection-site reactions lead the list"
    assert edit(cb, tray, "deck-title", tray[2]["id"], {"x": 1}) is None
    assert edit(cb, tray, "deck-remove", "nosuch", 1) is None
    shorter = edit(cb, tray, "deck-remove", tray[1]["id"], 1)
    assert [t["page"] for t in shorter] == ["comparison", "safety"]
    out = download(cb, tray)
    assert out["deck-status.children"].startswith("Deck ready: 3 view(s)")
    prs = pptx(out)
    slides = list(prs.slides)
    titles = [title_of(s) for s in slides[1:]]
    assert titles[0].startswith("Regulatory T cells (% of CD4+): Baseline vs Week 24")
    chart_slides = [s for s in slides if any(sh.has_chart for sh in s.shapes)]
    assert any("Complement C3" in title_of(s) and "change from baseline" in title_of(s) for s in chart_slides)
    assert any(title_of(s) == "Injection-site reactions lead the list" for s in slides[1:])
    for s in slides[1:]:
        foot = next(sh.text_frame.text for sh in s.shapes if sh.name == "Provenance")
        assert "SIMULATED DATA" in foot and study.lock.short in foot and "Filters: " in foot
        assert s.has_notes_slide and "Filters: " in s.notes_slide.notes_text_frame.text


def test_trajectory_chart_has_the_apps_numbers_and_slide_type(study):
    pages = Pages(study, __import__("app").PAGES)
    view = pages.view({"page": "trajectories", "part": "figure", "query": "?arm=BEL,IL2&param=DSDNA&scale=pchg"})
    assert view.title.startswith("Anti-dsDNA") and "% change from baseline" in view.title and "weeks 0–48" in view.title
    from components import slides

    data = slides.build(study, [(view, view.title)])
    from pptx import Presentation
    from pptx.util import Pt

    prs = Presentation(io.BytesIO(data))
    s = list(prs.slides)[1]
    chart = next(sh.chart for sh in s.shapes if sh.has_chart)
    assert chart.chart_type is not None and len(chart.plots[0].series) == 2
    # the app's figure for the same view
    state = F.from_values(["BEL", "IL2"], None, [], study)[0]
    ctl = T.clean_controls(study, "single", "DSDNA", [], "pchg", "mean", [], "highlight")
    fig, summ = T.trajectory_figure(study, state, ctl)
    app_means = {t.name: [round(v, 6) for v in t.y] for t in fig.data if t.name in ("Belimumab", "Ld-IL2")}
    xml = etree.fromstring(chart._chartSpace.xml.encode())
    for ser in xml.iterfind(".//c:ser", NS):
        name = ser.find("c:tx//c:v", NS).text
        ys = [float(v.text) for v in ser.iterfind("c:yVal//c:pt/c:v", NS)]
        assert ys == pytest.approx(app_means[name], rel=1e-6)
        plus = [float(v.text) for v in ser.iterfind("c:errBars/c:plus//c:pt/c:v", NS)]
        s_arm = summ["DSDNA"][summ["DSDNA"]["ARM"] == name]
        assert plus == pytest.approx(list((s_arm["ci_high"] - s_arm["mean"]).fillna(0)), abs=1e-9)
    # slide typography: title >= 28 pt, axis tick labels >= 14 pt, legend >= 14 pt
    title = next(sh for sh in s.shapes if sh.name == "Title")
    assert title.text_frame.paragraphs[0].runs[0].font.size >= Pt(28)
    assert chart.value_axis.tick_labels.font.size >= Pt(14) and chart.category_axis.tick_labels.font.size >= Pt(14)
    assert chart.legend.font.size >= Pt(14)
    tables = [sh.table for sl in prs.slides for sh in sl.shapes if sh.has_table]
    assert any(t.cell(0, 0).text == "Method" and t.cell(0, 4).text == "p" for t in tables)
    for t in tables:
        for row in t.rows:
            for cell in row.cells:
                for p in cell.text_frame.paragraphs:
                    for r in p.runs:
                        assert r.font.size >= Pt(14)


@pytest.mark.parametrize("tray,why", [
    ("junk", "not a list"),
    ([{"id": "a1", "page": "nowhere", "part": "figure", "query": "", "title": "x", "custom": None}], "unknown page"),
    ([{"id": "a1", "page": "trajectories", "part": "figure", "query": "?param=__import__", "title": "x",
       "custom": None}], "Unknown param"),
    ([{"id": "a1", "page": "trajectories", "part": "figure", "query": "?evil=1", "title": "x", "custom": None}],
     "does not have"),
    ([{"id": "a1", "page": "comparison", "part": "figure", "query": "?v1=24&v2=24", "title": "x", "custom": None}],
     "Both timepoints"),
    ([{"id": "a1", "page": "trajectories", "part": "figure", "query": "&".join(["arm=BEL"] * 60), "title": "x",
       "custom": None}], "too many parts"),
    ([{"id": f"a{i}", "page": "overview", "part": "figure", "query": "", "title": "x", "custom": None}
      for i in range(deck.MAX_ITEMS + 1)], "at most"),
    ([{"id": "a1", "page": "overview", "part": "figure", "query": "", "title": "x", "custom": None, "x": 1}],
     "not a list"),
    ([{"id": "a1", "page": "patient", "part": "figure", "query": "?subject=NOBODY", "title": "x", "custom": None}],
     "Unknown subject"),
])
def test_a_forged_tray_gets_a_message_not_an_error(cb, tray, why):
    out = download(cb, tray)
    assert out.get("deck-download.data") is None
    assert why in out["deck-status.children"], out["deck-status.children"]
    rep = cb.outputs("deck-report-download", "data", {"deck-report-btn.n_clicks": 1}, state={"deck-tray.data": tray})
    assert rep.get("deck-report-download.data") is None and "could not be built" in rep["deck-status.children"]


def test_a_forged_trigger_gives_no_update(cb):
    r = cb.client.post("/_dash-update-component", data=json.dumps({
        "output": "..deck-tray.data...deck-flash.children..",
        "outputs": [{"id": "deck-tray", "property": "data"}, {"id": "deck-flash", "property": "children"}],
        "inputs": [[{"id": {"part": ["ALL"], "type": "deck-add"}, "property": "n_clicks", "value": 1}],
                   {"id": "deck-add-current", "property": "n_clicks", "value": None}],
        "state": [{"id": "url", "property": "pathname", "value": "/"}, {"id": "url", "property": "search", "value": ""},
                  {"id": "deck-tray", "property": "data", "value": None}],
        "changedPropIds": ['{"part":["ALL"],"type":"deck-add"}.n_clicks']}), content_type="application/json")
    assert r.status_code == 204


def test_forged_edits_and_clicks_give_no_update(cb):
    assert cb.post("deck-download", "data", {"deck-download-btn.n_clicks": "1"},
                   state={"deck-tray.data": []}).status_code == 204
    assert cb.post("deck-panel", "is_open", {"deck-open.n_clicks": True}).status_code == 204


def test_link_hash_round_trip(study):
    items = [{"page": "trajectories", "part": "figure", "query": "?param=C3", "custom": "Mine"}]
    text = deck.encode_link([{**items[0]}])
    assert deck.decode_link(text) == items
    assert deck.decode_link("#deck=!!!") is None and deck.decode_link("#other") is None


def test_view_errors_name_the_problem(study):
    pages = Pages(study, __import__("app").PAGES)
    with pytest.raises(ViewError, match="unknown part"):
        pages.view({"page": "overview", "part": "stats", "query": ""})
    v = pages.view({"page": "patient", "part": "figure", "query": "?subject=LSO-088-003"})
    assert v.title == "Patient LSO-088-003 (Belimumab + Ld-IL2)"
    assert len(v.pictures) >= 2 and all(len(f.layout.annotations) >= 1 for _s, f in v.pictures)
    panels = [s for s, _f in v.pictures]
    assert all(len(s.split(", ")) <= 4 for s in panels)


def test_report_is_self_contained(study):
    from components import report

    pages = Pages(study, __import__("app").PAGES)
    views = [(pages.view({"page": p, "part": part, "query": q}), t) for p, part, q, t in [
        ("trajectories", "figure", "?param=C3", "C3 <script>alert(1)</script>"),
        ("safety", "incidence", "", "AEs"),
    ]]
    text = report.build(study, views)
    assert "Content-Security-Policy" in text and "SIMULATED DATA" in text and study.lock.short in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)" in text
    assert "<script src" not in text and "<link" not in text  # plotly.js inlined, nothing fetched
    assert text.count("Plotly.newPlot") == 2
