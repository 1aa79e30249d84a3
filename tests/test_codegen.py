"""Show code: each page's generated script runs on its own (isolated Python, nothing from the app
importable) and its numbers equal the app's: summaries per arm × visit, p-values, estimates, counts."""

from __future__ import annotations

import ast
import io
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis import codegen as C
from analysis import safety as S
from analysis.descriptive import baseline_table, disposition_table
from analysis.exposure import dosing_segments
from analysis.multiplicity import adjust
from analysis.paired import format_p
from components import comparison, overview, safety, trajectories
from conftest import default_store
from data import filters as F
from test_trajectories_page import decode, text_of

ARMS = ["Belimumab", "Ld-IL2", "Belimumab + Ld-IL2"]

# Runs each script as ``python -I`` would (no PYTHONPATH, no current directory on sys.path) and
# pickles the frames it leaves behind; the scripts' own __main__ block (print, fig.show) is skipped.
RUNNER = r"""
import pickle, runpy, sys
import pandas as pd
out = {}
for path in sys.argv[1:]:
    ns = runpy.run_path(path, run_name="generated")
    keep = {}
    for k, v in ns.items():
        if isinstance(v, (pd.DataFrame, pd.Series)):
            keep[k] = v
        elif isinstance(v, dict) and v and all(isinstance(x, (pd.DataFrame, pd.Series)) for x in v.values()):
            keep[k] = v
        elif type(v).__name__ == "Figure":  # the boxes as drawn: the statistics each box trace carries
            keep[k + "_boxes"] = pd.DataFrame(
                [{"name": t.name, **{s: (t[s][0] if t[s] is not None else None)
                                     for s in ("q1", "median", "q3", "lowerfence", "upperfence")}}
                 for t in v.data if t.type == "box"], columns=["name", "q1", "median", "q3", "lowerfence", "upperfence"])
    out[path] = keep
sys.stdout.buffer.write(pickle.dumps(out))
"""

SERO_DEFAULT = dict(mode="single", param="IGG", params=["IGG", "C3", "DSDNA", "ANUA"], scale="raw", stat="mean",
                    opts=[], patmode="highlight", visit="end", ref="BEL", adjust="holm", cov="UN", ddfm="kr")
SERO_CASES = {
    "traj-default": (dict(), SERO_DEFAULT),
    "traj-multi": (dict(arms=["BEL", "BELIL2"], weeks=[0, 24]),
                   {**SERO_DEFAULT, "mode": "multi", "params": ["IGG", "C3", "DSDNA"], "scale": "pchg",
                    "visit": 12, "ref": "BELIL2", "adjust": "fdr_bh"}),
    "traj-log-restrict": (dict(patients=[f"LSO-088-{i:03d}" for i in range(1, 16)]),
                          {**SERO_DEFAULT, "param": "DSDNA", "opts": ["log"], "patmode": "restrict"}),
    "traj-ar1-satterthwaite": (dict(), {**SERO_DEFAULT, "mode": "multi", "params": ["C3", "SLEDAI"], "scale": "chg",
                                        "cov": "ARH1", "ddfm": "satterthwaite", "adjust": "none"}),
}
CELL_DEFAULT = dict(view="single", param="NAIVEB", va=0.0, vb=48.0, annot="within", log=[], scale="pchg", ref="BEL")
CELL_CASES = {
    "cells-default": (dict(), CELL_DEFAULT),
    "cells-grid": (dict(arms=["IL2", "BELIL2"]), {**CELL_DEFAULT, "view": "grid", "vb": 24.0, "scale": "chg",
                                                  "ref": "IL2", "annot": "between"}),
}
SAFETY_CASES = {"safety-default": dict(), "safety-window": dict(arms=["BEL", "IL2"], weeks=[12, 24])}
OVERVIEW_CASES = {"overview-default": dict(), "overview-arms": dict(arms=["IL2", "BELIL2"])}


def store(study, arms=(), weeks=None, patients=()):
    state, notices = F.from_values(list(arms), weeks, list(patients), study)
    assert not notices
    return state.to_store()


def sero_values(study, filt, ctl):
    return (store(study, **filt), ctl["mode"], ctl["param"], ctl["params"], ctl["scale"], ctl["stat"], ctl["opts"],
            ctl["patmode"], ctl["visit"], ctl["ref"], ctl["adjust"], ctl["cov"], ctl["ddfm"])


def cell_values(study, filt, ctl):
    return (store(study, **filt), ctl["view"], ctl["param"], ctl["va"], ctl["vb"], ctl["annot"], ctl["log"],
            ctl["scale"], ctl["ref"])


@pytest.fixture(scope="module")
def scripts(study):
    out = {}
    for name, (filt, ctl) in SERO_CASES.items():
        out[name] = trajectories.code_script(study, *sero_values(study, filt, ctl))
    for name, (filt, ctl) in CELL_CASES.items():
        out[name] = comparison.code_script(study, *cell_values(study, filt, ctl))
    for name, filt in SAFETY_CASES.items():
        out[name] = safety.code_script(study, store(study, **filt))
    for name, filt in OVERVIEW_CASES.items():
        out[name] = overview.code_script(study, store(study, **filt))
    return out


@pytest.fixture(scope="module")
def results(scripts, tmp_path_factory):
    """Every script run once, in one isolated interpreter, from an empty folder."""
    folder = tmp_path_factory.mktemp("scripts")
    paths = {}
    for name, text in scripts.items():
        p = folder / f"{name}.py"
        p.write_text(text)
        paths[name] = str(p)
    proc = subprocess.run([sys.executable, "-I", "-c", RUNNER, *paths.values()], cwd=folder, capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    got = pickle.loads(proc.stdout)
    return {name: got[path] for name, path in paths.items()}


# -- the scripts themselves ------------------------------------------------------------------------
def test_scripts_are_plain_python_without_app_imports(scripts):
    allowed = {"os", "sys", "importlib", "pathlib", "itertools", "numpy", "pandas", "plotly", "scipy", "statsmodels"}
    for name, text in scripts.items():
        tree = ast.parse(text)
        mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert mods <= allowed, (name, mods - allowed)
        assert text.startswith("# LSO-088 · ") and "# SIMULATED DATA — not the trial's results." in text
        assert "# Filters: " in text
        assert max(len(line) for line in text.splitlines()) <= 130, name
        assert len(text.splitlines()) < 220, name  # short enough to read
        if name.startswith(("traj", "cells")):  # statistics from the app's self-contained modules, said so
            assert "# Statistics: the app's own rank-test (ranktests.py) and MMRM (mmrm.py) modules" in text


def test_header_records_filters_and_lock(study, scripts):
    text = scripts["traj-multi"]
    assert f"fingerprint {study.lock.short}" in text
    assert "# Filters: Belimumab, Belimumab + Ld-IL2; weeks 0–24; all patients." in text
    assert "REFERENCE = 'Belimumab + Ld-IL2'" in text and "'fdr_bh'" in text
    assert C.filter_text(study, F.from_store(store(study, arms=["BEL"], weeks=[0, 24]), study)) == \
        "Belimumab; weeks 0–24; all patients"


def test_strings_reach_the_script_only_as_literals(study):
    """A hostile label cannot become code: literals by repr(), comments on one printable line."""
    evil = "x'] ; import os; os.system('echo pwned') #\nprint('owned')"
    assert ast.literal_eval(C.lit([evil, 1.5, ("a",)])) == [evil, 1.5, ("a",)]
    line = "# " + C.comment(evil)
    assert "\n" not in line and len(ast.parse(line).body) == 0
    for value in ([evil] * 12, {evil: evil}, evil):
        tree = ast.parse("\n".join(C.assign("ARMS", value, evil)))
        assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)
        assert ast.literal_eval(tree.body[0].value) == value


# -- Serology --------------------------------------------------------------------------------------
def _csv_frame(cb, study, filt, ctl):
    s = sero_values(study, filt, ctl)
    keys = ["filter-state.data", "traj-mode.value", "traj-param.value", "traj-params.value", "traj-scale.value",
            "traj-stat.value", "traj-opts.value", "traj-patmode.value"]
    out = cb.outputs("traj-download", "data", {"traj-csv-btn.n_clicks": 1}, state=dict(zip(keys, s[:8])))
    text = out["traj-download.data"]["content"]
    return pd.read_csv(io.StringIO(text), comment="#")


@pytest.mark.parametrize("case", list(SERO_CASES))
def test_serology_script_reproduces_summaries(cb, study, results, case):
    filt, ctl = SERO_CASES[case]
    app = _csv_frame(cb, study, filt, ctl)
    summaries = results[case]["summaries"]
    assert set(summaries) == set(app["PARAMCD"])
    for code, s in summaries.items():
        a = app[app["PARAMCD"] == code].set_index(["Arm", "Week"]).sort_index()
        s = s.set_index(["ARM", "TIME"]).sort_index()
        assert list(s.index) == list(a.index)
        assert (s["n"].to_numpy() == a["n"].to_numpy()).all()
        for mine, theirs in (("mean", "Mean"), ("sd", "SD"), ("ci_low", "CI95 low"), ("ci_high", "CI95 high"),
                             ("median", "Median"), ("q1", "Q1"), ("q3", "Q3")):
            np.testing.assert_allclose(s[mine].to_numpy(float), a[theirs].to_numpy(float), rtol=1e-9, atol=1e-9,
                                       err_msg=f"{case} {code} {mine}")
        if "gmean" in s:
            np.testing.assert_allclose(s["gmean"].to_numpy(float), a["Geometric mean"].to_numpy(float), rtol=1e-9)
            np.testing.assert_allclose(s["gci_low"].to_numpy(float), a["GM CI95 low"].to_numpy(float), rtol=1e-9)


def test_serology_script_reproduces_the_figure_lines(cb, study, results):
    filt, ctl = SERO_CASES["traj-default"]
    s = sero_values(study, filt, ctl)
    keys = ["filter-state.data", "traj-mode.value", "traj-param.value", "traj-params.value", "traj-scale.value",
            "traj-stat.value", "traj-opts.value", "traj-patmode.value"]
    out = cb.outputs("traj-graph", "figure", dict(zip(keys, s[:8])))
    fig = go.Figure(decode(out["traj-graph.figure"]))
    summ = results["traj-default"]["summaries"]["IGG"]
    for t in (t for t in fig.data if t.name in ARMS):
        np.testing.assert_allclose(np.asarray(t.y, float), summ.loc[summ["ARM"] == t.name, "mean"].to_numpy(float),
                                   rtol=1e-12)


def _app_stats(study, filt, ctl):
    """What the stats callback computes, with the multiplicity it applies across parameters."""
    state = F.from_store(store(study, **filt), study)
    c = trajectories.clean_controls(study, ctl["mode"], ctl["param"], ctl["params"], ctl["scale"], "mean", ctl["opts"],
                                ctl["patmode"])
    sc = trajectories.clean_stats_controls(study, ctl["ref"], ctl["visit"], ctl["adjust"], ctl["cov"], ctl["ddfm"])
    labels, subjects, _, _ = trajectories._population(study, state, c["patmode"])
    ref = study.arm_by_code[sc["ref"]].label
    outcome = "PCHG" if c["scale"] == "pchg" else "CHG"
    return [trajectories.param_stats(study, code, labels, subjects, state.weeks, sc["visit"], ref, c["log"], outcome,
                                     structure=sc["cov"], df_method=sc["ddfm"]) for code in c["codes"]], c, sc


@pytest.mark.parametrize("case", list(SERO_CASES))
def test_serology_script_reproduces_the_statistics(cb, study, results, case):
    filt, ctl = SERO_CASES[case]
    app, c, sc = _app_stats(study, filt, ctl)
    within = results[case]["within"].set_index(["PARAMCD", "ARM"])
    mmrm = results[case]["mmrm"].set_index(["PARAMCD", "ARM"])
    assert len(mmrm) >= len(app) and within["p_wilcoxon"].notna().sum() >= 2 * len(app)
    method = sc["adjust"] if len(app) > 1 else "none"
    shown = []
    for i, res in enumerate(app):
        for x in res["within"]:
            row = within.loc[(res["code"], x["arm"])]
            w, t = x["w"], x["t"]
            assert row["n_pairs"] == w.n_pairs
            if not w.ok:
                continue
            assert row["p_wilcoxon"] == pytest.approx(w.p_value, rel=1e-9)
            assert (row["hl"], row["hl_low"], row["hl_high"]) == pytest.approx((w.estimate, w.ci_low, w.ci_high), nan_ok=True)
            assert row["p_t"] == pytest.approx(t.p_value, rel=1e-9)
            assert (row["t_estimate"], row["t_low"], row["t_high"]) == pytest.approx((t.estimate, t.ci_low, t.ci_high), nan_ok=True)
            shown += [format_p(w.p_value), format_p(t.p_value)]
        for con in (res["mmrm"].contrasts if res["mmrm"] is not None else ()):
            if not con.ok:
                continue
            row = mmrm.loc[(res["code"], con.arm)]
            # the same module on the same rows (another process: the optimum agrees to rounding, ~1e-11)
            assert row["df"] == pytest.approx(con.df, rel=1e-8)
            assert row["estimate"] == pytest.approx(con.estimate, rel=1e-9, abs=1e-12)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((con.ci_low, con.ci_high), rel=1e-9, abs=1e-12)
            assert row["p"] == pytest.approx(con.p_value, rel=1e-8, abs=1e-15)
            assert row["covariance"] == res["mmrm"].structure
            shown.append(format_p(con.p_value))
    if method != "none":  # the script's adjusted p-values equal the app's families (per test and arm)
        for arm in {x["arm"] for r in app for x in r["within"]}:
            ps = [next(x["w"].p_value for x in r["within"] if x["arm"] == arm) for r in app]
            adj = adjust(ps, method)
            mine = [within.loc[(r["code"], arm)].get("p_wilcoxon_adj") for r in app]
            np.testing.assert_allclose(np.asarray(mine, float), np.asarray(adj, float), rtol=1e-9)
    # and those are the p-values the page shows
    keys = ["filter-state.data", "traj-mode.value", "traj-param.value", "traj-params.value", "traj-scale.value",
            "traj-opts.value", "traj-patmode.value", "traj-visit.value", "traj-ref.value", "traj-adjust.value",
            "traj-cov.value", "traj-ddfm.value"]
    v = sero_values(study, filt, ctl)
    out = cb.outputs("traj-stats", "children", dict(zip(keys, [v[0], *v[1:5], *v[6:]])))
    page = text_of(out["traj-stats.children"])
    assert all(p in page for p in shown)


# -- Cell subsets -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CELL_CASES))
def test_cells_script_reproduces_boxes_and_statistics(study, results, case):
    filt, ctl = CELL_CASES[case]
    state = F.from_store(store(study, **filt), study)
    codes = comparison.subset_codes(study) if ctl["view"] == "grid" else [ctl["param"]]
    ref, _ = comparison._reference(study, state, ctl["ref"])
    got = results[case]
    boxes = got["boxes"].set_index(["PARAMCD", "ARM", "TIME"])
    within = got["within"].set_index(["PARAMCD", "ARM"])
    between = got["between"].set_index(["PARAMCD", "ARM", "vs"])
    ancova = got["ancova"].set_index(["PARAMCD", "ARM"])
    drawn_boxes = got["fig_boxes"].set_index("name")
    for code in codes:
        res = comparison.analyse(study, code, ctl["va"], ctl["vb"], state.arm_labels(study), comparison.population(study, state),
                            ref, ctl["scale"])
        summ = comparison.summary_numbers(res).set_index("ARM")
        for arm, w in zip(res.arms, res.within):
            for tag, v in (("1", ctl["va"]), ("2", ctl["vb"])):
                b = boxes.loc[(code, arm, v)]
                assert b["n"] == summ.loc[arm, f"N{tag}"]
                assert (b["median"], b["q1"], b["q3"]) == pytest.approx(
                    (summ.loc[arm, f"MEDIAN{tag}"], summ.loc[arm, f"Q1_{tag}"], summ.loc[arm, f"Q3_{tag}"]))
                if ctl["view"] == "single":  # the box drawn is the page's: type-7 quartiles, 1.5 IQR whiskers
                    page = comparison.box_summary(res.values.loc[(res.values["ARM"] == arm)
                                                                 & (res.values["TIME"] == v), "AVAL"], 0)
                    drawn = drawn_boxes.loc[f"{arm} · week {v:g}"]
                    assert [drawn[s] for s in ("q1", "median", "q3", "lowerfence", "upperfence")] == pytest.approx(
                        [page[s][0] for s in ("q1", "median", "q3", "lowerfence", "upperfence")])
            row = within.loc[(code, arm)]
            assert row["n_pairs"] == w.n_pairs
            assert row["median_chg"] == pytest.approx(summ.loc[arm, "MEDIAN_CHG"])
            if w.ok:
                assert row["p_wilcoxon"] == pytest.approx(w.p_value, rel=1e-9)
                assert (row["hl"], row["hl_low"], row["hl_high"]) == pytest.approx((w.estimate, w.ci_low, w.ci_high), nan_ok=True)
        for t in res.between.pairs:
            row = between.loc[(code, t.b, t.a)]
            if t.ok:
                assert row["p_mann_whitney"] == pytest.approx(t.p_value, rel=1e-9)
                assert row["p_holm"] == pytest.approx(t.p_adjusted, rel=1e-9)
                assert row["hl_shift"] == pytest.approx(t.estimate)
            if res.between.kruskal.ok:
                assert row["p_kruskal"] == pytest.approx(res.between.kruskal.p_value, rel=1e-9)
        for con in res.between.ancova.contrasts:
            row = ancova.loc[(code, con.arm)]
            assert (row["estimate"], row["ci_low"], row["ci_high"], row["p"]) == pytest.approx(
                (con.estimate, con.ci_low, con.ci_high, con.p_value), rel=1e-7)


# -- Safety ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(SAFETY_CASES))
def test_safety_script_reproduces_the_timeline(cb, study, results, case):
    st = store(study, **SAFETY_CASES[case])
    out = cb.outputs("ae-timeline", "figure", {"filter-state.data": st})
    fig = go.Figure(decode(out["ae-timeline.figure"]))
    app_bars = {t.name: len(t.y) for t in fig.data if isinstance(t, go.Bar) and t.name.startswith("Grade")}
    got = results[case]
    assert got["by_severity"].to_dict() == app_bars
    state = F.from_store(st, study)
    pop = safety._population(study, state)
    events = S.timeline_events(study.adae, pop, safety._window(state, study))
    counts = got["counts"]
    for arm in state.arm_labels(study):
        assert counts.loc[arm, "N"] == (pop["ARM"] == arm).sum()
        assert counts.loc[arm, "events"] == (events["ARM"] == arm).sum()
        assert counts.loc[arm, "subjects with an AE"] == events.loc[events["ARM"] == arm, "USUBJID"].nunique()


# -- Overview -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(OVERVIEW_CASES))
def test_overview_script_reproduces_design_and_tables(study, results, case):
    state = F.from_store(store(study, **OVERVIEW_CASES[case]), study)
    labels, subjects = state.arm_labels(study), state.subjects(study)
    got = results[case]
    seg = dosing_segments(study.adex, labels)
    for (arm, trt), d in seg.groupby(["ARM", "EXTRT"]):
        weeks = np.concatenate([np.asarray(w, float) for w in d["dose_weeks"]])
        mine = got["schedule"].set_index(["ARM", "EXTRT"]).loc[(arm, trt), "weeks"]
        np.testing.assert_allclose(np.unique(mine), np.unique(weeks))
    specs = overview._baseline_specs(study)
    base = baseline_table(study.adsl, study.measurements, labels, subjects, specs).set_index("Characteristic")
    cont = got["continuous"]
    cols = [c for c in base.columns if c != "Statistic"]
    meas = study.measurements
    rows = [("Age (years)", "mean", 1), ("Disease duration (years)", "median", 1)]
    params = [(sp.name, sp.label, sp.statistic) for sp in specs if sp.source == "parameter"]
    for code, label, kind in params:  # the app's decimals: 2 below a median of 10, else 1
        vals = meas.loc[(meas["ABLFL"] == "Y") & (meas["PARAMCD"] == code) & meas["USUBJID"].isin(subjects), "AVAL"]
        rows.append((label, kind, 2 if vals.abs().median() < 10 else 1))
    for label, kind, dec in rows:
        for col, group in zip(cols, [*labels, "Total"]):
            x = cont.loc[label][group]
            mine = (f"{x['mean']:.{dec}f} ({x['sd']:.{dec}f})" if kind == "mean"
                    else f"{x['median']:.{dec}f} [{x['q1']:.{dec}f}, {x['q3']:.{dec}f}]")
            assert mine == base.loc[label, col], (case, label, group)
    disp = disposition_table(study.adsl, labels, subjects).set_index("Status")
    eos = got["counts"]["EOSSTT"]
    for col, group in zip([c for c in disp.columns], [*labels, "Total"]):
        for status in ("COMPLETED", "DISCONTINUED"):
            n = int(eos.loc[status, group]) if status in eos.index else 0
            assert disp.loc[status.capitalize(), col].split(" ")[0] == str(n)
