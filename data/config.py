"""``study.toml``: the optional per-folder settings that override the ADaM defaults.

Every key is optional; a folder without ``study.toml`` is read with the defaults
documented in the README ("Use your own study"). Unknown sections or keys, wrong
types and malformed values are rejected with one line each that names them, so a
typo never silently falls back to a default.

This module only parses and type-checks. Whether a named variable, arm or visit
exists in the data is checked by ``data.study`` once the data is read.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = "study.toml"
# Pages whose parameters can be chosen with [pages.<id>]: the trajectory page and the boxplot page.
PARAMETER_PAGES = ("trajectories", "comparison")
# Every page's words and defaults can be set under [pages.<id>] (README, "study.toml"): key -> kind.
_WORDS = {"title": "title", "heading": "text", "subheading": "text"}
PAGE_KEYS_BY_PAGE: dict[str, dict[str, str]] = {
    "overview": dict(_WORDS),
    "trajectories": {"datasets": "namelist", "parcat1": "strlist", **_WORDS, "parameter_label": "title",
                     "parameter": "code", "multiples": "codelist"},
    "comparison": {"datasets": "namelist", "parcat1": "strlist", **_WORDS, "parameter_label": "title",
                   "noun": "title", "single_view": "title", "grid_view": "title", "parameter": "code"},
    "safety": dict(_WORDS),
    "patient": {**_WORDS, "panels": "codelist", "group": "str", "extra_panels": "codelist",
                "step_panels": "codelist"},
}
PAGES = tuple(PAGE_KEYS_BY_PAGE)
BASELINE_STATISTICS = ("mean", "median", "both")
BASELINE_TYPES = ("categorical", "continuous")
DISCONTINUATION_SOURCES = ("AEACN", "DSRAEFL", "DCSREAS")
MAX_TITLE, MAX_TEXT = 40, 120
# a PARAMCD, or the app's code of one timepoint of it: PARAMCD@ATPTN ('SYSBP@2', as the pages' links write it)
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}(@-?[0-9]{1,9}(\.[0-9]{1,6})?)?$")
ENCODINGS = ("utf-8", "cp1252", "latin-1")
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


class ConfigError(Exception):
    """``study.toml`` is invalid. ``lines`` holds one readable line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class PageSource:
    datasets: tuple[str, ...] = ()  # upper-case dataset names; () = every parameter dataset
    parcat1: tuple[str, ...] = ()  # PARCAT1 values; () = every category


@dataclass(frozen=True)
class BaselineRow:
    """One characteristic of the Overview's baseline table ([overview] baseline)."""

    variable: str | None = None  # ADSL variable
    parameter: str | None = None  # PARAMCD: the subject's baseline value (ABLFL = "Y") of a BDS parameter
    label: str | None = None  # None = the variable's label / the parameter's PARAM
    statistic: str | None = None  # "mean", "median" or "both"; None = both (continuous)
    type: str | None = None  # "categorical" / "continuous"; None = decided from the data


@dataclass(frozen=True)
class SafetyConfig:
    """[safety]: the adverse-event vocabularies."""

    relatedness: str | None = None  # ADAE variable; None = AEREL, else AERELN
    related: tuple[str, ...] = ()  # values that count as related; () = the default vocabulary
    not_related: tuple[str, ...] = ()  # values that count as not related; () = the default vocabulary
    discontinuation: str | None = None  # AEACN, DSRAEFL or DCSREAS; None = the first that has data

@dataclass(frozen=True)
class DatasetOptions:
    """``[datasets.<NAME>]``: how one parameter dataset's records are selected (None = the ADaM default)."""

    population: str | None = None  # "safety" | "efficacy" | "all"
    analysis_flag: str | None = None  # an ANLzzFL to apply; "" = never apply one
    basetype: str | None = None  # the BASETYPE analysed


POPULATION_KINDS = ("safety", "efficacy", "all")


@dataclass(frozen=True)
class StudyConfig:
    present: bool = False  # a study.toml was found
    study_id: str | None = None
    title: str | None = None
    simulated: bool | None = None
    encoding: str | None = None
    arm_variable: str | None = None  # [arms] variable: the arm variable of every dataset (both below)
    efficacy_arm_variable: str | None = None  # [arms] efficacy_variable: the arm of efficacy data (default planned)
    safety_arm_variable: str | None = None  # [arms] safety_variable: the arm of safety data (default actual)
    arm_order: tuple[str, ...] = ()
    reference_arm: str | None = None
    arm_colours: dict = field(default_factory=dict)
    arm_exclude: tuple[str, ...] | None = None  # arm values that are no treatment arm; None = the ADaM default list
    include_untreated: bool = False  # keep subjects without TRTSDT when ADSL has no population flag
    efficacy_flag: str | None = None  # None = default; "" = all subjects
    safety_flag: str | None = None
    adverse_events: str | None = None
    exposure: str | None = None
    exclude: tuple[str, ...] = ()
    dataset_options: dict = field(default_factory=dict)  # dataset name -> DatasetOptions
    baseline_visit: str | float | None = None
    end_visit: str | float | None = None
    include_visits: tuple[str, ...] = ()
    visit_weeks: dict = field(default_factory=dict)
    pages: dict = field(default_factory=dict)  # page id -> PageSource
    page_text: dict = field(default_factory=dict)  # page id -> {key: value} of [pages.<id>] words and defaults
    baseline_rows: tuple = ()  # [overview] baseline: BaselineRow, in table order; () = the ADaM default rows
    safety: SafetyConfig = field(default_factory=SafetyConfig)  # [safety]


# section -> {key: (kind, description)}; kind drives the type check.
SCHEMA: dict[str, dict[str, str]] = {
    "study": {"id": "str", "title": "str", "simulated": "bool", "encoding": "encoding"},
    "arms": {"variable": "name", "order": "strlist", "reference": "str", "colours": "colours", "exclude": "strlist",
             "include_untreated": "bool", "efficacy_variable": "name", "safety_variable": "name"},
    "populations": {"efficacy": "flag", "safety": "flag"},
    "datasets": {"adverse_events": "name", "exposure": "name", "exclude": "namelist"},
    "visits": {"baseline": "visit", "end": "visit", "include": "strlist", "weeks": "weeks"},
    "overview": {"baseline": "baseline"},
    "safety": {"relatedness": "name", "related": "vocab", "not_related": "vocab",
               "discontinuation": "discontinuation"},
}
PAGE_KEYS = {"datasets": "namelist", "parcat1": "strlist"}
DATASET_KEYS = {"population": "population", "analysis_flag": "flag", "basetype": "str"}  # [datasets.<NAME>]


def _check(kind: str, where: str, value, errors: list[str]):
    """Return the normalised value, or None after appending an error line."""
    def bad(msg):
        errors.append(f"ERROR {CONFIG_FILE} {where}: {msg}")

    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            return bad(f"must be a non-empty string, not {value!r}")
        return value.strip()
    if kind in ("title", "text"):  # words shown on a page: one line, of a length a page can hold
        longest = MAX_TITLE if kind == "title" else MAX_TEXT
        if not isinstance(value, str) or not value.strip():
            return bad(f"must be a non-empty string, not {value!r}")
        if any(c in value for c in "\r\n\t") or len(value.strip()) > longest:
            return bad(f"must be one line of at most {longest} characters, not {value[:60]!r}")
        return value.strip()
    if kind in ("code", "codelist"):  # PARAMCD values, kept as written
        vals = value if kind == "codelist" else [value]
        if not isinstance(vals, list) or not all(isinstance(v, str) and _CODE.match(v.strip()) for v in vals):
            what = "a list of parameter codes (PARAMCD)" if kind == "codelist" else "a parameter code (PARAMCD)"
            return bad(f"must be {what}, not {value!r}")
        vals = [v.strip() for v in vals]
        dup = sorted({v for v in vals if vals.count(v) > 1})
        if dup:
            return bad(f"listed twice: {', '.join(map(repr, dup))}")
        return tuple(vals) if kind == "codelist" else vals[0]
    if kind == "vocab":  # values of an AE variable: text or numeric codes, compared upper-case
        if not isinstance(value, list) or not value or not all(
                (isinstance(v, str) and v.strip()) or (isinstance(v, int) and not isinstance(v, bool)) for v in value):
            return bad(f"must be a list of values (text or whole-number codes), not {value!r}")
        vals = [str(v).strip().upper() for v in value]
        dup = sorted({v for v in vals if vals.count(v) > 1})
        if dup:
            return bad(f"listed twice: {', '.join(map(repr, dup))}")
        return tuple(vals)
    if kind == "discontinuation":
        if not isinstance(value, str) or value.strip().upper() not in DISCONTINUATION_SOURCES:
            return bad(f"must be one of {', '.join(DISCONTINUATION_SOURCES)}, not {value!r}")
        return value.strip().upper()
    if kind == "baseline":
        return _baseline_rows(value, where, bad)
    if kind == "bool":
        if not isinstance(value, bool):
            return bad(f"must be true or false, not {value!r}")
        return value
    if kind == "encoding":
        norm = str(value).lower().replace("_", "-")
        norm = {"utf8": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1", "windows-1252": "cp1252",
                "wlatin1": "cp1252"}.get(norm, norm)
        if norm not in ENCODINGS:
            return bad(f"must be one of {', '.join(ENCODINGS)}, not {value!r}")
        return norm
    if kind in ("name", "flag"):
        if kind == "flag" and value == "":
            return ""
        if not isinstance(value, str) or not _NAME.match(value):
            return bad(f"must be a SAS variable or dataset name (letters, digits, _), not {value!r}")
        return value.upper()
    if kind in ("strlist", "namelist"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return bad(f"must be a list of strings, not {value!r}")
        vals = [v.strip() for v in value]
        if kind == "namelist":
            wrong = [v for v in vals if not _NAME.match(v)]
            if wrong:
                return bad(f"not dataset names: {', '.join(map(repr, wrong))}")
            vals = [v.upper() for v in vals]
        dup = sorted({v for v in vals if vals.count(v) > 1})
        if dup:
            return bad(f"listed twice: {', '.join(map(repr, dup))}")
        return tuple(vals)
    if kind == "population":
        if value not in POPULATION_KINDS:
            return bad(f"must be one of {', '.join(map(repr, POPULATION_KINDS))}, not {value!r}")
        return value
    if kind == "visit":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
            return bad(f"must be a visit name (AVISIT) or number (AVISITN), not {value!r}")
        return float(value) if isinstance(value, (int, float)) else value.strip()
    if kind == "colours":
        if not isinstance(value, dict):
            return bad("must be a table of arm = \"#RRGGBB\"")
        wrong = [f"{k}={v!r}" for k, v in value.items() if not isinstance(v, str) or not _HEX.match(v)]
        if wrong:
            return bad(f"not #RRGGBB colours: {', '.join(wrong)}")
        return dict(value)
    if kind == "weeks":
        if not isinstance(value, dict):
            return bad("must be a table of visit name = week number")
        wrong = [f"{k}={v!r}" for k, v in value.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if wrong:
            return bad(f"week numbers must be numbers: {', '.join(wrong)}")
        return {str(k): float(v) for k, v in value.items()}
    raise AssertionError(kind)


_ROW_KEYS = {"variable": "name", "parameter": "code", "label": "title", "statistic": "statistic", "type": "type"}


def _baseline_rows(value, where: str, bad):
    """[overview] baseline: a list of ADSL variable names or {variable|parameter, label, statistic, type} tables."""
    if not isinstance(value, list) or not value:
        return bad('must be a list of ADSL variables ("AGE") or tables ({ variable = "AGE", label = "Age (years)", '
                   'statistic = "mean" })')
    rows, problems = [], []
    for i, item in enumerate(value, 1):
        if isinstance(item, str):
            item = {"variable": item}
        if not isinstance(item, dict):
            problems.append(f"item {i}: {item!r} is neither a variable name nor a table")
            continue
        unknown = sorted(k for k in item if k not in _ROW_KEYS)
        if unknown:
            problems.append(f"item {i}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_ROW_KEYS)}")
            continue
        if ("variable" in item) == ("parameter" in item):
            problems.append(f"item {i}: give either variable (ADSL) or parameter (PARAMCD)")
            continue
        got = {}
        for key, kind in _ROW_KEYS.items():
            if key not in item:
                continue
            v = item[key]
            if kind == "name":
                ok = isinstance(v, str) and _NAME.match(v.strip())
                got[key] = v.strip().upper() if ok else None
            elif kind == "code":
                ok = isinstance(v, str) and _CODE.match(v.strip())
                got[key] = v.strip() if ok else None
            elif kind == "title":
                ok = isinstance(v, str) and v.strip() and len(v.strip()) <= MAX_TEXT and "\n" not in v
                got[key] = v.strip() if ok else None
            else:
                allowed = BASELINE_STATISTICS if kind == "statistic" else BASELINE_TYPES
                ok = v in allowed
                got[key] = v if ok else None
            if not ok:
                problems.append(f"item {i}: {key} {v!r} is not valid"
                                + (f" (one of {', '.join(BASELINE_STATISTICS if kind == 'statistic' else BASELINE_TYPES)})"
                                   if kind in ("statistic", "type") else ""))
        if got.get("type") == "categorical" and "statistic" in got:
            problems.append(f"item {i}: statistic applies to continuous rows only")
        rows.append(BaselineRow(**got))
    keys = [(r.variable, r.parameter) for r in rows]
    dup = sorted({str(k[0] or k[1]) for k in keys if keys.count(k) > 1})
    if dup:
        problems.append(f"listed twice: {', '.join(map(repr, dup))}")
    if problems:
        return bad("; ".join(problems))
    return tuple(rows)


def parse(text: str) -> StudyConfig:
    """Parse the text of a study.toml. Raises ConfigError listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"ERROR {CONFIG_FILE}: not valid TOML ({exc})"]) from None
    errors: list[str] = []
    values: dict[str, object] = {}
    unknown_sections = sorted(k for k in raw if k not in SCHEMA and k != "pages")
    if unknown_sections:
        errors.append(f"ERROR {CONFIG_FILE}: unknown section(s) {', '.join(f'[{s}]' for s in unknown_sections)}; "
                      f"known: {', '.join(f'[{s}]' for s in (*SCHEMA, 'pages'))}")
    for section, keys in SCHEMA.items():
        if section not in raw:
            continue
        table = raw[section]
        if not isinstance(table, dict):
            errors.append(f"ERROR {CONFIG_FILE}: {section} must be a [{section}] section")
            continue
        subtables = {k: v for k, v in table.items() if section == "datasets" and isinstance(v, dict)}
        unknown = sorted(k for k in table if k not in keys and k not in subtables)
        if unknown:
            errors.append(f"ERROR {CONFIG_FILE} [{section}]: unknown key(s) {', '.join(unknown)}; "
                          f"known: {', '.join(keys)}" + (", and [datasets.<NAME>] tables" if section == "datasets"
                                                         else ""))
        for name, sub in subtables.items():
            if not _NAME.match(name):
                errors.append(f"ERROR {CONFIG_FILE}: [datasets.{name}] is not a dataset name (letters, digits, _)")
                continue
            wrong = sorted(k for k in sub if k not in DATASET_KEYS)
            if wrong:
                errors.append(f"ERROR {CONFIG_FILE} [datasets.{name}]: unknown key(s) {', '.join(wrong)}; "
                              f"known: {', '.join(DATASET_KEYS)}")
            got = {k: _check(kind, f"[datasets.{name}] {k}", sub[k], errors)
                   for k, kind in DATASET_KEYS.items() if k in sub}
            values.setdefault("datasets.options", {})[name.upper()] = DatasetOptions(**got)
        for key, kind in keys.items():
            if key in table:
                v = _check(kind, f"[{section}] {key}", table[key], errors)
                if v is not None:
                    values[f"{section}.{key}"] = v
    pages: dict[str, PageSource] = {}
    page_text: dict[str, dict] = {}
    if "pages" in raw:
        if not isinstance(raw["pages"], dict):
            errors.append(f"ERROR {CONFIG_FILE}: pages must be [pages.<page>] sections")
        else:
            for page, table in raw["pages"].items():
                if page not in PAGES:
                    errors.append(f"ERROR {CONFIG_FILE}: unknown page [pages.{page}]; "
                                  f"known: {', '.join(f'[pages.{p}]' for p in PAGES)}")
                    continue
                if not isinstance(table, dict):
                    errors.append(f"ERROR {CONFIG_FILE}: pages.{page} must be a [pages.{page}] section")
                    continue
                keys = PAGE_KEYS_BY_PAGE[page]
                unknown = sorted(k for k in table if k not in keys)
                if unknown:
                    errors.append(f"ERROR {CONFIG_FILE} [pages.{page}]: unknown key(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(keys)}")
                got = {k: _check(kind, f"[pages.{page}] {k}", table[k], errors)
                       for k, kind in keys.items() if k in table}
                if "datasets" in table or "parcat1" in table:
                    pages[page] = PageSource(got.get("datasets") or (), got.get("parcat1") or ())
                words = {k: v for k, v in got.items() if k not in PAGE_KEYS and v is not None}
                if words:
                    page_text[page] = words
    both = set(values.get("safety.related", ())) & set(values.get("safety.not_related", ()))
    if both:
        errors.append(f"ERROR {CONFIG_FILE} [safety]: {', '.join(map(repr, sorted(both)))} listed under both "
                      f"related and not_related")
    order = values.get("arms.order", ())
    for key in ("arms.reference",):
        if key in values and order and values[key] not in order:
            errors.append(f"ERROR {CONFIG_FILE} [arms] reference: {values[key]!r} is not in [arms] order")
    if order and "arms.colours" in values:
        stray = [k for k in values["arms.colours"] if k not in order]
        if stray:
            errors.append(f"ERROR {CONFIG_FILE} [arms] colours: {', '.join(map(repr, stray))} not in [arms] order")
    if errors:
        raise ConfigError(errors)
    return StudyConfig(
        present=True,
        study_id=values.get("study.id"),
        title=values.get("study.title"),
        simulated=values.get("study.simulated"),
        encoding=values.get("study.encoding"),
        arm_variable=values.get("arms.variable"),
        efficacy_arm_variable=values.get("arms.efficacy_variable"),
        safety_arm_variable=values.get("arms.safety_variable"),
        arm_order=order,
        reference_arm=values.get("arms.reference"),
        arm_colours=values.get("arms.colours", {}),
        arm_exclude=values.get("arms.exclude"),
        include_untreated=values.get("arms.include_untreated", False),
        efficacy_flag=values.get("populations.efficacy"),
        safety_flag=values.get("populations.safety"),
        adverse_events=values.get("datasets.adverse_events"),
        exposure=values.get("datasets.exposure"),
        exclude=values.get("datasets.exclude", ()),
        dataset_options=values.get("datasets.options", {}),
        baseline_visit=values.get("visits.baseline"),
        end_visit=values.get("visits.end"),
        include_visits=values.get("visits.include", ()),
        visit_weeks=values.get("visits.weeks", {}),
        pages=pages,
        page_text=page_text,
        baseline_rows=values.get("overview.baseline", ()),
        safety=SafetyConfig(
            relatedness=values.get("safety.relatedness"),
            related=values.get("safety.related", ()),
            not_related=values.get("safety.not_related", ()),
            discontinuation=values.get("safety.discontinuation"),
        ),
    )


def load(folder: Path | str) -> StudyConfig:
    """The folder's study.toml, or the all-defaults config when there is none."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return StudyConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"ERROR {CONFIG_FILE}: unreadable ({type(exc).__name__}: {exc})"]) from None
    return parse(text)


__all__ = ["BaselineRow", "CONFIG_FILE", "ConfigError", "DatasetOptions", "PAGES", "PageSource", "PARAMETER_PAGES",
           "SafetyConfig", "StudyConfig", "load", "parse"]
