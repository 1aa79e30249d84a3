"""The Study model: what the data layer hands to every page (immutable once loaded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from data import config as _config
from data import lock as _lock


class DataError(Exception):
    """The folder cannot be served. ``lines`` holds one readable line per problem."""

    def __init__(self, folder: Path, lines: list[str]):
        self.folder, self.lines = Path(folder), list(lines)
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class Arm:
    code: str
    label: str
    colour: str
    light: str
    n: int


@dataclass(frozen=True)
class ParamInfo:
    """One analysis parameter: a PARAMCD, at one timepoint (ATPTN) when it is measured at several."""

    code: str  # the app's code: PARAMCD, or PARAMCD@ATPTN for a parameter measured at several timepoints
    name: str
    dataset: str
    category: str
    unit: str
    lo: float | None
    hi: float | None
    visits: tuple[float, ...]  # positions on the time axis (TIME) with a value
    paramcd: str = ""  # the sponsor's PARAMCD ("" = the same as code)
    atptn: float | None = None  # the timepoint (ATPTN) when code is PARAMCD@ATPTN
    atpt: str = ""  # its name (ATPT)
    basetype: str = ""  # the BASETYPE analysed ("" = the dataset has one baseline definition)
    imputations: tuple[str, ...] = ()  # DTYPE imputations the sponsor delivered (LOCF…): a user switch
    ranges_vary: bool = False  # ANRLO/ANRHI differ between subjects (e.g. by sex): no common range (lo/hi None)
    after_baseline: bool = True  # has a value after baseline on the time axis (False: baseline-only, e.g. height)

    @property
    def source_code(self) -> str:
        return self.paramcd or self.code


@dataclass(frozen=True)
class Population:
    """The subjects a group of pages analyses, chosen by an ADSL flag (= "Y")."""

    kind: str  # "efficacy" or "safety"
    flag: str | None  # ADSL variable; None = every subject
    n: int
    total: int
    subjects: frozenset = frozenset()

    @property
    def text(self) -> str:
        if self.flag is None:
            if self.n != self.total:  # the subjects with an arm of this kind (planned / actual treatment)
                return (f"{self.kind.capitalize()} population: the {self.n} of {self.total} subjects with an arm for "
                        f"{self.kind} data (no population flag)")
            return f"{self.kind.capitalize()} population: all {self.total} subjects (no population flag)"
        return f"{self.kind.capitalize()} population: {self.flag} = 'Y' ({self.n} of {self.total} subjects)"


@dataclass(frozen=True, eq=False)
class Study:
    folder: Path
    study_id: str
    title: str
    simulated: bool
    lock: _lock.LockInfo
    adsl: pd.DataFrame
    measurements: pd.DataFrame  # BDS analysis records on the time axis, long, with ARM (display label, ordered)
    #   and TIME (position on the time axis: baseline at 0); observed values only, subjects of each
    #   dataset's population (see data.adam for the record-selection rules)
    adae: pd.DataFrame | None
    adex: pd.DataFrame | None
    arms: tuple[Arm, ...]
    params: dict[str, ParamInfo]
    visits: tuple[tuple[float, str], ...]  # (TIME, visit name) on the time axis
    notes: tuple[str, ...] = field(default=())
    efficacy_flag: str | None = None
    safety_flag: str | None = None
    # -- what the defaults or study.toml chose ------------------------------------------
    arm_variable: str = "TRT01A"  # the arm of efficacy data (planned; the only one when ADSL has one)
    arm_variables: dict = field(default_factory=dict)  # "efficacy"/"safety" -> ADSL variable (planned / actual)
    reference_arm: str | None = None  # arm code
    baseline_visit: float | None = None
    end_visit: float | None = None
    populations: dict = field(default_factory=dict)  # "efficacy"/"safety" -> Population
    off_axis: pd.DataFrame | None = None  # analysis rows at unscheduled/derived visits (not on the time axis)
    page_sources: dict = field(default_factory=dict)  # page id -> config.PageSource
    files: dict = field(default_factory=dict)  # file name -> rows read
    datasets: dict = field(default_factory=dict)  # dataset name -> file name, for the datasets used
    ae_vars: dict = field(default_factory=dict)  # role -> ADAE variable (None when absent)
    config: _config.StudyConfig = field(default_factory=_config.StudyConfig)
    var_labels: dict = field(default_factory=dict)  # dataset name -> {variable: label} as the files give them
    dataset_labels: dict = field(default_factory=dict)  # dataset name -> the file's dataset label ("" when none)
    # -- record selection (data.adam) -----------------------------------------------------
    time_unit: str = "week"  # what TIME counts: "week" (study weeks) or "visit" (the sponsor's AVISITN)
    imputed: pd.DataFrame | None = None  # sponsor-imputed records (DTYPE LOCF/WOCF/BOCF) where no value was observed
    other_measurements: pd.DataFrame | None = None  # records of subjects outside their dataset's population
    excluded: pd.DataFrame | None = None  # ADSL rows of subjects in no treatment arm (screen failures…)
    dataset_populations: dict = field(default_factory=dict)  # BDS dataset name -> Population
    dropped: dict = field(default_factory=dict)  # dataset name -> (problem lines): served without it
    reports: dict = field(default_factory=dict)  # BDS dataset name -> (lines of what was decided)
    record_rules: dict = field(default_factory=dict)  # BDS dataset name -> the selection as data (Show code)
    empty_pages: tuple[str, ...] = ()  # warnings: pages that would show n = 0 everywhere, and why

    # -- look-ups used by every page -------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return self.lock.fingerprint

    @property
    def arm_codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.arms)

    @property
    def arm_by_code(self) -> dict[str, Arm]:
        return {a.code: a for a in self.arms}

    @property
    def arm_by_label(self) -> dict[str, Arm]:
        return {a.label: a for a in self.arms}

    @property
    def colours(self) -> dict[str, str]:
        """Arm display label -> colour."""
        return {a.label: a.colour for a in self.arms}

    @property
    def reference(self) -> Arm | None:
        """The reference arm for between-arm comparisons (study.toml [arms] reference)."""
        return self.arm_by_code.get(self.reference_arm) if self.reference_arm else None

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(self.adsl["USUBJID"].astype(str))

    @property
    def visit_numbers(self) -> tuple[float, ...]:
        return tuple(v for v, _ in self.visits)

    @property
    def time_title(self) -> str:
        """The time axis' title: what its numbers are."""
        return "Study week" if self.time_unit == "week" else "Visit number (AVISITN)"

    @property
    def time_word(self) -> str:
        return "week" if self.time_unit == "week" else "visit"

    def time_text(self, t: float) -> str:
        """'week 12' / 'visit 5': a position on the time axis in words."""
        return f"{self.time_word} {t:g}"

    def visit_label(self, t: float) -> str:
        """The visit's name at position ``t`` of the time axis (its AVISIT), else 'Week 12' / 'Visit 5'."""
        return dict(self.visits).get(t, self.time_text(t).capitalize())

    def arm_kind(self, dataset: str | None) -> str:
        """'efficacy' or 'safety': whose arm a dataset's subjects are analysed in (planned / actual treatment).
        Safety-population data (labs, vital signs, ECG, AE, exposure by default) by the actual arm, others by
        the planned arm."""
        pop = self.dataset_populations.get(dataset) if dataset else None
        return "safety" if pop is not None and pop.kind == "safety" else "efficacy"

    def arm_variable_of(self, kind: str) -> str:
        return self.arm_variables.get(kind, self.arm_variable)

    def population_of(self, dataset: str) -> Population | None:
        """The population a parameter dataset is analysed in (safety domains: safety; others: efficacy)."""
        return self.dataset_populations.get(dataset) or self.populations.get("efficacy")

    def population(self, kind: str) -> Population | None:
        return self.populations.get(kind)

    def params_for(self, page: str) -> dict[str, ParamInfo]:
        """The parameters a page offers: study.toml [pages.<page>] datasets / parcat1, else all."""
        src = self.page_sources.get(page)
        if src is None:
            return dict(self.params)
        return {c: p for c, p in self.params.items()
                if (not src.datasets or p.dataset in src.datasets) and (not src.parcat1 or p.category in src.parcat1)}
