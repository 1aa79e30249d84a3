"""Trial results explorer: app factory and command line.

    python app.py [--data DIR] [--host 127.0.0.1] [--port 8050] [--debug]
    gunicorn app:server            # production: debug is always off

``app.py`` only composes: the data layer loads the study, each page module
brings its own layout and callbacks and receives the study it shows.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import dash_bootstrap_components as dbc
from dash import Dash

import security
from audit import ENV_AUDIT, AuditLog
from components import comparison, deck, overview, patient, safety, shell, trajectories
from data import allocator, blinding
from data.cache import ResultCache
from data.lock import LockError
from data.study import DEFAULT_DATA, DataError, load_study

PAGES = (overview, trajectories, comparison, safety, patient)
ENV_DATA = "TRIAL_DATA"
HERE = Path(__file__).parent


def create_app(data_dir: str | Path | None = None, cache_config: dict | None = None) -> Dash:
    """Build the Dash app for one dataset folder. Raises DataError / LockError on bad data, and
    security.ConfigError on unusable security settings (roles, audit log).

    A study declared blinded in its lock manifest gets a second app on the same pages, built on the pooled
    study (``data.blinding``); the first app's server dispatches each request by the user's role
    (``security.dispatch``), so a user without the unblinded role is answered by an app that has no arms.
    """
    allocator.tune()  # the process's malloc kept from refaulting the model fits' arrays (data.allocator)
    study = load_study(Path(data_dir or os.environ.get(ENV_DATA) or DEFAULT_DATA))
    try:
        trail = AuditLog.from_env(study.fingerprint)
    except OSError as exc:
        raise security.ConfigError([f"{ENV_AUDIT}: the audit log cannot be opened for appending "
                                    f"({exc.strerror or exc})"]) from None
    gate = security.Gate(trail, blinded_study=study.lock.blinded)
    app = _compose(study, study.fingerprint, cache_config)
    security.install(app, gate)
    if study.lock.blinded:
        view = blinding.pooled(study)
        # its own cache namespace: no result of one view is ever served to the other
        blinded_app = _compose(view, blinding.cache_fingerprint(study), cache_config)
        security.install(blinded_app, gate, blinded_view=True)
        security.dispatch(app, blinded_app, gate)
        if trail is None:
            logging.getLogger(__name__).warning("a blinded study served without an audit trail (set %s)",
                                                ENV_AUDIT)
    return app


def _compose(study, cache_key: str, cache_config: dict | None) -> Dash:
    """One Dash app: the shell, the deck and the pages, on ``study``."""
    app = Dash(
        __name__,
        title=f"{study.study_id} results explorer",
        assets_folder=str(HERE / "assets"),
        serve_locally=True,  # nothing from a CDN: the app works on a closed hospital network
        enable_mcp=False,  # Dash 4's machine-control endpoint stays off whatever the environment says
        update_title=None,
    )
    app.layout = shell.layout(study, PAGES)
    app.validation_layout = dbc.Container([shell.layout(study, PAGES), *shell.validation_pages(study, PAGES)])
    cache = ResultCache(app.server, cache_key, cache_config)
    shell.register(app, study, PAGES)
    deck.register(app, study, PAGES)
    for page in PAGES:
        page.register(app, study, cache)
    app.server.config["STUDY"] = study
    app.server.config["RESULT_CACHE"] = cache
    return app


def _fail(exc: Exception) -> None:
    lines = exc.lines if isinstance(exc, (DataError, LockError, security.ConfigError)) else [str(exc)]
    print(f"Cannot serve {getattr(exc, 'folder', '')}:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="app.py", description="Serve the trial results explorer, or check or lock a dataset folder.",
        epilog=f"examples:\n  python app.py check DIR\n  python app.py lock DIR [--force] [--blinded [--withhold NAME ...]]\n"
               f"  python app.py audit LOG [LOG ...] [--expect HASH] | --rotate\n"
               f"  TRIAL_DATA=DIR gunicorn app:server   (gunicorn reads the folder from ${ENV_DATA})",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", metavar="DIR", default=None,
                    help=f"dataset folder (default: ${ENV_DATA} or the bundled LSO-088 data)")
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    ap.add_argument("--debug", action="store_true", help="Dash dev tools and reloader; never in production")
    sub = ap.add_subparsers(dest="command", metavar="{check,lock,audit}", title="commands (optional; default: serve)")
    chk = sub.add_parser("check", help="validate a dataset folder and print the verdict; exit 2 if it cannot be served")
    chk.add_argument("dir", metavar="DIR")
    lck = sub.add_parser("lock", help="validate a dataset folder and write its LOCK.json manifest")
    lck.add_argument("dir", metavar="DIR")
    lck.add_argument("--force", action="store_true", help="overwrite an existing LOCK.json")
    blind = lck.add_mutually_exclusive_group()
    blind.add_argument("--blinded", action="store_true", default=None,
                       help="declare the study blinded: users without the unblinded role see the arms pooled")
    blind.add_argument("--unblinded", dest="blinded", action="store_false",
                       help="end the blinding of a folder locked --blinded")
    lck.add_argument("--withhold", metavar="NAME", action="append", default=[],
                     help="with --blinded: also withhold a dataset (ADPC) or a variable (ADSL.DOSGRP) from the "
                          "blinded view (repeatable)")
    aud = sub.add_parser("audit", help="verify an audit log's hash chain and summarise it by user and action; "
                                       "exit 1 if it was tampered with")
    aud.add_argument("logs", metavar="LOG", nargs="+", help="the log, or rotated logs oldest first")
    aud.add_argument("--expect", metavar="HASH", help="a head hash noted earlier: check it is still in the log")
    aud.add_argument("--rotate", action="store_true", help="start a new log (the old one is kept as LOG.<time>)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.command == "audit":
        import audit

        if args.rotate:
            if len(args.logs) != 1:
                print("--rotate takes one log", file=sys.stderr)
                return 2
            try:
                target, rec = audit.rotate(args.logs[0])
            except OSError as exc:
                print(f"Cannot rotate {args.logs[0]}: {exc.strerror or exc}", file=sys.stderr)
                return 2
            print(f"ROTATED {args.logs[0]} -> {target} (head seq {rec['seq'] - 1} hash {rec['prev']}); "
                  f"{args.logs[0]} continues the chain")
            return 0
        code, lines = audit.report(args.logs, expect=args.expect)
        print("\n".join(lines))
        return code
    if args.command in ("check", "lock"):
        from data.study import check_folder, lock_folder

        code, lines = check_folder(args.dir) if args.command == "check" else \
            lock_folder(args.dir, args.force, blinded=args.blinded, withhold=args.withhold)
        # check prints its verdict on stdout either way; a refused lock is an error (stderr)
        print("\n".join(lines), file=sys.stdout if code == 0 or args.command == "check" else sys.stderr)
        return code
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.host not in ("0.0.0.0", "::", "127.0.0.1", "::1", "localhost"):  # a name bound to is a name answered
        os.environ[security.ENV_ALLOWED_HOSTS] = ",".join(
            filter(None, [os.environ.get(security.ENV_ALLOWED_HOSTS, ""), args.host]))
    try:
        app = create_app(args.data)
    except (DataError, LockError, security.ConfigError) as exc:
        _fail(exc)
        return 2
    app.run(host=args.host, port=args.port, debug=args.debug)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def __getattr__(name: str):
    """`gunicorn app:server` asks the module for ``server``: build the app then, once.

    Building lazily keeps `import app` (tests, tools) free of side effects; with
    `gunicorn --preload` it happens in the master, so workers share the frames.
    """
    if name != "server":
        raise AttributeError(name)
    try:
        srv = create_app().server
    except (DataError, LockError, security.ConfigError) as exc:
        _fail(exc)
        raise SystemExit(2) from None
    globals()["server"] = srv
    return srv
