"""Shared look: projector-legible plotly defaults, arm colours, the provenance stamp."""

from __future__ import annotations

import plotly.graph_objects as go

FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
BASE_FONT_SIZE = 15  # legible from the back of a lab-meeting room at 1280x720


def base_layout(**overrides) -> dict:
    layout = dict(
        template="plotly_white",
        font=dict(family=FONT, size=BASE_FONT_SIZE, color="#1f2933"),
        margin=dict(l=70, r=30, t=50, b=80),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hoverlabel=dict(font_size=14),
    )
    layout.update(overrides)
    return layout


def provenance_text(study, extra: str = "") -> str:
    parts = []
    if study.simulated:
        parts.append("SIMULATED DATA — not the trial's results")
    parts.append(f"{study.study_id} · lock {study.lock.lock_date or 'unlocked'} · {study.lock.short}")
    if extra:
        parts.append(extra)
    return " · ".join(parts)


def stamp(fig: go.Figure, study, extra: str = "") -> go.Figure:
    """Write the provenance line inside the figure so a PNG taken from it stays traceable."""
    fig.add_annotation(
        text=provenance_text(study, extra), xref="paper", yref="paper", x=0, y=-0.0,
        yshift=-62, xanchor="left", yanchor="top", showarrow=False,
        font=dict(size=11, color="#8a1c1c" if study.simulated else "#555"),
    )
    return fig


def graph_config(filename: str) -> dict:
    """Toolbar: PNG export at slide size; nothing loaded from outside the app."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "width": 1920, "height": 1080, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }
