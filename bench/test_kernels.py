"""Every ``Ops`` kernel, Cython vs NumPy, with pytest-benchmark.

Run (each group holds the two backends of one kernel, size and dtype)::

    python -m pytest bench/ --benchmark-group-by=group
    python -m pytest bench/test_kernels.py -k 128x256 --benchmark-group-by=group
    python -m pytest bench/ -k "gemm and 1024x1024 and float32" --benchmark-columns=min,median

Test ids are ``test_kernel[<case>-<size>-<dtype>-<backend>]``, e.g.
``test_kernel[act_backward.relu-128x256-float32-cython]``. Sizes of at least
``LARGE_ELEMENTS`` elements run ``benchmark.pedantic`` with a fixed number of rounds
(about ``LARGE_BUDGET_S`` seconds each), so ``--benchmark-max-time`` does not apply to
them; smaller ones use the normal calibrated ``benchmark(...)`` call.
"""

from __future__ import annotations

import time

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.cases import BACKENDS, CASES, DTYPES, SIZES, Case, settle
from nncore.backends.ops import Ops

#: Sizes with at least this many elements (n * d) are timed with ``pedantic``.
LARGE_ELEMENTS = 1 << 20
#: Approximate time spent timing one large benchmark, and its bounds in rounds.
LARGE_BUDGET_S = 0.5
LARGE_ROUNDS = (3, 25)


def _rounds(seconds_per_call: float) -> int:
    lo, hi = LARGE_ROUNDS
    return max(lo, min(hi, int(LARGE_BUDGET_S / max(seconds_per_call, 1e-9))))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_kernel(
    benchmark: BenchmarkFixture, case: Case, size: str, dtype: str, backend: str, ops: Ops
) -> None:
    """Time one kernel call on prepared inputs (OUT buffers preallocated)."""
    n, d = SIZES[size]
    call = case.bind(ops, n, d, dtype)
    benchmark.group = f"{case.name} {size} {dtype}"
    benchmark.extra_info.update(kernel=case.name, size=size, dtype=dtype, backend=backend)
    settle(case)
    if n * d >= LARGE_ELEMENTS:
        start = time.perf_counter()
        call()  # warm-up, and a time estimate for the round count
        rounds = _rounds(time.perf_counter() - start)
        benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=1)
    else:
        benchmark(call)
