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
SYNC_INPUTS = ("url.search", "f-arm.value", "f-weeks.value", "f-patient.value")


def sync(cb, changed, **values):
    inputs = {k: None for k in SYNC_INPUTS}
    inputs.update({k.replace("_", "-", 1).replace("__", "."): v for k, v in values.items()})
    return cb.outputs("filter-state", "data", inputs, changed=[changed])


def test_url_sets_controls_and_store(cb):
    out = cb.outputs("filter-state", "data", {"url.search": "?arm=IL2&weeks=4-24", "f-arm.value": [],
                                               "f-weeks.value": [0, 48], "f-patient.value": []},
                     changed=["url.search"])
    assert out["f-arm.value"] == ["IL2"] and out["f-weeks.value"] == [4.0, 24.0]
    assert out["filter-state.data"] == {"arms": ["IL2"], "weeks": [4.0, 24.0], "patients": []}
    assert out["filter-notice.is_open"] is False
    assert "Ld-IL2: 10" in str(out["arm-counts.children"]) and "Belimumab: 10" not in str(out["arm-counts.children"])


def test_controls_write_url(cb):
    out = cb.outputs("filter-state", "data", {"url.search": "", "f-arm.value": ["BEL"], "f-weeks.value": [0, 48],
                                               "f-patient.value": ["LSO-088-001"]}, changed=["f-arm.value"])
    assert out["url.search"] == "?arm=BEL&patient=LSO-088-001"


def test_forged_url_values_give_notice_not_error(cb):
    out = cb.outputs("filter-state", "data", {"url.search": "?arm=<script>&weeks=9-1&patient=x", "f-arm.value": [],
                                               "f-weeks.value": [0, 48], "f-patient.value": []},
                     changed=["url.search"])
    assert out["filter-notice.is_open"] is True
    text = str(out["filter-notice.children"])
    assert "Unknown arm ignored: <script>" in text and "Unknown patient ignored: x" in text
    assert out["filter-state.data"] == {"arms": [], "weeks": [0.0, 48.0], "patients": []}
    assert out["url.search"] == ""  # the canonical URL drops what was invalid


@pytest.mark.parametrize("arms, weeks, patients", [
    (["BEL", 5, None, {"a": 1}], [0, 48], []),
    ("BEL", "0-48", "LSO-088-001"),
    ([], [48, 0], []),
    ([], ["a", "b"], []),
    ([], [0, 48], list(range(10_000))),
    ({"$ne": 1}, {"x": 1}, {"y": 2}),
    (None, None, None),
])
def test_forged_control_values_never_500(cb, arms, weeks, patients):
    r = cb.post("filter-state", "data", {"url.search": "", "f-arm.value": arms, "f-weeks.value": weeks,
                                         "f-patient.value": patients}, changed=["f-arm.value"])
    assert r.status_code == 200
    store = r.get_json()["response"]["filter-state"]["data"]
    assert F_valid(store)


def F_valid(store):
    return set(store) == {"arms", "weeks", "patients"} and all(isinstance(v, list) for v in store.values())


def test_nav_links_keep_the_filter(cb):
    out = cb.outputs("nav-overview", "href", {"url.search": "?arm=BEL&arm=bogus"}, state={"url.pathname": "/"})
    assert out["nav-overview.href"] == "/?arm=BEL"


def test_router_unknown_path_gives_not_found_page(cb):
    out = cb.outputs("page-content", "children", {"url.pathname": "/nope"})
    assert "Page not found" in str(out["page-content.children"])


def test_chosen_patient_outside_arm_filter_is_explained(cb, study):
    other = study.adsl.loc[study.adsl["ARMCODE"] == "BELIL2", "USUBJID"].iloc[0]
    out = cb.outputs("filter-state", "data", {"url.search": f"?arm=BEL&patient={other}", "f-arm.value": [],
                                               "f-weeks.value": [0, 48], "f-patient.value": []},
                     changed=["url.search"])
    assert out["filter-notice.is_open"] is True
    assert f"Chosen patient(s) outside the arm filter: {other}" in str(out["filter-notice.children"])
