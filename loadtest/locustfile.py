"""Locust users: an investigator walking every page and changing filters (``Investigator``), the
same behind Basic auth (``AuthInvestigator``: TRIAL_LOAD_USER / TRIAL_LOAD_PASSWORD), and a user
who asks for a new filter every time (``CacheFiller``: every request a cache miss)."""

import os
import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator import FILTER_STATES, Emulator  # noqa: E402


class Investigator(HttpUser):
    wait_time = between(0.5, 2.0)
    abstract = False

    def on_start(self):
        self.client.get("/")
        self.em = Emulator(self.client, "")
        self.pages = self.em.paths

    def filter_state(self) -> dict:
        return random.choice(FILTER_STATES)

    @task
    def walk_pages(self):
        for path in self.pages:
            self.client.get(path, name="page html")
            for p in self.em.page_callbacks(path, self.filter_state()):
                with self.client.post("/_dash-update-component", json=p, name=p["output"][:60],
                                      catch_response=True) as r:
                    if r.status_code not in (200, 204):
                        r.failure(f"status {r.status_code}")


class AuthInvestigator(Investigator):
    """Signs in with Basic once; the session cookie answers afterwards (the browser resends Basic too)."""

    def on_start(self):
        self.client.auth = (os.environ.get("TRIAL_LOAD_USER", "load"), os.environ.get("TRIAL_LOAD_PASSWORD", ""))
        # Same-origin POSTs: the app refuses cross-origin ones when authentication is on.
        self.client.headers["Origin"] = self.host
        super().on_start()


class CacheFiller(Investigator):
    wait_time = between(0.1, 0.5)

    def on_start(self):
        super().on_start()
        self.rng = random.Random()

    def filter_state(self) -> dict:
        return self.em.distinct_filter(self.rng)
