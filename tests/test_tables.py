"""``read_table``: every CSV reader (pyarrow, pandas, NumPy, the ``csv`` module) reads a file
to the same ``(X, y, names)`` or refuses it with the same message; Parquet files.

The reference reader (``"python"``) words the errors; the others must agree with it on
every file here, well-formed or not. pandas and pyarrow come with the ``tables`` extra,
which the README's test command installs; without them only their cases skip.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nncore.cli import _csv
from nncore.cli._tabular import TableError, read_table

ENGINES = _csv.available_engines()
FAST = [e for e in ENGINES if e != "python"]

#: name -> (file content, read_table keyword arguments)
FILES: dict[str, tuple[str, dict]] = {
    "numbers": ("a,b,y\n1,2,3\n4,5,6\n-.5,1e3,+2\n", {"target": "y"}),
    "spaces": (" a , b ,y\n 1, 2 ,x\n3,4 , z \n", {"target": "y"}),
    "labels first": ("label,a,b\nred,1,2\nblue,3,4\n", {"target": "label"}),
    "numeric labels": ("a,label\n1,1\n2,2.5\n", {"target": "label"}),
    "no target": ("a,b,label\n1,2,red\n3,4,blue\n", {"features": ["b", "a"]}),
    "target absent": ("a,b\n1,2\n3,4\n", {"features": ["a", "b"]}),
    "index": (",a,y\n0,1,x\n1,2,y\n2,3,x\n", {"target": "y"}),
    "index spaced": (", a,y\n 0,1,x\n1 ,2,y\n", {"target": "y"}),
    "not an index": (",a,y\n7,1,x\n3,2,y\n", {"target": "y"}),
    "index, then unnamed": (",a,,y\n0,1,2,x\n1,3,4,y\n", {"target": "y"}),
    "not an index, target absent": (",a,y\n7,1,x\n3,2,y\n", {"target": "nope"}),
    "index, target absent": (",a,y\n0,1,x\n1,2,y\n", {"target": "nope"}),
    "unnamed middle": ("a,,y\n1,2,x\n3,4,y\n", {"target": "y"}),
    "no such target": ("a,b\n1,2\n", {"target": "nope"}),
    "feature missing": ("a,b,y\n1,2,3\n", {"features": ["a", "zz"]}),
    "text cell": ("a,b,y\n1,2,3\n1,abc,3\n", {"target": "y"}),
    "empty cell": ("a,b,y\n1,,3\n", {"target": "y"}),
    "nan cell": ("a,b,y\n1,nan,3\n", {"target": "y"}),
    "NA cell": ("a,b,y\n1,NA,3\n", {"target": "y"}),
    "inf cell": ("a,b,y\n1,-inf,3\n", {"target": "y"}),
    "short row": ("a,b,y\n1,2,3\n4,5\n", {"target": "y"}),
    "short row, unused column": ("a,b,y\n1,2,3\n4,5\n", {"features": ["a"]}),
    "long row": ("a,b,y\n1,2,3\n4,5,6,7\n", {"target": "y"}),
    "every row long": ("a,b,y\n1,2,3,4\n5,6,7,8\n", {"target": "y"}),
    "trailing commas": ("a,b,y\n1,2,3,\n5,6,7,\n", {"target": "y"}),
    "bad cell before short row": ("a,b,y\n1,x,3\n4,5\n", {"target": "y"}),
    "short row before bad cell": ("a,b,y\n4,5\n1,x,3\n", {"target": "y"}),
    "blank line": ("a,y\n1,2\n\n3,4\n", {"target": "y"}),
    "blank line at the end": ("a,y\n1,2\n3,4\n\n", {"target": "y"}),
    "blank first line": ("\n1,2\n", {"target": "y"}),
    "empty": ("", {"target": "y"}),
    "blank": ("\n", {"target": "y"}),
    "header only": ("a,b,y\n", {"target": "y"}),
    "semicolons": ("a;b;y\n1;2;3\n", {"target": "y"}),
    "tabs": ("a\tb\ty\n1\t2\t3\n", {"target": "y"}),
    "quoted": ('a,b,y\n"1","2","red, dark"\n3,4,"blue"\n', {"target": "y"}),
    "quoted newline": ('a,y\n1,"two\nlines"\n2,x\n', {"target": "y"}),
    "crlf": ("a,b,y\r\n1,2,x\r\n3,4,y\r\n", {"target": "y"}),
    "cr only": ("a,y\r1,2\r3,4\r", {"target": "y"}),
    "bom": ("\ufeffa,y\n1,2\n", {"target": "y"}),
    "no final newline": ("a,y\n1,2\n3,4", {"target": "y"}),
    "underscores": ("a,y\n1_000,2\n", {"target": "y"}),
    "comment sign": ("a,y\n#1,2\n", {"target": "y"}),
    "empty target": ("a,y\n1,x\n2,\n", {"target": "y"}),
    "nan target": ("a,y\n1,nan\n2,3\n", {"target": "y"}),
    "inf target": ("a,y\n1,inf\n2,3\n", {"target": "y"}),
    "nan label": ("a,y\n1,cat\n2,nan\n", {"target": "y"}),
    "unicode labels": ("a,y\n1,é\n2,ü\n", {"target": "y"}),
    "duplicate names": ("a,a,y\n1,2,3\n", {"target": "y"}),
    "target only": ("y\n1\n2\n", {"target": "y"}),
    "one column": ("a\n1\n2\n", {}),
    "first row long": ("a,b\n0,1,2\n1,3,4\n", {"target": "b"}),
    "only the first row long": ("a,b,y\n1,2,3,4\n5,6,7\n", {"target": "y"}),
    "integers": ("a,y\n1,2\n3,4\n", {"target": "y"}),
    "boolean labels": ("a,y\n1,True\n2,false\n", {"target": "y"}),
    "date labels": ("a,y\n1,2024-01-01\n2,2024-01-02\n", {"target": "y"}),
    "mixed labels": ("a,y\n1,1\n2,x\n", {"target": "y"}),
    "index of 00": (",a,y\n00,1,x\n1,2,y\n", {"target": "y"}),
    "empty cells, unused last column": ("a,y,note\n1,2,\n3,4,x\n", {"target": "y"}),
    "wide numbers": ("a,y\n0.1000000000000000055511151231257827,1\n1e-320,2\n"
                     "123456789012345678901234567890,3\n", {"target": "y"}),
}


def _outcome(path: Path, engine: str, kwargs: dict, monkeypatch) -> tuple:
    """What ``read_table`` gives with ``engine``: the arrays and notes, or the error."""
    monkeypatch.setattr(_csv, "ENGINE", engine)
    notes: list[str] = []
    try:
        X, y, names = read_table(path, notes=notes, **kwargs)
    except TableError as exc:
        return ("error", str(exc), exc.status)
    assert X.dtype == np.float64 and X.flags.c_contiguous
    return ("read", X.shape, X.tobytes(), None if y is None else (y.dtype, y.tolist()),
            names, notes)


@pytest.mark.parametrize("engine", FAST)
@pytest.mark.parametrize("name", FILES)
def test_every_reader_agrees_with_the_reference(name, engine, tmp_path, monkeypatch):
    text, kwargs = FILES[name]
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode())
    expected = _outcome(path, "python", kwargs, monkeypatch)
    assert _outcome(path, engine, kwargs, monkeypatch) == expected


@pytest.mark.parametrize("name,message", [
    ("text cell", "data.csv, line 3: column 'b' holds 'abc', not a number"),
    ("empty cell", "line 2: column 'b' holds '', not a number"),
    ("nan cell", "line 2: column 'b' holds 'nan', not a number"),
    ("inf cell", "line 2: column 'b' holds '-inf', not a finite number"),
    ("short row", "data.csv, line 3: 2 fields, expected 3"),
    ("short row, unused column", "line 3: 2 fields, expected 3"),
    ("every row long", "line 2: 4 fields, expected 3"),
    ("bad cell before short row", "line 2: column 'b' holds 'x'"),
    ("short row before bad cell", "line 2: 2 fields, expected 3"),
    ("blank line at the end", "line 4: 0 fields, expected 2"),
    ("empty", "data.csv: the file is empty"),
    ("blank", "no data rows after the header"),
    ("header only", "no data rows after the header"),
    ("semicolons", "separated by semicolons, not commas"),
    ("tabs", "separated by tabs, not commas"),
    ("not an index", "column 1 has no name"),
    ("not an index, target absent", "column 1 has no name"),
    ("index, then unnamed", "column 2 has no name"),
    ("index, target absent", "no column named 'nope' (columns: a, y)"),
    ("feature missing", "missing feature columns ['zz']"),
    ("empty target", "line 3: column 'y' is empty: every row needs a target value"),
    ("nan target", "line 2: column 'y' holds 'nan', not a number"),
    ("inf target", "line 2: column 'y' holds 'inf', not a finite number"),
])
@pytest.mark.parametrize("engine", ENGINES)
def test_errors_name_the_line_and_column(name, message, engine, tmp_path, monkeypatch):
    text, kwargs = FILES[name]
    path = tmp_path / "data.csv"
    path.write_text(text)
    monkeypatch.setattr(_csv, "ENGINE", engine)
    with pytest.raises(TableError, match="^" + str(tmp_path).replace("\\", "\\\\")) as info:
        read_table(path, **kwargs)
    assert message in str(info.value)
    assert info.value.status == (2 if "no column named" in message else 1)


def test_what_is_read(tmp_path, monkeypatch):
    """The reference reader's results, which the others match: header names stripped,
    the index column dropped with a note, features in the order asked, labels as text."""
    path = tmp_path / "d.csv"
    path.write_text(FILES["index spaced"][0])
    notes: list[str] = []
    X, y, names = read_table(path, target="y", notes=notes)
    assert names == ["a"] and X.tolist() == [[1.0], [2.0]] and y.tolist() == ["x", "y"]
    assert len(notes) == 1 and "holds 0..1: a row index" in notes[0]
    path.write_text(FILES["no target"][0])
    X, y, names = read_table(path, features=["b", "a"])
    assert names == ["b", "a"] and X.tolist() == [[2, 1], [4, 3]] and y is None
    path.write_text(FILES["numeric labels"][0])
    assert read_table(path, target="label")[1].dtype == np.float64
    path.write_text(FILES["underscores"][0])  # as float() reads it
    assert read_table(path, target="y")[0].tolist() == [[1000.0]]


def _random_table(path: Path, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)) * 10.0 ** rng.integers(-8, 9, size=(n, 8))
    labels = rng.choice(np.array(["red", "green", "blue"]), n)
    with path.open("w") as fh:
        fh.write(",".join([f"f{j}" for j in range(8)] + ["colour"]) + "\n")
        for row, label in zip(X.tolist(), labels, strict=True):
            fh.write(",".join(map(repr, row)) + f",{label}\n")
    return X, labels


@pytest.mark.parametrize("engine", ENGINES)
def test_a_larger_file_reads_exactly_without_the_reference_reader(engine, tmp_path,
                                                                   monkeypatch):
    """20,000 rows of numbers over 17 orders of magnitude: read to the same bits as
    ``float`` reads them; a fast reader never falls back to the reference reader here."""
    path = tmp_path / "big.csv"
    X, labels = _random_table(path, 20_000)
    if engine != "python":
        def refuse(*args: object) -> None:
            raise AssertionError("fell back to the reference reader")
        monkeypatch.setattr(_csv, "read_csv_python", refuse)
    monkeypatch.setattr(_csv, "ENGINE", engine)
    got, y, names = read_table(path, target="colour")
    assert names == [f"f{j}" for j in range(8)]
    assert got.tobytes() == X.tobytes() and y.tolist() == labels.tolist()


def test_auto_takes_numpy_for_small_files(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n1,2\n")
    assert _csv.choose_engine(path) == "numpy"
    monkeypatch.setattr(_csv, "SMALL_FILE", 0)
    assert _csv.choose_engine(path) == ENGINES[0]
    monkeypatch.setattr(_csv, "ENGINE", "python")
    assert _csv.choose_engine(path) == "python"


def test_other_suffixes_are_refused(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("a,y\n1,2\n")
    with pytest.raises(TableError, match=r"expected a \.csv, \.parquet or \.npz file"):
        read_table(path, target="y")


# -------------------------------------------------------------------------------- Parquet
def _frame(n: int = 30):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 9, n),
                         "species": rng.choice(["x", "y"], n), "v": rng.normal(size=n)})


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    frame = _frame()
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    X, y, names = read_table(path, target="species")
    assert names == ["a", "b", "v"] and X.flags.c_contiguous
    np.testing.assert_array_equal(X, frame[names].to_numpy(np.float64))
    assert y.tolist() == frame["species"].tolist()
    X, y, names = read_table(path, target="v", features=["b", "a"])
    assert names == ["b", "a"] and y.dtype == np.float64
    np.testing.assert_array_equal(y, frame["v"].to_numpy())
    # a CSV of the same frame reads the same
    frame.to_csv(tmp_path / "d.csv", index=False)
    csv = read_table(tmp_path / "d.csv", target="species")
    np.testing.assert_array_equal(csv[0], read_table(path, target="species")[0])


def test_parquet_errors(tmp_path):
    pytest.importorskip("pyarrow")
    frame = _frame(10)
    path = tmp_path / "d.parquet"
    # an index other than a range: to_parquet stores it as a column
    frame.iloc[np.random.default_rng(0).permutation(10)].to_parquet(path)
    notes: list[str] = []
    assert read_table(path, target="species", notes=notes)[2] == ["a", "b", "v"]
    assert "__index_level_0__" in notes[0]
    with pytest.raises(TableError, match="no column named 'nope'") as info:
        read_table(path, target="nope")
    assert info.value.status == 2
    with pytest.raises(TableError, match="column 'species' holds text, not numbers"):
        read_table(path, target="v", features=["a", "species"])
    frame.loc[3, "a"] = np.nan
    frame.to_parquet(path)
    with pytest.raises(TableError, match=r"d.parquet, row 4: column 'a' is empty \(null\)"):
        read_table(path, target="species")
    frame.loc[3, "a"], frame.loc[5, "species"] = 1.0, ""
    frame.to_parquet(path)
    with pytest.raises(TableError, match="row 6: column 'species' is empty"):
        read_table(path, target="species")
    (tmp_path / "bad.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(TableError, match="not a readable Parquet file"):
        read_table(tmp_path / "bad.parquet", target="b")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(TableError, match=r'needs pyarrow: pip install "nncore\[tables\]"'):
        read_table(path, target="y")


def test_train_and_predict_a_parquet_file(tmp_path):
    pytest.importorskip("pyarrow")
    frame = _frame(60)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    model = tmp_path / "m.npz"
    run = [sys.executable, "-m", "nncore"]
    proc = subprocess.run([*run, "train", tmp_path / "d.parquet", "--target", "species",
                           "--epochs", "2", "-o", model], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "trained 3 ->" in proc.stdout
    proc = subprocess.run([*run, "predict", model, tmp_path / "d.parquet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "species" and len(proc.stdout.splitlines()) == 61
    proc = subprocess.run([*run, "train", tmp_path / "d.parquet", "-o", model],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--target COLUMN is required for a .parquet" in proc.stderr
