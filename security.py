"""HTTP hardening of the Flask server behind the Dash app.

- Security headers on every response: a Content-Security-Policy that allows only
  the app's own origin (Dash's inline scripts admitted by their hashes), plus
  X-Content-Type-Options, frame-ancestors / X-Frame-Options and Referrer-Policy.
- The callback endpoint checks the *shape* of each request against the callbacks
  the app registered before Dash sees it: unknown outputs, wrong input counts,
  junk JSON get a 400, not a 500 from deep inside Dash.
- Optional authentication, off unless configured:
    TRIAL_AUTH_FILE=path   lines "user:<werkzeug password hash>" (HTTP Basic)
    TRIAL_AUTH_PROXY_HEADER=X-Remote-User   trust a reverse proxy that sets it
  When on, every route requires it, and cross-origin POSTs are refused (Dash
  itself does not check CSRF).
"""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import urlsplit

from flask import Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash

log = logging.getLogger(__name__)
CALLBACK_PATH = "/_dash-update-component"
MAX_BODY = 2 * 1024 * 1024  # the largest legitimate callback request is a few KB


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
    n_out = len(output[2:-2].split("...")) if output.startswith("..") else 1
    if output.startswith(".."):
        if not isinstance(outputs, list) or len(outputs) != n_out or not all(isinstance(o, dict) for o in outputs):
            return "outputs do not match the callback"
    elif not isinstance(outputs, dict):
        return "outputs do not match the callback"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "changedPropIds must be a list of strings"
    return None


def _load_users(path: str) -> dict[str, str]:
    users = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#") and ":" in line:
                user, pw_hash = line.split(":", 1)
                users[user] = pw_hash
    return users


def install(app) -> None:
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    csp = _csp(app)
    auth_file = os.environ.get("TRIAL_AUTH_FILE")
    proxy_header = os.environ.get("TRIAL_AUTH_PROXY_HEADER")
    users = _load_users(auth_file) if auth_file else None
    auth_on = bool(users is not None or proxy_header)

    @server.before_request
    def _guard():
        if auth_on:
            who = None
            if proxy_header and request.headers.get(proxy_header):
                who = request.headers.get(proxy_header)
            elif users is not None and request.authorization and request.authorization.type == "basic":
                a = request.authorization
                h = users.get(a.username or "")
                if h and check_password_hash(h, a.password or ""):
                    who = a.username
            if not who:
                return Response("Authentication required.\n", 401,
                                {"WWW-Authenticate": 'Basic realm="trial results explorer"'} if users is not None else {})
            if request.method == "POST" and not _same_origin():
                return Response("Cross-origin request refused.\n", 403)
        if request.method == "POST" and request.path == CALLBACK_PATH:
            try:
                body = json.loads(request.get_data(cache=True) or b"null")
            except (ValueError, UnicodeDecodeError, RecursionError):
                return Response("Bad request: body is not JSON.\n", 400)
            why = _callback_shape_error(app, body)
            if why:
                return Response(f"Bad request: {why}.\n", 400)
        return None

    @server.after_request
    def _headers(resp):
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    @server.errorhandler(Exception)
    def _error(exc):
        # A client never sees a stack trace; the log keeps it.
        if isinstance(exc, HTTPException):
            return exc
        log.exception("unhandled error on %s", request.path)
        return Response("Internal error. It has been logged.\n", 500, {"Content-Type": "text/plain"})


def _same_origin() -> bool:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == request.host
