"""The simulated dataset is re-derivable from its generator, and follows the design document."""

import json

import pandas as pd
import pyarrow
import pytest

from data import generate_lso088 as gen
from data.lock import sha256_file
from data.study import DEFAULT_DATA

TABLES = ("adsl", "adlb", "adcell", "adae", "adex")


def test_same_seed_same_tables():
    a, b = gen.generate(gen.SEED), gen.generate(gen.SEED)
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name])


def test_locked_files_equal_a_fresh_generation(tmp_path):
    fresh = gen.write(tmp_path)
    for name in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(DEFAULT_DATA / f"{name}.parquet"), fresh[name], check_dtype=False)


def test_lock_rederived_byte_for_byte_with_same_writer(tmp_path):
    locked = json.loads((DEFAULT_DATA / "LOCK.json").read_text())
    written = locked["written_with"]
    if (written["pandas"], written["pyarrow"]) != (pd.__version__, pyarrow.__version__):
        pytest.skip(f"parquet writer differs from the lock's ({written}); tables compared above")
    gen.write(tmp_path)
    for name, entry in locked["files"].items():
        assert sha256_file(tmp_path / name) == entry["sha256"], name
    assert json.loads((tmp_path / "LOCK.json").read_text())["fingerprint"] == locked["fingerprint"]


def test_a_different_seed_gives_different_data():
    assert not gen.generate(1)["adlb"]["AVAL"].equals(gen.generate(2)["adlb"]["AVAL"])


@pytest.fixture(scope="module")
def t():
    return gen.generate(gen.SEED)


def test_design_arms_subjects_and_disposition(t):
    adsl = t["adsl"]
    assert list(adsl["USUBJID"]) == [f"LSO-088-{i:03d}" for i in range(1, 31)]
    assert adsl.groupby("TRT01A").size().to_dict() == {"Belimumab": 10, "Ld-IL2": 10, "Belimumab + Ld-IL2": 10}
    assert (adsl["SEX"] == "F").groupby(adsl["TRT01A"]).sum().tolist() == [9, 9, 9]
    disc = adsl[adsl["EOSSTT"] == "DISCONTINUED"]
    assert sorted(zip(disc["TRT01A"], disc["DCSREAS"], disc["LSTVISN"])) == [
        ("Belimumab", "LOST TO FOLLOW-UP", 36), ("Ld-IL2", "ADVERSE EVENT", 28)]
    assert adsl["AGE"].between(18, 60).all()


def test_rows_stop_at_discontinuation_and_baseline_complete(t):
    adsl = t["adsl"].set_index("USUBJID")
    for name in ("adlb", "adcell"):
        df = t[name]
        last = df.groupby("USUBJID")["AVISITN"].max()
        for u, wk in last.items():
            assert wk <= adsl.loc[u, "LSTVISN"]
        base = df[df["AVISITN"] == 0]
        assert len(base) == 30 * df["PARAMCD"].nunique()  # nothing missing at baseline
        assert set(df.loc[df["ABLFL"] == "Y", "AVISIT"]) == {"Baseline"}


def test_visits_days_and_derivations(t):
    lb = t["adlb"]
    imm = lb[lb["PARCAT1"] == "SEROLOGY"]
    assert sorted(imm["AVISITN"].unique()) == list(range(0, 49, 4))
    assert sorted(lb.loc[lb["PARCAT1"] == "CLINICAL ACTIVITY", "AVISITN"].unique()) == [0, 12, 24, 36, 48]
    post = imm[imm["AVISITN"] > 0]
    assert ((post["ADY"] - (7 * post["AVISITN"] + 1)).abs() <= 3).all()
    assert (imm.loc[imm["AVISITN"] == 0, "ADY"] == 1).all()
    pd.testing.assert_series_equal(post["CHG"], (post["AVAL"] - post["BASE"]).round(6), check_names=False)
    assert imm.loc[imm["AVISITN"] == 0, "CHG"].isna().all()
    # about 3 % of scheduled post-baseline assays are missing at random
    sched = sum(len([w for w in range(4, 49, 4) if w <= lv]) for lv in t["adsl"]["LSTVISN"]) * 5
    missing = 1 - len(post) / sched
    assert 0.005 < missing < 0.07


def test_parameters_units_and_ranges(t):
    lb = t["adlb"].drop_duplicates("PARAMCD").set_index("PARAMCD")
    assert lb.loc["IGG", "PARAM"] == "IgG (g/L)" and (lb.loc["IGG", "ANRLO"], lb.loc["IGG", "ANRHI"]) == (7.0, 16.0)
    assert (lb.loc["C3", "ANRLO"], lb.loc["C3", "ANRHI"]) == (0.9, 1.8)
    cell = t["adcell"]
    assert set(cell["PARAMCD"]) == {"NAIVEB", "PLASMA", "MEMB", "BREG", "IL2POS", "IL17POS", "TREG", "TFH"}
    assert set(cell["PARCAT1"]) == {"B CELLS", "T CELLS", "CYTOKINE-PRODUCING T CELLS"}
    sledai = t["adlb"][t["adlb"]["PARAMCD"] == "SLEDAI"]
    assert (sledai["AVAL"] == sledai["AVAL"].round()).all()
    assert (sledai.loc[sledai["AVISITN"] == 0, "AVAL"] >= 6).all()


def test_adverse_event_counts_follow_design_table(t):
    ae = t["adae"]
    for decod, _soc, counts, _terms, _kind in gen.AE_TABLE:
        got = [ae[(ae["AEDECOD"] == decod) & (ae["TRT01A"] == arm)]["USUBJID"].nunique() for arm in gen.ARMS.values()]
        assert got == list(counts), decod
    assert ae.duplicated(["USUBJID", "AEDECOD"]).any()  # some subjects have the same PT twice
    flare = ae[ae["AEDECOD"] == "Systemic lupus erythematosus"]
    assert flare["AEACN"].tolist() == ["DRUG WITHDRAWN"] and flare["AESER"].tolist() == ["Y"]
    inj = ae[ae["AEDECOD"] == "Injection site reaction"]
    assert inj["ASTDY"].apply(lambda d: 1 <= d <= 85 or 169 <= d <= 253).all()
    assert (ae["TRTEMFL"] == "Y").all() and set(ae["AERELTRT"]) <= {"BELIMUMAB", "LD-IL2", "BOTH", "NONE"}


def test_exposure_schedule(t):
    ex, adsl = t["adex"], t["adsl"].set_index("USUBJID")
    completer_bel = adsl[(adsl["ARMCD"] == "BEL") & (adsl["EOSSTT"] == "COMPLETED")].index[0]
    assert len(ex[(ex["USUBJID"] == completer_bel)]) == 12  # weeks 0..44, every 4 weeks
    completer_il2 = adsl[(adsl["ARMCD"] == "IL2") & (adsl["EOSSTT"] == "COMPLETED")].index[0]
    days = ex.loc[ex["USUBJID"] == completer_il2, "ASTDY"].tolist()
    assert len(days) == 2 * (42 + 12)
    assert days[:3] == [1, 3, 5] and 85 in days and 86 not in days
    dropped = adsl[adsl["DCSREAS"] == "ADVERSE EVENT"].index[0]
    assert ex.loc[ex["USUBJID"] == dropped, "ASTDY"].max() <= 7 * 28 + 1
