"""Performance work (issue 7): the in-process result cache, per-parameter slices, the large-study
fallbacks (aggregated cell boxes, sampled AE timeline, capped AE listing) and the benchmark's own
scale generator and payloads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from flask import Flask

from conftest import CallbackClient, default_store
from data.cache import ResultCache


# -- cache ------------------------------------------------------------------------------------------------
def test_cache_hit_returns_the_computed_object_without_pickling():
    c = ResultCache(Flask(__name__), "f" * 64)
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    assert c.get_or_compute("fig", 1, lambda: fig) is fig
    assert c.get_or_compute("fig", 1, lambda: pytest.fail("recomputed")) is fig
    assert (c.hits, c.misses) == (1, 1)


def test_cache_is_a_bounded_lru():
    c = ResultCache(Flask(__name__), "f" * 64, {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 3})
    for i in range(4):
        c.get_or_compute("x", i, lambda i=i: i)
    assert len(c) == 3
    c.get_or_compute("x", 1, lambda: pytest.fail("1 is recent"))  # 1 becomes the most recent
    c.get_or_compute("x", 4, lambda: 4)  # evicts 2, the least recent
    calls = []
    c.get_or_compute("x", 2, lambda: calls.append(2) or 2)
    assert calls == [2]


@pytest.mark.filterwarnings("ignore:Flask-Caching")
def test_null_cache_always_computes():
    c = ResultCache(Flask(__name__), "f" * 64, {"CACHE_TYPE": "NullCache"})
    calls = []
    for _ in range(3):
        c.get_or_compute("x", 1, lambda: calls.append(1) or "v")
    assert len(calls) == 3 and len(c) == 0


# -- per-parameter slices -------------------------------------------------------------------------------
def test_param_slices_equal_the_masked_rows(study):
    from analysis.descriptive import param_slices

    m = study.measurements
    slices = param_slices(m)
    assert set(slices) == set(study.params)
    for code, rows in slices.items():
        assert rows.equals(m[m["PARAMCD"] == code])
    shuffled = m.sample(frac=1, random_state=1)  # not sorted: one copy per parameter, same rows
    again = param_slices(shuffled)
    assert again["IGG"].sort_index().equals(m[m["PARAMCD"] == "IGG"])


# -- large-study fallbacks --------------------------------------------------------------------------------
@pytest.fixture()
def fresh_cb():
    """A new app (its own, empty cache), for tests that change a size threshold."""
    from app import create_app
    from data.study import DEFAULT_DATA

    app = create_app(DEFAULT_DATA)
    return CallbackClient(app, app.server.test_client())


def test_a_repeated_view_is_answered_without_a_figure_object(fresh_cb, study, monkeypatch):
    """Every page caches its figures as JSON-ready data: a repeated request only encodes them. (Dash copies
    and encodes a cached figure object on every answer: ~5 ms of a 9 ms trajectory answer at LSO-088 size.)"""
    from plotly.basedatatypes import BaseFigure

    from test_figure_tools import cell_inputs, sero_inputs

    store = default_store(study)
    views = [("ov-design", {"filter-state.data": store}), ("ae-timeline", {"filter-state.data": store}),
             ("cmp-fig", cell_inputs(study)), ("cmp-fig", cell_inputs(study, **{"cmp-view.value": "grid"})),
             ("traj-graph", sero_inputs(study)), ("traj-graph", sero_inputs(study, **{"traj-mode.value": "multi"})),
             ("pt-figure", {"filter-state.data": store})]
    first = [fresh_cb.outputs(graph, "figure", inputs) for graph, inputs in views]

    def no_figure_object(self, *a, **k):
        raise AssertionError("a cached view built a figure object")

    monkeypatch.setattr(BaseFigure, "to_plotly_json", no_figure_object)
    again = [fresh_cb.outputs(graph, "figure", inputs) for graph, inputs in views]
    assert again == first
    assert first[5]["traj-forest.figure"]["data"]  # the forest plot of the small multiples too


def test_box_summary_quartiles_type7_and_tukey_whiskers():
    from components.comparison import box_summary

    v = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 100])
    b = box_summary(v, 0.8)
    assert b["x"] == [0.8]
    assert [b["q1"][0], b["median"][0], b["q3"][0]] == pytest.approx(np.quantile(v, [0.25, 0.5, 0.75]))
    assert b["lowerfence"] == [1.0] and b["upperfence"] == [8.0]  # 100 lies beyond Q3 + 1.5 IQR


def test_cells_draw_aggregated_boxes_above_the_limit(fresh_cb, study, monkeypatch):
    from components import comparison

    inputs = {"filter-state.data": default_store(study), "cmp-view.value": "single", "cmp-param.value": "NAIVEB",
              "cmp-visit-a.value": 0.0, "cmp-visit-b.value": 48.0, "cmp-annot.value": "within",
              "cmp-log.value": [], "cmp-scale.value": "pchg", "cmp-ref.value": "BEL"}
    normal = go.Figure(fresh_cb.outputs("cmp-fig", "figure", inputs)["cmp-fig.figure"])
    monkeypatch.setattr(comparison, "MAX_POINTS", 5)
    out = fresh_cb.outputs("cmp-fig", "figure", {**inputs, "cmp-visit-a.value": 4.0})
    fig = go.Figure(out["cmp-fig.figure"])
    roles = {t.meta.get("role") for t in fig.data if t.meta}
    assert "points" not in roles and "pairs" not in roles
    boxes = [t for t in fig.data if t.meta and t.meta.get("role") == "box"]
    assert len(boxes) == 6 and all(b.q1 is not None and b.y is None for b in boxes)
    assert "boxes are drawn from their quartiles" in "".join(out["cmp-caption.children"])
    assert {t.meta.get("role") for t in normal.data if t.meta} >= {"points", "pairs"}


def test_timeline_sample_is_proportional_spread_and_stable():
    from analysis.safety import timeline_sample

    pop = pd.DataFrame({"USUBJID": [f"S-{i:04d}" for i in range(1000)],
                        "ARM": ["A"] * 500 + ["B"] * 300 + ["C"] * 200})
    s = timeline_sample(pop, 100)
    assert len(s) <= 100 and s["ARM"].value_counts().to_dict() == {"A": 50, "B": 30, "C": 20}
    a = s.loc[s["ARM"] == "A", "USUBJID"]
    assert a.iloc[0] == "S-0000" and a.iloc[-1] == "S-0499"  # the whole list, not its head
    assert s.equals(timeline_sample(pop.sample(frac=1, random_state=2), 100))
    assert timeline_sample(pop.head(40), 100) is not None and len(timeline_sample(pop.head(40), 100)) == 40


def test_timeline_says_when_it_shows_a_sample(fresh_cb, study, monkeypatch):
    from analysis import safety as S

    monkeypatch.setattr(S, "TIMELINE_MAX_SUBJECTS", 12)
    fig = go.Figure(fresh_cb.outputs("ae-timeline", "figure", {"filter-state.data": default_store(study)})
                    ["ae-timeline.figure"])
    rows = {y for t in fig.data if t.name == "subject" for y in t.y}
    assert len(rows) == 12
    assert any("12 of 30 subjects shown" in (a.text or "") for a in fig.layout.annotations)


def test_listing_is_capped_with_a_note(fresh_cb, study, monkeypatch):
    from components import safety

    monkeypatch.setattr(safety, "MAX_LISTING_ROWS", 10)
    out = fresh_cb.outputs("ae-listing", "rowData", {"filter-state.data": default_store(study)})
    assert len(out["ae-listing.rowData"]) == 10
    assert "first 10 of the 64 adverse events" in out["ae-listing-note.children"]


def test_listing_under_the_cap_has_no_note(cb, study):
    out = cb.outputs("ae-listing", "rowData", {"filter-state.data": default_store(study)})
    assert len(out["ae-listing.rowData"]) == 64 and out["ae-listing-note.children"] is None


# -- the benchmark's generator and payloads -------------------------------------------------------------
def test_scale_generator_writes_a_study_the_app_serves(tmp_path, monkeypatch):
    from bench import scale
    from data.study import load_study

    monkeypatch.setitem(scale.SIZES, "T", (12, 20, 5))
    rows = scale.generate("T", tmp_path / "T")
    st = load_study(tmp_path / "T")
    assert st.simulated and st.lock.locked and len(st.adsl) == 12
    assert [a.code for a in st.arms] == ["BEL", "IL2", "BELIL2"]
    assert [a.label for a in st.arms] == ["Belimumab", "Ld-IL2", "Belimumab + Ld-IL2"]
    assert len(st.params) == 20 and {"IGG", "C3", "NAIVEB", "TREG"} <= set(st.params)
    assert {p.dataset for p in st.params.values()} == {"ADLB", "ADCELL"}
    assert len(st.visits) == 5 and rows["ADAE"] == len(st.adae) and st.adex is not None
    assert rows["ADLB"] + rows["ADCELL"] == len(st.measurements)


def test_benchmark_payloads_reach_every_page(dash_app):
    from bench.scenarios import MAIN, SCENARIOS, Emulator, FlaskSession, Plan

    em = Emulator(FlaskSession(dash_app.server.test_client()), "")
    plan = Plan(em)
    for path in ("/", "/trajectories", "/comparison", "/safety"):
        seen = set()
        for scenario in SCENARIOS:
            for name, payload in plan.payloads(path, scenario):
                assert em.post(payload).status_code == 200, (path, scenario, name)
                seen.add(name)
        assert seen == set(MAIN[path]), path


def test_grid_benchmark_tells_a_hit_from_another_workers_miss():
    """With two workers and no shared cache, a repeated click may reach the worker that has not drawn the grid:
    the benchmark reports it as a miss, not as a slow 'cached' grid."""
    from bench.grid import cache_of

    assert cache_of(40, 2085) == "hit"
    assert cache_of(1990, 2085) == "miss"  # M's second click in the benchmark of 2026-11-30
    assert cache_of(22, 670) == "hit" and cache_of(600, 670) == "miss"  # S: 8 panels


def test_the_benchmark_stops_a_server_with_its_workers():
    """A worker that ignores SIGTERM (as a slow L worker did) must not outlive the benchmark's stop: it kept the
    port and answered the next start's first request."""
    import os
    import subprocess
    import time

    from bench.run import _stop

    # a "master" that exits on SIGTERM and a "worker" (its child) that ignores it
    gun = subprocess.Popen(["sh", "-c", "sh -c \"trap '' TERM; sleep 60\" & sleep 60"], start_new_session=True)
    time.sleep(0.3)
    _stop(gun)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.killpg(gun.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("a process of the server's group is still running")
