"""Global filters: URL <-> controls <-> store, with valid, empty and forged values."""

import pytest

from data import filters as F


def test_query_round_trip(study):
    state = F.FilterState(("BEL", "BELIL2"), (4.0, 36.0), ("LSO-088-003", "LSO-088-017"))
    q = state.to_query(study)
    assert q == "?arm=BEL,BELIL2&weeks=4-36&patient=LSO-088-003,LSO-088-017"
    assert F.from_query(q, study) == (state, [])


def test_default_state_has_empty_query(study):
    assert F.default_state(study).to_query(study) == ""
    assert F.from_query("", study) == (F.default_state(study), [])


@pytest.mark.parametrize("query, notice", [
    ("?arm=PLACEBO", "Unknown arm ignored: PLACEBO"),
    ("?patient=LSO-088-999", "Unknown patient ignored: LSO-088-999"),
    ("?weeks=48-0", "Timepoint window ignored: it starts (week 48) after it ends (week 0)"),
    ("?weeks=abc", "Timepoint window ignored: 'abc' is not a week range"),
    ("?weeks=0-50", "Timepoint window ignored: weeks 0–50 are not both scheduled visits"),
])
def test_invalid_url_values_dropped_with_notice(study, query, notice):
    state, notices = F.from_query(query, study)
    assert notices == [notice]
    assert state == F.default_state(study)


def test_all_arms_selected_normalises_to_all(study):
    state, _ = F.from_values(["BELIL2", "IL2", "BEL"], [0, 48], [], study)
    assert state.arms == ()


def test_arm_order_follows_display_order(study):
    assert F.from_values(["BELIL2", "BEL"], None, None, study)[0].arms == ("BEL", "BELIL2")


def test_forged_store_is_rejected(study):
    assert F.from_store({"arms": ["X"], "weeks": [0, 48], "patients": []}, study) is None
    assert F.from_store("junk", study) is None
    assert F.from_store({"arms": [], "weeks": [0, 48], "patients": ["LSO-088-001"]}, study).patients == ("LSO-088-001",)


def test_subjects_in_filter(study):
    state = F.FilterState(("IL2",), (0.0, 48.0), ())
    subj = state.subjects(study)
    assert len(subj) == 10
    assert set(study.adsl.set_index("USUBJID").loc[subj, "ARMCD"]) == {"IL2"}


# -- the callback endpoint ------------------------------------------------------------------
# The URL <-> filter controls <-> store bookkeeping runs in the browser (assets/viewstate.js, no request):
# its parsing of links, forged values and notices are tested in Chromium (tests/test_browser_views.py).
# Here: the server side, which trusts none of it.
def test_every_page_callback_refuses_a_forged_store(cb, study):
    for store in ({"arms": ["<script>"], "weeks": [0, 48], "patients": []}, {"arms": [], "weeks": [9, 1], "patients": []},
                  {"arms": [], "weeks": [0, 48], "patients": ["x"] * 600}, "junk", None, [1, 2]):
        for out in (("ov-design", "figure"), ("traj-graph", "figure"), ("cmp-fig", "figure"),
                    ("ae-incidence-grid", "rowData"), ("pt-figure", "figure")):
            r = cb.post(*out, {"filter-state.data": store})
            assert r.status_code == 204, (out, store)


def test_router_unknown_path_gives_not_found_page(cb):
    out = cb.outputs("page-content", "children", {"url.pathname": "/nope"})
    assert "Page not found" in str(out["page-content.children"])
