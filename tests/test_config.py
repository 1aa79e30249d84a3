"""study.toml: every key documented, parsed, type-checked, checked against the data, and in effect."""

from __future__ import annotations

import re

import pytest

import adam_builder as B
from conftest import ROOT
from data import config as C
from data.study import DataError, load_study


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "the README has one study.toml example"
    return blocks[0]


def test_readme_example_is_valid_and_shows_every_key():
    text = readme_example()
    cfg = C.parse(text)
    for section, keys in C.SCHEMA.items():
        for key in keys:
            assert re.search(rf"^\[{section}\]$(?:(?!^\[).)*^{key} = ", text, re.S | re.M), f"[{section}] {key}"
    for page, keys in C.PAGE_KEYS_BY_PAGE.items():
        for key in keys:
            assert re.search(rf"^\[pages\.{page}\][^\n]*$(?:(?!^\[).)*^{key} = ", text, re.S | re.M), f"[pages.{page}] {key}"
    assert cfg.arm_variable == "TRT01P" and cfg.arm_order[0] == "Placebo" and cfg.reference_arm == "Placebo"
    assert cfg.efficacy_flag == "FASFL" and cfg.encoding == "cp1252" and cfg.visit_weeks == {"End of Treatment": 26.0}
    assert cfg.pages["trajectories"] == C.PageSource(("ADLB", "ADVS"), ("CHEMISTRY", "VITAL SIGNS"))


def test_no_file_means_defaults(tmp_path):
    assert C.load(tmp_path) == C.StudyConfig()


@pytest.mark.parametrize("text,line", [
    ('[arms]\ncolour = { "A" = "#000000" }\n',
     "ERROR study.toml [arms]: unknown key(s) colour; known: variable, order, reference, colours, exclude, "
     "include_untreated, efficacy_variable, safety_variable"),
    ('[arm]\nvariable = "TRT01A"\n',
     "ERROR study.toml: unknown section(s) [arm]; known: [study], [arms], [populations], [datasets], [visits], "
     "[overview], [safety], [pages]"),
    ('[pages.safety]\ndatasets = ["ADAE"]\n',
     "ERROR study.toml [pages.safety]: unknown key(s) datasets; known: title, heading, subheading"),
    ('[pages.serology]\ntitle = "Serology"\n',
     "ERROR study.toml: unknown page [pages.serology]; known: [pages.overview], [pages.trajectories], "
     "[pages.comparison], [pages.safety], [pages.patient]"),
    ('[pages.comparison]\ndataset = ["ADCELL"]\n',
     "ERROR study.toml [pages.comparison]: unknown key(s) dataset; known: datasets, parcat1, title, heading, "
     "subheading, parameter_label, noun, single_view, grid_view, parameter"),
    ('[study]\nsimulated = "yes"\n', "ERROR study.toml [study] simulated: must be true or false, not 'yes'"),
    ('[study]\nencoding = "ebcdic"\n',
     "ERROR study.toml [study] encoding: must be one of utf-8, cp1252, latin-1, not 'ebcdic'"),
    ('[arms]\norder = "Placebo"\n', "ERROR study.toml [arms] order: must be a list of strings, not 'Placebo'"),
    ('[arms]\norder = ["A", "A"]\n', "ERROR study.toml [arms] order: listed twice: 'A'"),
    ('[arms]\ncolours = { "A" = "blue" }\n', "ERROR study.toml [arms] colours: not #RRGGBB colours: A='blue'"),
    ('[arms]\norder = ["A", "B"]\nreference = "C"\n', "ERROR study.toml [arms] reference: 'C' is not in [arms] order"),
    ('[arms]\nvariable = "TRT 01A"\n',
     "ERROR study.toml [arms] variable: must be a SAS variable or dataset name (letters, digits, _), not 'TRT 01A'"),
    ('[visits]\nweeks = { "EOT" = "last" }\n', "ERROR study.toml [visits] weeks: week numbers must be numbers: EOT='last'"),
    ('[visits]\nend = true\n', "ERROR study.toml [visits] end: must be a visit name (AVISIT) or number (AVISITN), not True"),
])
def test_bad_config_names_the_problem(text, line):
    with pytest.raises(C.ConfigError) as e:
        C.parse(text)
    assert e.value.lines == [line]


def test_every_problem_is_reported_at_once():
    with pytest.raises(C.ConfigError) as e:
        C.parse('[arms]\nfoo = 1\n[study]\nsimulated = 3\n[bar]\n')
    assert len(e.value.lines) == 3


def test_invalid_toml():
    with pytest.raises(C.ConfigError) as e:
        C.parse("[arms\n")
    assert len(e.value.lines) == 1 and e.value.lines[0].startswith("ERROR study.toml: not valid TOML (")


# -- in effect on a study ---------------------------------------------------------------------------
@pytest.fixture()
def folder(tmp_path):
    return B.write(tmp_path / "xyz", "parquet")


def with_toml(folder, text):
    (folder / "study.toml").write_text(text)
    return load_study(folder)


def test_settings_take_effect(folder):
    t = B.build()
    # make TRT01P differ from TRT01A for one subject, to see which variable is used
    t["adsl"].loc[0, "TRT01P"] = "Drug 10 mg"
    t["adsl"].to_parquet(folder / "adsl.parquet", index=False)
    study = with_toml(folder, '''
[study]
id = "XYZ-101-ext"
title = "Drug X in the XYZ-101 extension"
simulated = true
[arms]
variable = "TRT01P"
order = ["Drug 20 mg", "Drug 10 mg", "Placebo"]
reference = "Drug 10 mg"
colours = { "Placebo" = "#777777" }
[populations]
efficacy = ""
safety = "ITTFL"
[datasets]
exclude = ["ADVS"]
[visits]
end = "Week 2"
include = ["End of Treatment", "Unscheduled 1"]
weeks = { "Unscheduled 1" = 3 }
[pages.trajectories]
parcat1 = ["CHEMISTRY"]
[pages.comparison]
datasets = ["ADLB"]
''')
    assert (study.study_id, study.title, study.simulated) == ("XYZ-101-ext", "Drug X in the XYZ-101 extension", True)
    assert study.arm_variable == "TRT01P"
    assert [(a.label, a.n) for a in study.arms] == [("Drug 20 mg", 4), ("Drug 10 mg", 4), ("Placebo", 4)]
    assert study.reference.label == "Drug 10 mg"
    placebo = study.arm_by_label["Placebo"]
    assert placebo.colour == "#777777" and placebo.light != placebo.colour
    assert study.arm_by_label["Drug 20 mg"].colour == "#0072B2"  # the palette, in the configured order
    # populations: every subject for efficacy (EFFFL ignored), ITTFL for safety (all Y: the SAFFL=N subject's AE shows)
    assert study.efficacy_flag is None and study.population("efficacy").n == 12
    assert study.safety_flag == "ITTFL" and len(study.adae) == 6
    assert set(study.params) == {"ALT", "CREAT"}
    assert study.visits == ((0.0, "Baseline"), (2.0, "Week 2"), (3.0, "Unscheduled 1"), (4.0, "Week 4"),
                            (99.0, "End of Treatment"))
    assert study.end_visit == 2.0 and study.off_axis.empty
    assert list(study.params_for("trajectories")) == ["ALT", "CREAT"] and list(study.params_for("comparison")) == ["ALT", "CREAT"]
    # End of Treatment has no week (no week in its name, no ADY): the axis shows visit numbers, and says so
    assert study.time_unit == "visit" and any("the time axis shows visit numbers (AVISITN)" in n for n in study.notes)
    m = study.measurements
    assert len(m[m["TIME"] == 3.0]) == 1 and m.loc[m["TIME"] == 3.0, "AVAL"].iloc[0] == 88.0


def test_page_sources_split_parameters(folder):
    study = with_toml(folder, '[pages.trajectories]\ndatasets = ["ADVS"]\n[pages.comparison]\nparcat1 = ["CHEMISTRY"]\n')
    assert list(study.params_for("trajectories")) == ["SYSBP", "DIABP"]
    assert list(study.params_for("comparison")) == ["ALT", "CREAT"]
    assert list(study.params_for("safety")) == list(study.params)  # not configurable: everything


def test_baseline_visit_for_a_dataset_without_ablfl(folder):
    study = with_toml(folder, '[visits]\nbaseline = "Week 2"\n')
    vs = study.measurements[study.measurements["PARAMCD"] == "SYSBP"]
    assert set(vs.loc[vs["ABLFL"] == "Y", "AVISITN"]) == {2.0}
    assert any("baseline records are those at study.toml [visits] baseline = 'Week 2'" in n for n in study.notes)
    # ADLB has ABLFL: it keeps its own baseline
    lb = study.measurements[study.measurements["PARAMCD"] == "ALT"]
    assert set(lb.loc[lb["ABLFL"] == "Y", "AVISITN"]) == {0.0}


def test_renamed_adverse_event_dataset(folder):
    (folder / "adae.parquet").rename(folder / "adaeall.parquet")
    assert load_study(folder).adae is None  # not found under its default name: the Safety page says so
    study = with_toml(folder, '[datasets]\nadverse_events = "ADAEALL"\n')
    assert study.adae is not None and len(study.adae) == 5


@pytest.mark.parametrize("text,line", [
    ('[arms]\nreference = "Drug 50 mg"\n',
     "ERROR study.toml [arms] reference: 'Drug 50 mg' is not an arm of TRT01P or TRT01A "
     "(arms: 'Placebo', 'Drug 10 mg', 'Drug 20 mg')"),
    ('[populations]\nefficacy = "PPROTFL"\n',
     "ERROR study.toml [populations] efficacy: PPROTFL is not a variable of adsl.parquet "
     "(flags there: SAFFL, EFFFL, ITTFL)"),
    ('[datasets]\nexposure = "ADEXSUM"\n',
     "ERROR study.toml [datasets] exposure: no dataset ADEXSUM in the folder "
     "(datasets: ADAE, ADCM, ADLB, ADSL, ADVS)"),
    ('[pages.comparison]\ndatasets = ["ADCELL"]\n',
     "ERROR study.toml [pages.comparison] datasets: no parameter dataset ADCELL (parameter datasets: ADLB, ADVS)"),
    ('[pages.trajectories]\nparcat1 = ["SEROLOGY"]\n',
     "ERROR study.toml [pages.trajectories] parcat1: no PARCAT1 value 'SEROLOGY' in the data (values: 'CHEMISTRY')"),
    ('[visits]\nend = "Week 48"\n',
     "ERROR study.toml [visits] end: 'Week 48' is not a visit on the time axis "
     "(visits: 'Baseline' (0), 'Week 2' (2), 'Week 4' (4))"),
    ('[visits]\ninclude = ["Unscheduled 1"]\n',
     "ERROR study.toml [visits] include: 'Unscheduled 1' not on the time axis: no such AVISIT, or it has no "
     "AVISITN (give its week under [visits] weeks)"),
])
def test_names_are_checked_against_the_data(folder, text, line):
    with pytest.raises(DataError) as e:
        with_toml(folder, text)
    assert e.value.lines == [line]


def test_excluding_an_unknown_dataset_is_a_warning(folder):
    study = with_toml(folder, '[datasets]\nexclude = ["ADTTE"]\n')
    assert "WARNING study.toml [datasets] exclude: no dataset ADTTE in the folder" in study.notes


def test_pages_offer_the_parameters_study_toml_gives_them(folder):
    from components import comparison, trajectories

    study = with_toml(folder, '[pages.trajectories]\ndatasets = ["ADVS"]\n[pages.comparison]\nparcat1 = ["CHEMISTRY"]\n')
    assert trajectories.allowed_codes(study) == ["SYSBP", "DIABP"]
    assert comparison.subset_codes(study) == ["ALT", "CREAT"]
