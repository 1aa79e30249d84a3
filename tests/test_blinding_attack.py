"""The blinded view under attack (review of issue 20): variables that tell the arms apart without being
named for them, in the forms sponsors' data really takes.

- A per-arm variable (a cohort, a dose group, a flag for the arms with one drug) with a value missing for a
  subject or two is still the same for every other subject of its arm: it still tells the arms.
- Dose levels nested in the arms (two per arm) are more values than arms, each value within one arm.
- ADaM copies ADSL variables into ADAE: a variable withheld from ADSL must leave the adverse events too.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from data import blinding
from data.study import DEFAULT_DATA, load_study


@pytest.fixture(scope="module")
def full():
    return load_study(DEFAULT_DATA)


def with_adsl(study, **columns):
    return dataclasses.replace(study, adsl=study.adsl.assign(**columns))


def test_a_per_arm_variable_with_a_missing_value_is_still_withheld(full):
    code = full.adsl["ARMCODE"].astype(str)
    cohort = code.map({"BEL": "C1", "IL2": "C2", "BELIL2": "C3"}).astype(object)
    cohort.iloc[0] = None  # one subject's cohort not recorded
    belfl = code.str.startswith("BEL").map({True: "Y", False: ""}).astype(object)
    belfl.iloc[int(np.flatnonzero(code.to_numpy() == "BEL")[0])] = ""  # the flag left blank for one subject
    view = blinding.pooled(with_adsl(full, COHORT=cohort, BELFL=belfl))
    assert not {"COHORT", "BELFL"} & set(view.adsl.columns)
    assert {"SEX", "RACE", "AGE", "LNHISTFL", "DCSREAS", "DTHFL", "EOSSTT"} <= set(view.adsl.columns)


def test_dose_levels_nested_in_the_arms_are_withheld(full):
    code = full.adsl["ARMCODE"].astype(str)
    level = code.map({"BEL": 1.0, "IL2": 3.0, "BELIL2": 5.0}) + (np.arange(len(code)) % 2)  # two levels per arm
    view = blinding.pooled(with_adsl(full, DOSLVL=level))
    assert "DOSLVL" not in view.adsl.columns


def test_a_variable_withheld_from_adsl_leaves_the_adverse_events_too(full):
    grp = dict(zip(full.adsl["USUBJID"], full.adsl["ARMCODE"].astype(str).map({"BEL": 1, "IL2": 2, "BELIL2": 3})))
    study = dataclasses.replace(with_adsl(full, COHORT=full.adsl["USUBJID"].map(grp), DOSGRP="x"),
                                adae=full.adae.assign(COHORT=full.adae["USUBJID"].map(grp)))
    view = blinding.pooled(study)
    assert "COHORT" not in view.adsl.columns and "COHORT" not in view.adae.columns
    assert "COHORT" not in view.var_labels.get("ADAE", {})
    assert any("COHORT" in line and "ADAE" in line for line in view.withheld)


@pytest.fixture(scope="module")
def with_pk(tmp_path_factory):
    """LSO-088 with drug concentrations (ADPC) and an exposure summary (ADEXSUM) as parameter datasets, as
    sponsors deliver them: a concentration or a total dose tells the arm at a glance."""
    import shutil

    import pandas as pd

    folder = tmp_path_factory.mktemp("pk") / "lso088"
    shutil.copytree(DEFAULT_DATA, folder)
    (folder / "LOCK.json").unlink()
    adlb = pd.read_parquet(folder / "adlb.parquet")
    rows = adlb[adlb["PARAMCD"] == "IGG"].copy()
    on_il2 = rows["TRT01A"].str.contains("IL2")
    pc = rows.assign(PARAMCD="IL2C", PARAM="IL-2 serum concentration (pg/mL)", PARCAT1="PK",
                     AVAL=on_il2.map({True: 40.0, False: 0.0}), BASE=0.0, CHG=None, PCHG=None)
    pc.to_parquet(folder / "adpc.parquet", index=False)
    ex = rows.assign(PARAMCD="TOTDOSE", PARAM="Total belimumab dose (mg)", PARCAT1="EXPOSURE",
                     AVAL=rows["TRT01A"].str.contains("Belimumab").map({True: 4000.0, False: 0.0}))
    ex.to_parquet(folder / "adexsum.parquet", index=False)
    return load_study(folder)


def test_drug_levels_and_exposure_summaries_are_withheld_from_the_blinded_view(with_pk):
    assert {"IL2C", "TOTDOSE"} <= set(with_pk.params)  # the full view offers them
    view = blinding.pooled(with_pk)
    assert not {"IL2C", "TOTDOSE"} & set(view.params)
    for frame in (view.measurements, view.off_axis, view.imputed, view.other_measurements):
        if frame is not None and "PARAMCD" in frame.columns:
            assert not {"IL2C", "TOTDOSE"} & set(frame["PARAMCD"].astype(str))
    assert not {"ADPC", "ADEXSUM"} & {d.upper() for d in view.datasets}
    assert any("ADPC" in line and "ADEXSUM" in line for line in view.withheld)


def test_a_parameter_named_for_a_treatment_is_withheld_and_no_other(full):
    p = next(iter(full.params.values()))
    named = dataclasses.replace(p, code="ADA", name="Anti-belimumab antibodies (titre)")
    ldl = dataclasses.replace(p, code="LDL", name="Low-density lipoprotein (mmol/L)")
    arms = tuple(dataclasses.replace(a, code="LOW") if a.code == "IL2" else a for a in full.arms)
    view = blinding.pooled(dataclasses.replace(full, params={**full.params, "ADA": named, "LDL": ldl}, arms=arms))
    assert "ADA" not in view.params and "LDL" in view.params
    assert set(full.params) <= set(view.params)  # LSO-088's own parameters name no treatment


def test_dash_mcp_stays_off_in_both_views_whatever_the_environment(tmp_path, monkeypatch):
    """Dash 4 reads DASH_MCP_ENABLED: a machine-control endpoint would answer for either app."""
    from app import create_app
    from blinded_fixture import blinded_copy, deployment_env, signed_in

    for k, v in {**deployment_env(tmp_path), "DASH_MCP_ENABLED": "true", "DASH_MCP_PATH": "/_mcp"}.items():
        monkeypatch.setenv(k, v)
    app = create_app(blinded_copy(tmp_path / "lso088", sort_by_arm=False))
    for srv in (app.server, app.server.config["BLINDED_APP"].server):
        assert not [r for r in srv.url_map.iter_rules() if "mcp" in str(r).lower()]
    bob = signed_in(app.server, "bob")
    page = bob.get("/_mcp")  # any unknown path is the app's own page (Dash's catch-all), not an endpoint
    assert page.mimetype == "text/html" and "jsonrpc" not in page.get_data(as_text=True)
    r = bob.post("/_mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code in (404, 405) and "jsonrpc" not in r.get_data(as_text=True)
