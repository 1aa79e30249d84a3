"""A blinded copy of LSO-088 and a deployment serving it with roles and an audit trail (issue 20).

The copy's ADSL and ADAE are sorted by arm, as some sponsors deliver them, so that an order taken from
the files would show the arms; its LOCK.json declares ``"blinded": true`` (the fingerprint covers it).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from werkzeug.security import generate_password_hash

from data import lock as L
from data.study import DEFAULT_DATA

# What the data calls the arms: labels, codes, the exposure's treatment names, the colours. Case-sensitive:
# the study title names the drugs in lower case ("belimumab, low-dose IL-2 or both"): the design is public,
# the assignment is not.
ARM_TEXT = re.compile(r"Belimumab|Ld-IL2|BELIMUMAB|LD-IL2|BELIL2|\bBEL\b|\bIL2\b")
ARM_COLOUR = re.compile(r"#(?:0072B2|E69F00|009E73|9ccbe8|f5d28a|8fd6c1)", re.IGNORECASE)
PER_ARM_N = re.compile(r"\(N=10\)|\bn = 10\b|: 10\b")  # LSO-088 has 10 subjects in each arm, 30 in all
USERS = ("ana", "bob", "cy", "adm")  # ana unblinded, bob blinded, cy no role, adm admin (and blinded)
ROLES = "ana: unblinded\nbob: blinded\nadm: admin, blinded   # reads the trail, sees no arm\n"


def password(user: str) -> str:
    return f"pw-{user}-secret"


def basic(user: str, pw: str | None = None) -> dict:
    token = base64.b64encode(f"{user}:{pw or password(user)}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def blinded_copy(dst: Path, sort_by_arm: bool = True, **extra) -> Path:
    shutil.copytree(DEFAULT_DATA, dst)
    manifest = json.loads((dst / L.MANIFEST).read_text())
    if sort_by_arm:
        for name, keys in (("adsl.parquet", ["ARM", "USUBJID"]), ("adae.parquet", ["TRT01A", "USUBJID", "AESEQ"])):
            table = pq.read_table(dst / name)
            pq.write_table(table.sort_by([(k, "ascending") for k in keys]), dst / name)
            manifest["files"][name]["sha256"] = L.sha256_file(dst / name)
    manifest.update({L.BLINDED_KEY: True, **extra})
    manifest["fingerprint"] = L.manifest_fingerprint(manifest)
    (dst / L.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return dst


def deployment_env(root: Path) -> dict:
    """Users (fast hashes: tests), roles and an audit log for a deployment under ``root``."""
    users = root / "users"
    users.write_text("".join(f"{u}:{generate_password_hash(password(u), method='pbkdf2:sha256:1000')}\n"
                             for u in USERS))
    roles = root / "roles"
    roles.write_text(ROLES)
    return {"TRIAL_AUTH_FILE": str(users), "TRIAL_ROLES_FILE": str(roles), "TRIAL_AUDIT_LOG": str(root / "audit.log")}


def signed_in(server, user: str, referer: str = "/"):
    """A test client of ``server`` signed in as ``user`` (session cookie), posting as a same-origin page."""
    c = server.test_client()
    r = c.get("/", headers=basic(user))
    assert r.status_code == 200, (user, r.status_code)
    c.environ_base.update(HTTP_ORIGIN="http://localhost", HTTP_REFERER=f"http://localhost{referer}")
    return c


def leaks(answer: str, sent: str = "") -> set[str]:
    """Arm labels, codes, treatment names and colours in ``answer`` that the request did not itself send
    (a forged arm is echoed in the notice that refuses it: that tells nothing)."""
    found = set(ARM_TEXT.findall(answer)) | {c.lower() for c in ARM_COLOUR.findall(answer)}
    echoed = set(ARM_TEXT.findall(sent)) | {c.lower() for c in ARM_COLOUR.findall(sent)}
    return found - echoed
