"""The floor of each measured view: only the pandas aggregation behind it plus the JSON of what it shows.

For a callback and its inputs, ``aggregate`` does the least pandas work that yields the
numbers of the view (selection of the rows, then one groupby), with no model fits, no
figure building and no caching; ``serialise`` times the JSON encoding of the callback's
actual outputs (``Figure.to_json()`` for a figure, Dash's JSON encoder for the rest).
floor = aggregation + serialisation: a callback cannot be faster than that without
showing less.
"""

from __future__ import annotations

import json
import time

import plotly.io as pio
from plotly.utils import PlotlyJSONEncoder


def _rows(study, code, labels, subjects=None, weeks=None):
    m = study.measurements
    mask = (m["PARAMCD"] == code) & m["ARM"].isin(labels)
    if subjects is not None:
        mask &= m["USUBJID"].isin(list(subjects))
    if weeks is not None:
        mask &= m["TIME"].between(*weeks)
    return m.loc[mask, ["USUBJID", "ARM", "TIME", "AVAL", "CHG"]]


def _overview(study, state, ctl):
    labels, subj = state.arm_labels(study), state.subjects(study)
    adsl = study.adsl[study.adsl["USUBJID"].isin(subj)]
    # the variables this study has (size R, in ADaMIG shape, has no LSO-088 DISDUR)
    status = [c for c in ("EOSSTT",) if c in adsl.columns]
    numeric = [c for c in ("AGE", "DISDUR", "BMIBL", "WEIGHTBL") if c in adsl.columns]
    out = [adsl.groupby(["ARM_LABEL", *status], observed=True).size(),
           adsl.groupby("ARM_LABEL", observed=True)[numeric].agg(["mean", "std", "median"])]
    m = study.measurements
    base = m[(m["ABLFL"] == "Y") & m["USUBJID"].isin(subj)]
    out.append(base.groupby(["PARAMCD", "ARM"], observed=True)["AVAL"].agg(["mean", "std", "median"]))
    if study.adex is not None:
        ex = study.adex[study.adex["ARM"].isin(labels)]
        out.append(ex.groupby(["ARM", "EXTRT"], observed=True)["ASTDY"].agg(["min", "max", "count"]))
    return out


def _serology_figure(study, state, ctl):
    labels = state.arm_labels(study)
    d = _rows(study, ctl["traj-param.value"], labels, None, state.weeks)
    summ = d.groupby(["ARM", "TIME"], observed=True)["AVAL"].agg(["count", "mean", "std", "median"])
    return summ, d[d["USUBJID"].isin(list(state.patients))]


def _serology_stats(study, state, ctl):
    labels = state.arm_labels(study)
    d = _rows(study, ctl["traj-param.value"], labels, None, state.weeks)
    end = d["TIME"].max()
    return d[d["TIME"] == end].groupby("ARM", observed=True)["CHG"].agg(["count", "mean", "median"])


def _cells(study, state, ctl):
    labels = state.arm_labels(study)
    va, vb = ctl["cmp-visit-a.value"], ctl["cmp-visit-b.value"]
    d = _rows(study, ctl["cmp-param.value"], labels)
    d = d[d["TIME"].isin([va, vb])]
    wide = d.pivot_table(index="USUBJID", columns="TIME", values="AVAL", observed=True)
    q = d.groupby(["ARM", "TIME"], observed=True)["AVAL"].quantile([0.25, 0.5, 0.75])
    return wide, q


def _ae_events(study, state):
    ae = study.adae
    ae = ae[ae["USUBJID"].isin(state.subjects(study))]
    lo, hi = state.weeks
    wk = (ae["ASTDY"] - 1) // 7
    return ae[(wk >= lo) & (wk <= hi)]


def _ae_summary(study, state, ctl):
    ev = _ae_events(study, state)
    return ev.groupby(["ARM", "AESER", "AETOXGR"], observed=True)["USUBJID"].nunique()


def _ae_incidence(study, state, ctl):
    ev = _ae_events(study, state)
    return ev.groupby(["AEBODSYS", "AEDECOD", "ARM"], observed=True)["USUBJID"].nunique()


def _ae_listing(study, state, ctl):
    return _ae_events(study, state).sort_values(["USUBJID", "ASTDY"])


def _ae_timeline(study, state, ctl):
    ev = _ae_events(study, state)
    return ev.assign(start=(ev["ASTDY"] - 1) / 7, end=ev["AENDY"] / 7)[["USUBJID", "start", "end", "AETOXGR"]]


def _patient(study, state, ctl):
    subject = ctl.get("pt-patient.value")
    m = study.measurements
    rows = m[m["USUBJID"] == subject].sort_values(["PARAMCD", "TIME"])
    ae = study.adae[study.adae["USUBJID"] == subject] if study.adae is not None else None
    return rows, ae


AGGREGATE = {
    "pt-figure.figure": _patient,
    "ov-design.figure": _overview,
    "traj-graph.figure": _serology_figure,
    "traj-stats.children": _serology_stats,
    "cmp-fig.figure": _cells,
    "ae-summary.children": _ae_summary,
    "ae-incidence-grid.rowData": _ae_incidence,
    "ae-listing.rowData": _ae_listing,
    "ae-timeline.figure": _ae_timeline,
}


def controls(payload: dict) -> dict:
    return {f"{i['id']}.{i['property']}": i.get("value") for i in [*payload["inputs"], *payload.get("state", [])]}


def aggregate_ms(name, study, state, ctl, repeat=3) -> float:
    fn = AGGREGATE[name]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(study, state, ctl)
        best = min(best, time.perf_counter() - t)
    return best * 1000


def serialise_ms(response: dict, repeat=3) -> float:
    """JSON of the outputs: each figure by Figure.to_json(), the rest with plotly's encoder (as Dash does)."""
    figs, rest = [], {}
    for cid, props in response.items():
        for prop, value in props.items():
            if prop == "figure" and isinstance(value, dict):
                figs.append(pio.from_json(json.dumps(value), skip_invalid=True))
            else:
                rest[f"{cid}.{prop}"] = value
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for f in figs:
            f.to_json()
        json.dumps(rest, cls=PlotlyJSONEncoder)
        best = min(best, time.perf_counter() - t)
    return best * 1000

