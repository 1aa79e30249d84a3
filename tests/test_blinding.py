"""Blinded studies (issue 20): a blinded user, and a user without a role, on a study locked as blinded get
no arm label, no arm-level count, no arm colour and no order that shows the arms — through every page's
callbacks (as a browser posts them, and forged), every export, the deck, the offline report, a copied
link and the patient profile. The same requests from an unblinded user do show the arms (the checks can
fail). Everything goes through the deployment's own front server: authentication, then the dispatch by role.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import PAGES, create_app
from blinded_fixture import (ARM_COLOUR, ARM_TEXT, PER_ARM_N, basic, blinded_copy, deployment_env, leaks,
                             signed_in)
from conftest import CallbackClient
from data import blinding
from data import filters as F
from page_sweep import strings, sweep
from test_fuzz import _well_formed, values


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("blinded")
    folder = blinded_copy(root / "lso088")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in deployment_env(root).items():
            mp.setenv(k, v)
        app = create_app(folder)
    return app


@pytest.fixture(scope="module")
def full(deployment):
    """(app, study, callback client) of the unblinded user ana."""
    return deployment, deployment.server.config["STUDY"], CallbackClient(deployment, signed_in(deployment.server, "ana"))


@pytest.fixture(scope="module")
def blind(deployment):
    """(app, study, callback client) of the blinded user bob: the blinded app's callbacks, posted to the front."""
    view = deployment.server.config["BLINDED_APP"]
    return view, view.server.config["STUDY"], CallbackClient(view, signed_in(deployment.server, "bob"))


def post(cb: CallbackClient, output: str, prop: str, inputs: dict, state=None, changed=None):
    """(status, response text, request text) of one callback request."""
    key = cb.key_for(output, prop)
    r = cb.post(output, prop, inputs, state, changed)
    assert r.status_code < 500 and "Traceback" not in r.get_data(as_text=True), (key, r.status_code)
    return r.status_code, r.get_data(as_text=True), json.dumps([inputs, state])


def store(**kw) -> dict:
    return {"arms": [], "weeks": [0.0, 48.0], "patients": [], **kw}


# -- the data layer ---------------------------------------------------------------------------------------
def test_the_pooled_study_has_one_group_and_no_arm_variable(blind):
    _, s, _ = blind
    assert blinding.is_blinded_view(s) and [a.label for a in s.arms] == [blinding.POOLED_LABEL]
    assert list(s.adsl["USUBJID"]) == sorted(s.adsl["USUBJID"])  # not the file's order (sorted by arm)
    assert not {"ARM", "ARMCD", "TRT01A", "TRT01P", "TRT01AN"} & set(s.adsl.columns)
    assert not {"ARM", "TRT01A", "AERELTRT"} & set(s.adae.columns)  # AERELTRT names the drug: BELIMUMAB
    assert s.adex is None and "ADEX" not in s.datasets
    for frame in (s.adsl["ARM_LABEL"], s.measurements["ARM"], s.imputed["ARM"], s.off_axis["ARM"]):
        assert list(frame.cat.categories) == [blinding.POOLED_LABEL]
    for df in (s.adsl, s.adae, s.measurements):  # no category, anywhere, holds an arm's name
        for col in df.columns:
            if hasattr(df[col], "cat"):
                assert not leaks(" ".join(map(str, df[col].cat.categories))), col
    assert s.notes[0].startswith("Blinded view:") and not leaks(" ".join(s.notes))


def test_a_variable_that_is_the_same_within_each_arm_is_withheld_whatever_its_name(full):
    _, s, _ = full
    adsl = s.adsl.assign(BELFL=s.adsl["ARM_LABEL"].astype(str).str.startswith("Belimumab").map({True: "Y", False: "N"}),
                         COHORT=s.adsl["ARMCODE"].map({"BEL": 1, "IL2": 2, "BELIL2": 3}))
    view = blinding.pooled(dataclasses.replace(s, adsl=adsl))
    assert not {"BELFL", "COHORT"} & set(view.adsl.columns)
    assert "BELFL" in view.notes[0] and "COHORT" in view.notes[0]
    assert {"SEX", "RACE", "AGE", "EFFFL"} <= set(view.adsl.columns)  # not functions of the arm: kept


def test_roles_choose_the_view(deployment):
    srv = deployment.server
    layouts = {}
    for user in ("ana", "bob", "cy", "adm"):
        c = signed_in(srv, user)
        layouts[user] = c.get("/_dash-layout").get_data(as_text=True)
        assert c.get("/").status_code == 200
    assert leaks(layouts["ana"]) >= {"Belimumab", "Ld-IL2"}
    for user in ("bob", "cy", "adm"):  # blinded, no role, admin without the unblinded role
        assert not leaks(layouts[user]) and blinding.POOLED_LABEL in layouts[user], user
    anonymous = srv.test_client()
    assert anonymous.get("/_dash-layout").status_code == 401
    assert anonymous.get("/_dash-layout", headers=basic("bob", "wrong")).status_code == 401


def test_a_blinded_study_without_authentication_is_pooled_for_everyone(tmp_path):
    app = create_app(blinded_copy(tmp_path / "lso088", sort_by_arm=False))
    c = app.server.test_client()
    text = c.get("/_dash-layout").get_data(as_text=True)
    assert not leaks(text) and blinding.POOLED_LABEL in text
    body = CallbackClient(app.server.config["BLINDED_APP"], c).post("ov-disposition", "children",
                                                                     {"filter-state.data": store()})
    assert body.status_code == 200 and not leaks(body.get_data(as_text=True))


# -- every page, every callback, every export --------------------------------------------------------------
@pytest.fixture(scope="module")
def swept(full, blind):
    """Every page of both views through their real callbacks (buttons clicked: CSV, scripts, deck…)."""
    (fa, fs, fcb), (ba, bs, bcb) = full, blind
    return {"ana": sweep(fa, fs, PAGES, fcb.client), "bob": sweep(ba, bs, PAGES, bcb.client)}


@pytest.mark.parametrize("path", [p.PATH for p in PAGES])
def test_no_page_or_export_tells_a_blinded_user_the_arms(swept, path):
    shown = swept["bob"][path]
    text = "\n".join(shown)
    assert "# Study:" in text and "# View: blinded" in text  # exports were made (and say which view)
    assert not leaks(text), sorted(leaks(text))
    assert not PER_ARM_N.search(text), PER_ARM_N.search(text).group(0)
    assert "(N=30)" in text or path == "/patient"
    full_text = "\n".join(swept["ana"][path])
    assert leaks(full_text), "the unblinded sweep shows no arm: the check could not fail"


def test_between_arm_statistics_say_not_applicable(swept):
    text = "\n".join(swept["bob"]["/trajectories"] + swept["bob"]["/comparison"] + swept["bob"]["/safety"])
    assert "Between arms (MMRM): not applicable in a blinded view" in text
    assert "Between arms: not applicable in a blinded view" in text
    assert "Risk difference: not applicable in a blinded view" in text


# -- forged payloads: an arm, a reference arm, a patient's arm, a per-arm view ----------------------------
FORGED = [
    ("ov-disposition", "children", {"filter-state.data": store(arms=["BEL"])}, None),
    # (the filter store is written in the browser, from the URL: assets/viewstate.js; a forged store reaches
    # the page callbacks, which validate it against the study they serve)
    ("ae-summary", "children", {"filter-state.data": store(arms=["BEL", "IL2"], patients=["LSO-088-003"])}, None),
    ("ov-baseline", "children", {"filter-state.data": store(arms=["IL2"])}, None),
    ("traj-stats", "children", {"filter-state.data": store(), "traj-mode.value": "single", "traj-param.value": "IGG",
                                "traj-params.value": [], "traj-scale.value": "chg", "traj-opts.value": ["indiv"],
                                "traj-patmode.value": "highlight", "traj-visit.value": "end", "traj-ref.value": "BEL",
                                "traj-adjust.value": "none", "traj-cov.value": "UN", "traj-ddfm.value": "kr"}, None),
    ("traj-graph", "figure", {"filter-state.data": store(arms=["IL2"], patients=["LSO-088-003"]),
                              "traj-mode.value": "multi", "traj-param.value": "IGG", "traj-params.value": ["IGG", "C3"],
                              "traj-scale.value": "raw", "traj-stat.value": "mean", "traj-opts.value": ["indiv"],
                              "traj-patmode.value": "highlight"}, None),
    ("cmp-fig", "figure", {"filter-state.data": store(), "cmp-view.value": "single", "cmp-param.value": "NAIVEB",
                             "cmp-visit-a.value": 0, "cmp-visit-b.value": 48, "cmp-annot.value": "between",
                             "cmp-log.value": [], "cmp-scale.value": "pchg", "cmp-ref.value": "BELIL2"}, None),
    ("ae-incidence-grid", "rowData", {"filter-state.data": store(), "ae-threshold.value": 0, "ae-arm.value": "BEL",
                                 "ae-ref.value": "IL2", "ae-collapsed.data": []}, None),
    ("pt-header", "children", {"filter-state.data": store(), "pt-patient.value": "LSO-088-003",
                               "pt-params.value": ["IGG"], "pt-group.value": "none"}, None),
]


@pytest.mark.parametrize("output,prop,inputs,state", FORGED, ids=[f"{o}.{p}" for o, p, _i, _s in FORGED])
def test_forged_payloads_get_no_arm_level_data(full, blind, output, prop, inputs, state):
    def ask(cb):
        try:
            key = cb.key_for(output, prop)
        except KeyError:
            key = None
        if key is None:
            return None
        spec = cb.app.callback_map[key]
        ins = {k: v for k, v in inputs.items() if any(f"{i['id']}.{i['property']}" == k for i in spec["inputs"])}
        return post(cb, output, prop, ins, state, changed=list(ins)[:1])

    got = ask(blind[2])
    assert got is not None
    status, text, sent = got
    assert not leaks(text, sent), sorted(leaks(text, sent))
    assert not PER_ARM_N.search(text)
    status, text, sent = ask(full[2])
    assert status == 200 and leaks(text, sent), "the unblinded user does not see the arm: the check could not fail"


def test_the_filter_store_is_no_server_endpoint(full, blind):
    """URL -> filter store is bookkeeping done in the browser: the server has no function to forge it through."""
    for _, _, cb in (full, blind):
        r = cb.client.post("/_dash-update-component", json={
            "output": "..filter-state.data...filter-notice.children..", "outputs": [],
            "inputs": [{"id": "url", "property": "search", "value": "?arm=BEL,IL2&patient=LSO-088-003"}],
            "changedPropIds": ["url.search"], "state": []})
        assert 400 <= r.status_code < 500 and "Belimumab" not in r.get_data(as_text=True)


def test_the_patient_profile_names_no_arm(full, blind):
    for (_, _, cb), arm in ((blind, blinding.POOLED_LABEL), (full, "Belimumab + Ld-IL2")):
        out = cb.outputs("pt-header", "children", {"filter-state.data": store(), "pt-patient.value": "LSO-088-003",
                                                   "pt-params.value": ["IGG", "C3"], "pt-group.value": "none"},
                         changed=["pt-patient.value"])
        header = " ".join(strings(out["pt-header.children"]))
        assert "LSO-088-003" in header and arm in header
        fig = json.dumps(out["pt-figure.figure"])
        assert ("Dosing (ADEX)" in fig) == (arm != blinding.POOLED_LABEL)  # a subject's doses are its arm


def test_orders_do_not_follow_the_arms(full, blind):
    """The files list the subjects by arm: the blinded view lists them by USUBJID, the full view as the file."""
    orders = {}
    for who, (_, s, cb) in (("bob", blind), ("ana", full)):
        opts = cb.outputs("pt-patient", "options", {"filter-state.data": store(), "pt-patient.value": None})
        listing = cb.outputs("ae-listing", "rowData", {"filter-state.data": store()})["ae-listing.rowData"]
        timeline = cb.outputs("ae-timeline", "figure", {"filter-state.data": store()})["ae-timeline.figure"]
        rows_drawn = next(t["y"] for t in timeline["data"] if t.get("name") == "subject")
        orders[who] = ([o["value"] for o in opts["pt-patient.options"]], [r["USUBJID"] for r in listing], rows_drawn)
    for order in orders["bob"]:
        assert len(order) >= 30 and order == sorted(order)
    pts, _rows, drawn = orders["ana"]  # the full view: the picker in the file's order, the timeline by arm
    assert pts != sorted(pts) and drawn != sorted(drawn)


def test_results_are_never_shared_between_the_views(deployment, full, blind):
    a = deployment.server.config["RESULT_CACHE"]
    b = deployment.server.config["BLINDED_APP"].server.config["RESULT_CACHE"]
    assert a is not b and a.fingerprint != b.fingerprint
    inputs = {"filter-state.data": store()}
    assert leaks(json.dumps(full[2].outputs("ov-baseline", "children", inputs)))  # computed and cached for ana
    assert not leaks(json.dumps(blind[2].outputs("ov-baseline", "children", inputs)))  # then asked for by bob


def test_the_fuzz_generator_gets_no_arm_level_data(blind):
    app, _, cb = blind
    spec = app.callback_map
    keys = sorted(k for k, v in spec.items() if "callback" in v)
    found = []

    @settings(max_examples=250, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        key = data.draw(st.sampled_from(keys))
        body = _well_formed(key, spec[key], lambda: data.draw(values))
        sent = json.dumps(body)
        r = cb.client.post("/_dash-update-component", data=sent, content_type="application/json")
        assert r.status_code < 500, (key, sent[:300])
        bad = leaks(r.get_data(as_text=True), sent)
        if bad:
            found.append((key, sorted(bad)))

    run()
    assert not found, found[:5]


# -- the deck, the offline report, a copied link -------------------------------------------------------------
def tray(views):
    return [{"id": f"i{n}", "page": page, "part": part, "query": query, "title": "t", "custom": None}
            for n, (page, part, query) in enumerate(views)]


TRAY = tray([("overview", "figure", ""), ("overview", "tables", ""), ("trajectories", "figure", "?param=C3&scale=chg"),
             ("trajectories", "stats", "?opts=indiv"), ("comparison", "figure", "?annot=between"),
             ("comparison", "stats", ""), ("safety", "incidence", ""), ("safety", "summary", ""),
             ("safety", "timeline", ""), ("patient", "figure", "?subject=LSO-088-003")])
FORGED_TRAY = tray([("overview", "tables", "?arm=BEL"), ("trajectories", "figure", "?arm=BEL,IL2&param=C3&ref=IL2"),
                    ("comparison", "figure", "?annot=between&ref=BELIL2"), ("safety", "incidence", "?rd=BEL&vs=IL2")])


def _pptx_text(content_b64: str) -> str:
    from pptx import Presentation

    prs = Presentation(io.BytesIO(base64.b64decode(content_b64)))
    out = []
    for slide in prs.slides:
        for sh in slide.shapes:
            if sh.has_text_frame:
                out.append(sh.text_frame.text)
            if getattr(sh, "has_table", False) and sh.has_table:
                out += [c.text for row in sh.table.rows for c in row.cells]
            if sh.has_chart:
                for plot in sh.chart.plots:
                    out += [str(c) for c in plot.categories]
                    out += [s.name for s in plot.series]
                out.append(sh.chart.part.blob.decode("utf-8", "replace"))  # colours and all
        if slide.has_notes_slide:
            out.append(slide.notes_slide.notes_text_frame.text)
    return "\n".join(out)


def _report_text(html: str) -> str:
    """The report without the plotly.js it inlines (its country names spell BEL, Belgium's code)."""
    from plotly.offline import get_plotlyjs

    return html.replace(get_plotlyjs(), "")


def test_the_deck_and_the_report_hold_no_arm(full, blind):
    sent = json.dumps(TRAY)
    _, _, cb = blind
    out = cb.outputs("deck-download", "data", {"deck-download-btn.n_clicks": 1}, state={"deck-tray.data": TRAY})
    assert out["deck-status.children"].startswith("Deck ready"), out["deck-status.children"]
    text = _pptx_text(out["deck-download.data"]["content"])
    assert "LSO-088-003" in text and not leaks(text, sent), sorted(leaks(text, sent))
    assert not PER_ARM_N.search(text)
    rep = cb.outputs("deck-report-download", "data", {"deck-report-btn.n_clicks": 1}, state={"deck-tray.data": TRAY})
    html = rep["deck-report-download.data"]["content"]
    body = _report_text(html)
    assert len(body) < len(html) and "LSO-088-003" in body
    assert not leaks(body, sent), sorted(leaks(body, sent))
    # views naming an arm (from an unblinded colleague's tray): refused, named, nothing drawn
    for btn, output in (("deck-download-btn", "deck-download"), ("deck-report-btn", "deck-report-download")):
        out = cb.outputs(output, "data", {f"{btn}.n_clicks": 1}, state={"deck-tray.data": FORGED_TRAY})
        assert out.get(f"{output}.data") is None and "could not be built" in json.dumps(out)
        assert not leaks(json.dumps(out), json.dumps(FORGED_TRAY))
    # the unblinded user's deck of one of those views names the arms
    one = [FORGED_TRAY[1]]
    out = full[2].outputs("deck-download", "data", {"deck-download-btn.n_clicks": 1}, state={"deck-tray.data": one})
    assert leaks(_pptx_text(out["deck-download.data"]["content"]), json.dumps(one))


def test_a_copied_link_from_an_unblinded_user_gives_a_blinded_user_no_arm(full, blind):
    from components import deck

    cb = blind[2]
    key = next(k for k in cb.app.callback_map if k.startswith("..deck-tray.data@"))
    spec = cb.app.callback_map[key]

    def open_link(link):
        r = cb.client.post("/_dash-update-component", content_type="application/json", data=json.dumps({
            "output": key, "outputs": [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in key[2:-2].split("...")],
            "inputs": [{**spec["inputs"][0], "value": link}], "state": [{**spec["state"][0], "value": None}],
            "changedPropIds": [f"url.{spec['inputs'][0]['property']}"]}))
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        got = r.get_json()["response"]
        assert not leaks(json.dumps(got), link)
        return got["deck-tray"]["data"], got["deck-flash"]["children"]

    # "#deck=…" of ana's copied link, its views naming arms: refused
    tray, msg = open_link(deck.encode_link(FORGED_TRAY[1:4]))
    assert tray == [] and "3 not views of this app" in msg
    # views without an arm join the tray, titled by the blinded view
    tray, msg = open_link(deck.encode_link(TRAY[2:5]))
    assert [t["page"] for t in tray] == ["trajectories", "trajectories", "comparison"]
    shown = cb.outputs("deck-list", "children", {"deck-tray.data": tray})
    assert not leaks(json.dumps(shown))
    # the link's own filters: refused with a notice, no arm data
    # (read in the browser by the same rules, assets/viewstate.js; on the server by the router)
    state, notices = F.from_query("?arm=BEL&patient=LSO-088-001", blind[1])
    assert any("Unknown arm ignored" in n for n in notices) and state.arms == ()
    assert not leaks(json.dumps(notices), "?arm=BEL&patient=LSO-088-001")
    # what a blinded user's links hold: the view's query, never an arm
    q = F.from_query("?patient=LSO-088-001", blind[1])[0].to_query(blind[1])
    assert q == "?patient=LSO-088-001" and not ARM_TEXT.search(q) and not ARM_COLOUR.search(q)


# -- declaring a study blinded -------------------------------------------------------------------------------
def test_lock_declares_the_blinding_and_its_fingerprint_covers_it(tmp_path):
    import shutil

    from data import lock as L
    from data.study import DEFAULT_DATA, lock_folder

    folder = tmp_path / "study"
    shutil.copytree(DEFAULT_DATA, folder)
    code, lines = lock_folder(folder, force=True, blinded=True, withhold=["ADSL.SITEID"])
    assert code == 0 and "blinded study" in lines[-1], lines
    manifest = json.loads((folder / L.MANIFEST).read_text())
    assert manifest[L.BLINDED_KEY] is True and manifest[L.WITHHOLD_KEY] == ["ADSL.SITEID"]
    info = L.verify(folder)
    assert info.blinded
    view = create_app(folder).server.config["BLINDED_APP"].server.config["STUDY"]
    assert "SITEID" not in view.adsl.columns and "SITEID" in view.notes[0]
    # the flag taken out by hand: the manifest no longer matches its fingerprint
    edited = dict(manifest, **{L.BLINDED_KEY: False})
    (folder / L.MANIFEST).write_text(json.dumps(edited))
    with pytest.raises(L.LockError, match="does not match its fingerprint"):
        L.verify(folder)
    (folder / L.MANIFEST).write_text(json.dumps(manifest))
    # locking again must say whether the blinding stays
    code, lines = lock_folder(folder, force=True)
    assert code == 2 and "--blinded to keep the blinding" in lines[0]
    code, lines = lock_folder(folder, force=True, blinded=True, withhold=["ADSL.NOPE", "ADZZ"])
    assert code == 2 and any("no variable NOPE in ADSL" in x for x in lines) and any("ADZZ" in x for x in lines)
    code, _ = lock_folder(folder, force=True, blinded=False)
    assert code == 0 and not L.verify(folder).blinded
    assert create_app(folder).server.config.get("BLINDED_APP") is None  # unblinded: one app, the arms
