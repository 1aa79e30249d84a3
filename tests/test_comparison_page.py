"""Cell subsets page: figure content, statistics and forged inputs, through Dash's real endpoint.

Expected numbers are recomputed from the parquet files with pandas/scipy, not with the app's code.
"""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import stats

from analysis.paired import format_p
from conftest import default_store

ARMS = ["Belimumab", "Ld-IL2", "Belimumab + Ld-IL2"]
FIG = ("cmp-fig", "figure")


@pytest.fixture(scope="module")
def adcell(study):
    return pd.read_parquet(study.folder / "adcell.parquet")


def inputs(study, **over):
    base = {"filter-state.data": default_store(study), "cmp-view.value": "single", "cmp-param.value": "NAIVEB",
            "cmp-visit-a.value": 0, "cmp-visit-b.value": 48, "cmp-annot.value": "within", "cmp-log.value": [],
            "cmp-scale.value": "pchg", "cmp-ref.value": "BEL"}
    base.update(over)
    return base


def render(cb, study, **over):
    out = cb.outputs(*FIG, inputs(study, **over))
    assert out is not None
    return out, go.Figure(out["cmp-fig.figure"])


def role(fig, name):
    return [t for t in fig.data if t.meta and t.meta.get("role") == name]


def values(adcell, code, arm, week):
    d = adcell[(adcell["PARAMCD"] == code) & (adcell["TRT01A"] == arm) & (adcell["AVISITN"] == week)]
    return d.set_index("USUBJID")["AVAL"].astype(float)


def table_rows(component):
    head, body = component["props"]["children"]
    header = [th["props"]["children"] for th in head["props"]["children"]["props"]["children"]]
    rows = [[td["props"]["children"] for td in tr["props"]["children"]] for tr in body["props"]["children"]]
    return header, rows


def holm(p):
    p = np.asarray(p, float)
    order = np.argsort(p)
    out, running = np.empty(len(p)), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - k) * p[i]))
        out[i] = running
    return out


# -- figure content -------------------------------------------------------------------------
def test_boxes_per_arm_and_timepoint_hold_the_file_values(cb, study, adcell):
    _, fig = render(cb, study)
    boxes = role(fig, "box")
    assert len(boxes) == 6
    for arm in ARMS:
        a = study.arm_by_label[arm]
        for week, colour in ((0, a.light), (48, a.colour)):
            box = next(b for b in boxes if b.meta["arm"] == arm and b.meta["visit"] == week)
            v = values(adcell, "NAIVEB", arm, week)
            pts = next(p for p in role(fig, "points") if p.meta["arm"] == arm and p.meta["visit"] == week)
            assert sorted(pts.y) == pytest.approx(sorted(v))
            # the box is drawn from the table's quartiles (type 7), not plotly's own
            assert [box.q1[0], box.median[0], box.q3[0]] == pytest.approx(list(np.quantile(v, [0.25, 0.5, 0.75])))
            assert box.fillcolor == colour
    assert fig.layout.yaxis.title.text == "Naive B cells (% of CD19+)"
    texts = [a.text for a in fig.layout.annotations]
    assert any("SIMULATED DATA" in t for t in texts)


def test_paired_lines_join_each_patients_two_values(cb, study, adcell):
    _, fig = render(cb, study)
    for arm in ARMS:
        line = next(t for t in role(fig, "pairs") if t.meta["arm"] == arm)
        a, b = values(adcell, "NAIVEB", arm, 0), values(adcell, "NAIVEB", arm, 48)
        both = sorted(set(a.index) & set(b.index))
        assert sorted(line.meta["subjects"]) == both
        ys = list(line.y)
        segments = [ys[i:i + 2] for i in range(0, len(ys), 3)]  # [y0, y48, None] per patient
        assert len(segments) == len(both)
        for subj, seg in zip(line.meta["subjects"], segments):
            assert seg == pytest.approx([a[subj], b[subj]])
        xs = list(line.x)
        assert all(xs[i] < xs[i + 1] for i in range(0, len(xs), 3))  # left box to right box


def test_points_hover_patient_visit_value(cb, study):
    _, fig = render(cb, study)
    pts = next(t for t in role(fig, "points") if t.meta["arm"] == "Ld-IL2" and t.meta["visit"] == 48)
    assert all(cd[0].startswith("LSO-088-") and cd[1] == "Week 48" for cd in pts.customdata)
    assert "%{customdata[0]}" in pts.hovertemplate and "%{y" in pts.hovertemplate


def test_chosen_patients_are_highlighted_and_labelled(cb, study, adcell):
    store = {"arms": [], "weeks": [0, 48], "patients": ["LSO-088-003", "LSO-088-025"]}
    out, fig = render(cb, study, **{"filter-state.data": store})
    hl = role(fig, "highlight")[0]
    assert hl.meta["subjects"] == ["LSO-088-003", "LSO-088-025"]
    assert [t for t in hl.text if t] == ["003", "025"]
    expected = []
    for subj in ("LSO-088-003", "LSO-088-025"):
        d = adcell[(adcell["PARAMCD"] == "NAIVEB") & (adcell["USUBJID"] == subj)]
        expected += [float(d.loc[d["AVISITN"] == w, "AVAL"].iloc[0]) for w in (0, 48)]
    assert list(hl.y) == pytest.approx(expected)
    # The boxes still hold every patient of the arms: the patient filter highlights, it does not subset.
    assert sum(b.meta["n"] for b in role(fig, "box")) == int(adcell[(adcell["PARAMCD"] == "NAIVEB")
                                                                 & adcell["AVISITN"].isin([0, 48])].shape[0])
    assert "Highlighted (patient filter): LSO-088-003, LSO-088-025" in "".join(out["cmp-caption.children"])


def test_arm_filter_drops_the_arm(cb, study):
    store = {"arms": ["BEL", "BELIL2"], "weeks": [0, 48], "patients": []}
    _, fig = render(cb, study, **{"filter-state.data": store})
    assert {b.meta["arm"] for b in role(fig, "box")} == {"Belimumab", "Belimumab + Ld-IL2"}


def test_log_scale(cb, study):
    _, fig = render(cb, study, **{"cmp-log.value": ["log"]})
    assert fig.layout.yaxis.type == "log"


# -- statistics on the figure and in the table ------------------------------------------------
def test_within_arm_brackets_are_exact_wilcoxon(cb, study, adcell):
    out, fig = render(cb, study)
    labels = role(fig, "bracket-label")
    assert len(labels) == 3
    for lab in labels:
        arm = lab.meta["arm"]
        a, b = values(adcell, "NAIVEB", arm, 0), values(adcell, "NAIVEB", arm, 48)
        common = a.index.intersection(b.index)
        p = stats.wilcoxon(b[common], a[common], method="exact").pvalue
        assert lab.meta["p"] == pytest.approx(p)
        assert lab.text[0] == format_p(p)
    assert "Wilcoxon signed-rank test (exact)" in out["cmp-caption.children"][0]


def test_between_arm_brackets_are_holm_adjusted_mann_whitney(cb, study, adcell):
    out, fig = render(cb, study, **{"cmp-annot.value": "between"})
    labels = role(fig, "bracket-label")
    pairs = [("Belimumab", "Ld-IL2"), ("Belimumab", "Belimumab + Ld-IL2"), ("Ld-IL2", "Belimumab + Ld-IL2")]
    wk = adcell[(adcell["PARAMCD"] == "NAIVEB") & (adcell["AVISITN"] == 48)]
    pchg = {a: wk.loc[wk["TRT01A"] == a, "PCHG"].to_numpy(float) for a in ARMS}
    raw = [stats.mannwhitneyu(pchg[b], pchg[a], method="exact").pvalue for a, b in pairs]
    adj = dict(zip(pairs, holm(raw)))
    assert {(lab.meta["a"], lab.meta["b"]) for lab in labels} == set(pairs)
    for lab in labels:
        assert lab.meta["p"] == pytest.approx(adj[(lab.meta["a"], lab.meta["b"])], rel=1e-6)
    caption = out["cmp-caption.children"][0]
    assert "Mann–Whitney U" in caption and "Holm" in caption and "% change" in caption
    kw = stats.kruskal(*pchg.values()).pvalue
    assert f"Kruskal–Wallis {format_p(kw)}" in caption


def test_no_annotations(cb, study):
    _, fig = render(cb, study, **{"cmp-annot.value": "none"})
    assert role(fig, "bracket") == []


def test_summary_table_medians_and_changes(cb, study, adcell):
    out, _ = render(cb, study)
    header, rows = table_rows(out["cmp-tables.children"][0])
    assert header[:3] == ["Arm", "n Baseline", "Baseline: median [Q1, Q3]"]
    for row in rows:
        arm = row[0]
        for week, col in ((0, 2), (48, 4)):
            v = values(adcell, "NAIVEB", arm, week)
            q1, med, q3 = v.quantile([0.25, 0.5, 0.75])
            assert row[col] == f"{med:.1f} [{q1:.1f}, {q3:.1f}]"
            assert row[col - 1] == str(len(v))
        chg = adcell[(adcell["PARAMCD"] == "NAIVEB") & (adcell["TRT01A"] == arm) & (adcell["AVISITN"] == 48)]["CHG"]
        assert row[6].startswith(f"{chg.median():.1f} [")
        assert row[5] == str(chg.notna().sum())


def test_stats_table_names_every_method(cb, study, adcell):
    out, _ = render(cb, study, **{"cmp-param.value": "TREG"})
    header, rows = table_rows(out["cmp-tables.children"][1])
    assert header == ["Method", "Comparison", "n", "Estimate [95% CI]", "p", "p (Holm)"]
    methods = [r[0] for r in rows]
    assert sum(m.startswith("Wilcoxon signed-rank") for m in methods) == 3
    assert "Kruskal–Wallis" in methods and methods.count("ANCOVA, adjusted for Baseline") == 2
    assert "ANCOVA F-test" in methods
    assert sum(m.startswith("Mann–Whitney U") for m in methods) == 3
    # ANCOVA vs an independent least-squares fit on the files.
    d = adcell[adcell["PARAMCD"] == "TREG"]
    w = d.pivot_table(index=["USUBJID", "TRT01A"], columns="AVISITN", values="AVAL").reset_index().dropna(subset=[0.0, 48.0])
    X = np.column_stack([np.ones(len(w)), w[0.0], w["TRT01A"] == "Ld-IL2", w["TRT01A"] == "Belimumab + Ld-IL2"]).astype(float)
    beta, *_ = np.linalg.lstsq(X, w[48.0].to_numpy(float), rcond=None)
    combo = next(r for r in rows if r[0].startswith("ANCOVA, adj") and r[1].startswith("Belimumab + Ld-IL2 vs Belimumab"))
    assert combo[3].startswith(f"{beta[3]:+.2f} [")


def test_abstract_figure2_pattern_on_lso088(cb, study):
    """Done-when: the pattern of Figure 2, read off the grid table (p-values computed by the app)."""
    out, fig = render(cb, study, **{"cmp-view.value": "grid", "cmp-annot.value": "between"})
    header, rows = table_rows(out["cmp-tables.children"][0])
    t = {r[0]: dict(zip(header, r)) for r in rows}

    def p(text):
        return 0.0 if text == "p < 0.001" else float(text.split("= ")[1])

    def change_and_p(cell):
        val, rest = cell.split(" (")
        return float(val), p(rest.rstrip(")"))

    for subset in ("Naive B cells", "Plasma cells/plasmablasts"):
        assert p(t[subset]["BELIL2 vs BEL"]) < 0.05 and p(t[subset]["BELIL2 vs IL2"]) < 0.05
        combo = change_and_p(t[subset]["Belimumab + Ld-IL2"])[0]
        assert combo < change_and_p(t[subset]["Belimumab"])[0] and combo < change_and_p(t[subset]["Ld-IL2"])[0]
    for subset in ("Memory B cells", "Regulatory B cells"):
        assert p(t[subset]["BELIL2 vs BEL"]) < 0.05
        assert change_and_p(t[subset]["Belimumab + Ld-IL2"])[0] > change_and_p(t[subset]["Belimumab"])[0]
    for subset in ("IL-2+ CD4+ T cells", "IL-17A+ CD4+ T cells"):
        assert change_and_p(t[subset]["Belimumab + Ld-IL2"])[1] > 0.05
    assert change_and_p(t["Regulatory T cells"]["Belimumab + Ld-IL2"])[0] > 0
    assert change_and_p(t["Follicular helper T cells"]["Belimumab + Ld-IL2"])[0] < 0


def test_grid_has_eight_panels_in_figure2_order(cb, study):
    _, fig = render(cb, study, **{"cmp-view.value": "grid"})
    assert len(role(fig, "box")) == 8 * 6
    titles = [a.text for a in fig.layout.annotations if a.text and a.text.startswith("<b>")]
    assert [t.split("</b>")[0][3:] for t in titles] == list("ABCDEFGH")
    assert "Naive B cells" in titles[0] and "Follicular helper T cells" in titles[7]


# -- timepoint pickers ------------------------------------------------------------------------
def test_a_stale_timepoint_follows_the_window_and_a_kept_one_stays(cb, study):
    store = {"arms": [], "weeks": [12, 36], "patients": []}
    out = cb.outputs(*FIG, inputs(study, **{"filter-state.data": store, "cmp-visit-a.value": 16}),
                     changed=["filter-state.data"])
    # 16 is in the window: kept (not sent again); 48 is not: the window's last visit
    assert "cmp-visit-a.value" not in out and out["cmp-visit-b.value"] == 36
    assert "cmp-message.is_open" not in out  # none shown, none to show: nothing sent


def test_visit_pickers_follow_the_global_window(cb, study):
    store = {"arms": [], "weeks": [12, 36], "patients": []}
    out = cb.outputs("cmp-visit-a", "options", inputs(study, **{"filter-state.data": store}),
                     state={"cmp-visit-a.value": 0, "cmp-visit-b.value": 48}, changed=["filter-state.data"])
    assert [o["value"] for o in out["cmp-visit-a.options"]] == [12, 16, 20, 24, 28, 32, 36]
    assert (out["cmp-visit-a.value"], out["cmp-visit-b.value"]) == (12, 36)
    # Changing the subset keeps a still-offered choice.
    out = cb.outputs("cmp-visit-a", "options", inputs(study, **{"filter-state.data": store, "cmp-param.value": "TFH"}),
                     state={"cmp-visit-a.value": 16, "cmp-visit-b.value": 24}, changed=["cmp-param.value"])
    assert "cmp-visit-a.value" not in out and "cmp-visit-b.value" not in out  # kept as they are


def test_other_timepoints_and_reversed_order(cb, study, adcell):
    _, fig = render(cb, study, **{"cmp-visit-a.value": 24, "cmp-visit-b.value": 12})
    box = next(b for b in role(fig, "box") if b.meta["arm"] == "Belimumab" and b.meta["visit"] == 12)
    assert box.median[0] == pytest.approx(np.median(values(adcell, "NAIVEB", "Belimumab", 12)))
    assert list(fig.layout.xaxis.ticktext[:2]) == ["Week 12", "Week 24"]


def test_pickers_put_a_reversed_pair_in_time_order(cb, study):
    """Picking the later timepoint as timepoint 1: the page compares in time order, and the pickers (so the
    link) say the same order instead of keeping the one the page did not use."""
    out = cb.outputs(*FIG, inputs(study, **{"cmp-visit-a.value": 36, "cmp-visit-b.value": 8}),
                     changed=["cmp-visit-a.value"])
    assert (out["cmp-visit-a.value"], out["cmp-visit-b.value"]) == (8, 36)
    fig = go.Figure(out["cmp-fig.figure"])
    assert list(fig.layout.xaxis.ticktext[:2]) == ["Week 8", "Week 36"]
    out = cb.outputs(*FIG, inputs(study, **{"cmp-visit-a.value": 8, "cmp-visit-b.value": 36}),
                     changed=["cmp-visit-b.value"])
    assert "cmp-visit-a.value" not in out  # already in order: the pickers are left alone


# -- CSV --------------------------------------------------------------------------------------
def test_csv_has_provenance_and_numbers(cb, study, adcell):
    out = cb.outputs("cmp-csv", "data", {"cmp-csv-btn.n_clicks": 1},
                     state={k: v for k, v in inputs(study).items() if k not in ("cmp-annot.value", "cmp-log.value")})
    data = out["cmp-csv.data"]
    text = data["content"]
    assert text.startswith("# SIMULATED DATA — not the trial's results")
    assert "# Study: LSO-088" in text and "fingerprint" in text and "Wilcoxon signed-rank" in text
    assert data["filename"] == "LSO-088-comparison-NAIVEB-wk0-wk48.csv"
    from io import StringIO
    df = pd.read_csv(StringIO(text), comment="#")
    summ = df[df["ROW"] == "summary + within-arm"].set_index("ARM")
    v = values(adcell, "NAIVEB", "Ld-IL2", 48)
    assert summ.loc["Ld-IL2", "MEDIAN2"] == pytest.approx(v.median())
    assert int(summ.loc["Ld-IL2", "N2"]) == len(v)
    assert (df["ROW"] == "ANCOVA").sum() == 2


# -- forged and invalid inputs ----------------------------------------------------------------
@pytest.mark.parametrize("over", [
    {"cmp-param.value": "NOPE"},
    {"cmp-param.value": "group:B CELLS"},
    {"cmp-param.value": ["NAIVEB"]},
    {"cmp-view.value": "evil"},
    {"cmp-annot.value": "<script>"},
    {"cmp-log.value": "log"},
    {"cmp-log.value": ["log", "log"]},
    {"cmp-scale.value": "AVAL"},
    {"cmp-ref.value": "PLACEBO"},
    {"cmp-visit-a.value": "0"},
    {"cmp-visit-b.value": [48]},
    {"cmp-visit-b.value": True},
    {"filter-state.data": {"arms": ["NOPE"]}},
    {"filter-state.data": [1, 2]},
])
def test_forged_inputs_give_no_update(cb, study, over):
    r = cb.post(*FIG, inputs(study, **over))
    assert r.status_code == 204


@pytest.mark.parametrize("over, text", [
    ({"cmp-visit-a.value": 5}, "no measurement"),
    ({"cmp-visit-a.value": 48}, "two different visits"),
    ({"cmp-visit-a.value": None}, "Choose two timepoints"),
    ({"filter-state.data": {"arms": [], "weeks": [12, 36], "patients": []}}, "outside the timepoint window"),
])
def test_bad_timepoints_give_a_message_not_a_figure(cb, study, over, text):
    # as picked (a filter change instead moves a stale timepoint to one the window offers)
    out = cb.outputs(*FIG, inputs(study, **over), changed=["cmp-visit-a.value"])
    assert out["cmp-message.is_open"] is True and text in out["cmp-message.children"]
    assert out["cmp-tables.children"] is None
    assert not role(go.Figure(out["cmp-fig.figure"]), "box")


def test_forged_inputs_to_the_other_callbacks(cb, study):
    assert cb.post("cmp-visit-a", "options", inputs(study, **{"cmp-param.value": "DROP"})).status_code == 204
    assert cb.post("cmp-fig", "figure", inputs(study, **{"cmp-view.value": {"x": 1}})).status_code == 204
    assert cb.post("cmp-csv", "data", {"cmp-csv-btn.n_clicks": 1},
                   state={"filter-state.data": default_store(study), "cmp-view.value": "single",
                          "cmp-param.value": "NAIVEB", "cmp-visit-a.value": 48, "cmp-visit-b.value": 48,
                          "cmp-scale.value": "pchg", "cmp-ref.value": "BEL"}).status_code == 204


def test_a_click_sends_the_pickers_and_the_message_only_when_they_change(cb, study):
    """Each output sent is applied and re-rendered in the browser: the timepoint lists, the timepoints and the
    message box go out only when they differ from what the browser holds (its State and inputs)."""
    shown = cb.outputs(*FIG, inputs(study))  # the page as it opens
    held = {k: shown.get(k, cb.defaults().get(k)) for k in ("cmp-visit-a.options", "cmp-visit-b.options")}
    held["cmp-message.is_open"] = False
    assert not {"cmp-visit-a.options", "cmp-visit-a.value", "cmp-visit-b.value", "cmp-message.is_open"} & set(shown)
    # an arm fewer: same visits, no message: the figure and tables only
    out = cb.outputs(*FIG, inputs(study, **{"filter-state.data": {"arms": ["BEL", "IL2"], "weeks": [0, 48],
                                                                  "patients": []}}), state=held)
    assert {"cmp-fig.figure", "cmp-tables.children"} <= set(out)
    assert not {"cmp-visit-a.options", "cmp-visit-b.options", "cmp-visit-a.value", "cmp-message.is_open"} & set(out)
    # a narrower window: the lists follow it
    out = cb.outputs(*FIG, inputs(study, **{"filter-state.data": {"arms": [], "weeks": [12, 36], "patients": []}}),
                     state=held)
    assert [o["value"] for o in out["cmp-visit-a.options"]] == [12, 16, 20, 24, 28, 32, 36]
    # a message shown, then a valid view: it is closed
    out = cb.outputs(*FIG, inputs(study), state={**held, "cmp-message.is_open": True})
    assert out["cmp-message.is_open"] is False and out["cmp-message.children"] is None
