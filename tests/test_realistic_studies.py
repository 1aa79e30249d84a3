"""Real ADaM studies as they are delivered (``realistic.py``): one per convention, and one combining them all,
each in XPT v5, parquet and CSV. What the pages show through the real callbacks (n per arm and visit, means,
baseline pairs, the position of each visit on the axis, arms and N, the patient profile's values) equals what
this test computes itself from the raw files with pandas by the ADaMIG rules, never with the app's functions.

The test's own reading of the rules: arms are TRT01A values that are treatment arms (not blank, not
"Screen Failure"); labs and vital signs are analysed in the safety population (SAFFL), the ADAS-Cog in the
efficacy population (EFFFL); a parameter's records are its baseline record (ABLFL = "Y", whatever its
visit) at week 0 and the observed records (DTYPE blank) at the visits named "Week N" at week N, for the
BASETYPE "LAST" and, where the define.xml says ANL02FL is the by-visit record, those with ANL02FL = "Y";
each ATPTN is its own parameter.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import realistic as R
from app import create_app
from conftest import CallbackClient
from data import filters as F
from data.study import check_folder, load_study
from test_trajectories_page import decode, find, rows_of, text_of

# The user's page choice (study.toml): the trajectory page offers labs, vital signs and the ADAS-Cog.
PAGES_TOML = '[pages.trajectories]\ndatasets = ["ADLB", "ADVS", "ADQS"]\n'
POPULATION = {"adlb": "SAFFL", "advs": "SAFFL", "adqs": "EFFFL"}
DATASET = {"ALT": "adlb", "HGB": "adlb", "SYSBP": "advs", "DIABP": "advs", "ACTOT": "adqs"}
ARM_CODE = dict(zip(R.ARMS, R.ARMCD))
CASES = [(s, f) for s in R.STUDIES for f in R.FORMATS]
IDS = [f"{s}-{f}" for s, f in CASES]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("realistic")
    out = {}
    for s, f in CASES:
        d = R.write(root / f"{s}-{f}", s, f)
        (d / "study.toml").write_text(PAGES_TOML)
        out[(s, f)] = d
    return out


_APPS: dict = {}


def app_for(folder):
    if folder not in _APPS:
        app = create_app(folder)
        _APPS[folder] = (app.server.config["STUDY"], CallbackClient(app, app.server.test_client()))
    return _APPS[folder]


# -- the test's own reading of the raw files ------------------------------------------------------------
def raw(folder) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("adsl", "adlb", "advs", "adqs"):
        d = R.read(folder, name)
        for c in d.columns:
            if d[c].dtype == object or pd.api.types.is_string_dtype(d[c]):
                d[c] = d[c].fillna("").astype(str).str.strip()
        out[name] = d
    return out


def arms_of(r) -> pd.Series:
    """USUBJID -> arm of the subjects in a treatment arm."""
    adsl = r["adsl"]
    inarm = adsl[~adsl["TRT01A"].str.upper().isin(["", "SCREEN FAILURE"])]
    return inarm.set_index("USUBJID")["TRT01A"]


def week_of(visit: str):
    m = re.fullmatch(r"(?i)week (\d+)", visit)
    return float(m.group(1)) if m else None


def points(r, code: str, imputed: bool = False, everyone: bool = False) -> pd.DataFrame:
    """USUBJID, ARM, week, AVAL, CHG, DTYPE of one parameter ('SYSBP@2': SYSBP at ATPTN 2)."""
    paramcd, _, tp = code.partition("@")
    name = DATASET[paramcd]
    d = r[name]
    d = d[d["PARAMCD"] == paramcd]
    if tp:
        d = d[d["ATPTN"].astype(float) == float(tp)]
    elif "ATPTN" in d.columns:
        d = d[pd.to_numeric(d["ATPTN"], errors="coerce").isna()]
    if "BASETYPE" in d.columns:
        d = d[d["BASETYPE"] == "LAST"]
    dtype = d["DTYPE"] if "DTYPE" in d.columns else pd.Series("", index=d.index)
    base = d[d["ABLFL"] == "Y"].assign(week=0.0)
    post = d[(d["ABLFL"] != "Y") & (dtype == "")]
    post = post.assign(week=post["AVISIT"].map(week_of)).dropna(subset=["week"])
    if "ANL02FL" in d.columns:
        post = post[post["ANL02FL"] == "Y"]
    pts = pd.concat([base, post]).assign(DTYPE="")
    if imputed:
        imp = d[(dtype == "LOCF") & (d["ABLFL"] != "Y")]
        imp = imp.assign(week=imp["AVISIT"].map(week_of)).dropna(subset=["week"])
        have = set(zip(pts["USUBJID"], pts["week"]))
        imp = imp[[(u, w) not in have for u, w in zip(imp["USUBJID"], imp["week"])]].assign(DTYPE="LOCF")
        pts = pd.concat([pts, imp])
    arm = arms_of(r)
    adsl = r["adsl"]
    pop = set(adsl.loc[adsl[POPULATION[name]] == "Y", "USUBJID"]) if not everyone else set(adsl["USUBJID"])
    pts = pts[pts["USUBJID"].isin(pop) & pts["USUBJID"].isin(arm.index)]
    pts = pts.assign(ARM=pts["USUBJID"].map(arm), AVAL=pts["AVAL"].astype(float))
    cols = ["USUBJID", "ARM", "week", "AVAL", "DTYPE"] + (["CHG"] if "CHG" in pts.columns else [])
    return pts.dropna(subset=["AVAL"])[cols]


def codes_checked(study_name: str) -> list[str]:
    vs = ["SYSBP@1", "SYSBP@2", "SYSBP@3"] if study_name in ("timepoints", R.COMBINED) else ["SYSBP"]
    return ["ALT", "HGB", "ACTOT", *vs]


# -- what the pages show ---------------------------------------------------------------------------------
def store(study, **kw):
    return {**F.default_state(study).to_store(), **kw}


def traj_inputs(study, code, **kw):
    c = {"filter-state.data": store(study), "traj-mode.value": "single", "traj-param.value": code,
         "traj-params.value": [code], "traj-scale.value": "raw", "traj-stat.value": "mean", "traj-opts.value": [],
         "traj-patmode.value": "highlight", "traj-visit.value": "end", "traj-ref.value": "Pbo",
         "traj-adjust.value": "holm", "traj-cov.value": "UN", "traj-ddfm.value": "kr"}
    c.update({f"traj-{k}.value": v for k, v in kw.items()})
    return c


def traj_figure(cb, study, code, **kw):
    out = cb.outputs("traj-graph", "figure", traj_inputs(study, code, **kw))
    return go.Figure(decode(out["traj-graph.figure"])), out


def n_row(fig) -> dict:
    """{(arm, x): n text} from the n rows under the figure."""
    out = {}
    for t in fig.data:
        if t.name and t.name.startswith("n ") and t.mode == "text":
            for x, n in zip(t.x, t.text):
                out[(t.name[2:], float(x))] = n
    return out


def means(fig) -> dict:
    out = {}
    for t in fig.data:
        if t.name in R.ARMS and t.customdata is not None:
            for row, y in zip(np.asarray(t.customdata, float), t.y):
                out[(t.name, float(row[3]))] = float(y)
    return out


def within_rows(cb, study, code, visit="end", **kw):
    inputs = traj_inputs(study, code, visit=visit, **kw)
    inputs.pop("traj-stat.value")
    out = cb.outputs("traj-stats", "children", inputs)
    return rows_of(find(out["traj-stats.children"], "traj-within")), text_of(out["traj-stats.children"])


def expected_summary(pts: pd.DataFrame):
    g = pts.groupby(["ARM", "week"])["AVAL"]
    return g.size().to_dict(), g.mean().to_dict()


# -- every study, every format -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_arms_and_their_n(folders, case):
    folder = folders[case]
    study, cb = app_for(folder)
    arm = arms_of(raw(folder))
    expected = [(a, int((arm == a).sum())) for a in R.ARMS]
    assert [(a.label, a.n) for a in study.arms] == expected
    out = cb.outputs("ov-design", "figure", {"filter-state.data": store(study)})
    tbl = out["ov-baseline.children"][0]
    header = [th["props"]["children"] for th in tbl["props"]["children"][0]["props"]["children"]["props"]["children"]]
    assert header[2:] == [f"{a} (N={n})" for a, n in expected] + [f"Total (N={len(arm)})"]
    # the patient pickers offer the subjects in an arm, no one else
    opts = cb.outputs("pt-patient", "options", {"filter-state.data": store(study), "pt-prev.n_clicks": None,
                                                "pt-next.n_clicks": None, "pt-patient.value": None})
    assert {o["value"] for o in opts["pt-patient.options"]} == set(arm.index)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_trajectories_n_means_and_visit_positions(folders, case):
    folder = folders[case]
    study, cb = app_for(folder)
    r = raw(folder)
    for code in codes_checked(case[0]):
        pts = points(r, code)
        n_exp, mean_exp = expected_summary(pts)
        fig, _ = traj_figure(cb, study, code)
        assert {k: int(v) for k, v in n_row(fig).items()} == n_exp, code
        got = means(fig)
        assert set(got) == set(mean_exp), code
        for k, v in mean_exp.items():
            assert got[k] == pytest.approx(v), (code, k)
        # each visit at its week on the axis (whatever AVISITN says), titled so
        assert sorted({x for _, x in n_exp}) == sorted(float(t) for t in fig.layout.xaxis.tickvals), code
        assert fig.layout.xaxis2.title.text == "Study week"
    assert [v for v, _ in study.visits] == [float(w) for w in R.WEEKS]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_baseline_pairs_within_arm(folders, case):
    """A pair: a subject with a baseline record (at any visit) and a value at the comparison visit."""
    folder = folders[case]
    study, cb = app_for(folder)
    r = raw(folder)
    for code in ("ALT", "ACTOT", codes_checked(case[0])[-1]):
        pts = points(r, code)
        for visit in (4.0, 26.0):
            wide = pts.pivot_table(index=["USUBJID", "ARM"], columns="week", values="AVAL").reset_index()
            both = wide.dropna(subset=[0.0, visit]) if visit in wide.columns else wide.iloc[0:0]
            rows, _ = within_rows(cb, study, code, visit=visit)
            got = {row[0]: int(row[1]) for row in rows[1:]}
            assert got == {a: int((both["ARM"] == a).sum()) for a in R.ARMS}, (code, visit)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_comparison_page_boxes_and_pairs(folders, case):
    folder = folders[case]
    study, cb = app_for(folder)
    pts = points(raw(folder), "ALT")
    out = cb.outputs("cmp-fig", "figure", {
        "filter-state.data": store(study), "cmp-view.value": "single", "cmp-param.value": "ALT",
        "cmp-visit-a.value": 0.0, "cmp-visit-b.value": 12.0, "cmp-annot.value": "within", "cmp-log.value": [],
        "cmp-scale.value": "pchg", "cmp-ref.value": "Pbo"})
    table = find(out["cmp-tables.children"], "cmp-summary-table")
    head = [th["props"]["children"] for th in table["props"]["children"][0]["props"]["children"]["props"]["children"]]
    rows = {row[0]: dict(zip(head, row)) for row in rows_of(table)}
    wide = pts.pivot_table(index=["USUBJID", "ARM"], columns="week", values="AVAL").reset_index()
    for a in R.ARMS:
        w = wide[wide["ARM"] == a]
        assert rows[a]["n Baseline"] == str(int(w[0.0].notna().sum()))
        assert rows[a]["n Week 12"] == str(int(w[12.0].notna().sum()))
        assert rows[a]["n pairs"] == str(int((w[0.0].notna() & w[12.0].notna()).sum()))


def profile(cb, study, usubjid, codes):
    out = cb.outputs("pt-figure", "figure", {"filter-state.data": store(study), "pt-patient.value": usubjid,
                                             "pt-params.value": codes, "pt-group.value": "none"})
    return go.Figure(decode(out["pt-figure.figure"])), out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_patient_profile_shows_all_of_a_subjects_values(folders, case):
    """A subject outside the efficacy population (safety_only) still has its ADAS-Cog values on its profile;
    a subject whose baseline is an unscheduled retest has that value at week 0."""
    folder = folders[case]
    study, cb = app_for(folder)
    r = raw(folder)
    arm = arms_of(r)
    for i in (R.SAFETY_ONLY[0], R.UNSCHED_BASE[0]):
        usubjid = arm.index[i]
        fig, _ = profile(cb, study, usubjid, ["ALT", "ACTOT"])
        for code in ("ALT", "ACTOT"):
            exp = points(r, code, everyone=True)
            exp = exp[exp["USUBJID"] == usubjid].sort_values("week")
            name = study.params[code].name
            t = next(t for t in fig.data if (t.hovertemplate or "").startswith(f"<b>{name}</b>"))
            np.testing.assert_allclose(np.asarray(t.x, float), exp["week"].to_numpy(float))
            np.testing.assert_allclose(np.asarray(t.y, float), exp["AVAL"].to_numpy(float))


# -- one convention each ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def parquet(folders):
    return {s: folders[(s, "parquet")] for s in R.STUDIES}


def test_timepoints_are_parameters_each_with_its_baseline(parquet):
    study, cb = app_for(parquet["timepoints"])
    r = raw(parquet["timepoints"])
    for tpn, atpt, _ in R.TIMEPOINTS:
        p = study.params[f"SYSBP@{tpn}"]
        assert p.paramcd == "SYSBP" and p.atptn == tpn and p.name == (
            f"Systolic Blood Pressure · {atpt.lower()} (mmHg)")
        base = points(r, f"SYSBP@{tpn}")
        base = base[base["week"] == 0]
        fig, _ = traj_figure(cb, study, f"SYSBP@{tpn}")
        assert {a: int(n) for (a, x), n in n_row(fig).items() if x == 0} == base.groupby("ARM").size().to_dict()
        assert means(fig)[(R.ARMS[0], 0.0)] == pytest.approx(base.loc[base["ARM"] == R.ARMS[0], "AVAL"].mean())
    from components import trajectories as TR

    labels = [o["label"] for o in TR.param_options(study)]
    assert "Systolic Blood Pressure · after standing for 1 minute (mmHg)" in labels
    code, lines = check_folder(parquet["timepoints"])
    assert code == 0 and any("timepoints (ATPTN): 2 parameter(s) at 3 timepoints" in x for x in lines)


def test_worst_value_flag_is_not_the_analysis_record(parquet, tmp_path):
    """ANL01FL marks each subject's worst value and no baseline: it is not applied. ANL02FL, the by-visit record,
    resolves the retest at Week 4 and is applied; the retest's value is in no mean."""
    study, cb = app_for(parquet["worst_flag"])
    r = raw(parquet["worst_flag"])
    lines = study.reports["ADLB"]
    assert any(x.startswith("analysis flag: ANL02FL applied: it resolves 1 duplicate key(s)") and
               "; ANL01FL not: it would lose" in x and "and flags no baseline record" in x for x in lines), lines
    fig, _ = traj_figure(cb, study, "ALT")
    lb = r["adlb"]
    retest = lb[(lb["PARAMCD"] == "ALT") & (lb["ANL02FL"] != "Y") & (lb["AVISIT"] == "Week 4")]
    assert len(retest) == 1
    week4 = lb[(lb["PARAMCD"] == "ALT") & (lb["ANL02FL"] == "Y") & (lb["AVISIT"] == "Week 4")]
    arm = arms_of(r)
    a = arm[retest["USUBJID"].iloc[0]]
    assert means(fig)[(a, 4.0)] == pytest.approx(week4.loc[week4["USUBJID"].map(arm) == a, "AVAL"].mean())
    assert int(n_row(fig)[(a, 4.0)]) == int((week4["USUBJID"].map(arm) == a).sum())
    # without the retest and ANL02FL, the keys are unique: ANL01FL is still not applied, nothing is lost
    t = R.build("worst_flag")
    t["adlb"] = t["adlb"].drop(index=t["adlb"].index[(t["adlb"]["ANL02FL"] != "Y") & (t["adlb"]["AVISIT"] == "Week 4")
                                                      & (t["adlb"]["PARAMCD"] == "ALT")]).drop(columns="ANL02FL")
    d = R.B.write(tmp_path / "w", "parquet", t)
    s2 = load_study(d)
    assert any(x.startswith("analysis flag: ANL01FL not applied: the keys are unique without it (it would leave "
                            "out") and "flags no baseline record" in x for x in s2.reports["ADLB"])
    assert len(s2.measurements[s2.measurements["PARAMCD"] == "ALT"]) == len(points(raw(d), "ALT"))
    # not silently: the Data notes (and check, before its verdict) say what the flag would have done
    assert any(n.startswith("NOTE adlb.parquet: ANL01FL not applied: the keys are unique without it, and it would "
                            "leave out") and "it flags no baseline record" in n for n in s2.notes)
    assert any(n.startswith("NOTE adlb.parquet: ANL02FL applied") and "ANL01FL not: it would lose" in n
               for n in study.notes)
    # and with neither flag resolving a retest, ADLB is left out, naming the flag and how to choose one
    t = R.build("worst_flag")
    t["adlb"] = t["adlb"].drop(columns="ANL02FL")
    d = R.B.write(tmp_path / "x", "parquet", t)
    code, lines = check_folder(d)
    assert code == 0 and any(x.startswith("ERROR served without ADLB: adlb.parquet, column USUBJID+PARAMCD+AVISITN: "
                                          "duplicate key") and "ANL01FL" in x and "analysis_flag" in x for x in lines)
    assert any(x.startswith(f"PARTIAL {d}") for x in lines)


def test_visit_numbers_are_a_sort_order_not_weeks(parquet):
    study, cb = app_for(parquet["visit_order"])
    r = raw(parquet["visit_order"])
    lb = r["adlb"]
    assert set(lb["AVISITN"].astype(float)) >= {4.0, 5.0, 13.0, 4.1, 5.1}  # the sponsor's numbers…
    assert study.visits == tuple((float(w), "Baseline" if w == 0 else f"Week {w}") for w in R.WEEKS)  # …the weeks
    layout = cb.client.get("/_dash-layout").get_json()
    window = find(layout, "f-from")["props"]  # the filter's window: from / to one of the visits
    assert sorted(float(o["value"]) for o in window["options"]) == [float(w) for w in R.WEEKS]
    # unscheduled visits (4.1, 5.1) are not points of the axis
    assert not set(study.measurements["TIME"]) & {4.1, 5.1}
    # the comparison page offers the visits by their names at their weeks
    from components import comparison as CMP

    assert [o["label"] for o in CMP.visit_options(study, [2.0, 26.0])] == ["Week 2", "Week 26"]
    assert any("study weeks from the visit names" in x for x in study.reports["ADVS"])


def test_unscheduled_baseline_pairs_and_the_sponsors_change(parquet):
    study, cb = app_for(parquet["unscheduled_baseline"])
    r = raw(parquet["unscheduled_baseline"])
    lb = r["adlb"]
    unsched = lb[(lb["ABLFL"] == "Y") & lb["AVISIT"].str.startswith("Unscheduled")]
    assert unsched["USUBJID"].nunique() == len(R.UNSCHED_BASE)
    # change from baseline: the sponsor's CHG, its mean at week 26 per arm
    fig, _ = traj_figure(cb, study, "ALT", scale="chg")
    pts = points(r, "ALT")
    chg = pts[pts["week"] == 26.0].groupby("ARM")["CHG"].mean()
    got = means(fig)
    for a, v in chg.items():
        assert got[(a, 26.0)] == pytest.approx(v)
        assert got[(a, 0.0)] == 0.0


def test_derived_records_are_not_counted_and_locf_is_a_labelled_switch(parquet):
    study, cb = app_for(parquet["derived"])
    r = raw(parquet["derived"])
    lines = study.reports
    assert any("LOCF 7 (off by default, a user switch; 7 fill a visit with no observed value)" in x
               for x in lines["ADQS"])
    assert any("AVERAGE" in x and "(not shown)" in x for x in lines["ADVS"])
    assert any("MAXIMUM 20 (not shown), MINIMUM 20 (not shown)" in x for x in lines["ADLB"])
    # off by default: observed values only, and the page says the switch exists
    fig, out = traj_figure(cb, study, "ACTOT")
    assert "LOCF" not in " ".join(n_row(fig).values())
    assert "Observed values only" in text_of(out["traj-table.children"])
    # switched on: n counts the imputed values and says how many, in the n row, the legend, table and footnote
    fig, out = traj_figure(cb, study, "ACTOT", opts=["imputed"])
    pts = points(r, "ACTOT", imputed=True)
    n_exp = pts.groupby(["ARM", "week"]).size()
    k_exp = pts[pts["DTYPE"] == "LOCF"].groupby(["ARM", "week"]).size()
    texts = n_row(fig)
    for (a, w), n in n_exp.items():
        k = int(k_exp.get((a, w), 0))
        assert texts[(a, w)] == (f"{n} ({k} LOCF)" if k else str(n))
    for (a, w), m in pts.groupby(["ARM", "week"])["AVAL"].mean().items():
        assert means(fig)[(a, w)] == pytest.approx(m)
    total, imputed = len(pts), int((pts["DTYPE"] == "LOCF").sum())
    assert imputed == 7
    label = f"LOCF: {imputed} of {total} values imputed"
    assert label in fig.layout.legend.title.text
    assert any(label in (a.text or "") for a in fig.layout.annotations)  # the figure's footnote (and PNG)
    assert label in text_of(out["traj-table.children"])
    rows = rows_of(find(out["traj-table.children"], "traj-table-ACTOT"))
    assert any("LOCF)" in cell for row in rows for cell in row)
    # paired tests count imputed pairs; the mixed model uses observed values only
    rows, text = within_rows(cb, study, "ACTOT", opts=["imputed"])
    wide = pts.pivot_table(index=["USUBJID", "ARM"], columns="week", values="AVAL").reset_index()
    both = wide.dropna(subset=[0.0, 26.0])
    got = {row[0]: row[1] for row in rows[1:]}
    for a in R.ARMS:
        ids = set(both.loc[both["ARM"] == a, "USUBJID"])
        k = int(((pts["ARM"] == a) & (pts["week"] == 26.0) & (pts["DTYPE"] == "LOCF") & pts["USUBJID"].isin(ids)).sum())
        assert got[a] == (f"{len(ids)} ({k} LOCF)" if k else str(len(ids)))
    assert "observed post-baseline values" in text and "never the imputed ones" in text
    # an option no study can offer is refused (204), as any forged input
    plain, cb2 = app_for(parquet["timepoints"])
    assert cb2.post("traj-graph", "figure", traj_inputs(plain, "ALT", opts=["imputed"])).status_code == 204


def test_two_baseline_definitions_one_analysed(parquet):
    study, cb = app_for(parquet["basetypes"])
    r = raw(parquet["basetypes"])
    assert any(x.startswith("baseline definition (BASETYPE): 'LAST', the one most records use") and
               "'SCREENING' not shown" in x for x in study.reports["ADLB"])
    fig, _ = traj_figure(cb, study, "HGB", scale="chg")
    pts = points(r, "HGB")
    for (a, w), v in pts[pts["week"] > 0].groupby(["ARM", "week"])["CHG"].mean().items():
        assert means(fig)[(a, w)] == pytest.approx(v)
    assert study.params["HGB"].basetype == "LAST"


def test_screen_failures_are_in_no_arm(parquet):
    study, cb = app_for(parquet["screen_failures"])
    r = raw(parquet["screen_failures"])
    sf = set(r["adsl"].loc[r["adsl"]["ARM"] == "Screen Failure", "USUBJID"])
    assert len(sf) == 3 and [a.label for a in study.arms] == list(R.ARMS)
    assert set(study.excluded["USUBJID"]) == sf
    assert not sf & set(study.measurements["USUBJID"].astype(str)) and not sf & set(study.adsl["USUBJID"])
    assert any("3 subject(s) in no treatment arm left out of every page (blank TRT01A: 3)" in n for n in study.notes)
    # with ARM as the arm variable the arm value says it: still no fourth arm
    d = parquet["screen_failures"]
    (d / "study.toml").write_text(PAGES_TOML + '[arms]\nvariable = "ARM"\n')
    try:
        s2 = load_study(d)
        assert sorted(a.label for a in s2.arms) == sorted(R.ARMS)  # (no ARMN: alphabetical order)
        assert any("(ARM 'Screen Failure': 3)" in n for n in s2.notes)
        # study.toml brings them back when asked
        (d / "study.toml").write_text(PAGES_TOML + '[arms]\nvariable = "ARM"\nexclude = []\n')
        s3 = load_study(d)
        assert len(s3.arms) == 4 and s3.arm_by_label["Screen Failure"].n == 3
    finally:
        (d / "study.toml").write_text(PAGES_TOML)


def test_safety_only_subjects_count_in_safety_data_not_in_efficacy_data(parquet):
    study, cb = app_for(parquet["safety_only"])
    r = raw(parquet["safety_only"])
    only = set(r["adsl"].loc[(r["adsl"]["SAFFL"] == "Y") & (r["adsl"]["EFFFL"] == "N"), "USUBJID"])
    assert len(only) == 2
    m = study.measurements
    assert only <= set(m.loc[m["PARAMCD"] == "ALT", "USUBJID"].astype(str))
    assert not only & set(m.loc[m["PARAMCD"] == "ACTOT", "USUBJID"].astype(str))
    assert study.population_of("ADLB").flag == "SAFFL" and study.population_of("ADQS").flag == "EFFFL"
    out = cb.outputs("cmp-fig", "figure", {
        "filter-state.data": store(study), "cmp-view.value": "single", "cmp-param.value": "ALT",
        "cmp-visit-a.value": 0.0, "cmp-visit-b.value": 12.0, "cmp-annot.value": "within", "cmp-log.value": [],
        "cmp-scale.value": "pchg", "cmp-ref.value": "Pbo"})
    assert "Safety population: SAFFL = 'Y' (10 of 10 subjects)" in text_of(out["cmp-tables.children"])
    fig, out = profile(cb, study, sorted(only)[0], ["ACTOT"])
    assert "ADQS, whose population the subject is not in" in " ".join(out["pt-caption.children"]
                                                                       if isinstance(out["pt-caption.children"], list)
                                                                       else [out["pt-caption.children"]])


def test_normal_ranges_from_a1lo_a1hi_and_anrind(parquet):
    study, cb = app_for(parquet["a1_ranges"])
    r = raw(parquet["a1_ranges"])
    lb = r["adlb"]
    assert "ANRLO" not in lb.columns and "A1LO" in lb.columns
    alt = lb[lb["PARAMCD"] == "ALT"]
    assert (study.params["ALT"].lo, study.params["ALT"].hi) == (float(alt["A1LO"].iloc[0]), float(alt["A1HI"].iloc[0]))
    fig, _ = traj_figure(cb, study, "ALT")
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 1 and (bands[0].y0, bands[0].y1) == (7.0, 56.0)
    # the profile marks out-of-range values by the sponsor's ANRIND
    hgb = lb[(lb["PARAMCD"] == "HGB") & (lb["ANRIND"].isin(["LOW", "HIGH"]))]
    usubjid = hgb["USUBJID"].iloc[0]
    fig, _ = profile(cb, study, usubjid, ["HGB"])
    t = next(t for t in fig.data if (t.hovertemplate or "").startswith(f"<b>{study.params['HGB'].name}</b>"))
    exp = points(r, "HGB", everyone=True)
    exp = exp[exp["USUBJID"] == usubjid].sort_values("week")
    flags = lb.loc[exp.index, "ANRIND"].isin(["LOW", "HIGH"]).tolist()
    assert [c == "#c51b1b" for c in t.marker.color] == flags and any(flags)


def test_check_states_per_dataset_what_was_decided(parquet):
    code, lines = check_folder(parquet[R.COMBINED])
    assert code == 0 and any(x.startswith(f"OK {parquet[R.COMBINED]}") for x in lines)
    text = "\n".join(lines)
    for expected in (
        "ADVS (advs.parquet): 6 analysis parameter(s); key USUBJID+PARAMCD+AVISITN+ATPTN+DTYPE; safety population "
        "(SAFFL = 'Y', 10 of 10 subjects)",
        "timepoints (ATPTN): 2 parameter(s) at 3 timepoints, each timepoint an analysis parameter with its own baseline",
        "ADLB (adlb.parquet): 2 analysis parameter(s); key USUBJID+PARAMCD+AVISITN+BASETYPE+DTYPE",
        "baseline definition (BASETYPE): 'LAST'",
        "analysis flag: ANL02FL applied",
        "derived records (DTYPE): LOCF 7 (off by default, a user switch",
        "ADQS (adqs.parquet): 1 analysis parameter(s); key USUBJID+PARAMCD+AVISITN+DTYPE; efficacy population "
        "(EFFFL = 'Y', 8 of 10 subjects)",
        "subjects with a baseline record, per arm: Placebo 3, Xanomeline Low Dose 3, Xanomeline High Dose 2",
        "time axis: study weeks from the visit names (6 visits)",
        "3 subject(s) in no treatment arm left out of every page",
    ):
        assert expected in text, expected


# -- the time axis when the visit names say nothing, and pages that would show n = 0 ---------------------------
def _renamed_visits(t, keep_ady: bool):
    for name in ("adlb", "advs", "adqs"):
        d = t[name]
        d["AVISIT"] = [v if not str(v).upper().startswith("WEEK") else f"Visit {int(n)}"
                       for v, n in zip(d["AVISIT"], d["AVISITN"])]
        if not keep_ady:
            t[name] = d.drop(columns="ADY")
    return t


def test_weeks_from_ady_when_the_names_say_nothing(tmp_path):
    t = _renamed_visits(R.build("visit_order"), keep_ady=True)
    d = R.B.write(tmp_path / "ady", "parquet", t)
    study = load_study(d)
    # one position per visit, from its records' median study day in every dataset: (day − 1) / 7
    post = pd.concat([t[n][t[n]["AVISIT"].str.startswith("Visit") & (t[n]["ABLFL"] != "Y")] for n in ("adlb", "advs",
                                                                                                      "adqs")])
    expected = sorted(round((day - 1) / 7, 2) for day in post.groupby("AVISIT")["ADY"].median())
    assert [v for v, _ in study.visits][1:] == expected and study.time_unit == "week"
    assert [name for _, name in study.visits][1:] == sorted(set(post["AVISIT"]), key=lambda v: int(v.split()[1]))
    assert any("study weeks from the median ADY of each visit" in x for x in study.reports["ADLB"])


def test_visit_numbers_when_nothing_gives_weeks_said_on_the_axis(tmp_path):
    t = _renamed_visits(R.build("visit_order"), keep_ady=False)
    d = R.B.write(tmp_path / "avisitn", "parquet", t)
    (d / "study.toml").write_text(PAGES_TOML)
    study = load_study(d)
    assert study.time_unit == "visit" and study.time_title == "Visit number (AVISITN)"
    assert [v for v, _ in study.visits] == [0.0] + sorted(R.SORT_ORDER[w] for w in R.WEEKS[1:])
    assert any(n.startswith("WARNING the time axis shows visit numbers (AVISITN), not study weeks") for n in study.notes)
    app = create_app(d)
    cb = CallbackClient(app, app.server.test_client())
    fig, _ = traj_figure(cb, study, "ALT")
    assert fig.layout.xaxis2.title.text == "Visit number (AVISITN)"
    layout = app.server.test_client().get("/_dash-layout").get_data(as_text=True)
    assert "Timepoint window (visit number, AVISITN)" in layout


def test_check_never_says_ok_over_pages_that_would_show_n_0(tmp_path):
    t = R.build("derived")
    for name in ("adlb", "advs", "adqs"):
        t[name] = t[name].drop(columns="ABLFL")
        t[name]["AVISIT"] = t[name]["AVISIT"].replace({"Baseline": "Day 1", "BASELINE": "DAY 1"})
        t[name]["AVISITN"] = t[name]["AVISITN"].replace({0.0: 1.0})
    d = R.B.write(tmp_path / "nobase", "parquet", t)
    code, lines = check_folder(d)
    assert code == 0 and not any(x.startswith("OK ") for x in lines)
    assert any(x.startswith(f"WARNING {d}: the app can serve this folder, but some pages would show n = 0") for x in lines)
    assert any(x.startswith("WARNING ADLB (adlb.parquet): no baseline record (ABLFL = 'Y')") for x in lines)
