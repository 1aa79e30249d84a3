"""The whole view in the URL and presentation mode: parsing and validation of page keys, the shell's
callbacks (link -> controls, controls -> link, the present toggle, the arrow-key steps) through
Dash's real callback endpoint, with valid, stale and forged values."""

import json

import pytest

import app as app_module
from components import comparison, patient, trajectories, shell
from components import viewstate as V
from conftest import default_store


# -- a generic poster: any callback by its exact key (allow_duplicate outputs included) ------------
def key_of(cb, pred):
    return next(k for k, spec in cb.app.callback_map.items() if pred(k, spec))


def post(cb, key, values: dict, changed: list):
    spec = cb.app.callback_map[key]
    parts = cb.split_key(key)
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in parts]
    body = {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                   for i in spec["inputs"]],
        "state": [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                  for i in spec.get("state", [])],
        "changedPropIds": changed,
    }
    r = cb.client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert r.status_code in (200, 204), r.get_data(as_text=True)[:300]
    if r.status_code == 204:
        return None
    return {f"{cid}.{p.split('@')[0]}": v for cid, props in r.get_json()["response"].items() for p, v in props.items()}


def apply_key(cb, page):
    return key_of(cb, lambda k, s: f"urlstate-{page}.data" in cb.split_key(k))


def late_key(cb, page):
    return key_of(cb, lambda k, s: any(p.startswith(f"urlstate-{page}.data@") for p in cb.split_key(k)))


def write_key(cb, page):
    return key_of(cb, lambda k, s: k.startswith("url.search@") and any(i["id"] == f"urlstate-{page}"
                                                                       for i in s["inputs"]))


def sync(cb, study, search, pathname, trigger="url.search", store=None, counts="x", presenting=False, **controls):
    values = {"url.search": search, "url.pathname": pathname, "f-arm.value": controls.get("arms", []),
              "f-weeks.value": controls.get("weeks", [0, 48]), "f-patient.value": controls.get("patients", []),
              "filter-state.data": store, "presentation.data": presenting, "arm-counts.children": counts}
    return post(cb, key_of(cb, lambda k, s: "filter-state.data" in cb.split_key(k)), values, [trigger])


# -- parsing and validation ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def controls(study):
    return {p.ID: V.url_controls(p, study) for p in app_module.PAGES}


def test_page_keys_come_from_the_page_modules(controls):
    assert [c.key for c in controls["trajectories"]] == list(trajectories.URL_STATE)
    assert [c.key for c in controls["comparison"]] == list(comparison.URL_STATE)
    assert controls["overview"] == []
    assert [c.key for c in controls["patient"]] == list(patient.URL_STATE)


def test_allowed_values_are_the_pages_own_options(controls, study):
    param = next(c for c in controls["trajectories"] if c.key == "param")
    assert "IGG" in param.allowed and not any(t.startswith("__group__") for t in param.allowed)  # headers excluded
    v1 = next(c for c in controls["comparison"] if c.key == "v1")
    assert v1.after == "cmp-visit-a.options" and v1.allowed["8"] == 8.0 and v1.default == 0.0
    opts = next(c for c in controls["trajectories"] if c.key == "opts")
    assert opts.multi and opts.default == []
    subject = next(c for c in controls["patient"] if c.key == "subject")
    assert set(subject.allowed) == set(study.subjects)


def test_parse_keeps_valid_values_and_names_the_rest(controls):
    ctl = controls["trajectories"]
    values, notices = V.parse_page("?param=C3&scale=pchg&opts=indiv,log&visit=24&ref=IL2", ctl)
    assert values == {"param": "C3", "scale": "pchg", "opts": ["indiv", "log"], "visit": 24.0, "ref": "IL2"}
    assert notices == []
    values, notices = V.parse_page("?param=<script>&scale=&opts=indiv,evil&visit=25&stat=mean", ctl)
    assert values == {"stat": "mean"}
    assert notices == ["Unknown param ignored: <script>", "Unknown scale ignored: ", "Unknown opts ignored: indiv,evil",
                       "Unknown visit ignored: 25"]
    assert V.parse_page("?opts=", ctl)[0] == {"opts": []}
    assert V.parse_page(None, ctl) == ({}, [])
    assert V.parse_page("?" + "&".join(f"k{i}=1" for i in range(500)), ctl) == ({}, [])  # too many fields


def test_only_non_default_values_are_written(controls):
    ctl = controls["trajectories"]
    pairs = V.page_pairs(ctl, {"view": "single", "param": "IGG", "scale": "chg", "opts": ["indiv"], "visit": "end",
                               "params": ["IGG", "C3", "DSDNA", "ANUA"]})
    assert pairs == [("scale", "chg"), ("opts", "indiv")]
    assert V.compose("?arm=BEL", pairs, True) == "?arm=BEL&scale=chg&opts=indiv&present=1"
    assert V.compose("", [], False) == ""
    # a value the page does not offer is never written
    assert V.page_pairs(ctl, {"param": "NOPE", "scale": {"a": 1}}) == []


def test_present_flag(controls):
    assert V.parse_present("?present=1") == (True, [])
    assert V.parse_present("?arm=BEL") == (False, [])
    assert V.parse_present("?present=yes") == (False, ["Presentation flag ignored: yes"])


def test_reserved_keys_are_refused(study):
    class Bad:
        __name__ = "bad"
        URL_STATE = {"arm": ("x", "value")}

        @staticmethod
        def layout(study):
            return None

    with pytest.raises(ValueError, match="reserved"):
        V.url_controls(Bad, study)


# -- the shell's URL callback ------------------------------------------------------------------------
def test_link_is_validated_and_canonical(cb, study):
    out = sync(cb, study, "?present=1&scale=chg&bogus=1&param=NOPE&arm=IL2", "/trajectories", store=None)
    assert out["url.search"] == "?arm=IL2&scale=chg&present=1"
    notice = json.dumps(out["filter-notice.children"])
    assert "Unknown param ignored: NOPE" in notice and "Link parameter ignored: bogus" in notice
    assert out["filter-notice.is_open"] is True and out["presentation.data"] is True
    assert out["filter-state.data"]["arms"] == ["IL2"]


def test_filter_change_keeps_page_keys_and_presentation(cb, study):
    out = sync(cb, study, "?scale=chg&present=1", "/trajectories", trigger="f-arm.value", arms=["BEL"],
               store=default_store(study), presenting=True)
    assert out["url.search"] == "?arm=BEL&scale=chg&present=1"
    assert "presentation.data" not in out  # unchanged


def test_page_key_written_to_url_does_not_recompute_pages(cb, study):
    out = sync(cb, study, "?scale=chg", "/trajectories", store=default_store(study))
    assert out is None or set(out) <= {"url.search", "presentation.data"}  # the store is not re-sent


def test_patient_link_appears_with_chosen_patients(cb, study):
    out = sync(cb, study, "?patient=LSO-088-005&present=1", "/", store=None)
    assert '"href": "/patient?patient=LSO-088-005&present=1"' in json.dumps(out["arm-counts.children"])


def test_nav_links_keep_presentation_mode(cb):
    out = cb.outputs("nav-comparison", "href", {"url.search": "?arm=BEL&scale=chg&present=1"},
                     state={"url.pathname": "/trajectories"})
    assert out["nav-comparison.href"] == "/comparison?arm=BEL&present=1"  # page keys stay with their page


def test_present_toggle_flips_the_flag_in_the_url(cb):
    key = key_of(cb, lambda k, s: k.startswith("url.search@") and s["inputs"][0]["id"] == "present-toggle")
    vals = {"present-toggle.n_clicks": 1, "url.search": "?arm=BEL&scale=chg", "url.pathname": "/trajectories"}
    assert post(cb, key, vals, ["present-toggle.n_clicks"])["url.search"] == "?arm=BEL&scale=chg&present=1"
    vals["url.search"] = "?arm=BEL&scale=chg&present=1"
    assert post(cb, key, vals, ["present-toggle.n_clicks"])["url.search"] == "?arm=BEL&scale=chg"
    for forged in (None, 0, "1", True, [1]):
        assert post(cb, key, {**vals, "present-toggle.n_clicks": forged}, ["present-toggle.n_clicks"]) is None


# -- link -> controls, controls -> link ------------------------------------------------------------
def test_link_sets_the_page_controls_once(cb, study):
    key = apply_key(cb, "trajectories")
    vals = {"urlstate-trajectories.data": None, "filter-state.data": default_store(study),
            "url.search": "?param=C3&scale=pchg&opts=indiv&ref=bogus", "traj-param.value": "IGG",
            "traj-scale.value": "raw", "traj-opts.value": [], "traj-ref.value": "BEL", "traj-mode.value": "single"}
    out = post(cb, key, vals, ["urlstate-trajectories.data"])
    assert out["traj-param.value"] == "C3" and out["traj-scale.value"] == "pchg"
    assert out["traj-opts.value"] == ["indiv"]
    assert "traj-ref.value" not in out and "traj-mode.value" not in out  # invalid / unchanged: no update
    assert out["urlstate-trajectories.data"] == {"applied": True, "late": {}}
    # once applied, later filter changes do not re-apply the link
    assert post(cb, key, {**vals, "urlstate-trajectories.data": {"applied": True}}, ["filter-state.data"]) is None


def test_late_controls_wait_for_their_options(cb, study):
    out = post(cb, apply_key(cb, "comparison"), {"urlstate-comparison.data": None, "url.search": "?param=TREG&v1=8&v2=24",
                                            "cmp-param.value": "NAIVEB"}, ["urlstate-comparison.data"])
    assert out["cmp-param.value"] == "TREG"
    assert out["urlstate-comparison.data"] == {"applied": True, "late": {"v1": "8", "v2": "24"}}
    key = late_key(cb, "comparison")
    opts = [{"label": f"Week {w}", "value": float(w)} for w in (0, 4, 8, 12, 16, 20, 24)]
    out = post(cb, key, {"cmp-visit-a.options": opts, "cmp-visit-b.options": opts,
                         "urlstate-comparison.data": {"applied": True, "late": {"v1": "8", "v2": "24"}}},
               ["cmp-visit-a.options"])
    assert out["cmp-visit-a.value"] == 8.0 and out["cmp-visit-b.value"] == 24.0
    assert out["urlstate-comparison.data"] == {"applied": True, "late": {}}
    # a visit the current options do not offer (outside the window) is not applied
    out = post(cb, key, {"cmp-visit-a.options": opts[:2], "cmp-visit-b.options": opts[:2],
                         "urlstate-comparison.data": {"applied": True, "late": {"v1": "8", "v2": "4"}}},
               ["cmp-visit-a.options"])
    assert "cmp-visit-a.value" not in out and out["cmp-visit-b.value"] == 4.0
    # nothing pending, or forged markers: no update
    for mark in ({"applied": True, "late": {}}, None, "x", {"applied": True, "late": {"v1": {"$ne": 1}}}):
        r = post(cb, key, {"cmp-visit-a.options": opts, "cmp-visit-b.options": opts, "urlstate-comparison.data": mark},
                 ["cmp-visit-a.options"])
        assert r is None or "cmp-visit-a.value" not in r


def test_controls_are_written_to_the_link(cb, study):
    key = write_key(cb, "trajectories")
    vals = {f"{c.cid}.{c.prop}": c.default for c in V.url_controls(trajectories, study)}
    vals.update({"traj-scale.value": "chg", "traj-param.value": "C3", "urlstate-trajectories.data": {"applied": True},
                 "url.search": "?arm=BEL&present=1&scale=pchg"})
    out = post(cb, key, vals, ["traj-scale.value"])
    assert out["url.search"] == "?arm=BEL&param=C3&scale=chg&present=1"
    # not before the link is applied, and a forged control value is not written
    assert post(cb, key, {**vals, "urlstate-trajectories.data": None}, ["traj-scale.value"]) is None
    out = post(cb, key, {**vals, "traj-param.value": "<b>x</b>"}, ["traj-param.value"])
    assert out["url.search"] == "?arm=BEL&scale=chg&present=1"


# -- presentation mode: arrow keys step through the parameters ----------------------------------------
def step(cb, page, direction, value, options=None, guard=None):
    key = key_of(cb, lambda k, s: s["inputs"][0]["id"] == f"present-prev-{page}")
    spec = cb.app.callback_map[key]
    cid = spec["state"][0]["id"]
    vals = {f"{cid}.value": value, f"{cid}.options": options}
    if len(spec["state"]) > 2:
        g = spec["state"][2]
        vals[f"{g['id']}.{g['property']}"] = guard
    vals[f"present-{direction}-{page}.n_clicks"] = 1
    return post(cb, key, vals, [f"present-{direction}-{page}.n_clicks"])


def test_arrow_keys_step_the_parameter(cb, study):
    opts = trajectories.param_options(study)
    assert step(cb, "trajectories", "next", "IGG", opts, "single")["traj-param.value"] == "DSDNA"
    assert step(cb, "trajectories", "prev", "DSDNA", opts, "single")["traj-param.value"] == "IGG"
    assert step(cb, "trajectories", "prev", "IGG", opts, "single") is None  # first: stays
    assert step(cb, "trajectories", "next", "IGG", opts, "multi") is None  # small multiples: no single parameter
    # forged options cannot add a value the page does not offer
    forged = [{"label": "x", "value": "EVIL"}, {"label": "y", "value": "C3"}]
    assert step(cb, "trajectories", "next", "EVIL", forged, "single")["traj-param.value"] == "C3"
    cell_opts = [{"label": str(o["value"]), "value": o["value"], "disabled": o.get("disabled", False)}
                 for o in comparison.subset_options(study)]  # (the page's labels are components)
    assert step(cb, "comparison", "next", "NAIVEB", cell_opts, "single")["cmp-param.value"] == "PLASMA"
    assert step(cb, "comparison", "next", "NAIVEB", cell_opts, "grid") is None


def test_arrow_keys_step_patients_within_the_filter(cb, study):
    opts = [{"label": u, "value": u} for u in ("LSO-088-002", "LSO-088-005", "LSO-088-008")]
    assert step(cb, "patient", "next", "LSO-088-005", opts)["pt-patient.value"] == "LSO-088-008"


def test_every_figure_gets_the_presentation_callback(dash_app):
    keys = [k for k, s in dash_app.callback_map.items()
            if ".figure@" in k and any(i["id"] == shell.PRESENT_STORE for i in s["inputs"])]
    graphs = {k.split(".figure@")[0] for k in keys}
    assert {"ov-design", "traj-graph", "cmp-fig", "ae-timeline", "pt-figure"} <= graphs
