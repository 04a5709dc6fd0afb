"""BLAS oversubscription: a grid search with a busy neighbour, default threads vs one.

Usage, from a source checkout (the README's "Oversubscription" figures)::

    python bench/oversubscription.py            # one core kept busy by another process
    python bench/oversubscription.py --quiet    # no neighbour

Runs ``GridSearchCV`` of ``nncore.sklearn.MLPClassifier(hidden_layer_sizes=(128,),
max_iter=30)`` on digits (4 candidates x 3 folds) with the threading and loky joblib
backends at ``n_jobs=2`` and sequentially, each with the BLAS default thread count
(``n_threads=None``) and with ``n_threads=1``, twice, alternating, and prints the wall
times and best scores (which must agree).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import warnings
from typing import Any


def _spin(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _search(n_threads: int | None, n_jobs: int | None, backend: str) -> tuple[float, float]:
    from joblib import parallel_backend
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from nncore.sklearn import MLPClassifier

    X, y = load_digits(return_X_y=True)
    est = MLPClassifier(hidden_layer_sizes=(128,), max_iter=30, random_state=0,
                        n_threads=n_threads)
    grid = GridSearchCV(est, {"alpha": [1e-4, 1e-3], "learning_rate_init": [1e-3, 1e-2]},
                        cv=3, n_jobs=n_jobs)
    start = time.perf_counter()
    with warnings.catch_warnings(), parallel_backend(backend):
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=30
        grid.fit(X, y)
    return time.perf_counter() - start, float(grid.best_score_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="no busy neighbour process")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    stop = mp.Event()
    neighbour = None if args.quiet else mp.Process(target=_spin, args=(stop,))
    if neighbour is not None:
        neighbour.start()
    try:
        for backend, n_jobs in [("threading", 2), ("loky", 2), ("sequential", None)]:
            for _ in range(args.repeats):
                for n_threads in (None, 1):
                    seconds, score = _search(n_threads, n_jobs, backend)
                    print(f"neighbour={'no' if args.quiet else 'busy'} {backend} "
                          f"n_jobs={n_jobs} n_threads={n_threads}: {seconds:.2f} s "
                          f"(best score {score:.4f})", flush=True)
    finally:
        stop.set()
        if neighbour is not None:
            neighbour.join()


if __name__ == "__main__":
    main()
