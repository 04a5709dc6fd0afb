"""The workloads of ``nncore bench`` and how they are timed and reported.

Shared by ``nncore.cli._bench`` (nncore's backends and thread settings, installed) and
``bench/compare.py`` (nncore beside a NumPy loop, PyTorch, scikit-learn, ONNX Runtime and
JAX, from a checkout), so both time the same work the same way; the tables are
``nncore.cli._bench``'s. Workloads:

* W1 -- one epoch of SGD, 60,000 x 784 float32, 784 -> 256 -> 128 -> 10 ReLU, batch 128;
* W2 -- 10,000 SGD steps of a tiny 2 -> 16 -> 16 -> 1 tanh network, batch 32;
* W3 -- 10,000 single-row ``predict_proba`` calls on W1's network;
* W4 -- the floor of W1: its 8 GEMMs per batch alone, through ``get_ops("cython").gemm``;
* W5 -- one ``predict_proba`` call on 100,000 rows on W1's network (batch scoring).

A *system* trains and runs a ``Net`` from given initial weights ``[(W, b), ...]``, ``W``
of shape ``(n_in, n_out)``: ``trainer(net, X, y)`` returns a ``Trainer`` (``reset(weights)``,
then ``run(rows)``: one epoch of plain SGD over the first ``rows`` samples in order,
returning the mean loss) and ``predictor(net, weights)`` a ``predict_proba`` function.
A system that does not train (``trains = False``: ONNX Runtime) is timed on the predict
workloads only. ``n_threads`` is the thread setting the harness gives a system before it
asks for a trainer or predictor: a count, or None for the library's own default.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

Weights = Sequence[tuple[np.ndarray, np.ndarray]]
Row = dict[str, Any]

#: Name of the W4 rows, and how many runs they take (the minimum is reported: the floor).
FLOOR = "sgemm floor"
FLOOR_RUNS = 5


@dataclass(frozen=True)
class Net:
    """One network and its training configuration, shared by every system.

    Parameters
    ----------
    sizes : tuple of int
        Layer widths, input first: ``(784, 256, 128, 10)``.
    activation : {"relu", "tanh"}
        Activation of the hidden layers; the last layer outputs logits.
    loss : {"softmax", "binary"}
        Softmax cross-entropy on integer labels, or binary cross-entropy with logits on
        0/1 labels (one output unit).
    batch_size : int
        Rows per SGD step.
    lr : float
        Learning rate of plain SGD (no momentum, no weight decay).
    """

    sizes: tuple[int, ...]
    activation: str
    loss: str
    batch_size: int
    lr: float = 0.01

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """``(n_in, n_out)`` of each layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def classes(self) -> np.ndarray:
        """The class labels: ``0..C-1``, or ``[0, 1]`` for the binary loss."""
        return np.arange(2 if self.loss == "binary" else self.sizes[-1])


@dataclass(frozen=True)
class Workload:
    """A benchmark: what runs (``kind``), on which network, how much of it.

    ``kind`` is "train" (one epoch over ``n_samples``), "predict" (``calls`` calls of
    ``predict_proba`` on ``rows`` rows each: W3 10,000 calls of one row, W5 one call of
    100,000 rows) or "floor" (W1's matrix products alone).
    """

    key: str
    title: str
    kind: str
    net: Net
    n_samples: int
    calls: int = 0
    rows: int = 1

    @property
    def unit(self) -> str:
        """What the per-item time of the tables is per: "step", "call" or "row"."""
        return "step" if self.kind != "predict" else "call" if self.rows == 1 else "row"


W1_NET = Net(sizes=(784, 256, 128, 10), activation="relu", loss="softmax", batch_size=128)
W2_NET = Net(sizes=(2, 16, 16, 1), activation="tanh", loss="binary", batch_size=32)

WORKLOADS = {
    "W1": Workload("W1", "one epoch of SGD, 60,000 x 784 float32, 784-256-128-10 ReLU, "
                   "softmax cross-entropy, batch 128", "train", W1_NET, 60_000),
    "W2": Workload("W2", "10,000 SGD steps, 2-16-16-1 tanh, binary cross-entropy with logits, "
                   "batch 32 (one epoch over 320,000 samples)", "train", W2_NET, 320_000),
    "W3": Workload("W3", "10,000 single-row predict_proba calls, x of shape (1, 784), "
                   "W1's network", "predict", W1_NET, 10_000, calls=10_000),
    "W4": Workload("W4", "the floor of W1: its 8 sgemm calls per batch (forward 3, dW 3, "
                   "dX 2) over 469 batches, nothing else", "floor", W1_NET, 60_000),
    "W5": Workload("W5", "predict_proba on 100,000 rows x 784 float32 in one call, W1's "
                   "network", "predict", W1_NET, 100_000, calls=1, rows=100_000),
}


def quick(workload: Workload) -> Workload:
    """A much smaller version of ``workload`` for a smoke test (``--quick``)."""
    n = {"W1": 2_048, "W2": 6_400, "W3": 500, "W4": 2_048, "W5": 2_000}[workload.key]
    return replace(workload, n_samples=n, calls=min(workload.calls, n),
                   rows=min(workload.rows, n))


# ---------------------------------------------------------------------- systems
class Trainer(Protocol):
    """One system's training loop on fixed data."""

    def reset(self, weights: Weights) -> None:
        """Load the shared weights (optimizer state too, if any)."""

    def run(self, rows: int | None = None) -> float:
        """Train one epoch over the first ``rows`` samples (all if None); mean loss."""
        ...


class System:
    """Base class: a name, a version, a trainer and a predictor."""

    #: Name on the command line and in the tables.
    name = "system"
    #: False for an inference-only system: the training workloads do not apply to it.
    trains = True
    #: Threads the next trainer or predictor uses (None: the library's default).
    n_threads: int | None = None

    def version(self) -> str:
        """Version of the library that does the work."""
        raise NotImplementedError

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        """A ``Trainer`` on ``(X, y)`` (float32 features, integer labels)."""
        raise NotImplementedError

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        """``f(x)``: class probabilities of the rows of ``x`` ((n, n_features) float32)."""
        raise NotImplementedError


class NncoreSystem(System):
    """``nncore.Sequential`` with the given backend, trained by ``model.fit``; a thread
    count becomes ``Sequential(n_threads=...)``."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"nncore-{backend}"

    def version(self) -> str:
        import nncore

        return nncore.__version__

    def _model(self, net: Net, weights: Weights | None = None) -> Any:
        import nncore

        loss = nncore.BinaryCrossEntropy() if net.loss == "binary" else nncore.SoftmaxCrossEntropy()
        layers = [nncore.Dense(n, net.activation) for n in net.sizes[1:-1]]
        model = nncore.Sequential([*layers, nncore.Dense(net.sizes[-1])], dtype="float32",
                                  backend=self.backend, seed=0, loss=loss,
                                  n_threads=self.n_threads)
        model.build(net.sizes[0])
        if weights is not None:
            model.set_weights(weights)
        return model

    def trainer(self, net: Net, X: np.ndarray, y: np.ndarray) -> Trainer:
        return _NncoreTrainer(self._model(net), net, X, y)

    def predictor(self, net: Net, weights: Weights) -> Callable[[np.ndarray], Any]:
        return self._model(net, weights).predict_proba


class _NncoreTrainer:
    def __init__(self, model: Any, net: Net, X: np.ndarray, y: np.ndarray) -> None:
        self.model, self.net, self.X, self.y = model, net, X, y

    def reset(self, weights: Weights) -> None:
        self.model.set_weights(weights)

    def run(self, rows: int | None = None) -> float:
        import nncore

        history = self.model.fit(self.X[:rows], self.y[:rows], epochs=1,
                                 batch_size=self.net.batch_size,
                                 optimizer=nncore.SGD(lr=self.net.lr), shuffle=False)
        return float(history.history["loss"][-1])


# ---------------------------------------------------------------------- data, weights
def make_data(net: Net, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable synthetic data for ``net``: float32 ``X`` and int64 labels ``y``.

    Softmax: a random center per class plus Gaussian noise. Binary: standard normal
    points labelled by the sign of ``x0 * x1`` (XOR quadrants). A fixed permutation is
    applied once; every system then takes sequential batches in that order.
    """
    rng = np.random.default_rng(seed)
    d = net.sizes[0]
    if net.loss == "binary":
        X = rng.standard_normal((n, d), dtype=np.float32)
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    else:
        y = rng.integers(net.sizes[-1], size=n)
        centers = rng.standard_normal((net.sizes[-1], d), dtype=np.float32)
        X = centers[y] + 2 * rng.standard_normal((n, d), dtype=np.float32)
    order = rng.permutation(n)
    return np.ascontiguousarray(X[order]), y[order]


def init_weights(net: Net, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shared initial ``[(W, b), ...]``, W of shape (n_in, n_out), float32.

    He uniform before a ReLU, Glorot uniform otherwise (as nncore does); biases zero.
    """
    rng = np.random.default_rng(seed)
    weights = []
    for i, (n_in, n_out) in enumerate(net.pairs):
        he = net.activation == "relu" and i < len(net.pairs) - 1
        limit = np.sqrt(6.0 / (n_in if he else n_in + n_out))
        W = rng.uniform(-limit, limit, size=(n_in, n_out)).astype(np.float32)
        weights.append((W, np.zeros(n_out, np.float32)))
    return weights


# ---------------------------------------------------------------------- timing
def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        value = fn()
        return time.perf_counter() - start, value
    finally:
        gc.enable()


def time_training(system: System, net: Net, X: np.ndarray, y: np.ndarray,
                  weights: Weights, repeats: int) -> tuple[list[float], float]:
    """Seconds of each of ``repeats`` one-epoch runs from ``weights``, and the last loss.

    A short warm-up (a few batches) runs first; the weights are reset before every run.
    """
    trainer = system.trainer(net, X, y)
    trainer.reset(weights)
    trainer.run(min(len(X), 8 * net.batch_size))
    times, loss = [], float("nan")
    for _ in range(repeats):
        trainer.reset(weights)
        seconds, loss = _timed(trainer.run)
        times.append(seconds)
    return times, loss


def time_predict(system: System, net: Net, X: np.ndarray, weights: Weights, calls: int,
                 repeats: int, rows: int = 1) -> list[float]:
    """Seconds of ``calls`` predictions per repeat: of one row each (the rows of ``X`` in
    turn; 100 calls to warm up), or of ``rows`` rows each (the first ``rows`` of ``X``,
    C-contiguous; one call to warm up: allocators, caches, a JIT's compilation)."""
    predict = system.predictor(net, weights)
    if rows == 1:
        inputs = [X[i % len(X):i % len(X) + 1] for i in range(calls)]
        warm_up = inputs[:100]
    else:
        inputs = [np.ascontiguousarray(X[:rows])] * calls
        warm_up = inputs[:1]

    def loop() -> None:
        for x in inputs:
            predict(x)

    for x in warm_up:
        predict(x)
    return [_timed(loop)[0] for _ in range(repeats)]


def time_floor(net: Net, X: np.ndarray, weights: Weights, runs: int = FLOOR_RUNS) -> list[float]:
    """Seconds of each run of W1's GEMMs alone: per batch, forward ``X@W1, H1@W2, H2@W3``,
    backward ``dW_i = H_{i-1}.T @ dZ_i`` (3) and ``dH_i = dZ_{i+1} @ W_{i+1}.T`` (2),
    into preallocated outputs through ``nncore.get_ops("cython").gemm``."""
    from nncore.backends import get_ops

    gemm = get_ops("cython").gemm
    Ws = [W for W, _ in weights]
    bs = net.batch_size
    batches = [X[s:s + bs] for s in range(0, len(X), bs)]

    def buffers(m: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        acts = [np.ones((m, n), np.float32) * 0.01 for n in net.sizes[1:]]
        return acts, [a.copy() for a in acts]

    bufs = {len(xb): buffers(len(xb)) for xb in batches}
    dWs = [np.empty_like(W) for W in Ws]

    def run() -> None:
        for xb in batches:
            acts, grads = bufs[len(xb)]
            inputs = [xb, *acts[:-1]]
            for A, W, out in zip(inputs, Ws, acts, strict=True):
                gemm(A, W, out)
            for A, G, dW in zip(inputs, grads, dWs, strict=True):
                gemm(A, G, dW, trans_a=True)
            for i in range(1, len(Ws)):
                gemm(grads[i], Ws[i], grads[i - 1], trans_b=True)

    run()
    return [_timed(run)[0] for _ in range(runs)]


def _cpu_snapshot() -> tuple[float, float, float]:
    """(wall clock, CPU seconds busy machine-wide, CPU seconds of this process)."""
    busy = float("nan")
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:9]]
        busy = (sum(ticks[:3]) + sum(ticks[5:8])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        pass
    own = os.times()
    return time.perf_counter(), busy, own.user + own.system


def _other_cpus(before: tuple[float, float, float]) -> float | None:
    """CPUs kept busy on average by OTHER processes since ``before`` (None if unknown)."""
    after = _cpu_snapshot()
    other = (after[1] - before[1] - (after[2] - before[2])) / (after[0] - before[0])
    return None if other != other else round(max(other, 0.0), 2)


def measure(work: Workload, name: str, system: System | None, X: np.ndarray, y: np.ndarray,
            weights: Weights, repeats: int) -> Row:
    """Time ``system`` (None: the GEMM floor) on ``work``; one result row of the report.

    The row has ``workload``, ``system``, ``version``, ``seconds`` (median of ``repeats``
    runs; the floor: minimum of ``FLOOR_RUNS``), ``statistic``, ``runs``, ``min_seconds``,
    ``per_step_us`` (and ``steps``) or ``per_call_us`` (and ``rows`` per call, and
    ``per_row_us`` when more than one), the epoch's mean ``loss`` (training), and
    ``other_cpus``: CPUs kept busy by other processes meanwhile.
    """
    row: Row = {"workload": work.key, "system": name}
    before = _cpu_snapshot()
    if system is None:
        import scipy

        times, stat = time_floor(work.net, X, weights), "min"
        row["version"] = f"scipy {scipy.__version__} cython_blas"
    elif work.kind == "predict":
        times = time_predict(system, work.net, X, weights, work.calls, repeats, work.rows)
        stat = "median"
    else:
        times, row["loss"] = time_training(system, work.net, X, y, weights, repeats)
        stat = "median"
    row.setdefault("version", system.version() if system else "")
    seconds = min(times) if stat == "min" else statistics.median(times)
    row.update(seconds=seconds, statistic=stat, runs=times, min_seconds=min(times),
               other_cpus=_other_cpus(before))
    if work.kind == "predict":
        row.update(rows=work.rows, per_call_us=1e6 * seconds / work.calls)
        if work.rows > 1:
            row["per_row_us"] = 1e6 * seconds / (work.calls * work.rows)
    else:
        row["steps"] = steps = -(-work.n_samples // work.net.batch_size)
        row["per_step_us"] = 1e6 * seconds / steps
    return row
