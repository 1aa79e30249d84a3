"""A study that is not LSO-088 (other arms, weeks 0–26, labs and vital signs, no SLEDAI), through the real app.

Every page is rendered through its real callbacks (tests/page_sweep.py): no LSO-088 word may appear.
The Overview's baseline table lists this study's ADSL variables with their labels, the AE timeline
ends at its last visit, every between-arm statistic uses its reference arm, and grouped panels
never put one unit over several. Expected values come from the written files, read with pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import neutral_builder as N
from app import PAGES, create_app
from conftest import CallbackClient
from data import filters as F
from page_sweep import strings, sweep


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return N.write(tmp_path_factory.mktemp("neutral") / "study")


@pytest.fixture(scope="module")
def app(folder):
    return create_app(folder)


@pytest.fixture(scope="module")
def study(app):
    return app.server.config["STUDY"]


@pytest.fixture()
def cb(app):
    return CallbackClient(app, app.server.test_client())


@pytest.fixture(scope="module")
def shown(app, study):
    return sweep(app, study, PAGES)


@pytest.fixture(scope="module")
def raw(folder):
    return {name: pd.read_sas(folder / f"{name}.xpt", format="xport", encoding="utf-8")
            for name in ("adsl", "adlb", "advs", "adae", "adex")}


def store(study):
    return F.default_state(study).to_store()


# -- no LSO-088 word anywhere ----------------------------------------------------------------------
def test_the_sweep_sees_every_page(shown):
    """The sweep reads what the pages show (else the next test could not fail)."""
    expect = {"/": ["Xanomeline High Dose", "Baseline characteristics", "Pooled Age Group 1: <65"],
              "/trajectories": ["Chemistry, hematology and vital signs over time, by arm", "MMRM", "Hemoglobin"],
              "/comparison": ["at two visits, by arm", "Grid (all 12)", "Kruskal–Wallis", "Mann–Whitney U"],
              "/safety": ["Safety: adverse events", "Dizziness", "Any TEAE related to study drug"],
              "/patient": ["Patient profile", "Alanine Aminotransferase (U/L)", "Dosing (ADEX)"]}
    for path, words in expect.items():
        text = "\n".join(shown[path])
        for w in words:
            assert w in text, (path, w)


@pytest.mark.parametrize("path", [p.PATH for p in PAGES])
def test_no_lso088_word_on_any_page(shown, path):
    text = "\n".join(shown[path]).lower()
    found = [w for w in N.LSO088_WORDS if w.lower() in text]
    assert not found, (path, {w: text[max(0, text.index(w.lower()) - 80):text.index(w.lower()) + 40] for w in found})


def test_navigation_and_headings_come_from_the_metadata(shown):
    shell = "\n".join(shown["/"])
    for title in ("Overview", "Trajectories", "Two-visit comparison", "Safety", "Patient profile"):
        assert title in shell
    assert "Chemistry, hematology and vital signs at two visits, by arm" in "\n".join(shown["/comparison"])


# -- Overview: the study's own baseline variables ----------------------------------------------------
def _rows(table):
    head, body = table["props"]["children"]
    return [[td["props"]["children"] for td in tr["props"]["children"]] for tr in body["props"]["children"]]


def test_baseline_table_lists_the_study_adsl_variables(cb, study, raw):
    out = cb.outputs("ov-design", "figure", {"filter-state.data": store(study)})
    rows = _rows(out["ov-baseline.children"][0])
    labels = [r[0] for r in rows]
    for label in ("Age (years)", "Pooled Age Group 1: <65", "Pooled Age Group 1: 65-80", "Sex: Female", "Sex: Male",
                  "Race: White", "Race: Black or African American", "Ethnicity: Not Hispanic or Latino",
                  "Baseline BMI (kg/m^2)", "Baseline Height (cm)", "Baseline Weight (kg)"):
        assert label in labels, label
    assert not any(x in " ".join(labels) for x in ("MMSE", "SLEDAI", "IgG"))  # not *BL, not configured
    sl = raw["adsl"]
    by = {(r[0], r[1]): r[2:] for r in rows}
    bmi = sl["BMIBL"]
    assert by[("Baseline BMI (kg/m^2)", "mean (SD)")][-1] == f"{bmi.mean():.1f} ({bmi.std():.1f})"
    q1, med, q3 = sl.loc[sl["TRT01A"] == "Placebo", "HEIGHTBL"].quantile([0.25, 0.5, 0.75])
    assert by[("Baseline Height (cm)", "median [Q1, Q3]")][0] == f"{med:.1f} [{q1:.1f}, {q3:.1f}]"
    for arm_i, arm in enumerate(a for a, _c, _d in N.ARMS):
        d = sl[sl["TRT01A"] == arm]
        k = int((d["AGEGR1"] == ">80").sum())
        if (sl["AGEGR1"] == ">80").any():
            assert by[("Pooled Age Group 1: >80", "n (%)")][arm_i] == f"{k} ({100 * k / len(d):.0f}%)"
    # categories in the order of their numeric companion (AGEGR1N), not alphabetical
    age_rows = [x for x in labels if x.startswith("Pooled Age Group 1")]
    order = sl.sort_values("AGEGR1N")["AGEGR1"].drop_duplicates().tolist()
    assert age_rows == [f"Pooled Age Group 1: {g}" for g in order]


def test_baseline_rows_from_study_toml(tmp_path):
    toml = ('[overview]\nbaseline = ["SEX", { variable = "MMSETOT", label = "MMSE total score", statistic = "median" },\n'
            '  { parameter = "ALT", statistic = "mean" }, { variable = "AGE", type = "categorical" }]\n')
    app = create_app(N.write(tmp_path / "s", toml=toml))
    study = app.server.config["STUDY"]
    out = CallbackClient(app, app.server.test_client()).outputs("ov-design", "figure",
                                                                 {"filter-state.data": store(study)})
    rows = [(r[0], r[1]) for r in _rows(out["ov-baseline.children"][0])]
    assert rows[:3] == [("Subjects", "n"), ("Sex: Female", "n (%)"), ("Sex: Male", "n (%)")]
    assert ("MMSE total score", "median [Q1, Q3]") in rows and ("MMSE total score", "mean (SD)") not in rows
    assert ("Alanine Aminotransferase (U/L)", "mean (SD)") in rows
    assert any(r[0].startswith("Age (years): ") for r in rows)  # AGE counted by value, as asked
    assert not any(r[0].startswith("Race") for r in rows)


def test_baseline_toml_names_are_checked(tmp_path):
    from data.study import DataError, load_study

    with pytest.raises(DataError) as e:
        load_study(N.write(tmp_path / "s", toml='[overview]\nbaseline = ["DISDUR", { parameter = "SLEDAI" }]\n'))
    assert e.value.lines[0] == "ERROR study.toml [overview] baseline: DISDUR is not a variable of ADSL"
    assert e.value.lines[1].startswith("ERROR study.toml [overview] baseline: no parameter 'SLEDAI' (PARAMCD: ALT, ")
    assert len(e.value.lines) == 2


# -- Safety: the timeline ends at the study's last visit -------------------------------------------
def test_ae_timeline_ends_at_the_last_visit(cb, study, raw):
    fig = cb.outputs("ae-timeline", "figure", {"filter-state.data": store(study)})["ae-timeline.figure"]
    x_end = fig["layout"]["xaxis"]["range"][1]
    ae, ex = raw["adae"], raw["adex"]
    last_visit = max(N.WEEKS)
    latest = max(last_visit, ae["AENDY"].max() / 7, (ex["ASTDY"].max() - 1) / 7)
    assert latest == last_visit  # the fixture's AEs and doses end before week 26
    assert x_end == pytest.approx(last_visit + 1)  # one week of margin, no 48-week minimum


# -- the reference arm of every between-arm statistic ----------------------------------------------
def test_reference_arm_is_the_studys_on_every_page(app, study):
    assert study.reference_arm == "PBO"  # the arm whose name says placebo
    values = {}
    for page in PAGES:
        for c in [page.layout(study)] + list(page.layout(study)._traverse()):
            if getattr(c, "id", None) in ("traj-ref", "cmp-ref", "ae-ref", "ae-arm"):
                values[c.id] = c.value
    assert values == {"traj-ref": "PBO", "cmp-ref": "PBO", "ae-ref": "PBO", "ae-arm": "XANHI"}


def test_reference_arm_from_study_toml_reaches_every_page(tmp_path):
    app = create_app(N.write(tmp_path / "s", toml='[arms]\nreference = "Xanomeline Low Dose"\n'))
    study = app.server.config["STUDY"]
    cb = CallbackClient(app, app.server.test_client())
    values = {}
    for page in PAGES:
        for c in [page.layout(study)] + list(page.layout(study)._traverse()):
            if getattr(c, "id", None) in ("traj-ref", "cmp-ref", "ae-ref"):
                values[c.id] = c.value
    assert values == {"traj-ref": "XANLO", "cmp-ref": "XANLO", "ae-ref": "XANLO"}
    st = store(study)
    stats = cb.outputs("traj-stats", "children", {
        "filter-state.data": st, "traj-mode.value": "single", "traj-param.value": "ALT", "traj-params.value": [],
        "traj-scale.value": "raw", "traj-opts.value": [], "traj-patmode.value": "highlight", "traj-visit.value": "end",
        "traj-ref.value": values["traj-ref"], "traj-adjust.value": "holm", "traj-cov.value": "UN", "traj-ddfm.value": "kr"})
    text = "\n".join(strings(stats))
    assert "reference arm Xanomeline Low Dose" in text
    assert "Placebo − Xanomeline Low Dose" in text and "Xanomeline High Dose − Xanomeline Low Dose" in text
    inc = cb.outputs("ae-incidence-grid", "rowData", {
        "filter-state.data": st, "ae-threshold.value": 0, "ae-arm.value": "XANHI", "ae-ref.value": values["ae-ref"],
        "ae-collapsed.data": []})
    heads = [d.get("headerName", "") for d in inc["ae-incidence-grid.columnDefs"]]
    assert "Xanomeline High Dose − Xanomeline Low Dose: risk difference, % points (95% CI)" in heads


# -- panels grouped by unit --------------------------------------------------------------------------
def test_group_panels_never_mix_units(cb, study):
    from components import patient

    groups = patient.unit_groups(study)
    for gid, (_cat, unit, codes) in groups.items():
        assert {study.params[c].unit for c in codes} == {unit}, gid
    labels = {o["value"]: o["label"] for o in patient.group_options(study)}
    assert labels["ADVS · mmHg"] == "Vital signs, mmHg (2)" and labels["HEMATOLOGY · 10^9/L"] == "Hematology, 10^9/L (2)"
    out = cb.outputs("pt-figure", "figure", {"filter-state.data": store(study), "pt-patient.value": study.subjects[0],
                                             "pt-params.value": ["ALT"], "pt-group.value": "ADVS · mmHg"})
    fig = out["pt-figure.figure"]
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert "Vital signs (mmHg)" in titles  # the dataset's label: ADVS has no PARCAT1
    group = [t for t in fig["data"] if t.get("legend") == "legend2"]
    assert sorted(t["name"] for t in group) == ["Diastolic Blood Pressure", "Systolic Blood Pressure"]
    yaxes = {k: v for k, v in fig["layout"].items() if k.startswith("yaxis") and v.get("title", {}).get("text")}
    assert {v["title"]["text"] for v in yaxes.values()} >= {"mmHg", "U/L"}


def test_trajectory_defaults_come_from_the_catalogue(study):
    from components import comparison, trajectories

    assert trajectories.default_single(study) == "ALT"
    assert trajectories.default_multi(study) == ["ALT", "AST", "CREAT", "ALB"]
    assert comparison.default_code(study) == "ALT" and len(comparison.subset_codes(study)) == 12


def test_small_multiples_keep_one_unit_per_panel(cb, study):
    out = cb.outputs("traj-graph", "figure", {
        "filter-state.data": store(study), "traj-mode.value": "multi", "traj-param.value": "ALT",
        "traj-params.value": ["ALT", "HGB", "SYSBP", "TEMP"], "traj-scale.value": "raw", "traj-stat.value": "mean",
        "traj-opts.value": [], "traj-patmode.value": "highlight"})
    lay = out["traj-graph.figure"]["layout"]
    units = sorted(v["title"]["text"] for k, v in lay.items() if k.startswith("yaxis") and "title" in v)
    assert units == ["C", "U/L", "g/dL", "mmHg"]
    assert np.isfinite(lay["height"])


def test_every_page_word_from_study_toml(tmp_path):
    toml = """
[pages.overview]
title = "At a glance"
heading = "CDISC pilot at a glance"
subheading = "randomised subjects"
[pages.trajectories]
title = "Labs & vitals"
heading = "Laboratory values and vital signs"
subheading = "safety population"
parameter_label = "Lab or vital sign"
parameter = "SYSBP"
multiples = ["SYSBP", "DIABP"]
[pages.comparison]
title = "Week 0 vs 26"
heading = "Two visits"
subheading = "boxes per arm"
parameter_label = "Measurement"
noun = "measurement"
single_view = "One measurement"
grid_view = "All measurements"
parameter = "HGB"
[pages.safety]
title = "Adverse events"
heading = "Treatment-emergent adverse events"
subheading = "TRTEMFL = Y"
[pages.patient]
title = "One subject"
heading = "Subject profile"
subheading = "over 26 weeks"
panels = ["HGB"]
group = "CHEMISTRY"
extra_panels = ["WEIGHT"]
step_panels = ["WEIGHT"]
"""
    app = create_app(N.write(tmp_path / "s", toml=toml))
    study = app.server.config["STUDY"]
    from components import comparison, patient, trajectories

    nav = "\n".join(strings(app.layout))
    for title in ("At a glance", "Labs & vitals", "Week 0 vs 26", "Adverse events", "One subject"):
        assert title in nav
    pages = {p.ID: "\n".join(strings(p.layout(study))) for p in PAGES}
    for page, words in {"overview": ["CDISC pilot at a glance", "randomised subjects"],
                        "trajectories": ["Laboratory values and vital signs", "safety population", "Lab or vital sign"],
                        "comparison": ["Two visits", "boxes per arm", "Measurement", "One measurement",
                                       "All measurements (all 12)"],
                        "safety": ["Treatment-emergent adverse events", "TRTEMFL = Y"],
                        "patient": ["Subject profile", "over 26 weeks"]}.items():
        for w in words:
            assert w in pages[page], (page, w)
    assert trajectories.default_single(study) == "SYSBP" and trajectories.default_multi(study) == ["SYSBP", "DIABP"]
    assert comparison.default_code(study) == "HGB"
    assert patient.default_labs(study) == ["HGB"] and patient.extra_panels(study) == ["WEIGHT"]
    assert patient.default_group(study, ["HGB"]).startswith("CHEMISTRY")  # its first unit: chemistry mixes units
