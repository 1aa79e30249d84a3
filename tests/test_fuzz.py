"""Fuzz the running server's callback endpoint: zero 5xx, no stack trace, still serving after.

Payloads come from hypothesis: well-formed requests for every registered callback with
random input values (these reach our own validation), and malformed requests of every
kind (random JSON, wrong outputs, missing fields, huge lists, long strings, deep nesting).
"""

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app as app_module
from data.study import DEFAULT_DATA

pytestmark = pytest.mark.slow
STATS = {"sent": 0, "5xx": 0, "trace": 0, "by_status": {}}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=60),
                    st.sampled_from(["BEL", "IL2", "BELIL2", "IGG", "NAIVEB", "LSO-088-001", "0-48", "48-0",
                                     "?arm=BEL", "/", "/trajectories", "/comparison", "/safety", "<script>", "__proto__"]))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=6) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                      max_leaves=12)


@pytest.fixture(scope="module")
def spec():
    a = app_module.create_app(DEFAULT_DATA)
    return {k: v for k, v in a.callback_map.items()}


def _send(url, body: str):
    r = requests.post(url + "/_dash-update-component", data=body.encode("utf-8", "surrogatepass"),
                      headers={"Content-Type": "application/json"}, timeout=30)
    STATS["sent"] += 1
    STATS["by_status"][r.status_code] = STATS["by_status"].get(r.status_code, 0) + 1
    if r.status_code >= 500:
        STATS["5xx"] += 1
    if "Traceback" in r.text or 'File "' in r.text:
        STATS["trace"] += 1
    return r


def _well_formed(key, cb, draw_value):
    outs = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in outs]
    return {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": [{"id": i["id"], "property": i["property"], "value": draw_value()} for i in cb["inputs"]],
        "state": [{"id": s["id"], "property": s["property"], "value": draw_value()} for s in cb.get("state", [])],
        "changedPropIds": [f"{cb['inputs'][0]['id']}.{cb['inputs'][0]['property']}"] if cb["inputs"] else [],
    }


def test_fuzz_well_formed_requests_with_random_values(live_server, spec):
    keys = sorted(spec)

    @settings(max_examples=1400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        key = data.draw(st.sampled_from(keys))
        body = _well_formed(key, spec[key], lambda: data.draw(values))
        r = _send(live_server, json.dumps(body))
        assert r.status_code < 500, (key, body, r.text[:300])

    run()


def test_fuzz_malformed_requests(live_server, spec):
    keys = sorted(spec)

    @settings(max_examples=600, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        kind = data.draw(st.integers(0, 5))
        key = data.draw(st.sampled_from(keys))
        body = _well_formed(key, spec[key], lambda: None)
        if kind == 0:
            raw = json.dumps(data.draw(values))
        elif kind == 1:  # wrong or missing fields
            for field in data.draw(st.lists(st.sampled_from(list(body)), max_size=3)):
                body.pop(field, None)
            raw = json.dumps(body)
        elif kind == 2:  # wrong outputs / ids
            body["outputs"] = data.draw(values)
            if body["inputs"]:
                body["inputs"][0]["id"] = data.draw(st.text(max_size=20))
            raw = json.dumps(body)
        elif kind == 3:  # huge lists and long strings as values
            for i in body["inputs"]:
                i["value"] = data.draw(st.sampled_from([list(range(50_000)), "x" * 200_000, ["LSO-088-001"] * 20_000]))
            raw = json.dumps(body)
        elif kind == 4:  # deeply nested JSON
            depth = data.draw(st.integers(50, 5000))
            raw = "[" * depth + "]" * depth
        else:  # bytes that are not JSON
            raw = data.draw(st.text(max_size=200))
        r = _send(live_server, raw)
        assert r.status_code < 500, (kind, raw[:300], r.text[:300])

    run()


def test_server_still_answers_and_report(live_server, spec):
    r = requests.get(live_server + "/_dash-layout", timeout=10)
    assert r.status_code == 200
    from conftest import REPORT

    REPORT.append(f"FUZZ: payloads sent {STATS['sent']}, 5xx {STATS['5xx']}, stack traces {STATS['trace']}, "
                  f"statuses {dict(sorted(STATS['by_status'].items()))}")
    assert STATS["sent"] >= 2000 and STATS["5xx"] == 0 and STATS["trace"] == 0
