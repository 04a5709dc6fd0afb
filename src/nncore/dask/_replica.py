"""The worker side of ``nncore.dask.fit``: one ``Replica`` actor per worker.

A replica is created once per fit on the worker that holds its shard. It converts its
rows once (as ``Sequential.fit`` does), keeps its own copy of the model, its own optimizer
state (momentum, Adam's moments, step count: never averaged, never sent) and its own
stream of sample indices, and answers ``round``: take the averaged weights, run ``steps``
optimizer steps as ONE ``Ops.train_epoch`` call over the next ``steps * batch_size``
indices of its stream, send the weights back. Its BLAS runs the worker's thread count
(``Sequential.n_threads``: nncore's thread scope, threadpoolctl without the extension),
so two workers on two cores never run four BLAS threads; ``PinBlasThreads`` pins the
worker process itself when it starts.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from nncore._model_data import features, score
from nncore._preprocess import scaled_targets
from nncore._weights import weight_vector
from nncore.data import same_length
from nncore.losses import Loss


class Replica:
    """One worker's copy of the model and its shard (a dask actor).

    Parameters
    ----------
    model : Sequential
        The driver's model, built, with the optimizer to train with as
        ``model.optimizer`` (its state travels with it when it has one).
    X_blocks, y_blocks : list of ndarray
        The shard's row blocks (dask resolves the futures when it creates the actor).
    w_blocks : list of ndarray, or None
        Its sample weights' blocks (None: unweighted).
    batch_size : int
        Rows per local step.
    loss : Loss
    shuffle : bool
        Visit the shard in a new random order every pass (else in row order).
    seed : int
        With ``rank``, seeds this replica's shuffling generator.
    rank : int
        The replica's position (0, 1, ...).
    """

    def __init__(self, model: Any, X_blocks: list[Any], y_blocks: list[Any],
                 w_blocks: list[Any] | None, batch_size: int, loss: Loss, shuffle: bool,
                 seed: int, rank: int) -> None:
        self.model = model
        self.rank = rank
        self.n_threads = _worker_threads()
        model.n_threads = self.n_threads  # the BLAS threads of every call on this replica
        X = X_blocks[0] if len(X_blocks) == 1 else np.concatenate(X_blocks)
        y = y_blocks[0] if len(y_blocks) == 1 else np.concatenate(y_blocks)
        self.X = features(model, X)
        self.targets = scaled_targets(model, loss, y)
        same_length(self.X, self.targets)
        # The shard's weights: finite, >= 0, not all 0 (a shard without weight would
        # only pull the average towards its start).
        self.weights = None if w_blocks is None else weight_vector(
            np.concatenate(w_blocks), len(self.X), "sample_weight")
        self.loss = loss
        self.plan = model._train_plan(batch_size, loss)
        # dropout: a key of its own per replica (the same masks on two shards would be
        # one mask twice), steps counted on from the model's
        self.plan.set_dropout(model.dropout_seed ^ rank, model.dropout_step)
        self._rng = np.random.default_rng([seed, rank])
        self._shuffle = shuffle
        self._order = np.arange(len(self.X), dtype=np.int64)
        self._pos = len(self._order)  # the first take starts a pass
        #: CRC-32 of the weights each round started from (replicas agree after an average).
        self.received: list[int] = []
        self.busy = 0.0  # seconds in the native calls, and their steps: the step time t
        self.steps = 0

    def _take(self, m: int) -> np.ndarray:
        """The next ``m`` sample indices of the stream; a finished pass starts another
        (reshuffled when shuffling), so every step has ``batch_size`` rows."""
        out = np.empty(m, np.int64)
        at, n = 0, len(self._order)
        while at < m:
            if self._pos == n:
                if self._shuffle:
                    self._rng.shuffle(self._order)
                self._pos = 0
            take = min(m - at, n - self._pos)
            out[at:at + take] = self._order[self._pos:self._pos + take]
            at += take
            self._pos += take
        return out

    def round(self, w: np.ndarray, lr: float, steps: int) -> tuple[np.ndarray, float]:
        """Start from the weights ``w``, run ``steps`` local steps at learning rate ``lr``
        in one native call; return the new weights and the steps' mean loss."""
        model, plan = self.model, self.plan
        params, opt = model.params, model.optimizer
        params.w[...] = w
        self.received.append(zlib.crc32(params.w.data))
        opt.lr = lr
        order = self._take(steps * plan.batch_size)
        plan.configure(*opt.plan_state(params))
        start = time.perf_counter()
        with model._threads():
            try:
                loss = model.ops.train_epoch(plan, self.X, self.targets, order, self.weights)
            finally:
                opt.set_step(plan.step)
        self.busy += time.perf_counter() - start
        self.steps += steps
        return params.w.copy(), float(loss)

    def score(self, w: np.ndarray, accuracy: bool) -> tuple[float, float, float]:
        """Sum of the loss (and of the accuracy) over the shard with the weights ``w``,
        and its rows (its total sample weight): the driver adds them up over the
        replicas."""
        self.model.params.w[...] = w
        result = score(self.model, self.X, self.targets, self.loss, accuracy, self.weights)
        n = float(len(self.X) if self.weights is None else self.weights.sum())
        return result["loss"] * n, result.get("accuracy", 0.0) * n, n

    def state(self) -> dict[str, Any]:
        """What the tests and the benchmark look at: rounds received, rows, seconds in the
        native calls and their steps, optimizer state, threads, the worker's address."""
        from distributed import get_worker

        opt = self.model.optimizer
        return {"received": list(self.received), "rows": len(self.X),
                "busy_s": self.busy, "steps": self.steps, "lr": opt.lr,
                "optimizer": opt.get_state(self.model.params), "n_threads": self.n_threads,
                "blas_threads": _blas_threads(self.model), "worker": get_worker().address}


class PinBlasThreads(WorkerPlugin):
    """A worker plugin: at worker start (and on the workers running when it is
    registered), the BLAS libraries' threads set to the worker's thread count with
    threadpoolctl, for the process. distributed's nanny already starts workers with
    ``OPENBLAS_NUM_THREADS=1``; a worker started otherwise (``--no-nanny``, a
    ``Worker`` in a script) would run BLAS on every core in each of its threads."""

    name = "nncore-blas-threads"
    idempotent = True  # registered by every fit: once per worker is enough

    def setup(self, worker: Any) -> None:
        from threadpoolctl import threadpool_limits

        # kept: threadpoolctl's limits hold until this object restores them
        self._limits = threadpool_limits(limits=max(1, int(worker.state.nthreads)),
                                         user_api="blas")


def _worker_threads() -> int:
    """The thread count of the worker this runs on (1 outside a worker)."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except ValueError:  # not on a worker
        return 1


def _blas_threads(model: Any) -> list[int]:
    """The BLAS libraries' thread counts inside the model's thread scope (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    with model._threads():
        return [int(lib["num_threads"]) for lib in threadpool_info()
                if lib.get("user_api") == "blas"]
