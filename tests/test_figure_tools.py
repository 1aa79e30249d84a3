"""Exports that carry their provenance, through Dash's real callback endpoint: the caption strip in
every figure, the figure tool strips (PNG/SVG buttons, data CSV, Show code), forged inputs."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import plotly.graph_objects as go
import pytest

from components import comparison, figure_tools, overview, patient, safety, trajectories
from components.theme import CAPTION_NAME, caption_lines
from conftest import default_store
from data import filters as F
from test_trajectories_page import decode

PAGES = {  # page module, graph id, tool prefix
    "overview": (overview, "ov-design", "ov"),
    "trajectories": (trajectories, "traj-graph", "traj"),
    "comparison": (comparison, "cmp-fig", "cmp"),
    "safety": (safety, "ae-timeline", "ae"),
}
STRIPS = {**PAGES, "patient": (patient, "pt-figure", "pt")}
TODAY = dt.date.today().isoformat()


def filtered(study):
    return F.from_values(["BEL", "BELIL2"], [0, 24], ["LSO-088-003"], study)[0].to_store()


def sero_inputs(study, store=None, **kw):
    v = {"filter-state.data": store or default_store(study), "traj-mode.value": "single", "traj-param.value": "IGG",
         "traj-params.value": ["IGG", "C3"], "traj-scale.value": "raw", "traj-stat.value": "mean",
         "traj-opts.value": [], "traj-patmode.value": "highlight", "traj-visit.value": "end",
         "traj-ref.value": "BEL", "traj-adjust.value": "holm", "traj-cov.value": "UN", "traj-ddfm.value": "kr"}
    v.update(kw)
    return v


def cell_inputs(study, store=None, **kw):
    v = {"filter-state.data": store or default_store(study), "cmp-view.value": "single",
         "cmp-param.value": "NAIVEB", "cmp-visit-a.value": 0, "cmp-visit-b.value": 24,
         "cmp-annot.value": "within", "cmp-log.value": [], "cmp-scale.value": "pchg", "cmp-ref.value": "BEL"}
    v.update(kw)
    return v


def figures(cb, study, store):
    """Each page's figure for one filter state, through the endpoint."""
    out = {
        "overview": cb.outputs("ov-design", "figure", {"filter-state.data": store})["ov-design.figure"],
        "trajectories": cb.outputs("traj-graph", "figure", {k: v for k, v in sero_inputs(study, store).items()
                                                        if not k.startswith(("traj-visit", "traj-ref", "traj-adj", "traj-cov",
                                                                             "traj-ddfm"))})
        ["traj-graph.figure"],
        "comparison": cb.outputs("cmp-fig", "figure", cell_inputs(study, store))["cmp-fig.figure"],
        "safety": cb.outputs("ae-timeline", "figure", {"filter-state.data": store})["ae-timeline.figure"],
    }
    return {k: go.Figure(decode(v)) for k, v in out.items()}


def caption_of(fig) -> str:
    caps = [a for a in fig.layout.annotations if a.name == CAPTION_NAME]
    assert len(caps) == 1
    return caps[0].text


def test_every_figure_draws_its_tick_labels_without_measuring_them(cb, study):
    """The app's template (and the patient profile's, made from it) allows a tick label past the plot area, so
    plotly does not measure each label on every redraw; the margins hold them."""
    figs = figures(cb, study, default_store(study))
    figs["patient"] = go.Figure(cb.outputs("pt-figure", "figure", {"filter-state.data": default_store(study)})
                                ["pt-figure.figure"])
    for page, fig in figs.items():
        tpl = fig.layout.template.layout
        assert (tpl.xaxis.ticklabeloverflow, tpl.yaxis.ticklabeloverflow) == ("allow", "allow"), page
        assert all(ax.ticklabeloverflow is None for ax in [*fig.select_xaxes(), *fig.select_yaxes()]), page
        # upright labels on the numeric time axes (no overlap measuring); the comparison's visit labels are
        # a study's own text and may be tilted
        labelled = [ax for ax in fig.select_xaxes() if ax.showticklabels is not False and ax.visible is not False]
        assert labelled, page
        assert all(ax.tickangle == (None if page == "comparison" else 0) for ax in labelled), page


def test_x_labels_are_upright_only_when_they_fit():
    """Upright (no overlap measuring) for LSO-088's 48 weeks; a three-year study's labels every 4 weeks would
    not fit side by side, so plotly keeps "auto" and tilts them if they overlap."""
    from components.theme import PLOT_PX, step_labels, upright

    assert step_labels(-1.5, 49.5, 4) == [str(w) for w in range(0, 49, 4)]
    assert step_labels(-1, 9, 4) == ["0", "4", "8"] and step_labels(2, 13, 4) == ["4", "8", "12"]
    assert upright(step_labels(-1.5, 49.5, 4), PLOT_PX) == 0
    assert upright(step_labels(-1.5, 157.5, 4), PLOT_PX) is None
    assert upright(["Screening visit"] * 30, PLOT_PX) is None


def test_subplot_grid_is_make_subplots_grid_and_a_new_copy_each_time():
    """The figures built as dicts take their panels' axes and title positions from make_subplots once (cached):
    the same domains and anchors, and a layout a figure may change without changing the next figure's."""
    from plotly.subplots import make_subplots

    from components.theme import axis_key, panel_refs, subplot_grid

    axes, titles = subplot_grid(2, 3, horizontal_spacing=0.09, vertical_spacing=0.17)
    ref = make_subplots(rows=2, cols=3, horizontal_spacing=0.09, vertical_spacing=0.17,
                        subplot_titles=list("ABCDEF")).layout
    assert axes["xaxis5"]["domain"] == list(ref.xaxis5.domain) and axes["yaxis5"]["domain"] == list(ref.yaxis5.domain)
    assert axes["xaxis5"]["anchor"] == "y5" and axes[axis_key("y", 5)]["anchor"] == "x5"
    assert titles == [(a.x, a.y) for a in ref.annotations]
    assert panel_refs(1) == {"xaxis": "x", "yaxis": "y"} and panel_refs(5) == {"xaxis": "x5", "yaxis": "y5"}
    axes["xaxis"]["range"] = [0, 1]
    axes["yaxis"]["domain"][0] = 0.5
    again, _ = subplot_grid(2, 3, horizontal_spacing=0.09, vertical_spacing=0.17)
    assert "range" not in again["xaxis"] and again["yaxis"]["domain"] == list(ref.yaxis.domain)
    shared, _ = subplot_grid(2, 1, shared_xaxes=True, row_heights=(0.7, 0.3), vertical_spacing=0.04)
    assert shared["xaxis"]["matches"] == "x2" and shared["xaxis"]["showticklabels"] is False


def test_the_template_carries_defaults_for_the_trace_types_drawn_only(cb, study):
    """plotly_white has trace defaults for 24 types, re-read on every redraw; the app's template keeps those of
    the types its figures draw, unchanged."""
    import plotly.io as pio
    from components.theme import TRACE_TYPES

    figs = figures(cb, study, default_store(study))
    figs["patient"] = go.Figure(cb.outputs("pt-figure", "figure", {"filter-state.data": default_store(study)})
                                ["pt-figure.figure"])
    white = pio.templates["plotly_white"].data
    for page, fig in figs.items():
        assert {t.type for t in fig.data} <= set(TRACE_TYPES), page
        data = fig.layout.template.data
        kept = {k for k, v in data.to_plotly_json().items() if v}
        assert kept == {t for t in TRACE_TYPES if white[t]}, page
        assert all(data[t] == white[t] for t in kept), page


# -- the caption strip -------------------------------------------------------------------------------
def test_every_figure_carries_the_full_caption(cb, study):
    figs = figures(cb, study, filtered(study))
    for page, fig in figs.items():
        text = caption_of(fig)
        assert "SIMULATED DATA — not the trial's results" in text, page
        assert f"dataset {study.lock.short}" in text and f"locked {study.lock.lock_date}" in text and "LSO-088" in text
        assert f"made {TODAY}" in text
        assert "Filters: Belimumab, Belimumab + Ld-IL2; weeks 0–24; LSO-088-003" in text, page
        assert "Method: " in text, page
        lines = text.split("<br>")
        # the bottom margin holds the strip: 62 px below the plot plus 15 px per line
        assert fig.layout.margin.b >= 62 + 15 * len(lines), page
    assert "Method: value, mean ± 95% CI (t); n per arm and visit" in caption_of(figs["trajectories"])
    assert "Wilcoxon signed-rank" in caption_of(figs["comparison"])
    assert "safety population (SAFFL = Y)" in caption_of(figs["safety"])
    assert "ADEX" in caption_of(figs["overview"])


def test_caption_lines_wrap_and_escape(study):
    state = F.from_values([], None, list(study.subjects[:12]), study)[0]
    lines = caption_lines(study, "a <b>method</b> " * 20, state)
    assert all(len(line) <= 135 for line in lines)
    assert lines[0].startswith("SIMULATED DATA") and lines[1].startswith("Filters: all arms; weeks 0–48; LSO-088-001")
    fig = go.Figure()
    from components.theme import stamp

    stamp(fig, study, "x < y & z", state=state)
    assert "x &lt; y &amp; z" in caption_of(fig)  # plotly renders the entities, no markup from data


# -- the tool strips ------------------------------------------------------------------------------
def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for c in children:
            yield from _walk(c)
    elif children is not None and hasattr(children, "to_plotly_json"):
        yield from _walk(children)


@pytest.mark.parametrize("page", list(STRIPS))
def test_each_figure_has_png_svg_and_show_code(study, page):
    module, graph_id, prefix = STRIPS[page]
    tree = list(_walk(module.layout(study)))
    exports = [c for c in tree if "fig-export" in (getattr(c, "className", "") or "")]
    fmts = sorted((c.to_plotly_json()["props"]["data-format"], c.to_plotly_json()["props"].get("data-size", "screen"))
                  for c in exports)
    assert fmts == [("png", "screen"), ("png", "slide"), ("svg", "screen"), ("svg", "slide")]
    assert all(c.to_plotly_json()["props"]["data-graph"] == graph_id for c in exports)
    ids = {getattr(c, "id", None) for c in tree if isinstance(getattr(c, "id", None), str)}
    assert graph_id in ids and (prefix == "pt" or f"{prefix}-code-btn" in ids and f"{prefix}-code-collapse" in ids)
    adds = [c.id["part"] for c in tree if isinstance(getattr(c, "id", None), dict) and c.id.get("type") == "deck-add"]
    assert "figure" in adds or "timeline" in adds


def test_show_code_opens_and_returns_the_script(cb, study):
    out = cb.outputs("traj-code-collapse", "is_open", {"traj-code-btn.n_clicks": 1},
                     state={"traj-code-collapse.is_open": False})
    assert out == {"traj-code-collapse.is_open": True, "traj-code-btn.children": "Hide code"}
    inputs = sero_inputs(study)
    closed = cb.post("traj-code", "children", {"traj-code-collapse.is_open": False, **inputs})
    assert closed.status_code == 204  # nothing computed while the panel is closed
    code = cb.outputs("traj-code", "children", {"traj-code-collapse.is_open": True, **inputs})["traj-code.children"]
    assert code.startswith("# LSO-088 · Serology") and "PARAMS = ['IGG']" in code
    compile(code, "script.py", "exec")
    dl = cb.outputs("traj-code-download", "data", {"traj-code-dl-btn.n_clicks": 1}, state=inputs)
    assert dl["traj-code-download.data"]["filename"] == "LSO-088-trajectories.py"
    assert dl["traj-code-download.data"]["content"] == code


@pytest.mark.parametrize("page,inputs", [
    ("cmp", lambda s: cell_inputs(s)),
    ("ae", lambda s: {"filter-state.data": default_store(s)}),
    ("ov", lambda s: {"filter-state.data": default_store(s)}),
])
def test_show_code_of_every_page(cb, study, page, inputs):
    code = cb.outputs(f"{page}-code", "children", {f"{page}-code-collapse.is_open": True, **inputs(study)})
    text = code[f"{page}-code.children"]
    assert text.startswith("# LSO-088 · ") and "import pandas as pd" in text
    compile(text, "script.py", "exec")


def test_show_code_follows_a_cells_message(cb, study):
    out = cb.outputs("cmp-code", "children", {"cmp-code-collapse.is_open": True,
                                               **cell_inputs(study, **{"cmp-visit-b.value": 0})})
    assert out["cmp-code.children"].startswith("# Both timepoints are")


@pytest.mark.parametrize("bad", [
    {"traj-param.value": "__import__('os')"},
    {"traj-scale.value": ["raw"]},
    {"traj-ref.value": "NOPE"},
    {"traj-visit.value": 7},
    {"filter-state.data": {"arms": ["XX"], "weeks": [0, 48], "patients": []}},
    {"filter-state.data": "junk"},
])
def test_forged_show_code_inputs_give_no_update(cb, study, bad):
    r = cb.post("traj-code", "children", {"traj-code-collapse.is_open": True, **sero_inputs(study, **bad)})
    assert r.status_code == 204


def test_forged_clicks_give_no_update(cb, study):
    assert cb.post("traj-code-collapse", "is_open", {"traj-code-btn.n_clicks": "1"},
                   state={"traj-code-collapse.is_open": False}).status_code == 204
    assert cb.post("ov-data-download", "data", {"ov-data-btn.n_clicks": True},
                   state={"filter-state.data": default_store(study)}).status_code == 204
    assert cb.post("cmp-code", "children", {"cmp-code-collapse.is_open": True,
                                             **cell_inputs(study, **{"cmp-view.value": "all"})}).status_code == 204
    assert cb.post("ae-code", "children", {"ae-code-collapse.is_open": True,
                                           "filter-state.data": None}).status_code == 204


# -- CSVs with the provenance header -------------------------------------------------------------------
def _csv(data: dict) -> tuple[list[str], pd.DataFrame]:
    text = data["content"]
    head = [line for line in text.splitlines() if line.startswith("#")]
    return head, pd.read_csv(io.StringIO(text), comment="#")


def _provenance_ok(head, study, filters):
    assert head[0] == "# SIMULATED DATA — not the trial's results"
    assert f"# Study: {study.study_id}" in head
    assert any(study.lock.short in line for line in head)
    assert f"# Filters: {filters}" in head
    assert any(line.startswith("# Method") for line in head)


def test_overview_tables_csv(cb, study):
    store = F.from_values(["IL2"], None, [], study)[0].to_store()
    out = cb.outputs("ov-tables-download", "data", {"ov-tables-csv-btn.n_clicks": 1},
                     state={"filter-state.data": store})["ov-tables-download.data"]
    assert out["filename"] == "LSO-088-baseline-disposition.csv"
    head, df = _csv(out)
    _provenance_ok(head, study, "Ld-IL2; weeks 0–48; all patients")
    assert list(df.columns) == ["Table", "Characteristic", "Statistic", "Ld-IL2 (N=10)", "Total (N=10)"]
    assert set(df["Table"]) == {"Disposition", "Baseline characteristics"}
    age = df[df["Characteristic"] == "Age (years)"].iloc[0]
    adsl = pd.read_parquet(study.folder / "adsl.parquet")
    ages = adsl.loc[adsl["TRT01A"] == "Ld-IL2", "AGE"]
    assert age["Ld-IL2 (N=10)"] == f"{ages.mean():.1f} ({ages.std():.1f})"
    assert df.loc[df["Characteristic"] == "Randomised", "Ld-IL2 (N=10)"].iloc[0] == "10"


def test_overview_design_csv(cb, study):
    out = cb.outputs("ov-data-download", "data", {"ov-data-btn.n_clicks": 1},
                     state={"filter-state.data": default_store(study)})["ov-data-download.data"]
    head, df = _csv(out)
    _provenance_ok(head, study, "all arms; weeks 0–48; all patients")
    bel = df[(df["ARM"] == "Belimumab") & (df["EXTRT"] == "BELIMUMAB")]
    assert bel["doses"].sum() == len(bel["dose_weeks"].iloc[0].split())


def test_safety_timeline_csv(cb, study):
    store = F.from_values(["BEL"], [12, 24], [], study)[0].to_store()
    out = cb.outputs("ae-data-download", "data", {"ae-data-btn.n_clicks": 1},
                     state={"filter-state.data": store})["ae-data-download.data"]
    head, df = _csv(out)
    _provenance_ok(head, study, "Belimumab; weeks 12–24; all patients")
    adae = pd.read_parquet(study.folder / "adae.parquet")
    onset = (adae["ASTDY"] - 1) // 7
    want = adae[(adae["TRT01A"] == "Belimumab") & onset.between(12, 24)]
    assert len(df) == len(want) and set(df["USUBJID"]) == set(want["USUBJID"])


def test_safe_filename():
    assert figure_tools.safe_filename("LSO-088 cells/../x") == "LSO-088_cells_.._x"
    assert figure_tools.safe_filename("") == "figure"


def test_safety_tables_csv(cb, study):
    store = F.from_values(["BEL", "BELIL2"], None, [], study)[0].to_store()
    out = cb.outputs("ae-summary-download", "data", {"ae-summary-csv-btn.n_clicks": 1},
                     state={"filter-state.data": store})["ae-summary-download.data"]
    head, df = _csv(out)
    _provenance_ok(head, study, "Belimumab, Belimumab + Ld-IL2; weeks 0–48; all patients")
    assert df.iloc[0, 0] == "Any TEAE" and "Total (N=20)" in df.columns
    state = {"filter-state.data": store, "ae-threshold.value": 10, "ae-arm.value": "BELIL2", "ae-ref.value": "BEL"}
    out = cb.outputs("ae-incidence-download", "data", {"ae-incidence-csv-btn.n_clicks": 1}, state=state)
    head, df = _csv(out["ae-incidence-download.data"])
    _provenance_ok(head, study, "Belimumab, Belimumab + Ld-IL2; weeks 0–48; all patients")
    assert any("Newcombe" in line for line in head) and any("≥10%" in line for line in head)
    assert {"level", "SOC", "PT", "Belimumab", "Belimumab + Ld-IL2", "RD Belimumab + Ld-IL2 − Belimumab"} <= set(df)
    soc = df[df["level"] == "SOC"].iloc[0]
    assert soc["Total"] == soc["Belimumab"] + soc["Belimumab + Ld-IL2"]
    for bad in ({"ae-threshold.value": 7}, {"ae-arm.value": "XX"}, {"ae-ref.value": ["BEL"]}):
        r = cb.post("ae-incidence-download", "data", {"ae-incidence-csv-btn.n_clicks": 1}, state={**state, **bad})
        assert r.status_code == 204
