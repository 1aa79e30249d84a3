"""Empty between-arm results name the cause found in the data and the control or study.toml key that changes it.

The ANCOVA used to say "no subject in the reference arm Placebo" when Placebo had every subject but none
with a value at timepoint 1; the MMRM said "too few" or "degenerate" when the cause was missing baselines.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import neutral_builder as N
from app import create_app
from components import comparison as C
from conftest import CallbackClient
from data import filters as F


def app_without_baselines(tmp_path, arms):
    """The neutral study with ALT's baseline records (and BASE, CHG) removed for the subjects of ``arms``."""
    tables = N.build()
    lb = tables["adlb"]
    hit = (lb["PARAMCD"] == "ALT") & lb["TRT01A"].isin(arms)
    lb = lb[~(hit & (lb["ABLFL"] == "Y"))].copy()
    hit = (lb["PARAMCD"] == "ALT") & lb["TRT01A"].isin(arms)
    lb.loc[hit, ["BASE", "CHG"]] = np.nan
    tables["adlb"] = lb.reset_index(drop=True)
    app = create_app(N.write(tmp_path / "nobase", tables))
    return app, app.server.config["STUDY"], CallbackClient(app, app.server.test_client())


def traj_stats(cb, study):
    out = cb.outputs("traj-stats", "children", {
        "filter-state.data": F.default_state(study).to_store(), "traj-mode.value": "single", "traj-param.value": "ALT",
        "traj-params.value": [], "traj-scale.value": "chg", "traj-opts.value": [], "traj-patmode.value": "highlight",
        "traj-visit.value": "end", "traj-ref.value": "PBO", "traj-adjust.value": "holm", "traj-cov.value": "UN", "traj-ddfm.value": "kr"})
    return json.dumps(out, ensure_ascii=False)


def cmp_tables(cb, study):
    out = cb.outputs("cmp-fig", "figure", {
        "filter-state.data": F.default_state(study).to_store(), "cmp-view.value": "single", "cmp-param.value": "ALT",
        "cmp-visit-a.value": 0, "cmp-visit-b.value": 26, "cmp-annot.value": "within", "cmp-log.value": [],
        "cmp-scale.value": "pchg", "cmp-ref.value": "PBO"})
    return json.dumps(out["cmp-tables.children"], ensure_ascii=False)


def test_reference_arm_without_baselines(tmp_path):
    app, study, cb = app_without_baselines(tmp_path, ["Placebo"])
    n_ref = int((study.adsl["TRT01A"] == "Placebo").sum()) - 1  # one Placebo subject left at week 12
    text = cmp_tables(cb, study)
    assert (f"No ANCOVA: none of the {n_ref} subjects of the reference arm Placebo with a value at Week 26 has one "
            f"at Baseline (timepoint 1): choose another Timepoint 1") in text
    assert "no subject in the reference arm" not in text
    text = traj_stats(cb, study)
    assert (f"Not estimated: {n_ref} of the {n_ref} subjects of the reference arm Placebo with a value at Week 26 "
            f"have no baseline value (BASE)") in text
    assert "[visits] baseline in study.toml" in text


def test_most_subjects_without_baselines(tmp_path):
    app, study, cb = app_without_baselines(tmp_path, ["Xanomeline Low Dose", "Xanomeline High Dose"])
    text = traj_stats(cb, study)
    assert "post-baseline values" in text and "have no baseline value (BASE), too many for the model" in text
    assert "degenerate" not in text and "not of full rank" not in text


def test_a_result_that_is_there_gets_no_explanation(tmp_path):
    app = create_app(N.write(tmp_path / "ok"))
    study = app.server.config["STUDY"]
    cb = CallbackClient(app, app.server.test_client())
    assert "No ANCOVA" not in cmp_tables(cb, study) and "Not estimated" not in traj_stats(cb, study)
