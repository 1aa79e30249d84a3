"""The all-parameters grid at the size of the issue's report: 30 parameters x 3 arms at 254 subjects.

The figure stays light (boxes from quartiles, no per-patient points, one trace per box), every panel
names the arms under it in words, unrotated, and the tables under it are the grid summary plus one
parameter's full statistics (the picker's), not a table pair per parameter. How fast the browser
draws it is measured by ``python -m bench.grid`` (README, Performance), not asserted here.
"""

from __future__ import annotations

import json

import pytest

from app import create_app
from components import comparison as C
from conftest import CallbackClient
from data import filters as F
from static_markup import decode_all

N_SUBJECTS, N_PARAMS = 254, 30


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from bench import scale
    folder = tmp_path_factory.mktemp("grid-scale") / "G"
    sizes = dict(scale.SIZES)
    scale.SIZES["G"] = (N_SUBJECTS, N_PARAMS, 7)
    try:
        scale.generate("G", folder)
    finally:
        scale.SIZES.clear()
        scale.SIZES.update(sizes)
    return create_app(folder)


def grid(app, code=None):
    study = app.server.config["STUDY"]
    codes = C.subset_codes(study)
    cb = CallbackClient(app, app.server.test_client())
    inputs = {"filter-state.data": F.default_state(study).to_store(), "cmp-view.value": "grid",
              "cmp-param.value": code or codes[0], "cmp-visit-a.value": study.visit_numbers[0],
              "cmp-visit-b.value": study.visit_numbers[-1], "cmp-annot.value": "within", "cmp-log.value": [],
              "cmp-scale.value": "pchg", "cmp-ref.value": C.default_reference(study)}
    r = cb.post("cmp-fig", "figure", inputs)
    assert r.status_code == 200
    return study, r


def test_grid_of_30_is_light_and_names_the_arms(app):
    study, r = grid(app)
    out = r.get_json()["response"]
    fig = out["cmp-fig"]["figure"]
    roles = [t.get("meta", {}).get("role") for t in fig["data"]]
    assert roles.count("box") == N_PARAMS * 6 and "points" not in roles and "pairs" not in roles
    assert all("q1" in t for t in fig["data"] if t.get("type") == "box")  # drawn from quartiles
    assert len(fig["data"]) <= N_PARAMS * 12
    axes = {k: v for k, v in fig["layout"].items() if k.startswith("xaxis") and v.get("visible", True)}
    assert len(axes) == N_PARAMS  # the last row's two empty cells are hidden
    for ax in axes.values():
        assert ax["tickangle"] == 0
        text = " ".join(ax["ticktext"]).replace("<br>", " ")
        assert all(a.label in text for a in study.arms)  # names, not codes
    caption = json.dumps(out["cmp-caption"]["children"])
    assert "drawn from their quartiles" in caption
    assert len(r.get_data()) < 600_000  # the whole response, tables included


def test_grid_tables_are_one_parameter_at_a_time(app):
    study, r = grid(app)
    codes = C.subset_codes(study)
    tables = json.dumps(decode_all(r.get_json()["response"]["cmp-tables"]["children"]))
    assert f"cmp-stats-{codes[0]}" in tables and f"cmp-stats-{codes[1]}" not in tables
    _, r = grid(app, codes[5])
    sent = r.get_json()["response"]["cmp-tables"]["children"]
    tables = json.dumps(decode_all(sent))
    assert f"cmp-stats-{codes[5]}" in tables and "cmp-grid-table" in tables
    assert f"cmp-stats-{codes[0]}" not in tables and len(json.dumps(sent)) < 120_000
