"""Argument checks for the ``Ops`` boundary, shared by both backends.

The kernels run without bounds checks, so every shape, dtype, contiguity and aliasing
rule is enforced here, once per call, before any kernel runs. Because both backends go
through these same functions, they reject bad arguments identically: same exception
type, same message.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
LABEL_DTYPE = np.dtype(np.int64)
_F32, _F64 = FLOAT_DTYPES
# ndarray.flags.num bits (NumPy's C API values): C_CONTIGUOUS | OWNDATA | WRITEABLE
_USUAL = 0x0001 | 0x0004 | 0x0400


def usual(*arrays: Any) -> bool:
    """The common case of an ``Ops`` method's arrays, recognised cheaply (~0.15 us each).

    True when every array is a plain ``numpy.ndarray`` (not a subclass) with the same float
    dtype object, C-contiguous, writeable and owning its memory. Then every rule of
    ``floats`` holds for them, and memory NumPy allocated for one array (``owndata``) is no
    other array's: two of them overlap only if they are the same object, so the caller's
    ``no_alias`` rules reduce to ``is not`` tests (the caller makes them, with ndim and
    shapes). False means only "not this case" (a view, a read-only input, ...): the caller
    then runs the full checks, which raise the precise error or pass. Nothing passes that
    the full checks would reject; those cost 3-10 us per call (``numpy.may_share_memory``
    alone is 0.3 us a pair), which was most of a small kernel's time.
    """
    first = arrays[0]
    dtype = first.dtype if type(first) is np.ndarray else None
    if dtype is not _F32 and dtype is not _F64:
        return False
    for x in arrays:
        if type(x) is not np.ndarray or x.dtype is not dtype or x.flags.num & _USUAL != _USUAL:
            return False
    return True


def _array(op: str, name: str, x: Any, ndim: int) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: argument '{name}' must be a numpy.ndarray, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(
            f"{op}: argument '{name}' must be {ndim}-D, got shape {x.shape} ({x.ndim}-D)"
        )
    if not x.flags.c_contiguous:
        raise ValueError(
            f"{op}: argument '{name}' must be C-contiguous (use numpy.ascontiguousarray)"
        )
    return x


def floats(op: str, out_names: tuple[str, ...] = (), **arrays: tuple[Any, int]) -> np.dtype:
    """Check ``name=(array, ndim)`` pairs: ndarray, ndim, C-contiguous, one float dtype.

    Arrays named in ``out_names`` must also be writeable. Returns the common dtype.
    """
    dtype = None
    first = ""
    for name, (x, ndim) in arrays.items():
        _array(op, name, x, ndim)
        dt = x.dtype
        if dt is dtype:  # the usual case: the same dtype object as the first array's
            pass
        elif dt not in FLOAT_DTYPES:
            raise TypeError(
                f"{op}: argument '{name}' must have dtype float32 or float64, got {dt}"
            )
        elif dtype is None:
            dtype, first = dt, name
        elif dt != dtype:
            raise TypeError(
                f"{op}: argument '{name}' has dtype {dt}, expected {dtype} like '{first}'"
            )
        if name in out_names and not x.flags.writeable:
            raise ValueError(f"{op}: output argument '{name}' is read-only")
    assert dtype is not None
    return dtype


def labels(op: str, name: str, y: Any, n: int) -> np.ndarray:
    """Integer class labels: 1-D, C-contiguous int64, one per row."""
    _array(op, name, y, 1)
    if y.dtype != LABEL_DTYPE:
        raise TypeError(f"{op}: argument '{name}' must have dtype int64, got {y.dtype}")
    if y.shape[0] != n:
        raise ValueError(f"{op}: argument '{name}' has {y.shape[0]} labels, expected {n}")
    return y


def sample_weight(op: str, w: Any, n: int, whole: bool = True) -> np.ndarray | None:
    """Per-row weights: None, or 1-D C-contiguous float64, n of them, finite and >= 0.

    ``whole``: they must also sum to more than 0 (a loss over them alone is defined).
    """
    if w is None:
        return None
    _array(op, "sample_weight", w, 1)
    if w.dtype != _F64:
        raise TypeError(f"{op}: argument 'sample_weight' must have dtype float64, got {w.dtype}")
    if w.shape[0] != n:
        raise ValueError(f"{op}: argument 'sample_weight' has {w.shape[0]} weights, "
                         f"expected one per row ({n})")
    if n and not (np.isfinite(w).all() and w.min() >= 0):
        raise ValueError(f"{op}: argument 'sample_weight' must be finite and >= 0")
    if whole and n and not w.sum() > 0:
        raise ValueError(f"{op}: argument 'sample_weight' sums to 0: no row has weight")
    return w


def row_scale(w: np.ndarray | None) -> np.ndarray | None:
    """The kernels' per-row multipliers of checked weights: w n / sum(w), mean 1."""
    return None if w is None or w.shape[0] == 0 else w * (w.shape[0] / w.sum())


def shape(op: str, name: str, x: np.ndarray, expected: tuple[int, ...]) -> None:
    if x.shape != expected:
        raise ValueError(f"{op}: argument '{name}' has shape {x.shape}, expected {expected}")


def no_alias(op: str, out_name: str, out: np.ndarray, in_name: str, x: np.ndarray,
             allow_same: bool) -> None:
    """``out`` must not overlap ``x``; with ``allow_same`` it may be exactly ``x``."""
    if not np.may_share_memory(out, x):
        return
    same = (
        out.__array_interface__["data"][0] == x.__array_interface__["data"][0]
        and out.shape == x.shape
        and out.strides == x.strides
    )
    if allow_same and same:
        return
    allowed = f" (it may be '{in_name}' itself)" if allow_same else ""
    raise ValueError(f"{op}: output '{out_name}' overlaps input '{in_name}'{allowed}")


def number(op: str, name: str, value: Any, low: float | None = None,
           high: float | None = None, high_open: bool = False) -> float:
    """A finite real number within [low, high] (or [low, high) with ``high_open``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{_prefix(op)}argument '{name}' must be a real number, got {plain(value)!r}"
        ) from None
    if not math.isfinite(v):  # v is a Python float: as np.isfinite, 20x cheaper
        raise ValueError(f"{_prefix(op)}argument '{name}' must be finite, got {v}")
    if low is not None and v < low:
        raise ValueError(f"{_prefix(op)}argument '{name}' must be >= {low}, got {v}")
    if high is not None and (v >= high if high_open else v > high):
        bound = f"< {high}" if high_open else f"<= {high}"
        raise ValueError(f"{_prefix(op)}argument '{name}' must be {bound}, got {v}")
    return v


def count(op: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer (not a bool) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{_prefix(op)}argument '{name}' must be an integer, got {plain(value)!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        hi = "" if high is None else f" and <= {high}"
        raise ValueError(f"{_prefix(op)}argument '{name}' must be >= {low}{hi}, got {v}")
    return v


def plain(value: Any) -> Any:
    """NumPy scalars and arrays as Python values, for messages: ``'benign'``, ``0.0`` and
    ``[0, 1]`` rather than ``np.str_('benign')``, ``np.float64(0.0)`` and ``array(...)``."""
    small = isinstance(value, np.ndarray) and value.size <= 20  # numpy abbreviates big ones
    return value.tolist() if isinstance(value, np.generic) or small else value


def _prefix(op: str) -> str:
    return f"{op}: " if op else ""
