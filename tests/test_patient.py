"""Patient profile: the pure functions, the figure's numbers against the parquet files, the callbacks
through Dash's real endpoint (valid, empty and forged inputs), and clicks on other pages' figures.

Expected values are read from data/lso088/*.parquet with pandas, not through the app's frames.
"""

import base64
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis import patient as A
from components import patient, theme
from conftest import CallbackClient, default_store

FIG = ("pt-figure", "figure")
LABS = ["IGG", "DSDNA", "ANUA", "C3", "C4"]


@pytest.fixture(scope="module")
def raw(study):
    return {n: pd.read_parquet(study.folder / f"{n}.parquet") for n in ("adsl", "adlb", "adcell", "adae", "adex")}


def store(study, arms=(), weeks=None, patients=()):
    s = default_store(study)
    s.update(arms=list(arms), patients=list(patients))
    if weeks:
        s["weeks"] = list(weeks)
    return s


def render(cb, study, usubjid="LSO-088-003", params=None, group="B CELLS", st=None):
    return cb.outputs(*FIG, {"filter-state.data": st or default_store(study), "pt-patient.value": usubjid,
                             "pt-params.value": LABS if params is None else params, "pt-group.value": group})


def decode(obj):
    """Plotly 7 sends numeric arrays as {"dtype", "bdata"[, "shape"]}: back to numpy arrays."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            return arr.reshape([int(x) for x in str(obj["shape"]).split(",")]) if "shape" in obj else arr
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


def figure(out, key="pt-figure.figure"):
    return go.Figure(decode(out[key]))


def choose(cb, study, current=None, trigger="filter-state.data", st=None):
    return cb.outputs("pt-patient", "options", {"filter-state.data": st or default_store(study),
                                                "pt-prev.n_clicks": 1 if trigger == "pt-prev.n_clicks" else None,
                                                "pt-next.n_clicks": 1 if trigger == "pt-next.n_clicks" else None,
                                                "pt-patient.value": current}, changed=[trigger])


# -- pure functions ---------------------------------------------------------------------------
def test_subject_order_default_and_neighbours(study):
    order = A.ordered_subjects(study.adsl, ["LSO-088-010", "LSO-088-002", "LSO-088-007"])
    assert order == ["LSO-088-002", "LSO-088-007", "LSO-088-010"]  # ADSL order, not the argument's
    assert A.default_subject(order, ()) == "LSO-088-002"
    assert A.default_subject(order, ("LSO-088-099", "LSO-088-010")) == "LSO-088-010"
    assert A.default_subject([], ()) is None
    assert A.neighbours(order, "LSO-088-007") == ("LSO-088-002", "LSO-088-010")
    assert A.neighbours(order, "LSO-088-002") == (None, "LSO-088-007")
    assert A.neighbours(order, "LSO-088-010") == ("LSO-088-007", None)
    assert A.neighbours(order, "nobody") == (None, None)


def test_demographics_and_disposition_read_adsl(study, raw):
    adsl = raw["adsl"].set_index("USUBJID")
    for u in ("LSO-088-001", "LSO-088-003"):
        row = A.subject_row(study.adsl, u)
        demo = dict(A.demographics(row, patient.extra_demographics(study)))
        assert demo["Age"] == f"{adsl.loc[u, 'AGE']} years"
        assert demo["Sex"] == {"F": "female", "M": "male"}[adsl.loc[u, "SEX"]]
        assert demo["Disease duration (years)"] == f"{adsl.loc[u, 'DISDUR']:g}"
        assert demo["History of lupus nephritis"] == {"Y": "yes", "N": "no"}[adsl.loc[u, "LNHISTFL"]]
        disp = dict(A.disposition(row))
        assert disp["Last visit"] == f"week {adsl.loc[u, 'LSTVISN']}"
        assert disp["End of study"].startswith(adsl.loc[u, "EOSSTT"].lower())
    assert dict(A.disposition(A.subject_row(study.adsl, "LSO-088-001")))["End of study"] == \
        "discontinued (lost to follow-up)"


def test_baseline_value_is_the_flagged_record(study, raw):
    lb = raw["adlb"]
    for u in ("LSO-088-001", "LSO-088-017"):
        exp = lb[(lb.USUBJID == u) & (lb.PARAMCD == "SLEDAI") & (lb.ABLFL == "Y")]["AVAL"].iloc[0]
        assert A.baseline_value(study.measurements, u, "SLEDAI") == exp
    assert A.baseline_value(study.measurements, "LSO-088-001", "NOPE") is None


def test_param_groups_follow_the_catalogue(study):
    g = A.param_groups(study.params)
    assert g["SEROLOGY"] == LABS
    assert g["B CELLS"] == ["NAIVEB", "PLASMA", "MEMB", "BREG"]
    assert sum(len(v) for v in g.values()) == len(study.params)


# -- the figure -------------------------------------------------------------------------------
def test_lab_panels_show_the_subjects_values(cb, study, raw):
    fig = figure(render(cb, study))
    lb = raw["adlb"]
    for code in LABS:
        name = study.params[code].name
        t = next(t for t in fig.data if (t.hovertemplate or "").startswith(f"<b>{name}</b>"))
        exp = lb[(lb.USUBJID == "LSO-088-003") & (lb.PARAMCD == code)].sort_values("AVISITN")
        np.testing.assert_allclose(np.asarray(t.x, float), exp["AVISITN"].to_numpy(float))
        np.testing.assert_allclose(np.asarray(t.y, float), exp["AVAL"].to_numpy(float))
        # values outside the normal range are drawn red
        lo, hi = exp["ANRLO"].iloc[0], exp["ANRHI"].iloc[0]
        out = ((exp["AVAL"] < lo) | (exp["AVAL"] > hi)).to_numpy()
        assert [c == "#c51b1b" for c in t.marker.color] == list(out)
    # one green normal-range band per lab panel
    bands = [s for s in fig.layout.shapes if s.fillcolor == "#2f855a"]
    assert len(bands) == len(LABS)
    assert {(b.y0, b.y1) for b in bands} >= {(7.0, 16.0), (0.9, 1.8)}


def test_group_panel_has_a_line_per_subset(cb, study, raw):
    fig = figure(render(cb, study, group="T CELLS"))
    lines = [t for t in fig.data if getattr(t, "legend", None) == "legend2"]
    assert [t.name for t in lines] == ["Regulatory T cells", "Follicular helper T cells"]
    cell = raw["adcell"]
    exp = cell[(cell.USUBJID == "LSO-088-003") & (cell.PARAMCD == "TREG")].sort_values("AVISITN")["AVAL"]
    np.testing.assert_allclose(np.asarray(lines[0].y, float), exp.to_numpy(float))
    no_group = figure(render(cb, study, group="none"))
    assert not [t for t in no_group.data if getattr(t, "legend", None) == "legend2"]


def test_dosing_ticks_and_injection_bands_come_from_adex(cb, study, raw):
    fig = figure(render(cb, study))
    ex = raw["adex"]
    ex = ex[ex.USUBJID == "LSO-088-003"]
    ticks = next(t for t in fig.data if t.type == "scatter" and list(t.y or [])[:1] == ["BELIMUMAB IV"])
    exp = (ex[ex.EXTRT == "BELIMUMAB"]["ASTDY"].sort_values().to_numpy(float) - 1) / 7
    np.testing.assert_allclose(np.asarray(ticks.x, float), exp)
    bands = [t for t in fig.data if t.type == "bar" and list(t.y) == ["LD-IL2 SC"]]
    assert [t.text[0] for t in bands] == ["every other day", "weekly", "every other day", "weekly"]
    days = ex[ex.EXTRT == "LD-IL2"]["ASTDY"].sort_values().to_numpy(float)
    first_weekly = days[np.argmax(np.diff(days) > 3)]  # the last every-other-day dose
    assert bands[0].base[0] == pytest.approx((days[0] - 1) / 7)
    assert bands[0].base[0] + bands[0].x[0] == pytest.approx((first_weekly - 1) / 7)


def test_adverse_events_are_bars_by_grade(cb, study, raw):
    ae = raw["adae"]
    u = ae.groupby("USUBJID").size().idxmax()  # the subject with the most AEs
    fig = figure(render(cb, study, usubjid=u))
    bars = [t for t in fig.data if t.type == "bar" and (t.name or "").startswith("Grade")]
    exp = ae[(ae.USUBJID == u) & ae.ASTDY.notna()]
    assert sum(len(t.y) for t in bars) == len(exp)
    got = sorted(float(b) for t in bars for b in t.base)
    np.testing.assert_allclose(got, sorted((exp["ASTDY"].to_numpy(float) - 1) / 7))
    grades = {t.name for t in bars}
    assert grades == {f"Grade {int(g)}" for g in exp["AETOXGR"].astype(int)}
    serious = exp[exp.AESER == "Y"]
    stars = [t for t in fig.data if (t.name or "").startswith("Serious")]
    assert sum(len(t.x) for t in stars) == len(serious)


def test_activity_panels_and_shared_axis(cb, study):
    fig = figure(render(cb, study))
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "Dosing (ADEX)"
    for t in ("SLEDAI-2K score", "Prednisone-equivalent dose (mg/day)", "B cells (% of CD19+)"):
        assert t in titles
    assert any(a.startswith("Adverse events") for a in titles)
    # every panel shares the bottom x axis (study week)
    xaxes = [k for k in fig.layout.to_plotly_json() if k.startswith("xaxis")]
    assert len(xaxes) == len(LABS) + 5  # dosing, labs, group, SLEDAI, prednisone, AEs
    assert all(fig.layout[k].matches in (None, "x" + str(len(xaxes))) for k in xaxes)
    assert fig.layout.height > 1000
    assert any("SIMULATED DATA" in a.text for a in fig.layout.annotations)


def test_panels_stack_without_overlap_at_their_heights(study):
    """Each panel is as tall as its share (UNIT_PX per height unit), top to bottom in order, GAP_PX apart (room for
    its time labels and the next panel's title), and its title sits on its top edge."""
    labs = patient.default_labs(study)
    panels, _ = patient.profile_panels(study, "LSO-088-003", labs, "B CELLS")
    fig, _ = patient.profile_figure(study, "LSO-088-003", labs, "B CELLS", patient.F.default_state(study))
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    domains = [fig.layout[f"yaxis{r if r > 1 else ''}"].domain for r in range(1, len(panels) + 1)]
    assert domains[0][1] == pytest.approx(1) and domains[-1][0] == pytest.approx(0, abs=1e-9)
    for (kind, _, units, title), (lo, hi) in zip(panels, domains):
        assert (hi - lo) * plot_px == pytest.approx(units * patient.UNIT_PX, abs=1), kind
        assert any(a.text == title and a.y == pytest.approx(hi) and a.yanchor == "bottom"
                   for a in fig.layout.annotations), title
    for (lo, _), (_, hi_below) in zip(domains, domains[1:]):
        assert (lo - hi_below) * plot_px == pytest.approx(patient.GAP_PX, abs=1)
    # every trace on its own panel's axes
    kinds = [p[0] for p in panels]
    ae_row = kinds.index("ae") + 1
    assert {t.yaxis for t in fig.data if t.legend == "legend3"} == {f"y{ae_row}"}


def test_header_names_arm_demographics_and_baseline(cb, study):
    out = render(cb, study, usubjid="LSO-088-001")
    text = json.dumps(out["pt-header.children"], ensure_ascii=False)
    for s in ("LSO-088-001", "Belimumab", "patient 1 of 30 in the arm filter", "32 years", "female",
              "Baseline SLEDAI-2K score", "lost to follow-up", "week 36"):
        assert s in text, s
    assert "#0072B2" in text  # the arm's colour


def test_a_step_resends_only_what_changed(cb, study):
    """Next/Previous within the arm filter leave the picker's list and the chosen patients as they were: those
    outputs are not sent again (each one sent is redrawn in the browser)."""
    il2 = study.adsl.loc[study.adsl.ARMCD == "IL2", "USUBJID"].tolist()
    st = store(study, arms=["IL2"])
    out = cb.outputs("pt-patient", "options", {"filter-state.data": st, "pt-patient.value": il2[3],
                                               "pt-next.n_clicks": 1, "pt-seen.data": []}, changed=["pt-next.n_clicks"])
    assert out["pt-patient.value"] == il2[4] and "LSO-088" in json.dumps(out["pt-header.children"])
    assert "pt-patient.options" not in out and "pt-seen.data" not in out
    # a filter change, or a patient outside the arm filter, lists the patients again
    out = choose(cb, study, il2[3], "filter-state.data", st)
    assert [o["value"] for o in out["pt-patient.options"]] == il2
    out = choose(cb, study, "LSO-088-001", "pt-next.n_clicks", st)
    assert out["pt-patient.options"][0]["value"] == "LSO-088-001" and "pt-patient.value" not in out


def test_the_patient_next_is_prepared_while_one_is_read(study):
    """After a profile is shown, the one Next shows (Previous, after a step back) is drawn in the background:
    the click then costs no drawing on the server, and shows the same as drawing it then."""
    import time

    from app import create_app
    from data.study import DEFAULT_DATA

    app = create_app(DEFAULT_DATA)
    fresh = CallbackClient(app, app.server.test_client())
    cache = app.server.config["RESULT_CACHE"]
    il2 = study.adsl.loc[study.adsl.ARMCD == "IL2", "USUBJID"].tolist()
    st = store(study, arms=["IL2"])

    def settle(count):
        for _ in range(250):
            if cache.prefetched >= count and not cache._prefetching:
                return
            time.sleep(0.02)
        raise AssertionError("no prefetch")

    out = choose(fresh, study, il2[3], "pt-next.n_clicks", st)
    assert out["pt-patient.value"] == il2[4]
    settle(1)
    misses = cache.misses
    ahead = choose(fresh, study, il2[4], "pt-next.n_clicks", st)
    assert ahead["pt-patient.value"] == il2[5] and cache.misses == misses  # drawn before the click
    settle(2)
    back = choose(fresh, study, il2[5], "pt-prev.n_clicks", st)  # il2[4]: drawn already
    settle(3)
    misses = cache.misses
    assert choose(fresh, study, il2[4], "pt-prev.n_clicks", st)["pt-patient.value"] == il2[3]
    assert cache.misses == misses  # stepping back, the one before was prepared
    # the same profile as drawn on request
    other = create_app(DEFAULT_DATA)
    drawn = choose(CallbackClient(other, other.server.test_client()), study, il2[4], "pt-next.n_clicks", st)
    assert figure(drawn) == figure(ahead) and drawn["pt-header.children"] == ahead["pt-header.children"]
    assert back["pt-patient.value"] == il2[4]


def test_week_window_is_shaded(cb, study):
    fig = figure(render(cb, study, st=store(study, weeks=(12, 24))))
    assert any("filter window: weeks 12–24" in (a.text or "") for a in fig.layout.annotations)


# -- the patient picker ---------------------------------------------------------------------------
def test_picker_lists_the_filter_and_defaults(cb, study):
    out = choose(cb, study)
    assert len(out["pt-patient.options"]) == 30 and out["pt-patient.value"] == "LSO-088-001"
    il2 = study.adsl.loc[study.adsl.ARMCD == "IL2", "USUBJID"].tolist()
    out = choose(cb, study, st=store(study, arms=["IL2"]))
    assert [o["value"] for o in out["pt-patient.options"]] == il2 and out["pt-patient.value"] == il2[0]
    # the first patient chosen in the global filter, among every patient of the arm filter (not only the chosen)
    out = choose(cb, study, st=store(study, patients=["LSO-088-012", "LSO-088-020"]))
    assert out["pt-patient.value"] == "LSO-088-012" and len(out["pt-patient.options"]) == 30
    # choosing another patient in the filter (on this page) opens their profile
    out = cb.outputs("pt-patient", "options", {"filter-state.data": store(study, patients=["LSO-088-012", "LSO-088-020"]),
                                               "pt-patient.value": "LSO-088-003", "pt-seen.data": ["LSO-088-012"]},
                     changed=["filter-state.data"])
    assert out["pt-patient.value"] == "LSO-088-020"


def test_previous_next_step_within_the_filter(cb, study):
    il2 = study.adsl.loc[study.adsl.ARMCD == "IL2", "USUBJID"].tolist()
    st = store(study, arms=["IL2"])
    assert choose(cb, study, il2[3], "pt-next.n_clicks", st)["pt-patient.value"] == il2[4]
    assert choose(cb, study, il2[3], "pt-prev.n_clicks", st)["pt-patient.value"] == il2[2]
    last = choose(cb, study, il2[-1], "pt-next.n_clicks", st)
    assert "pt-patient.value" not in last  # the last stays
    # the buttons follow the patient shown: no previous for the first, no next for the last
    first = render(cb, study, usubjid=il2[0], st=st)
    assert (first["pt-prev.disabled"], first["pt-next.disabled"]) == (True, False)
    last = render(cb, study, usubjid=il2[-1], st=st)
    assert (last["pt-prev.disabled"], last["pt-next.disabled"]) == (False, True)
    # a patient chosen in the filter is not alone: Previous/Next step through the patients of the arm filter
    chosen = render(cb, study, usubjid="LSO-088-012", st=store(study, patients=["LSO-088-012"]))
    assert (chosen["pt-prev.disabled"], chosen["pt-next.disabled"]) == (False, False)
    assert "patient 12 of 30 in the arm filter" in json.dumps(chosen["pt-header.children"])
    # a patient outside the arm filter (a link, Back) stays, said so; the picker lists them
    out = choose(cb, study, "LSO-088-001", "pt-patient.value", st)
    assert "pt-patient.value" not in out and out["pt-patient.options"][0]["value"] == "LSO-088-001"
    assert "not in the current arm filter" in json.dumps(out["pt-message.children"])


# -- validation ---------------------------------------------------------------------------------
def test_unknown_patient_gives_a_message_not_an_error(cb, study):
    for bad in ("LSO-088-999", "<script>", 5, ["LSO-088-001"]):
        out = render(cb, study, usubjid=bad)
        assert "Unknown patient" in json.dumps(out["pt-message.children"]), bad
        assert "Unknown patient" in json.dumps(out["pt-header.children"])
    out = render(cb, study, usubjid=None)  # none chosen yet: the first of the filter
    assert out["pt-patient.value"] == "LSO-088-001"


@pytest.mark.parametrize("over", [
    {"pt-params.value": ["IGG", "DROP TABLE"]}, {"pt-params.value": "IGG"}, {"pt-params.value": [{"a": 1}]},
    {"pt-group.value": "NOPE"}, {"pt-group.value": ["B CELLS"]}, {"pt-group.value": None},
    {"filter-state.data": {"arms": ["XX"], "weeks": [0, 48], "patients": []}}, {"filter-state.data": None},
])
def test_forged_controls_give_no_update(cb, study, over):
    base = {"filter-state.data": default_store(study), "pt-patient.value": "LSO-088-003", "pt-params.value": LABS,
            "pt-group.value": "B CELLS"}
    base.update(over)
    r = cb.post(*FIG, base)
    assert r.status_code == 204


def test_forged_picker_inputs_never_500(cb, study):
    for st, cur in ((None, None), ({"arms": 1}, "x"), (default_store(study), {"a": 1}), (default_store(study), 7)):
        r = cb.post("pt-patient", "options", {"filter-state.data": st, "pt-patient.value": cur,
                                              "pt-prev.n_clicks": None, "pt-next.n_clicks": "x"},
                    changed=["pt-next.n_clicks"])
        assert r.status_code in (200, 204)


def test_too_many_panels_are_cut_with_a_note(cb, study):
    many = [c for c in study.params if c not in ("SLEDAI", "PREDDOSE")][:10]
    out = render(cb, study, params=many)
    assert "Showing the first 8 of the 10" in json.dumps(out["pt-message.children"])


# -- a study without ADAE or ADEX --------------------------------------------------------------------
def test_missing_datasets_are_left_out_with_a_note(data_copy):
    from app import create_app

    for f in ("adae.parquet", "adex.parquet", "LOCK.json"):
        (data_copy / f).unlink()
    app = create_app(data_copy)
    cbc = CallbackClient(app, app.server.test_client())
    out = cbc.outputs("page-content", "children", {"url.pathname": "/patient"})
    assert "Patient profile" in json.dumps(out["page-content.children"])
    st = cbc.app.server.config["STUDY"]
    out = cbc.outputs(*FIG, {"filter-state.data": default_store(st), "pt-patient.value": "LSO-088-002",
                             "pt-params.value": ["IGG"], "pt-group.value": "none"})
    assert "No exposure dataset (ADEX)" in out["pt-caption.children"]
    assert "No adverse-event dataset (ADAE)" in out["pt-caption.children"]
    fig = figure(out)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "IgG (g/L)" and not any(t.startswith("Adverse") or t.startswith("Dosing") for t in titles)


# -- arriving from other figures: a click sets the global patient filter ---------------------------
def _click_key(cb, graph):
    return next(k for k, spec in cb.app.callback_map.items()
                if k.startswith("f-patient.value@") and spec["inputs"][0]["id"] == graph)


def _post_click(cb, graph, click):
    key = _click_key(cb, graph)
    body = {"output": key, "outputs": {"id": "f-patient", "property": key.split(".", 1)[1]},
            "inputs": [{"id": graph, "property": "clickData", "value": click}], "state": [],
            "changedPropIds": [f"{graph}.clickData"]}
    return cb.client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("graph, good", [
    ("traj-graph", {"points": [{"x": 12, "y": 14.2, "customdata": "LSO-088-021"}]}),  # a patient line
    ("cmp-fig", {"points": [{"x": 0.2, "y": 55, "customdata": ["LSO-088-021", "Week 48", "Ld-IL2"]}]}),
])
def test_clicking_a_patient_sets_the_patient_filter(cb, graph, good):
    r = _post_click(cb, graph, good)
    assert r.status_code == 200
    assert r.get_json()["response"]["f-patient"]["value"] == ["LSO-088-021"]
    for forged in ({"points": [{"customdata": [10, 1.0, 2.0, 12]}]},  # a summary line: no patient
                   {"points": [{"customdata": "LSO-088-999"}]}, {"points": []}, {"points": "x"}, "junk", None,
                   {"points": [{"customdata": {"a": 1}}]}):
        assert _post_click(cb, graph, forged).status_code == 204, forged


def test_serology_patient_lines_carry_the_usubjid(cb, study):
    out = cb.outputs("traj-graph", "figure", {
        "filter-state.data": default_store(study), "traj-mode.value": "single", "traj-param.value": "IGG",
        "traj-params.value": [], "traj-scale.value": "raw", "traj-stat.value": "mean", "traj-opts.value": ["indiv"],
        "traj-patmode.value": "highlight"})
    fig = figure(out, "traj-graph.figure")
    ids = {c for t in fig.data if (t.name or "").endswith(": patients") for c in t.customdata if c}
    assert ids and ids <= set(study.subjects)


def test_patient_page_is_registered_last(dash_app):
    import app as app_module
    from components import patient

    assert app_module.PAGES[-1] is patient and [p.ID for p in app_module.PAGES].index("safety") == 3
    assert (patient.ID, patient.PATH, patient.TITLE) == ("patient", "/patient", "Patient profile")


def row_labels(fig) -> list[str]:
    """The category (row) labels of a figure's y axes: dosing rows, AE terms."""
    return [str(c) for ax in fig.select_yaxes() if ax.type == "category" for c in (ax.categoryarray or ())]


def test_the_left_margin_holds_the_longest_row_label():
    """The margin is set from the row labels (no automargin pass on each redraw); a label too long for the
    cap keeps automargin, so it is never cut."""
    left, fits = theme.left_margin(["Headache", "Upper respiratory tract infection"])
    # DejaVu Sans at 13 px draws this label in about 200 px: the estimate leaves room, within the cap
    assert fits and 220 <= left <= theme.MAX_LEFT_MARGIN
    assert theme.left_margin(["Headache", "X" * 5_000]) == (theme.MAX_LEFT_MARGIN, False)
    assert theme.left_margin([]) == (80, True)


def test_profile_axes_keep_automargin_only_for_labels_past_the_cap(cb, study):
    out = cb.outputs("pt-figure", "figure", {"filter-state.data": default_store(study)})
    fig = go.Figure(out["pt-figure.figure"])
    left, fits = theme.left_margin(row_labels(fig))
    assert row_labels(fig) and fits and fig.layout.margin.l == left
    assert all(ax.automargin is False for ax in fig.select_yaxes())
    assert all(ax.automargin is False for ax in fig.select_xaxes())
