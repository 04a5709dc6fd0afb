"""Reading tables for the command line: ``.csv`` (with a header) and ``.npz`` files.

Training data is a table of numeric feature columns plus a target column; the model file
then records the feature names, the target, the task, the class labels and the
standardisation (mean and scale per feature), so ``nncore predict`` can apply the model
to a new table by column name.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np


class TableError(ValueError):
    """A data file that cannot be used, with the file and the reason."""


def read_table(path: str | Path, target: str | None = None,
               features: list[str] | None = None
               ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read ``(X, y, feature_names)`` from a ``.csv`` or ``.npz`` file.

    Parameters
    ----------
    path : str or Path
        ``.csv``: a header row, then one row per sample. ``.npz``: an array ``X``
        (n, d), and the target as an array named ``target`` (default ``y``) if any.
    target : str, optional
        The target column (csv) or array (npz); ``y`` is None when not given or, for
        prediction, when the file has no such column.
    features : list of str, optional
        Feature columns to take, in this order (csv); default: every other column.
    """
    p = Path(path)
    if not p.is_file():
        raise TableError(f"{p}: no such file")
    if p.suffix.lower() == ".npz":
        return _read_npz(p, target)
    if p.suffix.lower() != ".csv":
        raise TableError(f"{p}: expected a .csv or .npz file")
    with p.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise TableError(f"{p}: the file is empty")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise TableError(f"{p}: no data rows after the header")
    if target is not None and target not in header and features is None:
        raise TableError(f"{p}: no column named {target!r} (columns: {', '.join(header)})")
    names = features if features is not None else [h for h in header if h != target]
    missing = [n for n in names if n not in header]
    if missing:
        raise TableError(f"{p}: missing feature columns {missing}")
    index = [header.index(n) for n in names]
    X = np.empty((len(body), len(names)))
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TableError(f"{p}, line {line}: {len(row)} fields, expected {len(header)}")
        for j, col in enumerate(index):
            try:
                X[line - 2, j] = float(row[col])
            except ValueError:
                raise TableError(f"{p}, line {line}: column {header[col]!r} holds "
                                 f"{row[col]!r}, not a number") from None
    y = None
    if target is not None and target in header:
        t = header.index(target)
        y = np.array([row[t].strip() for row in body])
        try:
            y = y.astype(float)
        except ValueError:
            pass  # class labels given as text
    return X, y, names


def _read_npz(p: Path, target: str | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise TableError(f"{p}: not a readable .npz archive ({exc})") from None
    if "X" not in arrays:
        raise TableError(f"{p}: no array named 'X' (arrays: {', '.join(arrays)})")
    X = arrays["X"]
    if X.ndim != 2:
        raise TableError(f"{p}: 'X' must be 2-D, got shape {X.shape}")
    key = target or "y"
    y = arrays.get(key)
    if target is not None and y is None:
        raise TableError(f"{p}: no array named {target!r} (arrays: {', '.join(arrays)})")
    return X, y, [f"x{j}" for j in range(X.shape[1])]


def infer_task(y: np.ndarray) -> str:
    """``"classify"`` for text labels or few integer values, else ``"regress"``."""
    if y.dtype.kind in "USOb":
        return "classify"
    values = np.unique(y)
    integral = np.all(np.mod(values, 1) == 0)
    return "classify" if integral and len(values) <= 20 else "regress"


def standardisation(X: np.ndarray) -> dict[str, list[float]]:
    """Per-column mean and scale (standard deviation; 1 for constant columns)."""
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return {"mean": X.mean(axis=0).tolist(), "scale": scale.tolist()}


def apply_standardisation(X: np.ndarray, params: dict[str, Any] | None) -> np.ndarray:
    """``(X - mean) / scale`` with saved parameters (X unchanged when None)."""
    if not params:
        return X
    return (X - np.asarray(params["mean"])) / np.asarray(params["scale"])
