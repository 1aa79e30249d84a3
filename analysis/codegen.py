"""Runnable Python scripts that rebuild a figure's numbers and statistics from the dataset files.

Each page's "Show code" panel shows one of these scripts: plain pandas + scipy +
statsmodels + plotly, nothing imported from this app, so a statistician can check any
number independently. The scripts are generated from the page's *validated* state
(arm labels, parameter codes, visits and options the callback accepted); every string
that reaches the script is written with ``repr()`` and comments are reduced to one
printable line, so nothing a client sends can become code.

The data rules the app applies when it loads a study are spelled out at the top of each
script: population flag, analysis records (``ANL01FL``), the treatment variable, the
scheduled visits of the time axis. No Dash imports here.
"""

from __future__ import annotations

import datetime as _dt
import functools
import textwrap
from pathlib import Path

import numpy as np

from analysis import trajectory as T
from data import words as W

# -- small helpers -------------------------------------------------------------------------------
SCALE_COLUMN = {"raw": "AVAL", "chg": "CHG", "pchg": "PCHG"}
SCALE_WORDS = {"raw": "value", "chg": "change from baseline", "pchg": "% change from baseline"}


def comment(text) -> str:
    """One comment line's text: printable characters only (no line break can end the comment)."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text))


def lit(x) -> str:
    """A Python literal for validated data: strings by repr(), floats exactly, lists/tuples of those."""
    if isinstance(x, bool) or x is None:
        return repr(x)
    if isinstance(x, (int, np.integer)):
        return repr(int(x))
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, str):
        return repr(x)
    if isinstance(x, tuple):
        return "(" + ", ".join(lit(v) for v in x) + ("," if len(x) == 1 else "") + ")"
    if isinstance(x, list):
        return "[" + ", ".join(lit(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{lit(k)}: {lit(v)}" for k, v in x.items()) + "}"
    raise TypeError(f"no literal for {type(x).__name__}")


def assign(name: str, value, note: str = "", width: int = 110) -> list[str]:
    """``NAME = literal  # note``; a long list or dict is written one item per line."""
    one = f"{name} = {lit(value)}" + (f"  # {comment(note)}" if note else "")
    if len(one) <= width or not isinstance(value, (list, dict)) or not value:
        return [one]
    if isinstance(value, dict):
        items = [f"    {lit(k)}: {lit(v)}," for k, v in value.items()]
        opening, closing = "{", "}"
    else:
        items = [f"    {lit(v)}," for v in value]
        opening, closing = "[", "]"
    return [f"{name} = {opening}" + (f"  # {comment(note)}" if note else ""), *items, closing]


def _file_of(study, dataset: str) -> str:
    return study.datasets[dataset]


def read_expr(study, dataset: str) -> str:
    """``pd.read_…(DATA / 'file')`` for the file that holds ``dataset``."""
    file = _file_of(study, dataset)
    path = f"DATA / {lit(file)}"
    suffix = Path(file).suffix.lower()
    enc = study.config.encoding if getattr(study, "config", None) is not None else None
    if suffix == ".parquet":
        return f"pd.read_parquet({path})"
    if suffix == ".csv":
        return f"pd.read_csv({path}, dtype={{'USUBJID': str}}, encoding={lit(enc or 'utf-8')})"
    if suffix == ".xpt":
        return f"pd.read_sas({path}, format='xport', encoding={lit(enc or 'utf-8')})"
    return f"pd.read_sas({path}, format='sas7bdat', encoding={lit(enc or 'infer')})"


@functools.lru_cache(maxsize=64)
def _columns_of(path: str, mtime: float) -> tuple[str, ...]:
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return tuple(pq.read_schema(p).names)
    from data.study import read_dataset

    return tuple(read_dataset(p)[0].columns)


def file_columns(study, dataset: str) -> tuple[str, ...]:
    p = Path(study.folder) / _file_of(study, dataset)
    try:
        return _columns_of(str(p), p.stat().st_mtime)
    except OSError:
        return ()


def filter_text(study, state) -> str:
    """The filters in force, as the CSV exports and the figure captions say them."""
    arms = ", ".join(state.arm_labels(study)) if state.arms else "all arms"
    weeks = f"{getattr(study, 'time_word', 'week')}s {state.weeks[0]:g}–{state.weeks[1]:g}"
    patients = ", ".join(state.patients) if state.patients else "all patients"
    return f"{arms}; {weeks}; {patients}"


def _visit_words(study, visit) -> str:
    return "the end of the timepoint window" if visit is None else study.visit_label(visit)


def header(study, title: str, state, view: str, needs: str, stats_files: bool = False) -> list[str]:
    lk = study.lock
    lines = [f"# {comment(study.study_id)} · {comment(title)}"]
    if study.simulated:
        lines.append("# SIMULATED DATA — not the trial's results.")
    lock = f"locked {lk.lock_date}" if lk.locked else "UNLOCKED dataset"
    lines += [
        f"# Dataset: {comment(Path(study.folder).resolve())} ({comment(lock)}, fingerprint {comment(lk.short)}).",
        *[f"# {x}" for x in textwrap.wrap(f"Filters: {comment(filter_text(study, state))}.", 112,
                                          subsequent_indent="  ")],
        *[f"# {x}" for x in textwrap.wrap(f"View: {comment(view)}.", 112, subsequent_indent="  ")],
        f"# Generated {_dt.date.today().isoformat()} by the trial results explorer. Needs {needs};",
        ("# and two self-contained files of the app (below), nothing else from it. Run: python this_file.py."
         if stats_files else
         "# nothing from the app. Run: python this_file.py (prints the numbers, opens the figure)."),
    ]
    return lines


def _blinded(study) -> bool:
    """The blinded view of a study (data.blinding): every subject in one group, no arm variable."""
    return bool(getattr(study, "blinded_view", False))


def arm_of_line(study, target: str, adsl: str, kind: str | None = None) -> str:
    """``target`` = USUBJID -> arm: the arm variable (of the data ``kind``: planned for efficacy, actual for
    safety, when the study has both), or in a blinded view the one pooled group."""
    if _blinded(study):
        return f"{target} = pd.Series({lit(study.arms[0].label)}, index={adsl}['USUBJID'])  # blinded view: one group"
    if kind is not None and two_arms(study):
        what = ("actual" if kind == "safety" else "planned") + " treatment arm"
        return f"{target} = {adsl}.set_index('USUBJID')[{lit(_arm_var(study, kind))}].astype(str)  # {what}"
    return f"{target} = {adsl}.set_index('USUBJID')[{lit(study.arm_variable)}].astype(str)  # treatment arm"


def arm_constants(study, labels) -> list[str]:
    arms = [study.arm_by_label[a] for a in labels]
    source = "blinded view: all subjects in one group" if _blinded(study) else comment(study.arm_variable)
    return [
        f"ARMS = {lit(list(labels))}  # arms in the filter ({source}), display order",
        f"COLOURS = {lit([a.colour for a in arms])}",
    ]


def two_arms(study) -> bool:
    """Efficacy data by the planned arm and safety data by the actual arm, from two ADSL variables."""
    v = getattr(study, "arm_variables", None) or {}
    return bool(v) and v.get("efficacy") != v.get("safety") and not _blinded(study)  # blinded: one pooled group


def _arm_var(study, kind: str) -> str:
    return study.arm_variable_of("safety" if kind == "safety" else "efficacy") if two_arms(study) \
        else study.arm_variable


def untreated_lines(study, var: str = "adsl", kind: str = "safety") -> list[str]:
    """The subjects the app leaves out of the arms although their arm value is an arm: without any population
    flag in ADSL, those without TRTSDT (never treated) — out of the actual (safety) arms only when the planned
    arm is another variable. Screen failures' arm values are not in ARMS anyway."""
    from data.adam import POPULATION_FLAGS

    cfg = getattr(study, "config", None)
    if any(f in study.adsl.columns for f in POPULATION_FLAGS) or "TRTSDT" not in study.adsl.columns \
            or (cfg is not None and cfg.include_untreated) or (two_arms(study) and kind != "safety"):
        return []
    return [f"{var} = {var}[{var}['TRTSDT'].notna()]  # no population flag: a subject without TRTSDT is in no arm"]


def population_lines(study, kind: str, subjects_var: str = "arm_of") -> list[str]:
    """``arm_of``: USUBJID -> arm, for the subjects of the population ``kind`` (efficacy / safety)."""
    flag = study.efficacy_flag if kind == "efficacy" else study.safety_flag
    lines = [f"adsl = {read_expr(study, 'ADSL')}", *untreated_lines(study, kind=kind)]
    if flag:
        lines.append(f"adsl = adsl[adsl[{lit(flag)}] == 'Y']  # {kind} population")
    lines.append(arm_of_line(study, subjects_var, "adsl", kind))
    return lines


def subjects_lines(study, datasets: list[str], var: str = "adsl") -> list[str]:
    """``adsl`` (``var``) of the subjects in an arm, ``arm_of`` (USUBJID -> arm) and ``POPULATION`` (kind ->
    USUBJIDs) for the populations the ``datasets`` are analysed in (safety data: the safety population;
    efficacy data: the efficacy population). With two arm variables, ``ARM_OF`` (kind -> USUBJID -> arm):
    efficacy data by the planned arm, safety data by the actual arm."""
    adsl = var
    if two_arms(study):
        eff, saf = study.arm_variable_of("efficacy"), study.arm_variable_of("safety")
        treated = untreated_lines(study, adsl, "safety")
        lines = [f"{adsl} = {read_expr(study, 'ADSL')}",
                 f"arm_of = {adsl}.set_index('USUBJID')[{lit(eff)}].astype(str)  # planned arm: efficacy data",
                 *([f"treated = {adsl}[{adsl}['TRTSDT'].notna()]  # no population flag: without TRTSDT, no actual arm"]
                   if treated else []),
                 f"ARM_OF = {{'efficacy': arm_of, 'safety': {'treated' if treated else adsl}.set_index('USUBJID')"
                 f"[{lit(saf)}].astype(str)}}  # actual arm: safety data",
                 "POPULATION = {"]
    else:
        lines = [f"{adsl} = {read_expr(study, 'ADSL')}", *untreated_lines(study, adsl),
                 arm_of_line(study, "arm_of", adsl),
                 "POPULATION = {"]
    kinds = list(dict.fromkeys(study.record_rules.get(d, {}).get("population", "efficacy") for d in datasets))
    for kind in kinds:
        pop = study.populations.get(kind)
        flag = pop.flag if pop is not None else None
        expr = f"set({adsl}.loc[{adsl}[{lit(flag)}] == 'Y', 'USUBJID'])" if flag else f"set({adsl}['USUBJID'])"
        lines.append(f"    {lit(kind)}: {expr},")
    lines.append("}")
    return lines


def _dataset_lines(study, dataset: str, imputed: bool) -> list[str]:
    """Read one BDS file into ``d`` and keep the records the app analyses (see ``data.adam``); with
    ``imputed``, the sponsor's imputed records at visits without an observed value go into ``imp``."""
    r = study.record_rules.get(dataset, {})
    cols = set(file_columns(study, dataset))
    kinds = sorted({k for p in study.params.values() if p.dataset == dataset for k in p.imputations})
    imputed = imputed and bool(kinds)
    file = _file_of(study, dataset)
    L = [f"# {comment(dataset)} ({comment(file)}): the app's records (README, 'Use your own study')",
         f"d = {read_expr(study, dataset)}"]
    text = [c for c in ("AVISIT", "ABLFL", "DTYPE", "BASETYPE", r.get("flag")) if c and c in cols]
    if text:
        L.append(f"for c in {lit(text)}:  # text as read: blanks may be missing values")
        L.append("    d[c] = d[c].fillna('').astype(str).str.strip()")
    obs = "(d['DTYPE'] == '')" if r.get("dtype") else None
    rule = r.get("baseline")
    if rule is None:
        L.append("d['ABLFL'] = np.where(d['ABLFL'].str.upper() == 'Y', 'Y', '')  # the baseline record")
    elif rule:
        var, val = rule
        cond = (f"d['AVISIT'].str.lower() == {lit(val)}" if var == "AVISIT" and val == "baseline"
                else f"d[{lit(var)}] == {lit(val)}")
        L.append(f"d['ABLFL'] = np.where(({cond})" + (f" & {obs}" if obs else "") +
                 ", 'Y', '')  # no ABLFL in the file: the app's baseline rule")
    else:
        L.append("d['ABLFL'] = ''  # no baseline record")
    if r.get("timepoints"):
        L += [f"multi = d['PARAMCD'].isin({lit(r['timepoints'])}) & d['ATPTN'].notna()  # one parameter per "
              f"timepoint (ATPTN)",
              "d.loc[multi, 'PARAMCD'] = d.loc[multi, 'PARAMCD'] + '@' + d.loc[multi, 'ATPTN'].map('{:g}'.format)"]
    if r.get("basetype"):
        L += [*assign("BASETYPE", r["basetype"], "the baseline definition analysed, per parameter"),
              "d = d[d['BASETYPE'] == d['PARAMCD'].map(BASETYPE)]"]
    by = r.get("time_by", "AVISIT")
    L += [*assign("VISIT_TIME", r.get("time", {}), f"{by} -> position on the time axis "
                                                   f"({'study week' if study.time_unit == 'week' else 'AVISITN'})"),
          f"d['TIME'] = d[{lit(by)}].map(VISIT_TIME)  # unscheduled and derived visits: none",
          "base = d['ABLFL'] == 'Y'",
          "d.loc[base, 'TIME'] = 0.0  # the baseline record at 0, whatever its visit"]
    cut = float(r.get("cut", 0.0))
    post = f"(d['TIME'] > {lit(cut)})" + (f" & {obs}" if obs else "")
    if imputed and r.get("dtype"):
        L.append(f"imp = d[~base & d['DTYPE'].isin({lit(kinds)}) & (d['TIME'] > {lit(cut)})]  # the sponsor's imputed "
                 f"records")
    flag = r.get("flag")
    if flag:
        post += f" & (d[{lit(flag)}] == 'Y')"
    L.append(f"d = d[base | ({post})]  # baseline + observed records after it"
             + (f"; {comment(flag)} as the app applies it" if flag else ""))
    if imputed and r.get("dtype"):
        L += ["imp = imp.merge(d[['USUBJID', 'PARAMCD', 'TIME']], how='left', indicator=True)",
              "imp = imp[imp['_merge'] == 'left_only'].drop(columns='_merge')  # only where nothing was observed",
              "imp = imp.drop_duplicates(['USUBJID', 'PARAMCD', 'TIME'])"]
    derive = r.get("derive", [])
    targets = ["d", "imp"] if imputed and r.get("dtype") else ["d"]
    if derive:
        L.append(f"# {', '.join(derive)} not in the file: derived as ADaM defines them")
        if "BASE" in derive:
            L.append("base_value = d[d['ABLFL'] == 'Y'].drop_duplicates(['USUBJID', 'PARAMCD'])"
                     ".set_index(['USUBJID', 'PARAMCD'])['AVAL']")
        for x in targets:
            if "BASE" in derive:
                L.append(f"{x}['BASE'] = base_value.reindex(pd.MultiIndex.from_frame({x}[['USUBJID', 'PARAMCD']]))"
                         f".to_numpy()")
            if "CHG" in derive:
                L.append(f"{x}['CHG'] = ({x}['AVAL'] - {x}['BASE']).where({x}['ABLFL'] != 'Y')")
            if "PCHG" in derive:
                L.append(f"{x}['PCHG'] = (100 * ({x}['AVAL'] - {x}['BASE']) / {x}['BASE'].where({x}['BASE'] != 0))"
                         f".where({x}['ABLFL'] != 'Y')")
    kind = r.get("population", "efficacy")
    for x in targets:
        L.append(f"{x} = {x}[{x}['USUBJID'].isin(POPULATION[{lit(kind)}])]  # {kind} data: the {kind} population")
        if two_arms(study):
            arm = "safety" if kind == "safety" else "efficacy"
            L.append(f"{x}['ARM'] = {x}['USUBJID'].map(ARM_OF[{lit(arm)}])  # {kind} data: the "
                     f"{'actual' if arm == 'safety' else 'planned'} arm")
    L.append("parts.append(d.assign(DTYPE=''))" if targets == ["d"] else
             "parts += [d.assign(DTYPE=''), imp.assign(DTYPE=imp['DTYPE'])]")
    return L


def bds_lines(study, datasets: list[str], codes_expr: str, var: str, visits_expr: str, imputed: bool = False
              ) -> list[str]:
    """Read the BDS file(s) and keep the records the app analyses (per dataset: its time axis, baseline,
    timepoints, baseline definition, analysis flag, population), of ``codes_expr`` at ``visits_expr``; attach
    the arm. ``imputed``: with the sponsor's imputed records where no value was observed (DTYPE says which)."""
    L = ["parts = []"]
    for dataset in datasets:
        L += _dataset_lines(study, dataset, imputed)
    L += [
        f"{var} = pd.concat(parts, ignore_index=True)",
        f"{var} = {var}[{var}['PARAMCD'].isin({codes_expr}) & {var}['TIME'].isin({visits_expr})].copy()",
        *([] if two_arms(study) else [f"{var}['ARM'] = {var}['USUBJID'].map(arm_of)"]),
        f"{var} = {var}[{var}['ARM'].isin(ARMS)]",
    ]
    return L


def pair_arm(study) -> str:
    """The expression of the arm of each subject (``pairs``' index) of one parameter's rows ``d``."""
    return "d.groupby('USUBJID')['ARM'].first()" if two_arms(study) else "arm_of"


STATS_DIR = Path(__file__).resolve().parent  # analysis/: mmrm.py and ranktests.py are self-contained
MM_FORMULA = "{outcome} ~ BASE + ARM + VISIT + ARM × VISIT + BASE × VISIT"


def stats_modules_lines(names=("ranktests",)) -> list[str]:
    """Load the app's self-contained statistics modules (numpy/scipy only) as plain files: from beside
    this script when copied there, else from the app's analysis folder."""
    return [
        "",
        "",
        "def load(name):",
        '    """The app\'s statistics module `name`.py, loaded as a file (numpy and scipy only, no app imports)."""',
        "    folder = Path(__file__).resolve().parent",
        "    folder = folder if (folder / f'{name}.py').exists() else STATS_DIR",
        "    spec = importlib.util.spec_from_file_location(name, folder / f'{name}.py')",
        "    module = sys.modules[name] = importlib.util.module_from_spec(spec)",
        "    spec.loader.exec_module(module)",
        "    return module",
        "",
        "",
        f"{', '.join(names)} = " + ", ".join(f"load({lit(n)})" for n in names),
    ]


STATS_HEADER = ("# Statistics: the app's own rank-test (ranktests.py) and MMRM (mmrm.py) modules, self-contained files"
                " (numpy/scipy only),")
STATS_HEADER2 = "#   loaded like a statistics package: copy them beside this script or keep STATS_DIR pointing at them."


def _main(lines: list[str], body: list[str]) -> list[str]:
    return lines + ["", "", 'if __name__ == "__main__":', '    pd.set_option("display.width", 200)',
                    '    pd.set_option("display.max_columns", 40)'] + ["    " + b for b in body]


# -- Trajectories -----------------------------------------------------------------------------------
def trajectories_script(study, state, ctl: dict, sctl: dict, labels, subjects, restricted: bool = False) -> str:
    """The trajectory figure's summaries and the within-arm / MMRM statistics.

    ``ctl``/``sctl``: the validated controls of ``components.trajectories``; ``labels``: arm labels
    shown; ``subjects``: the subjects summarised; ``restricted``: summaries restricted to the
    chosen patients (then ``subjects`` are those patients).
    """
    subjects_restricted = list(subjects) if restricted else None
    codes = list(ctl["codes"])
    scale, stat, log = ctl["scale"], ctl["stat"], ctl["log"]
    col = SCALE_COLUMN[scale]
    outcome = "PCHG" if scale == "pchg" else "CHG"
    multi = len(codes) > 1
    adjust = sctl["adjust"] if multi else "none"
    ref = study.arm_by_code[sctl["ref"]].label
    compare = {c: T.effective_visit(sctl["visit"], study.params[c].visits, state.weeks) for c in codes}
    compare = {c: v for c, v in compare.items() if v is not None}
    datasets = list(dict.fromkeys(study.params[c].dataset for c in codes))
    normal = {c: (study.params[c].lo, study.params[c].hi) for c in codes
              if study.params[c].lo is not None and study.params[c].hi is not None}
    meas = study.measurements
    positive = {c: bool((T.select(meas, c, labels, subjects)["AVAL"].dropna() > 0).all()) for c in codes}
    log_t = {c: bool(log and positive[c]) for c in codes}
    what = ("geometric mean ± 95% CI" if log else "mean ± 95% CI") if stat == "mean" else "median, IQR"
    view = (f"{', '.join(study.params[c].name for c in codes)}; {SCALE_WORDS[scale]}, {what}; "
            f"comparison visit {_visit_words(study, sctl['visit'])}; "
            f"MMRM reference {ref}, covariance {sctl.get('cov', 'UN')}, df {sctl.get('ddfm', 'kr')}"
            + (f"; multiplicity {adjust}" if multi else ""))
    needs = "pandas, pyarrow, numpy, scipy, statsmodels, plotly"
    L = header(study, f"{W.page_title(study, 'trajectories')}: trajectories by arm, with their statistics", state,
               view, needs, stats_files=True)
    L += [STATS_HEADER, STATS_HEADER2]
    L += [
        "import importlib.util",
        "import sys",
        "from pathlib import Path",
        "",
        "import numpy as np",
        "import pandas as pd",
        "import plotly.graph_objects as go",
        "from scipy import stats",
    ]
    if multi and adjust != "none":
        L.append("from statsmodels.stats.multitest import multipletests")
    L += ["", f"DATA = Path({lit(str(Path(study.folder).resolve()))})",
          f"STATS_DIR = Path({lit(str(STATS_DIR))})  # the app's analysis folder"]
    L += arm_constants(study, labels)
    L += [
        f"WEEKS = {lit(tuple(float(w) for w in state.weeks))}  # timepoint window (TIME, inclusive)",
        f"VISITS = {lit([float(v) for v in study.visit_numbers])}  # scheduled visits (the time axis)",
        *assign("PARAMS", codes),
        f"SCALE = {lit(col)}  # AVAL value | CHG change | PCHG % change from baseline",
        *assign("COMPARE_AT", compare, "comparison visit vs baseline, per parameter"),
        f"REFERENCE = {lit(ref)}  # MMRM reference arm",
        f"COVARIANCE = {lit(sctl.get('cov', 'UN'))}  # MMRM covariance (SAS TYPE=); falls back UN, TOEPH, ARH1, CS",
        f"DF_METHOD = {lit(sctl.get('ddfm', 'kr'))}  # 'kr' Kenward–Roger (SAS) | 'kr-expected' (pbkrtest) | "
        "'satterthwaite'",
    ]
    if normal:
        L += assign("NORMAL", normal, "normal range (ANRLO, ANRHI)")
    if subjects_restricted is not None:
        L += assign("PATIENTS", list(subjects_restricted), "summaries restricted to the chosen patients")
    imputed = bool(ctl.get("imputed"))
    L += ["", "# -- data: the app's rules when it loads the study"]
    L += subjects_lines(study, datasets)
    L += bds_lines(study, datasets, "PARAMS", "bds", "VISITS", imputed)
    if subjects_restricted is not None:
        L.append("bds = bds[bds['USUBJID'].isin(PATIENTS)]")
    L.append("observed = bds[bds['DTYPE'] == '']  # the mixed model uses observed values only" if imputed else
             "observed = bds")
    L += stats_modules_lines(("ranktests", "mmrm"))
    # -- summaries
    L += ["", "def summarise(d):",
          '    """n, mean, SD, t-based 95% CI of the mean, median and quartiles (type 7) per arm and visit."""',
          "    g = d.groupby(['ARM', 'TIME'])['y']",
          "    s = g.agg(n='count', mean='mean', sd='std', median='median').reset_index()",
          "    s['q1'], s['q3'] = g.quantile(0.25).to_numpy(), g.quantile(0.75).to_numpy()",
          "    half = stats.t.ppf(0.975, s['n'] - 1) * s['sd'] / np.sqrt(s['n'])",
          "    s['ci_low'], s['ci_high'] = s['mean'] - half, s['mean'] + half"]
    if log and stat == "mean":
        L += ["    lg = np.log(d['y'].where(d['y'] > 0)).groupby([d['ARM'], d['TIME']])  # geometric mean",
              "    m, se = lg.mean().to_numpy(), (lg.std() / np.sqrt(lg.count())).to_numpy()",
              "    q = stats.t.ppf(0.975, lg.count().to_numpy() - 1)",
              "    s['gmean'], s['gci_low'], s['gci_high'] = np.exp(m), np.exp(m - q * se), np.exp(m + q * se)"]
    L += ["    return s", ""]
    if stat == "mean" and log:
        y, lo, hi = "gmean", "gci_low", "gci_high"
    elif stat == "mean":
        y, lo, hi = "mean", "ci_low", "ci_high"
    else:
        y, lo, hi = "median", "q1", "q3"
    L += ["", "summaries, figures = {}, {}", "for code in PARAMS:",
          "    d = bds[(bds['PARAMCD'] == code) & bds['TIME'].between(*WEEKS)].copy()",
          "    d['y'] = d[SCALE]"]
    if scale == "chg":
        L.append("    d.loc[(d['ABLFL'] == 'Y') & d['AVAL'].notna(), 'y'] = 0.0  # 0 at baseline by definition")
    elif scale == "pchg":
        L.append("    d.loc[(d['ABLFL'] == 'Y') & (d['BASE'] != 0) & d['AVAL'].notna(), 'y'] = 0.0  # 0 at baseline")
    L += ["    s = summaries[code] = summarise(d.dropna(subset=['y']))",
          "    fig = go.Figure()"]
    if normal and scale == "raw":
        L += ["    if code in NORMAL:",
              "        fig.add_hrect(y0=NORMAL[code][0], y1=NORMAL[code][1], fillcolor='#2f855a', opacity=0.12, "
              "line_width=0)"]
    L += ["    for arm, colour in zip(ARMS, COLOURS):",
          "        a = s[s['ARM'] == arm]",
          f"        up, down = a[{lit(hi)}] - a[{lit(y)}], a[{lit(y)}] - a[{lit(lo)}]",
          f"        fig.add_scatter(x=a['TIME'], y=a[{lit(y)}], name=arm, mode='lines+markers', line_color=colour,",
          "                        error_y=dict(type='data', array=up, arrayminus=down))",
          f"    fig.update_layout(title=f'{{code}}: {what}, {SCALE_WORDS[scale]}', "
          f"xaxis_title={lit(study.time_title)})"]
    if log:
        L.append("    fig.update_yaxes(type='log')")
    L.append("    figures[code] = fig")
    # -- within-arm tests
    t_lines = ["        t = stats.ttest_rel(p['b'], p['a'])  # paired t: mean difference",
               "        ci = t.confidence_interval()",
               "        t_est, t_low, t_high = (p['b'] - p['a']).mean(), ci.low, ci.high"]
    if any(log_t.values()):
        t_lines = ["        if LOG_T[code]:  # paired t on log values: geometric mean ratio",
                   "            t = stats.ttest_rel(np.log(p['b']), np.log(p['a']))",
                   "            ci = t.confidence_interval()",
                   "            t_est, t_low, t_high = np.exp((np.log(p['b']) - np.log(p['a'])).mean()), "
                   "np.exp(ci.low), np.exp(ci.high)",
                   "        else:"] + ["    " + x for x in t_lines]
        L.insert(L.index(f"REFERENCE = {lit(ref)}  # MMRM reference arm") + 1,
                 f"LOG_T = {lit(log_t)}  # paired t on log values (log axis, positive values)")
    L += ["", "", "# -- within arm: baseline vs the comparison visit (Wilcoxon signed-rank + Hodges–Lehmann; paired t)",
          "within = []",
          "for code, visit in COMPARE_AT.items():",
          "    d = bds[bds['PARAMCD'] == code]",
          "    b0 = d.loc[d['ABLFL'] == 'Y', 'TIME'].min()  # the baseline visit",
          "    pairs = pd.concat({'a': d[d['TIME'] == b0].set_index('USUBJID')['AVAL'],",
          "                       'b': d[d['TIME'] == visit].set_index('USUBJID')['AVAL']}, axis=1, join='inner').dropna()",
          f"    pairs['ARM'] = pairs.index.map({pair_arm(study)})",
          "    for arm in ARMS:",
          "        p = pairs[pairs['ARM'] == arm]",
          "        if len(p) < 3:",
          "            within.append(dict(PARAMCD=code, ARM=arm, week=visit, n_pairs=len(p), note='too few pairs'))",
          "            continue",
          "        w = ranktests.signed_rank(ranktests.changes(p['a'], p['b'])[0])  # = R wilcox.test(b, a, paired=TRUE)",
          "        p_w = w.p_value if w.n else np.nan  # all differences zero: no test",
          "        hl, hl_low, hl_high = w.estimate, w.ci_low, w.ci_high",
          *t_lines,
          "        within.append(dict(PARAMCD=code, ARM=arm, week=visit, n_pairs=len(p), hl=hl, hl_low=hl_low,",
          "                           hl_high=hl_high, p_wilcoxon=p_w, t_estimate=t_est,",
          "                           t_low=t_low, t_high=t_high, p_t=t.pvalue))",
          "within = pd.DataFrame(within)"]
    # -- MMRM
    L += ["", "# -- between arms: MMRM (mmrm.py): " + comment(MM_FORMULA.format(outcome=outcome)) + ", REML, every",
          "#    subject with the visits it has; LS-mean difference vs REFERENCE at the comparison visit",
          "mmrm_rows = []",
          "for code, visit in COMPARE_AT.items():",
          "    d = observed[observed['PARAMCD'] == code]",
          "    b0 = d.loc[d['ABLFL'] == 'Y', 'TIME'].min()",
          "    m = d[d['TIME'].between(max(WEEKS[0], b0), WEEKS[1]) | (d['ABLFL'] == 'Y')]",
          "    m = m.assign(AVISITN=m['TIME'])  # mmrm.py's visit column: the position on the time axis",
          f"    res = mmrm.fit_mmrm(m, REFERENCE, visit, ARMS, outcome={lit(outcome)}, structure=COVARIANCE, "
          "df_method=DF_METHOD)",
          "    for c in res.contrasts:",
          "        mmrm_rows.append(dict(PARAMCD=code, ARM=c.arm, vs=REFERENCE, week=visit, n_arm=c.n_arm, n_ref=c.n_ref,",
          "                              estimate=c.estimate, ci_low=c.ci_low, ci_high=c.ci_high, p=c.p_value, df=c.df,",
          "                              covariance=res.structure, note=c.note or res.note or res.fallback_note))",
          "mmrm = pd.DataFrame(mmrm_rows)"]
    if multi and adjust != "none":
        L += ["", f"# -- multiplicity: {comment(adjust)} across the parameters, separately for each test and arm",
              f"for frame, cols in ((within, ['p_wilcoxon', 'p_t']), (mmrm, ['p'])):",
              "    for c in cols:",
              "        if c in frame:",
              "            ok = frame[c].notna()",
              f"            frame.loc[ok, c + '_adj'] = frame[ok].groupby('ARM')[c].transform(",
              f"                lambda p: multipletests(p, method={lit(adjust)})[1])"]
    L = _main(L, ["for code, s in summaries.items():",
                  "    print(code, SCALE)",
                  "    print(s.round(4).to_string(index=False))",
                  "print(within.round(4).to_string(index=False))",
                  "print(mmrm.round(4).to_string(index=False))",
                  "for fig in figures.values():",
                  "    fig.show()"])
    return "\n".join(L) + "\n"


# -- Two-visit comparison ---------------------------------------------------------------------------
def comparison_script(study, state, codes, va: float, vb: float, scale: str, reference: str, labels) -> str:
    """Boxes at two timepoints per arm, within-arm Wilcoxon, Kruskal–Wallis, Mann–Whitney (Holm), ANCOVA."""
    datasets = list(dict.fromkeys(study.params[c].dataset for c in codes))
    names = [study.params[c].name for c in codes]
    nouns = W.page_text(study, "comparison").nouns
    view = (f"{names[0] if len(codes) == 1 else f'{len(codes)} {nouns}'}; {study.visit_label(va)} vs "
            f"{study.visit_label(vb)}; "
            f"between-arm tests on {'% change' if scale == 'pchg' else 'absolute change'}; ANCOVA reference {reference}")
    L = header(study, f"{W.page_title(study, 'comparison')}: two timepoints by arm, with their statistics", state, view,
               "pandas, pyarrow, numpy, scipy, statsmodels, plotly", stats_files=True)
    L += [STATS_HEADER, STATS_HEADER2]
    L += [
        "import importlib.util",
        "import os",
        "import sys",
        "",
        'os.environ.setdefault("SM_FORMULA_ENGINE", "patsy")  # statsmodels formulas through patsy',
        "from itertools import combinations",
        "from pathlib import Path",
        "",
        "import numpy as np",
        "import pandas as pd",
        "import plotly.graph_objects as go",
        "import statsmodels.formula.api as smf",
        "from plotly.subplots import make_subplots",
        "from statsmodels.stats.multitest import multipletests",
        "",
        f"DATA = Path({lit(str(Path(study.folder).resolve()))})",
        f"STATS_DIR = Path({lit(str(STATS_DIR))})  # the app's analysis folder",
    ]
    L += arm_constants(study, labels)
    L += [
        f"LIGHT = {lit([study.arm_by_label[a].light for a in labels])}",
        *assign("CODES", list(codes)),
        f"V1, V2 = {lit(float(va))}, {lit(float(vb))}  # timepoints 1 and 2 (TIME)",
        f"SCALE = {lit(scale)}  # between-arm rank tests on: 'pchg' % change | 'chg' absolute change",
        f"REFERENCE = {lit(reference)}  # ANCOVA reference arm",
        "", "# -- data: the app's rules when it loads the study (the patient filter only highlights)",
    ]
    L += subjects_lines(study, datasets)
    L += bds_lines(study, datasets, "CODES", "cells", "[V1, V2]")
    L.append("cells = cells.dropna(subset=['AVAL'])")
    L += stats_modules_lines(("ranktests",))
    L += ["",
          "",
          "def box_stats(y):",
          '    """The box as the app draws it: quartiles by linear interpolation (type 7, as in the tables; plotly\'s',
          "    own quartile method differs) and whiskers to the furthest value within 1.5 IQR of the box.\"\"\"",
          "    v = np.sort(y.to_numpy(float))",
          "    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])",
          "    iqr = q3 - q1",
          "    return dict(q1=[q1], median=[med], q3=[q3], lowerfence=[v[v >= q1 - 1.5 * iqr][0]],",
          "                upperfence=[v[v <= q3 + 1.5 * iqr][-1]])",
          "",
          "",
          "def mann_whitney(x, y):",
          '    """R\'s wilcox.test(y, x, conf.int = TRUE): two-sided p and the Hodges–Lehmann shift y − x."""',
          "    if min(len(x), len(y)) < 3 or len(np.unique(np.concatenate([x, y]))) < 2:",
          "        return np.nan, np.nan",
          "    r = ranktests.rank_sum(y, x)",
          "    return r.p_value, r.estimate",
          "",
          "",
          "boxes, within, between, ancova = [], [], [], []",
          "cols = min(4, len(CODES))",
          "rows = -(-len(CODES) // cols)",
          "fig = make_subplots(rows=rows, cols=cols, subplot_titles=CODES)",
          "for k, code in enumerate(CODES):",
          "    d = cells[cells['PARAMCD'] == code]",
          "    # boxes: n, median and quartiles (type 7) per arm and timepoint",
          "    g = d.groupby(['ARM', 'TIME'])['AVAL']",
          "    boxes.append(pd.DataFrame({'n': g.count(), 'median': g.median(), 'q1': g.quantile(0.25),",
          "                               'q3': g.quantile(0.75)}).reset_index().assign(PARAMCD=code))",
          "    for i, (arm, colour, light) in enumerate(zip(ARMS, COLOURS, LIGHT)):",
          "        for v, c in ((V1, light), (V2, colour)):",
          "            y = d.loc[(d['ARM'] == arm) & (d['TIME'] == v), 'AVAL'].dropna()",
          "            if y.empty:",
          "                continue",
          f"            name = f'{{arm}} · {study.time_word} {{v:g}}'",
          "            fig.add_box(x=[name], **box_stats(y), name=name, marker_color=c, showlegend=k == 0,",
          "                        row=k // cols + 1, col=k % cols + 1)",
          "            fig.add_scatter(x=[name] * len(y), y=y, mode='markers', marker=dict(color=c, opacity=0.6),",
          "                            showlegend=False, row=k // cols + 1, col=k % cols + 1)",
          "    # one row per subject with a value at both timepoints",
          "    pairs = d.pivot(index='USUBJID', columns='TIME', values='AVAL').reindex(columns=[V1, V2]).dropna()",
          "    pairs.columns = ['a', 'b']",
          f"    pairs['ARM'] = pairs.index.map({pair_arm(study)})",
          "    # changes at the recorded precision (integer units): ties are ties of the recorded values",
          "    pairs['chg'], pairs['pchg'] = ranktests.changes(pairs['a'].to_numpy(), pairs['b'].to_numpy())",
          "    for arm in ARMS:  # within arm: timepoint 2 vs timepoint 1, R's wilcox.test(b, a, paired = TRUE)",
          "        p = pairs[pairs['ARM'] == arm]",
          "        w = ranktests.signed_rank(p['chg']) if len(p) >= 3 and (p['chg'] != 0).any() else None",
          "        within.append(dict(PARAMCD=code, ARM=arm, n_pairs=len(p), median_chg=p['chg'].median(),",
          "                           p_wilcoxon=w.p_value if w else np.nan, hl=w.estimate if w else np.nan,",
          "                           hl_low=w.ci_low if w else np.nan, hl_high=w.ci_high if w else np.nan))",
          "    groups = {a: pairs.loc[pairs['ARM'] == a, SCALE].dropna().to_numpy() for a in ARMS}",
          "    big = [v for v in groups.values() if len(v) >= 3]",
          "    some = len(big) >= 2 and len(np.unique(np.concatenate(big))) > 1",
          "    kw = ranktests.kruskal(big).p_value if some else np.nan  # R's kruskal.test",
          "    tests = [(a, b, *mann_whitney(groups[a], groups[b])) for a, b in combinations(ARMS, 2)]",
          "    ps = np.array([t[2] for t in tests], float)",
          "    holm = np.full(len(ps), np.nan)",
          "    if np.isfinite(ps).any():",
          "        holm[np.isfinite(ps)] = multipletests(ps[np.isfinite(ps)], method='holm')[1]",
          "    for (a, b, p, shift), p_holm in zip(tests, holm):",
          "        between.append(dict(PARAMCD=code, ARM=b, vs=a, hl_shift=shift, p_mann_whitney=p, p_holm=p_holm,",
          "                            p_kruskal=kw))",
          "    # ANCOVA: value at timepoint 2 ~ value at timepoint 1 + arm (OLS), each arm vs the reference",
          "    others = [a for a in ARMS if a != REFERENCE and (pairs['ARM'] == a).any()]",
          "    if REFERENCE in set(pairs['ARM']) and others:",
          "        an = pairs[pairs['ARM'].isin([REFERENCE] + others)]",
          "        an = an.assign(arm=pd.Categorical(an['ARM'], [REFERENCE] + others))",
          "        fit = smf.ols('b ~ a + arm', an).fit()",
          "        ci = fit.conf_int()",
          "        for a in others:",
          "            term = f'arm[T.{a}]'",
          "            ancova.append(dict(PARAMCD=code, ARM=a, vs=REFERENCE, estimate=fit.params[term],",
          "                               ci_low=ci.loc[term, 0], ci_high=ci.loc[term, 1], p=fit.pvalues[term]))",
          "boxes = pd.concat(boxes, ignore_index=True)",
          "within, between, ancova = (pd.DataFrame(x) for x in (within, between, ancova))",
          f"fig.update_layout(boxmode='overlay', title={lit(study.visit_label(va) + ' vs ' + study.visit_label(vb))})"]
    L = _main(L, ["for name in ('boxes', 'within', 'between', 'ancova'):",
                  "    print(name)",
                  "    print(globals()[name].round(4).to_string(index=False))",
                  "fig.show()"])
    return "\n".join(L) + "\n"


# -- Safety: AE timeline ---------------------------------------------------------------------------
def safety_script(study, state, window) -> str:
    """The AE timeline's bars (onset to resolution, by grade) and the counts per arm."""
    labels = state.arm_labels(study)
    sev = study.ae_vars.get("severity")
    view = "AE timeline; " + ("every AE" if window is None else f"AEs with onset in weeks {window[0]:g}–{window[1]:g}")
    L = header(study, "Safety: adverse-event timeline", state, view, "pandas, pyarrow, numpy, plotly")
    L += ["from pathlib import Path", "", "import numpy as np", "import pandas as pd",
          "import plotly.graph_objects as go", "",
          f"DATA = Path({lit(str(Path(study.folder).resolve()))})"]
    L += arm_constants(study, labels)
    if state.patients:
        L += assign("PATIENTS", list(state.patients), "the patient filter")
    if window is not None:
        L.append(f"WINDOW = {lit(tuple(float(w) for w in window))}  # onset weeks, inclusive")
    L += ["", "# -- data: safety population, arm from ADSL"]
    L += population_lines(study, "safety")
    if state.patients:
        L.append("arm_of = arm_of[arm_of.index.isin(PATIENTS)]")
    L += ["arm_of = arm_of[arm_of.isin(ARMS)]",
          f"ae = {read_expr(study, _ae_name(study))}",
          "ae['ARM'] = ae['USUBJID'].map(arm_of)",
          "ae = ae[ae['ARM'].isin(ARMS)].dropna(subset=['ASTDY']).copy()",
          "ae['onset_week'] = np.floor((ae['ASTDY'] - 1) / 7)  # days 1–7 are week 0"]
    if window is not None:
        L.append("ae = ae[ae['onset_week'].between(*WINDOW)]")
    L += ["ae['start'] = (ae['ASTDY'] - 1) / 7  # bar from onset day to resolution day, in study weeks",
          "ae['end'] = np.where(ae['AENDY'].notna(), ae['AENDY'] / 7, (ae['ASTDY'] + 7) / 7)  # ongoing: 1 week"]
    if sev == "AETOXGR":
        L += ["grade = pd.to_numeric(ae['AETOXGR'], errors='coerce')",
              "ae['severity'] = ('Grade ' + grade.astype('Int64').astype(str)).where(grade.notna(), 'Unknown')"]
    elif sev:
        L.append(f"ae['severity'] = ae[{lit(sev)}].astype(str).str.capitalize()")
    else:
        L.append("ae['severity'] = 'Unknown'")
    L += ["",
          "# counts per arm: subjects of the population, subjects with an AE shown, events",
          "counts = pd.DataFrame({'N': arm_of.value_counts(), 'subjects with an AE': ae.groupby('ARM')['USUBJID'].nunique(),",
          "                       'events': ae.groupby('ARM').size()}).reindex(ARMS).fillna(0).astype(int)",
          "by_severity = ae.groupby('severity').size()",
          "",
          "order = [s for arm in ARMS for s in sorted(arm_of.index[arm_of == arm])]",
          "fig = go.Figure()",
          "for severity, e in ae.groupby('severity'):",
          "    fig.add_bar(y=e['USUBJID'], x=e['end'] - e['start'], base=e['start'], orientation='h', name=severity)",
          "fig.update_yaxes(categoryorder='array', categoryarray=order, autorange='reversed')",
          "fig.update_layout(barmode='overlay', xaxis_title='Study week', height=22 * len(order) + 200)"]
    L = _main(L, ["print(counts.to_string())", "print(by_severity.to_string())", "fig.show()"])
    return "\n".join(L) + "\n"


def _ae_name(study) -> str:
    cfg = getattr(study, "config", None)
    return (cfg.adverse_events if cfg is not None and cfg.adverse_events else "ADAE")


# -- Overview: design, disposition, baseline -------------------------------------------------------
def overview_script(study, state, baseline_specs) -> str:
    """Dosing schedule per arm (ADEX), disposition and baseline characteristics by arm.

    ``baseline_specs``: the table's characteristics (``data.words.baseline_specs``)."""
    labels = state.arm_labels(study)
    adsl_cols = set(study.adsl.columns)
    baseline_params = [(sp.name, sp.label) for sp in baseline_specs if sp.source == "parameter"]
    L = header(study, "Overview: design, disposition and baseline characteristics", state,
               "dosing schedule, disposition, baseline table", "pandas, pyarrow, numpy, plotly")
    L += ["from pathlib import Path", "", "import numpy as np", "import pandas as pd",
          "import plotly.graph_objects as go", "",
          f"DATA = Path({lit(str(Path(study.folder).resolve()))})"]
    L += arm_constants(study, labels)
    if state.patients:
        L += assign("PATIENTS", list(state.patients), "the patient filter")
    codes = [p[0] for p in baseline_params]
    if codes:
        L += assign("BASELINE_PARAMS", {p[0]: p[1] for p in baseline_params}, "baseline values of parameters (ABLFL = Y)")
        L.append(f"VISITS = {lit([float(v) for v in study.visit_numbers])}  # scheduled visits (the time axis)")
    L += ["", "# -- subjects: every randomised subject of the arms in the filter",
          f"adsl = {read_expr(study, 'ADSL')}",
          (f"adsl['ARM'] = {lit(study.arms[0].label)}  # blinded view: all subjects in one group" if _blinded(study)
           else f"adsl['ARM'] = adsl[{lit(study.arm_variable)}].astype(str)"),
          "arm_all = adsl.set_index('USUBJID')['ARM']"]
    if state.patients:
        L.append("adsl = adsl[adsl['USUBJID'].isin(PATIENTS)]")
    L += ["adsl = adsl[adsl['ARM'].isin(ARMS)]",
          "groups = {**{arm: adsl[adsl['ARM'] == arm] for arm in ARMS}, 'Total': adsl}"]
    if "ADEX" in study.datasets or (getattr(study.config, "exposure", None) in study.datasets):
        ex_name = study.config.exposure if getattr(study.config, "exposure", None) else "ADEX"
        L += ["", "# -- dosing schedule: per arm and treatment, the doses of the subject with the most doses",
              f"ex = {read_expr(study, ex_name)}",
              "ex['ARM'] = ex['USUBJID'].map(arm_all)",
              "schedule = []",
              "for (arm, trt), d in ex[ex['ARM'].isin(ARMS)].groupby(['ARM', 'EXTRT']):",
              "    ref = d.groupby('USUBJID').size().idxmax()",
              "    weeks = (np.sort(d.loc[d['USUBJID'] == ref, 'ASTDY'].to_numpy(float)) - 1) / 7",
              "    schedule.append(dict(ARM=arm, EXTRT=trt, subject=ref, doses=len(weeks), first_week=weeks[0],",
              "                         last_week=weeks[-1], weeks=weeks))",
              "schedule = pd.DataFrame(schedule)",
              "fig = go.Figure()",
              "for arm, colour in zip(ARMS, COLOURS):",
              "    for s in schedule[schedule['ARM'] == arm].itertuples():",
              "        fig.add_scatter(x=s.weeks, y=[f'{arm}: {s.EXTRT}'] * s.doses, mode='markers', marker_color=colour,",
              "                        marker_symbol='diamond', showlegend=False)",
              "fig.update_layout(xaxis_title='Study week', height=360)"]
    else:
        L += ["schedule = pd.DataFrame()", "fig = go.Figure()"]
    L += ["", "",
          "def describe(values):",
          '    """n, mean (sample SD), median and quartiles (type 7), as in the app\'s table."""',
          "    v = pd.to_numeric(values, errors='coerce').dropna()",
          "    return pd.Series({'n': len(v), 'mean': v.mean(), 'sd': v.std(), 'median': v.median(),",
          "                      'q1': v.quantile(0.25), 'q3': v.quantile(0.75)})",
          "",
          "",
          "# -- baseline characteristics: continuous by arm (and Total), categorical as counts",
          "continuous = {}"]
    for sp in baseline_specs:
        if sp.source == "adsl" and sp.kind == "continuous" and sp.name in adsl_cols:
            L.append(f"continuous[{lit(sp.label)}] = pd.DataFrame({{g: describe(d[{lit(sp.name)}]) "
                     f"for g, d in groups.items()}})")
    if codes:
        datasets = list(dict.fromkeys(study.params[c].dataset for c in codes))
        L += ["", "# -- baseline values: the app's records of each dataset, in that dataset's population"]
        L += subjects_lines(study, datasets, "adsl_pop")
        L += bds_lines(study, datasets, "list(BASELINE_PARAMS)", "base", "VISITS")
        L += ["base = base[base['ABLFL'] == 'Y']",
              "for code, label in BASELINE_PARAMS.items():",
              "    b = base[base['PARAMCD'] == code].set_index('USUBJID')['AVAL']",
              "    continuous[label] = pd.DataFrame({g: describe(b.reindex(d['USUBJID'])) for g, d in groups.items()})"]
    L += ["continuous = pd.concat(continuous)"]
    cats = [sp.name for sp in baseline_specs if sp.source == "adsl" and sp.kind != "continuous" and sp.name in adsl_cols]
    L += ["", "",
          "def crosstab(d, column):",
          '    """Subjects per category and arm, with the total."""',
          "    t = pd.crosstab(d[column], d['ARM'], margins=True, margins_name='Total')",
          "    return t.reindex(columns=ARMS + ['Total'], fill_value=0)",
          "", "", "counts = {}"]
    for c in cats:
        L.append(f"counts[{lit(c)}] = crosstab(adsl, {lit(c)})")
    if "EOSSTT" in adsl_cols:
        from analysis.descriptive import randomised_flag

        flag = randomised_flag(study.adsl)
        rand = f"adsl[adsl[{lit(flag)}] == 'Y']" if flag else "adsl"
        L += [f"# disposition: the randomised subjects{f' ({flag} = Y)' if flag else ''} by the arm they were "
              f"randomised to: completed / discontinued (with the reasons)",
              f"randomised = {rand}",
              "counts['Randomised'] = randomised['ARM'].value_counts().reindex(ARMS, fill_value=0)",
              "counts['EOSSTT'] = crosstab(randomised, 'EOSSTT')"]
        if "DCSREAS" in adsl_cols:
            L.append("counts['DCSREAS'] = crosstab(randomised[randomised['EOSSTT'] == 'DISCONTINUED'], 'DCSREAS')")
    L = _main(L, ["print(schedule.drop(columns='weeks', errors='ignore').to_string(index=False))",
                  "print(continuous.round(2).to_string())",
                  "for name, table in counts.items():",
                  "    print(table.to_string())",
                  "fig.show()"])
    return "\n".join(L) + "\n"
