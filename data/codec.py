"""Derived results as data that cannot execute: tagged JSON, for the shared (Redis) cache.

Never pickle: anyone who can write to a shared store could then run code in the workers.
A value is encoded as JSON with explicit tags for the types the pages cache — numbers
(non-finite ones tagged), strings, lists, tuples, dicts, sets, numpy arrays (raw bytes of
numeric dtypes only), pandas frames/series/indexes (per column: numeric, datetime,
categorical, string, object), timestamps, plotly figures, Dash components and result
dataclasses. Decoding builds only those: a component or dataclass class is looked up among
modules already imported from an allow-list, never imported by name, and never asked to
run anything but its constructor with data. Anything else is refused (``CodecError``) and
stays in the process that computed it.

``data.cache`` also signs every entry with an HMAC key only the app holds, and checks the
signature before this module sees a byte.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import json
import math
import sys
import zlib

import numpy as np
import pandas as pd

MAX_DECODED = 256 << 20  # a shared entry never inflates beyond this
# Component namespaces -> module (only if already imported by the app)
_COMPONENT_MODULES = {
    "dash_html_components": "dash.html",
    "dash_core_components": "dash.dcc",
    "dash_bootstrap_components": "dash_bootstrap_components",
    "dash_ag_grid": "dash_ag_grid",
    "dash_table": "dash.dash_table",
}
_DATACLASS_PREFIXES = ("analysis.", "components.", "data.")  # our result types only
_EXT_DTYPES = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
               "boolean"}


class CodecError(ValueError):
    """The value cannot be encoded (or the data decoded) as plain data."""


# -- encoding -----------------------------------------------------------------------------------
def encode(value) -> bytes:
    doc = _enc(value)
    return zlib.compress(json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8"), 1)


def decode(data: bytes):
    d = zlib.decompressobj()
    raw = d.decompress(data, MAX_DECODED)
    if d.unconsumed_tail:
        raise CodecError("entry too large")
    return _dec(json.loads(raw))


def _float(x: float):
    if math.isfinite(x):
        return x
    return {"$": "float", "v": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _nd(arr: np.ndarray) -> dict:
    kind = arr.dtype.kind
    if kind in "biufcmM":
        a = arr.copy(order="C") if not arr.flags.c_contiguous else arr  # (ascontiguousarray makes 0-d 1-d)
        return {"$": "nd", "t": a.dtype.str, "s": list(arr.shape), "b": base64.b64encode(a.tobytes()).decode("ascii")}
    if kind in "OUS":
        flat = arr.ravel().tolist() if kind != "O" else list(arr.ravel())
        return {"$": "ndo", "t": "O" if kind == "O" else arr.dtype.str, "s": list(arr.shape),
                "v": [_enc(v) for v in flat]}
    raise CodecError(f"numpy dtype {arr.dtype}")


def _enc_values(values, dtype) -> dict:
    """The values of a Series/Index with their dtype."""
    if isinstance(dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values, dtype=dtype)
        return {"k": "cat", "cats": _enc_index(dtype.categories), "ordered": bool(dtype.ordered),
                "codes": _nd(np.asarray(cat.codes))}
    if isinstance(dtype, pd.StringDtype):
        na = "nan" if dtype.na_value is np.nan else "NA"
        vals = [None if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))) else str(v)
                for v in np.asarray(values, dtype=object)]
        return {"k": "str", "storage": dtype.storage, "na": na, "v": vals}
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            return {"k": "obj", "v": [_enc(v) for v in np.asarray(values, dtype=object)]}
        return {"k": "np", "v": _nd(np.asarray(values))}
    if str(dtype) in _EXT_DTYPES:
        return {"k": "ext", "t": str(dtype), "v": [None if v is pd.NA else _enc(v) for v in list(values)]}
    raise CodecError(f"dtype {dtype}")


def _enc_index(idx: pd.Index) -> dict:
    if isinstance(idx, pd.RangeIndex):
        return {"$": "range", "a": [idx.start, idx.stop, idx.step], "n": _enc(idx.name)}
    if isinstance(idx, pd.MultiIndex):
        return {"$": "mindex", "levels": [_enc_index(idx.get_level_values(i)) for i in range(idx.nlevels)],
                "names": [_enc(n) for n in idx.names]}
    return {"$": "index", "v": _enc_values(idx.array, idx.dtype), "n": _enc(idx.name)}


def _enc(x):
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int) and type(x) is int:
        return x
    if type(x) is float:
        return _float(x)
    if type(x) is list:
        return [_enc(v) for v in x]
    if type(x) is dict:
        return {"$": "dict", "v": [[_enc(k), _enc(v)] for k, v in x.items()]}
    if type(x) is tuple:
        return {"$": "tuple", "v": [_enc(v) for v in x]}
    if isinstance(x, (set, frozenset)):
        return {"$": type(x).__name__, "v": [_enc(v) for v in x]}
    if x is pd.NaT:
        return {"$": "nat"}
    if x is pd.NA:
        return {"$": "na"}
    if isinstance(x, np.generic):
        return {"$": "npscalar", "v": _nd(np.asarray(x))}
    if isinstance(x, np.ndarray):
        return _nd(x)
    if isinstance(x, pd.Timestamp):
        return {"$": "ts", "v": x.isoformat(), "u": x.unit, "tz": str(x.tz) if x.tz is not None else None}
    if isinstance(x, pd.Timedelta):
        return {"$": "td", "v": int(x.value), "u": x.unit}
    if isinstance(x, _dt.datetime):
        return {"$": "datetime", "v": x.isoformat()}
    if isinstance(x, _dt.date):
        return {"$": "date", "v": x.isoformat()}
    if isinstance(x, pd.DataFrame):
        if x.attrs:
            raise CodecError("DataFrame.attrs")
        return {"$": "df", "cols": _enc_index(x.columns), "idx": _enc_index(x.index),
                "data": [_enc_values(x.iloc[:, i].array, x.dtypes.iloc[i]) for i in range(x.shape[1])]}
    if isinstance(x, pd.Series):
        return {"$": "series", "n": _enc(x.name), "idx": _enc_index(x.index), "v": _enc_values(x.array, x.dtype)}
    if isinstance(x, pd.Index):
        return _enc_index(x)
    fig = _figure_type()
    if fig is not None and type(x) is fig:
        return {"$": "fig", "v": _enc(x.to_plotly_json())}
    comp = _component_type()
    if comp is not None and isinstance(x, comp):
        j = x.to_plotly_json()
        if j.get("namespace") not in _COMPONENT_MODULES:
            raise CodecError(f"component namespace {j.get('namespace')}")
        return {"$": "dc", "ns": j["namespace"], "t": j["type"], "p": _enc(dict(j["props"]))}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        cls = type(x)
        _allowed_class(cls.__module__, cls.__qualname__)
        return {"$": "dcl", "c": f"{cls.__module__}:{cls.__qualname__}",
                "f": [[f.name, _enc(getattr(x, f.name))] for f in dataclasses.fields(x)]}
    if isinstance(x, tuple) and hasattr(type(x), "_fields"):  # a NamedTuple of ours
        cls = type(x)
        _allowed_class(cls.__module__, cls.__qualname__)
        return {"$": "nt", "c": f"{cls.__module__}:{cls.__qualname__}", "v": [_enc(v) for v in x]}
    if isinstance(x, float):  # float subclasses (np.float64 is handled above)
        return _float(float(x))
    if isinstance(x, int):
        return int(x)
    raise CodecError(f"type {type(x).__module__}.{type(x).__qualname__}")


def _figure_type():
    mod = sys.modules.get("plotly.graph_objs")
    return getattr(mod, "Figure", None) if mod else None


def _component_type():
    mod = sys.modules.get("dash.development.base_component")
    return getattr(mod, "Component", None) if mod else None


def _allowed_class(module: str, qualname: str):
    """The class named, if it is one of ours and already imported; else CodecError."""
    if not module.startswith(_DATACLASS_PREFIXES) or module not in sys.modules:
        raise CodecError(f"class {module}:{qualname} is not an allowed result type")
    obj = sys.modules[module]
    for part in qualname.split("."):
        if not part.isidentifier():  # "<locals>" and the like
            raise CodecError(f"class {module}:{qualname}")
        obj = getattr(obj, part, None)
    if not isinstance(obj, type):
        raise CodecError(f"class {module}:{qualname} not found")
    return obj


# -- decoding -----------------------------------------------------------------------------------
def _np_dtype(t: str) -> np.dtype:
    if not isinstance(t, str) or len(t) > 16:
        raise CodecError("dtype")
    try:
        dt = np.dtype(t)
    except TypeError as exc:
        raise CodecError(f"dtype {t!r}") from exc
    if dt.kind not in "biufcmMUS":
        raise CodecError(f"dtype {t!r}")
    return dt


def _dec_nd(d: dict) -> np.ndarray:
    shape = tuple(int(n) for n in d["s"])
    if d["$"] == "nd":
        dt = _np_dtype(d["t"])
        if dt.kind in "US":
            raise CodecError("string array as bytes")
        buf = base64.b64decode(d["b"], validate=True)
        return np.frombuffer(buf, dtype=dt).reshape(shape).copy()
    vals = [_dec(v) for v in d["v"]]
    if d["t"] == "O":
        out = np.empty(len(vals), dtype=object)
        out[:] = vals if vals else []
        return out.reshape(shape)
    return np.array(vals, dtype=_np_dtype(d["t"])).reshape(shape)


def _dec_values(d: dict):
    k = d["k"]
    if k == "cat":
        cats = _dec_index(d["cats"])
        dtype = pd.CategoricalDtype(cats, ordered=bool(d["ordered"]))
        return pd.Categorical.from_codes(_dec_nd(d["codes"]), dtype=dtype)
    if k == "str":
        if d["storage"] not in ("python", "pyarrow") or d["na"] not in ("nan", "NA"):
            raise CodecError("string dtype")
        dtype = pd.StringDtype(d["storage"], na_value=np.nan if d["na"] == "nan" else pd.NA)
        vals = d["v"]
        if not all(v is None or isinstance(v, str) for v in vals):
            raise CodecError("string values")
        return pd.array(vals, dtype=dtype)
    if k == "obj":
        out = np.empty(len(d["v"]), dtype=object)
        out[:] = [_dec(v) for v in d["v"]] if d["v"] else []
        return out
    if k == "np":
        return _dec_nd(d["v"])
    if k == "ext":
        if d["t"] not in _EXT_DTYPES:
            raise CodecError("extension dtype")
        return pd.array([pd.NA if v is None else _dec(v) for v in d["v"]], dtype=d["t"])
    raise CodecError(f"values kind {k!r}")


def _dec_index(d: dict) -> pd.Index:
    tag = d.get("$")
    if tag == "range":
        a, b, c = (int(v) for v in d["a"])
        return pd.RangeIndex(a, b, c, name=_dec(d["n"]))
    if tag == "mindex":
        levels = [_dec_index(x) for x in d["levels"]]
        return pd.MultiIndex.from_arrays(levels, names=[_dec(n) for n in d["names"]])
    if tag == "index":
        return pd.Index(_dec_values(d["v"]), name=_dec(d["n"]), tupleize_cols=False)
    raise CodecError("index")


def _dec(x):
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, list):
        return [_dec(v) for v in x]
    if not isinstance(x, dict):
        raise CodecError("unexpected JSON")
    tag = x.get("$")
    if tag == "float":
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[x["v"]]
    if tag == "dict":
        return {_hashable(_dec(k)): _dec(v) for k, v in x["v"]}
    if tag == "tuple":
        return tuple(_dec(v) for v in x["v"])
    if tag == "set":
        return {_hashable(_dec(v)) for v in x["v"]}
    if tag == "frozenset":
        return frozenset(_hashable(_dec(v)) for v in x["v"])
    if tag == "nat":
        return pd.NaT
    if tag == "na":
        return pd.NA
    if tag == "npscalar":
        return _dec_nd(x["v"])[()]
    if tag in ("nd", "ndo"):
        return _dec_nd(x)
    if tag == "ts":
        ts = pd.Timestamp(x["v"]).as_unit(x["u"])
        return ts.tz_convert(x["tz"]) if x["tz"] else ts
    if tag == "td":
        return pd.Timedelta(int(x["v"]), unit="ns").as_unit(x["u"])
    if tag == "datetime":
        return _dt.datetime.fromisoformat(x["v"])
    if tag == "date":
        return _dt.date.fromisoformat(x["v"])
    if tag == "df":
        cols, idx = _dec_index(x["cols"]), _dec_index(x["idx"])
        if len(cols) != len(x["data"]):
            raise CodecError("frame shape")
        arrays = [_dec_values(v) for v in x["data"]]
        frame = pd.DataFrame({i: pd.Series(a, index=idx, copy=False) for i, a in enumerate(arrays)}, index=idx)
        frame.columns = cols
        return frame
    if tag == "series":
        return pd.Series(_dec_values(x["v"]), index=_dec_index(x["idx"]), name=_dec(x["n"]), copy=False)
    if tag in ("range", "mindex", "index"):
        return _dec_index(x)
    if tag == "fig":
        import plotly.graph_objects as go

        return go.Figure(_dec(x["v"]))
    if tag == "dc":
        modname = _COMPONENT_MODULES.get(x["ns"])
        mod = sys.modules.get(modname) if modname else None
        comp = _component_type()
        cls = getattr(mod, x["t"], None) if mod is not None and isinstance(x["t"], str) else None
        if cls is None or not isinstance(cls, type) or comp is None or not issubclass(cls, comp):
            raise CodecError(f"component {x['ns']}.{x['t']}")
        props = _dec(x["p"])
        if not isinstance(props, dict) or not all(isinstance(k, str) for k in props):
            raise CodecError("component props")
        return cls(**props)
    if tag == "dcl":
        module, _, qualname = str(x["c"]).partition(":")
        cls = _allowed_class(module, qualname)
        if not dataclasses.is_dataclass(cls):
            raise CodecError(f"{x['c']} is not a dataclass")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {str(k): _dec(v) for k, v in x["f"]}
        if set(values) != names:
            raise CodecError(f"fields of {x['c']}")
        obj = object.__new__(cls)  # no __init__/__post_init__: the fields as they were
        for k, v in values.items():
            object.__setattr__(obj, k, v)
        return obj
    if tag == "nt":
        module, _, qualname = str(x["c"]).partition(":")
        cls = _allowed_class(module, qualname)
        if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
            raise CodecError(f"{x['c']} is not a named tuple")
        return cls(*[_dec(v) for v in x["v"]])
    raise CodecError(f"tag {tag!r}")


def _hashable(v):
    if isinstance(v, list):
        return tuple(_hashable(i) for i in v)
    return v
