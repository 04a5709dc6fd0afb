"""Print a Markdown table of every kernel, NumPy vs Cython, at one size.

Usage::

    python bench/kernel_table.py                      # 128x256, float32 and float64
    python bench/kernel_table.py --size 1024x1024 --dtype float32 -k gemm -k adam
    python bench/kernel_table.py --threads 0          # BLAS threads as they are (default 1)

BLAS is pinned to one thread and glibc's malloc to its steady state by default (see
``bench.cases.settle`` and ``bench.cases.steady_allocator``), so the numbers do not
depend on which cases run, or in which order.

Each entry is the median, over ``--repeat`` repeats, of the mean time per call in a loop
of calls calibrated to take about ``--min-time`` seconds (``timeit`` style, one process).
The cases are those of ``bench/cases.py``, shared with the pytest-benchmark suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cases import (
    CASES,
    DEFAULT_BLAS_THREADS,
    DTYPES,
    Case,
    environment,
    parse_size,
    pin_blas_threads,
    select,
    settle,
    steady_allocator,
)
from nncore import HAS_KERNELS, get_ops
from nncore.backends.ops import Ops


def time_call(call: Callable[[], Any], repeat: int = 9, min_time: float = 0.025) -> float:
    """Median seconds per call: ``repeat`` loops of ``number`` calls each, ``timeit`` style."""
    timer = timeit.Timer(call)
    timer.timeit(number=1)  # warm-up (first-touch of temporaries, BLAS threads)
    number = 1
    while True:  # calibrate the loop length, as Timer.autorange does, to ~min_time
        elapsed = timer.timeit(number=number)
        if elapsed >= min_time:
            break
        number = max(number * 2, int(number * min_time / max(elapsed, 1e-9) * 1.2))
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number


def time_case(
    case: Case, ops: Ops, n: int, d: int, dtype: str, repeat: int, min_time: float
) -> float:
    """Median seconds per call of ``case`` on backend ``ops`` (fresh inputs)."""
    call = case.bind(ops, n, d, dtype)
    settle(case)
    return time_call(call, repeat, min_time)


def table_rows(
    n: int, d: int, dtypes: Sequence[str], patterns: Sequence[str], repeat: int, min_time: float
) -> list[tuple[str, str, float, float]]:
    """``(kernel, dtype, numpy_s, cython_s)`` for every selected case."""
    numpy_ops, cython_ops = get_ops("numpy"), get_ops("cython")
    rows = []
    for case in select(CASES, patterns):
        for dtype in dtypes:
            t_np = time_case(case, numpy_ops, n, d, dtype, repeat, min_time)
            t_cy = time_case(case, cython_ops, n, d, dtype, repeat, min_time)
            rows.append((case.name, dtype, t_np, t_cy))
    return rows


def markdown(rows: Sequence[tuple[str, str, float, float]]) -> str:
    """Render the rows as a Markdown table (times in microseconds)."""
    lines = [
        "| kernel | dtype | numpy µs | cython µs | speed-up (numpy/cython) |",
        "|---|---|---:|---:|---:|",
    ]
    for name, dtype, t_np, t_cy in rows:
        lines.append(
            f"| {name} | {dtype} | {t_np * 1e6:.1f} | {t_cy * 1e6:.1f} | {t_np / t_cy:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="128x256", help="problem size NxD (default 128x256)")
    parser.add_argument(
        "--dtype", action="append", choices=DTYPES, help="dtype to time (repeatable; default: both)"
    )
    parser.add_argument(
        "-k",
        "--kernel",
        action="append",
        default=[],
        help="only cases whose name contains this (repeatable)",
    )
    parser.add_argument("--repeat", type=int, default=9, help="repeats; the median is shown")
    parser.add_argument(
        "--min-time",
        type=float,
        default=0.025,
        help="seconds per repeat the call loop is calibrated to",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_BLAS_THREADS,
        help=f"pin BLAS threads with threadpoolctl (default {DEFAULT_BLAS_THREADS}; 0: as is)",
    )
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="keep glibc's malloc thresholds (see bench.cases.steady_allocator)",
    )
    args = parser.parse_args(argv)
    try:
        n, d = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    if not HAS_KERNELS:
        print("nncore.backends._kernels is not compiled: nothing to compare NumPy with.",
              file=sys.stderr)
        return 1
    if not args.default_malloc:
        steady_allocator()
    limits = pin_blas_threads(args.threads)
    try:
        for line in environment():
            print(f"- {line}")
        print(f"- size {n}x{d}, median of {args.repeat} repeats of ~{args.min_time * 1e3:g} ms\n")
        rows = table_rows(n, d, args.dtype or DTYPES, args.kernel, args.repeat, args.min_time)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
