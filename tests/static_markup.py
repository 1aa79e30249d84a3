"""Read a static block (components/markup.py) back into the Dash component JSON it was written from.

The page sends its tables as one piece of markup; the tests read cells, rows and ids as before. This is a
decoder of the wire format written independently of the encoder (the stdlib HTML parser, not our code), so a
cell the encoder drops or mangles shows up as a wrong cell here.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

STATIC_CLASS = "static-block"
_ATTR_NAMES = {"classname": "className", "colspan": "colSpan", "rowspan": "rowSpan", "aria-label": "aria-label"}
_ALWAYS_LIST = {"table", "tbody", "tr"}  # as the page builders write them: html.Tbody([...]), html.Tr([...])
_STYLE = re.compile(r" style=\{\{([^{}]*)\}\}")


def _style_attr(m) -> str:
    items = dict((k, json.loads(v)) for k, v in re.findall(r'([a-zA-Z]+):("(?:[^"\\]|\\.)*")', m.group(1)))
    return ' style="' + json.dumps(items).replace("&", "&amp;").replace('"', "&quot;") + '"'


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = {"tag": None, "attrs": {}, "children": []}
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = {"tag": tag, "attrs": {_ATTR_NAMES.get(k, k): v for k, v in attrs}, "children": []}
        self.stack[-1]["children"].append(node)
        if tag != "br":
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1]["children"].append({"tag": tag, "attrs": dict(attrs), "children": []})

    def handle_endtag(self, tag):
        assert self.stack[-1]["tag"] == tag, f"</{tag}> closes <{self.stack[-1]['tag']}>"
        self.stack.pop()

    def handle_data(self, data):
        kids = self.stack[-1]["children"]
        if kids and isinstance(kids[-1], str):
            kids[-1] += data
        else:
            kids.append(data)


def _component(node):
    if isinstance(node, str):
        return node
    kids = [_component(k) for k in node["children"]]
    if node["tag"] == "div" and node["attrs"].get("className") == "table-responsive" and len(kids) == 1:
        return kids[0]  # dbc.Table(responsive=True) writes this wrapper
    props = dict(node["attrs"])
    if node["tag"] == "details":
        props["open"] = "open" in props
    if "style" in props:
        props["style"] = json.loads(props["style"])
    if node["tag"] in ("td", "th") and "colSpan" in props:
        props["colSpan"] = int(props["colSpan"])
    if node["tag"] in ("td", "th") and "rowSpan" in props:
        props["rowSpan"] = int(props["rowSpan"])
    props["children"] = kids if node["tag"] in _ALWAYS_LIST else (kids[0] if len(kids) == 1 else (kids or None))
    return {"type": node["tag"].capitalize(), "namespace": "dash_html_components", "props": props}


def decode(markup: str):
    """The children of a static block, as component JSON (one component, or a list of them)."""
    tree = _Tree()
    tree.feed(_STYLE.sub(_style_attr, markup))
    tree.close()
    assert len(tree.stack) == 1, "unclosed tags in the static block"
    (block,) = tree.root["children"]
    assert block["tag"] == "div" and block["attrs"].get("className") == STATIC_CLASS, block
    kids = [_component(k) for k in block["children"]]
    return kids[0] if len(kids) == 1 else kids


def decode_all(value):
    """Every static block inside a callback's answer replaced by what it was written from."""
    if isinstance(value, list):
        return [decode_all(v) for v in value]
    if isinstance(value, dict):
        props = value.get("props")
        if (value.get("type") == "Markdown" and isinstance(props, dict) and props.get("className") == STATIC_CLASS
                and props.get("dangerously_allow_html")):
            return decode(props["children"])
        return {k: decode_all(v) for k, v in value.items()}
    return value
