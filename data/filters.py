"""The global filter state (arm, timepoint window, patients) and its validation.

Every value that arrives from a browser (URL query string, a control, a
``dcc.Store``) is untrusted: it is checked against the allowed set from the
study and either normalised or dropped with a notice. Nothing is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

import pandas as pd

MAX_ITEMS = 500  # no legitimate selection is longer than the subject list; caps forged lists


@dataclass(frozen=True)
class FilterState:
    arms: tuple[str, ...]  # arm codes, in display order; () = all arms
    weeks: tuple[float, float]  # inclusive AVISITN window
    patients: tuple[str, ...]  # USUBJIDs, sorted; () = no patient chosen

    # -- serialisation -------------------------------------------------------------------
    def to_store(self) -> dict:
        return {"arms": list(self.arms), "weeks": list(self.weeks), "patients": list(self.patients)}

    def to_query(self, study) -> str:
        q = {}
        if self.arms:
            q["arm"] = ",".join(self.arms)
        if self.weeks != full_window(study):
            q["weeks"] = f"{self.weeks[0]:g}-{self.weeks[1]:g}"
        if self.patients:
            q["patient"] = ",".join(self.patients)
        return ("?" + urlencode(q, safe=",")) if q else ""

    # -- what a page needs ------------------------------------------------------------------
    def arm_labels(self, study) -> list[str]:
        codes = self.arms or study.arm_codes
        by_code = study.arm_by_code
        return [by_code[c].label for c in codes]

    def subjects(self, study, kind: str | None = None) -> pd.Index:
        """USUBJIDs in the selected arms (and, when patients are chosen, only those). ``kind``: by the arm of
        "efficacy" (planned) or "safety" (actual) data; None: in a selected arm by either (each record carries
        the arm its data are analysed in)."""
        adsl = study.adsl
        mask = arm_mask(adsl, self.arm_labels(study), kind)
        if self.patients:
            mask &= adsl["USUBJID"].isin(self.patients)
        return pd.Index(adsl.loc[mask, "USUBJID"])

    def key(self) -> tuple:
        """Hashable, normalised: the cache key part for this filter."""
        return (self.arms, self.weeks, self.patients)


def arm_mask(adsl: pd.DataFrame, labels, kind: str | None = None) -> pd.Series:
    """ADSL rows in one of the arms ``labels``: by the planned (kind "efficacy") or actual ("safety") arm, or
    by either (None)."""
    cols = {"efficacy": ["ARM_EFFICACY"], "safety": ["ARM_SAFETY"]}.get(kind, ["ARM_EFFICACY", "ARM_SAFETY"])
    cols = [c for c in cols if c in adsl.columns] or ["ARM_LABEL"]
    mask = pd.Series(False, index=adsl.index)
    for c in cols:
        mask |= adsl[c].isin(list(labels))
    return mask


def full_window(study) -> tuple[float, float]:
    v = study.visit_numbers
    return (v[0], v[-1]) if v else (0.0, 0.0)


def default_state(study) -> FilterState:
    return FilterState((), full_window(study), ())


def _as_list(value) -> list | None:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and len(value) <= MAX_ITEMS:
        return list(value)
    return None


def clean_arms(value, study) -> tuple[tuple[str, ...], list[str]]:
    items = _as_list(value)
    if items is None:
        return (), ["Arm filter ignored: not a list of arms"]
    allowed = study.arm_codes
    bad = [str(v)[:40] for v in items if not isinstance(v, str) or v not in allowed]
    chosen = {v for v in items if isinstance(v, str) and v in allowed}
    notices = [f"Unknown arm ignored: {', '.join(bad[:5])}"] if bad else []
    arms = tuple(c for c in allowed if c in chosen)
    return (() if len(arms) == len(allowed) else arms), notices


def clean_patients(value, study) -> tuple[tuple[str, ...], list[str]]:
    items = _as_list(value)
    if items is None:
        return (), ["Patient filter ignored: not a list of patients"]
    allowed = set(study.subjects)
    bad = [str(v)[:40] for v in items if not isinstance(v, str) or v not in allowed]
    ex = getattr(study, "excluded", None)
    no_arm = set(ex["USUBJID"].astype(str)) if ex is not None and "USUBJID" in getattr(ex, "columns", ()) else set()
    left_out = [b for b in bad if b in no_arm]  # in ADSL, but a screen failure or otherwise in no treatment arm
    unknown = [b for b in bad if b not in no_arm]
    notices = ([f"Patient in no treatment arm (e.g. a screen failure), left out of every page: "
                f"{', '.join(left_out[:5])}"] if left_out else []) + \
        ([f"Unknown patient ignored: {', '.join(unknown[:5])}"] if unknown else [])
    return tuple(sorted({v for v in items if isinstance(v, str) and v in allowed})), notices


def clean_weeks(value, study) -> tuple[tuple[float, float], list[str]]:
    full = full_window(study)
    if value is None:
        return full, []
    allowed = set(study.visit_numbers)
    try:
        if isinstance(value, str):
            lo_s, hi_s = value.split("-", 1)
            lo, hi = float(lo_s), float(hi_s)
        elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
        ):
            lo, hi = float(value[0]), float(value[1])
        else:
            raise ValueError
    except (ValueError, TypeError):
        return full, [f"Timepoint window ignored: {str(value)[:40]!r} is not a week range"]
    if lo not in allowed or hi not in allowed:
        return full, [f"Timepoint window ignored: weeks {lo:g}–{hi:g} are not both scheduled visits"]
    if lo > hi:
        return full, [f"Timepoint window ignored: it starts (week {lo:g}) after it ends (week {hi:g})"]
    return (lo, hi), []


def from_values(arms, weeks, patients, study) -> tuple[FilterState, list[str]]:
    a, n1 = clean_arms(arms, study)
    w, n2 = clean_weeks(weeks, study)
    p, n3 = clean_patients(patients, study)
    return FilterState(a, w, p), n1 + n2 + n3


FILTER_KEYS = ("arm", "weeks", "patient")
MAX_FILTER_FIELDS = 60  # a link of this app has one of each; repeated fields are merged, within reason


def from_query(search: str | None, study) -> tuple[FilterState, list[str]]:
    """Parse ``?arm=BEL,IL2&weeks=0-48&patient=...``; unknown values are dropped with a notice."""
    if not isinstance(search, str):
        return default_state(study), []
    # Only the filter keys are read here (the rest is the page's own state, validated by the page); a link with
    # more parts than any link of this app gives the default view and says so, never a 500.
    parts = [p for p in search.lstrip("?").split("&") if p.split("=", 1)[0] in FILTER_KEYS]
    if len(parts) > MAX_FILTER_FIELDS:
        return default_state(study), [f"Link filters ignored: {len(parts)} arm/timepoint/patient fields, more than "
                                      f"a link of this app has ({MAX_FILTER_FIELDS}); showing every arm"]
    q = parse_qs("&".join(parts), keep_blank_values=False)

    def split(key):
        vals = q.get(key)
        return None if vals is None else [x for v in vals for x in v.split(",") if x]

    weeks = q.get("weeks", [None])[-1]
    return from_values(split("arm"), weeks, split("patient"), study)


def from_store(data, study) -> FilterState | None:
    """Re-validate a stored filter state sent back by a client. None when forged or stale."""
    if not isinstance(data, dict):
        return None
    state, notices = from_values(data.get("arms"), data.get("weeks"), data.get("patients"), study)
    return None if notices else state
