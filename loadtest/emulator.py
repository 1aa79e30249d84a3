"""A minimal stand-in for the browser: loads a page the way dash-renderer does.

It reads the app's callback graph (/_dash-dependencies) and layouts, then fires every
callback whose inputs are on the page, with the values the components hold. Used by the
load test and the benchmark, so both send exactly what a browser sends on page load and
on a filter change.
"""

from __future__ import annotations

import json
import random

FILTER_STATES = [
    {"arms": [], "weeks": [0.0, 48.0], "patients": []},
    {"arms": ["BELIL2"], "weeks": [0.0, 48.0], "patients": []},
    {"arms": ["BEL", "BELIL2"], "weeks": [0.0, 24.0], "patients": []},
    {"arms": [], "weeks": [0.0, 48.0], "patients": ["LSO-088-003", "LSO-088-017"]},
    {"arms": ["IL2"], "weeks": [4.0, 36.0], "patients": []},
]


def walk(node, out: dict) -> dict:
    """Collect {component id (str or JSON of a dict id): props} from a layout tree."""
    if isinstance(node, list):
        for n in node:
            walk(n, out)
    elif isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and "type" in node:
            cid = props.get("id")
            if cid is not None:
                out[cid if isinstance(cid, str) else json.dumps(cid, sort_keys=True)] = props
            for v in props.values():
                walk(v, out)
    return out


class Emulator:
    def __init__(self, session, base: str):
        """session: anything with .get/.post returning objects with .json() / .status_code."""
        self.s, self.base = session, base.rstrip("/")
        self.deps = self.s.get(self.base + "/_dash-dependencies").json()
        self.shell = walk(self.s.get(self.base + "/_dash-layout").json(), {})
        self.paths = [props["href"] for cid, props in self.shell.items() if cid.startswith("nav-")]

    def _payload(self, cb, props: dict, overrides: dict, changed: list | None = None) -> dict | None:
        def value(item):
            k = f"{item['id']}.{item['property']}"
            if k in overrides:
                return overrides[k]
            return props.get(item["id"], {}).get(item["property"])

        if any(not isinstance(i["id"], str) or i["id"] not in props for i in cb["inputs"]):
            return None
        outs = cb["output"][2:-2].split("...") if cb["output"].startswith("..") else [cb["output"]]
        outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in outs]
        return {
            "output": cb["output"],
            "outputs": outputs if cb["output"].startswith("..") else outputs[0],
            "inputs": [{**i, "value": value(i)} for i in cb["inputs"]],
            "state": [{**s, "value": value(s)} for s in cb.get("state", [])],
            "changedPropIds": list(changed or []),
        }

    def post(self, payload: dict, name: str | None = None):
        kw = {"name": name} if name and "locust" in type(self.s).__module__ else {}
        return self.s.post(self.base + "/_dash-update-component", data=json.dumps(payload),
                           headers={"Content-Type": "application/json"}, **kw)

    def page_props(self, path: str) -> tuple[dict, dict]:
        """(the page's own components, shell + page components): {id: props} after the router answers."""
        route = next(c for c in self.deps if c["output"] == "page-content.children")
        r = self.post(self._payload(route, {"url": {"pathname": path}}, {}), name="router")
        page = walk(r.json()["response"]["page-content"]["children"], {})
        return page, {**self.shell, **page}

    def page_callbacks(self, path: str, filter_state: dict | None = None, controls: dict | None = None,
                       changed: list[str] | None = None) -> list[dict]:
        """Payloads a browser sends after navigating to ``path`` (router, then the page's callbacks).

        ``controls`` ({"id.prop": value}) overrides what the page's components hold. With
        ``changed`` (["id.prop", ...]) only the callbacks a change of those properties fires are
        returned, with ``changedPropIds`` set as dash-renderer sets it.
        """
        page, props = self.page_props(path)
        overrides = {"filter-state.data": filter_state or FILTER_STATES[0], **(controls or {})}
        payloads = []
        for cb in self.deps:
            if cb.get("clientside_function") or cb["output"] == "page-content.children":
                continue
            if cb.get("prevent_initial_call"):
                continue
            # Fired only when its outputs are on this page, as dash-renderer does.
            outs = cb["output"][2:-2].split("...") if cb["output"].startswith("..") else [cb["output"]]
            if not all(o.rsplit(".", 1)[0] in props for o in outs):
                continue
            if not any(o.rsplit(".", 1)[0] in page for o in outs):
                continue
            if changed and not any(f"{i['id']}.{i['property']}" in changed for i in cb["inputs"]):
                continue
            p = self._payload(cb, props, overrides, changed)
            if p is not None:
                payloads.append(p)
        return payloads

    def visits(self) -> list[float]:
        """The stops of the filter's timepoint window (its From/To pickers)."""
        return sorted(float(o["value"]) for o in self.shell.get("f-from", {}).get("options", []))

    @staticmethod
    def random_filter() -> dict:
        return random.choice(FILTER_STATES)

    def distinct_filter(self, rng: random.Random) -> dict:
        """A random valid filter from the study's own arms, visits and subjects: almost always a new
        one, so every request misses the cache (the cache-filling load)."""
        arms = [o["value"] for o in self.shell.get("f-arm", {}).get("options", [])]
        weeks = self.visits()
        subjects = [o["value"] for o in self.shell.get("f-patient", {}).get("options", [])]
        lo, hi = sorted(rng.sample(range(len(weeks)), 2)) if len(weeks) > 1 else (0, 0)
        return {"arms": sorted(rng.sample(arms, rng.randint(0, max(0, len(arms) - 1)))),
                "weeks": [weeks[lo], weeks[hi]] if weeks else [0.0, 0.0],
                "patients": sorted(rng.sample(subjects, rng.randint(0, min(3, len(subjects)))))}
