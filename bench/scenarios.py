"""What the benchmark measures: per page, the main callbacks in four interactions.

The payloads are the ones a browser sends (``loadtest.emulator.Emulator`` reads the app's
callback graph and the components' values), for:

- ``default``: the page opened with the default filter;
- ``filter``:  the global filter changed (two arms, a window from the first visit to about week 24);
- ``param``:   the page's own main control changed (another parameter / subset; the AE threshold);
- ``patient``: two patients chosen in the global filter (highlighted, or filtered on the Safety page).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "loadtest"))
from emulator import Emulator  # noqa: E402

SCENARIOS = ("default", "filter", "param", "patient")
# page path -> outputs of its main callbacks (what a user waits for)
# (one callback per page draws all of it: one request per click; the Safety page has two, sent together:
# its overview table with the timeline, and its grids)
MAIN = {
    "/": ("ov-design.figure",),
    "/trajectories": ("traj-graph.figure",),
    "/comparison": ("cmp-fig.figure",),
    "/safety": ("ae-timeline.figure", "ae-incidence-grid.rowData"),
    "/patient": ("pt-figure.figure",),
}
PAGE_NAMES = {"/": "overview", "/trajectories": "trajectories", "/comparison": "comparison", "/safety": "safety", "/patient": "patient"}
# page path -> the control changed in the "param" interaction
PARAM_CONTROL = {"/trajectories": "traj-param.value", "/comparison": "cmp-param.value", "/safety": "ae-threshold.value",
                 "/patient": "pt-patient.value"}


def main_output(payload: dict, path: str) -> str | None:
    """The main output this payload updates, or None when it is not a main callback of the page."""
    key = payload["output"]
    return next((o for o in MAIN.get(path, ()) if o in key), None)


def _other_option(props: dict, control: str):
    cid, prop = control.rsplit(".", 1)
    p = props.get(cid, {})
    current = p.get(prop)
    for o in p.get("options") or []:
        v = o.get("value") if isinstance(o, dict) else o
        if isinstance(o, dict) and o.get("disabled"):
            continue
        if v != current and v not in (None, 0):
            return v
    return None


class Plan:
    """The filter states and control values of the four interactions, read from the app itself."""

    def __init__(self, em: Emulator):
        self.em = em
        shell = em.shell
        store = shell["filter-state"]["data"]
        arms = [o["value"] for o in shell["f-arm"]["options"]]
        visits = em.visits()
        mid = min(visits, key=lambda v: abs(v - 24))
        pats = shell["f-patient"]["options"]
        # one patient of the first arm, one of the last (the option label ends with the arm)
        labels = [a["label"] for a in shell["view-spec"]["data"]["arms"]]  # (the arm boxes show a marker too)
        first = next(o["value"] for o in pats if o["label"].endswith(" · " + labels[0]))
        last = next(o["value"] for o in pats if o["label"].endswith(" · " + labels[-1]))
        self.states = {
            "default": store,
            "filter": {"arms": [arms[0], arms[-1]], "weeks": [visits[0], mid], "patients": []},
            "param": store,
            "patient": {**store, "patients": sorted({first, last})},
        }

    def payloads(self, path: str, scenario: str) -> list[tuple[str, dict]]:
        """[(main output, payload)] of the page's main callbacks fired by the interaction."""
        if path not in self.em.paths:
            return []  # a page this app does not have
        controls, changed = None, None
        if scenario == "param":
            control = PARAM_CONTROL.get(path)
            if control is None:
                return []  # the page has no such control (Overview)
            _page, props = self.em.page_props(path)
            value = _other_option(props, control)
            if value is None:
                return []
            controls, changed = {control: value}, [control]
        elif scenario in ("filter", "patient"):
            changed = ["filter-state.data"]
        state = self.states[scenario]
        fired = self.em.page_callbacks(path, state, controls, changed)
        # Callbacks that feed the main ones (e.g. the visit pickers of the Cells page) answer first,
        # as in the browser; the main callbacks then carry the values they set.
        settled = {}
        for p in fired:
            if main_output(p, path) is None:
                r = self.em.post(p)
                if r.status_code == 200:
                    settled.update({f"{cid}.{prop}": v for cid, props in r.json()["response"].items()
                                    for prop, v in props.items()})
        if settled:
            controls = {**(controls or {}), **settled}
            changed = [*changed, *settled] if changed else None
            fired = self.em.page_callbacks(path, state, controls, changed)
        return [(main_output(p, path), p) for p in fired if main_output(p, path) is not None]


class FlaskSession:
    """requests-like wrapper of a Flask test client, for the in-process measurements."""

    class _Resp:
        def __init__(self, r):
            self._r, self.status_code, self.content = r, r.status_code, r.get_data()

        def json(self):
            return json.loads(self.content)

    def __init__(self, client):
        self.client = client

    def get(self, url, **_kw):
        return self._Resp(self.client.get(url))

    def post(self, url, data=None, headers=None, **_kw):
        return self._Resp(self.client.post(url, data=data, content_type="application/json"))
