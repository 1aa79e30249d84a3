"""Attack run (issue 18), items 2, 7b, 12 and 15 at the HTTP level.

2.  Cross-Origin-Opener-Policy: same-origin (a window the app opens cannot be scripted by another site).
7b. A Host header the deployment does not answer to (DNS rebinding) is refused.
12. Basic auth: verified once per session (signed cookie), unknown users cost the same, guesses are limited.
15. Forged requests that gave a 500: each is a 4xx without a traceback.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from werkzeug.security import generate_password_hash

import security
from app import create_app
from conftest import default_store
from data.study import DEFAULT_DATA


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


# -- 2. COOP ----------------------------------------------------------------------------------------
def test_cross_origin_opener_policy_on_every_response(client):
    for path in ("/", "/_dash-layout", "/assets/app.css", "/safety"):
        assert client.get(path).headers.get("Cross-Origin-Opener-Policy") == "same-origin", path


# -- 7b. Host header ---------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8050", "127.0.0.1.nip.io:8050", "localhost.evil.example"])
def test_an_unknown_host_name_is_refused(client, host):
    for path in ("/", "/_dash-layout", "/_dash-dependencies"):
        r = client.get(path, headers={"Host": host})
        assert r.status_code == 400 and b"LSO-088" not in r.data, (host, path)


@pytest.mark.parametrize("host", ["localhost", "localhost:8050", "127.0.0.1:8050", "[::1]:8050", "10.20.30.40:8050"])
def test_the_bound_address_and_localhost_are_answered(client, host):
    assert client.get("/", headers={"Host": host}).status_code == 200


def test_configured_host_names(monkeypatch):
    monkeypatch.setenv("TRIAL_ALLOWED_HOSTS", "trials.example.org, .lab.example.org")
    c = create_app(DEFAULT_DATA).server.test_client()
    assert c.get("/", headers={"Host": "trials.example.org"}).status_code == 200
    assert c.get("/", headers={"Host": "presenter.lab.example.org:443"}).status_code == 200
    assert c.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert c.get("/", headers={"Host": "localhost"}).status_code == 200


def test_a_callback_from_a_rebound_name_is_refused(cb, client, study):
    body = {"output": "ov-design.figure", "outputs": {"id": "ov-design", "property": "figure"},
            "inputs": [{"id": "filter-state", "property": "data", "value": default_store(study)}],
            "changedPropIds": []}
    r = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                    headers={"Host": "attacker.example:8050"})
    assert r.status_code == 400


# -- 12. Basic auth ----------------------------------------------------------------------------------
@pytest.fixture()
def auth(monkeypatch, tmp_path):
    users = tmp_path / "users"
    users.write_text(f"ana:{generate_password_hash('s3cret')}\nben:{generate_password_hash('pa55')}\n")
    monkeypatch.setenv("TRIAL_AUTH_FILE", str(users))
    calls = []
    real = security.check_password_hash
    monkeypatch.setattr(security, "check_password_hash", lambda h, pw: calls.append(h) or real(h, pw))
    app = create_app(DEFAULT_DATA)
    return app, calls


def test_basic_auth_is_verified_once_per_session(auth):
    app, calls = auth
    c = app.server.test_client()
    r = c.get("/", headers=basic("ana", "s3cret"))
    assert r.status_code == 200 and len(calls) == 1
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    for path in ["/_dash-layout", "/_dash-dependencies", "/assets/app.css"] * 7:  # a page load: assets, layout
        assert c.get(path, headers=basic("ana", "s3cret")).status_code == 200
    assert len(calls) == 1, "the password was checked again on a request with a valid session"
    assert c.get("/_dash-layout").status_code == 200  # the cookie alone


def test_a_forged_session_cookie_is_refused(auth):
    app, _ = auth
    c = app.server.test_client()
    r = c.get("/", headers=basic("ana", "s3cret"))
    name, value = r.headers["Set-Cookie"].split(";")[0].split("=", 1)
    other = app.server.test_client()
    other.set_cookie(name, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert other.get("/_dash-layout").status_code == 401
    other.set_cookie(name, "eyJ1IjoiYW5hIn0.forged.sig")
    assert other.get("/_dash-layout").status_code == 401


def test_a_session_does_not_answer_for_another_user(auth):
    app, calls = auth
    c = app.server.test_client()
    assert c.get("/", headers=basic("ana", "s3cret")).status_code == 200
    assert c.get("/", headers=basic("ben", "wrong")).status_code == 401  # ana's cookie does not let ben in
    assert len(calls) == 2


def test_unknown_users_cost_a_password_check_like_known_ones(auth):
    app, calls = auth
    c = app.server.test_client()
    assert c.get("/", headers=basic("nobody", "x")).status_code == 401
    assert c.get("/", headers=basic("ana", "x")).status_code == 401
    assert len(calls) == 2  # one hash check each: no early answer for an unknown name
    method = lambda h: h.split("$", 1)[0]  # noqa: E731
    assert method(calls[0]) == method(calls[1])  # same algorithm and cost


def test_wrong_guesses_are_rate_limited_with_back_off(auth, monkeypatch):
    app, calls = auth
    now = [1000.0]
    monkeypatch.setattr(security, "_now", lambda: now[0])
    c = app.server.test_client()
    codes = [c.get("/_dash-layout", headers=basic("ana", f"guess{i}")).status_code for i in range(200)]
    assert codes.count(429) >= 180 and set(codes) <= {401, 429}
    assert len(calls) <= 12, f"{len(calls)} password checks for 200 guesses"
    r = c.get("/_dash-layout", headers=basic("ana", "s3cret"))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1  # the right password waits too
    other = app.server.test_client()
    assert other.get("/", headers=basic("ben", "pa55"),
                     environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 200  # another user and address
    now[0] += 3600  # the back-off runs out
    assert c.get("/_dash-layout", headers=basic("ana", "s3cret")).status_code == 200


def test_many_users_guessed_from_one_address_are_limited(auth, monkeypatch):
    app, calls = auth
    monkeypatch.setattr(security, "_now", lambda: 5000.0)
    c = app.server.test_client()
    codes = [c.get("/", headers=basic(f"user{i}", "x"), environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code
             for i in range(100)]
    assert codes.count(429) >= 60 and len(calls) <= 40


# -- 15. forged requests that gave 500 ------------------------------------------------------------------
def test_ae_download_with_unhashable_rowids_is_not_a_500(cb, study):
    store = default_store(study)
    for virtual in ([{"ROWID": []}], [{"ROWID": {"a": 1}}], [{"ROWID": [1, 2]}, {"ROWID": "x"}]):
        r = cb.post("ae-download", "data", {"ae-export.n_clicks": 1},
                    state={"filter-state.data": store, "ae-listing.virtualRowData": virtual,
                           "ae-quick.value": "", "ae-listing.filterModel": {}})
        assert r.status_code < 500 and "Traceback" not in r.get_data(as_text=True)


def test_outputs_naming_another_callbacks_output_is_400(dash_app, client, study):
    key = "page-content.children"  # a single-output callback (the router)
    spec = dash_app.callback_map[key]
    for outputs in ({"id": "ov-design", "property": "figure"}, {"id": "page-content", "property": "style"},
                    {"id": "page-content", "property": "children", "extra": [1]}):
        body = {"output": key, "outputs": outputs,
                "inputs": [{"id": i["id"], "property": i["property"], "value": "/"} for i in spec["inputs"]],
                "state": [{"id": i["id"], "property": i["property"], "value": ""} for i in spec["state"]],
                "changedPropIds": []}
        r = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
        assert r.status_code == 400 and "Traceback" not in r.get_data(as_text=True), outputs


def test_outputs_of_a_multi_output_callback_must_match(dash_app, client, study):
    key = next(k for k in dash_app.callback_map if k.startswith("..") and "traj-graph.figure" in k)
    spec = dash_app.callback_map[key]
    parts = key[2:-2].split("...")
    outputs = [dict(zip(("id", "property"), p.rsplit(".", 1))) for p in parts]
    outputs[0] = {"id": "ov-design", "property": "figure"}
    body = {"output": key, "outputs": outputs,
            "inputs": [{"id": i["id"], "property": i["property"], "value": None} for i in spec["inputs"]],
            "changedPropIds": []}
    r = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 400


@pytest.mark.parametrize("path", ["/_dash-component-suites/nope/x.js", "/_dash-component-suites/dash/nope.js",
                                  "/_dash-component-suites/dash_bootstrap_components/_components/nope.js",
                                  "/_dash-component-suites/plotly/package_data/x.v1m1.js",
                                  "/_dash-component-suites/dash/../../../etc/passwd"])
def test_unknown_component_suite_paths_are_404_without_a_traceback(client, path, caplog):
    with caplog.at_level(logging.INFO):
        r = client.get(path)
    assert r.status_code == 404
    assert not any(rec.exc_info for rec in caplog.records), "a traceback was logged"
    assert sum(len(rec.getMessage()) for rec in caplog.records) < 400


def test_this_machines_name_is_answered(client):
    import socket

    assert client.get("/", headers={"Host": f"{socket.gethostname()}:8050"}).status_code == 200


def test_sign_in_limits_behind_a_local_proxy_use_the_forwarded_address(auth, monkeypatch):
    app, calls = auth
    monkeypatch.setattr(security, "_now", lambda: 9000.0)
    c = app.server.test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for i in range(40):  # one client behind the proxy guesses
        c.get("/", headers={**basic(f"u{i}", "x"), "X-Forwarded-For": "203.0.113.9"}, environ_base=proxy)
    r = c.get("/", headers={**basic("ana", "s3cret"), "X-Forwarded-For": "198.51.100.7"}, environ_base=proxy)
    assert r.status_code == 200  # another client behind the same proxy signs in
