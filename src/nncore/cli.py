"""The ``nncore`` command line: ``demo``, ``train``, ``predict``, ``bench``, ``info``."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence


def info_text() -> str:
    """Return what ``nncore info`` prints: versions, backend, BLAS and threads."""
    import numpy as np
    import scipy
    from threadpoolctl import threadpool_info

    import nncore
    from nncore.backend import _IMPORT_ERROR, HAS_KERNELS, get_ops

    try:
        backend = get_ops().name
    except (ImportError, ValueError) as exc:
        backend = f"unavailable ({exc})"
    lines = [
        f"nncore {nncore.__version__}",
        f"python {platform.python_version()} ({platform.machine()}, {os.cpu_count()} CPUs)",
        f"numpy {np.__version__}, scipy {scipy.__version__}",
        f"compiled kernels: {'yes' if HAS_KERNELS else 'no (' + _IMPORT_ERROR + ')'}",
        f"backend: {backend} (NNCORE_BACKEND={os.environ.get('NNCORE_BACKEND', '')!r})",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r}",
        "thread pools:",
    ]
    # Importing scipy.linalg loads the BLAS that the kernels call through cython_blas.
    import scipy.linalg

    for pool in threadpool_info():
        lines.append(
            f"  {pool.get('internal_api')} {pool.get('version')} "
            f"threads={pool.get('num_threads')} arch={pool.get('architecture')} "
            f"({os.path.basename(str(pool.get('filepath')))})"
        )
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    print(info_text())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nncore.demo import run_demo

    try:
        run_demo(epochs=args.epochs, n_samples=args.samples, backend=args.backend,
                 seed=args.seed, plot=args.plot)
    except ImportError as exc:  # --plot without matplotlib
        print(f"nncore demo: {exc}", file=sys.stderr)
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from nncore.benchmark import main as bench_main

    return bench_main(workloads=args.workloads, systems=args.systems, threads=args.threads,
                      repeats=args.repeats, small=args.quick, as_json=args.json,
                      json_out=args.json_out)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``nncore`` command."""
    parser = argparse.ArgumentParser(
        prog="nncore", description="Fast multilayer perceptrons on the CPU."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("demo", help="train an MLP on two moons and report how it learns",
                       description="Train a 2-32-32-2 ReLU MLP on generated two-moons data; "
                       "print the loss per epoch, the held-out accuracy and the backend.")
    p.add_argument("--epochs", type=int, default=30, help="passes over the data (30)")
    p.add_argument("--samples", type=int, default=1000, help="points generated (1000)")
    p.add_argument("--backend", choices=["auto", "cython", "numpy"], default=None,
                   help="kernel backend (default: NNCORE_BACKEND, else auto)")
    p.add_argument("--seed", type=int, default=0, help="seed for data and weights (0)")
    p.add_argument("--plot", metavar="FILE.png", default=None,
                   help="draw the decision boundaries (no hidden layer vs MLP) and the loss "
                   "curves into FILE.png (needs matplotlib: pip install 'nncore[plot]')")
    p.set_defaults(func=_demo)
    from nncore.commands import add_parsers

    add_parsers(sub)
    p = sub.add_parser("info", help="print versions, backend, BLAS and thread counts")
    p.set_defaults(func=_info)
    p = sub.add_parser("bench", help="compare nncore with NumPy, PyTorch and scikit-learn",
                       description="Time the same networks, data, batch order and initial "
                       "weights on nncore-cython, nncore-numpy, a plain NumPy loop, PyTorch "
                       "and scikit-learn (when importable), in one process with one thread "
                       "count. W1: one epoch 784-256-128-10 on 60,000 rows; W2: 10,000 tiny "
                       "SGD steps; W3: 10,000 single-row predict_proba calls; W4: W1's GEMMs "
                       "alone (the floor). Prints Markdown tables, or JSON.")
    p.add_argument("--workloads", default="W1,W2,W3,W4", metavar="W1,W2,...",
                   help="comma-separated workloads (default: all four)")
    p.add_argument("--systems", default="nncore-cython,nncore-numpy,numpy-loop,torch,sklearn",
                   metavar="NAME,...", help="comma-separated systems (default: all; those "
                   "not importable are skipped)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for BLAS and torch alike (default: os.cpu_count())")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed runs per measurement, median reported (3; W4: min of 5)")
    p.add_argument("--quick", action="store_true", help="shrink every workload (smoke test)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--json-out", metavar="FILE", default=None,
                   help="also write the JSON report to FILE")
    p.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nncore`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
