"""LSO-088 reads as it did when its words were constants: they now come from data/lso088/study.toml.

The bundled study's navigation, headings, pickers, default selections (the abstract's Figure 1 and
Figure 2), baseline table and patient-profile panels, rendered by the real layouts and callbacks;
and the same folder without its study.toml speaks the study-neutral defaults.
"""

from __future__ import annotations

import json
import shutil

import pytest

from app import PAGES, create_app
from components import comparison, patient, trajectories
from conftest import CallbackClient, default_store
from data import words as W
from data.study import DEFAULT_DATA


def texts(component) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda o: o.to_plotly_json(), ensure_ascii=False)


def test_navigation_and_headings(study):
    assert [W.page_title(study, p) for p in PAGES] == ["Overview", "Serology & activity", "Cell subsets", "Safety",
                                                        "Patient profile"]
    headings = {p.ID: texts(p.layout(study)) for p in PAGES}
    assert "Study overview" in headings["overview"]
    assert "Serology & clinical activity over time, by arm" in headings["trajectories"]
    assert "Immune cell subsets " in headings["comparison"] and "flow cytometry · simulated data" in headings["comparison"]
    assert "Safety: adverse events" in headings["safety"]
    assert "one subject over time · simulated data" in headings["patient"]


def test_pickers_and_the_abstracts_figure_selections(study):
    cmp = texts(comparison.layout(study))
    assert "One subset" in cmp and "Figure 2 grid (all 8)" in cmp and "Cell subset" in cmp
    assert comparison.default_code(study) == "NAIVEB"
    assert comparison.subset_codes(study) == ["NAIVEB", "PLASMA", "MEMB", "BREG", "IL2POS", "IL17POS", "TREG", "TFH"]
    assert trajectories.default_single(study) == "IGG"
    assert trajectories.default_multi(study) == ["IGG", "C3", "DSDNA", "ANUA"]  # Figure 1 A-D
    assert patient.default_labs(study) == ["IGG", "DSDNA", "ANUA", "C3", "C4"]
    assert patient.default_group(study, patient.default_labs(study)) == "B CELLS"
    assert patient.extra_panels(study) == ["SLEDAI", "PREDDOSE"] and patient.step_panels(study) == {"PREDDOSE"}


def test_baseline_table_rows_and_numbers(cb, study):
    out = cb.outputs("ov-design", "figure", {"filter-state.data": default_store(study)})
    table = out["ov-baseline.children"][0]
    rows = [[td["props"]["children"] for td in tr["props"]["children"]]
            for tr in table["props"]["children"][1]["props"]["children"]]
    assert [(r[0], r[1]) for r in rows] == [
        ("Subjects", "n"), ("Age (years)", "mean (SD)"), ("Sex: Female", "n (%)"), ("Sex: Male", "n (%)"),
        ("Race: Asian", "n (%)"), ("Disease duration (years)", "median [Q1, Q3]"),
        ("History of lupus nephritis", "n (%)"), ("SLEDAI-2K score", "mean (SD)"),
        ("Physician global assessment", "mean (SD)"), ("IgG (g/L)", "mean (SD)"),
        ("Anti-dsDNA (IU/mL)", "median [Q1, Q3]"), ("Anti-nucleosome (RU/mL)", "median [Q1, Q3]"),
        ("C3 (g/L)", "mean (SD)"), ("C4 (g/L)", "mean (SD)"), ("Urine protein (g/24 h)", "median [Q1, Q3]"),
        ("Prednisone-equivalent dose (mg/day)", "median [Q1, Q3]")]
    by = {r[0]: r[2:] for r in rows}  # the numbers the page showed before the words moved (same data, same rules)
    assert by["Disease duration (years)"] == ["3.5 [3.2, 5.0]", "6.3 [4.5, 8.8]", "2.9 [1.8, 3.6]", "3.7 [2.8, 6.7]"]
    assert by["Physician global assessment"] == ["1.62 (0.59)", "1.75 (0.56)", "1.56 (0.49)", "1.64 (0.53)"]
    assert by["History of lupus nephritis"] == ["2 (20%)", "4 (40%)", "5 (50%)", "11 (37%)"]


def test_the_words_come_from_the_study_toml(tmp_path):
    folder = tmp_path / "lso088"
    shutil.copytree(DEFAULT_DATA, folder)
    (folder / "study.toml").unlink()
    (folder / "LOCK.json").unlink()
    app = create_app(folder)
    study = app.server.config["STUDY"]
    assert [W.page_title(study, p) for p in PAGES] == ["Overview", "Trajectories", "Two-visit comparison", "Safety",
                                                        "Patient profile"]
    assert "Serology & clinical activity" not in texts(trajectories.layout(study))
    assert "Figure 2 grid" not in texts(comparison.layout(study)) and "Cell subset" not in texts(comparison.layout(study))
    assert patient.extra_panels(study) == []
    out = CallbackClient(app, app.server.test_client()).outputs("ov-design", "figure",
                                                               {"filter-state.data": default_store(study)})
    labels = [tr["props"]["children"][0]["props"]["children"]
              for tr in out["ov-baseline.children"][0]["props"]["children"][1]["props"]["children"]]
    assert "SLEDAI-2K score" not in labels and "History of lupus nephritis" not in labels
    assert labels[:2] == ["Subjects", "Age (years)"]


@pytest.mark.parametrize("key", ["parameter", "multiples"])
def test_a_default_the_page_does_not_offer_is_an_error(tmp_path, key):
    from data.study import DataError, load_study

    folder = tmp_path / "lso088"
    shutil.copytree(DEFAULT_DATA, folder)
    (folder / "LOCK.json").unlink()
    text = (folder / "study.toml").read_text()
    bad = 'parameter = "NAIVEB"' if key == "parameter" else 'multiples = ["IGG", "NAIVEB"]'
    line = 'parameter = "IGG"' if key == "parameter" else 'multiples = ["IGG", "C3", "DSDNA", "ANUA"]'
    (folder / "study.toml").write_text(text.replace(line, bad, 1))
    with pytest.raises(DataError) as e:
        load_study(folder)
    assert e.value.lines[0].startswith(f"ERROR study.toml [pages.trajectories] {key}: 'NAIVEB' is not a parameter "
                                       f"this page offers (PARAMCD: IGG, DSDNA")
