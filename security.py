"""HTTP hardening of the Flask server behind the Dash app.

- Security headers on every response: a Content-Security-Policy that allows only
  the app's own origin (Dash's inline scripts admitted by their hashes),
  Cross-Origin-Opener-Policy / Cross-Origin-Resource-Policy ``same-origin``,
  X-Content-Type-Options, frame-ancestors / X-Frame-Options and Referrer-Policy.
- Host names: a request whose Host header is not one this deployment answers to is a
  400, so a page that rebinds its own DNS name to this server (DNS rebinding) cannot
  read it from a victim's browser. Answered: ``localhost``, this machine's host name, IP
  addresses (the bound address; a rebinding page always uses a DNS name) and ``TRIAL_ALLOWED_HOSTS``
  (comma-separated names; ``.example.org`` for every sub-domain; ``*`` for any).
- The callback endpoint checks the *shape* of each request against the callbacks
  the app registered before Dash sees it: unknown outputs, ``outputs`` that are not
  the callback's own, wrong input counts, junk JSON get a 400, not a 500 from deep
  inside Dash. Unknown files under ``/_dash-component-suites/`` are a plain 404.
- Text from the data is text: plotly draws ``<a href=…>`` in any figure string as a link,
  so a PARAM or AE term carrying one became a clickable anchor to another site. Every
  figure in a callback or layout response has its anchor tags escaped (the app's own
  figure markup uses none), so they show as the characters they are.
- Optional authentication, off unless configured:
    TRIAL_AUTH_FILE=path   lines "user:<werkzeug password hash>" (HTTP Basic)
    TRIAL_AUTH_PROXY_HEADER=X-Remote-User   trust a reverse proxy that sets it
  When on, every route requires it, and cross-origin POSTs are refused (Dash
  itself does not check CSRF). Basic credentials are verified once per session: a
  signed, HttpOnly, SameSite=Strict cookie (``TRIAL_SESSION_HOURS``, default 12)
  answers for the user afterwards, so the ~150 ms password hash is not paid on every
  asset and callback. An unknown user name costs the same hash check as a known one.
  Failed guesses are limited per user name and per client address (behind a proxy on this
  machine: the address it appends to X-Forwarded-For), with a back-off that doubles
  (429 + Retry-After) up to 5 minutes.
- Roles (``TRIAL_ROLES_FILE``: "user: role[, role]"; unblinded, blinded, admin) and a study
  locked as blinded: ``dispatch`` hands every request whose user lacks the unblinded role to
  the app built on the pooled study (data.blinding), so the arm-level frames never answer it.
  ``Gate`` checks host, authentication and roles once per request, before that choice.
- The audit trail (audit.py, ``TRIAL_AUDIT_LOG``): sign-ins here; page views, patients
  revealed and downloads read from each callback's request and answer; ``/_audit`` (an admin's
  summary) and ``/_audit/event`` (exports drawn in the browser, reported by assets/audit.js).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Response, g, request
from werkzeug.wrappers import Request as WerkzeugRequest
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.security import check_password_hash, generate_password_hash

import audit

log = logging.getLogger(__name__)
CALLBACK_PATH = "/_dash-update-component"
SUITES_PREFIX = "/_dash-component-suites/"
MAX_BODY = 2 * 1024 * 1024  # the largest legitimate callback request is a few KB
ENV_ALLOWED_HOSTS = "TRIAL_ALLOWED_HOSTS"
SESSION_COOKIE = "trial_session"
AUDIT_PATH = "/_audit"  # an admin's summary of the audit trail
AUDIT_EVENT_PATH = "/_audit/event"  # exports drawn in the browser, reported by assets/audit.js
# Failed Basic-auth guesses before the back-off starts, per user name and per client address
# (an office behind one NAT address shares the second).
FREE_FAILURES_USER = 5
FREE_FAILURES_ADDR = 20
BACKOFF_CAP = 300.0  # seconds


def _now() -> float:
    return time.monotonic()


def _csp(app) -> str:
    scripts = " ".join(["'self'"] + list(app.csp_hashes()))  # already quoted by Dash
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",  # plotly and React set inline styles
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


# -- callback request shape -------------------------------------------------------------------------
def _expected_outputs(output: str) -> list[tuple[str, str]]:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [tuple(p.rsplit(".", 1)) if "." in p else (p, "") for p in parts]


def _output_matches(got, want: tuple[str, str]) -> bool:
    if not isinstance(got, dict) or set(got) - {"id", "property"}:
        return False
    cid, prop = want
    if got.get("property") not in (prop, prop.split("@", 1)[0]):  # allow_duplicate outputs: "prop@hash" in the key
        return False
    if cid.startswith("{"):  # a pattern-matching id: Dash matches the wildcards itself
        return isinstance(got.get("id"), dict)
    return got.get("id") == cid


def _callback_shape_error(app, body) -> str | None:
    """Why a callback request cannot be for one of this app's callbacks, or None."""
    if not isinstance(body, dict):
        return "request body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in app.callback_map:
        return "unknown callback output"
    spec = app.callback_map[output]
    if "callback" not in spec:  # clientside: runs in the browser, never posted by one
        return "browser-side callback"
    inputs, state = body.get("inputs"), body.get("state", [])
    if not isinstance(inputs, list) or not isinstance(state, list):
        return "inputs/state must be lists"
    if len(inputs) != len(spec["inputs"]) or len(state) != len(spec.get("state", [])):
        return "wrong number of inputs or state"
    for got, want in zip(inputs + state, spec["inputs"] + spec.get("state", [])):
        # plain id: must match exactly (a pattern-matching id is registered as its JSON text, "{...}")
        if isinstance(want.get("id"), str) and not want["id"].startswith("{"):
            if not isinstance(got, dict) or got.get("id") != want["id"] or got.get("property") != want["property"]:
                return "inputs do not match the callback"
        elif not isinstance(got, (dict, list)):
            return "inputs do not match the callback"
    outputs = body.get("outputs")
    expected = _expected_outputs(output)
    if output.startswith(".."):
        if not isinstance(outputs, list) or len(outputs) != len(expected) or \
                not all(_output_matches(o, w) for o, w in zip(outputs, expected)):
            return "outputs do not match the callback"
    elif not _output_matches(outputs, expected[0]):
        return "outputs do not match the callback"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds must be a list of strings"
    return None


# -- data text in figures is text ------------------------------------------------------------------
# An anchor tag, as plotly's pseudo-HTML reads it, raw or as JSON escapes it (\u003c).
_ANCHOR_BYTES = re.compile(rb"(?:<|\\u003[cC])\s*/?\s*[aA](?:[\s>/]|\\u003[eE])")
_ANCHOR = re.compile(r"<(\s*/?\s*a)(?=[\s>/])", re.IGNORECASE)


def _defuse(node, in_figure: bool = False):
    """``node`` with every anchor tag in strings under a ``figure`` property escaped (&lt;a …)."""
    if isinstance(node, dict):
        return {k: _defuse(v, in_figure or k == "figure") for k, v in node.items()}
    if isinstance(node, list):
        return [_defuse(v, in_figure) for v in node]
    if in_figure and isinstance(node, str) and "<" in node:
        return _ANCHOR.sub(r"&lt;\1", node)
    return node


def defuse_links(body: bytes) -> bytes | None:
    """The JSON response with anchor tags in figures escaped, or None when it holds none (the usual case)."""
    if not _ANCHOR_BYTES.search(body):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return json.dumps(_defuse(doc), separators=(",", ":")).encode()


# -- host names ---------------------------------------------------------------------------------------
def _allowed_hosts() -> tuple[set[str], tuple[str, ...], bool]:
    """(exact names, sub-domain suffixes, any)."""
    raw = [h.strip().lower() for h in os.environ.get(ENV_ALLOWED_HOSTS, "").split(",") if h.strip()]
    # This machine's own name is safe too: a rebinding page can only use a DNS name it controls.
    exact = {h for h in raw if not h.startswith(".")} | {"localhost", socket.gethostname().lower()}
    suffixes = tuple(h for h in raw if h.startswith("."))
    return exact, suffixes, "*" in raw


def _host_name(host: str) -> str | None:
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def _host_allowed(host: str, exact, suffixes, any_host) -> bool:
    if any_host:
        return True
    name = _host_name(host)
    if not name:
        return False
    if name in exact or any(name.endswith(s) or name == s[1:] for s in suffixes):
        return True
    try:  # an address literal: the bound address, never a rebound DNS name
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


# -- authentication ---------------------------------------------------------------------------------
def _load_users(path: str) -> dict[str, str]:
    users = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#") and ":" in line:
                user, pw_hash = line.split(":", 1)
                users[user] = pw_hash
    return users


def _dummy_hash(users: dict[str, str]) -> str:
    """A hash of the users' own algorithm and cost, checked for unknown names (same time as a known one)."""
    method = next(iter(users.values())).split("$", 1)[0] if users else "scrypt"
    try:
        return generate_password_hash(os.urandom(16).hex(), method=method)
    except (ValueError, TypeError):
        return generate_password_hash(os.urandom(16).hex())


class Backoff:
    """Failed attempts per key; after ``free`` failures each further one doubles a wait (capped)."""

    def __init__(self, free: int, cap: float = BACKOFF_CAP, forget: float = 3600.0, size: int = 10_000):
        self.free, self.cap, self.forget, self.size = free, cap, forget, size
        self._state: OrderedDict[str, list[float]] = OrderedDict()  # key -> [failures, blocked until, last]
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        with self._lock:
            st = self._state.get(key)
            if st is None:
                return 0.0
            now = _now()
            if now - st[2] > self.forget:
                del self._state[key]
                return 0.0
            return max(0.0, st[1] - now)

    def failure(self, key: str) -> None:
        with self._lock:
            now = _now()
            st = self._state.pop(key, None) or [0, 0.0, now]
            st[0] += 1
            st[2] = now
            if st[0] > self.free:
                st[1] = now + min(self.cap, 2.0 ** (st[0] - self.free - 1))
            self._state[key] = st
            while len(self._state) > self.size:  # bounded memory, whatever is guessed
                self._state.popitem(last=False)

    def success(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)


def _secret(env: str) -> bytes:
    val = os.environ.get(env, "")
    return val.encode() if len(val) >= 16 else os.urandom(32)


# -- roles ------------------------------------------------------------------------------------------
ENV_ROLES = "TRIAL_ROLES_FILE"
ROLES = ("unblinded", "blinded", "admin")
GATE_KEY = "trial.gate"  # WSGI environ: the gate's answer for this request (an Identity or a refusal)


class ConfigError(Exception):
    """The deployment's security settings cannot be used. ``lines``: one problem each."""

    def __init__(self, lines: list[str]):
        self.lines, self.folder = list(lines), ""
        super().__init__("; ".join(self.lines))


def load_roles(path: str) -> dict[str, frozenset]:
    """``user: role[, role]`` per line (``#`` comments). Roles: unblinded, blinded, admin."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(1 << 20)
    except OSError as exc:
        raise ConfigError([f"{ENV_ROLES}={path}: cannot be read ({exc.strerror or exc})"]) from None
    roles: dict[str, frozenset] = {}
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" not in line:
            problems.append(f"{ENV_ROLES} line {n}: expected 'user: role[, role]'")
            continue
        user, _, names = line.rpartition(":")
        user = user.strip()
        got = {r.strip().lower() for r in names.split(",") if r.strip()}
        bad = sorted(got - set(ROLES))
        if not user or not got:
            problems.append(f"{ENV_ROLES} line {n}: expected 'user: role[, role]'")
        elif bad:
            problems.append(f"{ENV_ROLES} line {n}: unknown role {', '.join(map(repr, bad))} for {user!r} "
                            f"(roles: {', '.join(ROLES)})")
        elif {"blinded", "unblinded"} <= got:
            problems.append(f"{ENV_ROLES} line {n}: {user!r} cannot be both blinded and unblinded")
        elif user in roles:
            problems.append(f"{ENV_ROLES} line {n}: {user!r} is listed twice")
        else:
            roles[user] = frozenset(got)
    if problems:
        raise ConfigError(problems)
    return roles


@dataclass(frozen=True)
class Identity:
    """Who a request comes from: the user (None when authentication is off) and their roles."""

    user: str | None
    roles: frozenset = frozenset()
    new_session: str | None = None  # a session cookie to set on the response (a sign-in just now)

    @property
    def role(self) -> str:
        return ",".join(sorted(self.roles))


class Gate:
    """Host names, authentication and roles of one deployment, shared by the full and the blinded app.

    ``check(req)`` answers every request once, with an ``Identity`` or the refusal to send (400 unknown
    host, 401, 403 cross-origin POST, 429 back-off); with a blinded study the WSGI dispatcher asks it
    before choosing the app, and the chosen app reads its answer from the request's environ.
    """

    def __init__(self, audit=None, blinded_study: bool = False):
        self.exact, self.suffixes, self.any_host = _allowed_hosts()
        auth_file = os.environ.get("TRIAL_AUTH_FILE")
        self.proxy_header = os.environ.get("TRIAL_AUTH_PROXY_HEADER")
        self.users = _load_users(auth_file) if auth_file else None
        self.auth_on = bool(self.users is not None or self.proxy_header)
        roles_file = os.environ.get(ENV_ROLES, "").strip()
        self.roles = load_roles(roles_file) if roles_file else {}
        if roles_file and not self.auth_on:
            raise ConfigError([f"{ENV_ROLES} is set but authentication is off: roles need TRIAL_AUTH_FILE or "
                               f"TRIAL_AUTH_PROXY_HEADER (without them nobody has a role)"])
        if self.users is not None:
            unknown = sorted(u for u in self.roles if u not in self.users)
            if unknown and not self.proxy_header:
                log.warning("%s names users not in TRIAL_AUTH_FILE: %s", ENV_ROLES, ", ".join(unknown[:10]))
        self.blinded_study = blinded_study
        self.audit = audit
        self.dummy = _dummy_hash(self.users) if self.users is not None else ""
        # Without TRIAL_SESSION_SECRET: a random key per server (gunicorn --preload: the workers share it).
        self.signer = URLSafeTimedSerializer(_secret("TRIAL_SESSION_SECRET"), salt="trial-session")
        try:
            self.session_hours = float(os.environ.get("TRIAL_SESSION_HOURS", "12"))
        except ValueError:
            self.session_hours = 12.0
        self.per_user, self.per_addr = Backoff(FREE_FAILURES_USER), Backoff(FREE_FAILURES_ADDR)
        self.warned_hosts: set[str] = set()

    # -- who sees what -------------------------------------------------------------------------
    def identity_of(self, user: str | None, new_session: str | None = None) -> Identity:
        return Identity(user, self.roles.get(user, frozenset()) if user else frozenset(), new_session)

    def sees_arms(self, ident) -> bool:
        """Whether this request is served the study with its arms: always for a study not declared blinded;
        for a blinded study only a user with the unblinded role (no role, no sign-in: the pooled view)."""
        if not self.blinded_study:
            return True
        return isinstance(ident, Identity) and "unblinded" in ident.roles

    # -- sessions --------------------------------------------------------------------------------
    def _pw_tag(self, user: str) -> str:  # changes when the user's password hash changes
        return hashlib.sha256((self.users or {}).get(user, "").encode()).hexdigest()[:16]

    def _session(self, req) -> dict | None:
        raw = req.cookies.get(SESSION_COOKIE)
        if not raw or len(raw) > 4096:
            return None
        try:
            data = self.signer.loads(raw, max_age=int(self.session_hours * 3600))
        except (BadData, ValueError, TypeError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("u"), str) else None

    def _session_user(self, req) -> str | None:
        data = self._session(req)
        if data is None or self.users is None:
            return None
        user = data["u"]
        if user not in self.users or data.get("p") != self._pw_tag(user):
            return None
        return user

    def _basic_user(self, req):
        """(user or None, response to send instead or None, new session token or None)."""
        a = req.authorization
        if a is None or a.type != "basic":
            return None, None, None
        name, pw = a.username or "", a.password or ""
        addr = _client_address(req)
        kname, kaddr = "u:" + name.lower()[:200], "a:" + addr
        wait = max(self.per_user.wait(kname), self.per_addr.wait(kaddr))
        if wait > 0:
            return None, Response("Too many failed sign-ins; try again later.\n", 429,
                                  {"Retry-After": str(max(1, int(wait + 0.999)))}), None
        known = name in self.users
        ok = check_password_hash(self.users[name] if known else self.dummy, pw) and known
        if not ok:
            self.per_user.failure(kname)
            self.per_addr.failure(kaddr)
            self.record(req, "sign-in-failed", Identity(name[:200]), {"method": "basic"})
            return None, None, None
        self.per_user.success(kname)
        self.per_addr.success(kaddr)
        token = self.signer.dumps({"u": name, "p": self._pw_tag(name)})
        if not self.record(req, "sign-in", self.identity_of(name), {"method": "basic"}):
            return None, not_recorded(), None
        return name, None, token

    # -- the check of every request ---------------------------------------------------------------
    def check(self, req):
        """An ``Identity``, or the ``Response`` that refuses the request."""
        if not _host_allowed(req.host, self.exact, self.suffixes, self.any_host):
            name = (_host_name(req.host) or "?")[:100]
            if name not in self.warned_hosts and len(self.warned_hosts) < 100:
                self.warned_hosts.add(name)
                log.warning("refused Host %r: add it to %s if this server should answer to it", name,
                            ENV_ALLOWED_HOSTS)
            return Response("Bad request: unknown host name.\n", 400)
        if not self.auth_on:
            return Identity(None)
        who, token = None, None
        if self.proxy_header and req.headers.get(self.proxy_header):
            who = req.headers.get(self.proxy_header)[:200]
            data = self._session(req)
            if data is None or data.get("u") != who or data.get("p") != "proxy":
                # the first request of a proxy session: its sign-in (once, then the cookie answers)
                token = self.signer.dumps({"u": who, "p": "proxy"})
                if not self.record(req, "sign-in", self.identity_of(who), {"method": "proxy header"}):
                    return not_recorded()
        elif self.users is not None:
            who = self._session_user(req)
            a = req.authorization
            if who is not None and a is not None and a.type == "basic" and (a.username or "") != who:
                who = None  # another user's credentials: check those, not the session
            if who is None:
                who, refusal, token = self._basic_user(req)
                if refusal is not None:
                    return refusal
        if not who:
            return Response("Authentication required.\n", 401,
                            {"WWW-Authenticate": 'Basic realm="trial results explorer"'} if self.users is not None
                            else {})
        if req.method == "POST" and not _same_origin(req):
            return Response("Cross-origin request refused.\n", 403)
        return self.identity_of(who, token)

    # -- the audit trail ---------------------------------------------------------------------------
    def record(self, req, action: str, ident, detail=None, view=None, blinded_view=None) -> bool:
        """Append the action's line; False when it could not be written (the caller then refuses the action:
        no line, no action)."""
        if self.audit is None:
            return True
        if view is None:
            view = _view_of(req)
        if blinded_view is None:
            blinded_view = not self.sees_arms(ident)
        try:
            self.audit.record(action, user=getattr(ident, "user", None), role=getattr(ident, "role", ""),
                              view=view, client=_client_address(req), detail=detail, blinded_view=blinded_view)
        except (OSError, ValueError):  # loud in the server's log; the caller refuses the action
            log.exception("AUDIT TRAIL NOT WRITTEN: %s by %s (refused)", action, getattr(ident, "user", None))
            return False
        return True


def not_recorded() -> Response:
    """The answer to an audited action whose line could not be written (disk full, log unwritable)."""
    return Response("The audit trail cannot be written, so this action was refused. Tell the administrator "
                    "(the server's log says why).\n", 503, {"Content-Type": "text/plain; charset=utf-8"})


def _view_of(req) -> str | None:
    """The view the browser was on: the path and query of a same-origin Referer (else the request's own)."""
    ref = req.headers.get("Referer") or ""
    if ref:
        parts = urlsplit(ref)
        if parts.netloc == req.host:
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if req.path.startswith("/_"):
        return None
    return req.full_path.rstrip("?")


def _download_ids(app) -> set[str]:
    """Ids of the dcc.Download components of the app's pages (their ``data`` is a file handed out)."""
    from dash import dcc

    tree = app.validation_layout or app.layout
    found = [tree] + list(tree._traverse()) if hasattr(tree, "_traverse") else []
    return {c.id for c in found if isinstance(c, dcc.Download) and isinstance(getattr(c, "id", None), str)}


def install(app, gate: Gate | None = None, *, blinded_view: bool = False) -> Gate:
    """Guard ``app``'s server with ``gate`` (a new one from the environment when None)."""
    gate = gate or Gate()
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    server.config["GATE"] = gate
    csp = _csp(app)
    downloads = _download_ids(app) if gate.audit is not None else set()
    study = server.config.get("STUDY")
    subjects = set(study.subjects) if study is not None else set()

    @server.before_request
    def _guard():
        res = request.environ.get(GATE_KEY)
        if res is None:  # no dispatcher in front (a study not declared blinded): check here
            res = request.environ[GATE_KEY] = gate.check(request)
        if isinstance(res, Response):
            return res
        if blinded_view == gate.sees_arms(res):  # never: the dispatcher chose the other app
            log.error("request for the %s view reached the %s app", "full" if gate.sees_arms(res) else "blinded",
                      "blinded" if blinded_view else "full")
            return Response("Internal error. It has been logged.\n", 500, {"Content-Type": "text/plain"})
        g.identity = res
        if request.method == "POST" and request.path == CALLBACK_PATH:
            try:
                body = json.loads(request.get_data(cache=True) or b"null")
            except (ValueError, UnicodeDecodeError, RecursionError):
                return Response("Bad request: body is not JSON.\n", 400)
            why = _callback_shape_error(app, body)
            if why:
                return Response(f"Bad request: {why}.\n", 400)
            g.callback_body = body
        return None

    @server.after_request
    def _headers(resp):
        if (request.path == CALLBACK_PATH or request.path == "/_dash-layout") and resp.status_code == 200 \
                and resp.mimetype == "application/json" and not resp.direct_passthrough:
            fixed = defuse_links(resp.get_data())
            if fixed is not None:
                resp.set_data(fixed)
        ident = g.get("identity")
        body = g.pop("callback_body", None)
        if gate.audit is not None and body is not None and resp.status_code == 200 \
                and audit.wants_response(body, downloads):
            try:
                answer = json.loads(resp.get_data()).get("response")
            except (ValueError, AttributeError):
                answer = None
            for action, detail in audit.callback_actions(body, answer, downloads, subjects):
                if not gate.record(request, action, ident, detail, blinded_view=blinded_view):
                    resp = not_recorded()  # no line, no action: the page, profile or file is not sent
                    break
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        resp.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        token = getattr(ident, "new_session", None)
        if token:
            secure = request.is_secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
            resp.set_cookie(SESSION_COOKIE, token, max_age=int(gate.session_hours * 3600), httponly=True,
                            samesite="Strict", secure=secure, path="/")
        return resp

    @server.route(AUDIT_PATH)
    def _audit_summary():
        """The trail's verdict and counts (no view states: they may name arms) for an admin."""
        ident = g.get("identity")
        if gate.audit is None or not isinstance(ident, Identity) or "admin" not in ident.roles:
            raise NotFound()
        if not gate.record(request, "audit-read", ident, blinded_view=blinded_view):
            return not_recorded()
        code, lines = audit.report([gate.audit.path])
        return Response("\n".join(lines[:2000]) + "\n", 200, {"Content-Type": "text/plain; charset=utf-8"})

    @server.route(AUDIT_EVENT_PATH, methods=["POST"])
    def _audit_event():
        """Exports drawn in the browser (PNG/SVG), reported by assets/audit.js."""
        ident = g.get("identity")
        try:
            ev = json.loads(request.get_data() or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError):
            ev = None
        fmt = ev.get("format") if isinstance(ev, dict) else None
        if fmt not in ("png", "svg"):
            return Response("Bad request.\n", 400)
        detail = {"format": fmt, "file": ev.get("filename"), "graph": ev.get("graph"), "size": ev.get("size"),
                  "reported_by": "browser"}
        if not gate.record(request, "export", ident, detail, blinded_view=blinded_view):
            return not_recorded()  # the browser drew the file already: the user is told it is not recorded
        return Response(status=204)

    # Dash answers an unknown file under /_dash-component-suites/ with an exception (a 500 and a
    # 3 KB traceback in the log per 60-byte request): a plain 404 instead.
    for rule in server.url_map.iter_rules():
        if str(rule).startswith(SUITES_PREFIX):
            view = server.view_functions[rule.endpoint]

            def suites(*args, _view=view, **kwargs):
                try:
                    return _view(*args, **kwargs)
                except HTTPException:
                    raise
                except Exception as exc:
                    log.info("404 %s (%s)", request.path[:200], type(exc).__name__)
                    raise NotFound() from None

            server.view_functions[rule.endpoint] = suites

    @server.errorhandler(Exception)
    def _error(exc):
        # A client never sees a stack trace; the log keeps it.
        if isinstance(exc, HTTPException):
            return exc
        log.exception("unhandled error on %s", request.path)
        return Response("Internal error. It has been logged.\n", 500, {"Content-Type": "text/plain"})

    return gate


def dispatch(full_app, blinded_app, gate: Gate) -> None:
    """Serve a blinded study: the full app's server answers every request, but hands each one whose user may
    not see the arms (a blinded role, no role, no sign-in, or a refusal) to the blinded app, whose study is the
    pooled one (data.blinding). Only a user with the unblinded role reaches the full app."""
    full_wsgi = full_app.server.wsgi_app
    blinded_wsgi = blinded_app.server.wsgi_app

    def wsgi(environ, start_response):
        res = environ[GATE_KEY] = gate.check(WerkzeugRequest(environ))
        target = full_wsgi if isinstance(res, Identity) and gate.sees_arms(res) else blinded_wsgi
        return target(environ, start_response)

    full_app.server.wsgi_app = wsgi
    full_app.server.config["BLINDED_APP"] = blinded_app


def _client_address(req=None) -> str:
    """The client's address; behind a reverse proxy on this machine, the one it appended to X-Forwarded-For
    (else every sign-in would share the proxy's address and its limit)."""
    req = req if req is not None else request
    addr = req.remote_addr or "?"
    fwd = req.headers.get("X-Forwarded-For", "")
    if fwd:
        try:
            if ipaddress.ip_address(addr).is_loopback:
                return fwd.split(",")[-1].strip()[:64] or addr
        except ValueError:
            pass
    return addr


def _same_origin(req=None) -> bool:
    req = req if req is not None else request
    origin = req.headers.get("Origin") or req.headers.get("Referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == req.host
