"""data.allocator: the server process keeps the model fits' temporary arrays in its heap instead of having the
kernel fault them in again at every Newton step (counted as minor page faults, in a fresh process each)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import app as app_module
from data import allocator

ROOT = Path(__file__).resolve().parents[1]

# Arrays of the sizes an unstructured MMRM step makes at 12 visits (1.2–2.6 MB), made and freed 30 times.
BURSTS = """
import resource, sys
import numpy as np
from data import allocator
applied = allocator.tune() if sys.argv[1] == "tuned" else None
def burst():
    arrays = [np.ones(n) for n in (300_000, 200_000, 330_000, 150_000)]
    return sum(float(a[0]) for a in arrays)
for _ in range(3):
    burst()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    burst()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str, **env) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k not in allocator.OPERATOR_SETTINGS}
    out = subprocess.run([sys.executable, "-c", BURSTS, mode], cwd=ROOT, env={**clean, **env}, text=True,
                         capture_output=True, check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_arrays_are_reused_not_faulted_in_again():
    _, plain = faults("plain")
    applied, tuned = faults("tuned")
    assert applied == "True"
    # glibc's defaults: every burst's arrays come back as fresh pages (30 × ~1,900 pages)
    assert plain > 20_000, plain
    assert tuned < plain / 100, (tuned, plain)


def test_the_operators_own_allocator_settings_are_left_alone():
    applied, _ = faults("tuned", MALLOC_TRIM_THRESHOLD_="131072")
    assert applied == "False"


def test_the_app_factory_tunes_the_process(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "tune", lambda: calls.append(1) or True)
    app_module.create_app()
    assert calls == [1]
