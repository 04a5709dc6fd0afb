"""Where a training team pays: one thread vs a team, over network widths and batch sizes.

Usage, from a source checkout (docs/design.md "Training threads", the crossover of
``nncore.backends.threads.PARALLEL_MIN_MACS``)::

    python bench/threads.py                 # the grid, at the default threads
    python bench/threads.py --busy-neighbour

For networks ``h -> h -> h -> 10`` (ReLU, softmax cross-entropy, plain SGD, float32) at
each width ``h`` and batch size, times one epoch of ``Sequential.fit`` with the team
(every step shared by the BLAS thread count's threads) and with one thread of nncore's
(BLAS at its default count: the path below the crossover), medians of ``--repeats``
runs alternating, and prints the step's multiply-adds and the ratio one / team. The
crossover is the smallest step above which the team wins everywhere.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import nncore
import nncore.backends.threads as threads
from nncore.cli._busy import busy_neighbour

WIDTHS = (16, 32, 64, 128, 256, 512)
BATCHES = (16, 32, 64, 128, 256)
#: multiply-adds per timed epoch (n_samples follows): about 0.2-0.6 s each
EPOCH_MACS = 4e9


def _epoch(model: nncore.Sequential, X: np.ndarray, y: np.ndarray, batch: int,
           team: bool) -> float:
    saved = threads.PARALLEL_MIN_MACS, threads.MIN_ROWS_PER_THREAD
    if team:
        threads.PARALLEL_MIN_MACS, threads.MIN_ROWS_PER_THREAD = 0, 1
    else:
        threads.PARALLEL_MIN_MACS = 1 << 62
    try:
        time.sleep(0.2)  # BLAS threads still spinning from the last run go to sleep
        start = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=batch, optimizer=nncore.SGD(lr=0.01),
                  shuffle=False)
        return time.perf_counter() - start
    finally:
        threads.PARALLEL_MIN_MACS, threads.MIN_ROWS_PER_THREAD = saved


def measure(width: int, batch: int, repeats: int) -> tuple[int, float, float]:
    """(multiply-adds per step, seconds one thread, seconds team): medians."""
    sizes = (width, width, width, 10)
    macs = threads.step_macs(sizes, batch)
    n = int(min(200_000, max(4 * batch, EPOCH_MACS / (macs / batch))))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, width)).astype(np.float32)
    y = rng.integers(0, 10, n)
    model = nncore.Sequential([nncore.Dense(width, "relu"), nncore.Dense(width, "relu"),
                               nncore.Dense(10)], dtype="float32", seed=0,
                              loss=nncore.SoftmaxCrossEntropy())
    model.build(width)
    model.fit(X[: 8 * batch], y[: 8 * batch], epochs=1, batch_size=batch)  # warm-up
    one, team = [], []
    for _ in range(repeats):
        one.append(_epoch(model, X, y, batch, team=False))
        team.append(_epoch(model, X, y, batch, team=True))
    return macs, statistics.median(one), statistics.median(team)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)),
                        help="comma-separated widths h (default: %(default)s)")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)),
                        help="comma-separated batch sizes (default: %(default)s)")
    parser.add_argument("--busy-neighbour", action="store_true",
                        help="keep one core busy with another process meanwhile")
    args = parser.parse_args()
    from nncore.backends import _kernels

    print(f"BLAS threads (the team's size): {_kernels.blas_threads()}; "
          f"busy neighbour: {'yes' if args.busy_neighbour else 'no'}")
    print("| width | batch | multiply-adds / step | one thread s | team s | one / team |")
    print("|---:|---:|---:|---:|---:|---:|")
    rows = []
    with busy_neighbour(args.busy_neighbour):
        for width in (int(w) for w in args.widths.split(",")):
            for batch in (int(b) for b in args.batches.split(",")):
                macs, one, team = measure(width, batch, args.repeats)
                rows.append((macs, one / team))
                print(f"| {width} | {batch} | {macs:,} | {one:.3f} | {team:.3f} | "
                      f"{one / team:.2f} |", flush=True)
    losing = [m for m, r in rows if r < 1.0]
    above = min((m for m, _ in rows if m > max(losing, default=0)), default=None)
    print(f"the team wins on every step above {max(losing, default=0):,} multiply-adds "
          f"(smallest such step measured: {above:,})" if above else
          "the team never wins everywhere above a size here")


if __name__ == "__main__":
    main()
