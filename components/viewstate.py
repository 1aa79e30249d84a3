"""The whole view in the URL: page-local controls and presentation mode, next to the global filters.

A page module may expose ``URL_STATE``: ``{query key: (component id, property)}`` or
``{query key: (component id, property, after)}`` for the controls that define its view
(parameter, scale, options, visits…). ``after`` ("id.prop") marks a control whose options a
page callback computes from other controls (cells' visit pickers): its value from a link is
applied once that property has been updated.

Values are validated against the options the page itself offers in its layout (disabled
group headers excluded): an unknown value in a link is dropped with a notice, never applied.
Only values that differ from the layout default are written, so a default view keeps a
short URL. Everything here is pure (no callbacks): the shell wires it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

FILTER_KEYS = ("arm", "weeks", "patient")
PRESENT_KEY = "present"
GLOBAL_KEYS = (*FILTER_KEYS, PRESENT_KEY)
MAX_FIELDS = 40
MAX_TOKEN = 80


@dataclass(frozen=True)
class Text:
    """A free-text control in URL_STATE: ``("ae-quick", "value", Text(80))``."""

    max_len: int


def clean_text(value, max_len: int) -> str | None:
    """Whitespace-normalised text of at most ``max_len`` characters ("" for None); None when not text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    return " ".join(value.split())[:max_len]


@dataclass(frozen=True)
class UrlControl:
    key: str
    cid: str
    prop: str
    after: str | None  # "id.prop" to wait for, or None
    multi: bool
    allowed: dict  # token -> value
    default: object
    text: int | None = None  # a free-text control: its maximum length

    def token(self, value) -> str | None:
        """The query text of one allowed value, or None when the value is not allowed."""
        for tok, v in self.allowed.items():
            if same(v, value):
                return tok
        return None

    def encode(self, value) -> str | None:
        """The query text of the control's value ("" for an empty list); None when not representable."""
        if self.text is not None:
            return clean_text(value, self.text)
        if self.multi:
            if not isinstance(value, list):
                return None
            toks = [self.token(v) for v in value]
            return None if any(t is None for t in toks) else ",".join(toks)
        if value is None:
            return ""
        return self.token(value)

    def decode(self, text: str):
        """(ok, value) for a query text; ok False when any part is not an allowed value."""
        if self.text is not None:
            return (True, clean_text(text, self.text)) if len(text) <= 4 * self.text else (False, None)
        if self.multi:
            parts = [p for p in text.split(",") if p] if text else []
            if len(parts) > len(self.allowed) or any(p not in self.allowed for p in parts):
                return False, None
            return True, [self.allowed[p] for p in dict.fromkeys(parts)]
        if text == "":
            return False, None
        if text not in self.allowed:
            return False, None
        return True, self.allowed[text]

    def is_default(self, value) -> bool:
        return equal(self, value, self.default)


def same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def equal(c: UrlControl, a, b) -> bool:
    """Whether two values of control ``c`` are the same view."""
    if c.text is not None:
        return clean_text(a, c.text) == clean_text(b, c.text)
    if c.multi:
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and \
            all(same(x, y) for x, y in zip(a, b))
    return same(a, b)


def offered(c: UrlControl, value, options) -> bool:
    """Whether ``value`` is among the options the page currently offers (late controls)."""
    vals = option_values(options)
    items = value if c.multi else [value]
    return all(any(same(v, o) for o in vals) for v in items)


def _token_of(value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return None


def option_values(options) -> list:
    """Enabled option values from any Dash options form (list of dicts or scalars, or a dict)."""
    if isinstance(options, dict):
        return list(options)
    if not isinstance(options, (list, tuple)):
        return []
    out = []
    for o in options:
        if isinstance(o, dict):
            if not o.get("disabled"):
                out.append(o.get("value"))
        else:
            out.append(o)
    return out


def url_controls(page, study) -> list[UrlControl]:
    """The page's URL_STATE resolved against its layout: allowed values and defaults."""
    spec = getattr(page, "URL_STATE", None) or {}
    if not spec:
        return []
    tree = page.layout(study)
    out = []
    for key, entry in spec.items():
        if key in GLOBAL_KEYS:
            raise ValueError(f"{page.__name__}.URL_STATE: key {key!r} is reserved for the shell")
        cid, prop, *rest = entry
        try:
            comp = tree[cid]
        except KeyError:
            continue  # not in this study's layout (e.g. a page that says it has no data)
        default = getattr(comp, prop, None)
        if rest and isinstance(rest[0], Text):
            out.append(UrlControl(key, cid, prop, None, False, {}, clean_text(default, rest[0].max_len) or "",
                                  rest[0].max_len))
            continue
        allowed = {}
        for v in option_values(getattr(comp, "options", None)):
            tok = _token_of(v)
            if tok is None or "," in tok or len(tok) > MAX_TOKEN:
                continue
            allowed[tok] = v
        multi = isinstance(default, list) or bool(getattr(comp, "multi", False))
        if multi and default is None:
            default = []
        out.append(UrlControl(key, cid, prop, rest[0] if rest else None, multi, allowed, default))
    return out


def _pairs(search) -> list[tuple[str, str]]:
    if not isinstance(search, str):
        return []
    try:
        return parse_qsl(search.lstrip("?"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return []


def parse_page(search, controls: list[UrlControl]) -> tuple[dict, list[str]]:
    """{key: value} of the valid page keys in the query, and a notice per invalid one."""
    by_key = {c.key: c for c in controls}
    values, notices = {}, []
    for k, v in _pairs(search):
        c = by_key.get(k)
        if c is None:
            continue
        ok, val = c.decode(v)
        if ok:
            values[k] = val
        else:
            notices.append(f"Unknown {k} ignored: {v[:40]}")
    return values, notices


def parse_present(search) -> tuple[bool, list[str]]:
    vals = [v for k, v in _pairs(search) if k == PRESENT_KEY]
    if not vals:
        return False, []
    if vals[-1] in ("1", "0"):
        return vals[-1] == "1", []
    return False, [f"Presentation flag ignored: {vals[-1][:40]}"]


def unknown_keys(search, controls: list[UrlControl]) -> list[str]:
    known = set(GLOBAL_KEYS) | {c.key for c in controls}
    return [k for k, _ in _pairs(search) if k not in known]


def page_pairs(controls: list[UrlControl], values: dict) -> list[tuple[str, str]]:
    """Query pairs for the controls whose value differs from the layout default, in URL_STATE order."""
    out = []
    for c in controls:
        if c.key not in values:
            continue
        v = values[c.key]
        if c.is_default(v):
            continue
        tok = c.encode(v)
        if tok is not None:
            out.append((c.key, tok))
    return out


def compose(filter_query: str, pairs: list[tuple[str, str]], present: bool) -> str:
    """The canonical query string: filters (already encoded), page pairs, then ``present=1``."""
    parts = [p for p in [filter_query.lstrip("?")] if p]
    tail = list(pairs) + ([(PRESENT_KEY, "1")] if present else [])
    if tail:
        parts.append(urlencode(tail, safe=","))
    q = "&".join(parts)
    return f"?{q}" if q else ""


def filter_part(search) -> str:
    """The filter pairs of a query, as they are (the shell keeps them canonical)."""
    pairs = [(k, v) for k, v in _pairs(search) if k in FILTER_KEYS]
    return urlencode(pairs, safe=",") if pairs else ""


def apply_values(tree, controls: list[UrlControl], values: dict) -> None:
    """Set the controls of a page layout ``tree`` to the (validated) ``values`` of a link."""
    for c in controls:
        if c.key in values:
            try:
                setattr(tree[c.cid], c.prop, values[c.key])
            except KeyError:
                continue


def client_spec(study, pages, controls: dict) -> dict:
    """What the browser needs to keep the URL and the controls in step (``assets/viewstate.js``).

    The same rules as ``parse_page``/``page_pairs``: each control's allowed tokens and their values,
    its default, and the filter's allowed arms, visits and subjects. A control whose allowed values
    are the study's subjects says so ("subjects") rather than repeating the list.
    """
    subjects = [str(s) for s in study.subjects]
    subject_set = set(subjects)
    arm_of = dict(zip(study.adsl["USUBJID"].astype(str), study.adsl["ARM_LABEL"].astype(str)))
    code_of = {a.label: a.code for a in study.arms}
    spec_pages = {}
    for p in pages:
        ctl = []
        for c in controls.get(p.ID, []):
            if c.text is not None:
                tokens = None
            elif set(c.allowed) == subject_set and len(subject_set) > 50:
                tokens = "subjects"
            else:
                tokens = [[t, v] for t, v in c.allowed.items()]
            ctl.append({"key": c.key, "cid": c.cid, "prop": c.prop, "multi": c.multi, "text": c.text,
                        "tokens": tokens, "default": c.default})
        spec_pages[p.ID] = {"path": p.PATH, "controls": ctl}
    return {
        "time_word": study.time_word,
        "arms": [{"code": a.code, "label": a.label, "colour": a.colour, "n": int(a.n)} for a in study.arms],
        "visits": [float(v) for v in study.visit_numbers],
        "subjects": {u: code_of.get(arm_of.get(u), "") for u in subjects},
        "pages": spec_pages,
        "order": [p.ID for p in pages],
        "max_fields": MAX_FIELDS,
    }
