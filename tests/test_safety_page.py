"""Safety page through Dash's real callback endpoint: tables, listing, export, timeline, forged inputs."""

import json
from itertools import product

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from conftest import CallbackClient, default_store

ARMS = {"BEL": "Belimumab", "IL2": "Ld-IL2", "BELIL2": "Belimumab + Ld-IL2"}
ALL_SOC = "Infections and infestations"


@pytest.fixture(scope="module")
def ae(study):
    return pd.read_parquet(study.folder / "adae.parquet")


def store(arms=(), weeks=(0, 48), patients=()):
    return {"arms": list(arms), "weeks": list(weeks), "patients": list(patients)}


def table_rows(tbl):
    head, body = tbl["props"]["children"]
    header = [th["props"]["children"] for th in head["props"]["children"]["props"]["children"]]
    rows = [[td["props"]["children"] for td in tr["props"]["children"]] for tr in body["props"]["children"]]
    return header, rows


def summary(cb, st):
    out = cb.outputs("ae-summary", "children", {"filter-state.data": st})
    return table_rows(out["ae-summary.children"][0]), out


def incidence(cb, st, threshold=0, arm="BELIL2", ref="BEL", collapsed=()):
    return cb.outputs("ae-incidence-grid", "rowData", {
        "filter-state.data": st, "ae-threshold.value": threshold, "ae-arm.value": arm, "ae-ref.value": ref,
        "ae-collapsed.data": list(collapsed)})


def listing(cb, st):
    return cb.outputs("ae-listing", "rowData", {"filter-state.data": st})["ae-listing.rowData"]


def expected_rows(ae, arms=(), weeks=(0, 48), patients=()):
    """Independent filter of the raw ADAE: arm (TRT01A), patient, onset week in the window."""
    m = pd.Series(True, index=ae.index)
    if arms:
        m &= ae["TRT01A"].isin([ARMS[a] for a in arms])
    if patients:
        m &= ae["USUBJID"].isin(patients)
    if tuple(weeks) != (0, 48):
        w = np.floor((ae["ASTDY"] - 1) / 7)
        m &= (w >= weeks[0]) & (w <= weeks[1])
    return {f"{u}/{s}" for u, s in zip(ae.loc[m, "USUBJID"], ae.loc[m, "AESEQ"])}


def post_key(cb, key, inputs, changed):
    """Post to a callback by its exact key (for an allow_duplicate output)."""
    spec = cb.app.callback_map[key]
    out_id, prop = key.rsplit(".", 1)
    body = {"output": key, "outputs": {"id": out_id, "property": prop},
            "inputs": [{"id": i["id"], "property": i["property"], "value": inputs.get(f"{i['id']}.{i['property']}")}
                       for i in spec["inputs"]],
            "state": [], "changedPropIds": changed}
    return cb.client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def click_key(cb):
    return next(k for k, spec in cb.app.callback_map.items()
                if k.startswith("f-patient.value@") and spec["inputs"][0]["id"] == "ae-timeline")


# -- summary ----------------------------------------------------------------------------------------
def test_page_is_registered_after_overview(dash_app):
    import app as app_module
    from components import safety

    ids = [p.ID for p in app_module.PAGES]
    assert ids[0] == "overview" and ids.index("safety") > ids.index("comparison")  # pages added later follow it
    assert (safety.ID, safety.PATH, safety.TITLE) == ("safety", "/safety", "Safety")


def test_summary_counts_subjects_from_adae(cb, study, ae):
    (header, rows), out = summary(cb, default_store(study))
    assert header == ["Subjects with", "Belimumab (N=10)", "Ld-IL2 (N=10)", "Belimumab + Ld-IL2 (N=10)",
                      "Total (N=30)"]
    by = {r[0]: r[1:] for r in rows}

    def n_pct(mask):
        cells = []
        for arm in ARMS.values():
            k = ae.loc[mask & (ae["TRT01A"] == arm), "USUBJID"].nunique()
            cells.append(f"{k} ({100 * k / 10:.0f}%)")
        k = ae.loc[mask, "USUBJID"].nunique()
        return cells + [f"{k} ({100 * k / 30:.0f}%)"]

    te = ae["TRTEMFL"] == "Y"
    assert by["Any TEAE"] == n_pct(te)
    assert by["Any serious TEAE"] == n_pct(te & (ae["AESER"] == "Y"))
    assert by["Any grade ≥3 TEAE"] == n_pct(te & (ae["AETOXGR"].astype(int) >= 3))
    assert by["Any TEAE related to study drug"] == n_pct(te & (ae["AEREL"] == "RELATED"))
    assert by["Any TEAE leading to discontinuation"] == n_pct(te & (ae["AEACN"] == "DRUG WITHDRAWN"))
    assert by["Deaths"] == n_pct(te & (ae["AESDTH"] == "Y"))
    assert by["Number of TEAEs (events)"] == [str(int((ae["TRT01A"] == a).sum())) for a in ARMS.values()] + ["64"]
    caption = json.dumps(out["ae-caption.children"], ensure_ascii=False)
    assert "Simulated data" in caption and "SAFFL = Y" in caption and "N = 30" in caption


def test_summary_under_arm_patient_and_window_filters(cb, ae):
    st = store(["IL2", "BELIL2"], (0, 12), ["LSO-088-002", "LSO-088-003", "LSO-088-008", "LSO-088-011"])
    (header, rows), out = summary(cb, st)
    assert header == ["Subjects with", "Ld-IL2 (N=3)", "Belimumab + Ld-IL2 (N=1)", "Total (N=4)"]
    keep = expected_rows(ae, ["IL2", "BELIL2"], (0, 12), ["LSO-088-002", "LSO-088-003", "LSO-088-008", "LSO-088-011"])
    sub = ae[[f"{u}/{s}" in keep for u, s in zip(ae["USUBJID"], ae["AESEQ"])]]
    by = {r[0]: r[1:] for r in rows}
    k_il2 = sub.loc[sub["TRT01A"] == "Ld-IL2", "USUBJID"].nunique()
    assert by["Any TEAE"][0] == f"{k_il2} ({100 * k_il2 / 3:.0f}%)"
    assert by["Number of TEAEs (events)"][-1] == str(len(sub))
    assert "onset in weeks 0–12" in json.dumps(out["ae-caption.children"], ensure_ascii=False)


# -- SOC / PT incidence ---------------------------------------------------------------------------
def test_incidence_rows_match_independent_count(cb, study, ae):
    out = incidence(cb, default_store(study))
    rows, defs = out["ae-incidence-grid.rowData"], out["ae-incidence-grid.columnDefs"]
    heads = [d["headerName"] for d in defs]
    assert heads[1:5] == ["Belimumab (N=10)", "Ld-IL2 (N=10)", "Belimumab + Ld-IL2 (N=10)", "Total (N=30)"]
    assert heads[5] == "Belimumab + Ld-IL2 − Belimumab: risk difference, % points (95% CI)"
    assert len(rows) == ae["AEBODSYS"].nunique() + ae[["AEBODSYS", "AEDECOD"]].drop_duplicates().shape[0]
    for r in rows:
        if r["level"] == "SOC":
            soc = r["id"].split("::")[1]
            m = ae["AEBODSYS"] == soc
        else:
            _, soc, pt = r["id"].split("::")
            m = (ae["AEBODSYS"] == soc) & (ae["AEDECOD"] == pt)
        for i, arm in enumerate(ARMS.values()):
            k = ae.loc[m & (ae["TRT01A"] == arm), "USUBJID"].nunique()
            assert r[f"c{i}"] == f"{k} ({100 * k / 10:.0f}%)", (r["id"], arm)
        k = ae.loc[m, "USUBJID"].nunique()
        assert r["c3"] == f"{k} ({100 * k / 30:.0f}%)"
    assert rows[0]["label"] == "▾ " + ALL_SOC
    caption = json.dumps(out["ae-incidence-caption.children"], ensure_ascii=False)
    assert "Newcombe hybrid score" in caption


def test_incidence_risk_difference_vs_statsmodels(cb, study, ae):
    from statsmodels.stats.proportion import confint_proportions_2indep

    rows = incidence(cb, default_store(study), arm="IL2", ref="BEL")["ae-incidence-grid.rowData"]
    for r in rows:
        if r["level"] != "PT":
            continue
        _, soc, pt = r["id"].split("::")
        m = (ae["AEBODSYS"] == soc) & (ae["AEDECOD"] == pt)
        k_a = ae.loc[m & (ae["TRT01A"] == "Ld-IL2"), "USUBJID"].nunique()
        k_r = ae.loc[m & (ae["TRT01A"] == "Belimumab"), "USUBJID"].nunique()
        lo, hi = confint_proportions_2indep(k_a, 10, k_r, 10, compare="diff", method="newcomb")
        assert r["rd"] == f"{100 * (k_a - k_r) / 10:+.1f} ({100 * lo:+.1f}, {100 * hi:+.1f})", pt


def test_incidence_threshold_and_collapse(cb, study):
    rows = incidence(cb, default_store(study), threshold=30)["ae-incidence-grid.rowData"]
    pts = [r["label"].strip("\u2003") for r in rows if r["level"] == "PT"]
    assert pts == ["Upper respiratory tract infection", "Injection site reaction"]
    rows = incidence(cb, default_store(study), collapsed=[ALL_SOC])["ae-incidence-grid.rowData"]
    assert rows[0]["label"] == "▸ " + ALL_SOC and rows[1]["level"] == "SOC"
    assert not any(r["id"].startswith(f"PT::{ALL_SOC}::") for r in rows)


def test_incidence_messages(cb, study):
    out = incidence(cb, default_store(study), arm="BEL", ref="BEL")
    assert "two different arms" in json.dumps(out["ae-incidence-msg.children"], ensure_ascii=False)
    assert "rd" not in out["ae-incidence-grid.rowData"][0]
    out = incidence(cb, store(["IL2", "BELIL2"]), arm="BELIL2", ref="BEL")
    assert "Belimumab is not in the arm filter" in json.dumps(out["ae-incidence-msg.children"], ensure_ascii=False)
    out = incidence(cb, store(patients=["LSO-088-001", "LSO-088-002"]))
    assert {r["rd"] for r in out["ae-incidence-grid.rowData"]} == {"n < 3: no CI"}


def test_soc_row_click_toggles_its_pts(cb):
    def toggle(inputs, changed, collapsed):
        return cb.outputs("ae-collapsed", "data", inputs, {"ae-collapsed.data": collapsed}, changed)

    click = {"ae-incidence-grid.cellClicked": {"rowId": f"SOC::{ALL_SOC}", "colId": "label", "rowIndex": 0}}
    assert toggle(click, ["ae-incidence-grid.cellClicked"], [])["ae-collapsed.data"] == [ALL_SOC]
    assert toggle(click, ["ae-incidence-grid.cellClicked"], [ALL_SOC])["ae-collapsed.data"] == []
    out = toggle({"ae-collapse.n_clicks": 1}, ["ae-collapse.n_clicks"], [])["ae-collapsed.data"]
    assert ALL_SOC in out and len(out) == 8
    assert toggle({"ae-expand.n_clicks": 1}, ["ae-expand.n_clicks"], out)["ae-collapsed.data"] == []
    for forged in ({"rowId": "SOC::Nope"}, {"rowId": f"PT::{ALL_SOC}::Herpes zoster"}, {"rowId": 3}, "junk"):
        r = cb.post("ae-collapsed", "data", {"ae-incidence-grid.cellClicked": forged}, {"ae-collapsed.data": []},
                    ["ae-incidence-grid.cellClicked"])
        assert r.status_code == 204, forged


# -- listing -------------------------------------------------------------------------------------------
def test_listing_shows_every_adae_row(cb, study, ae):
    rows = listing(cb, default_store(study))
    assert len(rows) == len(ae) == 64
    assert {r["ROWID"] for r in rows} == expected_rows(ae)
    r = next(r for r in rows if r["ROWID"] == "LSO-088-030/2")
    assert (r["USUBJID"], r["ARM"], r["AETERM"], r["AEDECOD"], r["AEBODSYS"]) == (
        "LSO-088-030", "Belimumab", "community-acquired pneumonia", "Pneumonia", "Infections and infestations")
    assert (r["ASTDY"], r["ONSET_WEEK"], r["AENDY"], r["DURATION"]) == (219, 31, 234, 16)
    assert (r["AETOXGR"], r["AESEV"], r["AESER"], r["AERELTRT"], r["AEACN"], r["AEOUT"]) == (
        "3", "SEVERE", "Y", "NONE", "DRUG INTERRUPTED", "RECOVERED/RESOLVED")


ARM_SETS = [(), ("BEL",), ("IL2", "BELIL2")]
WINDOWS = [(0, 48), (0, 12), (12, 24), (24, 48), (48, 48)]
PATIENTS = [(), ("LSO-088-002", "LSO-088-011"), ("LSO-088-001", "LSO-088-030", "LSO-088-003")]


@pytest.mark.parametrize("arms,weeks,patients", list(product(ARM_SETS, WINDOWS, PATIENTS)))
def test_listing_exactly_the_matching_rows(cb, ae, arms, weeks, patients):
    rows = listing(cb, store(arms, weeks, patients))
    got = [r["ROWID"] for r in rows]
    assert len(got) == len(set(got))
    assert set(got) == expected_rows(ae, arms, weeks, patients)


def test_listing_count_and_quick_search_are_the_browsers(dash_app):
    # no request: the grid filters its own rows (tests/test_browser_safety.py checks them in Chromium)
    for out in ("ae-listing-count.children", "ae-listing.dashGridOptions"):
        spec = next(c for c in dash_app._callback_list if out in c["output"])
        assert spec.get("clientside_function"), out
        assert not dash_app.callback_map[spec["output"]].get("callback")  # nothing runs on the server


def export(cb, st, virtual, quick="", model=None):
    return cb.outputs("ae-download", "data", {"ae-export.n_clicks": 1},
                      {"filter-state.data": st, "ae-listing.virtualRowData": virtual, "ae-quick.value": quick,
                       "ae-listing.filterModel": model})


def test_export_writes_the_grid_rows_with_provenance(cb, study):
    st = default_store(study)
    rows = listing(cb, st)
    chosen = [rows[5], rows[2], {"ROWID": "LSO-088-999/1", "AETERM": "forged"}, rows[40]]
    out = export(cb, st, chosen, quick="cold", model={"AEDECOD": {"filter": "x"}, "EVIL": {}})["ae-download.data"]
    assert out["filename"] == "LSO-088-adverse-events.csv"
    text = out["content"]
    lines = text.splitlines()
    assert lines[0] == "# SIMULATED DATA — not the trial's results"
    assert f"fingerprint {study.lock.short}" in text and "# Study: LSO-088" in text
    assert "quick search: 'cold'" in text and "column filters on: Preferred term)" in text and "EVIL" not in text
    body = pd.read_csv(pd.io.common.StringIO(text), comment="#")
    assert list(body.columns[:5]) == ["Subject", "Arm", "Seq", "Verbatim term", "Preferred term"]
    assert [f"{u}/{s}" for u, s in zip(body["Subject"], body["Seq"])] == [rows[5]["ROWID"], rows[2]["ROWID"],
                                                                           rows[40]["ROWID"]]
    assert "forged" not in text


def test_export_before_grid_ready_writes_all_filtered_rows(cb, ae):
    st = store(["IL2"], (0, 12))
    text = export(cb, st, None)["ae-download.data"]["content"]
    assert "# Filters: Ld-IL2; weeks 0–12; all patients" in text
    body = pd.read_csv(pd.io.common.StringIO(text), comment="#")
    assert {f"{u}/{s}" for u, s in zip(body["Subject"], body["Seq"])} == expected_rows(ae, ["IL2"], (0, 12))


# -- timeline --------------------------------------------------------------------------------------------
def timeline(cb, st):
    return go.Figure(cb.outputs("ae-timeline", "figure", {"filter-state.data": st})["ae-timeline.figure"])


def test_timeline_rows_bars_and_dosing(cb, study, ae):
    fig = timeline(cb, default_store(study))
    names = [t.name for t in fig.data]
    assert {"Grade 1", "Grade 2", "Grade 3", "Serious (★ at onset)", "BELIMUMAB IV infusion",
            "LD-IL2 SC every other day", "LD-IL2 SC weekly"} <= set(names)
    bars = [t for t in fig.data if t.name and t.name.startswith("Grade")]
    assert sum(len(t.y) for t in bars) == len(ae)
    for t in bars:
        g = int(t.name.split()[1])
        assert len(t.y) == int((ae["AETOXGR"].astype(int) == g).sum())
    star = next(t for t in fig.data if t.name.startswith("Serious"))
    assert sorted(star.y) == sorted(ae.loc[ae["AESER"] == "Y", "USUBJID"])
    cats = list(fig.layout.yaxis.categoryarray)
    assert [c for c in cats if c.startswith("§")] == ["§Belimumab", "§Ld-IL2", "§Belimumab + Ld-IL2"]
    assert len([c for c in cats if not c.startswith("§")]) == 30
    # the infusions: one line whose segments are the ticks (one SVG path), and a legend entry with the tick
    inf, key = [t for t in fig.data if t.name == "BELIMUMAB IV infusion"]
    ex = pd.read_parquet(study.folder / "adex.parquet")
    bel = ex[ex["EXTRT"] == "BELIMUMAB"]
    assert inf.mode == "lines" and inf.showlegend is False and inf.connectgaps is False
    xs, ys = list(inf.x), list(inf.y)
    assert xs[2::3] == [None] * len(bel) and ys[2::3] == [None] * len(bel)
    assert ys[0::3] == ys[1::3]  # each segment stays on its subject's row
    centres = sorted(zip(ys[0::3], ((a + b) / 2 for a, b in zip(xs[0::3], xs[1::3]))))
    from analysis import safety as S
    dosing = S.subject_dosing(study.adex, study.adsl)
    dosing = dosing[dosing["EXTRT"] == "BELIMUMAB"]
    expected = sorted((s, w) for s, ws in zip(dosing["USUBJID"], dosing["dose_weeks"]) for w in ws)
    assert [s for s, _ in centres] == [s for s, _ in expected]
    assert np.allclose([w for _, w in centres], [w for _, w in expected])
    assert all(0 < b - a < 0.5 for a, b in zip(xs[0::3], xs[1::3]))
    assert key.mode == "markers" and key.marker.symbol == "line-ns-open" and key.legendgroup == inf.legendgroup
    assert key.showlegend is not False and list(key.x) == [None]
    assert any("SIMULATED DATA" in a.text for a in fig.layout.annotations)


def test_timeline_follows_filters(cb, ae):
    fig = timeline(cb, store(["BELIL2"], (12, 24)))
    cats = list(fig.layout.yaxis.categoryarray)
    assert cats[0] == "§Belimumab + Ld-IL2" and len(cats) == 11
    bars = [t for t in fig.data if t.name and t.name.startswith("Grade")]
    assert sum(len(t.y) for t in bars) == len(expected_rows(ae, ["BELIL2"], (12, 24)))
    assert any("onset window weeks 12–24" in a.text for a in fig.layout.annotations)


def test_timeline_margin_is_set_from_its_row_labels(cb, study):
    """No automargin pass on each redraw (it measures every label): the margin holds the arm names (bold) and
    the subject numbers, and the time axes keep theirs."""
    from components import theme
    for st in (default_store(study), store(["IL2"])):
        fig = timeline(cb, st)
        arms = [c[1:] for c in fig.layout.yaxis.categoryarray if c.startswith("§")]
        subjects = [c.rsplit("-", 1)[-1] for c in fig.layout.yaxis.categoryarray if not c.startswith("§")]
        assert fig.layout.margin.l == max(theme.left_margin(arms, font_px=15)[0], theme.left_margin(subjects)[0])
        assert fig.layout.yaxis.automargin is False
        assert fig.layout.xaxis.automargin is False and fig.layout.xaxis2.automargin is False
    assert timeline(cb, store(["IL2"])).layout.margin.l < timeline(cb, default_store(study)).layout.margin.l


def test_timeline_click_sets_patient_filter(cb):
    key = click_key(cb)
    click = {"points": [{"x": 3.0, "y": "LSO-088-007", "customdata": ["LSO-088-007", "…"]}]}
    r = post_key(cb, key, {"ae-timeline.clickData": click}, ["ae-timeline.clickData"])
    assert r.status_code == 200
    assert r.get_json()["response"]["f-patient"]["value"] == ["LSO-088-007"]
    for forged in ({"points": [{"customdata": ["LSO-088-999"]}]}, {"points": [{"y": "'; DROP"}]}, {"points": []},
                   {"points": "x"}, "junk", {"points": [["LSO-088-001"]]}):
        r = post_key(cb, key, {"ae-timeline.clickData": forged}, ["ae-timeline.clickData"])
        assert r.status_code == 204, forged


# -- forged inputs ----------------------------------------------------------------------------------------
FORGED_STORES = [
    {"arms": ["PLACEBO"], "weeks": [0, 48], "patients": []},  # unknown arm
    {"arms": [], "weeks": ["a", "b"], "patients": []},  # non-numeric week
    {"arms": [], "weeks": [0, 5], "patients": []},  # not a visit
    {"arms": [], "weeks": [0, 48], "patients": ["LSO-088-999"]},  # not in the study
    [1, 2, 3], "x", None,
]


@pytest.mark.parametrize("bad", FORGED_STORES)
def test_forged_store_gives_no_update_anywhere(cb, bad):
    assert cb.post("ae-summary", "children", {"filter-state.data": bad}).status_code == 204
    assert cb.post("ae-listing", "rowData", {"filter-state.data": bad}).status_code == 204
    assert cb.post("ae-timeline", "figure", {"filter-state.data": bad}).status_code == 204
    r = cb.post("ae-incidence-grid", "rowData", {"filter-state.data": bad, "ae-threshold.value": 0,
                                                 "ae-arm.value": "BELIL2", "ae-ref.value": "BEL",
                                                 "ae-collapsed.data": []})
    assert r.status_code == 204
    r = cb.post("ae-download", "data", {"ae-export.n_clicks": 1}, {"filter-state.data": bad})
    assert r.status_code == 204


@pytest.mark.parametrize("field,value", [
    ("ae-threshold.value", 7), ("ae-threshold.value", "10"), ("ae-threshold.value", True),
    ("ae-threshold.value", None), ("ae-threshold.value", -1),
    ("ae-arm.value", "PLACEBO"), ("ae-arm.value", ["BEL"]), ("ae-ref.value", "UNKNOWN"), ("ae-ref.value", None),
    ("ae-collapsed.data", ["No such SOC"]), ("ae-collapsed.data", "Infections and infestations"),
])
def test_forged_incidence_options_give_no_update(cb, study, field, value):
    inputs = {"filter-state.data": default_store(study), "ae-threshold.value": 0, "ae-arm.value": "BELIL2",
              "ae-ref.value": "BEL", "ae-collapsed.data": []}
    inputs[field] = value
    assert cb.post("ae-incidence-grid", "rowData", inputs).status_code == 204


def test_forged_export_rows_give_no_update(cb, study):
    st = default_store(study)
    for bad in ("rows", [1, 2], {"ROWID": "x"}):
        assert cb.post("ae-download", "data", {"ae-export.n_clicks": 1},
                       {"filter-state.data": st, "ae-listing.virtualRowData": bad}).status_code == 204
    assert cb.post("ae-download", "data", {"ae-export.n_clicks": None},
                   {"filter-state.data": st}).status_code == 204


# -- a study without ADAE ------------------------------------------------------------------------------------
def test_study_without_adae_says_so(data_copy):
    from app import create_app

    (data_copy / "adae.parquet").unlink()
    (data_copy / "LOCK.json").unlink()
    app = create_app(data_copy)
    assert not any("ae-" in k for k in app.callback_map)
    cbc = CallbackClient(app, app.server.test_client())
    out = cbc.outputs("page-content", "children", {"url.pathname": "/safety"})
    text = json.dumps(out["page-content.children"], ensure_ascii=False)
    assert "no adverse-event data" in text
    assert "Safety: adverse events" in text


def test_a_repeated_aeseq_keeps_every_row_in_the_grid_and_the_export(data_copy):
    """A subject whose ADAE repeats an AESEQ (a split record): every row is listed under its own key, and the
    export writes each of them (it once kept the last row of each repeated key)."""
    from app import create_app

    path = data_copy / "adae.parquet"
    ae = pd.read_parquet(path)
    subject = ae["USUBJID"].value_counts().index[0]
    n = int((ae["USUBJID"] == subject).sum())
    ae.loc[ae["USUBJID"] == subject, "AESEQ"] = 1
    ae.to_parquet(path, index=False)
    (data_copy / "LOCK.json").unlink()
    app = create_app(data_copy)
    cb = CallbackClient(app, app.server.test_client())
    rows = listing(cb, store())
    ids = [r["ROWID"] for r in rows]
    assert len(rows) == len(ae) and len(set(ids)) == len(ids)
    assert sum(r["USUBJID"] == subject for r in rows) == n > 1
    text = export(cb, store(), rows)["ae-download.data"]["content"]
    body = pd.read_csv(pd.io.common.StringIO(text), comment="#")
    assert len(body) == len(ae) and int((body["Subject"] == subject).sum()) == n
