"""The audit trail under attack and under failure (review of issue 20).

- A full disk cuts a write short: ``os.write`` then returns fewer bytes than asked, without an error. The line
  must not count as written, and no partial line may stay in the log (it would make the chain read as tampered).
- No line, no action: when the trail cannot be written, a sign-in, a download, a page view or a patient's
  profile is refused (503), never done unrecorded.
"""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path

import pytest

import app as app_module
import audit
from blinded_fixture import basic, blinded_copy, deployment_env, signed_in
from conftest import CallbackClient
from data import filters as F


def test_a_write_cut_short_by_a_full_disk_is_an_error_and_leaves_no_partial_line(tmp_path, monkeypatch):
    log = tmp_path / "audit.log"
    trail = audit.AuditLog(log, "fp")
    trail.record("sign-in", user="ana", role="unblinded")
    real_write = audit.os.write

    def full_disk(fd, data):  # what a file system does when only part of the bytes fit
        if len(data) < 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(audit.os, "write", full_disk)
    with pytest.raises(OSError):
        trail.record("export", user="bob", role="blinded", detail={"file": "x.csv"})
    monkeypatch.setattr(audit.os, "write", real_write)
    assert log.read_bytes().endswith(b"\n")  # the cut line was taken back
    trail.record("export", user="bob", role="blinded", detail={"file": "x.csv"})
    code, lines = audit.report([log])
    assert code == 0, lines
    assert [json.loads(x)["seq"] for x in log.read_text().splitlines()] == [1, 2]


# -- no line, no action -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit-full")
    folder = blinded_copy(root / "lso088", sort_by_arm=False)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in deployment_env(root).items():
            mp.setenv(k, v)
        app = app_module.create_app(folder)
    return app


@pytest.fixture()
def disk_full(site, monkeypatch, caplog):
    gate = site.server.config["GATE"]
    before = gate.audit.path.read_bytes()

    def refuse(content):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gate.audit, "append", refuse)
    caplog.set_level(logging.ERROR)
    yield gate
    assert gate.audit.path.read_bytes() == before


def refused(r) -> bool:
    return r.status_code == 503 and "audit trail" in r.get_data(as_text=True)


def test_a_sign_in_that_cannot_be_recorded_is_refused(site, disk_full, caplog):
    r = site.server.test_client().get("/", headers=basic("ana"))
    assert refused(r) and "trial_session" not in r.headers.get("Set-Cookie", "")
    assert "AUDIT TRAIL NOT WRITTEN" in caplog.text


def test_downloads_page_views_and_profiles_that_cannot_be_recorded_are_refused(site, monkeypatch):
    srv = site.server
    ana = signed_in(srv, "ana")  # signed in while the trail could be written
    bob = signed_in(srv, "bob")
    gate = srv.config["GATE"]
    monkeypatch.setattr(gate.audit, "append", lambda content: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    study = srv.config["STUDY"]
    store = F.default_state(study).to_store()
    full = CallbackClient(site, ana)
    blind = CallbackClient(srv.config["BLINDED_APP"], bob)
    for cb in (full, blind):
        r = cb.post("ov-data-download", "data", {"ov-data-btn.n_clicks": 1}, {"filter-state.data": store})
        assert refused(r) and "content" not in r.get_data(as_text=True)
        assert refused(cb.post("page-content", "children", {"url.pathname": "/safety"}))
        prof = {"filter-state.data": store, "pt-patient.value": "LSO-088-007", "pt-params.value": ["IGG"],
                "pt-group.value": "none"}
        assert refused(cb.post("pt-header", "children", prof, changed=["pt-patient.value"]))
        # what the trail does not record is still served
        assert cb.post("ov-design", "figure", {"filter-state.data": store}).status_code == 200
    assert refused(ana.post("/_audit/event", json={"format": "png", "graph": "g", "filename": "f"}))


def test_a_line_that_says_two_things_is_reported(tmp_path):
    """A key given twice: the chain's check reads the last ("ana"), a person or a tool reading the line may
    read the first ("mallory"). The bytes are not the ones the app wrote: reported as edited."""
    log = tmp_path / "audit.log"
    trail = audit.AuditLog(log, "fp")
    for user in ("ana", "ana", "bob"):
        trail.record("export", user=user, role="unblinded", detail={"file": "x.csv"})
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace('{"seq":2,', '{"user":"mallory","seq":2,', 1)
    log.write_text("\n".join(lines) + "\n")
    code, out = audit.report([log])
    assert code == 1 and any("audit.log:2 (seq 2): EDITED" in line for line in out), out


def test_a_deck_or_report_line_names_the_views_it_holds(site):
    """'Who exported what': a deck's file name says nothing of what is in it; its line lists the views (page,
    part and query of each slide), so a patient's profile taken away in a deck is in the trail."""
    srv = site.server
    cb = CallbackClient(site, signed_in(srv, "ana", referer="/safety"))
    log = srv.config["GATE"].audit.path
    tray = [{"id": "a1", "page": "patient", "part": "figure", "query": "?subject=LSO-088-003", "title": "x",
             "custom": None},
            {"id": "a2", "page": "trajectories", "part": "figure", "query": "?param=C3", "title": "C3", "custom": None}]
    for output, btn, action in (("deck-download", "deck-download-btn", "deck-download"),
                                ("deck-report-download", "deck-report-btn", "report-download")):
        n = len(log.read_text().splitlines())
        cb.outputs(output, "data", {f"{btn}.n_clicks": 1}, state={"deck-tray.data": tray})
        got = [json.loads(x) for x in log.read_text().splitlines()[n:]]
        assert [r["action"] for r in got] == [action]
        assert got[0]["detail"]["views"] == ["patient figure ?subject=LSO-088-003", "trajectories figure ?param=C3"]


def test_a_proxy_sign_in_that_cannot_be_recorded_is_refused(tmp_path, monkeypatch):
    import security
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    monkeypatch.setenv("TRIAL_AUTH_PROXY_HEADER", "X-Remote-User")
    for k in ("TRIAL_AUTH_FILE", "TRIAL_ROLES_FILE"):
        monkeypatch.delenv(k, raising=False)
    trail = audit.AuditLog(tmp_path / "audit.log", "fp")
    gate = security.Gate(trail, blinded_study=True)
    req = Request(EnvironBuilder(path="/", headers={"X-Remote-User": "dr.who", "Host": "localhost"}).get_environ())
    assert isinstance(gate.check(req), security.Identity)  # a sign-in, recorded
    monkeypatch.setattr(trail, "append", lambda content: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    assert refused(gate.check(req))  # the next browser session of the proxy user: no line, no sign-in
