"""The benchmark code keeps working: every case and workload runs once at a tiny size, and
``bench/compare.py`` (nncore beside a NumPy loop, and scikit-learn, PyTorch, ONNX Runtime
and JAX when installed) runs on the quick sizes, as the README says to run it. That the
systems compute the same things is tests/test_bench_systems.py."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cases, training

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("backend", [
    pytest.param("numpy"), pytest.param("cython", marks=pytest.mark.cython)])
def test_every_kernel_case_runs(backend):
    assert cases.run_all_once(size=(4, 3), backends=[backend]) == 2 * len(cases.CASES)


@pytest.mark.parametrize("backend", [
    pytest.param("numpy"), pytest.param("cython", marks=pytest.mark.cython)])
def test_every_model_workload_runs(backend):
    for workload in training.EPOCHS:
        history = training.make_epoch(workload, backend, scale=0.01, callbacks=2)()
        assert len(history.history["loss"]) == 1
    assert training.make_hook_epochs(backend, callbacks=1, epochs=2)().epoch == [0, 1]
    assert training.make_hook_epochs(backend, 0, epochs=2, progress=True)().epoch == [0, 1]
    assert training.make_predict_one(backend)().shape == (1, 10)


# ---------------------------------------------------------------------- bench/compare.py
def _compare(*args: str) -> subprocess.CompletedProcess:
    """Run bench/compare.py as the README says, from the repository root."""
    return subprocess.run([sys.executable, str(ROOT / "bench" / "compare.py"), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_compare_runs_on_every_install():
    """No compiled kernels needed: the NumPy backend beside the NumPy loop (and sklearn)."""
    systems = ["nncore-numpy", "numpy-loop"] + (["sklearn"] if _importable("sklearn") else [])
    proc = _compare("--quick", "--json", "--repeats", "1", "--workloads", "W2,W3",
                    "--systems", ",".join(systems))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["skipped"] == {}
    for key in ("W2", "W3"):
        assert [r["system"] for r in report["results"] if r["workload"] == key] == systems
    losses = [r["loss"] for r in report["results"] if r["workload"] == "W2"]
    assert max(losses) - min(losses) < 1e-3 * max(losses), losses
    if "sklearn" in systems:
        assert report["versions"]["sklearn"]


@pytest.mark.cython
def test_compare_quick_report():
    """Every system importable here (torch only if installed), every workload, as text."""
    systems = ["nncore-cython", "nncore-numpy", "numpy-loop"] + [
        name for name, module in (("torch", "torch"), ("sklearn", "sklearn"),
                                  ("onnxruntime", "onnxruntime"), ("jax", "jax"))
        if _importable(module)]
    proc = _compare("--quick", "--repeats", "1", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("nncore ") and "threads: 1 for every system" in out
    for key in ("W1", "W2", "W3", "W4", "W5"):
        assert f"### {key}:" in out
    for name in systems:
        assert f"| {name} |" in out
    assert "| nncore-cython | " in out and "1.00x (reference)" in out
    assert "| sgemm floor |" in out and "nncore-cython W1 = " in out
    if "torch" not in systems:
        assert "skipped torch: torch not importable" in out
    if "onnxruntime" in systems:
        assert "onnxruntime: not applicable (inference only" in out
    else:
        assert "skipped onnxruntime: " in out and 'pip install ".[compare]"' in out
    assert "epoch losses" in out


def test_compare_rejects_unknown_system():
    proc = _compare("--quick", "--systems", "numpy-loop,frobnicate", "--workloads", "W2")
    assert proc.returncode == 2 and "frobnicate" in proc.stderr
