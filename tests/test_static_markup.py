"""Static blocks (components/markup.py): tables sent as one piece of markup show dataset text as text.

The pages send their summary tables and notes as one dcc.Markdown block (one React wrapper instead of
hundreds): the markup is read by the browser's JSX parser, so a label holding markup, a JSX expression, a
Markdown construct or a blank line must still come out as exactly that text, in the right cell.
"""

from __future__ import annotations

import threading

import dash_bootstrap_components as dbc
import pytest
from dash import Dash, dcc, html
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from components.markup import STATIC_CLASS, escape, static, to_markup
from conftest import free_port
from static_markup import decode

HOSTILE = [
    "{window.__pwned = 1}",
    "<img src=x onerror=\"window.__pwned = 1\">",
    "</td></tr></table><script>window.__pwned = 1</script>",
    "&amp; &lt; &#123; stay as typed",
    "line one\n\n# not a heading\n\n* not a list",
    "[a link](javascript:window.__pwned=1) and https://evil.example/bare",
    "$x$ and ${1 + 1} and `code`",
    "\"double\" 'single' back\\slash\ttab",
    "≥ µ ★ 😀 Ünïcödé",
    "NUL\x00 and bell\x07 are dropped",
]


def shown(text: str) -> str:
    """What a reader sees: the text, less the control characters other than tab and line breaks."""
    return "".join(ch for ch in text if ch in "\t\n\r" or not (ord(ch) < 32 or ord(ch) == 127))


def hostile_table():
    rows = [html.Tr([html.Td(str(i), className="row-label"), html.Td(t, title=t)]) for i, t in enumerate(HOSTILE)]
    table = dbc.Table([html.Thead(html.Tr([html.Th("#"), html.Th("Label", style={"borderBottom": "3px solid #0072B2"})])),
                       html.Tbody(rows)], id="hostile-table", striped=True, size="sm", responsive=True)
    note = html.Details([html.Summary("More"), html.Div(HOSTILE[1], className="caption")], open=True)
    return [table, note]


def test_markup_escapes_everything_the_jsx_parser_or_markdown_would_read():
    out = to_markup(hostile_table())
    for bad in ("<img", "<script", "</td></tr></table>", "{window", "\n", "\x00", "\x07"):
        assert bad not in out, bad
    assert "{" not in out.replace("style={{", "").replace("}}", "")
    assert escape("a{b}") == "a&#123;b&#125;" and escape("x\n\ny") == "x&#10;&#10;y"
    # a note of the statistics panel (dbc.Alert) keeps Bootstrap's classes and its role
    assert to_markup(dbc.Alert("x<y", color="secondary", className="py-1")) == \
        '<div role="alert" className="alert alert-secondary py-1">x&lt;y</div>'


def test_the_decoder_reads_back_every_cell_as_written():
    block = static(hostile_table())
    assert isinstance(block, dcc.Markdown) and block.dangerously_allow_html and block.className == STATIC_CLASS
    table, note = decode(block.children)
    body = table["props"]["children"][1]["props"]["children"]
    assert [tr["props"]["children"][1]["props"]["children"] for tr in body] == [shown(t) for t in HOSTILE]
    assert [tr["props"]["children"][1]["props"]["title"] for tr in body] == [shown(t) for t in HOSTILE]
    assert table["props"]["id"] == "hostile-table" and "table-striped" in table["props"]["className"]
    assert note["type"] == "Details" and note["props"]["open"] is True


def test_what_cannot_be_static_is_refused():
    with pytest.raises(TypeError, match="cannot be sent as static markup"):
        to_markup(html.Div(dcc.Graph(id="g")))
    with pytest.raises(TypeError):
        to_markup(html.Button("Go", id="b"))  # a control has callbacks: it stays a Dash component
    with pytest.raises(ValueError, match="not written"):
        to_markup(html.Td("x", style={"background": "url(javascript:alert(1))"}))
    with pytest.raises(ValueError):
        to_markup(html.Td("x", style={"color;position": "fixed"}))
    assert static(None) is None


@pytest.fixture(scope="module")
def hostile_page():
    from werkzeug.serving import make_server

    app = Dash(__name__, assets_folder="/nonexistent-assets", serve_locally=True)
    app.layout = html.Div([html.H1("Static block"), static(hostile_table())], id="root")
    port = free_port()
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{port}/"
    srv.shutdown()


@pytest.mark.browser
def test_the_browser_shows_hostile_text_as_text_in_its_cell(browser, hostile_page):
    browser.get(hostile_page)
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#hostile-table tbody tr"))
    got = browser.execute_script("""
        const rows = [...document.querySelectorAll('#hostile-table tbody tr')];
        return {cells: rows.map(r => r.children[1].textContent), titles: rows.map(r => r.children[1].title),
                labels: rows.map(r => r.children[0].className),
                border: getComputedStyle(document.querySelectorAll('#hostile-table th')[1]).borderBottomWidth,
                responsive: !!document.querySelector('.table-responsive > #hostile-table'),
                open: document.querySelector('.static-block details').open,
                images: document.querySelectorAll('img').length, scripts: document.querySelectorAll('#root script').length,
                anchors: document.querySelectorAll('#root a').length, headings: document.querySelectorAll('#root h1').length,
                lists: document.querySelectorAll('#root ul, #root li').length, pwned: window.__pwned === 1};
    """)
    assert got["cells"] == [shown(t) for t in HOSTILE]
    assert got["titles"] == [shown(t) for t in HOSTILE]
    assert got["labels"] == ["row-label"] * len(HOSTILE) and got["border"] == "3px" and got["responsive"]
    assert got["open"] is True
    assert (got["images"], got["scripts"], got["anchors"], got["headings"], got["lists"], got["pwned"]) == \
        (0, 0, 0, 1, 0, False)
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe
