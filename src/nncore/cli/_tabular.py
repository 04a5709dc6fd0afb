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

from nncore.cli._errors import CLIError


class TableError(CLIError, ValueError):
    """A data file that cannot be used, with the file and the reason.

    ``status`` 2 when the command line names the wrong thing (no such file, no such
    column), 1 when the file's content is the problem.
    """


def read_table(path: str | Path, target: str | None = None,
               features: list[str] | None = None, notes: list[str] | None = None
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
    notes : list of str, optional
        Receives a line for the user about what was done to the file (an index column
        dropped).
    """
    p = Path(path)
    if not p.is_file():
        raise TableError(f"{p}: no such file", status=2)
    if p.suffix.lower() == ".npz":
        return _read_npz(p, target)
    if p.suffix.lower() != ".csv":
        raise TableError(f"{p}: expected a .csv or .npz file", status=2)
    with p.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise TableError(f"{p}: the file is empty")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise TableError(f"{p}: no data rows after the header")
    _check_delimiter(p, header)
    header, body = _drop_index(p, header, body, notes)
    if target is not None and target not in header and features is None:
        raise TableError(f"{p}: no column named {target!r} (columns: {', '.join(header)})",
                         status=2)
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


def _check_delimiter(p: Path, header: list[str]) -> None:
    """A hint for a file separated by ``;`` or tabs, which reads as one column."""
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in header[0]:
                raise TableError(f"{p}: the header is separated by {name}, not commas: "
                                 f"nncore reads comma-separated files (pandas: "
                                 f"to_csv(sep=','))")


def _drop_index(p: Path, header: list[str], body: list[list[str]],
                notes: list[str] | None) -> tuple[list[str], list[list[str]]]:
    """Drop a leading unnamed column holding 0..n-1 (pandas' ``to_csv`` row index).

    A row index as a feature lets a model learn the row order (a file sorted by class is
    then classified perfectly) and makes files without it unusable; any other column
    without a name is refused, since nothing could find it by name later.
    """
    if header and header[0] == "":
        expected = [str(i) for i in range(len(body))]
        if [row[0].strip() if row else "" for row in body] == expected:
            if notes is not None:
                notes.append(f"{p}: the first column has no name and holds 0..{len(body) - 1}: "
                             f"a row index (pandas to_csv), dropped")
            header, body = header[1:], [row[1:] for row in body]
    if "" in header:
        j = header.index("")
        raise TableError(f"{p}: column {j + 1} has no name in the header: name it, or "
                         f"leave it out of the file (pandas: to_csv(index=False))")
    return header, body


def holdout(y: np.ndarray, fraction: float, seed: int | None, stratify: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled row indices ``(train, validation)``, ``fraction`` of the rows held out.

    Files are often sorted (by class, by date), so the last rows are no fair sample.
    With ``stratify`` (class labels in ``y``) every class is held out in proportion, as
    the scikit-learn estimators do, and keeps at least one training row.

    Parameters
    ----------
    y : numpy.ndarray
        The target, one entry per row: class labels (or codes) or values.
    fraction : float
        Share of the rows to hold out, rounded to a whole number of rows.
    seed : int or None
        Seed of the shuffle (``--seed``).
    stratify : bool
        Hold out each class in proportion (classification).

    Returns
    -------
    tuple of numpy.ndarray
        Row indices for training and for validation, each in shuffled order.

    Raises
    ------
    CLIError
        (status 2) when ``fraction`` leaves no training or no validation rows.
    """
    n = len(y)
    n_val = round(n * fraction)
    if not 0 < n_val < n:
        raise CLIError(f"--validation-split {fraction:g} holds out {n_val} of {n} rows, "
                       f"leaving none to {'validate on' if n_val == 0 else 'train on'}: "
                       f"use --validation-split 0 to train on all rows", status=2)
    rng = np.random.default_rng(seed)
    if not stratify:
        perm = rng.permutation(n)
        return perm[n_val:], perm[:n_val]
    classes, codes = np.unique(y, return_inverse=True)
    members = [rng.permutation(np.flatnonzero(codes == c)) for c in range(len(classes))]
    counts = np.array([len(m) for m in members])
    share = counts * n_val / n
    take = np.floor(share).astype(int)
    # the rows left over go to the classes with the largest remainders that can spare one
    for c in np.argsort(take - share, kind="stable"):
        if take.sum() >= n_val:
            break
        if take[c] + 1 < counts[c]:
            take[c] += 1
    if take.sum() == 0:  # every class too small to spare a row: no stratification
        return holdout(y, fraction, seed, stratify=False)
    val = np.concatenate([m[:k] for m, k in zip(members, take, strict=True)])
    train = np.concatenate([m[k:] for m, k in zip(members, take, strict=True)])
    return rng.permutation(train), rng.permutation(val)


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
