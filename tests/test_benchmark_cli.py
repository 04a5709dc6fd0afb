"""``nncore bench``, run as a user would: in a subprocess, on the quick sizes.

It times nncore alone (its backends, the GEMM floor, BLAS thread counts); the comparison
with other systems is ``bench/compare.py`` (tests/test_bench_smoke.py), so no module of
the installed package imports PyTorch, or scikit-learn outside ``nncore.sklearn``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import nncore
from nncore.cli._bench import COMPARE_HINT, thread_counts


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nncore", "bench", *args],
                          capture_output=True, text=True, timeout=300)


def test_bench_help():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("usage: nncore bench")
    for option in ("--json", "--workloads", "--backends", "--threads", "--repeats", "--quick",
                   "--busy-neighbour"):
        assert option in out
    assert "bench/compare.py" in out


@pytest.mark.cython
def test_bench_quick_json():
    proc = _run("--quick", "--json", "--threads", "1,2", "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    assert COMPARE_HINT in proc.stderr
    report = json.loads(proc.stdout)
    assert report["threads"] == [1, 2] and report["reference"] == "nncore-cython"
    assert {"platform", "cpu", "cpu_count", "simd_flags"} <= set(report["machine"])
    assert {"python", "numpy", "scipy", "nncore"} <= set(report["versions"])
    assert "torch" not in report["versions"] and "sklearn" not in report["versions"]
    assert report["nncore"]["kernels"] and report["nncore"]["simd"]
    assert report["blas"] and all("internal_api" in pool for pool in report["blas"])
    results = report["results"]
    assert {r["workload"] for r in results} == {"W1", "W2", "W3", "W4", "W5"}
    for r in results:
        assert r["seconds"] > 0 and all(t > 0 for t in r["runs"])
        assert 0 < r["min_seconds"] <= r["seconds"] and "other_cpus" in r
        assert r["ratio_to_reference"] > 0
        assert ("per_call_us" if r["workload"] in ("W3", "W5") else "per_step_us") in r
        assert ("per_row_us" in r) == (r["workload"] == "W5")
    w5 = [r for r in results if r["workload"] == "W5"]
    assert all(r["rows"] == 2_000 and r["per_row_us"] == pytest.approx(r["per_call_us"] / 2_000)
               for r in w5)
    for key in ("W1", "W2", "W3", "W5"):
        assert sorted((r["system"], r["threads"]) for r in results if r["workload"] == key) == [
            ("nncore-cython", 1), ("nncore-cython", 2), ("nncore-numpy", 1), ("nncore-numpy", 2)]
    floor = [r for r in results if r["workload"] == "W4"]
    assert [(r["system"], r["threads"]) for r in floor] == [("sgemm floor", 1), ("sgemm floor", 2)]
    assert all(r["reference_x_floor"] > 0 for r in floor)
    # Same data, same batch order, same initial weights: the epoch losses agree.
    for key in ("W1", "W2"):
        losses = [r["loss"] for r in results if r["workload"] == key]
        assert max(losses) - min(losses) < 1e-3 * max(losses), losses
        assert [r["ratio_to_reference"] for r in results if r["workload"] == key
                and r["system"] == "nncore-cython" and r["threads"] == 1] == [1.0]


def test_bench_numpy_backend_report():
    """The text report, on the backend every install has; ends with the comparison hint."""
    proc = _run("--quick", "--backends", "numpy", "--workloads", "W2,W3,W5", "--threads", "1",
                "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"nncore {nncore.__version__}")
    assert "thread pools (threadpoolctl):" in out and "threads=" in out
    assert "### W2" in out and "### W3" in out and "### W1" not in out
    assert "### W5: predict_proba on 100,000 rows" in out and "| µs / row |" in out
    assert "| nncore-numpy | 1 |" in out and "1.00x (reference)" in out
    assert out.rstrip().endswith(COMPARE_HINT)


def test_bench_busy_neighbour_rows_and_report():
    """--busy-neighbour times each workload again beside a CPU-bound process, reports what
    that process did, and stops it (no process of it is left running)."""
    proc = _run("--quick", "--backends", "numpy", "--workloads", "W2", "--threads", "1",
                "--repeats", "1", "--busy-neighbour", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["neighbour"] for r in report["results"]] == ["none", "busy"]
    (line,) = report["neighbours"]
    assert line.startswith("W2: busy neighbour: a CPU-bound process (pid ")
    pid = int(line.split("pid ")[1].split(")")[0])
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    busy = report["results"][1]
    assert busy["ratio_to_reference"] == 1.0  # compared with the reference beside it


@pytest.mark.parametrize("args, message", [
    (("--backends", "cython,frobnicate"), "frobnicate"),
    (("--workloads", "W9"), "W9"),
    (("--threads", "0"), "--threads"),
    (("--threads", "two"), "--threads"),
    (("--systems", "torch"), "bench/compare.py"),
])
def test_bench_rejects_bad_arguments(args, message):
    proc = _run("--quick", *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_thread_counts():
    assert thread_counts(None, 4) == [4, 1]
    assert thread_counts(None, 1) == [1]
    assert thread_counts("1, 2,1", 4) == [1, 2]
    for bad in ("", "0", "1,-2", "x"):
        with pytest.raises(ValueError, match="--threads"):
            thread_counts(bad, 2)


def test_package_imports_neither_torch_nor_sklearn_for_benchmarking():
    """Only the scikit-learn estimators (sklearn.py and its _sklearn_* modules) import
    scikit-learn; nothing imports torch."""
    package = Path(nncore.__file__).parent
    allowed = {"sklearn.py", *(p.name for p in package.glob("_sklearn_*.py"))}
    offenders = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "torch" or (top == "sklearn" and path.name not in allowed):
                    offenders.append(f"{path.name}: {name}")
    assert not offenders


def test_info_and_bench_modules_load_no_comparison_system():
    code = ("import sys, nncore.cli._bench, nncore.cli\n"
            "nncore.cli.info_text()\n"
            "print(sorted(m for m in ('torch', 'sklearn', 'onnx', 'onnxruntime', 'jax')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"
