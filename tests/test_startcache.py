"""The start cache (data/startcache.py): used for an unchanged folder, refused for a changed byte, a
changed study.toml and a changed app version; a cached Study is exactly the Study a fresh load gives;
a corrupt, edited or foreign entry is never trusted; the lock is checked before the cache is looked at."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

import realistic
from data import lock as _lock
from data import startcache as SC
from data import study as DS
from data.study import DEFAULT_DATA, load_study


@pytest.fixture()
def state(tmp_path, monkeypatch):
    """The cache on, in a state directory of this test."""
    where = tmp_path / "state"
    monkeypatch.setenv(SC.ENV_DIR, str(where))
    monkeypatch.setenv(SC.ENV_ENABLED, "1")
    monkeypatch.delenv(SC.ENV_SECRET, raising=False)
    return where


@pytest.fixture()
def builds(monkeypatch):
    """Counts the loads that parsed and validated the files (data.study._build)."""
    calls = []
    real = DS._build

    def spy(*a, **kw):
        calls.append(a[0])
        return real(*a, **kw)

    monkeypatch.setattr(DS, "_build", spy)
    return calls


def fresh(folder, monkeypatch):
    """The Study as a load without any cache gives it."""
    with monkeypatch.context() as m:
        m.setenv(SC.ENV_ENABLED, "0")
        return load_study(folder)


def entries(state):
    root = state / SC.SUBDIR
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


@pytest.fixture(scope="module")
def realistic_xpt(tmp_path_factory):
    """The realistic study with every convention (timepoints, DTYPE rows, unscheduled visits, screen
    failures, two BASETYPEs...) as XPT v5, unlocked."""
    return realistic.write(tmp_path_factory.mktemp("rs") / "combined", realistic.COMBINED, "xpt5")


# -- used for an unchanged folder, and exactly the same Study -------------------------------------------
@pytest.mark.parametrize("which", ["lso088", "realistic_xpt"])
def test_unchanged_folder_is_served_from_the_cache_and_is_the_same_study(which, state, builds, tmp_path,
                                                                       monkeypatch, request):
    src = DEFAULT_DATA if which == "lso088" else request.getfixturevalue("realistic_xpt")
    folder = tmp_path / which
    shutil.copytree(src, folder)
    first = load_study(folder)
    assert builds == [folder] and SC.last["result"] == "miss" and SC.last["stored"] is True
    assert len(entries(state)) == 1
    # the files are not in the entry; nothing was written into the data folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in src.iterdir())

    cached = load_study(folder)
    assert builds == [folder], "the second start parsed the files again"
    assert SC.last["result"] == "hit"
    assert cached is not first
    assert SC.differences(cached, fresh(folder, monkeypatch)) == []
    # spelled out for the frames the pages read, dtypes and categories included
    ref = fresh(folder, monkeypatch)
    for name in ("adsl", "measurements", "adae", "imputed", "off_axis", "other_measurements", "excluded"):
        a, b = getattr(cached, name), getattr(ref, name)
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_categorical=True)
        for col in a.columns:
            assert a[col].dtype == b[col].dtype, (name, col)
    assert cached.params == ref.params and cached.visits == ref.visits and cached.notes == ref.notes
    assert cached.arms == ref.arms and cached.populations == ref.populations
    assert cached.lock == ref.lock and cached.config == ref.config and cached.folder == folder


def test_realistic_study_keeps_its_record_selection(realistic_xpt, state, builds, tmp_path, monkeypatch):
    """What issue 13's record selection decided comes back from the cache: DTYPE rows as imputed records,
    timepoint parameters, screen failures left out, sponsor decisions in the report."""
    folder = tmp_path / "rs"
    shutil.copytree(realistic_xpt, folder)
    load_study(folder)
    cached = load_study(folder)
    assert SC.last["result"] == "hit" and len(builds) == 1
    raw_adsl = realistic.read(folder, "adsl")
    assert len(cached.excluded) == int((raw_adsl["ARM"] == "Screen Failure").sum()) == 3
    assert any("@" in code for code in cached.params), "timepoint parameters (PARAMCD@ATPTN)"
    assert set(cached.imputed["DTYPE"].astype(str)) == {"LOCF"}
    assert cached.reports == fresh(folder, monkeypatch).reports


def _with_attrs(d, attrs):
    d.attrs = attrs
    return d


def _variants():
    """One small change per kind of column the Study's frames hold, each of which must count as a difference."""
    base = pd.DataFrame({
        "USUBJID": pd.Series(["S-1", None, "S-3"], dtype="str"),
        "AVAL": [1.5, float("nan"), -0.0],
        "N": [1, 2, 3],
        "ARM": pd.Categorical(["A", "B", "A"], categories=["A", "B"]),
        "TRTSDT": pd.to_datetime(["2024-01-02", None, "2024-03-04"]),
    })
    edits = {
        "a string": lambda d: d.assign(USUBJID=pd.Series(["S-1", "", "S-3"], dtype="str")),
        "a missing value": lambda d: d.assign(AVAL=[1.5, 0.0, -0.0]),
        "a float's last bit": lambda d: d.assign(AVAL=[1.5000000000000002, float("nan"), -0.0]),
        "the sign of zero": lambda d: d.assign(AVAL=[1.5, float("nan"), 0.0]),
        "an integer": lambda d: d.assign(N=[1, 2, 4]),
        "integer to float": lambda d: d.assign(N=[1.0, 2.0, 3.0]),
        "a category": lambda d: d.assign(ARM=pd.Categorical(["A", "A", "A"], categories=["A", "B"])),
        "the categories' order": lambda d: d.assign(ARM=pd.Categorical(["A", "B", "A"], categories=["B", "A"])),
        "the categories' dtype": lambda d: d.assign(ARM=pd.Categorical(["A", "B", "A"]).rename_categories(
            {"A": "A", "B": "B"}).set_categories(pd.Index(["A", "B"], dtype=object))),
        "a date": lambda d: d.assign(TRTSDT=pd.to_datetime(["2024-01-02", None, "2024-03-05"])),
        "the date unit": lambda d: d.assign(TRTSDT=d["TRTSDT"].astype("datetime64[ns]")),
        "a column's order": lambda d: d[["AVAL", "USUBJID", "N", "ARM", "TRTSDT"]],
        "the index": lambda d: d.set_axis([0, 1, 3]),
        "attrs": lambda d: _with_attrs(d, {"source": "adlb.xpt"}),
    }
    return base, edits


@pytest.mark.parametrize("what", list(_variants()[1]))
def test_exactness_check_tells_every_kind_of_change(what):
    """A cache entry is kept only when reading it back gives the very same frames: the comparison must see a
    change of one value, one bit, one dtype or the categories' order in any column kind."""
    base, edits = _variants()
    assert SC._frame_difference(base, base.copy(deep=True)) is None
    changed = edits[what](base.copy(deep=True))
    assert SC._frame_difference(base, changed) is not None, what
    assert SC._frame_difference(changed, base) is not None, what


# -- refused when anything it was built from changed ---------------------------------------------
def test_a_changed_byte_is_parsed_again(state, builds, tmp_path, monkeypatch):
    folder = realistic.write(tmp_path / "csv", realistic.COMBINED, "csv")  # unlocked: a changed byte is allowed
    first = load_study(folder)
    path = folder / "adqs.csv"
    text = path.read_text()
    row = next(line for line in text.splitlines()[1:] if ",Week 26," in line and ",Y," not in line)
    old = row.split(",")
    aval_at = text.splitlines()[0].split(",").index("AVAL")
    new = old.copy()
    new[aval_at] = str(float(old[aval_at]) + 1000.0)
    path.write_text(text.replace(row, ",".join(new)))
    second = load_study(folder)
    assert builds == [folder, folder], "a changed byte must be parsed and validated again"
    assert SC.last["result"] == "miss"
    assert second.fingerprint != first.fingerprint
    usubjid = old[text.splitlines()[0].split(",").index("USUBJID")]
    got = second.measurements[(second.measurements["USUBJID"] == usubjid) & (second.measurements["PARAMCD"] == "ACTOT")]
    assert (got["AVAL"] > 999).any() and not (first.measurements["AVAL"] > 999).any()
    assert SC.differences(second, fresh(folder, monkeypatch)) == []


def test_a_changed_byte_of_a_locked_folder_is_refused_by_the_lock_first(state, data_copy, builds):
    load_study(data_copy)
    assert SC.last["stored"] is True
    p = data_copy / "adae.parquet"
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    p.write_bytes(bytes(raw))
    with pytest.raises(_lock.LockError, match="adae.parquet: SHA-256 differs"):
        load_study(data_copy)
    assert len(builds) == 1


def test_a_changed_study_toml_is_parsed_again(state, builds, tmp_path, monkeypatch):
    folder = realistic.write(tmp_path / "rs", realistic.COMBINED, "parquet")
    (folder / "study.toml").write_text('[study]\ntitle = "First title"\n')
    assert load_study(folder).title == "First title"
    assert load_study(folder).title == "First title" and len(builds) == 1  # unchanged: from the cache
    (folder / "study.toml").write_text('[study]\ntitle = "Second title"\n')
    second = load_study(folder)
    assert len(builds) == 2 and SC.last["result"] == "miss"
    assert second.title == "Second title"
    (folder / "study.toml").unlink()
    assert load_study(folder).title != "Second title" and len(builds) == 3


def test_a_changed_app_version_is_parsed_again(state, data_copy, builds, monkeypatch):
    load_study(data_copy)
    load_study(data_copy)
    assert len(builds) == 1
    monkeypatch.setattr(SC, "code_version", lambda: "0" * 64)  # another release of the data layer
    load_study(data_copy)
    assert len(builds) == 2 and SC.last["result"] == "miss"


def test_the_app_version_covers_the_data_layer_source_and_libraries(tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    (src / "adam.py").write_text("RULE = 1\n")
    a = SC.code_digest(src)
    assert SC.code_digest(src) == a
    (src / "adam.py").write_text("RULE = 2\n")
    b = SC.code_digest(src)
    assert b != a
    assert SC.code_digest(src, libraries=("pandas",)) != b
    assert SC.code_version() == SC.code_digest(DS.Path(SC.__file__).parent)


def test_a_new_lock_is_a_new_entry(state, builds, tmp_path):
    folder = realistic.write(tmp_path / "rs", realistic.COMBINED, "parquet")
    unlocked = load_study(folder)
    assert not unlocked.lock.locked
    code, lines = DS.lock_folder(folder)
    assert code == 0, lines
    locked = load_study(folder)
    assert locked.lock.locked and len(builds) == 3  # lock_folder validates too
    assert not any("not locked" in n for n in locked.notes)
    assert load_study(folder).lock.locked and len(builds) == 3


# -- never trusted when it does not verify ---------------------------------------------------------
def _stored(folder, state):
    load_study(folder)
    assert SC.last["stored"] is True
    (entry,) = entries(state)
    return entry


@pytest.mark.parametrize("damage", ["frame byte", "truncated frame", "fields", "meta edited", "meta not json",
                                    "file missing"])
def test_a_corrupt_entry_is_ignored_and_rebuilt(damage, state, data_copy, builds, monkeypatch):
    entry = _stored(data_copy, state)
    if damage == "frame byte":
        p = entry / "measurements.arrow"
        raw = bytearray(p.read_bytes())
        raw[len(raw) // 2] ^= 0x40
        p.write_bytes(bytes(raw))
    elif damage == "truncated frame":
        p = entry / "adsl.arrow"
        p.write_bytes(p.read_bytes()[:-100])
    elif damage == "fields":
        (entry / SC.FIELDS).write_bytes(b"x" * 50)
    elif damage == "meta edited":  # e.g. pointing the entry at other categories, without the key
        meta = json.loads((entry / SC.META).read_text())
        meta["study_id"] = "EDITED"
        (entry / SC.META).write_text(json.dumps(meta))
    elif damage == "meta not json":
        (entry / SC.META).write_bytes(b"\x80\x04garbage")
    elif damage == "file missing":
        (entry / "adae.arrow").unlink()
    study = load_study(data_copy)
    assert SC.last["result"] == "refused", SC.last
    assert len(builds) == 2, "a damaged entry must not be used: the files are parsed"
    assert SC.last["stored"] is True  # rebuilt
    assert SC.differences(study, fresh(data_copy, monkeypatch)) == []
    n = len(builds)
    load_study(data_copy)
    assert SC.last["result"] == "hit" and len(builds) == n


def test_a_foreign_entry_is_refused(state, data_copy, builds, monkeypatch):
    """An entry written by another installation (another key), or forged with correct file hashes but
    without the key, is never used."""
    entry = _stored(data_copy, state)
    # forge: a different measurements frame, its hash recorded, the MAC computed under a guessed key
    meta = json.loads((entry / SC.META).read_text())
    study = load_study(data_copy)
    forged = study.measurements.copy()
    forged["AVAL"] = forged["AVAL"] * 2
    raw, desc = SC._frame_bytes(forged)
    (entry / "measurements.arrow").write_bytes(raw)
    meta["frames"]["measurements"].update(desc, sha256=_lock.sha256_bytes(raw), bytes=len(raw))
    meta["mac"] = SC._mac(b"guessed-key-of-the-attacker-0123456789", meta)
    (entry / SC.META).write_text(json.dumps(meta))
    got = load_study(data_copy)
    assert SC.last["result"] == "refused" and "MAC" in SC.last["reason"]
    assert got.measurements["AVAL"].equals(study.measurements["AVAL"])
    # another installation's key: its (valid) entries are not ours
    monkeypatch.setenv(SC.ENV_SECRET, "another-installation-secret-0123")
    load_study(data_copy)
    assert SC.last["result"] == "refused"


def test_a_key_file_others_can_write_is_not_trusted(state, data_copy, builds):
    _stored(data_copy, state)
    key = state / SC.SUBDIR / SC.KEY_FILE
    key.chmod(0o666)
    load_study(data_copy)
    assert SC.last["result"] == "refused" and len(builds) == 2


def test_never_inside_the_data_folder(data_copy, builds, monkeypatch):
    monkeypatch.setenv(SC.ENV_ENABLED, "1")
    monkeypatch.setenv(SC.ENV_DIR, str(data_copy / "state"))
    before = sorted(p.name for p in data_copy.iterdir())
    load_study(data_copy)
    load_study(data_copy)
    assert sorted(p.name for p in data_copy.iterdir()) == before
    assert len(builds) == 2 and SC.last["result"] == "off"


def test_off_switch(state, data_copy, builds, monkeypatch):
    monkeypatch.setenv(SC.ENV_ENABLED, "0")
    load_study(data_copy)
    load_study(data_copy)
    assert len(builds) == 2 and entries(state) == []


def test_a_study_that_fails_validation_is_not_cached(state, tmp_path, builds):
    folder = realistic.write(tmp_path / "rs", realistic.COMBINED, "parquet")
    (folder / "study.toml").write_text('[arms]\nvariable = "NOPE"\n')
    for _ in range(2):
        with pytest.raises(DS.DataError):
            load_study(folder)
    assert len(builds) == 2 and entries(state) == []


def test_old_entries_are_pruned(state, tmp_path, monkeypatch):
    monkeypatch.setenv(SC.ENV_ENTRIES, "2")
    folder = realistic.write(tmp_path / "rs", realistic.COMBINED, "parquet")
    for k in range(4):
        (folder / "study.toml").write_text(f'[study]\ntitle = "Title {k}"\n')
        load_study(folder)
    assert len(entries(state)) == 2
