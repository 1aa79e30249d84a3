"""Overview page: design timeline, disposition and baseline table from the locked data."""

import pandas as pd

from conftest import default_store


def overview(cb, store):
    return cb.outputs("ov-design", "figure", {"filter-state.data": store})


def cells(table_component):
    """Rows of a rendered dbc.Table as lists of strings."""
    tbl = table_component if isinstance(table_component, dict) else table_component[0]
    head, body = tbl["props"]["children"]
    header = [th["props"]["children"] for th in head["props"]["children"]["props"]["children"]]
    rows = [[td["props"]["children"] for td in tr["props"]["children"]] for tr in body["props"]["children"]]
    return header, rows


def test_baseline_table_counts_30_subjects(cb, study):
    out = overview(cb, default_store(study))
    header, rows = cells(out["ov-baseline.children"][0])
    assert header == ["Characteristic", "Statistic", "Belimumab (N=10)", "Ld-IL2 (N=10)",
                      "Belimumab + Ld-IL2 (N=10)", "Total (N=30)"]
    assert rows[0] == ["Subjects", "n", "10", "10", "10", "30"]
    female = next(r for r in rows if r[0] == "Sex: Female")
    assert female[2:] == ["9 (90%)", "9 (90%)", "9 (90%)", "27 (90%)"]


def test_baseline_values_match_independent_computation(cb, study):
    out = overview(cb, default_store(study))
    _, rows = cells(out["ov-baseline.children"][0])
    age = next(r for r in rows if r[0] == "Age (years)")
    adsl = pd.read_parquet(study.folder / "adsl.parquet")
    total = adsl["AGE"]
    assert age[-1] == f"{total.mean():.1f} ({total.std():.1f})"
    lb = pd.read_parquet(study.folder / "adlb.parquet")
    ds = lb[(lb["PARAMCD"] == "DSDNA") & (lb["AVISITN"] == 0) & (lb["TRT01A"] == "Ld-IL2")]["AVAL"]
    q1, med, q3 = ds.quantile([0.25, 0.5, 0.75])
    row = next(r for r in rows if r[0].startswith("Anti-dsDNA"))
    assert row[3] == f"{med:.1f} [{q1:.1f}, {q3:.1f}]"


def test_disposition_by_arm(cb, study):
    out = overview(cb, default_store(study))
    _, rows = cells(out["ov-disposition.children"])
    as_dict = {r[0]: r[1:] for r in rows}
    assert as_dict["Randomised"] == ["10", "10", "10", "30"]
    assert as_dict["Completed"] == ["9 (90%)", "9 (90%)", "10 (100%)", "28 (93%)"]
    assert as_dict["  reason: Lost to follow-up"] == ["1 (10%)", "0 (0%)", "0 (0%)", "1 (3%)"]
    assert as_dict["  reason: Adverse event"] == ["0 (0%)", "1 (10%)", "0 (0%)", "1 (3%)"]


def test_arm_filter_restricts_columns(cb):
    out = overview(cb, {"arms": ["BELIL2"], "weeks": [0, 48], "patients": []})
    header, rows = cells(out["ov-baseline.children"][0])
    assert header[2:] == ["Belimumab + Ld-IL2 (N=10)", "Total (N=10)"]
    fig_rows = {t["y"][0] for t in out["ov-design.figure"]["data"]}
    assert not any(r.startswith("Belimumab:") for r in fig_rows)
    assert "Belimumab + Ld-IL2: LD-IL2 SC" in fig_rows


def test_design_figure_shows_each_schedule(cb, study):
    fig = overview(cb, default_store(study))["ov-design.figure"]
    rows = [t["y"][0] for t in fig["data"]]
    assert "Visits every 4 weeks" in rows and "Visits every 12 weeks" in rows
    bel = [t for t in fig["data"] if t["y"][0] == "Belimumab: BELIMUMAB IV"]
    assert len(bel) == 1 and len(bel[0]["x"]) == 12  # monthly infusions weeks 0-44
    texts = [a["text"] for a in fig["layout"]["annotations"]]
    assert texts.count("every other day") == 4 and texts.count("weekly") == 4
    assert any("SIMULATED DATA" in t for t in texts)


def test_patient_filter_counts(cb):
    out = overview(cb, {"arms": [], "weeks": [0, 48], "patients": ["LSO-088-001", "LSO-088-002"]})
    _, rows = cells(out["ov-baseline.children"][0])
    assert rows[0][-1] == "2"


def test_forged_store_gives_no_update(cb):
    r = cb.post("ov-design", "figure", {"filter-state.data": {"arms": ["NOPE"]}})
    assert r.status_code == 204
    r = cb.post("ov-design", "figure", {"filter-state.data": [1, 2, 3]})
    assert r.status_code == 204
