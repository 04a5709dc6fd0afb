"""``nncore train`` and ``nncore predict`` through subprocesses, as a user runs them."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nncore


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nncore", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def moons_csv(tmp_path: Path) -> Path:
    X, y = nncore.make_moons(600, noise=0.1, seed=2)
    path = tmp_path / "moons.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "x", "y"])  # target first: columns are found by name
        for (a, b), t in zip(X, y, strict=True):
            w.writerow([["red", "blue"][t], a, b])
    return path


def _read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(text.splitlines()))


def test_train_then_predict_a_classifier(tmp_path, moons_csv):
    model = tmp_path / "m.npz"
    proc = _run("train", moons_csv, "--target", "label", "--hidden", "32,32", "--epochs", "60",
                "--lr", "0.01", "-o", model)
    assert proc.returncode == 0, proc.stderr
    assert "classify" in proc.stdout and f"saved to {model}" in proc.stdout
    proc = _run("predict", model, moons_csv)
    assert proc.returncode == 0, proc.stderr
    rows = _read_csv(proc.stdout)
    assert rows[0] == ["label"] and len(rows) == 601
    with moons_csv.open() as fh:
        truth = [r[0] for r in list(csv.reader(fh))[1:]]
    accuracy = np.mean([p[0] == t for p, t in zip(rows[1:], truth, strict=True)])
    assert accuracy > 0.95
    proba = _read_csv(_run("predict", model, moons_csv, "--proba").stdout)
    assert proba[0] == ["blue", "red"]
    sums = [float(a) + float(b) for a, b in proba[1:]]
    np.testing.assert_allclose(sums, 1, atol=1e-5)


def test_predict_to_a_file_with_the_numpy_backend(tmp_path, moons_csv):
    model, out = tmp_path / "m.npz", tmp_path / "pred.csv"
    assert _run("train", moons_csv, "--target", "label", "--epochs", "2", "-o",
                model).returncode == 0
    proc = _run("predict", model, moons_csv, "-o", out, "--backend", "numpy")
    assert proc.returncode == 0 and proc.stdout == ""
    assert len(out.read_text().splitlines()) == 601


def test_train_a_regressor_from_npz(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (400, 3))
    y = X[:, 0] ** 2 + np.sin(X[:, 1]) - X[:, 2]
    data = tmp_path / "data.npz"
    np.savez(data, X=X, y=y)
    model = tmp_path / "reg.npz"
    proc = _run("train", data, "--hidden", "32", "--epochs", "100", "--optimizer", "adam",
                "--lr", "0.01", "--batch-size", "16", "-o", model)
    assert proc.returncode == 0, proc.stderr
    assert "regress" in proc.stdout
    rows = _read_csv(_run("predict", model, data).stdout)
    pred = np.array([float(r[0]) for r in rows[1:]])
    assert np.mean((pred - y) ** 2) < 0.1 * np.var(y)


@pytest.mark.parametrize("args,message", [
    (["train", "{csv}"], "--target"),
    (["train", "{csv}", "--target", "nope"], "no column named 'nope'"),
    (["train", "{missing}", "--target", "label"], "no such file"),
    (["train", "{csv}", "--target", "label", "--hidden", "a,b"], "train:"),
    (["predict", "{csv}", "{csv}"], "predict:"),
])
def test_clear_errors(tmp_path, moons_csv, args, message):
    fill = {"csv": moons_csv, "missing": tmp_path / "none.csv"}
    proc = _run(*[a.format(**fill) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["train", "predict", "bench"])
def test_help(command):
    proc = _run(command, "--help")
    assert proc.returncode == 0 and "usage: nncore" in proc.stdout
