"""Data handling: converting user arrays once per call, batching, and toy data sets.

Gradient descent comes in three forms, chosen by the batch size:

* full batch (``batch_size="full"``): one step per epoch on all samples;
* stochastic (``batch_size=1``): one step per sample;
* mini-batch (``batch_size=n``): one step per ``n`` samples, the usual choice.

``fit`` shuffles the sample order every epoch with a seeded ``numpy.random.Generator``;
the training plan gathers each batch's rows into a workspace reused every step.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from nncore.backends import _checks
from nncore.backends.sparse import CsrRows, csr_rows, is_sparse

#: Converted features: a dense array, or a CSR matrix (``nncore.backends.sparse``).
Features = np.ndarray | CsrRows


def as_features(X: Any, dtype: np.dtype, name: str = "X",
                n_features: int | None = None) -> Features:
    """Return ``X`` as a C-contiguous 2-D array of ``dtype`` (a copy only if needed).

    Lists, integers, float16, Fortran order and strided views are converted; anything
    that is not numeric, not 2-D, empty, or holding NaN or infinity (also after the
    conversion: 1e300 does not fit in float32) raises. ``n_features``, the model's input
    width when known, picks the reshape hint for 1-D input (one sample or one feature).
    A ``scipy.sparse`` matrix or array becomes a ``CsrRows`` (CSR, never densified).
    """
    if is_sparse(X):
        return csr_rows(X, dtype, name)
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"argument '{name}' must be array-like of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"argument '{name}' must hold numbers, got dtype {arr.dtype}"
                        + _column_hint(X))
    if arr.ndim != 2:
        raise ValueError(
            f"argument '{name}' must be 2-D (n_samples, n_features), got shape {arr.shape}"
            + (_reshape_hint(name, len(arr), n_features) if arr.ndim == 1 else "")
        )
    if arr.shape[0] == 0:
        raise ValueError(f"argument '{name}' is empty: it has no samples (rows)")
    if arr.shape[1] == 0:
        raise ValueError(f"argument '{name}' has no features (columns)")
    if mapped(arr) and arr.dtype != dtype:
        return _convert_mapped(arr, dtype, name)
    with np.errstate(over="ignore"):  # an overflow is reported just below, by name
        out = np.ascontiguousarray(arr, dtype=dtype)
    check_finite(out, name, original=arr)
    return out


#: Data larger than memory: a memory-mapped X is converted, checked and shuffled in
#: blocks of about this many bytes (whole batches), so each block's pages are read once
#: per epoch; see ``shuffle_order``.
BLOCK_BYTES = 64 << 20


def mapped(arr: np.ndarray) -> bool:
    """True when ``arr`` is (a view of) a ``numpy.memmap``: data that may not fit in memory."""
    while isinstance(arr, np.ndarray):
        if isinstance(arr, np.memmap):
            return True
        arr = arr.base  # type: ignore[assignment]
    return False


def _convert_mapped(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """A memory-mapped ``arr`` of another dtype, converted block by block into an unlinked
    file beside it (memory: one block); the file goes with the returned array."""
    src = getattr(arr, "filename", None) or getattr(arr.base, "filename", None)
    folder = os.path.dirname(src) if src and os.access(os.path.dirname(src), os.W_OK) else None
    with tempfile.TemporaryFile(dir=folder) as fh:
        out = np.memmap(fh, dtype=dtype, mode="w+", shape=arr.shape)
    step = max(BLOCK_BYTES // max(arr[0].nbytes, 1), 1)
    for i in range(0, arr.shape[0], step):
        block = arr[i:i + step]
        with np.errstate(over="ignore"):
            out[i:i + step] = block
        if not _all_finite(out[i:i + step]):
            r, c = (int(k) for k in np.argwhere(~np.isfinite(out[i:i + step]))[0])
            hint = (f" (after conversion to {out.dtype}: out of its range)"
                    if np.isfinite(block[r, c]) else "")
            raise ValueError(f"argument '{name}' must be finite: {name}[{i + r}, {c}] is "
                             f"{out[i + r, c]}{hint}")
    return out


def block_rows(X: Any, batch: int) -> int | None:
    """Rows per shuffling block of ``X`` (whole batches of ``batch``, ``BLOCK_BYTES``), or
    None for data in memory (shuffled as a whole)."""
    if not isinstance(X, np.ndarray) or not mapped(X) or X.shape[0] == 0:
        return None
    return max(BLOCK_BYTES // max(X[0].nbytes * batch, 1), 1) * batch


def shuffle_order(order: np.ndarray, rng: np.random.Generator, block: int | None) -> None:
    """Fill ``order`` (of length n) with a random order of the rows ``0..n-1``: all at
    once (``block`` None), or block-local for memory-mapped data: the blocks of ``block``
    consecutive rows come in shuffled order, each block's rows shuffled within it, so an
    epoch reads every page once (a block at a time) instead of at random."""
    n = len(order)
    if block is None or block >= n:
        rng.shuffle(order)
        return
    at = 0
    for k in rng.permutation(-(-n // block)):
        part = np.arange(k * block, min(n, (k + 1) * block), dtype=order.dtype)
        rng.shuffle(part)
        order[at:at + len(part)] = part
        at += len(part)


def _reshape_hint(name: str, length: int, n_features: int | None) -> str:
    """How to make 1-D input 2-D: one sample of the model's width, or one feature."""
    if n_features is not None and n_features > 1:
        if length == n_features:
            return f"; use {name}.reshape(1, -1) for a single sample"
        return f"; the model takes rows of {n_features} features"
    return f"; use {name}.reshape(-1, 1) for a single feature"


def _column_hint(X: Any) -> str:
    """For a table (``.columns`` and ``.dtypes``, e.g. a pandas DataFrame): the columns
    that made the whole array ``object`` -- bool beside numbers, nullable, text."""
    try:
        pairs = list(zip(X.columns, X.dtypes, strict=True))
    except (AttributeError, TypeError, ValueError):
        return ""
    # Plain numeric numpy columns convert; bool columns only when alone, so name them too.
    bad = [f"{_checks.plain(col)!r} ({dt})" for col, dt in pairs
           if not (isinstance(dt, np.dtype) and dt.kind in "iuf")]
    if not bad:
        return ""
    return (f" from column{'s' if len(bad) > 1 else ''} {', '.join(bad)}; convert "
            f"{'them' if len(bad) > 1 else 'it'} to numbers first (e.g. "
            f"X.astype('float64'), after filling missing values)")


#: Elements per block of the finiteness test: its temporary stays ~1 MB, not the data's
#: size (a memory-mapped X larger than memory is read once, a block at a time).
_FINITE_BLOCK = 1 << 20


def _all_finite(arr: np.ndarray) -> bool:
    if arr.ndim < 2 or arr.size <= _FINITE_BLOCK:
        return bool(np.isfinite(arr).all())
    rows = max(_FINITE_BLOCK // max(arr[0].size, 1), 1)
    return all(np.isfinite(arr[i:i + rows]).all() for i in range(0, arr.shape[0], rows))


def check_finite(arr: np.ndarray, name: str, original: np.ndarray | None = None) -> None:
    """Raise ``ValueError`` naming the first NaN or infinite entry of ``arr``.

    ``original`` is the array ``arr`` was converted from: when its entry was finite, the
    message says that the conversion (e.g. to float32) overflowed.
    """
    if arr.dtype.kind != "f" or _all_finite(arr):
        return
    where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
    value = arr[where]
    overflowed = (original is not None and original.dtype != arr.dtype
                  and bool(np.isfinite(original[where])))
    hint = f" (after conversion to {arr.dtype}: out of its range)" if overflowed else ""
    raise ValueError(f"argument '{name}' must be finite: {name}[{', '.join(map(str, where))}] "
                     f"is {value}{hint}")


def resolve_batch_size(batch_size: int | str, n_samples: int) -> int:
    """Return the number of rows per step: ``"full"`` means all of them."""
    if isinstance(batch_size, str):
        if batch_size != "full":
            raise ValueError(
                f"argument 'batch_size' must be a positive integer or 'full', got "
                f"{_checks.plain(batch_size)!r}"
            )
        return max(n_samples, 1)
    return min(_checks.count("", "batch_size", batch_size, 1), max(n_samples, 1))


def make_moons(n_samples: int = 1000, noise: float = 0.15,
               seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles: a classic non-linearly separable problem.

    Same construction as scikit-learn's ``make_moons``. Returns ``X`` of shape
    (n_samples, 2), float64, and integer labels ``y`` in {0, 1}.
    """
    n = _checks.count("", "n_samples", n_samples, 1)
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack([
        np.column_stack([np.cos(t_out), np.sin(t_out)]),
        np.column_stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)]),
    ])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    X += rng.normal(scale=_checks.number("", "noise", noise, low=0.0), size=X.shape)
    perm = rng.permutation(n)
    return X[perm], y[perm]


def train_test_split(X: np.ndarray, y: np.ndarray, test_fraction: float = 0.3,
                     seed: int | None = 0) -> tuple[np.ndarray, ...]:
    """Shuffle and split into ``X_train, X_test, y_train, y_test``."""
    n = len(X)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_fraction)
    test, train = perm[:n_test], perm[n_test:]
    return X[train], X[test], y[train], y[test]


_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype, which must be float32 or float64 (``ValueError``)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _DTYPES:
        raise ValueError(f"argument 'dtype' must be 'float32' or 'float64', got "
                         f"{_checks.plain(dtype)!r}")
    return dt


def same_length(X: Features, y: np.ndarray) -> None:
    """``ValueError`` unless ``X`` and ``y`` have as many rows."""
    if len(X) != len(y):
        raise ValueError(f"arguments 'X' and 'y' have different lengths: {len(X)} != {len(y)}")
