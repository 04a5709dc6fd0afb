"""Whole-model workloads for the benchmarks: a training epoch, single-sample predict,
and the cost of the per-epoch hook machinery.

Each ``make_*`` function prepares a model and its data and returns a zero-argument
callable that runs the timed work; ``bench/test_training.py`` times them with
pytest-benchmark and ``tests/test_bench_smoke.py`` runs each once at a tiny size.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

import nncore

#: name -> (n_samples, layer widths, hidden activation, loss, batch size)
EPOCHS: dict[str, tuple[int, tuple[int, ...], str, str, int]] = {
    "mlp784": (6_000, (784, 256, 128, 10), "relu", "softmax_cross_entropy", 128),
    "tiny-tanh": (3_200, (2, 16, 16, 1), "tanh", "binary_cross_entropy", 32),
}


def _model(widths: tuple[int, ...], hidden: str, backend: str, dtype: str = "float32"
           ) -> nncore.Sequential:
    layers = [nncore.Dense(w, hidden) for w in widths[1:-1]] + [nncore.Dense(widths[-1])]
    model = nncore.Sequential(layers, dtype=dtype, backend=backend, seed=0)
    return model.build(widths[0])


def _data(n: int, widths: tuple[int, ...], loss: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, widths[0]), dtype=np.float32)
    k = widths[-1]
    y = rng.integers(0, k, n) if loss == "softmax_cross_entropy" else rng.integers(0, 2, n)
    return X, y


def make_epoch(workload: str, backend: str, scale: float = 1.0,
               callbacks: int = 0) -> Callable[[], object]:
    """One epoch of ``workload`` with plain SGD; ``callbacks`` no-op hooks attached."""
    n, widths, hidden, loss, batch = EPOCHS[workload]
    X, y = _data(max(int(n * scale), batch), widths, loss)
    model = _model(widths, hidden, backend)
    hooks = [lambda epoch, logs: None] * callbacks
    opt = nncore.SGD(lr=0.01)
    model.fit(X[:batch], y[:batch], epochs=1, batch_size=batch, optimizer=opt, loss=loss)

    def run() -> object:
        return model.fit(X, y, epochs=1, batch_size=batch, shuffle=False, callbacks=hooks)

    return run


def make_hook_epochs(backend: str, callbacks: int, epochs: int = 50,
                     progress: bool = False) -> Callable[[], object]:
    """Many tiny epochs, so the per-epoch machinery (and its hooks) dominates.

    ``progress`` adds a ``ProgressBar`` redrawing one line into a throw-away stream, to
    measure what the progress display costs.
    """
    X, y = _data(64, (4, 8, 2), "softmax_cross_entropy")
    model = _model((4, 8, 2), "relu", backend)
    hooks: list = [lambda epoch, logs: None] * callbacks
    if progress:
        hooks.append(nncore.ProgressBar(epochs, len(X), stream=io.StringIO(), redraw=True))

    def run() -> object:
        return model.fit(X, y, epochs=epochs, batch_size="full", optimizer="sgd",
                         loss="softmax_cross_entropy", callbacks=hooks)

    return run


def make_predict_one(backend: str, widths: tuple[int, ...] = (784, 256, 128, 10)
                     ) -> Callable[[], object]:
    """``predict_proba`` on one sample (input validation and conversion included)."""
    model = _model(widths, "relu", backend)
    model.loss = nncore.SoftmaxCrossEntropy()
    x = np.random.default_rng(1).standard_normal((1, widths[0]), dtype=np.float32)
    return lambda: model.predict_proba(x)
