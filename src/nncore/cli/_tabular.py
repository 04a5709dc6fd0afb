"""Reading tables for the command line: ``.csv`` (with a header), ``.parquet`` and ``.npz``.

Training data is a table of numeric feature columns plus a target column; the model file
then records the feature names, the target, the task, the class labels and the
standardisation (mean and scale per feature), so ``nncore predict`` can apply the model
to a new table by column name. ``nncore.cli._csv`` reads the CSV files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from nncore.cli._csv import read_csv, select_columns
from nncore.cli._errors import CLIError, TableError, one_line

__all__ = ["NAMED_COLUMNS", "TableError", "apply_standardisation", "holdout", "infer_task",
           "read_table", "standardisation"]

#: Suffixes of the files whose columns have names (features are then found by name).
NAMED_COLUMNS = (".csv", ".parquet")
#: The columns pandas' to_parquet adds for a row index other than 0..n-1.
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")


def read_table(path: str | Path, target: str | None = None,
               features: list[str] | None = None, notes: list[str] | None = None
               ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read ``(X, y, feature_names)`` from a ``.csv``, ``.parquet`` or ``.npz`` file.

    Parameters
    ----------
    path : str or Path
        ``.csv``: a header row, then one row per sample, comma-separated (read by pyarrow
        or pandas when installed, else NumPy; the same result either way).
        ``.parquet``: a table of named columns (needs pyarrow). ``.npz``: an array ``X``
        (n, d), and the target as an array named ``target`` (default ``y``) if any.
    target : str, optional
        The target column (csv, parquet) or array (npz); ``y`` is None when not given or,
        for prediction, when the file has no such column. Read as numbers when every cell
        is one, else as text labels; an empty cell is an error.
    features : list of str, optional
        Feature columns to take, in this order (csv, parquet); default: every other
        column. Each cell must be a finite number: an error names the first that is not.
    notes : list of str, optional
        Receives a line for the user about what was done to the file (an index column
        dropped).

    Returns
    -------
    X : numpy.ndarray
        (n, d) float64, C-contiguous.
    y : numpy.ndarray or None
        float64 values, or text labels (a ``str`` array).
    feature_names : list of str
        The columns of ``X`` (``x0``, ``x1``, ... for ``.npz``).

    Raises
    ------
    TableError
        A file that cannot be read: status 2 for a missing file or target column, 1 for
        the content (naming the line and column of a bad cell).
    """
    p = Path(path)
    if not p.is_file():
        raise TableError(f"{p}: no such file", status=2)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return _read_npz(p, target)
    if suffix == ".parquet":
        return _read_parquet(p, target, features, notes)
    if suffix != ".csv":
        raise TableError(f"{p}: expected a .csv, .parquet or .npz file", status=2)
    return read_csv(p, target, features, notes)


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


def _read_parquet(p: Path, target: str | None, features: list[str] | None,
                  notes: list[str] | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """A ``.parquet`` file by pyarrow: the columns by name, checked as a CSV file's are."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise TableError(f'{p}: reading .parquet files needs pyarrow: '
                         f'pip install "nncore[tables]"') from None
    try:
        schema = pq.read_schema(p)
    except (pa.ArrowException, OSError) as exc:
        raise TableError(f"{p}: not a readable Parquet file ({one_line(exc)})") from None
    header = [n for n in schema.names if not _PANDAS_INDEX.fullmatch(n)]
    if notes is not None and len(header) < len(schema.names):
        notes.append(f"{p}: pandas' row index (the columns "
                     f"{[n for n in schema.names if n not in header]}) left out")
    names, _, t = select_columns(p, header, target, features)
    wanted = list(dict.fromkeys([*names, *([header[t]] if t is not None else [])]))
    try:
        table = pq.read_table(p, columns=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise TableError(f"{p}: not a readable Parquet file ({one_line(exc)})") from None
    X = np.empty((table.num_rows, len(names)))
    for k, name in enumerate(names):
        column = table.column(name)
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                or pa.types.is_decimal(kind)):
            what = "text" if pa.types.is_string(kind) or pa.types.is_large_string(kind) else kind
            raise TableError(f"{p}: column {name!r} holds {what}, not numbers")
        _check_cells(p, name, column)
        X[:, k] = column.to_numpy().astype(np.float64)
        if not np.isfinite(X[:, k]).all():
            row = int(np.flatnonzero(~np.isfinite(X[:, k]))[0])
            value = X[row, k]
            raise TableError(f"{p}, row {row + 1}: column {name!r} holds {value}, not a "
                             f"{'number' if np.isnan(value) else 'finite number'}")
    y = None
    if t is not None:
        column = table.column(header[t])
        kind = column.type
        _check_cells(p, header[t], column)
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            y = column.to_numpy().astype(np.float64)
            if not np.isfinite(y).all():
                row = int(np.flatnonzero(~np.isfinite(y))[0])
                raise TableError(f"{p}, row {row + 1}: column {header[t]!r} holds {y[row]}, "
                                 f"not a finite number")
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or (
                pa.types.is_dictionary(kind) or pa.types.is_boolean(kind)):
            # text labels, as a CSV file's would read (booleans as 'True' and 'False')
            y = np.asarray([str(v) for v in column.to_pylist()])
            if (y == "").any():
                raise TableError(f"{p}, row {int(np.flatnonzero(y == '')[0]) + 1}: column "
                                 f"{header[t]!r} is empty: every row needs a target value")
        else:
            raise TableError(f"{p}: column {header[t]!r} holds {kind}, neither numbers "
                             f"nor text labels")
    return np.ascontiguousarray(X), y, names


def _check_cells(p: Path, name: str, column: Any) -> None:
    """An error naming the first missing (null) cell of a Parquet column, if any."""
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise TableError(f"{p}, row {row + 1}: column {name!r} is empty (null)")


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
