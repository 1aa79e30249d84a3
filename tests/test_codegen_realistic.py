"""Show code under the ADaMIG record selection: on the realistic studies (timepoints, several BASETYPEs, a
by-visit analysis flag, an unscheduled baseline, visit numbers that are not weeks, LOCF records, screen failures,
safety-only subjects), each generated script, run on its own, gives the numbers the pages show."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import realistic as R
from app import create_app
from components import comparison, overview, trajectories
from conftest import CallbackClient
from data import filters as F
from test_codegen import RUNNER

FORMATS = ("csv", "xpt5")
PAGES_TOML = '[pages.trajectories]\ndatasets = ["ADLB", "ADVS", "ADQS"]\n'
# (mode, param, params, scale, opts, visit): a timepoint parameter, a flagged lab with an unscheduled baseline,
# the ADAS-Cog with and without the sponsor's LOCF records
TRAJ = {
    "sysbp-tp": ("single", "SYSBP@2", ["SYSBP@2"], "chg", [], "end"),
    "multi": ("multi", "ALT", ["ALT", "HGB", "SYSBP@3", "ACTOT"], "raw", [], 12.0),
    "actot-locf": ("single", "ACTOT", ["ACTOT"], "raw", ["imputed"], "end"),
    "actot-locf-chg": ("multi", "ACTOT", ["ACTOT", "ALT"], "chg", ["imputed"], 26.0),
}


@pytest.fixture(scope="module", params=FORMATS)
def combined(request, tmp_path_factory):
    d = R.write(tmp_path_factory.mktemp(f"cg-{request.param}") / "combined", R.COMBINED, request.param)
    (d / "study.toml").write_text(PAGES_TOML)
    app = create_app(d)
    study = app.server.config["STUDY"]
    state = F.default_state(study).to_store()
    scripts = {}
    for name, (mode, param, params, scale, opts, visit) in TRAJ.items():
        scripts[name] = trajectories.code_script(study, state, mode, param, params, scale, "mean", opts, "highlight",
                                                 visit, "Pbo", "holm")
    scripts["cmp"] = comparison.code_script(study, state, "single", "ALT", 0.0, 12.0, "within", [], "pchg", "Pbo")
    scripts["cmp-grid"] = comparison.code_script(study, state, "grid", "ALT", 0.0, 26.0, "between", [], "chg", "Pbo")
    scripts["overview"] = overview.code_script(study, state)
    folder = tmp_path_factory.mktemp(f"cg-scripts-{request.param}")
    paths = {}
    for name, text in scripts.items():
        p = folder / f"{name}.py"
        p.write_text(text)
        paths[name] = str(p)
    proc = subprocess.run([sys.executable, "-I", "-c", RUNNER, *paths.values()], cwd=folder, capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    got = pickle.loads(proc.stdout)
    return study, CallbackClient(app, app.server.test_client()), scripts, {n: got[p] for n, p in paths.items()}


def _csv(cb, study, mode, param, params, scale, opts):
    import io

    import pandas as pd

    keys = ["filter-state.data", "traj-mode.value", "traj-param.value", "traj-params.value", "traj-scale.value",
            "traj-stat.value", "traj-opts.value", "traj-patmode.value"]
    vals = [F.default_state(study).to_store(), mode, param, params, scale, "mean", opts, "highlight"]
    out = cb.outputs("traj-download", "data", {"traj-csv-btn.n_clicks": 1}, state=dict(zip(keys, vals)))
    return pd.read_csv(io.StringIO(out["traj-download.data"]["content"]), comment="#")


@pytest.mark.parametrize("name", list(TRAJ))
def test_trajectory_scripts_reproduce_the_summaries_and_pairs(combined, name):
    study, cb, scripts, results = combined
    mode, param, params, scale, opts, visit = TRAJ[name]
    app = _csv(cb, study, mode, param, params, scale, opts)
    summaries = results[name]["summaries"]
    assert set(summaries) == set(app["PARAMCD"])
    for code, s in summaries.items():
        a = app[app["PARAMCD"] == code].set_index(["Arm", "Week"]).sort_index()
        s = s.set_index(["ARM", "TIME"]).sort_index()
        assert list(s.index) == list(a.index), code
        assert (s["n"].to_numpy() == a["n"].to_numpy()).all(), code
        for mine, theirs in (("mean", "Mean"), ("sd", "SD"), ("median", "Median")):
            np.testing.assert_allclose(s[mine].to_numpy(float), a[theirs].to_numpy(float), rtol=1e-9, atol=1e-9,
                                       err_msg=f"{name} {code} {mine}")
    # the within-arm pairs and the mixed model's n, as the statistics panel computes them
    state = F.default_state(study)
    labels = [a.label for a in study.arms]
    subjects = tuple(study.adsl["USUBJID"])
    codes = [param] if mode == "single" else params
    within = results[name]["within"].set_index(["PARAMCD", "ARM"])
    for code in codes:
        res = trajectories.param_stats(study, code, labels, subjects, state.weeks,
                                       None if visit == "end" else float(visit), "Placebo", False,
                                       "PCHG" if scale == "pchg" else "CHG", imputed="imputed" in opts)
        for x in res["within"]:
            assert int(within.loc[(code, x["arm"]), "n_pairs"]) == x["w"].n_pairs, (name, code, x["arm"])
            if x["w"].ok:
                assert within.loc[(code, x["arm"]), "p_wilcoxon"] == pytest.approx(x["w"].p_value)
        mm = results[name]["mmrm"]
        if res["mmrm"] is not None and res["mmrm"].ok and len(mm):
            m = mm.set_index(["PARAMCD", "ARM"])
            for c in res["mmrm"].contrasts:
                if c.ok and (code, c.arm) in m.index:
                    assert (int(m.loc[(code, c.arm), "n_arm"]), int(m.loc[(code, c.arm), "n_ref"])) == \
                        (c.n_arm, c.n_ref)
    if "imputed" in opts:
        assert "imp = d[~base & d['DTYPE'].isin(['LOCF'])" in scripts[name]
        assert "observed = bds[bds['DTYPE'] == '']" in scripts[name]


def test_comparison_scripts_reproduce_boxes_and_pairs(combined):
    study, cb, scripts, results = combined
    state = F.default_state(study)
    for name, codes, va, vb, scale in (("cmp", ["ALT"], 0.0, 12.0, "pchg"),
                                       ("cmp-grid", comparison.subset_codes(study), 0.0, 26.0, "chg")):
        boxes = results[name]["boxes"].set_index(["PARAMCD", "ARM", "TIME"])
        within = results[name]["within"].set_index(["PARAMCD", "ARM"])
        for code in codes:
            res = comparison.analyse(study, code, va, vb, state.arm_labels(study), comparison.population(study, state),
                                     "Placebo", scale)
            summ = comparison.summary_numbers(res).set_index("ARM")
            for arm in res.arms:
                for tag, v in (("1", va), ("2", vb)):
                    n = boxes.loc[(code, arm, v), "n"] if (code, arm, v) in boxes.index else 0
                    assert n == summ.loc[arm, f"N{tag}"], (name, code, arm, v)
                assert within.loc[(code, arm), "n_pairs"] == summ.loc[arm, "N_PAIRS"], (name, code, arm)


def test_scripts_state_the_record_selection(combined):
    study, _, scripts, _ = combined
    text = scripts["multi"]
    for line in ("multi = d['PARAMCD'].isin(['DIABP', 'SYSBP']) & d['ATPTN'].notna()",
                 "BASETYPE = {'ALT': 'LAST', 'HGB': 'LAST'}",
                 "(d['ANL02FL'] == 'Y')",
                 "d.loc[base, 'TIME'] = 0.0",
                 "'WEEK 26': 26.0",
                 "d = d[d['USUBJID'].isin(POPULATION['safety'])]",
                 "d = d[d['USUBJID'].isin(POPULATION['efficacy'])]"):
        assert line in text, line
    assert "ANL01FL" not in text  # the worst-value flag is not the analysis record
