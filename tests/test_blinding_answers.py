"""Issue 16's on-figure answers in a blinded view: the trajectory figure's between-arm brackets, the small
multiples' forest plot, the shell's view rules sent to the browser (view-spec) and the arm chips hold no arm
for a blinded user; the same requests show the arms to an unblinded user (the checks can fail)."""

from __future__ import annotations

import json

import pytest

from blinded_fixture import PER_ARM_N, leaks
from conftest import default_store
from test_blinding import blind, deployment, full  # noqa: F401  (module fixtures)

TRAJ = {"traj-mode.value": "single", "traj-param.value": "IGG", "traj-params.value": ["IGG", "C3", "DSDNA"],
        "traj-scale.value": "chg", "traj-stat.value": "mean", "traj-opts.value": [],
        "traj-patmode.value": "highlight", "traj-visit.value": "end", "traj-adjust.value": "holm",
        "traj-cov.value": "UN", "traj-ddfm.value": "kr"}


def traj(cb, study, mode, ref):
    r = cb.post("traj-graph", "figure", {"filter-state.data": default_store(study), **TRAJ, "traj-mode.value": mode,
                                         "traj-ref.value": ref})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_data(as_text=True)


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_between_arm_answers_hold_no_arm_for_a_blinded_user(full, blind, mode):  # noqa: F811
    _, bs, bcb = blind
    text = traj(bcb, bs, mode, bs.arms[0].code)
    assert not leaks(text), sorted(leaks(text))
    assert not PER_ARM_N.search(text)
    assert "answer-bracket" not in text  # no bracket: there is no second arm
    if mode == "multi":
        assert "not applicable in a blinded view" in text  # the forest plot says why it is empty
    _, fs, fcb = full
    shown = traj(fcb, fs, mode, "BEL")
    assert leaks(shown) and ("answer-bracket" in shown if mode == "single" else '"role": "forest"' in shown
                             or '"role":"forest"' in shown)


def test_the_view_rules_sent_to_the_browser_hold_no_arm(full, blind):  # noqa: F811
    blind_spec = json.dumps(blind[0].layout["view-spec"].data)
    assert not leaks(blind_spec), sorted(leaks(blind_spec))
    assert leaks(json.dumps(full[0].layout["view-spec"].data))
