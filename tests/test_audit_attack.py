"""The audit trail under attack and under failure (review of issue 20).

- A full disk cuts a write short: ``os.write`` then returns fewer bytes than asked, without an error. The line
  must not count as written, and no partial line may stay in the log (it would make the chain read as tampered).
"""

from __future__ import annotations

import errno
import json

import pytest

import audit


def test_a_write_cut_short_by_a_full_disk_is_an_error_and_leaves_no_partial_line(tmp_path, monkeypatch):
    log = tmp_path / "audit.log"
    trail = audit.AuditLog(log, "fp")
    trail.record("sign-in", user="ana", role="unblinded")
    real_write = audit.os.write

    def full_disk(fd, data):  # what a file system does when only part of the bytes fit
        if len(data) < 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(audit.os, "write", full_disk)
    with pytest.raises(OSError):
        trail.record("export", user="bob", role="blinded", detail={"file": "x.csv"})
    monkeypatch.setattr(audit.os, "write", real_write)
    assert log.read_bytes().endswith(b"\n")  # the cut line was taken back
    trail.record("export", user="bob", role="blinded", detail={"file": "x.csv"})
    code, lines = audit.report([log])
    assert code == 0, lines
    assert [json.loads(x)["seq"] for x in log.read_text().splitlines()] == [1, 2]
