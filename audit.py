"""The audit trail: one JSON line per audited action, hash-chained, appended only.

``TRIAL_AUDIT_LOG=path`` turns it on. Each line records who did what, when, on which data::

    {"seq": 17, "time": "2026-07-01T09:12:03.512Z", "user": "ana", "role": "unblinded", "action": "export",
     "view": "/trajectories?arm=BEL&param=IGG", "fingerprint": "4be0…", "client": "10.1.2.3",
     "blinded_view": false, "detail": {"file": "LSO-088-trajectories-IGG-raw.csv"}, "prev": "9f1c…", "hash": "07ad…"}

- ``time`` is UTC; ``view`` the page and query the browser was on (the view state: filters and controls);
  ``fingerprint`` the lock fingerprint of the dataset served; ``blinded_view`` whether the pooled (blinded)
  view answered; ``client`` the client address (behind a local proxy, the one it forwarded).
- Actions: ``sign-in``, ``sign-in-failed``, ``page-view``, ``patient-filter`` (the global filter gains a
  patient), ``patient-profile`` (a patient's profile shown), ``export`` (a CSV, script or patient values
  from the server; ``png``/``svg`` as reported by the browser, which draws them), ``deck-download``,
  ``report-download``, ``audit-read`` (an admin read the summary), ``rotate`` (first line of a new file).
- ``hash`` is the SHA-256 of the line's content (every field but ``hash``, canonical JSON) and ``prev``
  the ``hash`` of the line before (the first line of a log: 64 zeros), ``seq`` counts the lines: an edited
  line no longer matches its hash, a line edited and sealed again breaks the next line's ``prev``, a
  deleted line leaves a gap in ``seq``, moved lines put ``seq`` out of order. Deleting the *last* lines
  leaves a shorter but valid chain: the app writes the head (seq and hash) to its own log every
  ``ANCHOR_EVERY`` lines and at rotation, and ``python app.py audit LOG --expect HASH`` checks that a head
  noted earlier is still in the file.
- The app opens the file for appending only (``O_APPEND``: every write goes to the end) and holds an
  exclusive ``flock`` while it reads the last line and appends the next, so the workers of one server
  (and several servers on one file system with working locks) keep one chain.
- Rotation: ``python app.py audit LOG --rotate`` renames the file (``LOG.<UTC time>``) and starts a new one
  whose first line (``rotate``) carries the old head, so ``python app.py audit LOG.<time> LOG`` verifies
  across the files. A running app continues in the new file.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
ENV_AUDIT = "TRIAL_AUDIT_LOG"
GENESIS = "0" * 64
ANCHOR_EVERY = 100  # lines between heads written to the app's log
MAX_TEXT = 1000  # characters of any client-supplied text in a line
TAIL_BLOCK = 64 * 1024
ACTIONS = ("sign-in", "sign-in-failed", "page-view", "patient-filter", "patient-profile", "export", "deck-download",
           "report-download", "audit-read", "rotate")
FIELDS = ("seq", "time", "user", "role", "action", "view", "fingerprint", "client", "blinded_view", "detail",
          "prev", "hash")


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clip(value, n: int = MAX_TEXT):
    """Client-supplied values, bounded: strings cut, lists and dicts shortened, other types as text."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN
    if isinstance(value, str):
        return value[:n]
    if isinstance(value, (list, tuple)):
        return [clip(v, 200) for v in list(value)[:50]]
    if isinstance(value, dict):
        return {str(k)[:60]: clip(v, 200) for k, v in list(value.items())[:20]}
    return str(value)[:n]


def canonical(content: dict) -> bytes:
    body = {k: v for k, v in content.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def digest(content: dict) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def _line(record: dict) -> bytes:
    ordered = {k: record[k] for k in FIELDS if k in record}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode() + b"\n"


def _parse(raw: bytes) -> dict | None:
    try:
        rec = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("hash"), str) or not isinstance(rec.get("prev"), str) \
            or not isinstance(rec.get("seq"), int) or isinstance(rec.get("seq"), bool):
        return None
    return rec


def _tail(fd: int, size: int) -> tuple[str, int, bool]:
    """(hash to chain from, last seq, whether the file ends inside a line) of an open log."""
    if size == 0:
        return GENESIS, 0, False
    start = max(0, size - TAIL_BLOCK)
    block = os.pread(fd, size - start, start)
    partial = not block.endswith(b"\n")
    lines = [x for x in block.split(b"\n") if x]
    if start > 0 and lines and not block.startswith(b"\n"):
        lines = lines[1:] or lines  # the first piece may be the end of a longer line
    if not lines:
        return hashlib.sha256(block).hexdigest(), 0, partial
    last = lines[-1]
    rec = _parse(last)
    seq = next((r["seq"] for r in map(_parse, reversed(lines)) if r is not None), 0)
    return (rec["hash"] if rec is not None else hashlib.sha256(last).hexdigest()), seq, partial


class AuditLog:
    """Appends records to one log file (see the module docstring)."""

    def __init__(self, path: str | Path, fingerprint: str = ""):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)  # writable now, not at 1st action
        os.close(fd)

    @classmethod
    def from_env(cls, fingerprint: str = "") -> "AuditLog | None":
        path = os.environ.get(ENV_AUDIT, "").strip()
        return cls(path, fingerprint) if path else None

    def record(self, action: str, *, user: str | None, role: str = "", view=None, client: str = "",
               detail=None, blinded_view: bool = False) -> dict:
        return self.append({
            "time": now_utc(), "user": clip(user or "", 200), "role": role, "action": action,
            "view": clip(view) if view is not None else None, "fingerprint": self.fingerprint,
            "client": clip(client, 64), "blinded_view": bool(blinded_view), "detail": clip(detail),
        })

    def append(self, content: dict) -> dict:
        """Seal ``content`` (seq, prev, hash) onto the end of the log; returns the line as written."""
        with self._lock:
            for _ in range(20):
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    st = os.fstat(fd)
                    try:
                        now = os.stat(self.path)
                    except FileNotFoundError:
                        now = None
                    if now is None or (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev):
                        continue  # rotated while we waited for the lock: append to the new file
                    prev, seq, partial = _tail(fd, st.st_size)
                    rec = {**content, "seq": seq + 1, "prev": prev}
                    rec["hash"] = digest(rec)
                    _write_all(fd, (b"\n" if partial else b"") + _line(rec), st.st_size)
                    os.fsync(fd)
                finally:
                    os.close(fd)  # releases the lock
                if rec["seq"] % ANCHOR_EVERY == 0:
                    log.info("audit head: %s seq %d hash %s", self.path, rec["seq"], rec["hash"])
                return rec
        raise OSError(errno.EAGAIN, f"audit log {self.path} kept changing while appending")


def _write_all(fd: int, data: bytes, size: int) -> None:
    """Append ``data`` whole, or raise. A full disk cuts a write short without an error (``os.write`` returns
    fewer bytes): the part written is then taken back (``ftruncate`` to ``size``, the length under our lock),
    so no partial line stays in the chain and the action is not taken as recorded."""
    done = 0
    try:
        while done < len(data):
            n = os.write(fd, data[done:])
            if n <= 0:
                raise OSError(errno.ENOSPC, "no bytes written")
            done += n
    except OSError:
        if done:
            try:
                os.ftruncate(fd, size)
            except OSError:  # chattr +a forbids it: the next line starts on a line of its own
                pass
        raise


def rotate(path: str | Path) -> tuple[Path, dict]:
    """Rename the log to ``LOG.<UTC time>`` and start ``LOG`` with a ``rotate`` line carrying its head."""
    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        prev, seq, _ = _tail(fd, os.fstat(fd).st_size)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = path.with_name(f"{path.name}.{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.{stamp}-{n}")
        os.link(path, target)  # the old lines under their new name; the log's name is never missing
        rec = {"time": now_utc(), "user": "", "role": "", "action": "rotate", "view": None, "fingerprint": "",
               "client": "", "blinded_view": False, "detail": {"from": target.name, "head": prev, "lines": seq},
               "seq": seq + 1, "prev": prev}
        rec["hash"] = digest(rec)
        tmp = path.with_name(f".{path.name}.rotating")
        new = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(new, _line(rec))
            os.fsync(new)
        finally:
            os.close(new)
        os.rename(tmp, path)  # atomic: a writer waiting for the old file's lock then finds the new file
    finally:
        os.close(fd)
    log.info("audit log rotated to %s: head seq %d hash %s", target, seq, prev)
    return target, rec


# -- verifying -------------------------------------------------------------------------------------
@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    lines: int = 0
    head: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _spans(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> '3–5, 9'."""
    out, start = [], None
    for i, x in enumerate(numbers):
        if start is None:
            start = x
        if i + 1 == len(numbers) or numbers[i + 1] != x + 1:
            out.append(f"{start}" if start == x else f"{start}–{x}")
            start = None
    return ", ".join(out)


def verify(paths) -> Verdict:
    """Check the chain of one log, or of rotated logs given oldest first."""
    v = Verdict()
    entries = []  # (where, record or None, raw)
    for path in map(Path, paths):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            v.problems.append(f"{path}: cannot be read ({exc.strerror or exc})")
            continue
        for i, raw in enumerate(data.split(b"\n"), start=1):
            if raw.strip():
                entries.append((f"{path.name}:{i}", _parse(raw), raw))
        if data and not data.endswith(b"\n"):
            v.notes.append(f"{path.name}: the last line has no line end (a write was cut short)")
    v.lines = len(entries)
    seqs = {rec["seq"] for _, rec, _ in entries if rec is not None}
    prev_hash, prev_seq = None, None
    for n, (where, rec, raw) in enumerate(entries):
        if rec is None:
            v.problems.append(f"{where}: not an audit record (damaged, or written by hand)")
            prev_hash = hashlib.sha256(raw).hexdigest()
            continue
        seq = rec["seq"]
        if digest(rec) != rec["hash"]:
            v.problems.append(f"{where} (seq {seq}): EDITED — its content does not match its hash")
        elif raw.rstrip(b"\r") != _line(rec)[:-1]:
            # the app writes one canonical form: other bytes with the same hash are a key given twice (readers
            # disagree on what the line says) or a line re-written by hand
            v.problems.append(f"{where} (seq {seq}): EDITED — not the bytes the app wrote (a key given twice, or "
                              f"the line re-written)")
        step_ok = True
        if prev_seq is None:
            if rec.get("action") == "rotate" and rec["prev"] != GENESIS:
                if n == 0:
                    v.notes.append(f"{where}: continues the rotated log {rec.get('detail', {}).get('from', '?')} "
                                   f"(give it first to check the link)")
            elif seq != 1 or rec["prev"] != GENESIS:
                v.problems.append(f"{where} (seq {seq}): DELETED — the log does not start at its first line "
                                  f"({seq - 1} line(s) missing before it)" if seq > 1 else
                                  f"{where} (seq {seq}): does not start the chain (prev is not the first line's)")
                step_ok = False
        elif seq == prev_seq + 1:
            pass
        elif seq <= prev_seq:
            v.problems.append(f"{where} (seq {seq}): OUT OF ORDER — it follows seq {prev_seq}: lines were moved")
            step_ok = False
        else:
            between = range(prev_seq + 1, seq)
            missing = [x for x in between if x not in seqs]
            if missing:
                v.problems.append(f"{where} (seq {seq}): DELETED — {len(missing)} line(s) missing before it "
                                  f"(seq {_spans(missing)})")
            if len(missing) < len(between):
                v.problems.append(f"{where} (seq {seq}): OUT OF ORDER — it follows seq {prev_seq}: lines were moved")
            step_ok = False
        if step_ok and prev_hash is not None and rec["prev"] != prev_hash:
            v.problems.append(f"{where} (seq {seq}): BROKEN LINK — it does not follow the line before (that line "
                              f"was changed and sealed again, or replaced)")
        prev_hash, prev_seq = rec["hash"], seq
        v.records.append(rec)
    if v.records:
        v.head = (v.records[-1]["seq"], v.records[-1]["hash"])
    return v


def summary(v: Verdict) -> list[str]:
    """Counts by user and by action, and by user and action."""
    by_user: dict[str, dict[str, int]] = {}
    by_action: dict[str, int] = {}
    for r in v.records:
        user = str(r.get("user") or "(anonymous)")
        action = str(r.get("action"))
        by_user.setdefault(user, {})
        by_user[user][action] = by_user[user].get(action, 0) + 1
        by_action[action] = by_action.get(action, 0) + 1
    out = ["by action:"]
    width = max([len(a) for a in by_action] + [6])
    out += [f"  {a:<{width}}  {n}" for a, n in sorted(by_action.items(), key=lambda kv: (-kv[1], kv[0]))]
    out.append("by user:")
    uw = max([len(u) for u in by_user] + [4])
    for user, acts in sorted(by_user.items()):
        roles = sorted({str(r.get("role") or "-") for r in v.records if str(r.get("user") or "(anonymous)") == user})
        detail = ", ".join(f"{a} {n}" for a, n in sorted(acts.items(), key=lambda kv: (-kv[1], kv[0])))
        out.append(f"  {user:<{uw}}  {sum(acts.values()):>5}  (role {'/'.join(roles)}: {detail})")
    return out


def report(paths, expect: str | None = None) -> tuple[int, list[str]]:
    """``python app.py audit LOG [LOG ...] [--expect HASH]``: (exit status, lines). 0 = the chain is intact."""
    v = verify(paths)
    names = ", ".join(str(p) for p in paths)
    lines = []
    if expect:
        want = expect.strip().lower()
        if not any(r["hash"] == want for r in v.records):
            v.problems.append(f"expected head {want[:16]}… is not in the log: lines were removed from its end, "
                              f"or the log was rewritten")
    if v.records:
        first, last = v.records[0], v.records[-1]
        span = f"{first.get('time')} – {last.get('time')}"
    else:
        span = "no records"
    if v.ok:
        lines.append(f"OK {names}: {v.lines} line(s), chain intact ({span})")
    else:
        lines.append(f"TAMPERED {names}: {len(v.problems)} problem(s) in {v.lines} line(s)")
        lines += [f"  {p}" for p in v.problems]
    lines += [f"  note: {n}" for n in v.notes]
    if v.head:
        lines.append(f"head: seq {v.head[0]} hash {v.head[1]} (keep it elsewhere: a later check with --expect "
                     f"shows that no line was removed from the end)")
    lines += summary(v)
    return (0 if v.ok else 1), lines


# -- what a callback request did ----------------------------------------------------------------------
def _outputs(body: dict) -> list[tuple[str, str]]:
    key = body.get("output") if isinstance(body, dict) else None
    if not isinstance(key, str):
        return []
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    out = []
    for p in parts:
        if "." in p:
            cid, prop = p.rsplit(".", 1)
            out.append((cid, prop.split("@", 1)[0]))
    return out


def _value(body: dict, cid: str, prop: str):
    for item in (body.get("inputs") or []) + (body.get("state") or []):
        if isinstance(item, dict) and item.get("id") == cid and item.get("property") == prop:
            return item.get("value")
    return None


# Callbacks the audit reads (the app's component ids): the router, the global filter, the patient profile,
# and the deck's downloads; every other dcc.Download is an "export".
ROUTER = ("page-content", "children")
FILTER_STORE = ("filter-state", "data")
# The filter store is kept in the browser (components/shell.py): when it gains a patient the browser asks
# the server to acknowledge it (input: the store before and after; answer: the validated filter).
FILTER_AUDIT = ("filter-audit", "data")
FILTER_ACK = ("filter-audit-ack", "data")
PROFILE = ("pt-header", "children")
PROFILE_SUBJECT = ("pt-patient", "value")
DOWNLOAD_ACTIONS = {"deck-download": "deck-download", "deck-report-download": "report-download"}
DECK_TRAY = ("deck-tray", "data")


def _tray_views(tray) -> list[str]:
    """The views of a deck's tray, 'page part ?query' each (the request's own state: what was built from)."""
    if not isinstance(tray, list):
        return []
    return [" ".join(str(it.get(k) or "")[:200] for k in ("page", "part", "query")).strip()
            for it in tray[:50] if isinstance(it, dict)]


def wants_response(body, downloads: set[str]) -> bool:
    """Whether the response of this callback request may have to be read (cheap; most need not)."""
    outs = _outputs(body)
    return any(o in (ROUTER, FILTER_STORE, FILTER_ACK, PROFILE) or (o[1] == "data" and o[0] in downloads)
               for o in outs)



def _patients_added(new, old) -> list[tuple[str, dict]]:
    """[("patient-filter", detail)] when the filter ``new`` names a patient that ``old`` did not, else []."""
    new_p = new.get("patients") if isinstance(new, dict) else None
    old_p = old.get("patients") if isinstance(old, dict) else None
    new_p = [p for p in new_p if isinstance(p, str)] if isinstance(new_p, list) else []
    old_p = {p for p in old_p if isinstance(p, str)} if isinstance(old_p, list) else set()
    return [("patient-filter", {"patients": new_p, "filter": new})] if new_p and not set(new_p) <= old_p else []


def callback_actions(body: dict, response: dict, downloads: set[str], subjects) -> list[tuple[str, dict]]:
    """(action, detail) for each audited thing a callback answered (``response``: Dash's JSON ``response``)."""
    outs = _outputs(body)
    got = response if isinstance(response, dict) else {}
    acts = []
    if ROUTER in outs and ROUTER[0] in got:
        page = _value(body, "url", "pathname")
        acts.append(("page-view", {"page": page if isinstance(page, str) else "/"}))
    if FILTER_STORE in outs and isinstance(got.get(FILTER_STORE[0]), dict):
        new = got[FILTER_STORE[0]].get(FILTER_STORE[1])
        acts += _patients_added(new, _value(body, *FILTER_STORE))
    if FILTER_ACK in outs and isinstance(got.get(FILTER_ACK[0]), dict):
        new = got[FILTER_ACK[0]].get(FILTER_ACK[1])
        sent = _value(body, *FILTER_AUDIT)
        acts += _patients_added(new, sent.get("before") if isinstance(sent, dict) else None)
    if PROFILE in outs and PROFILE[0] in got:
        changed = body.get("changedPropIds") or []
        moved = got.get(PROFILE_SUBJECT[0], {}).get(PROFILE_SUBJECT[1]) if isinstance(got.get(PROFILE_SUBJECT[0]),
                                                                                       dict) else None
        subject = _value(body, *PROFILE_SUBJECT)
        if isinstance(moved, str) and moved in subjects:  # the callback chose the patient (Previous/Next)
            acts.append(("patient-profile", {"subject": moved}))
        elif isinstance(subject, str) and subject in subjects and (".".join(PROFILE_SUBJECT) in changed
                                                                   or not changed):
            acts.append(("patient-profile", {"subject": subject}))
    for cid, prop in outs:
        if prop == "data" and cid in downloads and isinstance(got.get(cid), dict):
            payload = got[cid].get("data")
            if isinstance(payload, dict):
                detail = {"file": payload.get("filename"), "output": cid}
                if cid in DOWNLOAD_ACTIONS:  # what a deck or report holds: its file name does not say
                    detail["views"] = _tray_views(_value(body, *DECK_TRAY))
                acts.append((DOWNLOAD_ACTIONS.get(cid, "export"), detail))
    return acts
