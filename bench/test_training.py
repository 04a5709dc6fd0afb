"""Whole-model benchmarks, Cython beside NumPy: a training epoch, single-sample predict,
and what the per-epoch hook machinery costs.

    python -m pytest bench/test_training.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.cases import BACKENDS
from bench.training import EPOCHS, make_epoch, make_hook_epochs, make_predict_one
from nncore.backends.ops import Ops


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("workload", list(EPOCHS))
def test_training_epoch(benchmark: BenchmarkFixture, workload: str, backend: str,
                        ops: Ops) -> None:
    """One epoch of mini-batch SGD."""
    benchmark.group = f"epoch {workload}"
    benchmark.pedantic(make_epoch(workload, backend), rounds=5, iterations=1,
                       warmup_rounds=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_one_sample(benchmark: BenchmarkFixture, backend: str, ops: Ops) -> None:
    """``predict_proba`` of one 784-feature sample through 784-256-128-10."""
    benchmark.group = "predict 1 sample 784-256-128-10"
    benchmark(make_predict_one(backend))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("callbacks", [0, 1, 10])
def test_hook_cost(benchmark: BenchmarkFixture, backend: str, callbacks: int,
                   ops: Ops) -> None:
    """50 tiny full-batch epochs with 0, 1 or 10 no-op per-epoch callbacks."""
    benchmark.group = f"50 tiny epochs, hooks ({backend})"
    benchmark.extra_info["callbacks"] = callbacks
    benchmark(make_hook_epochs(backend, callbacks))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("progress", [False, True], ids=["no-bar", "progress-bar"])
def test_progress_bar_cost(benchmark: BenchmarkFixture, backend: str, progress: bool,
                           ops: Ops) -> None:
    """50 tiny full-batch epochs with and without the progress bar (redrawn per epoch)."""
    benchmark.group = f"50 tiny epochs, progress bar ({backend})"
    benchmark(make_hook_epochs(backend, 0, progress=progress))
