"""The reviewer's defects, found by opening realistic ADaM deliveries as a new user: each test is what the user saw.

The study: ``realistic.build("timepoints")`` (RS-201: ADSL, ADLB, ADVS with ATPTN timepoints, ADQS, ADAE) with
what real trials have: one subject randomised to placebo but never treated (TRT01A blank, SAFFL N, no
TRTSDT, no safety data), and one randomised to the low dose who received the high dose (TRT01A differs from
TRT01P). Expected values are computed here from the tables with pandas.
"""

from __future__ import annotations

import pandas as pd
import pytest

import realistic as R
from app import create_app
from conftest import CallbackClient
from data.study import load_study
from test_overview import cells

UNTREATED = "RS-201-702-1010"  # index 9: randomised to Placebo, never treated
MISDOSED = "RS-201-702-1002"  # index 1: randomised to the low dose, received the high dose
LOW, HIGH = "Xanomeline Low Dose", "Xanomeline High Dose"
PAGES_TOML = '[pages.trajectories]\ndatasets = ["ADLB", "ADVS", "ADQS"]\n'


def reviewer_tables() -> dict[str, pd.DataFrame]:
    t = R.build("timepoints")
    adsl = t["adsl"]
    u = adsl["USUBJID"] == UNTREATED
    adsl.loc[u, ["TRT01A", "ACTARM", "SAFFL"]] = ["", "Not Treated", "N"]
    adsl.loc[u, "TRT01AN"] = float("nan")
    adsl.loc[u, ["TRTSDT", "TRTEDT"]] = pd.NaT
    m = adsl["USUBJID"] == MISDOSED
    adsl.loc[m, ["TRT01A", "ACTARM"]] = HIGH
    adsl.loc[m, "TRT01AN"] = 81.0
    for name in ("adlb", "advs", "adae"):  # safety data: none for the untreated subject; the actual arm repeated
        df = t[name]
        df = df[df["USUBJID"] != UNTREATED].copy()
        if "TRT01A" in df.columns:
            df.loc[df["USUBJID"] == MISDOSED, "TRT01A"] = HIGH
        t[name] = df.reset_index(drop=True)
    return t


def write_reviewer(folder, toml: str = PAGES_TOML, tables=None):
    import adam_builder as B

    d = B.write(folder, "parquet", tables if tables is not None else reviewer_tables())
    (d / "study.toml").write_text(toml)
    return d


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_reviewer(tmp_path_factory.mktemp("reviewer") / "rs201")


@pytest.fixture(scope="module")
def app_cb(folder):
    app = create_app(folder)
    return app.server.config["STUDY"], CallbackClient(app, app.server.test_client())


def store_of(study, **kw):
    from data import filters as F

    return {**F.default_store(study), **kw} if hasattr(F, "default_store") else {
        "arms": [a.code for a in study.arms], "weeks": list(F.full_window(study)), "patients": [], **kw}


# -- 1: disposition counts the randomised subjects, by the arm they were randomised to ----------------------
def test_disposition_randomised_counts_untreated_subject(app_cb):
    study, cb = app_cb
    out = cb.outputs("ov-design", "figure", {"filter-state.data": store_of(study)})
    header, rows = cells(out["ov-disposition.children"])
    as_dict = {r[0]: r[1:] for r in rows}
    adsl = R.build("timepoints")["adsl"]  # randomised: every subject with ITTFL = Y, by TRT01P
    expected = adsl[adsl["ITTFL"] == "Y"]["TRT01P"].value_counts()
    assert as_dict["Randomised"] == [str(expected["Placebo"]), str(expected[LOW]), str(expected[HIGH]),
                                     str(int(expected.sum()))] == ["4", "3", "3", "10"]


# -- 2: efficacy data by the planned arm, safety data by the actual arm; configurable ------------------------
def test_efficacy_by_planned_arm_safety_by_actual_arm(folder):
    s = load_study(folder)
    assert s.arm_variables == {"efficacy": "TRT01P", "safety": "TRT01A"}
    m = s.measurements
    arm_in = lambda code, who: set(m[(m["PARAMCD"].astype(str) == code)  # noqa: E731
                                     & (m["USUBJID"].astype(str) == who)]["ARM"].astype(str))
    assert arm_in("ACTOT", MISDOSED) == {LOW}  # ADAS-Cog (efficacy): randomised arm
    assert arm_in("ALT", MISDOSED) == {HIGH}  # labs (safety): the treatment received
    assert arm_in("ACTOT", UNTREATED) == {"Placebo"}  # randomised, untreated: in the efficacy analyses
    assert UNTREATED not in s.population("safety").subjects
    assert any("1 subject(s) received another treatment than planned" in n for n in s.notes)
    assert any("2 subject(s) differ" in n for n in s.notes)  # the misdosed and the untreated subject


def test_no_arm_note_when_planned_and_actual_agree(study):
    # LSO-088: TRT01P = TRT01A for every subject; a banner on every page saying "0 differ" is noise
    assert study.arm_variables == {"efficacy": "TRT01P", "safety": "TRT01A"}
    assert not [n for n in study.notes if "planned arm" in n or "differ" in n]


def test_arm_variables_set_in_study_toml(tmp_path):
    d = write_reviewer(tmp_path / "s", PAGES_TOML + '[arms]\nefficacy_variable = "TRT01A"\n')
    m = load_study(d).measurements
    act = m[(m["PARAMCD"].astype(str) == "ACTOT") & (m["USUBJID"].astype(str) == MISDOSED)]
    assert set(act["ARM"].astype(str)) == {HIGH}
    d = write_reviewer(tmp_path / "t", PAGES_TOML + '[arms]\nsafety_variable = "TRT01P"\n')
    m = load_study(d).measurements
    alt = m[(m["PARAMCD"].astype(str) == "ALT") & (m["USUBJID"].astype(str) == MISDOSED)]
    assert set(alt["ARM"].astype(str)) == {LOW}


# -- 5: a link with many query fields is a clean page, not an HTTP 500 -------------------------------------
LONG_QUERY = "?" + "&".join(f"arm=Pbo&x{i}=1" for i in range(25)) + "&weeks=0-26"


def test_many_query_fields_no_500(app_cb):
    study, cb = app_cb
    posted = 0
    for key, spec in cb.app.callback_map.items():
        if not callable(spec.get("callback")):
            continue  # a browser-side callback: never posted
        if not any(i["id"] == "url" and i["property"] == "search" for i in spec["inputs"] + spec.get("state", [])):
            continue
        output_id, prop = cb.split_key(key)[0].rsplit(".", 1)
        values = {"url.search": LONG_QUERY, "url.pathname": "/trajectories"}
        r = cb.post(output_id, prop, values, state=values, changed=["url.search"])
        assert r.status_code in (200, 204), (key, r.status_code, r.get_data(as_text=True)[:300])
        posted += 1
    assert posted >= 2
    from data import filters as F
    state, notices = F.from_query(LONG_QUERY, study)
    assert notices == [] and state.arms == ("Pbo",)  # the filter fields of a long link still apply
    many = "?" + "&".join(["arm=Pbo"] * 100)
    state, notices = F.from_query(many, study)
    assert state == F.default_state(study) and "Link filters ignored" in notices[0]


# -- 6, 7: units from AVALU: the axis title keeps the whole name; "(Total)" is part of the name ---------------
def traj_controls(study, code, **kw):
    from test_trajectories_page import controls

    c = controls(study, **{"param": code, "params": [code], "ref": study.arms[0].code, **kw})
    c["filter-state.data"] = store_of(study)
    return c


@pytest.fixture(scope="module")
def avalu_app(tmp_path_factory):
    t = reviewer_tables()
    lb = t["adlb"]
    lb["AVALU"] = lb["PARAMCD"].map({"ALT": "U/L", "HGB": "g/dL"})
    lb["PARAM"] = lb["PARAMCD"].map({"ALT": "Alanine Aminotransferase", "HGB": "Hemoglobin (Total)"})
    app = create_app(write_reviewer(tmp_path_factory.mktemp("avalu") / "s", tables=t))
    return app.server.config["STUDY"], CallbackClient(app, app.server.test_client())


@pytest.mark.parametrize("code, scale, title", [
    ("ALT", "raw", "Alanine Aminotransferase (U/L)"),
    ("ALT", "chg", "Change in Alanine Aminotransferase (U/L)"),
    ("HGB", "raw", "Hemoglobin (Total) (g/dL)"),
    ("HGB", "chg", "Change in Hemoglobin (Total) (g/dL)"),
])
def test_avalu_units_on_the_axis(avalu_app, code, scale, title):
    from test_trajectories_page import figure

    study, cb = avalu_app
    assert study.params[code].unit == {"ALT": "U/L", "HGB": "g/dL"}[code]  # AVALU, not the "(Total)" of PARAM
    fig, _ = figure(cb, traj_controls(study, code, scale=scale))
    assert fig.layout.yaxis.title.text.replace("<br>", " ") == title  # a long title on two lines


# -- 3: normal ranges that differ by subject (sex-specific) are each subject's own ---------------------------
SEX_RANGES = {"F": (12.0, 15.5), "M": (13.5, 17.5)}


@pytest.fixture(scope="module")
def ranges_app(tmp_path_factory):
    t = reviewer_tables()
    lb = t["adlb"].drop(columns=["ANRIND"])  # no sponsor indicator: the app judges each value itself
    sex = lb["USUBJID"].map(dict(zip(t["adsl"]["USUBJID"], t["adsl"]["SEX"])))
    hgb = lb["PARAMCD"] == "HGB"
    lb.loc[hgb, "ANRLO"] = sex[hgb].map(lambda s: SEX_RANGES[s][0])
    lb.loc[hgb, "ANRHI"] = sex[hgb].map(lambda s: SEX_RANGES[s][1])
    t["adlb"] = lb
    app = create_app(write_reviewer(tmp_path_factory.mktemp("ranges") / "s", tables=t))
    return app.server.config["STUDY"], CallbackClient(app, app.server.test_client()), t


def test_subject_specific_ranges_no_common_band(ranges_app):
    from test_trajectories_page import figure, text_of

    study, cb, _ = ranges_app
    info = study.params["HGB"]
    assert info.ranges_vary and info.lo is None and info.hi is None
    fig, out = figure(cb, traj_controls(study, "HGB"))
    assert not [s for s in fig.layout.shapes if s.type == "rect"]  # no band of one subject's range
    assert "Normal range not drawn for Hemoglobin (g/dL): its limits (ANRLO/ANRHI) differ between subjects" \
        in text_of(out["traj-message.children"] if "traj-message.children" in out else list(out.values()))
    fig, _ = figure(cb, traj_controls(study, "ALT"))  # one range for everyone: the band is drawn
    assert [s for s in fig.layout.shapes if s.type == "rect"]


@pytest.mark.parametrize("sex", ["F", "M"])
def test_patient_profile_uses_the_subjects_own_range(ranges_app, sex):
    from components.patient import NO_GROUP, OUT_OF_RANGE
    from test_patient import decode
    import plotly.graph_objects as go

    study, cb, t = ranges_app
    adsl = t["adsl"]
    who = adsl[(adsl["SEX"] == sex) & (adsl["TRT01A"] != "")]["USUBJID"].iloc[0]
    out = cb.outputs("pt-figure", "figure", {"filter-state.data": store_of(study), "pt-patient.value": who,
                                             "pt-params.value": ["HGB"], "pt-group.value": NO_GROUP})
    fig = go.Figure(decode(out["pt-figure.figure"]))
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 1 and (rects[0].y0, rects[0].y1) == SEX_RANGES[sex]
    lo, hi = SEX_RANGES[sex]
    trace = next(tr for tr in fig.data if tr.mode == "lines+markers")
    expected = ["out" if (v < lo or v > hi) else "in" for v in trace.y]
    assert ["out" if c == OUT_OF_RANGE else "in" for c in trace.marker.color] == expected


# -- 4: a parameter with baseline values only is not opened by default; chosen, the page says why --------------
def with_baseline_only(t, paramn: float = 0.0):
    """ADVS gains HEIGHT, measured at baseline only, first in the sponsor's parameter order (PARAMN)."""
    vs = t["advs"]
    base = vs[(vs["ABLFL"] == "Y") & (vs["PARAMCD"] == "SYSBP")].drop_duplicates("USUBJID").copy()
    base = base.assign(PARAMCD="HEIGHT", PARAM="Height (cm)", PARAMN=paramn, AVAL=165.0, ATPTN=float("nan"),
                       ATPT="", BASE=165.0, CHG=float("nan"), PCHG=float("nan"))
    t["advs"] = pd.concat([base, vs], ignore_index=True)
    return t


@pytest.fixture(scope="module")
def baseline_only_app(tmp_path_factory):
    toml = '[pages.trajectories]\ndatasets = ["ADVS", "ADQS"]\n'
    d = write_reviewer(tmp_path_factory.mktemp("bo") / "s", toml, tables=with_baseline_only(reviewer_tables()))
    app = create_app(d)
    return app.server.config["STUDY"], CallbackClient(app, app.server.test_client()), d


def test_baseline_only_parameter_not_opened_by_default(baseline_only_app):
    from components import trajectories as TJ

    study, cb, d = baseline_only_app
    assert not study.params["HEIGHT"].after_baseline
    assert TJ.default_single(study) != "HEIGHT" and "HEIGHT" not in TJ.default_multi(study)
    assert any("values at baseline only ('HEIGHT')" in n for n in study.notes)


def test_baseline_only_parameter_chosen_says_why(baseline_only_app):
    from test_trajectories_page import figure, text_of

    study, cb, _ = baseline_only_app
    c = traj_controls(study, "HEIGHT")
    _, out = figure(cb, c)
    assert "Height (cm): values at baseline only" in text_of(out["traj-message.children"])
    stats = cb.outputs("traj-stats", "children", c)
    assert "there is no change from baseline, between-arm comparison or mixed model" in text_of(
        stats["traj-stats.children"])


def test_check_does_not_say_ok_over_a_baseline_only_page(tmp_path):
    from data.study import check_folder

    t = with_baseline_only(reviewer_tables())
    toml = '[pages.trajectories]\ndatasets = ["ADVS"]\nparameter = "HEIGHT"\n'
    status, lines = check_folder(write_reviewer(tmp_path / "a", toml, tables=t))
    assert status == 0 and not any(x.startswith("OK ") for x in lines)
    assert "WARNING study.toml [pages.trajectories]: HEIGHT has values at baseline only" in "\n".join(lines)
    t["advs"] = t["advs"][t["advs"]["PARAMCD"] == "HEIGHT"]  # the page's only dataset holds baseline values only
    status, lines = check_folder(write_reviewer(tmp_path / "b", '[pages.trajectories]\ndatasets = ["ADVS"]\n',
                                                tables=t))
    assert not any(x.startswith("OK ") for x in lines)
    assert "WARNING trajectories page: every parameter it offers has values at baseline only" in "\n".join(lines)


# -- 9: the boxes are drawn from the same quartiles (type 7) and whiskers as the table -----------------------
def test_boxes_drawn_from_type7_quartiles(app_cb):
    import numpy as np
    import plotly.graph_objects as go

    study, cb = app_cb
    out = cb.outputs("cmp-fig", "figure", {
        "filter-state.data": store_of(study), "cmp-view.value": "single", "cmp-param.value": "ACTOT",
        "cmp-visit-a.value": 0, "cmp-visit-b.value": 26, "cmp-annot.value": "within", "cmp-log.value": [],
        "cmp-scale.value": "chg", "cmp-ref.value": study.arms[0].code})
    fig = go.Figure(out["cmp-fig.figure"])
    qs = reviewer_tables()["adqs"]
    adsl = reviewer_tables()["adsl"].set_index("USUBJID")
    boxes = [t for t in fig.data if t.meta and t.meta.get("role") == "box"]
    assert len(boxes) == 6
    for b in boxes:
        assert b.y is None  # plotly computes nothing itself
        planned = qs["USUBJID"].map(adsl["TRT01P"])  # ADAS-Cog: efficacy data, by the planned arm
        v = np.sort(qs[(planned == b.meta["arm"]) & (qs["AVISITN"] == b.meta["visit"])]["AVAL"].to_numpy(float))
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])  # R's type 7, as the table
        iqr = q3 - q1
        assert [b.q1[0], b.median[0], b.q3[0]] == pytest.approx([q1, med, q3])
        assert [b.lowerfence[0], b.upperfence[0]] == pytest.approx(
            [v[v >= q1 - 1.5 * iqr].min(), v[v <= q3 + 1.5 * iqr].max()])


# -- 8: study.toml names one timepoint of a parameter as the pages do: PARAMCD@ATPTN ------------------------
def test_study_toml_names_timepoint_codes(tmp_path):
    from components import trajectories as TJ
    from data.words import patient_defaults

    toml = ('[pages.trajectories]\ndatasets = ["ADVS", "ADQS"]\nparameter = "SYSBP@2"\n'
            'multiples = ["SYSBP@1", "DIABP@3"]\n[pages.patient]\npanels = ["SYSBP@2"]\n')
    s = load_study(write_reviewer(tmp_path / "s", toml))
    assert TJ.default_single(s) == "SYSBP@2" and TJ.default_multi(s) == ["SYSBP@1", "DIABP@3"]
    assert patient_defaults(s)["panels"] == ["SYSBP@2"]
    from data.study import DataError
    with pytest.raises(DataError) as e:
        load_study(write_reviewer(tmp_path / "t", '[pages.trajectories]\nparameter = "SYSBP@9"\n'))
    assert "'SYSBP@9' is not a parameter this page offers" in str(e.value.lines)


# -- 12: the trajectory page names the population and arm its numbers are of -------------------------------
@pytest.mark.parametrize("code, words", [
    ("ALT", "Safety population: SAFFL = 'Y' (9 of 10 subjects), by actual arm (TRT01A)"),
    ("ACTOT", "Efficacy population: EFFFL = 'Y' (10 of 10 subjects), by planned arm (TRT01P)"),
])
def test_trajectories_population_label(app_cb, code, words):
    from test_trajectories_page import text_of

    study, cb = app_cb
    stats = cb.outputs("traj-stats", "children", traj_controls(study, code))
    text = text_of(stats["traj-stats.children"])
    assert f"Within arm: baseline vs the comparison visit (population: {words}; the arms in the filter)" in text
    assert "all subjects of the arms in the filter" not in text


# -- 10, 11: readable at 1280x720 while presenting; long timepoint names do not overflow titles ----------------
LONG_TP = "AFTER LYING DOWN FOR 5 MINUTES IN A QUIET ROOM WITH THE ARM SUPPORTED AT HEART LEVEL"


@pytest.fixture(scope="module")
def long_tp_app(tmp_path_factory):
    t = reviewer_tables()
    t["advs"].loc[t["advs"]["ATPTN"] == 1, "ATPT"] = LONG_TP
    app = create_app(write_reviewer(tmp_path_factory.mktemp("longtp") / "s", tables=t))
    return app.server.config["STUDY"], CallbackClient(app, app.server.test_client())


def _plain(text):
    import re
    return [re.sub(r"<[^>]+>", "", x) for x in str(text).split("<br>")]


def test_long_timepoint_names_fit_titles(long_tp_app):
    import plotly.graph_objects as go
    from test_trajectories_page import figure

    study, cb = long_tp_app
    assert len(study.params["SYSBP@1"].name) > 100
    fig, _ = figure(cb, traj_controls(study, "SYSBP@1"))
    assert all(len(x) <= 32 for x in _plain(fig.layout.yaxis.title.text))
    assert fig.layout.yaxis.title.text.startswith("Systolic Blood Pressure<br>after lying down")
    c = traj_controls(study, "SYSBP@1", mode="multi", params=["SYSBP@1", "SYSBP@2", "DIABP@1", "DIABP@2"])
    fig, _ = figure(cb, c)
    titles = [a.text for a in fig.layout.annotations if a.text and a.text[:4] in ("A · ", "B · ", "C · ", "D · ")]
    assert len(titles) == 4 and all(len(t) <= 80 for t in titles) and titles[0].endswith("…")
    out = cb.outputs("cmp-fig", "figure", {
        "filter-state.data": store_of(study), "cmp-view.value": "single", "cmp-param.value": "SYSBP@1",
        "cmp-visit-a.value": 0, "cmp-visit-b.value": 26, "cmp-annot.value": "within", "cmp-log.value": [],
        "cmp-scale.value": "chg", "cmp-ref.value": study.arms[0].code})
    fig = go.Figure(out["cmp-fig.figure"])
    assert len(fig.layout.title.text) <= 110 and len(fig.layout.yaxis.title.text) <= 44


def test_n_rows_keep_their_room_when_the_figure_is_shrunk(app_cb):
    from test_trajectories_page import figure

    study, cb = app_cb
    fig, _ = figure(cb, traj_controls(study, "ALT"))
    lo, hi = fig.layout.yaxis2.domain
    # present mode shrinks the figure to ~250 px of plot: each arm's n row keeps >= 18 px
    assert (hi - lo) * 250 >= 18 * len(study.arms)
    n_rows = [t for t in fig.data if t.name and t.name.startswith("n ")]
    assert len(n_rows) == 3


# -- smaller ones ------------------------------------------------------------------------------------------
def test_covariance_labels_not_doubled():
    from components.trajectories import COV_LABELS

    assert COV_LABELS["AR1"] == "AR(1)" and COV_LABELS["UN"] == "Unstructured (UN)"
    assert not any(v.count("AR(1)") > 1 for v in COV_LABELS.values())


def test_header_shows_the_study_id_once(app_cb):
    from test_trajectories_page import find, text_of
    from components import shell

    study, cb = app_cb
    assert study.title == study.study_id  # RS-201 has no title of its own
    brand = text_of(cb.app.layout.to_plotly_json() if hasattr(cb.app.layout, "to_plotly_json") else cb.app.layout)
    import json
    layout = json.loads(json.dumps(shell.layout(study, []), cls=__import__("plotly").utils.PlotlyJSONEncoder))
    assert json.dumps(layout).count('"RS-201"') == 1


def test_reload_hash_not_served_without_debug(app_cb):
    _, cb = app_cb
    assert cb.client.get("/_reload-hash").status_code == 404


def test_design_caption_without_adex(app_cb):
    from test_trajectories_page import text_of

    study, cb = app_cb
    assert study.adex is None
    out = cb.outputs("ov-design", "figure", {"filter-state.data": store_of(study)})
    notes = " ".join(a["text"] for a in out["ov-design.figure"]["layout"]["annotations"] if "text" in a)
    assert "ADEX doses" not in notes and "no dosing rows (the study has no exposure dataset, ADEX)" in notes


def test_screen_failure_is_not_an_unknown_patient(tmp_path):
    from data import filters as F

    t = R.build("screen_failures")
    d = write_reviewer(tmp_path / "sf", tables=t)
    app = create_app(d)
    study, cb = app.server.config["STUDY"], CallbackClient(app, app.server.test_client())
    sf = "RS-201-701-1101"
    _, notices = F.from_query(f"?patient={sf}", study)
    assert notices == [f"Patient in no treatment arm (e.g. a screen failure), left out of every page: {sf}"]
    out = cb.outputs("pt-figure", "figure", {"filter-state.data": store_of(study), "pt-patient.value": sf,
                                             "pt-params.value": [], "pt-group.value": "none"})
    msg = str(out["pt-message.children"])
    assert "Unknown patient" not in msg and f"{sf} is in ADSL but in no treatment arm (ARM 'Screen Failure'" in msg


def test_ls_mean_difference_one_decimal_more_than_the_data(app_cb):
    import re
    from test_trajectories_page import text_of

    study, cb = app_cb
    stats = cb.outputs("traj-stats", "children", traj_controls(study, "ALT", scale="chg"))
    text = text_of(stats["traj-stats.children"])
    # ALT recorded with 1 decimal: LS-mean differences with 2
    est = re.findall(r"(-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\] U/L", text.split("LS-mean difference", 1)[1])
    assert est and all(len(x.split(".")[1]) == 2 for e in est for x in e)


def test_data_notes_collapsed_to_one_line(app_cb):
    from components import shell

    study, _ = app_cb
    alert = shell.data_notes(study).to_plotly_json()
    details = alert["props"]["children"].to_plotly_json()
    assert details["type"] == "Details" and not details["props"].get("open")  # closed: one line, a toggle
    summary = details["props"]["children"][0].to_plotly_json()
    assert f"Data notes ({len(study.notes)})" in str(summary["props"]["children"])


def test_blinded_view_pools_planned_and_actual_arms(folder):
    """A blinded study with planned and actual arm variables: one group for efficacy and safety data alike,
    and nothing of the app's planned/actual arm columns left to tell the arms apart."""
    from analysis import codegen
    from data.blinding import POOLED_LABEL, pooled

    b = pooled(load_study(folder))
    assert [a.label for a in b.arms] == [POOLED_LABEL] and b.arm_variables == {}
    assert not {"ARM_EFFICACY", "ARM_SAFETY", "TRT01P", "TRT01A", "ARM", "ACTARM"} & set(b.adsl.columns)
    assert set(b.measurements["ARM"].astype(str)) == {POOLED_LABEL}
    assert not codegen.two_arms(b)
    lines = "\n".join(codegen.subjects_lines(b, ["ADQS", "ADLB"]))
    assert "TRT01P" not in lines and "TRT01A" not in lines and "blinded view: one group" in lines
    assert not any("another treatment than planned" in n for n in b.notes)


def test_start_cache_keeps_the_review_fields(tmp_path, monkeypatch):
    """The start cache gives back the planned/actual arms, per-subject ranges and baseline-only flags; a
    study.toml choosing another arm variable is another key (a miss), never the cached arms."""
    from data import startcache as SC

    monkeypatch.setenv(SC.ENV_DIR, str(tmp_path / "state"))
    monkeypatch.setenv(SC.ENV_ENABLED, "1")
    t = with_baseline_only(reviewer_tables())
    d = write_reviewer(tmp_path / "s", tables=t)
    first = load_study(d)
    assert SC.last.get("stored"), SC.last
    again = load_study(d)
    assert SC.last["result"] == "hit"
    assert again.arm_variables == first.arm_variables == {"efficacy": "TRT01P", "safety": "TRT01A"}
    assert not again.params["HEIGHT"].after_baseline and again.notes == first.notes
    pd.testing.assert_frame_equal(again.adsl, first.adsl)
    (d / "study.toml").write_text(PAGES_TOML + '[arms]\nvariable = "TRT01A"\n')
    other = load_study(d)
    assert SC.last["result"] == "miss" and other.arm_variables == {"efficacy": "TRT01A", "safety": "TRT01A"}
