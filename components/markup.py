"""Static tables and notes sent as one piece of markup instead of hundreds of Dash components.

Why: every Dash component in a callback's answer is one more React wrapper subscribed to the store;
the trajectory page's summary table and statistics alone are ~270 of them, and replacing them on each
click cost the browser more than the server's whole answer. Tables and notes have no callbacks of their
own, so they go to the browser as one ``dcc.Markdown`` whose text is a single HTML block, rendered by
its JSX parser into plain React elements.

Dataset text is hostile: every text and attribute value is escaped here, braces included (the JSX
parser would read ``{...}`` as an expression); only the tags and attributes listed below are written;
styles are written only from our own values, checked against a strict pattern.
"""

from __future__ import annotations

import json
import re

from dash import dcc

STATIC_CLASS = "static-block"
# Dash html components that may appear in a static block, and the attributes written for them.
_TAGS = {"Div", "Span", "Small", "Strong", "B", "Em", "I", "Br", "P", "H2", "H3", "H4", "H5", "Ul", "Ol", "Li",
         "Table", "Thead", "Tbody", "Tfoot", "Tr", "Th", "Td", "Caption", "Sup", "Sub", "Code", "Abbr", "Details",
         "Summary"}
_ATTRS = {"id", "className", "colSpan", "rowSpan", "scope", "title", "role", "aria-label", "headers"}
_CSS_NAME = re.compile(r"^[a-zA-Z]{1,40}$")
_CSS_VALUE = re.compile(r"^[#a-zA-Z0-9 .%,()-]{0,80}$")
_VOID = {"br"}
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "{": "&#123;", "}": "&#125;",
            "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
# Markup characters, braces (JSX expressions) and line breaks (a blank line would end the HTML block and let
# the rest be read as Markdown) become entities; other control characters are dropped.
_ESCAPE_RE = re.compile(r"[&<>\"'{}\t\n\r]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape(text) -> str:
    """Text as the JSX parser reads it back, character for character (and never as markup or code)."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(), ""), str(text))


def _style(style: dict) -> str:
    items = []
    for k, v in style.items():
        v = str(v)
        if not _CSS_NAME.match(k) or not _CSS_VALUE.match(v):
            raise ValueError(f"style {k}: {v!r} is not written into static markup")
        items.append(f"{k}:{json.dumps(v)}")
    return "{{" + ",".join(items) + "}}"


def _bootstrap_table(node) -> tuple[str, dict, bool]:
    p = node.to_plotly_json()["props"]
    classes = ["table"] + [f"table-{flag}" for flag in ("striped", "bordered", "hover", "borderless")
                           if p.get(flag)]
    if p.get("size"):
        classes.append(f"table-{p['size']}")
    if p.get("className"):
        classes.append(p["className"])
    return "table", {"id": p.get("id"), "className": " ".join(classes)}, bool(p.get("responsive"))


def to_markup(node) -> str:
    """HTML (JSX-safe) for a tree of Dash html components and dbc.Table/Alert; text escaped."""
    if node is None:
        return ""
    if isinstance(node, (list, tuple)):
        return "".join(to_markup(n) for n in node)
    if isinstance(node, (str, int, float)):
        return escape(node)
    kind, ns = type(node).__name__, type(node).__module__
    responsive = False
    if ns.startswith("dash_bootstrap_components") and kind == "Table":
        tag, attrs, responsive = _bootstrap_table(node)
        style = None
    elif ns.startswith("dash_bootstrap_components") and kind == "Alert":
        p = node.to_plotly_json()["props"]
        tag = "div"
        attrs = {"id": p.get("id"), "role": "alert",
                 "className": " ".join(filter(None, ["alert", f"alert-{p.get('color') or 'primary'}",
                                                     p.get("className")]))}
        style = p.get("style")
    elif ns.startswith("dash.html") and kind in _TAGS:
        tag = kind.lower()
        p = node.to_plotly_json()["props"]
        attrs = {k: v for k, v in p.items() if k in _ATTRS}
        if kind == "Details" and p.get("open"):
            attrs["open"] = "open"  # a string: React sets the attribute for any truthy value
        style = p.get("style")
    else:
        raise TypeError(f"{ns}.{kind} cannot be sent as static markup")
    head = tag + "".join(f' {k}="{escape(v)}"' for k, v in attrs.items() if v is not None)
    if style:
        head += f" style={_style(style)}"
    if tag in _VOID:
        out = f"<{head} />"
    else:
        out = f"<{head}>{to_markup(getattr(node, 'children', None))}</{tag}>"
    return f'<div className="table-responsive">{out}</div>' if responsive else out


def static(node):
    """One component for a static block (tables, notes): the browser renders it without a Dash wrapper per
    element. The markup is one HTML block (one root, no line breaks), so Markdown never reads any of it."""
    if node is None:
        return None
    return dcc.Markdown(f'<div className="{STATIC_CLASS}">{to_markup(node)}</div>', dangerously_allow_html=True,
                        className=STATIC_CLASS)
