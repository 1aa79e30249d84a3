"""Serology page on a larger generated study (bench.scale): the "Individual patients" lines are capped
per arm (a deterministic sample that always keeps the chosen patients), the figure and the page say so,
and the summaries still use every patient."""

from __future__ import annotations

import pytest

from analysis import trajectory as T
from components import trajectories as S
from data import filters as F
from data.study import load_study

N_SUBJECTS = 480  # 160 per arm: above the 150-line cap


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    from bench import scale
    folder = tmp_path_factory.mktemp("traj-scale") / "T"
    sizes = dict(scale.SIZES)
    scale.SIZES["T"] = (N_SUBJECTS, 20, 5)
    try:
        scale.generate("T", folder)
    finally:
        scale.SIZES.clear()
        scale.SIZES.update(sizes)
    return load_study(folder)


def _patient_ids(fig, arm):
    tr = next(t for t in fig.data if t.name == f"{arm}: patients")
    return {c for c in tr.customdata if c is not None}


def test_sample_subjects_is_systematic_and_stable():
    ids = [f"S-{i:04d}" for i in range(400)]
    s = T.sample_subjects(reversed(ids), 150)
    assert len(s) == 150 and s[0] == ids[0] and s[-1] == ids[-1] and s == sorted(s)
    assert s == T.sample_subjects(ids, 150)
    assert T.sample_subjects(ids[:150], 150) == ids[:150]


def test_individual_lines_are_capped_per_arm_and_keep_the_chosen_patients(big):
    adsl = big.adsl
    arms = [a.label for a in big.arms]
    per_arm = adsl["ARM_LABEL"].astype(str).value_counts()
    assert all(per_arm[a] > T.INDIV_MAX_PER_ARM for a in arms)
    chosen = tuple(sorted(adsl.groupby("ARM_LABEL", observed=True)["USUBJID"].nth(7).astype(str)))
    state = F.FilterState((), F.full_window(big), chosen)
    ctl = S.clean_controls(big, "single", "IGG", [], "raw", "mean", ["indiv"], "highlight")
    fig, summ = S.trajectory_figure(big, state, ctl)
    for arm in arms:
        ids = _patient_ids(fig, arm)
        assert 0 < len(ids) <= T.INDIV_MAX_PER_ARM
        assert not ids & set(chosen)  # the chosen ones are drawn on top, as their own traces
    for sid in chosen:  # always drawn, whatever the sample
        assert any(t.name and t.name.startswith(sid) for t in fig.data)
    # deterministic: the same request draws the same lines
    fig2, _ = S.trajectory_figure(big, state, ctl)
    assert all(_patient_ids(fig, a) == _patient_ids(fig2, a) for a in arms)
    # the figure (exported PNG) and the page say it is a sample
    caption = " ".join(a.text for a in fig.layout.annotations if a.text)
    assert "systematic sample of 150 per arm" in caption
    note = S.indiv_sample_note(big, state, ctl)
    assert note and "sample of 150 patient lines per arm" in note and "always drawn" in note
    # summaries are of every patient, not of the sample
    meas = big.measurements
    base = meas[(meas["PARAMCD"] == "IGG") & (meas["AVISITN"] == 0) & meas["AVAL"].notna()]
    for arm in arms:
        n0 = int(summ["IGG"].loc[(summ["IGG"]["ARM"] == arm) & (summ["IGG"]["TIME"] == 0), "n"].iloc[0])
        assert n0 == int((base["ARM"].astype(str) == arm).sum()) > T.INDIV_MAX_PER_ARM


def test_no_sample_note_under_the_cap(study):
    state = F.default_state(study)
    ctl = S.clean_controls(study, "single", "IGG", [], "raw", "mean", ["indiv"], "highlight")
    assert S.indiv_sample_note(study, state, ctl) is None
    fig, _ = S.trajectory_figure(study, state, ctl)
    assert "systematic sample" not in " ".join(a.text for a in fig.layout.annotations if a.text)
