"""Reading a ``.csv`` file for the command line, fast, with the messages of a careful reader.

Four readers take the same file to the same ``(X, y, names)``:

* ``"pandas"`` and ``"pyarrow"``: their C parsers, when installed (the ``tables`` extra;
  pandas first: on the 200,000 x 20 table of bench/read_table.py it read faster, with
  less memory, than pyarrow's threads on a busy 2-core machine);
* ``"numpy"``: ``np.loadtxt`` after a vectorised check of the fields per line;
* ``"python"``: the ``csv`` module and ``float`` per cell; slow, the reference.

A fast reader only accepts what the reference reader would accept and reads it to the same
numbers. On anything else (a parse error, an empty or non-finite cell, a row of the wrong
length, a quote or a stray carriage return for ``"numpy"``) it gives up, and the reference
reader reads the file again: it either reads it (a cell that only Python's ``float``
takes, such as ``1_000``) or raises the error that names the line and the column. Errors
therefore read the same whichever reader is installed, and a well-formed file never pays
for the reference reader.
"""

from __future__ import annotations

import csv
import math
import warnings
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from nncore.cli._errors import TableError

#: Which reader ``read_csv`` uses: ``"auto"`` (below), or one of ``ENGINES`` (tests force
#: each in turn).
ENGINE = "auto"
ENGINES = ("pandas", "pyarrow", "numpy", "python")
#: Files below this size take the NumPy reader under ``"auto"``: at about 30 MB/s it reads
#: them in less time than importing pandas (0.7 s) takes.
SMALL_FILE = 8 << 20
#: Cells pandas would read as missing (its defaults, which includes ``""``); found cells
#: send the file to the reference reader, which names them.
_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
       "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


class _GiveUp(Exception):
    """A fast reader met something it does not decide: the reference reader takes over."""


def available_engines() -> list[str]:
    """The readers usable here, fastest first: those of ``ENGINES`` whose library exists."""
    return [e for e in ENGINES if e in ("numpy", "python") or find_spec(e) is not None]


def choose_engine(p: Path) -> str:
    """``ENGINE``, or under ``"auto"`` the fastest installed reader for the file's size."""
    if ENGINE != "auto":
        return ENGINE
    if p.stat().st_size < SMALL_FILE:
        return "numpy"
    return available_engines()[0]


#: pandas before 3.0 parses floats with its own converter by default, which misses the
#: nearest double for some 17-digit numbers; "round_trip" reads them as ``float`` does
#: (about 2x slower). pandas 3 reads exactly by default and deprecates the argument.
_EXACT_FLOATS: dict[str, dict[str, str]] = {
    major: {"float_precision": "round_trip"} for major in ("0", "1", "2")}


def read_csv(p: Path, target: str | None, features: list[str] | None,
             notes: list[str] | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """``read_table`` for a ``.csv`` file (see there); ``p`` exists."""
    header, first = _header(p)
    if header is None:
        raise TableError(f"{p}: the file is empty")
    if first is None:
        raise TableError(f"{p}: no data rows after the header")
    _check_delimiter(p, header)
    engine = choose_engine(p)
    # a blank first line, or a first row of the wrong length (pandas would take a longer
    # one's first column for the row index): the reference reader's cases
    if engine != "python" and header and len(first) == len(header):
        try:
            return _fast(engine, p, header, target, features, notes)
        except _GiveUp:
            pass
    return read_csv_python(p, target, features, notes)


def _header(p: Path) -> tuple[list[str] | None, list[str] | None]:
    """The header's names, stripped, and the first row (None when the file ends first)."""
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        first = next(reader, None)
    return None if header is None else [h.strip() for h in header], first


def select_columns(p: Path, header: list[str], target: str | None, features: list[str] | None
            ) -> tuple[list[str], list[int], int | None]:
    """The feature names, their columns and the target's column; the header's errors."""
    if "" in header:
        j = header.index("")
        raise TableError(f"{p}: column {j + 1} has no name in the header: name it, or "
                         f"leave it out of the file (pandas: to_csv(index=False))")
    if target is not None and target not in header and features is None:
        raise TableError(f"{p}: no column named {target!r} (columns: {', '.join(header)})",
                         status=2)
    names = features if features is not None else [h for h in header if h != target]
    missing = [n for n in names if n not in header]
    if missing:
        raise TableError(f"{p}: missing feature columns {missing}")
    t = header.index(target) if target is not None and target in header else None
    return names, [header.index(n) for n in names], t


def _fast(engine: str, p: Path, header: list[str], target: str | None,
          features: list[str] | None, notes: list[str] | None
          ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read with a fast reader; :class:`_GiveUp` for the reference reader to decide."""
    shift = 1 if header[0] == "" else 0  # maybe pandas' row index, known from the cells
    try:
        names, index, t = select_columns(p, header[shift:], target, features)
    except TableError:
        if shift:
            raise _GiveUp from None  # the index decides which error comes first
        raise
    index = [j + shift for j in index]
    t = None if t is None else t + shift
    if t in index:
        raise _GiveUp  # the target a feature too: a case for the reference reader alone
    read = {"pyarrow": _read_pyarrow, "pandas": _read_pandas, "numpy": _read_numpy}[engine]
    X, first, cells = read(p, len(header), index, bool(shift), t)
    if not np.isfinite(X).all():
        raise _GiveUp
    if first is not None:
        first = _strip(first)
        if not np.array_equal(first, np.arange(len(first)).astype(str)):
            raise _GiveUp  # not an index: the reference reader words the error
        if notes is not None:
            notes.append(_index_note(p, len(first)))
    if cells is None:
        return X, None, names
    if cells.dtype.kind in "fiu":  # the reader took every cell for a number
        y = cells.astype(np.float64)
    else:
        y = _strip(cells)
        if (y == "").any():
            raise _GiveUp
        try:
            y = y.astype(float)
        except ValueError:
            return X, y, names  # class labels given as text
    if not np.isfinite(y).all():
        raise _GiveUp
    return X, y, names


def _strip(cells: np.ndarray) -> np.ndarray:
    """Cells without surrounding whitespace, as ``np.array`` of the stripped strings."""
    out = np.char.strip(np.asarray(cells, dtype=str))
    width = int(np.char.str_len(out).max()) if out.size else 0
    return out.astype(f"<U{max(width, 1)}")


#: What a reader gives: X (the feature columns), the first column's cells when it may be
#: an index, the target's cells (numbers, or text) when asked for.
_Read = tuple[np.ndarray, "np.ndarray | None", "np.ndarray | None"]


def _read_pandas(p: Path, n_columns: int, floats: list[int], index_column: bool,
                 target: int | None) -> _Read:
    import pandas as pd

    # Every column, each of the type pandas finds (a column of numbers is float64 or int64;
    # asked for float64 it reads slower), the row index as text. No usecols nor
    # index_col=False, with which pandas drops a row's extra fields: a long row is then a
    # ParserError (the first row, which pandas would read as holding an index, is not).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                p, header=0, names=list(range(n_columns)),
                dtype={0: str} if index_column else None, skip_blank_lines=False,
                encoding="utf-8", keep_default_na=False,  # the header, BOM too, is skipped
                **_EXACT_FLOATS.get(pd.__version__.split(".")[0], {}))
    except (ValueError, OverflowError, UnicodeError, pd.errors.ParserWarning):
        raise _GiveUp from None
    last = frame[n_columns - 1]
    # a short row leaves the last column NaN, or "" as an empty cell would be
    if last.isna().any() or (last.dtype.kind == "O" and (last == "").any()):
        raise _GiveUp
    X = np.empty((len(frame), len(floats)))
    for k, j in enumerate(floats):  # by column: no second copy of the whole table
        column = frame[j]
        if column.dtype.kind not in "fiu":
            raise _GiveUp
        X[:, k] = column.to_numpy()

    def cells(j: int) -> np.ndarray:
        column = frame[j]
        if column.dtype.kind == "b":
            raise _GiveUp  # True/false read as booleans: the labels' spelling is lost
        return column.to_numpy() if column.dtype.kind in "fiu" else column.to_numpy(object)
    return (X, cells(0) if index_column else None,
            None if target is None else cells(target))


def _read_pyarrow(p: Path, n_columns: int, floats: list[int], index_column: bool,
                  target: int | None) -> _Read:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{j}" for j in range(n_columns)]
    wanted = {*floats, *([0] if index_column else []), *([target] if target is not None else [])}
    try:  # a row of the wrong length is an error, included column or not
        table = pacsv.read_csv(
            p, read_options=pacsv.ReadOptions(skip_rows=1, column_names=names),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={names[0]: pa.string()} if index_column else None,
                include_columns=[names[j] for j in sorted(wanted)],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowException, ValueError, OSError):
        raise _GiveUp from None

    def cells(j: int, text: bool = True) -> np.ndarray:
        column = table.column(names[j])
        if column.null_count:
            raise _GiveUp
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            return column.to_numpy()
        if not (text and pa.types.is_string(column.type)):
            raise _GiveUp  # text among features, or booleans, dates: not decided here
        return column.to_numpy(zero_copy_only=False)
    X = np.empty((table.num_rows, len(floats)))
    for k, j in enumerate(floats):
        X[:, k] = cells(j, text=False)
    return (X, cells(0) if index_column else None,
            None if target is None else cells(target))


def _read_numpy(p: Path, n_columns: int, floats: list[int], index_column: bool,
                target: int | None) -> _Read:
    data = p.read_bytes().removeprefix(b"\xef\xbb\xbf")
    if b'"' in data or data.count(b"\r") != data.count(b"\r\n"):
        raise _GiveUp  # quoted cells or old Mac line ends: the csv module's business
    body = np.frombuffer(data, np.uint8)[data.index(b"\n") + 1:]
    ends = np.flatnonzero(body == ord("\n"))
    if body.size and body[-1] != ord("\n"):
        ends = np.append(ends, body.size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    cr = (ends > starts) & (body[np.maximum(ends - 1, 0)] == ord("\r"))
    commas = np.flatnonzero(body == ord(","))
    fields = np.bincount(np.searchsorted(ends, commas), minlength=len(ends)) + 1
    if (fields != n_columns).any() or (ends - starts - cr == 0).any():
        raise _GiveUp  # a row of the wrong length, or a blank line

    def load(columns: list[int]) -> np.ndarray:
        if not columns:
            return np.empty((len(ends), 0))
        return np.loadtxt(p, delimiter=",", skiprows=1, usecols=columns, comments=None,
                          encoding="utf-8-sig", dtype=np.float64, ndmin=2)

    y = None
    try:
        try:  # the target as numbers with the features, in one pass
            both = load([*floats, target] if target is not None else floats)
            X, y = (both, None) if target is None else (
                np.ascontiguousarray(both[:, :-1]), both[:, -1].copy())
        except ValueError:
            X = load(floats)  # the target holds text, or a bad cell fails this too
    except (ValueError, UnicodeError):
        raise _GiveUp from None
    if X.shape != (len(ends), len(floats)):
        raise _GiveUp
    # cells of text columns cut out of the buffer; each line holds n_columns - 1 commas
    bounds = np.column_stack([starts - 1, commas.reshape(len(ends), n_columns - 1), ends - cr])
    text = data[data.index(b"\n") + 1:]

    def cells(j: int) -> np.ndarray:
        try:
            return np.array([text[a + 1:b].decode() for a, b in zip(
                bounds[:, j].tolist(), bounds[:, j + 1].tolist(), strict=True)])
        except UnicodeError:
            raise _GiveUp from None
    return (X, cells(0) if index_column else None,
            y if y is not None or target is None else cells(target))


def read_csv_python(p: Path, target: str | None, features: list[str] | None,
                    notes: list[str] | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """The reference reader: the ``csv`` module, ``float`` per cell, every error worded."""
    with p.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise TableError(f"{p}: the file is empty")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise TableError(f"{p}: no data rows after the header")
    _check_delimiter(p, header)
    if header and header[0] == "":
        if [row[0].strip() if row else "" for row in body] == [str(i) for i in
                                                               range(len(body))]:
            if notes is not None:
                notes.append(_index_note(p, len(body)))
            header, body = header[1:], [row[1:] for row in body]
    names, index, t = select_columns(p, header, target, features)
    X = np.empty((len(body), len(names)))
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TableError(f"{p}, line {line}: {len(row)} fields, expected {len(header)}")
        for j, col in enumerate(index):
            try:
                X[line - 2, j] = value = float(row[col])
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise TableError(f"{p}, line {line}: column {header[col]!r} holds "
                                 f"{row[col]!r}, not a "
                                 f"{'finite number' if math.isinf(value) else 'number'}")
    if t is None:
        return X, None, names
    labels = [row[t].strip() for row in body]
    if "" in labels:
        line = labels.index("") + 2
        raise TableError(f"{p}, line {line}: column {header[t]!r} is empty: every row "
                         f"needs a target value")
    y = np.array(labels)
    try:
        y = y.astype(float)
    except ValueError:
        return X, y, names  # class labels given as text
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        cell = labels[bad[0]]
        raise TableError(f"{p}, line {bad[0] + 2}: column {header[t]!r} holds {cell!r}, "
                         f"not a {'number' if np.isnan(y[bad[0]]) else 'finite number'}")
    return X, y, names


def _index_note(p: Path, n: int) -> str:
    return (f"{p}: the first column has no name and holds 0..{n - 1}: a row index "
            f"(pandas to_csv), dropped")


def _check_delimiter(p: Path, header: list[str]) -> None:
    """A hint for a file separated by ``;`` or tabs, which reads as one column."""
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in header[0]:
                raise TableError(f"{p}: the header is separated by {name}, not commas: "
                                 f"nncore reads comma-separated files (pandas: "
                                 f"to_csv(sep=','))")
