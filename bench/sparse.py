"""Sparse input: one training epoch on a CSR matrix, each kernel mode against dense.

Usage::

    python bench/sparse.py                           # the crossover table of the README
    python bench/sparse.py --features 10000 --densities 0.001,0.01 --threads 0

For each density: the epoch on the densified array (dense GEMMs), on the CSR with each
batch's rows gathered into the dense batch buffer ("gather"), and with the first layer
as a sparse product ("product"); the time of each as a ratio to dense, and the mode
nncore picks by itself (``nncore.backends.sparse.PRODUCT_BELOW``). Medians of
``--repeat`` epochs, all in one process and one run. ``--threads 0`` leaves BLAS at its
default threads; the default pins one thread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nncore
from nncore.backends import sparse


def epoch_time(X: object, y: np.ndarray, args: argparse.Namespace) -> float:
    """Median seconds of one epoch (after one warm-up epoch) of a fresh model."""
    model = nncore.Sequential([nncore.Dense(args.hidden, "relu"), nncore.Dense(10)],
                              loss="softmax_cross_entropy", dtype=args.dtype, seed=0,
                              n_threads=args.threads or None)
    opt = nncore.Adam(1e-3)
    model.fit(X, y, epochs=1, batch_size=args.batch, optimizer=opt, verbose=0)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=args.batch, optimizer=opt, verbose=0)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--features", type=int, default=2_000)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--densities", default="0.001,0.005,0.01,0.02,0.05,0.1,0.2")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (0: default)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, args.rows)
    print(f"{args.rows} x {args.features} -> {args.hidden} -> 10, batch {args.batch}, "
          f"{args.dtype}, Adam, threads {args.threads or 'default'}; median of "
          f"{args.repeat} epochs, seconds (ratio to dense)")
    print("| density | dense | gather | product | nncore picks |")
    print("|---:|---:|---:|---:|---|")
    saved = sparse.PRODUCT_BELOW
    for density in (float(d) for d in args.densities.split(",")):
        X = sp.random(args.rows, args.features, density=density, format="csr",
                      random_state=rng, dtype=args.dtype)
        dense = epoch_time(X.toarray(), y, args)
        sparse.PRODUCT_BELOW = -1.0
        gather = epoch_time(X, y, args)
        sparse.PRODUCT_BELOW = 2.0
        product = epoch_time(X, y, args)
        sparse.PRODUCT_BELOW = saved
        pick = "product" if density < saved else "gather"
        print(f"| {density:g} | {dense:.3f} | {gather:.3f} ({gather / dense:.2f}) | "
              f"{product:.3f} ({product / dense:.2f}) | {pick} |", flush=True)


if __name__ == "__main__":
    main()
