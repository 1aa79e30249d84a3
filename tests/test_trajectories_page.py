"""Serology & activity page through Dash's real callback endpoint: figure content, tables,
statistics against scipy, CSV, and forged inputs (204 or a message, never a 500)."""

import base64
import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from conftest import default_store

ARMS = ["Belimumab", "Ld-IL2", "Belimumab + Ld-IL2"]
COMBO = "Belimumab + Ld-IL2"


@pytest.fixture(scope="module")
def adlb(study):
    return pd.read_parquet(study.folder / "adlb.parquet")


def controls(study, **kw):
    c = {"filter-state.data": default_store(study), "traj-mode.value": "single", "traj-param.value": "IGG",
         "traj-params.value": ["IGG", "C3", "DSDNA", "ANUA"], "traj-scale.value": "raw", "traj-stat.value": "mean",
         "traj-opts.value": [], "traj-patmode.value": "highlight", "traj-visit.value": "end",
         "traj-ref.value": "BEL", "traj-adjust.value": "holm", "traj-cov.value": "UN", "traj-ddfm.value": "kr"}
    c.update({f"traj-{k}.value" if not k.startswith("filter") else "filter-state.data": v for k, v in kw.items()})
    return c


def decode(obj):
    """Plotly 7 sends numeric arrays as {"dtype", "bdata"[, "shape"]}: turn them back into numpy arrays."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            if "shape" in obj:
                arr = arr.reshape([int(x) for x in str(obj["shape"]).split(",")])
            return arr
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


def figure(cb, inputs):
    out = cb.outputs("traj-graph", "figure", inputs)
    return None if out is None else (go.Figure(decode(out["traj-graph.figure"])), out)


def summary_traces(fig):
    return [t for t in fig.data if t.name in ARMS]


def text_of(component) -> str:
    """All text inside a rendered Dash component tree (JSON), space separated."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, list):
        return " ".join(text_of(c) for c in component)
    if isinstance(component, dict):
        return text_of(component.get("props", {}).get("children"))
    return ""


def find(component, cid):
    if isinstance(component, list):
        for c in component:
            r = find(c, cid)
            if r is not None:
                return r
    elif isinstance(component, dict):
        props = component.get("props", {})
        if props.get("id") == cid:
            return component
        return find(props.get("children"), cid)
    return None


def rows_of(table):
    """Body rows of a rendered table as lists of cell texts."""
    body = table["props"]["children"][1]
    return [[text_of(td) for td in (tr["props"]["children"] if isinstance(tr["props"]["children"], list)
                                    else [tr["props"]["children"]])]
            for tr in body["props"]["children"]]


def values(adlb, code, arm, week, col="AVAL"):
    d = adlb[(adlb["PARAMCD"] == code) & (adlb["TRT01A"] == arm) & (adlb["AVISITN"] == week)]
    return d[col].dropna()


# -- the figure --------------------------------------------------------------------------------
def test_default_one_line_per_arm_in_arm_colour(cb, study):
    fig, _ = figure(cb, controls(study))
    traces = summary_traces(fig)
    assert [t.name for t in traces] == ARMS
    assert [t.line.color for t in traces] == [a.colour for a in study.arms]
    assert all(len(t.x) == 13 for t in traces)
    assert "IgG (g/L)" in fig.layout.yaxis.title.text
    assert fig.layout.xaxis2.title.text == "Study week"
    assert any("SIMULATED DATA" in a.text for a in fig.layout.annotations)
    # the normal range band 7-16 g/L on raw values
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 1 and (bands[0].y0, bands[0].y1) == (7.0, 16.0)


def test_mean_and_ci_width_equal_independent_t_computation(cb, study, adlb):
    fig, _ = figure(cb, controls(study))
    for t in summary_traces(fig):
        weeks = np.asarray(t.customdata)[:, 3]
        for j, week in enumerate(weeks):
            v = values(adlb, "IGG", t.name, week)
            lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
            assert t.y[j] == pytest.approx(v.mean())
            assert t.error_y.array[j] + t.error_y.arrayminus[j] == pytest.approx(hi - lo)
            assert t.customdata[j][0] == len(v)  # n in the hover


def test_n_per_visit_row_shows_dropouts(cb, study, adlb):
    fig, _ = figure(cb, controls(study))
    n_rows = {t.name: t for t in fig.data if t.name and t.name.startswith("n ")}
    assert set(n_rows) == {f"n {a}" for a in ARMS}
    for arm in ARMS:
        t = n_rows[f"n {arm}"]
        expected = [str(len(values(adlb, "IGG", arm, w))) for w in t.x]
        assert list(t.text) == expected
    assert n_rows["n Belimumab"].text[-1] == "9"  # the week-36 drop-out


def test_change_scale_and_median(cb, study, adlb):
    fig, _ = figure(cb, controls(study, scale="chg"))
    t = next(x for x in summary_traces(fig) if x.name == COMBO)
    assert t.y[0] == 0  # baseline
    assert t.y[-1] == pytest.approx(values(adlb, "IGG", COMBO, 48, "CHG").mean())
    assert not [s for s in fig.layout.shapes if s.type == "rect"]  # no normal band on changes
    assert fig.layout.yaxis.title.text.startswith("Change in IgG")
    fig, _ = figure(cb, controls(study, scale="pchg", stat="median"))
    t = next(x for x in summary_traces(fig) if x.name == COMBO)
    p = values(adlb, "IGG", COMBO, 48, "PCHG")
    assert t.y[-1] == pytest.approx(p.median())
    assert t.y[-1] + t.error_y.array[-1] == pytest.approx(p.quantile(0.75))
    assert t.y[-1] - t.error_y.arrayminus[-1] == pytest.approx(p.quantile(0.25))


def test_log_axis_shows_geometric_means(cb, study, adlb):
    fig, _ = figure(cb, controls(study, param="DSDNA", opts=["log"]))
    assert fig.layout.yaxis.type == "log"
    t = next(x for x in summary_traces(fig) if x.name == "Ld-IL2")
    assert t.y[0] == pytest.approx(stats.gmean(values(adlb, "DSDNA", "Ld-IL2", 0)))
    assert all(str(v).rstrip("0").rstrip(".").isdigit() for v in fig.layout.yaxis.ticktext)


def test_individual_and_highlighted_patients(cb, study, adlb):
    store = {"arms": [], "weeks": [0, 48], "patients": ["LSO-088-021", "LSO-088-025"]}
    fig, _ = figure(cb, controls(study, opts=["indiv"], **{"filter-state.data": store}))
    hl = [t for t in fig.data if t.name and t.name.startswith("LSO-088-0")]
    assert [t.name.split()[0] for t in hl] == ["LSO-088-021", "LSO-088-025"]
    for t in hl:
        sid = t.name.split()[0]
        d = adlb[(adlb["PARAMCD"] == "IGG") & (adlb["USUBJID"] == sid)].sort_values("AVISITN")
        assert list(t.y) == pytest.approx(list(d["AVAL"]))
        assert t.text[-1] == sid[-3:]  # labelled at its last point
        assert "Week" in t.hovertemplate and "g/L" in t.hovertemplate
    faded = [t for t in fig.data if t.name and t.name.endswith(": patients")]
    assert len(faded) == 3
    ids = {i for t in faded for i in t.customdata if i}
    assert len(ids) == 28 and "LSO-088-021" not in ids  # the highlighted two are drawn on top instead


def test_small_multiples(cb, study):
    fig, _ = figure(cb, controls(study, mode="multi"))
    titles = [a.text for a in fig.layout.annotations if a.text and " · " in a.text and "SIMULATED" not in a.text]
    assert titles == ["A · IgG (g/L)", "B · Complement C3 (g/L)", "C · Anti-dsDNA antibody (IU/mL)",
                      "D · Anti-nucleosome antibody (RU/mL)"]
    assert len(summary_traces(fig)) == 12
    assert sum(t.showlegend is not False for t in summary_traces(fig)) == 3  # one legend entry per arm


def test_filters_apply(cb, study):
    store = {"arms": ["BELIL2"], "weeks": [12, 36], "patients": []}
    fig, _ = figure(cb, controls(study, **{"filter-state.data": store}))
    traces = summary_traces(fig)
    assert [t.name for t in traces] == [COMBO]
    assert sorted(np.asarray(traces[0].customdata)[:, 3]) == [12, 16, 20, 24, 28, 32, 36]


def test_summary_table(cb, study, adlb):
    _, out = figure(cb, controls(study))
    table = find(out["traj-table.children"], "traj-table-IGG")
    rows = rows_of(table)
    assert len(rows) == 13 and rows[0][0] == "Baseline"
    v = values(adlb, "IGG", COMBO, 48)
    q1, med, q3 = v.quantile([0.25, 0.5, 0.75])
    assert rows[-1][0] == "Week 48"
    assert rows[-1][7:10] == [str(len(v)), f"{v.mean():.1f} ({v.std():.1f})", f"{med:.1f} [{q1:.1f}, {q3:.1f}]"]


def test_messages_for_empty_and_outside_patients(cb, study):
    _, out = figure(cb, controls(study, mode="multi", params=[]))
    assert "at least one parameter" in text_of(out["traj-message.children"])
    store = {"arms": ["BEL"], "weeks": [0, 48], "patients": ["LSO-088-021"]}
    _, out = figure(cb, controls(study, **{"filter-state.data": store}))
    assert "outside the arm filter" in text_of(out["traj-message.children"])


def test_control_visibility_and_log_only_on_raw(cb):
    out = cb.outputs("traj-opts", "options", {"traj-mode.value": "multi", "traj-scale.value": "chg"})
    assert out["traj-param-wrap.style"] == {"display": "none"}
    assert out["traj-adjust-wrap.style"] == {"display": "block"}
    log = next(o for o in out["traj-opts.options"] if o["value"] == "log")
    assert log["disabled"] is True


# -- statistics --------------------------------------------------------------------------------
def stats_out(cb, inputs):
    out = cb.outputs("traj-stats", "children", inputs)
    return None if out is None else out["traj-stats.children"]


def test_within_arm_paired_tests_match_scipy(cb, study, adlb):
    panel = stats_out(cb, controls(study))
    rows = rows_of(find(panel, "traj-within"))
    assert rows[0][0].startswith("IgG (g/L) · baseline vs week 48")
    combo = next(r for r in rows if r[0] == COMBO)
    a = adlb[(adlb["PARAMCD"] == "IGG") & (adlb["TRT01A"] == COMBO)].pivot(index="USUBJID", columns="AVISITN",
                                                                           values="AVAL")[[0.0, 48.0]].dropna()
    w = stats.wilcoxon(a[48.0], a[0.0], method="exact")
    t = stats.ttest_rel(a[48.0], a[0.0])
    assert combo[1] == str(len(a)) == "10"
    assert f"p = {w.pvalue:.3f}" in combo[3] and "Wilcoxon signed-rank, exact" in combo[3]
    assert ("p < 0.001" if t.pvalue < 0.001 else f"p = {t.pvalue:.3f}") in combo[5]
    assert "Paired t-test" in combo[5]
    hl = np.median([(x + y) / 2 for i, x in enumerate(a[48.0] - a[0.0]) for y in list(a[48.0] - a[0.0])[i:]])
    assert combo[2].startswith(f"{hl:.1f} [")


def test_done_when_combination_arm_findings_with_p_values(cb, study):
    """IgG, anti-dsDNA, AnuA fall and C3 rises by week 48 in the combination arm, each with p < 0.05."""
    panel = stats_out(cb, controls(study, mode="multi", adjust="none"))
    rows = rows_of(find(panel, "traj-within"))
    current, found = None, {}
    for r in rows:
        if len(r) == 1:
            current = r[0].split(" · ")[0]
        elif r[0] == COMBO:
            found[current] = r
    expect = {"IgG (g/L)": -1, "Complement C3 (g/L)": 1, "Anti-dsDNA antibody (IU/mL)": -1,
              "Anti-nucleosome antibody (RU/mL)": -1}
    for name, sign in expect.items():
        r = found[name]
        est = float(r[2].split(" [")[0])
        p = r[3].split()
        assert np.sign(est) == sign, (name, r)
        assert p[1] == "<" or float(p[2]) < 0.05, (name, r)
    mmrm = rows_of(find(panel, "traj-mmrm"))
    combo = [r for r in mmrm if r[0] == f"{COMBO} − Belimumab"]
    assert len(combo) == 4 and all("t-test, df = " in r[3] for r in combo)
    # the structure used and the df method next to every estimate (unstructured converges for all four)
    assert all(r[4].startswith("unstructured (UN)") and "Kenward–Roger df" in r[4] for r in combo)
    text = text_of(panel)
    assert "CHG ~ BASE + ARM + VISIT + ARM × VISIT + BASE × VISIT" in text and "REML" in text


def test_mmrm_panel_matches_analysis_layer(cb, study):
    from analysis import mmrm as MM
    from analysis import trajectory as T

    panel = stats_out(cb, controls(study, ref="IL2"))
    rows = rows_of(find(panel, "traj-mmrm"))
    assert rows[0][0] == "IgG (g/L) · week 48 · change from baseline"
    res = MM.fit_mmrm(T.select(study.measurements, "IGG", ARMS), "Ld-IL2", 48.0, ARMS)
    for c in res.contrasts:
        r = next(r for r in rows if r[0] == f"{c.arm} − Ld-IL2")
        assert r[2].startswith(f"{c.estimate:.2f} [{c.ci_low:.2f}, {c.ci_high:.2f}]")  # one decimal more than data
        assert (f"p = {c.p_value:.3f}" if c.p_value >= 0.001 else "p < 0.001") in r[3]
    assert "reference arm Ld-IL2" in text_of(panel)


def test_holm_adjustment_across_parameters(cb, study, adlb):
    panel = stats_out(cb, controls(study, mode="multi", adjust="holm"))
    rows = rows_of(find(panel, "traj-within"))
    combo = [r for r in rows if r[0] == COMBO]
    raw = []
    for code in ("IGG", "C3", "DSDNA", "ANUA"):
        a = adlb[(adlb["PARAMCD"] == code) & (adlb["TRT01A"] == COMBO)].pivot(
            index="USUBJID", columns="AVISITN", values="AVAL")[[0.0, 48.0]].dropna()
        d = a[48.0] - a[0.0]
        exact = len(np.unique(np.abs(d))) == len(d) and (d != 0).all()
        raw.append(stats.wilcoxon(a[48.0], a[0.0], method="exact" if exact else "approx").pvalue)
    adj = multipletests(raw, method="holm")[1]
    for r, p in zip(combo, adj):
        assert f"p = {p:.3f} Holm" in r[3] and "raw" in r[3]
    assert "adjusted by Holm across the 4 parameters" in text_of(panel)


def test_comparison_visit_follows_window_and_choice(cb, study):
    store = {"arms": [], "weeks": [0, 24], "patients": []}
    panel = stats_out(cb, controls(study, **{"filter-state.data": store}))
    assert rows_of(find(panel, "traj-within"))[0][0].endswith("week 24")
    panel = stats_out(cb, controls(study, param="SLEDAI", visit=44))
    assert rows_of(find(panel, "traj-within"))[0][0].endswith("week 36")
    assert "compared at week 36" in text_of(panel)


def test_small_samples_say_so(cb, study):
    store = {"arms": [], "weeks": [0, 48], "patients": ["LSO-088-021", "LSO-088-025"]}
    panel = stats_out(cb, controls(study, patmode="restrict", **{"filter-state.data": store}))
    text = text_of(panel)
    assert "too few" in text and "p =" not in text


def test_reference_arm_outside_filter(cb, study):
    store = {"arms": ["IL2", "BELIL2"], "weeks": [0, 48], "patients": []}
    text = text_of(stats_out(cb, controls(study, **{"filter-state.data": store})))
    assert "not in the arm filter" in text and "Not estimated" in text


# -- CSV -----------------------------------------------------------------------------------------
def test_csv_download_has_provenance_and_numbers(cb, study, adlb):
    inputs = controls(study, mode="multi")
    out = cb.outputs("traj-download", "data", {"traj-csv-btn.n_clicks": 1},
                     state={k: v for k, v in inputs.items()})
    data = out["traj-download.data"]
    assert data["filename"].endswith(".csv")
    text = data["content"]
    head = [line for line in text.splitlines() if line.startswith("#")]
    assert head[0] == "# SIMULATED DATA — not the trial's results"
    assert any(study.lock.short in line for line in head) and any("Filters:" in line for line in head)
    assert any("t-based 95% CI" in line for line in head)
    df = pd.read_csv(io.StringIO(text), comment="#")
    assert set(df["PARAMCD"]) == {"IGG", "C3", "DSDNA", "ANUA"}
    row = df[(df["PARAMCD"] == "C3") & (df["Arm"] == COMBO) & (df["Week"] == 48)].iloc[0]
    v = values(adlb, "C3", COMBO, 48)
    assert row["n"] == len(v) and row["Mean"] == pytest.approx(v.mean())


# -- forged inputs -------------------------------------------------------------------------------
FORGED = [
    {"param": "NOPE"},
    {"param": "NAIVEB"},  # a real parameter, but not one this page offers
    {"param": "__group__SEROLOGY"},
    {"param": ["IGG"]},
    {"params": "IGG"},
    {"params": ["IGG", "DROP TABLE"]},
    {"params": {"a": 1}},
    {"scale": "log"},
    {"stat": None},
    {"opts": "log"},
    {"opts": ["log", "x"]},
    {"mode": "grid"},
    {"mode": ["single"]},
    {"scale": {"raw": 1}},
    {"patmode": 1},
    {"filter-state.data": {"arms": ["PLACEBO"], "weeks": [0, 48], "patients": []}},
    {"filter-state.data": {"arms": [], "weeks": [48, 0], "patients": []}},
    {"filter-state.data": {"arms": [], "weeks": [0, 48], "patients": ["LSO-999-001"]}},
    {"filter-state.data": [1, 2]},
    {"filter-state.data": None},
]


@pytest.mark.parametrize("forged", FORGED, ids=lambda f: repr(f)[:40])
def test_forged_figure_inputs_give_204(cb, study, forged):
    r = cb.post("traj-graph", "figure", controls(study, **forged))
    assert r.status_code == 204


@pytest.mark.parametrize("forged", [f for f in FORGED if "stat" not in f] + [{"ref": "PLACEBO"}, {"ref": ["BEL"]}, {"visit": 5},
                                             {"visit": "48"}, {"visit": True}, {"adjust": "bonferroni"},
                                             {"adjust": ["holm"]}, {"visit": float("nan")},
                                             {"cov": "VC"}, {"cov": ["UN"]}, {"cov": None}, {"cov": {"UN": 1}},
                                             {"cov": "un"}, {"ddfm": "containment"}, {"ddfm": ["kr"]},
                                             {"ddfm": None}, {"ddfm": 1}],
                         ids=lambda f: repr(f)[:40])
def test_forged_stats_inputs_give_204(cb, study, forged):
    r = cb.post("traj-stats", "children", controls(study, **forged))
    assert r.status_code == 204


def test_forged_download_and_controls_give_204(cb, study):
    inputs = controls(study, param="NOPE")
    assert cb.post("traj-download", "data", {"traj-csv-btn.n_clicks": 1}, state=inputs).status_code == 204
    ok = controls(study)
    assert cb.post("traj-download", "data", {"traj-csv-btn.n_clicks": "1"}, state=ok).status_code == 204
    assert cb.post("traj-opts", "options", {"traj-mode.value": "x", "traj-scale.value": "raw"}).status_code == 204
    assert cb.post("traj-opts", "options", {"traj-mode.value": ["single"], "traj-scale.value": {}}).status_code == 204


def test_too_many_parameters_are_capped_with_a_message(cb, study):
    from components.trajectories import allowed_codes

    codes = allowed_codes(study)
    fig, out = figure(cb, controls(study, mode="multi", params=codes))
    assert len(summary_traces(fig)) == 3 * 6
    assert f"first 6 of the {len(codes)}" in text_of(out["traj-message.children"])


# -- parameters offered ----------------------------------------------------------------------------
def test_picker_groups_serology_then_clinical_activity(study):
    from components.trajectories import param_options

    opts = param_options(study)
    headers = [o["label"] for o in opts if o.get("disabled")]
    assert headers == ["— Serology —", "— Clinical activity —"]
    codes = [o["value"] for o in opts if not o.get("disabled")]
    assert codes == ["IGG", "DSDNA", "ANUA", "C3", "C4", "SLEDAI", "PGA", "UPROT", "PREDDOSE"]


def test_other_studies_offer_every_parameter_by_category():
    from types import SimpleNamespace

    from components.trajectories import page_params, param_unit
    from data.study import ParamInfo

    def p(code, ds, cat, unit="g/L"):
        return ParamInfo(code, f"{code} ({unit})", ds, cat, unit, None, None, (0.0, 4.0))

    params = {"ALT": p("ALT", "ADLB", "CHEMISTRY"), "HGB": p("HGB", "ADLB", "HEMATOLOGY"),
              "AST": p("AST", "ADLB", "CHEMISTRY"), "CD4": p("CD4", "ADCELL", "T CELLS")}
    other = SimpleNamespace(params=params, params_for=lambda _page: dict(params), page_sources={})
    assert [x.code for x in page_params(other)] == ["ALT", "AST", "HGB", "CD4"]  # by category, catalogue order
    assert param_unit(p("PGA", "ADLB", "X", "0-3")) == "" and param_unit(p("IGG", "ADLB", "X")) == "g/L"


def test_score_range_is_not_shown_as_a_unit(cb, study):
    fig, _ = figure(cb, controls(study, param="PGA", scale="chg"))
    # (two lines when long: the title stays beside its panel)
    assert fig.layout.yaxis.title.text.replace("<br>", " ") == "Change in Physician global assessment (0-3)"
    assert "0-3<" not in summary_traces(fig)[0].hovertemplate


# -- the MMRM controls in a link ------------------------------------------------------------------------
def test_covariance_and_df_method_come_from_a_link_and_forged_ones_are_dropped(cb, study):
    from test_viewstate import routed

    from components.trajectories import URL_STATE

    assert URL_STATE["cov"] == ("traj-cov", "value") and URL_STATE["ddfm"] == ("traj-ddfm", "value")
    page = routed(cb, "/trajectories", "?cov=TOEPH&ddfm=satterthwaite")
    assert page["traj-cov"]["value"] == "TOEPH" and page["traj-ddfm"]["value"] == "satterthwaite"
    page = routed(cb, "/trajectories", "?cov=VC&ddfm=containment")
    assert page["traj-cov"]["value"] == "UN" and page["traj-ddfm"]["value"] == "kr"  # not offered: the defaults


def test_chosen_structure_and_df_method_are_used_and_said(cb, study):
    from analysis import mmrm as MM
    from analysis import trajectory as T

    panel = stats_out(cb, controls(study, param="SLEDAI", cov="AR1", ddfm="satterthwaite"))
    rows = [r for r in rows_of(find(panel, "traj-mmrm")) if len(r) > 2]
    res = MM.fit_mmrm(T.select(study.measurements, "SLEDAI", ARMS), "Belimumab", 48.0, ARMS, structure="AR1",
                      df_method="satterthwaite")
    for c in res.contrasts:
        r = next(r for r in rows if r[0] == f"{c.arm} − Belimumab")
        assert r[2].startswith(f"{c.estimate:.1f} [{c.ci_low:.1f}, {c.ci_high:.1f}]")  # integer scores: 1 decimal
        assert f"df = {c.df:.1f}" in r[3] and r[4].startswith("AR(1) ") and "Satterthwaite df" in r[4]
    assert "TYPE=AR(1) DDFM=SAT" in text_of(panel)


def test_a_structure_that_fails_falls_back_and_the_page_says_which(cb, study, monkeypatch):
    from analysis import mmrm as MM

    orig = MM.fit

    def no_unstructured(pat, C, structure, *a, **k):
        if structure == "UN":
            return MM.Fit(structure="UN", converged=False, message="no convergence in 60 iterations", visits=(),
                          names=())
        return orig(pat, C, structure, *a, **k)

    monkeypatch.setattr(MM, "fit", no_unstructured)
    panel = stats_out(cb, controls(study, param="C4", ddfm="kr-expected"))  # a view no other test has cached
    text = text_of(panel)
    assert ("Covariance: unstructured did not converge (no convergence in 60 iterations); heterogeneous Toeplitz "
            "used.") in text
    rows = [r for r in rows_of(find(panel, "traj-mmrm")) if len(r) > 4]
    assert rows and all(r[4].startswith("heterogeneous Toeplitz (TOEPH)") for r in rows)


def test_default_mmrm_numbers_are_the_r_verified_ones(cb, study):
    """The page's default MMRM (unstructured, LS-mean difference at week 48) is nlme::gls's fit of the same
    rows (tests/r/ref_mmrm_gls.csv, made by tests/r/reference.R): estimates and model-based SEs to 1e-4."""
    from pathlib import Path

    from analysis import trajectory as T
    from components.trajectories import param_stats

    ref = pd.read_csv(Path(__file__).parent / "r" / "ref_mmrm_gls.csv")
    panel_rows = {}
    for code in ("IGG", "C3", "DSDNA", "ANUA", "SLEDAI"):
        res = param_stats(study, code, ARMS, tuple(study.adsl["USUBJID"]), (0.0, 48.0), None, "Belimumab", False,
                          "CHG")["mmrm"]
        assert res.structure == "UN" and not res.fallback_note, (code, res.fallback_note)
        r = ref[(ref["DATASET"] == f"lso088-{code}") & (ref["STRUCTURE"] == "UN") & (ref["AVISITN"] == 48.0)]
        for c in res.contrasts:
            rr = r[r["ARM"] == c.arm].iloc[0]
            assert c.estimate == pytest.approx(rr["ESTIMATE"], rel=1e-4), (code, c.arm)
            assert c.se_model == pytest.approx(rr["SE"], rel=1e-4), (code, c.arm)
        panel_rows[code] = res
    # and those are the numbers on the page (IgG, the default view)
    rows = rows_of(find(stats_out(cb, controls(study)), "traj-mmrm"))
    combo = next(r for r in rows if r[0] == f"{COMBO} − Belimumab")
    c = next(c for c in panel_rows["IGG"].contrasts if c.arm == COMBO)
    assert combo[2].startswith(f"{c.estimate:.2f} [{c.ci_low:.2f}, {c.ci_high:.2f}]")
    assert f"p = {c.p_value:.3f}" in combo[3] and f"df = {c.df:.1f}" in combo[3]


@pytest.mark.parametrize("forged", [{"cov": "VC"}, {"cov": ["UN"]}, {"ddfm": "between-within"}, {"ddfm": None}])
def test_forged_mmrm_controls_give_204_for_show_code_too(cb, study, forged):
    inputs = {k: v for k, v in controls(study, **forged).items()}
    r = cb.post("traj-code", "children", {"traj-code-collapse.is_open": True, **inputs})
    assert r.status_code == 204
    ok = cb.outputs("traj-code", "children", {"traj-code-collapse.is_open": True, **controls(study, cov="TOEPH")})
    assert "COVARIANCE = 'TOEPH'" in ok["traj-code.children"]


def test_small_multiples_forest_plot_names_the_method_and_gets_its_height(cb, study):
    """The small multiples' between-arm answer: one forest panel per parameter, each arm vs the reference, the
    method in the caption; its card is as tall as the figure (a fixed 300 px squeezed four panels into one)."""
    _, out = figure(cb, controls(study, mode="multi"))
    forest = go.Figure(decode(out["traj-forest.figure"]))
    marks = [t for t in forest.data if (t.meta or {}).get("role") == "forest"]
    assert {(t.meta["code"], t.meta["arm"]) for t in marks} == {
        (c, a) for c in ("IGG", "C3", "DSDNA", "ANUA") for a in ("Ld-IL2", "Belimumab + Ld-IL2")}
    assert all(np.isfinite(t.x[0]) for t in marks)
    caption = " ".join(a.text for a in forest.layout.annotations if a.text)
    assert "MMRM, unstructured (UN) covariance, Kenward–Roger df" in caption and "Holm" in caption
    style = out["traj-forest-wrap.style"]
    assert style["display"] == "block" and style["height"] == f"{forest.layout.height}px"
    assert forest.layout.height >= 4 * 100


def test_cached_statistics_follow_every_statistics_control(cb, study):
    """The summary table and the statistics panel are cached with the view: a repeated request gives the same
    blocks, and each statistics control (reference arm, adjustment, covariance, df method, visit) gives its own."""
    base = controls(study, mode="multi")
    first = cb.outputs("traj-stats", "children", base)
    assert cb.outputs("traj-stats", "children", base) == first
    seen = {text_of(first["traj-stats.children"])}
    for change in ({"ref": "IL2"}, {"adjust": "fdr_bh"}, {"adjust": "none"}, {"cov": "CS"},
                   {"ddfm": "satterthwaite"}, {"visit": 24}):
        out = cb.outputs("traj-stats", "children", controls(study, mode="multi", **change))
        text = text_of(out["traj-stats.children"])
        assert text not in seen, change
        seen.add(text)
    # the summary table follows the summary statistic, the statistics do not
    mean, median = (cb.outputs("traj-stats", "children", controls(study, mode="multi", stat=s))
                    for s in ("mean", "median"))
    assert text_of(mean["traj-table.children"]) != text_of(median["traj-table.children"])
    assert text_of(mean["traj-stats.children"]) == text_of(median["traj-stats.children"])


def test_a_filter_click_sends_the_view_not_the_layout_the_browser_has(cb, study):
    """The graph's height, the controls' wraps and the options checklist are sent only when they change (each
    output sent is applied and re-rendered in the browser); what the browser holds is its State."""
    layout_parts = ["traj-graph.style", "traj-forest-wrap.style", "traj-param-wrap.style", "traj-params-wrap.style",
                    "traj-adjust-wrap.style", "traj-opts.options"]
    # the page as it opens (the layout's values) and a filter click: the figure only changes
    out = cb.outputs("traj-graph", "figure", controls(study, **{"filter": {"arms": ["IL2"], "weeks": [0, 48],
                                                                           "patients": []}}))
    assert "traj-graph.figure" in out and "traj-stats.children" in out
    assert not set(layout_parts) & set(out)
    # to the small multiples: the wraps swap, the forest plot shows, the graph grows
    multi = cb.outputs("traj-graph", "figure", controls(study, mode="multi"))
    assert multi["traj-param-wrap.style"] == {"display": "none"} and multi["traj-params-wrap.style"] == {
        "display": "block"}
    assert multi["traj-forest-wrap.style"]["display"] == "block" and multi["traj-adjust-wrap.style"]["display"] == "block"
    assert multi["traj-graph.style"] != {"height": "470px"}
    # then a filter click in the small multiples, the browser holding what it was sent
    held = {k: multi[k] for k in layout_parts if k in multi}
    again = cb.outputs("traj-graph", "figure", controls(study, mode="multi", filter={"arms": [], "weeks": [0, 24],
                                                                                     "patients": []}), state=held)
    assert not set(layout_parts) & set(again) and "traj-forest.figure" in again
    # an arm fewer: the forest plot has fewer rows, so its wrap's height is sent
    fewer = cb.outputs("traj-graph", "figure", controls(study, mode="multi", filter={"arms": ["BEL", "IL2"],
                                                                                     "weeks": [0, 48], "patients": []}),
                       state=held)
    assert fewer["traj-forest-wrap.style"]["height"] != held["traj-forest-wrap.style"]["height"]
    assert not (set(layout_parts) - {"traj-forest-wrap.style"}) & set(fewer)
    # the scale changes the options (log only for raw values)
    chg = cb.outputs("traj-graph", "figure", controls(study, scale="chg"))
    assert [o.get("disabled") for o in chg["traj-opts.options"]][:1] == [True]
    # a forged "what the browser has" only makes the server send the layout again
    forged = cb.outputs("traj-graph", "figure", controls(study), state={"traj-graph.style": "x" * 10_000,
                                                                       "traj-opts.options": [{"label": 1}]})
    assert forged["traj-graph.style"] == {"height": "470px"} and forged["traj-opts.options"][0]["value"] == "log"
