"""The audit trail (issue 20): every audited action writes exactly one hash-chained line with who, role, what,
the view, the dataset and the client; `python app.py audit` verifies the chain and reports each edit,
deletion and reordering; rotation keeps the chain; roles settings that cannot work stop the server."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

import app as app_module
import audit
import security
from blinded_fixture import basic, blinded_copy, deployment_env, signed_in
from conftest import ROOT as ROOT_DIR
from conftest import CallbackClient
from data import filters as F


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("audited")
    folder = blinded_copy(root / "lso088", sort_by_arm=False)
    env = deployment_env(root)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        app = app_module.create_app(folder)
    return app, Path(env["TRIAL_AUDIT_LOG"])


def records(log: Path) -> list[dict]:
    return [json.loads(x) for x in log.read_text().splitlines() if x.strip()]


class Trail:
    """The lines an action adds."""

    def __init__(self, log: Path):
        self.log, self.n = log, len(records(log))

    def new(self) -> list[dict]:
        got = records(self.log)[self.n:]
        self.n += len(got)
        return got


def one(trail: Trail, action: str) -> dict:
    got = trail.new()
    assert [r["action"] for r in got] == [action], got
    return got[0]


def test_every_audited_action_writes_exactly_one_line(site):
    app, log = site
    srv = app.server
    study = srv.config["STUDY"]
    store = F.default_state(study).to_store()
    t = Trail(log)

    # sign-ins: a success, then the session answers (no line); a failure
    c = srv.test_client()
    assert c.get("/", headers=basic("ana")).status_code == 200
    rec = one(t, "sign-in")
    assert (rec["user"], rec["role"], rec["client"], rec["blinded_view"]) == ("ana", "unblinded", "127.0.0.1", False)
    assert rec["fingerprint"] == study.fingerprint and rec["detail"] == {"method": "basic"}
    when = dt.datetime.fromisoformat(rec["time"].replace("Z", "+00:00"))
    assert when.utcoffset() == dt.timedelta(0) and abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) < 60
    for path in ("/_dash-layout", "/_dash-dependencies", "/assets/app.css"):
        assert c.get(path).status_code == 200
    assert t.new() == []
    assert srv.test_client().get("/", headers=basic("ana", "guess")).status_code == 401
    rec = one(t, "sign-in-failed")
    assert rec["user"] == "ana" and rec["role"] == ""

    c.environ_base.update(HTTP_ORIGIN="http://localhost", HTTP_REFERER="http://localhost/trajectories?param=C3")
    cb = CallbackClient(app, c)
    # a page view; the page's figures are no audited action
    cb.outputs("page-content", "children", {"url.pathname": "/trajectories"})
    rec = one(t, "page-view")
    assert rec["detail"] == {"page": "/trajectories"} and rec["view"] == "/trajectories?param=C3"
    cb.outputs("ov-design", "figure", {"filter-state.data": store})
    assert t.new() == []
    # the filter gains a patient: one line; the same filter again, or a patient removed: none
    # (the store is kept in the browser, which asks the server to acknowledge a patient added: shell.py)
    chosen = {**store, "patients": ["LSO-088-003"]}
    out = cb.outputs("filter-audit-ack", "data", {"filter-audit.data": {"before": store, "after": chosen}})
    rec = one(t, "patient-filter")
    assert rec["detail"]["patients"] == ["LSO-088-003"] == out["filter-audit-ack.data"]["patients"]
    cb.outputs("filter-audit-ack", "data", {"filter-audit.data": {"before": chosen, "after": chosen}})
    cb.outputs("filter-audit-ack", "data", {"filter-audit.data": {"before": store, "after": store}})
    cb.outputs("filter-audit-ack", "data", {"filter-audit.data": {"before": store,
                                                                  "after": {**store, "patients": ["nobody"]}}})
    assert t.new() == []
    # a patient's profile: one line when the patient changes, none when only the panels do
    prof = {"filter-state.data": store, "pt-patient.value": "LSO-088-007", "pt-params.value": ["IGG"],
            "pt-group.value": "none"}
    cb.outputs("pt-header", "children", prof, changed=["pt-patient.value"])
    assert one(t, "patient-profile")["detail"] == {"subject": "LSO-088-007"}
    cb.outputs("pt-header", "children", {**prof, "pt-params.value": ["C3"]}, changed=["pt-params.value"])
    cb.outputs("pt-header", "children", {**prof, "pt-patient.value": "nobody"}, changed=["pt-patient.value"])
    assert t.new() == []
    # Next: the callback chooses the patient, whose profile is the one recorded
    out = cb.outputs("pt-header", "children", {**prof, "pt-next.n_clicks": 1}, changed=["pt-next.n_clicks"])
    assert out["pt-patient.value"] != "LSO-088-007"
    assert one(t, "patient-profile")["detail"] == {"subject": out["pt-patient.value"]}
    # exports from the server: a CSV, a script, the patient's values; each one line naming the file
    traj = {"filter-state.data": store, "traj-mode.value": "single", "traj-param.value": "C3", "traj-params.value": [],
            "traj-scale.value": "raw", "traj-stat.value": "mean", "traj-opts.value": [],
            "traj-patmode.value": "highlight"}
    cb.outputs("traj-download", "data", {"traj-csv-btn.n_clicks": 1}, state=traj)
    assert one(t, "export")["detail"]["file"] == "LSO-088-trajectories-C3-raw.csv"
    cb.outputs("ov-code-download", "data", {"ov-code-dl-btn.n_clicks": 1}, state={"filter-state.data": store})
    assert one(t, "export")["detail"]["file"].endswith(".py")
    cb.outputs("pt-data-download", "data", {"pt-data-btn.n_clicks": 1},
               state={"filter-state.data": store, "pt-patient.value": "LSO-088-007", "pt-params.value": ["IGG"],
                      "pt-group.value": "none"})
    assert one(t, "export")["detail"]["file"] == "LSO-088-007-profile-values.csv"
    # an export refused (a forged click): no file, no line
    cb.post("traj-download", "data", {"traj-csv-btn.n_clicks": True}, state=traj)
    assert t.new() == []
    # the deck and the offline report
    tray = [{"id": "a1", "page": "trajectories", "part": "figure", "query": "?param=C3", "title": "C3", "custom": None}]
    cb.outputs("deck-download", "data", {"deck-download-btn.n_clicks": 1}, state={"deck-tray.data": tray})
    assert one(t, "deck-download")["detail"]["file"].endswith(".pptx")
    cb.outputs("deck-report-download", "data", {"deck-report-btn.n_clicks": 1}, state={"deck-tray.data": tray})
    assert one(t, "report-download")["detail"]["file"].endswith(".html")
    cb.outputs("deck-download", "data", {"deck-download-btn.n_clicks": 1}, state={"deck-tray.data": []})  # empty
    assert t.new() == []
    # a PNG drawn by the browser, reported by assets/audit.js
    r = c.post(security.AUDIT_EVENT_PATH, json={"format": "png", "graph": "traj-graph", "filename": "x", "size": "slide"})
    assert r.status_code == 204
    rec = one(t, "export")
    assert rec["detail"]["format"] == "png" and rec["detail"]["reported_by"] == "browser"
    assert c.post(security.AUDIT_EVENT_PATH, json={"format": "exe"}).status_code == 400
    assert t.new() == []

    # the blinded user's lines say so; an admin reads the summary (one line), nobody else can
    b = signed_in(srv, "bob", referer="/safety")
    assert one(t, "sign-in")["blinded_view"] is True
    CallbackClient(srv.config["BLINDED_APP"], b).outputs("page-content", "children", {"url.pathname": "/safety"})
    rec = one(t, "page-view")
    assert (rec["user"], rec["role"], rec["blinded_view"], rec["view"]) == ("bob", "blinded", True, "/safety")
    assert b.get(security.AUDIT_PATH).status_code == 404 and c.get(security.AUDIT_PATH).status_code == 404
    assert t.new() == []
    adm = signed_in(srv, "adm")
    assert one(t, "sign-in")["role"] == "admin,blinded"
    r = adm.get(security.AUDIT_PATH)
    assert r.status_code == 200 and r.get_data(as_text=True).startswith("OK ")
    assert "?param=C3" not in r.get_data(as_text=True)  # counts, never the views (they may name arms)
    one(t, "audit-read")

    # the whole trail verifies, and the summary counts by user and action
    code, lines = audit.report([log])
    text = "\n".join(lines)
    assert code == 0 and text.startswith("OK "), text
    assert any(line.split()[:2] == ["ana", str(sum(1 for r in records(log) if r["user"] == "ana"))]
               for line in (x.strip() for x in lines))
    assert "patient-profile" in text and "report-download" in text


def test_a_proxy_user_signs_in_once_per_session(tmp_path, monkeypatch):
    log = tmp_path / "audit.log"
    roles = tmp_path / "roles"
    roles.write_text("dr.who: unblinded\n")
    monkeypatch.setenv("TRIAL_AUTH_PROXY_HEADER", "X-Remote-User")
    monkeypatch.setenv("TRIAL_ROLES_FILE", str(roles))
    monkeypatch.setenv("TRIAL_AUDIT_LOG", str(log))
    app = app_module.create_app()
    c = app.server.test_client()
    for path in ("/", "/_dash-layout", "/_dash-dependencies"):
        assert c.get(path, headers={"X-Remote-User": "dr.who"}).status_code == 200
    got = records(log)
    assert [(r["action"], r["user"], r["role"]) for r in got] == [("sign-in", "dr.who", "unblinded")]
    assert got[0]["detail"] == {"method": "proxy header"}
    c.get("/", headers={"X-Remote-User": "nurse"})  # another user on the same browser: a new sign-in
    assert [r["user"] for r in records(log)] == ["dr.who", "nurse"]


# -- tampering ---------------------------------------------------------------------------------------------
def make_log(path: Path, n: int = 8) -> list[bytes]:
    trail = audit.AuditLog(path, "f" * 64)
    for i in range(n):
        trail.record("page-view", user=f"user{i % 3}", role="blinded", view=f"/?i={i}", client="10.0.0.1",
                     detail={"page": "/"})
    return path.read_bytes().splitlines(keepends=True)


def run_audit(*args, capsys=None) -> tuple[int, str]:
    """``python app.py audit …``: in this process (with ``capsys``), else as a command."""
    if capsys is not None:
        code = app_module.main(["audit", *map(str, args)])
        out = capsys.readouterr()
        return code, out.out + out.err
    r = subprocess.run([sys.executable, str(ROOT_DIR / "app.py"), "audit", *map(str, args)], capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def reseal(line: bytes, **change) -> bytes:
    rec = json.loads(line)
    rec.update(change)
    rec["hash"] = audit.digest(rec)
    return json.dumps(rec, separators=(",", ":")).encode() + b"\n"


def test_the_command_line_reports_each_tampering(tmp_path, capsys):
    log = tmp_path / "audit.log"
    lines = make_log(log)
    code, out = run_audit(log)
    assert code == 0 and out.startswith(f"OK {log}: 8 line(s), chain intact"), out
    assert "user0" in out and "page-view" in out and "head: seq 8" in out

    cases = {
        "edited": (lines[:3] + [lines[3].replace(b'"user0"', b'"user9"')] + lines[4:], "audit.log:4 (seq 4): EDITED"),
        "edited and sealed again": (lines[:3] + [reseal(lines[3], user="mallory")] + lines[4:],
                                    "audit.log:5 (seq 5): BROKEN LINK"),
        "deleted": (lines[:3] + lines[4:], "audit.log:4 (seq 5): DELETED — 1 line(s) missing before it (seq 4)"),
        "deleted two": (lines[:2] + lines[4:], "DELETED — 2 line(s) missing before it (seq 3–4)"),
        "reordered": (lines[:3] + [lines[4], lines[3]] + lines[5:], "OUT OF ORDER"),
        "first deleted": (lines[1:], "audit.log:1 (seq 2): DELETED — the log does not start at its first line"),
        "line written by hand": (lines[:5] + [b'{"user": "ana", "action": "export"}\n'] + lines[5:],
                                 "audit.log:6: not an audit record"),
    }
    for name, (content, expected) in cases.items():
        log.write_bytes(b"".join(content))
        code, out = run_audit(log, capsys=capsys) if name in ("edited", "reordered") else audit.report([log])
        text = out if isinstance(out, str) else "\n".join(out)
        assert code == 1 and text.startswith("TAMPERED") and expected in text, (name, text)

    # the last lines removed: the chain left is intact, but a head noted earlier is gone from it
    log.write_bytes(b"".join(lines))
    head = json.loads(lines[-1])["hash"]
    assert audit.report([log], expect=head)[0] == 0
    log.write_bytes(b"".join(lines[:-2]))
    code, out = run_audit(log, "--expect", head, capsys=capsys)
    assert code == 1 and "expected head" in out and "is not in the log" in out


def test_rotation_keeps_one_chain_across_files(tmp_path, capsys):
    log = tmp_path / "audit.log"
    trail = audit.AuditLog(log)
    for i in range(3):
        trail.record("page-view", user="ana", role="unblinded", view="/", client="1.2.3.4")
    code, out = run_audit(log, "--rotate", capsys=capsys)
    assert code == 0 and out.startswith("ROTATED"), out
    old = next(p for p in tmp_path.iterdir() if p.name.startswith("audit.log.2"))
    for i in range(2):  # the same writer continues, in the new file
        trail.record("export", user="ana", role="unblinded", view="/", client="1.2.3.4")
    assert [r["seq"] for r in records(log)] == [4, 5, 6] and records(log)[0]["action"] == "rotate"
    assert len(records(old)) == 3
    code, out = audit.report([old, log])
    assert code == 0, out
    code, out = audit.report([log])  # the new file alone: intact, and it says where it continues from
    assert code == 0 and any(old.name in line for line in out)
    assert audit.report([log, old])[0] == 1  # in the wrong order


def _append_many(path: str, who: str, n: int) -> None:
    trail = audit.AuditLog(path)
    for _ in range(n):
        trail.record("page-view", user=who, role="", view="/", client="")


def test_workers_appending_at_once_keep_one_chain(tmp_path):
    log = tmp_path / "audit.log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(log), f"w{i}", 40)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    code, out = audit.report([log])
    assert code == 0, out
    assert [r["seq"] for r in records(log)] == list(range(1, 161))


# -- settings that cannot work -------------------------------------------------------------------------------
@pytest.mark.parametrize("roles,auth,why", [
    ("ana: unblinded\nbob: superuser\n", True, "unknown role 'superuser'"),
    ("ana: unblinded, blinded\n", True, "cannot be both blinded and unblinded"),
    ("ana: unblinded\nana: admin\n", True, "listed twice"),
    ("ana: unblinded\n", False, "roles need TRIAL_AUTH_FILE or TRIAL_AUTH_PROXY_HEADER"),
])
def test_unusable_roles_stop_the_server_with_a_reason(tmp_path, monkeypatch, capsys, roles, auth, why):
    (tmp_path / "roles").write_text(roles)
    monkeypatch.setenv("TRIAL_ROLES_FILE", str(tmp_path / "roles"))
    if auth:
        monkeypatch.setenv("TRIAL_AUTH_PROXY_HEADER", "X-Remote-User")
    with pytest.raises(security.ConfigError, match=why):
        app_module.create_app()
    assert app_module.main(["--port", "1"]) == 2 and why in capsys.readouterr().err


def test_an_audit_log_that_cannot_be_written_stops_the_server(tmp_path, monkeypatch):
    (tmp_path / "dir").mkdir()
    monkeypatch.setenv("TRIAL_AUDIT_LOG", str(tmp_path / "dir"))  # a folder, not a file
    with pytest.raises(security.ConfigError, match="cannot be opened for appending"):
        app_module.create_app()
