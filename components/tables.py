"""Small shared table widgets."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html


def frame_table(df: pd.DataFrame, table_id: str, first_col_class: str = "row-label"):
    """A read-only summary table: header from the columns, one row per frame row."""
    if df.empty:
        return html.Div("No subjects in the current filter.", className="empty-note", id=table_id)
    head = html.Thead(html.Tr([html.Th(c) for c in df.columns]))
    body = html.Tbody([
        html.Tr([html.Td(str(v), className=first_col_class if i == 0 else None) for i, v in enumerate(row)])
        for row in df.itertuples(index=False)
    ])
    return dbc.Table([head, body], id=table_id, bordered=False, striped=True, hover=True, size="sm", responsive=True,
                     className="summary-table")
