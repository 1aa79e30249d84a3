"""The whole view in the URL and presentation mode: parsing and validation of page keys, the router
(a page opened at a link), the rules handed to the browser, the round-trip budget (one server callback
per control, nothing chained), the arrow-key steps, through Dash's real callback endpoint with valid,
stale and forged values. The browser's side (the URL kept in step with the controls, Back/Forward,
Copy link) is tested in Chromium: tests/test_browser_views.py."""

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


# -- the router: a page opened at a link shows the link's view --------------------------------------
def routed(cb, pathname, search) -> dict:
    """{component id: props} of the page the router renders for ``pathname`` + ``search``."""
    out = post(cb, "page-content.children", {"url.pathname": pathname, "url.search": search}, ["url.pathname"])
    found = {}

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if isinstance(props.get("id"), str):
                found[props["id"]] = props
            for v in props.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(out["page-content.children"])
    return found


def test_router_opens_the_page_at_its_links_values(cb):
    page = routed(cb, "/trajectories", "?arm=IL2&param=C3&scale=pchg&opts=indiv&ref=bogus&bogus=1")
    assert page["traj-param"]["value"] == "C3" and page["traj-scale"]["value"] == "pchg"
    assert page["traj-opts"]["value"] == ["indiv"]
    assert page["traj-ref"]["value"] == "BEL"  # not an arm: the default stays
    assert page["urlstate-trajectories"]["data"] == "trajectories"
    page = routed(cb, "/comparison", "?param=TREG&v1=8&v2=24&annot=between")
    assert (page["cmp-param"]["value"], page["cmp-visit-a"]["value"], page["cmp-visit-b"]["value"]) == ("TREG", 8.0, 24.0)
    assert page["cmp-annot"]["value"] == "between"
    page = routed(cb, "/safety", "?q=Nausea++grade&threshold=10")
    assert page["ae-quick"]["value"] == "Nausea grade" and page["ae-threshold"]["value"] == 10


def test_router_resolves_what_depends_on_the_links_filter(cb):
    # the timepoints of the link's window (its ends), not the study's
    page = routed(cb, "/comparison", "?weeks=12-36")
    assert [o["value"] for o in page["cmp-visit-a"]["options"]] == [12, 16, 20, 24, 28, 32, 36]
    assert (page["cmp-visit-a"]["value"], page["cmp-visit-b"]["value"]) == (12, 36)
    # a visit the window does not hold falls back to the window's end
    page = routed(cb, "/comparison", "?weeks=12-36&v1=4&v2=24")
    assert (page["cmp-visit-a"]["value"], page["cmp-visit-b"]["value"]) == (12, 24)
    # the profile: the patient the link names, else the first one chosen in its filter, among the arm filter's
    page = routed(cb, "/patient", "?arm=IL2&patient=LSO-088-009")
    assert page["pt-patient"]["value"] == "LSO-088-009"
    assert len(page["pt-patient"]["options"]) == 10  # Previous/Next over the arm filter, not the one patient
    page = routed(cb, "/patient", "?arm=IL2&patient=LSO-088-009&subject=LSO-088-008")
    assert page["pt-patient"]["value"] == "LSO-088-008"


def test_router_never_fails_on_a_forged_link(cb):
    for search in ("?" + "&".join(f"arm=X{i}" for i in range(60)), "?weeks=<script>", "?param=%00", "?subject=x" * 50,
                   None, "?q=" + "x" * 5000):
        for path in ("/", "/trajectories", "/comparison", "/safety", "/patient", "/nope"):
            r = cb.client.post("/_dash-update-component", data=json.dumps({
                "output": "page-content.children", "outputs": {"id": "page-content", "property": "children"},
                "inputs": [{"id": "url", "property": "pathname", "value": path}],
                "state": [{"id": "url", "property": "search", "value": search}],
                "changedPropIds": ["url.pathname"]}), content_type="application/json")
            assert r.status_code == 200, (path, search, r.get_data(as_text=True)[:200])


def test_free_text_controls(controls):
    q = next(c for c in controls["safety"] if c.key == "q")
    assert q.text == 80 and q.default == ""
    assert V.parse_page("?q=+nausea+%0A+grade+3+", controls["safety"])[0] == {"q": "nausea grade 3"}
    assert V.page_pairs(controls["safety"], {"q": "  "}) == []
    assert V.page_pairs(controls["safety"], {"q": "rash  x"}) == [("q", "rash x")]
    assert V.page_pairs(controls["safety"], {"q": ["rash"]}) == []  # not text: not written


def test_the_browser_gets_the_same_rules(study, controls):
    spec = V.client_spec(study, app_module.PAGES, controls)
    traj = {c["key"]: c for c in spec["pages"]["trajectories"]["controls"]}
    assert traj["param"]["default"] == "IGG" and ["C3", "C3"] in traj["param"]["tokens"]
    assert not any(t[0].startswith("__group__") for t in traj["param"]["tokens"])
    assert spec["pages"]["safety"]["controls"][-1]["text"] == 80
    assert spec["subjects"]["LSO-088-001"] in {a.code for a in study.arms}
    assert spec["visits"] == list(study.visit_numbers) and spec["time_word"] == study.time_word
    json.dumps(spec)  # it travels as JSON


# -- round trips: the bookkeeping is the browser's; a click costs the page's one callback -----------------
def server_callbacks(app):
    return {k: v for k, v in app.callback_map.items() if "clientside_function" not in v and v.get("callback")}


def test_no_server_callback_writes_the_url_or_the_filter_store(dash_app):
    for key, spec in server_callbacks(dash_app).items():
        outs = cb_outputs(key)
        assert not any(o.startswith(("url.", "filter-state.", "nav-", "presentation.")) for o in outs), key


def cb_outputs(key):
    return [o.split("@")[0] for o in (key[2:-2].split("...") if key.startswith("..") else [key])]


# The Safety page answers a filter change with two callbacks in parallel (one round trip): the AE overview
# and the timeline are drawn without waiting for the browser to rebuild the two grids below them.
PARALLEL = {("safety", "filter-state.data"): 2}


@pytest.mark.parametrize("page", app_module.PAGES, ids=lambda p: p.ID)
def test_one_server_callback_per_control_and_none_chained(dash_app, study, page):
    """A filter change or a click on a page control sends one request (two in parallel where PARALLEL says
    so): that many server callbacks read it, and their outputs are read by no other server callback
    (nothing is chained: one round trip)."""
    cbs = server_callbacks(dash_app)
    ids = {c.cid for c in V.url_controls(page, study)}
    watched = [f"{c.cid}.{c.prop}" for c in V.url_controls(page, study)] + ["filter-state.data"]
    tree_ids = {c.id for c in page.layout(study)._traverse() if isinstance(getattr(c, "id", None), str)}
    for prop in watched:
        readers = [k for k, v in cbs.items() if any(f"{i['id']}.{i['property']}" == prop for i in v["inputs"])
                   and any(o.split(".")[0] in tree_ids for o in cb_outputs(k))]
        assert len(readers) <= PARALLEL.get((page.ID, prop), 1), (prop, readers)
        for k in readers:
            for o in cb_outputs(k):
                chained = [k2 for k2, v2 in cbs.items() if k2 != k and any(
                    f"{i['id']}.{i['property']}" == o for i in v2["inputs"])]
                assert not chained, (prop, o, chained)
    assert ids <= tree_ids


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
