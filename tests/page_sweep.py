"""Render every page of an app through its real callbacks, and collect the text the pages show.

``sweep(app, study)`` opens each page (the router callback), then posts every server callback of
the app with the values its inputs hold in the layouts (and what earlier callbacks returned),
twice over, as a browser would after the page loads; then again with every button clicked once
(CSV downloads, deck requests) and with the pages' other views (small multiples, the grid).
It returns the strings of every layout and response: labels, table cells, figure titles,
annotations, axis titles, trace names, hover templates, CSV text, code scripts. Plotly's binary
arrays (``bdata``) are left out: base64 can spell any word.
"""

from __future__ import annotations

import json

import plotly.utils
from dash.development.base_component import Component

from conftest import CallbackClient
from data import filters as F

SKIP_KEYS = {"bdata", "dtype", "shape"}
VIEWS = ({}, {"traj-mode.value": "multi", "cmp-view.value": "grid", "traj-scale.value": "chg",
              "cmp-annot.value": "between", "traj-stat.value": "median"})


def strings(obj) -> list[str]:
    """Every string inside a JSON-able object (dict keys excluded), skipping plotly's binary arrays."""
    if isinstance(obj, Component):
        obj = json.loads(json.dumps(obj, cls=plotly.utils.PlotlyJSONEncoder))
    out = []
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k not in SKIP_KEYS:
                out += strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            out += strings(v)
    return out


def component_values(tree) -> dict:
    """{"id.prop": value} of every component with a string id in a layout tree."""
    found = [tree] + [c for c in tree._traverse()] if isinstance(tree, Component) else []
    vals = {}
    for c in found:
        cid = getattr(c, "id", None)
        if not isinstance(cid, str):
            continue
        for prop in c._prop_names:
            v = getattr(c, prop, None)
            if v is not None and not isinstance(v, Component) and prop != "children":
                vals[f"{cid}.{prop}"] = json.loads(json.dumps(v, cls=plotly.utils.PlotlyJSONEncoder))
    return vals


def sweep(app, study, pages, http=None) -> dict[str, list[str]]:
    """{page path: strings shown} after every callback ran on that page (the shell's text included).

    ``http``: the test client to post with (default: the app's own server's; a signed-in user's client of
    the server in front of it, for a blinded study)."""
    client = CallbackClient(app, http or app.server.test_client())
    shell_text = strings(app.layout)
    out = {}
    for page in pages:
        texts = list(shell_text)
        base = component_values(app.layout)
        base.update(component_values(page.layout(study)))
        base.update({"url.pathname": page.PATH, "url.search": "", "filter-state.data": F.default_state(study).to_store()})
        routed = client.outputs("page-content", "children", {"url.pathname": page.PATH})
        texts += strings(routed)
        on_page = {k.rsplit(".", 1)[0] for k in base} | _ids(app.layout) | _ids(page.layout(study))
        for views in VIEWS:
            vals = dict(base, **views)
            for sweep_no in range(3):  # twice as the page loads (chained callbacks), then every button clicked
                if sweep_no == 2:
                    vals.update({f"{cid}.n_clicks": 1 for cid in _buttons(app)})
                if True:
                    for key, spec in app.callback_map.items():
                        if not callable(spec.get("callback")):
                            continue  # a browser-side callback
                        if not all(i["id"] in on_page or i["property"] == "n_clicks" for i in spec["inputs"]):
                            continue  # another page's callback
                        inputs = {f"{i['id']}.{i['property']}": vals.get(f"{i['id']}.{i['property']}")
                                  for i in spec["inputs"] if isinstance(i["id"], str)}
                        state = {f"{s['id']}.{s['property']}": vals.get(f"{s['id']}.{s['property']}")
                                 for s in spec.get("state", []) if isinstance(s["id"], str)}
                        r = post(client, key, inputs, state)
                        assert r.status_code in (200, 204), (page.PATH, key, r.status_code, r.get_data(as_text=True)[:300])
                        if r.status_code != 200:
                            continue
                        resp = r.get_json()["response"]
                        texts += strings(resp)
                        for cid, props in resp.items():
                            for prop, v in props.items():
                                if prop != "children" and f"{cid}.{prop}" not in views:
                                    vals[f"{cid}.{prop}"] = v
        out[page.PATH] = texts
    return out


def post(client: CallbackClient, key: str, inputs: dict, state: dict):
    """One callback request for the callback ``key`` of ``app.callback_map`` (duplicate outputs included)."""
    spec = client.app.callback_map[key]
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in CallbackClient.split_key(key)]
    body = {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": [{"id": i["id"], "property": i["property"], "value": inputs.get(f"{i['id']}.{i['property']}")}
                   for i in spec["inputs"]],
        "state": [{"id": s["id"], "property": s["property"], "value": state.get(f"{s['id']}.{s['property']}")}
                  for s in spec.get("state", [])],
        "changedPropIds": list(inputs)[:1],
    }
    return client.client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")


def _ids(tree) -> set[str]:
    found = [tree] + list(tree._traverse()) if isinstance(tree, Component) else []
    return {c.id for c in found if isinstance(getattr(c, "id", None), str)}


def _buttons(app) -> list[str]:
    """Ids whose n_clicks some callback reads."""
    ids = set()
    for spec in app.callback_map.values():
        for i in spec["inputs"]:
            if isinstance(i["id"], str) and i["property"] == "n_clicks":
                ids.add(i["id"])
    return sorted(ids)
