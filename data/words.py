"""What the pages say and open with, for one study: ``study.toml`` first, else the ADaM metadata.

No page hard-codes a study's words. Each page's title, heading, picker labels and default
selections come from ``[pages.<page>]`` in ``study.toml`` when given, else from what the data
says about itself: the parameters' ``PARCAT1`` and ``PARAM``, the datasets' labels (SAS files
carry them), the visits. The Overview's baseline table reads ``[overview] baseline``, else the
ADSL variables a statistician expects (``AGE``, ``AGEGR1``, ``SEX``, ``RACE``, ``ETHNIC`` and the
numeric ``*BL`` variables), with their labels. ``check`` names every key of those sections
that does not match the data (the loader refuses the folder, like any other invalid key).

Data layer: imported by the analysis (code scripts) and the pages; no Dash here.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, replace

import pandas as pd

from data.config import CONFIG_FILE, BaselineRow

# Study-neutral words of the pages, used when study.toml says nothing.
DEFAULT_TITLES = {"overview": "Overview", "trajectories": "Trajectories", "comparison": "Two-visit comparison",
                  "safety": "Safety", "patient": "Patient profile"}
# What a CDISC-named dataset holds, for a heading when the file carries no label (parquet, CSV).
DATASET_TOPICS = {"ADLB": "laboratory tests", "ADVS": "vital signs", "ADEG": "ECG", "ADQS": "questionnaires",
                  "ADPC": "pharmacokinetics", "ADPP": "PK parameters", "ADIS": "immunogenicity"}
# ADaM's standard labels of common ADSL variables, for files that do not carry labels (parquet, CSV).
STANDARD_LABELS = {"AGE": "Age", "AGEGR1": "Age group", "AGEGR2": "Age group 2", "SEX": "Sex", "RACE": "Race",
                   "ETHNIC": "Ethnicity", "COUNTRY": "Country", "REGION1": "Region", "BMIBL": "Baseline BMI",
                   "HEIGHTBL": "Baseline height", "WEIGHTBL": "Baseline weight", "EDUCLVL": "Years of education",
                   "DISDUR": "Disease duration"}
DEFAULT_BASELINE = ("AGE", "AGEGR1", "SEX", "RACE", "ETHNIC")
SEX_TEXT = {"F": "Female", "M": "Male", "U": "Unknown", "UNDIFFERENTIATED": "Undifferentiated"}
_SMALL = {"OR", "AND", "OF", "THE", "TO", "IN", "ON", "FOR", "A", "AN"}
MAX_TOPICS = 3


@dataclass(frozen=True)
class PageText:
    """The words of one page (every field a plain string the page shows as text)."""

    title: str  # navigation, deck slide titles, page-not-found list
    heading: str  # the page's H2
    subheading: str = ""  # small text after the heading
    parameter_label: str = "Parameter"  # the parameter picker's label
    noun: str = "parameter"  # what one item of the picker is ("parameter", "subset")
    single_view: str = "One parameter"
    grid_view: str = "Grid"

    @property
    def nouns(self) -> str:
        return self.noun if self.noun.endswith("s") else self.noun + "s"


@dataclass(frozen=True)
class BaselineSpec:
    """One resolved characteristic of the baseline table."""

    source: str  # "adsl" or "parameter"
    name: str  # ADSL variable or PARAMCD
    label: str
    kind: str  # "continuous", "categorical" or "flag" (Y/N: one row, the Y count)
    statistic: str = "both"  # continuous: "mean", "median" or "both"
    levels: tuple = ()  # categorical: (value, display text), in display order
    decimals: int = 1


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cached(study, key, fn):
    """fn() once per study and key (the study is immutable)."""
    return _cached(study, key, fn)


def _cached(study, key, fn):
    store = _CACHE.setdefault(study, {})
    if key not in store:
        store[key] = fn()
    return store[key]


# -- text helpers ------------------------------------------------------------------------------
def readable(text: str) -> str:
    """'CYTOKINE-PRODUCING T CELLS' -> 'cytokine-producing T cells' (upper-case text only; one-letter words stay)."""
    if not text.isupper():
        return text
    return " ".join(w if len(w) == 1 else w.lower() for w in text.split())


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def value_text(value: str) -> str:
    """An upper-case coded value for display: 'BLACK OR AFRICAN AMERICAN' -> 'Black or African American'."""
    if not value.isupper():
        return value
    words = value.split(" ")
    return " ".join(w.lower() if i and w in _SMALL else w.capitalize() for i, w in enumerate(words))


def join_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def dataset_topic(study, dataset: str) -> str:
    """A dataset's subject in words: its label ('Vital Signs Analysis Dataset' -> 'vital signs'), else ADaM's."""
    label = (getattr(study, "dataset_labels", None) or {}).get(dataset, "")
    label = re.sub(r"\b(analysis\s+)?data\s*set\b|\banalysis\b", "", label, flags=re.IGNORECASE).strip(" -:")
    if label:
        return label.lower() if label[:1].isupper() and label[1:2].islower() else label
    return DATASET_TOPICS.get(dataset, dataset)


def category_topic(study, category: str) -> str:
    """A parameter category in words: PARCAT1, or the dataset's topic when the category is the dataset."""
    datasets = {p.dataset for p in study.params.values()}
    return dataset_topic(study, category) if category in datasets else readable(category)


def topic(study, params) -> str:
    """What a set of parameters is about: its categories (≤ 3), else its datasets (≤ 3), else 'parameters'."""
    cats = list(dict.fromkeys(p.category for p in params))
    if cats and len(cats) <= MAX_TOPICS:
        return join_words([category_topic(study, c) for c in cats])
    datasets = list(dict.fromkeys(p.dataset for p in params))
    if datasets and len(datasets) <= MAX_TOPICS:
        return join_words([dataset_topic(study, d) for d in datasets])
    return "parameters"


# -- the pages' words ----------------------------------------------------------------------------
def configured(study, page: str) -> dict:
    cfg = getattr(study, "config", None)
    return dict((getattr(cfg, "page_text", None) or {}).get(page, {}))


def page_params(study, page: str) -> list:
    """The parameters a page offers (study.toml [pages.<page>] datasets / parcat1, else every parameter),
    grouped by category in the order the categories are listed there, else by dataset then category in
    catalogue order; within a category, the catalogue's (PARAMN) order."""
    chosen = list(study.params_for(page).values())
    src = (getattr(study, "page_sources", None) or {}).get(page)
    cats = list(src.parcat1) if src is not None and src.parcat1 else []
    datasets = list(dict.fromkeys(p.dataset for p in chosen))
    # a dataset's categories together (the catalogue's PARAMN order mixes datasets), in first-seen order
    ordered = sorted(chosen, key=lambda p: datasets.index(p.dataset))
    cats += [c for c in dict.fromkeys(p.category for p in ordered) if c not in cats]
    return sorted(ordered, key=lambda p: cats.index(p.category))


def page_text(study, page: str) -> PageText:
    return _cached(study, ("text", page), lambda: _page_text(study, page))


def _page_text(study, page: str) -> PageText:
    given = configured(study, page)
    title = given.get("title", DEFAULT_TITLES.get(page, page.capitalize()))
    if page == "trajectories":
        heading = f"{sentence(topic(study, page_params(study, page)))} over time, by arm"
        text = PageText(title, heading)
    elif page == "comparison":
        heading = f"{sentence(topic(study, page_params(study, page)))} at two visits, by arm"
        noun = given.get("noun", "parameter")
        text = PageText(title, heading, noun=noun, single_view=f"One {noun}")
    elif page == "overview":
        text = PageText(title, "Study overview")
    elif page == "safety":
        text = PageText(title, "Safety: adverse events")
    elif page == "patient":
        text = PageText(title, "Patient profile", subheading="one subject over time")
    else:
        text = PageText(title, title)
    words = {k: v for k, v in given.items() if k in PageText.__dataclass_fields__}
    return replace(text, **words)


def page_title(study, page) -> str:
    """The navigation title of a page module (or page id) for this study."""
    pid = page if isinstance(page, str) else page.ID
    if pid not in DEFAULT_TITLES:
        return getattr(page, "TITLE", pid)
    return page_text(study, pid).title


def population_text(study, codes) -> str:
    """The population(s) the parameters ``codes`` are analysed in, with the arm variable when efficacy and safety
    data use different ones: 'Safety population: SAFFL = 'Y' (9 of 10 subjects), by actual arm (TRT01A)'."""
    datasets = list(dict.fromkeys(study.params[c].dataset for c in codes if c in study.params))
    two = study.arm_variable_of("efficacy") != study.arm_variable_of("safety")
    out = []
    for d in datasets:
        pop = study.population_of(d)
        if pop is None:
            continue
        text = pop.text
        if two:
            kind = study.arm_kind(d)
            text += f", by {'actual' if kind == 'safety' else 'planned'} arm ({study.arm_variable_of(kind)})"
        out.append(text)
    return "; ".join(dict.fromkeys(out)) if out else "all subjects"


def _default_pool(study, page: str) -> list[str]:
    """The parameters a page may open with: those with values after baseline (a baseline-only parameter, such
    as height or an average of baseline readings, has nothing to show over time or between two visits), unless
    the page offers nothing else."""
    params = page_params(study, page)
    over_time = [p.code for p in params if getattr(p, "after_baseline", True)]
    return over_time or [p.code for p in params]


def default_parameter(study, page: str) -> str | None:
    codes = [p.code for p in page_params(study, page)]
    given = configured(study, page).get("parameter")
    pool = _default_pool(study, page)
    return given if given in codes else (pool[0] if pool else None)


def default_multiples(study, page: str = "trajectories", n: int = 4) -> list[str]:
    codes = [p.code for p in page_params(study, page)]
    given = [c for c in configured(study, page).get("multiples", ()) if c in codes]
    return given or _default_pool(study, page)[:n]


def baseline_only_warnings(study) -> list[str]:
    """WARNING lines for pages that would open on parameters with baseline values only (an empty mixed model and
    change from baseline): every parameter offered is baseline-only, or study.toml opens the page on one."""
    out = []
    for page in ("trajectories", "comparison"):
        params = page_params(study, page)
        only = [p.code for p in params if not getattr(p, "after_baseline", True)]
        if not only:
            continue
        if len(only) == len(params):
            out.append(f"WARNING {page} page: every parameter it offers has values at baseline only "
                       f"({', '.join(only[:8])}): nothing to show over time, no change from baseline, no mixed model "
                       f"([pages.{page}] datasets in study.toml chooses the datasets)")
            continue
        given = configured(study, page)
        opened = [c for c in ([given.get("parameter")] + list(given.get("multiples", ()))) if c in only]
        if opened:
            out.append(f"WARNING study.toml [pages.{page}]: {', '.join(dict.fromkeys(opened))} has values at baseline "
                       f"only: the page would open on an empty change from baseline and mixed model")
    return out


def patient_defaults(study) -> dict:
    """panels, group, extra_panels, step_panels of the Patient profile (study.toml [pages.patient])."""
    given = configured(study, "patient")
    return {"panels": list(given.get("panels", ())), "group": given.get("group"),
            "extra_panels": list(given.get("extra_panels", ())), "step_panels": list(given.get("step_panels", ()))}


# -- the Overview's baseline table ------------------------------------------------------------------
def variable_label(study, dataset: str, var: str) -> str:
    """A variable's label as the file gives it, else ADaM's standard label, else its name."""
    label = ((getattr(study, "var_labels", None) or {}).get(dataset, {}) or {}).get(var, "")
    label = " ".join(str(label).split())[:80]
    return label or STANDARD_LABELS.get(var, var)


def _age_label(study, label: str) -> str:
    adsl = study.adsl
    if "(" in label or "AGEU" not in adsl.columns:
        return label
    units = adsl["AGEU"].dropna().astype(str).str.strip()
    units = units[units != ""].unique()
    return f"{label} ({units[0].lower()})" if len(units) == 1 else label


def _is_blank(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().isin(["", "nan", "NaN", "None", "<NA>"])


def _numeric(values: pd.Series) -> pd.Series | None:
    """The values as numbers when every non-blank value is one (numeric dtype, or numbers in text)."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    blank = _is_blank(values)
    num = pd.to_numeric(values.where(~blank), errors="coerce")
    return num if len(values[~blank]) and num[~blank].notna().all() else None


def _levels(adsl: pd.DataFrame, var: str) -> tuple:
    """(value, display text) of a categorical ADSL variable, in its numeric companion's order (RACEN…)."""
    vals = adsl[var][~_is_blank(adsl[var])].astype(str).str.strip()
    uniq = list(dict.fromkeys(vals))
    companion = var + "N"
    if companion in adsl.columns and pd.api.types.is_numeric_dtype(adsl[companion]):
        order = adsl.assign(_v=adsl[var].astype(str).str.strip()).groupby("_v")[companion].min()
        uniq.sort(key=lambda v: (order.get(v, float("inf")), v))
    elif var == "SEX":
        rank = {k: i for i, k in enumerate(SEX_TEXT)}
        uniq.sort(key=lambda v: (rank.get(v.upper(), len(rank)), v))
    else:
        uniq.sort()
    if var == "SEX":
        return tuple((v, SEX_TEXT.get(v.upper(), value_text(v))) for v in uniq)
    return tuple((v, value_text(v)) for v in uniq)


def _adsl_spec(study, var: str, row: BaselineRow | None) -> BaselineSpec:
    adsl = study.adsl
    label = (row.label if row and row.label else None) or variable_label(study, "ADSL", var)
    if var == "AGE" and not (row and row.label):
        label = _age_label(study, label)
    kind = row.type if row and row.type else None
    values = adsl[var]
    num = _numeric(values)
    if kind is None:
        kind = "continuous" if num is not None else "categorical"
    if kind == "categorical":
        levels = _levels(adsl, var)
        if {v.upper() for v, _ in levels} <= {"Y", "N"} and levels:
            return BaselineSpec("adsl", var, label, "flag", levels=levels)
        return BaselineSpec("adsl", var, label, "categorical", levels=levels)
    return BaselineSpec("adsl", var, label, "continuous", statistic=(row.statistic if row and row.statistic else "both"))


def _param_spec(study, code: str, row: BaselineRow) -> BaselineSpec:
    info = study.params[code]
    meas = study.measurements
    base = meas.loc[(meas["PARAMCD"] == code) & (meas["ABLFL"].astype(str) == "Y"), "AVAL"]
    med = base.abs().median() if len(base) else 0
    return BaselineSpec("parameter", code, row.label or info.name, "continuous",
                        statistic=row.statistic or "both", decimals=2 if med < 10 else 1)


def default_baseline_variables(study) -> list[str]:
    """AGE, AGEGR1, SEX, RACE, ETHNIC and the numeric *BL variables of ADSL, in that order."""
    adsl = study.adsl
    out = [v for v in DEFAULT_BASELINE if v in adsl.columns and (~_is_blank(adsl[v])).any()]
    for c in adsl.columns:
        if c.endswith("BL") and c not in out and _numeric(adsl[c]) is not None and adsl[c].notna().any():
            out.append(c)
    return out


def baseline_specs(study) -> list[BaselineSpec]:
    return _cached(study, "baseline", lambda: _baseline_specs(study))


def _baseline_specs(study) -> list[BaselineSpec]:
    rows = tuple(getattr(study.config, "baseline_rows", ()) or ())
    if not rows:
        return [_adsl_spec(study, v, None) for v in default_baseline_variables(study)]
    out = []
    for r in rows:
        if r.variable:
            if r.variable in study.adsl.columns:
                out.append(_adsl_spec(study, r.variable, r))
        elif r.parameter in study.params:
            out.append(_param_spec(study, r.parameter, r))
    return out


# -- study.toml keys checked against the data --------------------------------------------------------
def check(study) -> list[str]:
    """One ERROR line per [pages.*] / [overview] / [safety] key of study.toml that does not match the data."""
    cfg = study.config
    errors: list[str] = []

    def err(where, msg):
        errors.append(f"ERROR {CONFIG_FILE} {where}: {msg}")

    def codes_text(codes):
        codes = list(codes)
        return ", ".join(codes[:12]) + (f" (+{len(codes) - 12} more)" if len(codes) > 12 else "") if codes else "none"

    for page in ("trajectories", "comparison"):
        given = configured(study, page)
        offered = [p.code for p in page_params(study, page)]
        for key in ("parameter", "multiples"):
            vals = given.get(key)
            if vals is None:
                continue
            missing = [c for c in ((vals,) if isinstance(vals, str) else vals) if c not in offered]
            if missing:
                err(f"[pages.{page}] {key}", f"{', '.join(map(repr, missing))} is not a parameter this page offers "
                                             f"(PARAMCD: {codes_text(offered)})")
    pat = configured(study, "patient")
    for key in ("panels", "extra_panels", "step_panels"):
        missing = [c for c in pat.get(key, ()) if c not in study.params]
        if missing:
            err(f"[pages.patient] {key}", f"no parameter {', '.join(map(repr, missing))} "
                                          f"(PARAMCD: {codes_text(study.params)})")
    if "group" in pat:
        cats = list(dict.fromkeys(p.category for p in study.params.values()))
        if pat["group"] not in cats:
            err("[pages.patient] group", f"no parameter category {pat['group']!r} "
                                         f"(PARCAT1 or dataset: {', '.join(map(repr, cats)) or 'none'})")
    for r in getattr(cfg, "baseline_rows", ()) or ():
        if r.variable and r.variable not in study.adsl.columns:
            err("[overview] baseline", f"{r.variable} is not a variable of ADSL")
        elif r.parameter and r.parameter not in study.params:
            err("[overview] baseline", f"no parameter {r.parameter!r} (PARAMCD: {codes_text(study.params)})")
        elif r.parameter and not (study.measurements.loc[study.measurements["PARAMCD"] == r.parameter, "ABLFL"]
                                  .astype(str) == "Y").any():
            err("[overview] baseline", f"parameter {r.parameter!r} has no baseline record (ABLFL = 'Y')")
        elif r.variable and r.type != "categorical" and r.statistic and _numeric(study.adsl[r.variable]) is None:
            err("[overview] baseline", f"{r.variable} is not numeric: a statistic ({r.statistic}) does not apply")
    saf = getattr(cfg, "safety", None)
    if saf is not None:
        if saf.relatedness:
            if study.adae is None:
                err("[safety] relatedness", "there is no adverse-event dataset")
            elif saf.relatedness not in study.adae.columns:
                err("[safety] relatedness", f"{saf.relatedness} is not a variable of the adverse-event dataset")
        if saf.discontinuation:
            frame = study.adae if saf.discontinuation == "AEACN" else study.adsl
            where = "the adverse-event dataset" if saf.discontinuation == "AEACN" else "ADSL"
            if frame is None or saf.discontinuation not in frame.columns:
                err("[safety] discontinuation", f"{saf.discontinuation} is not a variable of {where}")
    return errors


__all__ = ["BaselineSpec", "PageText", "baseline_only_warnings", "baseline_specs", "check", "default_multiples", "default_parameter",
           "page_params", "page_text", "population_text", "page_title", "patient_defaults", "readable", "value_text", "variable_label"]


def take_labels(tables: dict) -> tuple[dict, dict]:
    """({dataset: {variable: label}}, {dataset: label}) from the frames the readers return; the frames'
    ``attrs`` are emptied (pandas copies attrs along every operation on a frame)."""
    var_labels, dataset_labels = {}, {}
    for name, (_file, df) in tables.items():
        attrs = dict(df.attrs)
        df.attrs = {}
        var_labels[name] = dict(attrs.get("labels") or {})
        dataset_labels[name] = str(attrs.get("label") or "")
    return var_labels, dataset_labels


def category_label(study, category: str) -> str | None:
    """A category named after its dataset (no PARCAT1), in words for a picker or a panel: 'ADVS' -> 'Vital
    signs' (the dataset's label, else ADaM's). None for a PARCAT1 category (the page words those itself)."""
    if category in {p.dataset for p in study.params.values()}:
        return sentence(dataset_topic(study, category))
    return None
