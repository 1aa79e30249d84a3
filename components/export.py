"""CSV exports that carry their provenance: simulated-data notice, study, lock, filters, method.

Every table a user can download starts with ``#`` comment lines so a CSV that
leaves the app stays traceable to the dataset and the view it came from.
"""

from __future__ import annotations

import pandas as pd

SIMULATED_LINE = "# SIMULATED DATA — not the trial's results"


def filter_text(study, state) -> str:
    """The filters in force, readable: arms, week window, patients."""
    if state is None:
        return "none"
    arms = ", ".join(state.arm_labels(study)) if state.arms else "all arms"
    weeks = f"{getattr(study, 'time_word', 'week')}s {state.weeks[0]:g}–{state.weeks[1]:g}"  # weeks, or visit numbers
    patients = ", ".join(state.patients) if state.patients else "all patients"
    return f"{arms}; {weeks}; {patients}"


def provenance_lines(study, state, note: str = "") -> list[str]:
    lk = study.lock
    lines = [SIMULATED_LINE] if study.simulated else []
    lines.append(f"# Study: {study.study_id}")
    lock = f"locked {lk.lock_date}" if lk.locked else "UNLOCKED dataset"
    lines.append(f"# Lock: {lock}, fingerprint {lk.short}")
    lines.append(f"# Filters: {filter_text(study, state)}")
    if note:
        lines.extend(f"# {part}" for part in str(note).splitlines() if part.strip())
    return lines


def csv_with_provenance(df: pd.DataFrame, study, state, note: str = "") -> str:
    """``df`` as CSV text preceded by the provenance comment lines."""
    head = "\n".join(provenance_lines(study, state, note)) + "\n"
    return head + df.to_csv(index=False, lineterminator="\n")
