"""L-BFGS: ``nncore.sklearn`` against scikit-learn's own lbfgs MLP, the same fit.

Usage::

    python bench/lbfgs.py                    # the README's table
    python bench/lbfgs.py --repeat 1 --threads 1

Both estimators get the same settings (architecture, ``alpha``, ``max_iter``, ``tol``,
``random_state``: scikit-learn's Glorot draws, which nncore's estimators reproduce), so
they start from the same weights and SciPy's L-BFGS-B walks the same path: the table
shows both reach the same loss in the same iterations, and the time each took. Data:
scikit-learn's digits (1,797 x 64, 10 classes) and a synthetic classification set of
``--rows`` x 100 (10 classes). Medians of ``--repeat`` fits, all in one run; BLAS at its
default threads unless ``--threads``; the float32 row is nncore's with
``dtype="float32"`` (its own path: rounding differs, so its iterations may too).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def data_sets(rows: int) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[int, ...]]]:
    from sklearn.datasets import load_digits, make_classification

    X, y = load_digits(return_X_y=True)
    Xs, ys = make_classification(rows, 100, n_informative=40, n_classes=10,
                                 random_state=0)
    return {"digits, 64-64-10": (X / 16.0, y, (64,)),
            f"synthetic {rows:,} x 100, 100-128-10": (Xs, ys, (128,))}


def timed_fit(make: Any, X: np.ndarray, y: np.ndarray, repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` fits of fresh estimators, and the last one fitted."""
    times, est = [], None
    for _ in range(repeat):
        est = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter: both alike
            start = time.perf_counter()
            est.fit(X, y)
            times.append(time.perf_counter() - start)
    return statistics.median(times), est


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="BLAS threads (0: default)")
    args = parser.parse_args(argv)

    import sklearn
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    import nncore
    from nncore.sklearn import MLPClassifier

    print(f"nncore {nncore.__version__} ({nncore.get_ops().name}), scikit-learn "
          f"{sklearn.__version__}; solver lbfgs, alpha {args.alpha:g}, max_iter "
          f"{args.max_iter}, median of {args.repeat}; BLAS threads "
          f"{args.threads or 'default'}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}")
    print()
    print("| data, network | system | seconds | iterations | loss | test accuracy "
          "| speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|")
    limits = threadpool_limits(args.threads) if args.threads else None
    try:
        for name, (X, y, hidden) in data_sets(args.rows).items():
            cut = len(X) * 3 // 4
            Xtr, ytr, Xte, yte = X[:cut], y[:cut], X[cut:], y[cut:]
            settings = {"hidden_layer_sizes": hidden, "solver": "lbfgs", "alpha": args.alpha,
                        "max_iter": args.max_iter, "random_state": 0}
            systems = [("scikit-learn", lambda s=settings: SkMLP(**s)),
                       ("nncore float64", lambda s=settings: MLPClassifier(**s)),
                       ("nncore float32", lambda s=settings: MLPClassifier(**s,
                                                                           dtype="float32"))]
            base = None
            for system, make in systems:
                seconds, est = timed_fit(make, Xtr, ytr, args.repeat)
                base = base or seconds
                print(f"| {name} | {system} | {seconds:.3f} | {est.n_iter_} | "
                      f"{est.loss_:.6f} | {est.score(Xte, yte):.4f} | "
                      f"{base / seconds:.2f}x |", flush=True)
    finally:
        if limits is not None:
            limits.restore_original_limits()


if __name__ == "__main__":
    main()
