"""Patient profile: one subject's whole story on one time axis.

Header: arm, demographics and the study's baseline variables, the baseline value of its extra
panels, disposition. Figure: stacked panels sharing the study-week axis: dosing (infusions as
ticks, injection periods as bands, from ADEX), one panel per chosen parameter with its normal
range, one panel of a parameter group of one unit with a line per parameter, the study's extra
panels (``[pages.patient] extra_panels``; LSO-088: SLEDAI-2K and prednisone dose), and the
adverse events as bars coloured by grade.

The default panels, group and extra panels come from the study (``data.words``:
``[pages.patient]`` of study.toml, else the first parameters of the catalogue).
The patient is picked from the subjects of the global filter (arms, and the patients chosen
there); clicking a patient on the trajectory, comparison or AE-timeline figures sets that
filter. Previous/next step within the filter. Pieces a study does not have (no ADEX, no
ADAE) are left out with a note.
"""

from __future__ import annotations

import math
import weakref

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from analysis import patient as A
from components import figure_tools
from components.export import csv_with_provenance
from components.markup import static
from components.safety import GRADE_COLOURS
from components.shell import FILTER_STORE
from components.theme import TEMPLATE as BASE_TEMPLATE
from components.theme import (PLOT_PX, WINDOW_COLOUR, axis_key, base_layout, derived_template, graph_config,
                              left_margin, message_figure, panel_refs, stamp, step_labels, upright)
from data import filters as F
from data import words as W
from data.blinding import is_blinded_view

ID = "patient"
PATH = "/patient"
TITLE = "Patient profile"

# The view in the URL (components.viewstate): the patient, the lab panels, the overlay group.
URL_STATE = {
    "subject": ("pt-patient", "value", "pt-patient.options"),  # applied once the filter's patients are listed
    "panels": ("pt-params", "value"),
    "group": ("pt-group", "value"),
}
PRESENT_STEP = {"control": "pt-patient"}  # ← / → in presentation mode: previous / next patient

EXTRA_COLOURS = ("#12263a", "#8c510a", "#4a1486", "#00441b")  # the extra panels' lines, in their order
MAX_PANELS = 8
NO_GROUP = "none"
GROUP_PREFIX = "__group__"
UNIT_PX = 60  # height of one lab panel: the default profile fits two screens of 720 px
GAP_PX = 42  # between panels: the panel's own time-axis labels, then the next panel's title
BAND_COLOUR = "#2f855a"
OUT_OF_RANGE = "#c51b1b"
GROUP_PALETTE = ("#1f4e79", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b7950b")
DENSE = ("daily", "every other day", "weekly")
_ROUTE = {"INTRAVENOUS": "IV", "SUBCUTANEOUS": "SC", "ORAL": "PO", "INTRAMUSCULAR": "IM"}


# The app's template (theme.TEMPLATE) without its axis-title standoff. Why: with a standoff, plotly measures
# every tick label of every axis to place the axis titles, on each redraw: ~400 layout reads over the profile's
# 20 axes, two fifths of a redraw. Without it a title sits at a fixed distance set by the tick font; only the
# unit titles and the bottom time axis have text.
TEMPLATE = derived_template("trial_white_nostandoff", BASE_TEMPLATE, xaxis_title_standoff=None,
                            yaxis_title_standoff=None)


# -- one subject's rows, by position --------------------------------------------------------
_POSITIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # study -> {frame: {USUBJID: rows}}
FRAMES = ("measurements", "other_measurements", "adex", "adae")


def subject_data(study, usubjid: str, frame: str):
    """One subject's rows of ``study.<frame>`` (measurements, adex or adae; None when the study lacks
    it), through an index of row positions per subject built once per study: a request no longer
    compares the whole frames' USUBJID."""
    index = _POSITIONS.get(study)
    if index is None:
        index = _POSITIONS[study] = {f: A.subject_positions(getattr(study, f, None)) for f in FRAMES}
    return A.subject_frame(getattr(study, frame, None), index[frame], usubjid)


def subject_measurements(study, usubjid: str):
    """All of one subject's analysis values: those of every dataset, whatever its population says (a subject
    outside the efficacy population still has its efficacy values here, and its labs outside the safety one)."""
    own = subject_data(study, usubjid, "measurements")
    other = subject_data(study, usubjid, "other_measurements")
    if other is None or other.empty:
        return own
    return pd.concat([own.astype({c: "object" for c in ("USUBJID", "PARAMCD", "AVISIT", "ARM") if c in own.columns}),
                      other.astype({c: "object" for c in ("USUBJID", "PARAMCD", "AVISIT", "ARM") if c in other.columns})],
                     ignore_index=True)


# -- what the study offers ------------------------------------------------------------------
def _cat_title(cat: str, study=None) -> str:
    named = W.category_label(study, cat) if study is not None else None
    if named:
        return named  # a dataset without PARCAT1: its subject in words ("Vital signs")
    if cat.isupper() and " " not in cat and cat.startswith("AD"):
        return cat  # a dataset name (no PARCAT1): ADVS stays ADVS
    return cat[:1].upper() + cat[1:].lower() if cat.isupper() else cat


def title(study) -> str:
    return W.page_title(study, ID)


def extra_panels(study) -> list[str]:
    """The study's extra panels, drawn under every profile ([pages.patient] extra_panels)."""
    return [c for c in W.patient_defaults(study)["extra_panels"] if c in study.params]


def step_panels(study) -> set[str]:
    return {c for c in W.patient_defaults(study)["step_panels"] if c in study.params}


def unit_groups(study) -> dict:
    return A.unit_groups(study.params)


def extra_demographics(study) -> list[tuple[str, str]]:
    """The study's ADSL baseline variables (the Overview's baseline rows) for the header."""
    return [(sp.name, sp.label) for sp in W.baseline_specs(study) if sp.source == "adsl"]


def param_options(study) -> list[dict]:
    opts = []
    for cat, codes in A.param_groups(study.params).items():
        opts.append({"label": f"— {_cat_title(cat, study)} —", "value": f"{GROUP_PREFIX}{cat}", "disabled": True})
        opts += [{"label": study.params[c].name, "value": c} for c in codes]
    return opts


def default_labs(study) -> list[str]:
    """[pages.patient] panels, else the first five parameters of the first category (extra panels aside)."""
    chosen = [c for c in W.patient_defaults(study)["panels"] if c in study.params]
    if chosen:
        return chosen
    extra = set(extra_panels(study))
    for codes in A.param_groups(study.params).values():
        rest = [c for c in codes if c not in extra]
        if rest:
            return rest[:5]
    return []


def group_label(study, gid: str) -> str:
    cat, unit, codes = unit_groups(study)[gid]
    split = A.GROUP_UNIT_SEP in gid
    return f"{_cat_title(cat, study)}" + (f", {unit or 'no unit'}" if split else "") + f" ({len(codes)})"


def group_options(study) -> list[dict]:
    return [{"label": "No group panel", "value": NO_GROUP}] + [
        {"label": group_label(study, gid), "value": gid} for gid in unit_groups(study)]


def default_group(study, labs: list[str]) -> str:
    """[pages.patient] group (its first unit when it mixes units), else a group of another dataset."""
    groups = unit_groups(study)
    given = W.patient_defaults(study)["group"]
    if given is not None:
        match = [g for g, (cat, _u, _c) in groups.items() if cat == given]
        if match:
            return match[0]
    lab_datasets = {study.params[c].dataset for c in labs}
    for gid, (_cat, _unit, codes) in groups.items():
        if not any(c in labs for c in codes) and study.params[codes[0]].dataset not in lab_datasets:
            return gid
    return NO_GROUP


_ARM_OF: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # study -> {USUBJID: arm label}


def patient_options(study, order: list[str], current: str | None = None) -> list[dict]:
    """The picker's patients: those of the arm filter, and the one shown when it is outside it."""
    arm_of = _ARM_OF.get(study)
    if arm_of is None:
        arm_of = _ARM_OF[study] = dict(zip(study.adsl["USUBJID"].astype(str), study.adsl["ARM_LABEL"].astype(str)))
    opts = [{"label": f"{u} · {arm_of.get(u, '')}", "value": u} for u in order]
    if isinstance(current, str) and current in arm_of and current not in order:
        opts.insert(0, {"label": f"{current} · {arm_of[current]} (outside the arm filter)", "value": current})
    return opts


def arm_order(study, state: F.FilterState) -> list[str]:
    """The patients Previous/Next step through: every patient of the arm filter (the chosen ones among them)."""
    return A.ordered_subjects(study.adsl, F.FilterState(state.arms, state.weeks, ()).subjects(study))


def initial_view(study, state, tree, values) -> None:
    """The page as a link opens it: the patients of its arm filter, the patient it names (else the first one
    chosen in its filter, else the first of the arm filter)."""
    order = arm_order(study, state)
    cur = values.get("subject")
    if cur is None:
        cur = A.default_subject(order, state.patients)
    tree["pt-patient"].options = patient_options(study, order, cur)
    tree["pt-patient"].value = cur
    tree["pt-seen"].data = list(state.patients)


# -- layout ---------------------------------------------------------------------------------
def _label(text, for_id):
    return html.Label(text, htmlFor=for_id, className="filter-label")


def layout(study):
    labs = default_labs(study)
    text = W.page_text(study, ID)
    controls = dbc.Card(dbc.CardBody(dbc.Row([
        dbc.Col([_label("Patient (of the arm filter)", "pt-patient"), dcc.Store(id="pt-seen", data=[]),
                 html.Div([
                     html.Div(dcc.Dropdown(id="pt-patient", options=patient_options(study, list(study.subjects)),
                                           value=None, clearable=False, searchable=True, maxHeight=360),
                              className="flex-grow-1 me-1"),
                     dbc.ButtonGroup([
                         dbc.Button("◀ Previous", id="pt-prev", size="sm", color="secondary", outline=True,
                                    title="The previous patient of the arm filter"),
                         dbc.Button("Next ▶", id="pt-next", size="sm", color="secondary", outline=True,
                                    title="The next patient of the arm filter"),
                     ]),
                 ], className="d-flex align-items-center")], lg=4, md=6),
        dbc.Col([_label(f"Parameter panels (up to {MAX_PANELS})", "pt-params"),
                 dcc.Dropdown(id="pt-params", options=param_options(study), value=labs, multi=True,
                              searchable=True, maxHeight=360, className="pt-params")], lg=6, md=6),
        dbc.Col([_label("Group panel", "pt-group"),
                 dcc.Dropdown(id="pt-group", options=group_options(study), value=default_group(study, labs),
                              clearable=False, searchable=False)], lg=2, md=6),
    ], className="g-2 align-items-start"), className="py-2"), className="page-controls mb-2")
    return html.Div([
        html.H1([text.heading + " ",
                 html.Small(" · ".join(t for t in (text.subheading, "simulated data" if study.simulated else "") if t),
                            className="text-muted", style={"fontSize": "1rem"})], className="page-title"),
        controls,
        html.Div(id="pt-message"),
        dbc.Card(dbc.CardBody(html.Div(id="pt-header")), className="mb-2"),
        dbc.Card(dbc.CardBody([
            dcc.Graph(id="pt-figure", config=graph_config(f"{study.study_id}-patient-profile")),
            html.Div(id="pt-caption", className="caption"),
            figure_tools.toolbar("pt", "pt-figure", f"{study.study_id}-patient-profile", code=False, deck=True,
                                 data_label="Values (CSV)"),
        ], className="p-2"), className="mb-3"),
    ])


# -- header -----------------------------------------------------------------------------------
def _fact(label, value):
    return html.Span([html.Span(f"{label}:", className="pt-fact-label"), value], className="pt-fact")


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def header(study, usubjid: str, order: list[str]):
    row = A.subject_row(study.adsl, usubjid)
    arm_label = str(row["ARM_LABEL"])
    arm = study.arm_by_label.get(arm_label)
    pos = (f"patient {order.index(usubjid) + 1} of {len(order)} in the arm filter" if usubjid in order
           else "not in the arm filter")
    baseline = []
    for code in extra_panels(study):
        if code in study.params:
            b = A.baseline_value(subject_measurements(study, usubjid), usubjid, code)
            baseline.append(_fact(f"Baseline {study.params[code].name}", "–" if b is None else _num(b)))
    return html.Div([
        html.Div([html.Span(usubjid, className="pt-id", id="pt-id"),
                  html.Span(arm_label, className="pt-arm", style={"background": arm.colour if arm else "#52606d"}),
                  html.Span(pos, className="pt-pos")], className="pt-head"),
        html.Div([_fact(k, v) for k, v in A.demographics(row, extra_demographics(study))], className="pt-facts",
                 id="pt-demographics"),
        html.Div(baseline, className="pt-facts", id="pt-baseline") if baseline else None,
        html.Div([_fact(k, v) for k, v in A.disposition(row)], className="pt-facts", id="pt-disposition"),
    ])


# -- the figure -------------------------------------------------------------------------------
def _short(study, code: str) -> str:
    p = study.params[code]
    name = p.name
    if p.unit and name.rstrip().endswith(f"({p.unit})"):
        name = name.rstrip()[: -len(p.unit) - 2].rstrip()
    return name.split(", ")[0]


def _decimals(values) -> int:
    v = np.abs(np.asarray(values, float))
    v = v[np.isfinite(v) & (v > 0)]
    m = float(np.median(v)) if len(v) else 1.0
    return 0 if m >= 100 else 1 if m >= 5 else 2 if m >= 0.1 else 3


class _Panels:
    """The stacked panels as plain dicts, validated once when the figure is made.

    Why: plotly's add_trace/update_yaxes with row/col selectors validate and search the subplot grid on every
    call; they cost ~250 ms per patient, which a user stepping through patients waited for on each click."""

    def __init__(self, panels):
        """``panels``: (kind, payload, height units, title), top to bottom, as ``profile_panels`` gives them."""
        self.rows = n = len(panels)
        units = [p[2] for p in panels]
        self.plot_height = sum(units) * UNIT_PX + GAP_PX * (n - 1)  # px
        gap = GAP_PX / self.plot_height if n > 1 else 0.0
        scale = (1 - gap * (n - 1)) / sum(units)
        self.layout: dict = {"annotations": [], "shapes": []}
        self.traces: list[dict] = []
        self.domains = []
        top = 1.0
        for r, (_, _, u, title) in enumerate(panels, start=1):
            bottom = max(0.0, top - u * scale)
            self.domains.append((bottom, top))
            x, y = self.refs(r)
            # one time axis: every panel's x axis follows the bottom one (zoom and pan move all panels)
            self.layout[axis_key("x", r)] = dict(anchor=y, domain=[0.0, 1.0],
                                                 **({"matches": f"x{n}"} if r < n else {}))
            self.layout[axis_key("y", r)] = dict(anchor=x, domain=[bottom, top])
            # the panel's title, left-aligned above it
            self.layout["annotations"].append(dict(
                text=title, x=0, xanchor="left", xref="paper", y=top, yanchor="bottom", yref="paper",
                showarrow=False, font=dict(size=14, color="#1f2933")))
            top = bottom - gap

    @staticmethod
    def refs(r: int) -> tuple[str, str]:
        """The trace references of a row's axes ("x2", "y2")."""
        refs = panel_refs(r)
        return refs["xaxis"], refs["yaxis"]

    def x(self, r: int) -> dict:
        return self.layout[axis_key("x", r)]

    def y(self, r: int) -> dict:
        return self.layout[axis_key("y", r)]

    def add(self, r: int, trace: dict):
        x, y = self.refs(r)
        self.traces.append({**trace, "xaxis": x, "yaxis": y})

    def shade(self, r: int, x: tuple, y: tuple, colour: str, opacity: float, **extra):
        """A rectangle on a panel; ``None`` for a side means the whole panel that way (its domain)."""
        xr, yr = self.refs(r)
        self.layout["shapes"].append(dict(
            type="rect", x0=0 if x is None else x[0], x1=1 if x is None else x[1],
            xref=f"{xr} domain" if x is None else xr, y0=0 if y is None else y[0], y1=1 if y is None else y[1],
            yref=f"{yr} domain" if y is None else yr, fillcolor=colour, opacity=opacity, line=dict(width=0), **extra))

    def note(self, r: int, text: str):
        """A message in the middle of an empty panel."""
        x, y = self.refs(r)
        self.layout["annotations"].append(dict(text=text, xref=f"{x} domain", yref=f"{y} domain", x=0.5, y=0.5,
                                               showarrow=False, font=dict(size=13, color="#52606d")))

    def top(self, r: int) -> float:
        return self.domains[r - 1][1]

    def category_labels(self) -> list[str]:
        return [str(c) for k, ax in self.layout.items() if k.startswith("yaxis") and ax.get("type") == "category"
                for c in ax.get("categoryarray", ())]


def panel_key(panel) -> tuple[str, str | None]:
    """(kind, parameter or group) of a profile panel: what a slide of the profile names to draw it."""
    return panel[0], panel[1] if isinstance(panel[1], str) else None


def profile_panels(study, usubjid: str, lab_codes: list[str], group: str) -> tuple[list, list[str]]:
    """The profile's panels in order, (kind, payload, height units, title), and notes on what is missing."""
    row = A.subject_row(study.adsl, usubjid)
    arm_label = str(row["ARM_LABEL"])
    notes: list[str] = []
    groups = unit_groups(study)
    extra = extra_panels(study)
    # Which panels, in this order: dosing, chosen parameters, group, the study's extra panels, AEs.
    panels: list[tuple[str, object, float, str]] = []  # (kind, payload, height units, title)
    if study.adex is None or study.adex.empty:
        notes.append("Exposure (ADEX) is withheld in a blinded view: no dosing panel." if is_blinded_view(study)
                     else "No exposure dataset (ADEX) in this study: no dosing panel.")
        dose = None
    else:
        dose = A.dosing(subject_data(study, usubjid, "adex"), usubjid)
        if dose.empty:
            notes.append("No dosing records (ADEX) for this subject.")
        else:
            n_trt = dose["EXTRT"].nunique()
            panels.append(("dose", dose, 0.35 + 0.25 * n_trt, "Dosing (ADEX)"))
    for code in lab_codes:
        panels.append(("lab", code, 1.0, study.params[code].name))
    if group != NO_GROUP and group in groups:
        cat, unit, _codes = groups[group]
        panels.append(("group", group, 1.5, f"{_cat_title(cat, study)}" + (f" ({unit})" if unit else "")))
    for code in extra:
        if code not in lab_codes:
            panels.append(("activity", code, 0.85, study.params[code].name))
    if study.adae is None:
        notes.append("No adverse-event dataset (ADAE) in this study: no AE panel.")
        ae = None
    else:
        ae = A.events(subject_data(study, usubjid, "adae"), usubjid, arm_label)
        terms = list(dict.fromkeys(ae["AEDECOD"]))
        panels.append(("ae", ae, max(0.6, 0.36 * len(terms) + 0.2), "Adverse events (bars: onset to resolution; "
                                                                       "colour: grade)"))
    return panels, notes


def profile_figure(study, usubjid: str, lab_codes: list[str], group: str, state: F.FilterState, *,
                   only: set | None = None) -> tuple[go.Figure, list[str]]:
    """The stacked panels for one subject, and notes on what the study or subject lacks.

    ``only``: the ``panel_key`` of the panels to draw (a deck slide holds at most four).
    """
    row = A.subject_row(study.adsl, usubjid)
    arm_label = str(row["ARM_LABEL"])
    arm = study.arm_by_label.get(arm_label)
    colour = arm.colour if arm else "#1f4e79"
    light = arm.light if arm else "#9ccbe8"
    groups = unit_groups(study)
    extra = extra_panels(study)
    steps = step_panels(study)
    panels, notes = profile_panels(study, usubjid, lab_codes, group)
    if only is not None:
        panels = [p for p in panels if panel_key(p) in only]
    if not panels:
        fig = go.Figure()
        fig.add_annotation(text="Nothing to draw for this subject.", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=16))
        fig.update_layout(**base_layout(height=300))
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return stamp(fig, study, usubjid, state=state), notes

    canvas = _Panels(panels)
    top, bottom = 46, 96

    # the subject's values of every parameter drawn, read once
    drawn = [p[1] for p in panels if p[0] in ("lab", "activity")] + \
        [c for p in panels if p[0] == "group" for c in groups[p[1]][2]]
    values = A.subject_values(subject_measurements(study, usubjid), usubjid, drawn)
    last_week = max(study.visit_numbers or (0,))
    extents = [last_week]
    for r, (kind, payload, _, _) in enumerate(panels, start=1):
        if kind == "dose":
            extents.append(float(payload["end_week"].max()))
            _dose_panel(canvas, r, payload, colour, light)
        elif kind in ("lab", "activity"):
            line = colour if kind == "lab" else EXTRA_COLOURS[extra.index(payload) % len(EXTRA_COLOURS)]
            _lab_panel(canvas, study, r, values[values["PARAMCD"] == payload], payload, line, band=kind == "lab",
                       step=payload in steps)
        elif kind == "group":
            _group_panel(canvas, study, r, values, groups[payload][2])
        elif kind == "ae":
            if len(payload):
                extents.append(float(payload["end"].max()))
            _ae_panel(canvas, r, payload)
    xmax = math.ceil(max(extents)) + 1.5
    lo, hi = state.weeks
    if (lo, hi) != F.full_window(study):
        for r in range(1, canvas.rows + 1):
            canvas.shade(r, (lo, hi), None, WINDOW_COLOUR, 0.06)
        canvas.layout["annotations"].append(dict(
            text=f"filter window: {study.time_word}s {lo:g}–{hi:g}", x=(lo + hi) / 2, xref="x", y=1, yref="paper",
            yshift=30, showarrow=False, font=dict(size=12, color=WINDOW_COLOUR)))
    # The margins are set from the labels (left_margin) and the template never hides an overflowing tick label:
    # plotly then measures no label of the 20 axes on a redraw.
    left, fits = left_margin(canvas.category_labels())
    angle = upright(step_labels(-1.5, xmax, 4), PLOT_PX)
    for r in range(1, canvas.rows + 1):
        # every panel has its own time-axis labels: a value is read against the axis under it, not one a page away
        canvas.x(r).update(range=[-1.5, xmax], dtick=4, showgrid=True, gridcolor="#e4e9ef", zeroline=False,
                           showticklabels=True, tickfont=dict(size=13 if r == canvas.rows else 11), automargin=False,
                           tickangle=angle)
        canvas.y(r).update(tickfont=dict(size=13), automargin=not fits)
        canvas.y(r).setdefault("title", {}).update(font=dict(size=13))
    # the time axis's title placed from its labels, as plotly_white does (one axis: cheap; see TEMPLATE)
    canvas.x(canvas.rows)["title"] = dict(text=study.time_title, standoff=15)
    layout = base_layout(margin=dict(l=left, r=205, t=top, b=bottom), hovermode="closest", showlegend=True,
                         barmode="overlay", template=TEMPLATE)
    layout["legend"] = dict(orientation="v", x=1.01, xanchor="left", y=1, yanchor="top", font=dict(size=13))
    fig = go.Figure(data=canvas.traces, layout={**canvas.layout, **layout})
    stamp(fig, study, f"{usubjid} · {arm_label}; labs at their visit's {study.time_word}, doses and AEs at study day",
          state=state)
    # the caption strip may have deepened the bottom margin: the figure grows, the panels keep their heights
    fig.layout.height = int(canvas.plot_height + top + fig.layout.margin.b)
    return fig, notes


def _dose_panel(canvas, r, dose, colour, light):
    rows = []
    for (trt, route), d in dose.groupby(["EXTRT", "EXROUTE"], sort=False):
        label = f"{trt} {_ROUTE.get(str(route).upper(), str(route).lower())}".strip()
        rows.append(label)
        for s in d.itertuples():
            if s.frequency in DENSE:
                dense = s.frequency != "weekly"
                canvas.add(r, dict(
                    type="bar", y=[label], x=[max(s.end_week - s.start_week, 0.3)], base=[s.start_week],
                    orientation="h", width=0.55, marker=dict(color=colour if dense else light, line=dict(width=0)),
                    text=[s.frequency], textposition="inside", insidetextanchor="middle",
                    textfont=dict(size=12, color="#fff" if dense else "#1f2933"), showlegend=False,
                    hovertemplate=(f"{label}, {s.frequency}<br>weeks {s.start_week:.1f}–{s.end_week:.1f} "
                                   f"({s.doses} doses)<extra></extra>"),
                ))
            else:
                wk = list(s.dose_weeks)
                canvas.add(r, dict(
                    type="scatter", x=wk, y=[label] * len(wk), mode="markers", showlegend=False,
                    marker=dict(symbol="line-ns-open", size=20, color=colour, line=dict(width=3, color=colour)),
                    customdata=[[w * 7 + 1] for w in wk],
                    hovertemplate=f"{label} dose ({s.frequency})<br>week %{{x:.1f}} (day %{{customdata[0]:.0f}})"
                                  f"<extra></extra>",
                ))
    canvas.y(r).update(type="category", categoryorder="array", categoryarray=list(reversed(rows)), showgrid=False,
                       fixedrange=True)


def _lab_panel(canvas, study, r, d, code, colour, band: bool, step: bool):
    """One parameter's panel from the subject's values of it (``d``)."""
    info = study.params[code]
    unit = info.unit
    if d.empty:
        canvas.note(r, f"No values of {_short(study, code)} for this subject")
        return
    dec = _decimals(d["AVAL"])
    y = d["AVAL"].to_numpy(float)
    lo, hi = info.lo, info.hi
    rec_lo = d["ANRLO"].to_numpy(float) if "ANRLO" in d.columns else np.full(len(d), np.nan)
    rec_hi = d["ANRHI"].to_numpy(float) if "ANRHI" in d.columns else np.full(len(d), np.nan)
    if info.ranges_vary:  # ranges differ between subjects: this subject's own, when it has a single one
        own_lo, own_hi = pd.unique(rec_lo[np.isfinite(rec_lo)]), pd.unique(rec_hi[np.isfinite(rec_hi)])
        lo = float(own_lo[0]) if len(own_lo) == 1 else None
        hi = float(own_hi[0]) if len(own_hi) == 1 else None
    has_band = band and (lo is not None or hi is not None)
    if has_band:
        y0 = lo if lo is not None else min(0.0, float(np.nanmin(y)))
        y1 = hi if hi is not None else float(np.nanmax(y))
        canvas.shade(r, None, (y0, y1), BAND_COLOUR, 0.13, layer="below")
    out = np.zeros(len(y), bool)
    if "ANRIND" in d.columns and d["ANRIND"].astype(str).str.strip().ne("").any():
        # the sponsor's reference range indicator (its own, possibly subject-specific, ranges)
        out = d["ANRIND"].astype(str).str.upper().isin(["LOW", "HIGH", "ABNORMAL", "LOW LOW", "HIGH HIGH"]).to_numpy()
    elif info.ranges_vary:  # each record against its own range
        out = (np.isfinite(rec_lo) & (y < rec_lo)) | (np.isfinite(rec_hi) & (y > rec_hi))
    else:
        if has_band and lo is not None:
            out |= y < lo
        if has_band and hi is not None:
            out |= y > hi
    day = d["ADY"].to_numpy(float) if "ADY" in d.columns else np.full(len(d), np.nan)
    visit = d["AVISIT"].astype(str).tolist() if "AVISIT" in d.columns else [study.time_text(w) for w in d["TIME"]]
    custom = [[v, f"{x:.0f}" if np.isfinite(x) else "–"] for v, x in zip(visit, day)]
    rng = f"<br>normal range {lo:g}–{hi:g} {unit}" if has_band and lo is not None and hi is not None else ""
    canvas.add(r, dict(
        type="scatter", x=d["TIME"], y=y, mode="lines+markers", showlegend=False, name=_short(study, code),
        line=dict(color=colour, width=2.4, shape="hv" if step else "linear"),
        marker=dict(size=8, color=[OUT_OF_RANGE if o else colour for o in out],
                    line=dict(width=1, color="#fff")),
        customdata=custom,
        hovertemplate=(f"<b>{info.name}</b><br>%{{customdata[0]}} (day %{{customdata[1]}})<br>"
                       f"%{{y:.{dec}f}} {unit}{rng}<extra></extra>"),
    ))
    lo_y, hi_y = float(np.nanmin(y)), float(np.nanmax(y))
    if has_band:  # the normal range stays in view, so a value's distance from it can be read
        lo_y, hi_y = min(lo_y, y0), max(hi_y, y1)
    pad = (hi_y - lo_y) * 0.08 or abs(hi_y) * 0.1 or 1.0
    canvas.y(r).update(title=dict(text=unit if len(unit) <= 12 else ""), range=[lo_y - pad, hi_y + pad])


def _group_panel(canvas, study, r, values, codes):
    d = values[values["PARAMCD"].isin(codes)]
    if d.empty:
        canvas.note(r, "No values of this group for this subject")
        return
    canvas.layout["legend2"] = dict(x=1.01, xanchor="left", y=canvas.top(r), yanchor="top", font=dict(size=12),
                                   title=dict(text="", font=dict(size=12)), tracegroupgap=2)
    for i, code in enumerate(codes):
        g = d[d["PARAMCD"] == code]
        if g.empty:
            continue
        c = GROUP_PALETTE[i % len(GROUP_PALETTE)]
        name = _short(study, code)
        dec = _decimals(g["AVAL"])
        canvas.add(r, dict(
            type="scatter", x=g["TIME"], y=g["AVAL"], mode="lines+markers", name=name, legend="legend2",
            line=dict(color=c, width=2.2), marker=dict(size=7, color=c),
            customdata=[study.visit_label(w) for w in g["TIME"]],
            hovertemplate=f"<b>{study.params[code].name}</b><br>%{{customdata}}<br>%{{y:.{dec}f}}<extra></extra>",
        ))
    units = {study.params[c].unit for c in codes}
    unit = units.pop() if len(units) == 1 else ""  # one unit per group panel (unit_groups): never a mixed label
    canvas.y(r)["title"] = dict(text=unit if len(unit) <= 12 else "")


def _ae_hover(e) -> str:
    end = "ongoing" if e.ongoing else f"{e.AENDY:.0f}"
    return (f"<b>{e.AEDECOD}</b> ({e.AETERM})<br>days {e.ASTDY:.0f}–{end}<br>{e.severity}"
            f"{' · SERIOUS' if e.serious else ''}")


def _ae_panel(canvas, r, ae):
    if ae.empty:
        canvas.note(r, "No adverse event with a start day for this subject")
        canvas.y(r)["showticklabels"] = False
        return
    terms = list(dict.fromkeys(ae["AEDECOD"]))
    canvas.layout["legend3"] = dict(x=1.01, xanchor="left", y=canvas.top(r), yanchor="top", font=dict(size=12))
    sev_order = [k for k in GRADE_COLOURS if k in set(ae["severity"])] + sorted(
        set(ae["severity"]) - set(GRADE_COLOURS))
    for sev in sev_order:
        e = ae[ae["severity"] == sev]
        canvas.add(r, dict(
            type="bar", y=e["AEDECOD"], x=(e["end"] - e["start"]).clip(lower=0.15), base=e["start"],
            orientation="h", width=0.6, name=sev, legend="legend3",
            marker=dict(color=GRADE_COLOURS.get(sev, "#7b8794"),
                        line=dict(color=["#000" if s else "rgba(0,0,0,0.35)" for s in e["serious"]],
                                  width=[2.5 if s else 0.5 for s in e["serious"]])),
            customdata=[_ae_hover(x) for x in e.itertuples(index=False)],
            hovertemplate="%{customdata}<extra></extra>",
        ))
    ser = ae[ae["serious"]]
    if len(ser):
        canvas.add(r, dict(
            type="scatter", x=ser["start"], y=ser["AEDECOD"], mode="markers", name="Serious (★ at onset)",
            legend="legend3",
            marker=dict(symbol="star", size=15, color="#000", line=dict(width=1, color="#fff")),
            customdata=[_ae_hover(x) for x in ser.itertuples(index=False)],
            hovertemplate="%{customdata}<extra></extra>",
        ))
    canvas.y(r).update(type="category", categoryorder="array", categoryarray=list(reversed(terms)), showgrid=False,
                       fixedrange=True)


# -- validation -------------------------------------------------------------------------------
def not_in_arm_text(study, usubjid) -> str | None:
    """Why a subject of ADSL has no profile: a screen failure or another subject in no treatment arm (left out of
    every page), rather than 'unknown'. None when ADSL does not have them."""
    ex = study.excluded
    if not isinstance(usubjid, str) or ex is None or ex.empty or "USUBJID" not in ex.columns:
        return None
    row = ex[ex["USUBJID"].astype(str) == usubjid]
    if row.empty:
        return None
    var = study.arm_variable_of("efficacy")
    why = f"no {var}"
    for col in dict.fromkeys((var, "ARM", "ACTARM")):  # the first arm variable that says something
        value = str(row[col].iloc[0]).strip() if col in row.columns else ""
        if value and value.lower() not in ("nan", "none"):
            why = f"{col} {value!r}"
            break
    return (f"{usubjid} is in ADSL but in no treatment arm ({why}, e.g. a screen failure): left out of every page "
            f"([arms] exclude / include_untreated in study.toml bring such subjects back).")


def clean_panels(study, params, group) -> tuple[list[str], str]:
    """The chosen lab codes and group; a forged or stale value raises PreventUpdate (HTTP 204)."""
    if params is None:
        params = []
    if not isinstance(params, list) or len(params) > len(study.params) or \
            not all(isinstance(p, str) and p in study.params for p in params):
        raise PreventUpdate
    if not isinstance(group, str) or (group != NO_GROUP and group not in unit_groups(study)):
        raise PreventUpdate
    return list(dict.fromkeys(params)), group


def _state(store, study) -> F.FilterState:
    state = F.from_store(store, study)
    if state is None:
        raise PreventUpdate
    return state


def values_csv(study, store, usubjid, params, group) -> dict:
    """The values the profile draws for one subject (its panels, group and extra panels) with provenance."""
    state = _state(store, study)
    codes, group = clean_panels(study, params, group)
    if not isinstance(usubjid, str) or usubjid not in set(study.subjects):
        raise PreventUpdate
    codes = codes[:MAX_PANELS]
    shown = list(dict.fromkeys(codes + (unit_groups(study)[group][2] if group in unit_groups(study) else [])
                               + extra_panels(study)))
    d = A.subject_values(subject_data(study, usubjid, "measurements"), usubjid, shown)
    cols = [c for c in ("USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADY", "AVAL", "ANRLO", "ANRHI")
            if c in d.columns]
    note = (f"Patient profile values: {usubjid}; parameters {', '.join(shown)}.\n"
            "Method: values as recorded, at their nominal visit week (AVISITN)")
    return dict(content=csv_with_provenance(d[cols], study, state, note),
                filename=f"{figure_tools.safe_filename(usubjid)}-profile-values.csv", type="text/csv")


# -- callbacks --------------------------------------------------------------------------------
def register(app, study, cache):
    subjects = set(study.subjects)
    figure_tools.register(app, "pt", [(FILTER_STORE, "data"), ("pt-patient", "value"), ("pt-params", "value"),
                                      ("pt-group", "value")], data=lambda *v: values_csv(study, *v))

    # One callback for the page (one request per click): the picker lists the patients of the arm filter (the
    # patients chosen in the filter among them, never only them); Previous/Next step through that list; choosing
    # a patient in the filter opens their profile; then the header, the figure and the step buttons.
    @app.callback(
        Output("pt-patient", "options"),
        Output("pt-patient", "value"),
        Output("pt-seen", "data"),
        Output("pt-header", "children"),
        Output("pt-figure", "figure"),
        Output("pt-message", "children"),
        Output("pt-caption", "children"),
        Output("pt-prev", "disabled"),
        Output("pt-next", "disabled"),
        Input(FILTER_STORE, "data"),
        Input("pt-prev", "n_clicks"),
        Input("pt-next", "n_clicks"),
        Input("pt-patient", "value"),
        Input("pt-params", "value"),
        Input("pt-group", "value"),
        State("pt-seen", "data"),
    )
    def update(store, _prev, _next, current, params, group, seen):
        state = _state(store, study)
        codes, group = clean_panels(study, params, group)
        order = arm_order(study, state)
        trig = ctx.triggered_prop_ids
        usubjid = current
        stepped = False  # Previous/Next within the arm filter's list
        back = "pt-prev.n_clicks" in trig
        if isinstance(current, str) and current in subjects:
            if (back or "pt-next.n_clicks" in trig) and current in order:
                prev, nxt = A.neighbours(order, current)
                usubjid = (prev if back else nxt) or current
                stepped = True
        elif current is None:
            usubjid = A.default_subject(order, state.patients)
        seen = [p for p in seen if isinstance(p, str)] if isinstance(seen, list) else []
        added = [p for p in state.patients if p not in seen]
        if f"{FILTER_STORE}.data" in trig and added:
            usubjid = added[0]  # a patient just chosen in the filter: their profile
        # What has not changed is not sent (each output is redrawn in the browser): a step from one patient of
        # the arm filter to another leaves the picker's list as it was.
        same_list = stepped and f"{FILTER_STORE}.data" not in trig
        opts = no_update if same_list else patient_options(study, order, usubjid)
        value = usubjid if usubjid != current else no_update
        chosen = list(state.patients)
        return (opts, value, chosen if chosen != seen else no_update,
                *render(state, usubjid, codes, group, order, back))

    def render(state, usubjid, codes, group, order, back=False):
        if usubjid is None:
            text = "No subject in the current filter: widen the arm filter."
            return (html.Div(text, className="empty-note"),
                    message_figure(study, text, state, height=260, font_size=16), None, "", True, True)
        if not isinstance(usubjid, str) or usubjid not in subjects:
            text = not_in_arm_text(study, usubjid) or \
                f"Unknown patient: {str(usubjid)[:40]!r} is not a subject of {study.study_id}."
            return (html.Div(text, className="empty-note", id="pt-unknown"),
                    message_figure(study, text, state, height=260, font_size=16),
                    dbc.Alert(text, color="warning", className="py-1 mb-2"), "", True, True)
        # the whole view cached (header, figure, notes): a repeated request only encodes it
        out = cache.get_or_compute("patient-view", (usubjid, tuple(codes), group, state.key()),
                                   lambda: view(state, usubjid, codes, group, order))
        # The patient a click on Next (Previous, after one) shows, prepared in the background: stepping
        # through patients then costs the browser's redraw only, not ~70 ms of the server's drawing too.
        prev, nxt = A.neighbours(order, usubjid) if usubjid in order else (None, None)
        ahead = prev if back else nxt
        if ahead is not None:
            cache.prefetch("patient-view", (ahead, tuple(codes), group, state.key()),
                           lambda: view(state, ahead, codes, group, order))
        return out

    def view(state, usubjid, codes, group, order):
        messages = []
        if len(codes) > MAX_PANELS:
            messages.append(f"Showing the first {MAX_PANELS} of the {len(codes)} parameter panels chosen.")
            codes = codes[:MAX_PANELS]
        if usubjid not in order:
            messages.append(f"{usubjid} is not in the current arm filter: Previous/Next step through the patients "
                            "of the arm filter.")
        fig, notes = profile_figure(study, usubjid, codes, group, state)
        where = ("at their visit's study week" if study.time_unit == "week" else
                 "at their visit number (AVISITN: the study has no weeks for its visits, so doses and adverse "
                 "events, in study weeks, do not share that axis)")
        other = subject_data(study, usubjid, "other_measurements")
        if other is not None and len(other):
            outside = sorted({str(x) for x in other["DATASET"]})
            notes = [*notes, f"All of this subject's values are drawn, including {', '.join(outside)}, whose "
                             f"population the subject is not in (the other pages leave them out)."]
        caption = (("Simulated data. " if study.simulated else "") + f"Laboratory values {where} (hover: study day), "
                   "normal range shaded green, values outside it in red; doses and adverse events at their study day "
                   "(week = (day − 1) / 7). AE bars run from onset to resolution day; a black outline and ★ mark "
                   "a serious AE. " + " ".join(notes))
        msg = [dbc.Alert(m, color="warning", className="py-1 mb-2") for m in messages] or None
        prev, nxt = A.neighbours(order, usubjid)  # here, not in the picker: this runs for every patient shown
        # the header as one static block: its ~30 elements are not each a Dash component to replace on each click;
        # the figure as plain JSON-ready data, so a repeated request does not copy the figure object (~3 ms)
        return (static(header(study, usubjid, order)), fig.to_plotly_json(), msg, caption,
                prev is None, nxt is None)
