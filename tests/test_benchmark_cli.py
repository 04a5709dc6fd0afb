"""``nncore bench``, run as a user would: in a subprocess, on the quick sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SYSTEMS = ("nncore-cython", "nncore-numpy", "numpy-loop")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nncore", "bench", *args],
                          capture_output=True, text=True, timeout=300)


def test_bench_help():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("usage: nncore bench")
    for option in ("--json", "--workloads", "--systems", "--threads", "--repeats", "--quick"):
        assert option in out


@pytest.mark.cython
def test_bench_quick_json():
    proc = _run("--quick", "--json", "--systems", ",".join(SYSTEMS), "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["threads"] == os.cpu_count()
    assert {"platform", "cpu", "cpu_count", "OPENBLAS_CORETYPE"} <= set(report["machine"])
    assert {"python", "numpy", "scipy", "nncore"} <= set(report["versions"])
    assert report["blas"] and all("internal_api" in pool for pool in report["blas"])
    results = report["results"]
    assert {r["workload"] for r in results} == {"W1", "W2", "W3", "W4"}
    for r in results:
        assert r["seconds"] > 0 and all(t > 0 for t in r["runs"])
        assert 0 < r["min_seconds"] <= r["seconds"] and "other_cpus" in r
        assert r["ratio_to_nncore_cython"] > 0
        assert ("per_call_us" if r["workload"] == "W3" else "per_step_us") in r
    for key in ("W1", "W2", "W3"):
        assert sorted(r["system"] for r in results if r["workload"] == key) == sorted(SYSTEMS)
    assert [r["system"] for r in results if r["workload"] == "W4"] == ["sgemm floor"]
    assert next(r for r in results if r["workload"] == "W4")["nncore_cython_x_floor"] > 0
    # Same data, same batch order, same initial weights: the epoch losses agree.
    for key in ("W1", "W2"):
        losses = [r["loss"] for r in results if r["workload"] == key]
        assert max(losses) - min(losses) < 1e-3 * max(losses), losses
        assert all(r["ratio_to_nncore_cython"] == 1.0 for r in results
                   if r["workload"] == key and r["system"] == "nncore-cython")


def test_bench_rejects_unknown_system():
    proc = _run("--quick", "--systems", "nncore-cython,frobnicate", "--workloads", "W1")
    assert proc.returncode == 2 and "frobnicate" in proc.stderr
