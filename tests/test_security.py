"""Headers, the machine-control endpoint, callback request shape, authentication and CSRF."""

import base64
import json

import pytest
from werkzeug.security import generate_password_hash

from app import create_app
from data.study import DEFAULT_DATA


def test_security_headers_on_pages_and_callbacks(client, cb, study):
    for resp in (client.get("/"), client.get("/_dash-layout"),
                 cb.post("page-content", "children", {"url.pathname": "/"}, {"url.search": ""})):
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self' 'sha256-" in csp and "unsafe-eval" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "same-origin"


def test_no_external_resources_in_index(client):
    html = client.get("/").get_data(as_text=True)
    assert "https://" not in html.replace("https://github.com", "")  # no CDN links
    assert "/assets/00-bootstrap.min.css" in html


def test_mcp_endpoint_absent_even_when_enabled_by_environment(monkeypatch):
    monkeypatch.setenv("DASH_MCP_ENABLED", "true")
    app = create_app(DEFAULT_DATA)
    c = app.server.test_client()
    # Without enable_mcp=False, Dash 4 answers this POST with its tool list (checked by hand).
    r = c.post("/_mcp", json={"jsonrpc": "2.0", "method": "tools/list", "id": 1})
    assert r.status_code in (404, 405) and b"jsonrpc" not in r.get_data()
    assert not any(str(r).startswith("/_mcp") for r in app.server.url_map.iter_rules())


@pytest.mark.parametrize("body", [
    "not json", "[]", "null", json.dumps({"output": "nope.children"}),
    json.dumps({"output": "page-content.children", "outputs": {"id": "page-content", "property": "children"},
                "inputs": [], "changedPropIds": []}),
    json.dumps({"output": "page-content.children", "outputs": [1, 2],
                "inputs": [{"id": "url", "property": "pathname", "value": "/"}], "changedPropIds": []}),
    json.dumps({"output": "page-content.children", "outputs": {"id": "page-content", "property": "children"},
                "inputs": [{"id": "evil", "property": "x", "value": 1}], "changedPropIds": []}),
])
def test_malformed_callback_requests_are_400_without_trace(client, body):
    r = client.post("/_dash-update-component", data=body, content_type="application/json")
    assert r.status_code == 400
    assert "Traceback" not in r.get_data(as_text=True)


def test_oversized_request_refused(client):
    r = client.post("/_dash-update-component", data="x" * (3 * 1024 * 1024), content_type="application/json")
    assert r.status_code == 413


@pytest.fixture()
def auth_app(monkeypatch, tmp_path):
    users = tmp_path / "users"
    users.write_text(f"# users\nana:{generate_password_hash('s3cret')}\n")
    monkeypatch.setenv("TRIAL_AUTH_FILE", str(users))
    return create_app(DEFAULT_DATA)


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


@pytest.mark.parametrize("path", ["/", "/_dash-layout", "/_dash-dependencies", "/assets/app.css", "/safety"])
def test_auth_required_on_every_route(auth_app, path):
    c = auth_app.server.test_client()
    r = c.get(path)
    assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    assert c.get(path, headers=basic("ana", "wrong")).status_code == 401
    assert c.get(path, headers=basic("ana", "s3cret")).status_code in (200, 404) if path == "/safety" else \
        c.get(path, headers=basic("ana", "s3cret")).status_code == 200


def test_auth_required_on_callbacks_and_cross_origin_refused(auth_app):
    c = auth_app.server.test_client()
    body = json.dumps({"output": "page-content.children",
                       "outputs": {"id": "page-content", "property": "children"},
                       "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
                       "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": ["url.pathname"]})
    assert c.post("/_dash-update-component", data=body, content_type="application/json").status_code == 401
    ok = {**basic("ana", "s3cret"), "Origin": "http://localhost"}
    assert c.post("/_dash-update-component", data=body, content_type="application/json", headers=ok).status_code == 200
    evil = {**basic("ana", "s3cret"), "Origin": "http://evil.example"}
    assert c.post("/_dash-update-component", data=body, content_type="application/json", headers=evil).status_code == 403
    no_origin = basic("ana", "s3cret")
    assert c.post("/_dash-update-component", data=body, content_type="application/json",
                  headers=no_origin).status_code == 403


def test_proxy_header_auth(monkeypatch):
    monkeypatch.setenv("TRIAL_AUTH_PROXY_HEADER", "X-Remote-User")
    c = create_app(DEFAULT_DATA).server.test_client()
    assert c.get("/").status_code == 401
    assert c.get("/", headers={"X-Remote-User": "dr.li"}).status_code == 200
