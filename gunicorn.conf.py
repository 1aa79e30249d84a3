"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py app:server`` (``make serve-prod``).

gunicorn also reads this file by itself when started from this folder; options given on the
command line win. Environment: TRIAL_BIND (default 127.0.0.1:8050), WEB_CONCURRENCY (workers).
"""

import gc
import os

bind = os.environ.get("TRIAL_BIND", "127.0.0.1:8050")
# Load and verify the data once in the master; the workers share the frames (and the random
# signing keys of the session cookie and the Redis entries, when none is configured).
preload_app = True
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))  # callbacks are CPU-bound: one or two per core
# gthread: a slow client (a request body trickling in) holds one thread, not a whole worker; two slow
# clients took every sync worker for 60 s. The reverse proxy must still buffer request bodies
# (nginx does by default: proxy_request_buffering on), or enough slow clients fill the threads too.
worker_class = "gthread"
threads = 8
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle each worker after about 2,000 requests (jitter: not all at once): the result cache is
# bounded, but the allocators keep freed memory; a fresh fork of the preloaded master does not.
max_requests = 2000
max_requests_jitter = 400
control_socket_disable = True  # gunicorn 27 otherwise opens a control socket under ~/.gunicorn


def pre_fork(server, worker):
    """Freeze the preloaded app's objects (the study, the layouts: ~230,000 at LSO-088 size) out of the
    garbage collector before each fork. A worker's full collection walked them all: ~130 ms, a pause on
    whichever request triggered it (6-9 ms frozen, in a test of 60 requests per view); and walking them
    wrote to every object's header, copying the master's shared pages into the worker."""
    gc.freeze()
