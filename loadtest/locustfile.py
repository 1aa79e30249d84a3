"""Locust user: walks every page and changes filters, as a person at the dashboard would."""

import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator import FILTER_STATES, Emulator  # noqa: E402


class Investigator(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self):
        self.client.get("/")
        self.em = Emulator(self.client, "")
        self.pages = self.em.paths

    @task
    def walk_pages(self):
        for path in self.pages:
            self.client.get(path, name="page html")
            for p in self.em.page_callbacks(path, random.choice(FILTER_STATES)):
                with self.client.post("/_dash-update-component", json=p, name=p["output"][:60],
                                      catch_response=True) as r:
                    if r.status_code not in (200, 204):
                        r.failure(f"status {r.status_code}")
