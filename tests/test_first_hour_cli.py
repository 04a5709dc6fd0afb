"""Issue 15, "The first hour": the command line as a newcomer first meets it.

Every case runs ``python -m nncore`` in a subprocess, as a user would, and checks the
exit status and that an error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import csv
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nncore
from nncore.cli._errors import one_line
from nncore.cli._tabular import holdout


def _run(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = None if env is None else {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "nncore", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=full_env)


def _one_line_error(proc: subprocess.CompletedProcess, status: int) -> str:
    """The error line of a failed run, after checking its status and shape."""
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nncore"), lines[0]
    return lines[0]


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _blobs(n_per_class: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated classes, sorted by class as exported files often are."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    X = np.concatenate([c + rng.normal(0, 0.6, (n_per_class, 2)) for c in centres])
    y = np.repeat(np.array(["setosa", "versicolor", "virginica"]), n_per_class)
    return X, y


def _scores(stdout: str) -> dict[str, float]:
    """The ``name value`` pairs of the train summary line."""
    line = next(line for line in stdout.splitlines() if line.startswith("trained"))
    return {k: float(v) for k, v in re.findall(r"(\w+) (\d+\.\d+)", line.split("):")[1])}


@pytest.fixture(scope="module")
def sorted_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = _blobs()
    path = tmp_path_factory.mktemp("data") / "sorted.csv"
    return _write_csv(path, ["a", "b", "species"],
                      [[a, b, t] for (a, b), t in zip(X, y, strict=True)])


@pytest.fixture(scope="module")
def index_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``DataFrame.to_csv`` writes: an unnamed first column holding 0..n-1."""
    X, y = _blobs(seed=1)
    path = tmp_path_factory.mktemp("data") / "pandas.csv"
    return _write_csv(path, ["", "a", "b", "species"],
                      [[i, a, b, t] for i, ((a, b), t) in enumerate(zip(X, y, strict=True))])


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, sorted_csv: Path) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.npz"
    proc = _run("train", sorted_csv, "--target", "species", "--epochs", "3", "-o", path)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 2))
    folder = tmp_path_factory.mktemp("reg")
    data = _write_csv(folder / "reg.csv", ["a", "b", "t"],
                      [[a, b, a + 2 * b] for a, b in X])
    path = folder / "r.npz"
    proc = _run("train", data, "--target", "t", "--epochs", "2", "-o", path)
    assert proc.returncode == 0, proc.stderr
    return path, data


# ------------------------------------------------------------- 1. the validation hold-out
def test_holdout_of_a_class_sorted_file_is_fair(sorted_csv, tmp_path):
    # the last 34 % of this file is all 'virginica', a class training never sees
    proc = _run("train", sorted_csv, "--target", "species", "--validation-split", "0.34",
                "--epochs", "40", "--lr", "0.01", "-o", tmp_path / "m.npz")
    assert proc.returncode == 0, proc.stderr
    assert _scores(proc.stdout)["val_accuracy"] > 0.9


def test_holdout_is_stratified_shuffled_and_seeded():
    y = np.repeat(np.array(["a", "b", "c"]), [50, 30, 20])
    train, val = holdout(y, 0.1, seed=0, stratify=True)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    assert len(val) == 10
    assert dict(zip(*np.unique(y[val], return_counts=True), strict=True)) == {
        "a": 5, "b": 3, "c": 2}
    again = holdout(y, 0.1, seed=0, stratify=True)
    assert np.array_equal(val, again[1]) and np.array_equal(train, again[0])
    assert not np.array_equal(val, holdout(y, 0.1, seed=1, stratify=True)[1])
    # a rare class keeps a training row; regression shuffles without strata
    rare = np.array(["x"] * 19 + ["y"])
    assert "y" in rare[holdout(rare, 0.5, seed=0, stratify=True)[0]]
    values = np.arange(50.0)
    _, val = holdout(values, 0.2, seed=0, stratify=False)
    assert len(val) == 10 and sorted(val.tolist()) != list(range(40, 50))


# --------------------------------------------------------------- 2. pandas' index column
def test_pandas_index_column_is_dropped_in_train_and_predict(index_csv, sorted_csv, tmp_path):
    path = tmp_path / "m.npz"
    proc = _run("train", index_csv, "--target", "species", "--epochs", "3", "-o", path)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stdout.splitlines() if "row index" in line]
    assert len(notes) == 1 and "dropped" in notes[0]
    assert "trained 2 ->" in proc.stdout  # a and b, not the index
    # a file without the index column: the model never needed it
    proc = _run("predict", path, sorted_csv)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 151
    # and one with it
    proc = _run("predict", path, index_csv)
    assert proc.returncode == 0, proc.stderr
    assert "row index" in proc.stderr and len(proc.stdout.splitlines()) == 151


@pytest.mark.parametrize("command", ["train", "predict"])
@pytest.mark.parametrize("header,rows", [
    (["", "a", "b", "species"], [[7, 0.1, 0.2, "x"], [3, 0.3, 0.1, "y"], [5, 1, 2, "x"]]),
    (["a", "", "b", "species"], [[0.1, 0, 0.2, "x"], [0.3, 1, 0.1, "y"], [1, 2, 2, "x"]]),
])
def test_other_unnamed_columns_are_refused(command, header, rows, model, tmp_path):
    data = _write_csv(tmp_path / "d.csv", header, rows)
    args = (["train", data, "--target", "species", "--validation-split", "0",
             "-o", tmp_path / "m.npz"]
            if command == "train" else ["predict", model, data])
    line = _one_line_error(_run(*args), 1)
    assert f"column {header.index('') + 1} has no name" in line


# ----------------------------------------------------- 3. one line where a traceback was
@pytest.mark.parametrize("args,env,status,message", [
    (["train", "{sorted}", "--target", "species", "-o", "/nonexistent/m.npz"], None, 2,
     "/nonexistent does not exist"),
    (["predict", "{model}", "{sorted}", "-o", "/nonexistent/p.csv"], None, 2,
     "/nonexistent does not exist"),
    (["demo", "--plot", "/nonexistent/x.png"], None, 2, "/nonexistent does not exist"),
    (["demo", "--epochs", "0"], None, 2, "argument --epochs: must be >= 1, got 0"),
    (["demo", "--samples", "1"], None, 2, "argument --samples: must be >= 10"),
    (["demo", "--epochs", "1"], {"NNCORE_BACKEND": "bogus"}, 1,
     "NNCORE_BACKEND must be one of"),
    (["train", "{sorted}", "--target", "species", "--epochs", "1"],
     {"NNCORE_BACKEND": "bogus"}, 1, "NNCORE_BACKEND must be one of"),
])
def test_errors_are_one_line(args, env, status, message, sorted_csv, model):
    fill = {"sorted": sorted_csv, "model": model}
    proc = _run(*[a.format(**fill) for a in args], env=env)
    assert message in _one_line_error(proc, status)
    assert "trained" not in proc.stdout and "epoch" not in proc.stdout  # failed up front


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where):
    args = ["--debug", "demo"] if where == "before" else ["demo", "--debug"]
    proc = _run(*args, env={"NNCORE_BACKEND": "bogus"})
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "NNCORE_BACKEND" in proc.stderr


# ---------------------------------------------------------------- 4. misleading messages
def test_swapped_arguments_name_the_model_file(sorted_csv):
    line = _one_line_error(_run("predict", sorted_csv, sorted_csv), 2)
    assert "is not a model file (.npz from 'nncore train')" in line
    assert "sorted.csv.npz" not in line


@pytest.mark.parametrize("value", ["0", "abc", "64,-1"])
def test_bad_hidden_speaks_in_flags(value, sorted_csv, tmp_path):
    proc = _run("train", sorted_csv, "--target", "species", "--hidden", value,
                "-o", tmp_path / "m.npz")
    line = _one_line_error(proc, 2)
    assert "argument --hidden" in line
    assert "units" not in line and "int()" not in line


def test_too_few_rows_suggest_no_validation_split(tmp_path):
    data = _write_csv(tmp_path / "tiny.csv", ["a", "label"], [[1, 0], [2, 1], [3, 0]])
    line = _one_line_error(_run("train", data, "--target", "label",
                                "-o", tmp_path / "m.npz"), 2)
    assert "--validation-split 0" in line and "3 rows" in line
    proc = _run("train", data, "--target", "label", "--validation-split", "0",
                "--epochs", "2", "-o", tmp_path / "m.npz")
    assert proc.returncode == 0, proc.stderr


def test_proba_of_a_regressor_says_so(regressor):
    path, data = regressor
    line = _one_line_error(_run("predict", path, data, "--proba"), 2)
    assert "--proba needs a classifier" in line
    assert "SoftmaxCrossEntropy" not in line


def test_semicolon_separated_file_gets_a_hint(tmp_path):
    data = tmp_path / "semi.csv"
    data.write_text("a;b;label\n1;2;x\n3;4;y\n")
    line = _one_line_error(_run("train", data, "--target", "label", "-o", tmp_path / "m.npz"),
                           1)
    assert "semicolons" in line and "comma" in line


@pytest.mark.parametrize("labels,shown", [(["benign"] * 4, "'benign'"), ([0] * 4, "0")])
def test_no_numpy_reprs(labels, shown, tmp_path):
    data = _write_csv(tmp_path / "one.csv", ["a", "label"],
                      [[i, t] for i, t in enumerate(labels)])
    line = _one_line_error(_run("train", data, "--target", "label", "--validation-split",
                                "0", "--task", "classify", "-o", tmp_path / "m.npz"), 1)
    assert "single class" in line and shown in line and "np." not in line


def test_one_line_removes_numpy_reprs():
    exc = ValueError("got np.str_('a') and np.float64(0.0)\nand np.int64(3)")
    assert one_line(exc) == "got 'a' and 0.0 and 3"


# ---------------------------------------------------------------------- 5. rough edges
def test_version():
    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"nncore {nncore.__version__}"


def test_dtype_and_backend_have_help():
    text = " ".join(_run("train", "--help").stdout.split())
    assert "--dtype {float32,float64} floating-point type" in text
    assert "--backend {auto,cython,numpy} kernel backend" in text


def test_summary_counts_training_and_held_out_rows(model, sorted_csv, tmp_path):
    proc = _run("train", sorted_csv, "--target", "species", "--epochs", "1",
                "-o", tmp_path / "m.npz")
    assert proc.returncode == 0, proc.stderr
    assert "135 training rows, 15 held out" in proc.stdout
    assert proc.stderr == ""  # no terminal: no progress bar


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bar_on_a_terminal(sorted_csv, tmp_path):
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "nncore", "train", str(sorted_csv),
                             "--target", "species", "--epochs", "3",
                             "-o", str(tmp_path / "m.npz")],
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = b""
    while True:  # read while it runs: a full pty buffer would block the child
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed its end
                chunk = b""
            seen += chunk
            if not chunk and proc.poll() is not None:
                break
        elif proc.poll() is not None:
            break
    os.close(master)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert "epoch 3/3" in seen.decode(errors="replace")
    assert "saved to" in out
