"""The driver side of ``nncore.dask.fit``: synchronous local SGD over dask actors.

One ``Replica`` actor per worker holds a shard of the rows (``_shards``). Each round the
driver sends the current weights to every replica, each runs ``sync_every`` optimizer
steps on its own rows (one native call), and the driver averages the weights they send
back (model averaging; with plain SGD and one step a round, the average of the replicas'
steps is exactly the step on their batches put together). Everything that makes ``fit``
``fit`` stays on the driver: the epoch loop, ``History``, the callbacks (early stopping,
learning-rate schedules: the rate goes out with every round), the divergence check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nncore import _model_data
from nncore.backends import _checks
from nncore.callbacks import as_callbacks
from nncore.dask._replica import PinBlasThreads, Replica
from nncore.dask._shards import Shards, make_shards
from nncore.data import resolve_batch_size
from nncore.optimizers import LBFGS, SGD, Optimizer, get_optimizer
from nncore.progress import ProgressBar, resolve_verbose
from nncore.training import History, check_metrics, divergence, end_epoch, epoch_logs


class ReplicaLostError(RuntimeError):
    """A replica (its worker) did not answer within the timeout: the worker died, was
    restarted, or is stuck. The model keeps the weights of the last completed average."""


class Replicas:
    """The actors of one fit: created on their workers, asked for rounds, released.

    Parameters
    ----------
    client : distributed.Client
    shards : Shards
    model : Sequential
        Built, with the optimizer as ``model.optimizer``; a copy goes to every replica.
    batch_size, loss, shuffle, seed
        As ``Replica`` takes them.
    timeout : float
        Seconds to wait for each replica's answer to one call.
    """

    def __init__(self, client: Any, shards: Shards, model: Any, batch_size: int, loss: Any,
                 shuffle: bool, seed: int, timeout: float) -> None:
        self.client, self.timeout = client, timeout
        self.workers = shards.workers
        self.rounds = 0
        self._futures = [
            client.submit(Replica, model, xs, ys, None if shards.w_blocks is None
                          else shards.w_blocks[rank], batch_size, loss, shuffle, seed, rank,
                          actor=True, workers=[worker], allow_other_workers=False, pure=False)
            for rank, (xs, ys, worker) in enumerate(zip(
                shards.X_blocks, shards.y_blocks, shards.workers, strict=True))]
        try:
            self.actors = [self._wait(f, rank, "creating the replica")
                           for rank, f in enumerate(self._futures)]
        except BaseException:
            self.close()  # the replicas that were created go too
            raise

    def _lost(self, rank: int, what: str, exc: Exception) -> ReplicaLostError:
        return ReplicaLostError(
            f"replica {rank} on worker {self.workers[rank]} was lost or did not answer within "
            f"{self.timeout:g} s ({what}): {type(exc).__name__}: {exc}. The model keeps "
            f"the weights of the last average (after round {self.rounds}).")

    def _wait(self, call: Any, rank: int, what: str) -> Any:
        try:
            return call.result(timeout=self.timeout)
        except Exception as exc:
            if not _is_lost(exc):
                raise  # the replica's own error (bad data, divergence): as it is
            raise self._lost(rank, what, exc) from exc

    def _ask(self, method: str, *args: Any) -> list[Any]:
        """Call ``method`` on every replica at once; their answers in rank order."""
        what = f"round {self.rounds + 1}" if method == "round" else method
        calls = []
        for rank, actor in enumerate(self.actors):
            try:  # a call to an actor whose worker is known lost fails at once
                calls.append(getattr(actor, method)(*args))
            except Exception as exc:
                if not _is_lost(exc):
                    raise
                raise self._lost(rank, what, exc) from exc
        return [self._wait(c, rank, what) for rank, c in enumerate(calls)]

    def round(self, w: np.ndarray, lr: float, steps: int) -> tuple[np.ndarray, float]:
        """Send ``w`` to every replica, ``steps`` local steps each; the average of their
        weights and of their mean losses."""
        results = self._ask("round", w, lr, steps)
        avg = np.array(results[0][0], dtype=w.dtype, copy=True)
        for other, _ in results[1:]:
            avg += other
        avg /= len(results)
        self.rounds += 1
        return avg, sum(loss for _, loss in results) / len(results)

    def score(self, w: np.ndarray, accuracy: bool) -> dict[str, float]:
        """Loss (and accuracy) of the weights ``w`` on all the training rows."""
        parts = self._ask("score", w, accuracy)
        n = sum(p[2] for p in parts)
        out = {"loss": sum(p[0] for p in parts) / n}
        if accuracy:
            out["accuracy"] = sum(p[1] for p in parts) / n
        return out

    def states(self) -> list[dict[str, Any]]:
        """Each replica's ``Replica.state()``."""
        return self._ask("state")

    def round_trip(self, w: np.ndarray, lr: float, repeat: int = 5) -> float:
        """Seconds of a round without steps (the weights out and back, all replicas): the
        communication cost ``T_comm`` of one synchronisation (the best of ``repeat``)."""
        best = math.inf
        for _ in range(repeat):
            start = time.perf_counter()
            self.round(w, lr, 0)
            best = min(best, time.perf_counter() - start)
        return best

    def close(self) -> None:
        """Release the actors (their workers drop the replicas and their shards)."""
        for f in self._futures:
            f.release()
        self.actors = []


def _is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the replica is gone or silent (a dead or restarted worker, a
    closed connection, a timeout), rather than that its own code raised."""
    import asyncio
    import concurrent.futures

    from distributed import KilledWorker

    # CommClosedError is an OSError; the two other TimeoutErrors are distinct in 3.10
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError, KilledWorker,
                        concurrent.futures.TimeoutError, concurrent.futures.CancelledError)):
        return True
    return isinstance(exc, RuntimeError) and "lost" in str(exc).lower()


def check_sync_every(sync_every: int | str, steps_per_epoch: int) -> int:
    """Local steps per round: ``sync_every`` (at most an epoch's), or an epoch's for
    ``"epoch"``."""
    if isinstance(sync_every, str):
        if sync_every != "epoch":
            raise ValueError(f"argument 'sync_every' must be a positive integer or 'epoch', "
                             f"got {_checks.plain(sync_every)!r}")
        return steps_per_epoch
    return min(_checks.count("", "sync_every", sync_every, 1), steps_per_epoch)


def fit(model: Any, X: Any, y: Any, *, epochs: int = 10, batch_size: int = 32,
        sync_every: int | str = 32, optimizer: Optimizer | str | None = None,
        loss: Any = None, sample_weight: Any = None, client: Any = None,
        seed: int | None = None, shuffle: bool = True,
        callbacks: Iterable[Any] | Any = None, validation_data: Any = None,
        metrics: Sequence[str] | str | None = None, verbose: int | str = 0,
        timeout: float = 120.0) -> History:
    """Train ``model`` on dask data with synchronous local SGD, one replica per worker.

    Parameters
    ----------
    model : Sequential
        Trained in place: it holds the averaged weights after every round.
    X : dask array or dask DataFrame of shape (n_samples, n_features)
        Persisted on the cluster once; its row blocks are dealt out to the replicas
        (about equal rows each) and stay on their workers. A DataFrame's string column
        names become the model's ``feature_names_in_`` (or are matched to them).
    y : dask array or dask Series
        Targets in the loss's format, row blocks aligned with ``X``'s.
    epochs : int
        Passes over the data: an epoch is ``ceil(n_samples / (n_replicas * batch_size))``
        steps of every replica.
    batch_size : int
        Rows per local step of each replica (one synchronous step covers
        ``n_replicas * batch_size`` rows).
    sync_every : int or "epoch"
        Local steps between two averages (``k``): 1 is synchronous SGD, larger values
        trade communication for drift between the replicas.
    optimizer : Optimizer or str, optional
        As in ``Sequential.fit``. Its state (momentum, Adam's moments, step count) is
        local to each replica, never averaged, and dropped when ``fit`` returns.
    loss : Loss or str, optional
    sample_weight : dask array or Series of shape (n_samples,), optional
        A weight per row (finite, >= 0), dealt out with the rows. Each local step's loss
        is its rows' weighted mean as in ``Sequential.fit``; the average then gives every
        replica's step the same say. Every shard needs some weight.
    client : distributed.Client, optional
        Default: the current client (``distributed.default_client()``).
    seed : int, optional
        Seeds every replica's shuffling (with its rank); default: drawn from the model's
        generator.
    shuffle : bool
        Each replica visits its rows in a new random order every pass.
    callbacks, validation_data, metrics, verbose
        As in ``Sequential.fit``; validation runs on the driver (in-memory data), the
        training ``"accuracy"`` on the replicas.
    timeout : float
        Seconds to wait for each replica's answer to a round (or its creation).

    Returns
    -------
    History
        With ``replicas``: one dict per replica (``worker``, ``rows``, ``n_threads``,
        ``blas_threads``, ``busy_s`` and ``steps``: seconds in the native calls and their
        steps, ``lr``: the last rate it ran, ``received``: the CRC-32 of the weights each
        round started from, ``optimizer``: its local optimizer state at the end).

    Raises
    ------
    ReplicaLostError
        A replica did not answer within ``timeout`` (its worker died or hangs); the model
        keeps the weights of the last average.
    DivergenceError
        The loss became NaN or infinite in an epoch; the model keeps the weights it had
        before that epoch.
    """
    from distributed import default_client

    opt = get_optimizer(optimizer if optimizer is not None
                        else model.optimizer or SGD(lr=0.01))
    if isinstance(opt, LBFGS):
        raise TypeError("nncore.dask.fit averages step-wise optimizers (SGD, Adam, AdamW); "
                        "LBFGS trains on the full batch in one process (Sequential.fit)")
    client = client or default_client()
    chosen = model._loss(loss)
    epochs = _checks.count("", "epochs", epochs, 1)
    timeout = _checks.number("", "timeout", timeout, low=0.0)
    if timeout == 0:
        raise ValueError("argument 'timeout' must be > 0 seconds")
    hooks = as_callbacks(callbacks, epochs=epochs, validation=validation_data is not None)
    wanted = check_metrics(metrics, chosen)
    level = resolve_verbose(verbose)
    client.register_plugin(PinBlasThreads())  # BLAS threads per worker, at worker start
    shards = make_shards(client, X, y, len(client.scheduler_info()["workers"]),
                         model.feature_names_in_, sample_weight)
    with model._lock:
        if model.params is None:
            model.build(shards.n_features)
            model.feature_names_in_ = shards.feature_names
        elif model.n_features != shards.n_features:
            raise ValueError(f"argument 'X' has {shards.n_features} features, but the model "
                             f"was built for {model.n_features}")
        model.loss, model.optimizer = chosen, opt
        val = (None if validation_data is None
               else _model_data.validation_data(model, validation_data, chosen))
        batch = resolve_batch_size(batch_size, min(shards.rows))
        steps = -(-sum(shards.rows) // (len(shards.rows) * batch))
        k = check_sync_every(sync_every, steps)
        if seed is None:
            seed = int(model.rng.integers(2**62))
        if level:
            hooks.append(ProgressBar(epochs, sum(shards.rows),
                                     redraw=None if level == 1 else False))
        replicas = Replicas(client, shards, model, batch, chosen, shuffle, seed, timeout)
        try:
            history = run_rounds(model, replicas, opt, epochs=epochs, steps=steps, k=k,
                                 hooks=hooks, accuracy="accuracy" in wanted, val=val)
            history.replicas = replicas.states()  # type: ignore[attr-defined]
            return history
        finally:
            replicas.close()
            opt.reset()  # the state was the replicas'; none of it belongs to these weights


def run_rounds(model: Any, replicas: Replicas, opt: Optimizer, *, epochs: int, steps: int,
               k: int, hooks: list[Any], accuracy: bool,
               val: _model_data.Validation | None) -> History:
    """The epochs of ``fit``: rounds of ``k`` local steps (``steps`` per epoch), the
    average into ``model`` after each, then the logs and the callbacks per epoch."""
    w = model.params.w
    history = History()
    hooks = [*hooks, history]
    model.stop_training = False
    last_good = np.empty_like(w)
    for cb in hooks:
        cb.on_train_begin(model)
    for epoch in range(epochs):
        np.copyto(last_good, w)
        total, left = 0.0, steps
        while left:
            n = min(k, left)
            avg, loss = replicas.round(w, opt.lr, n)
            w[...] = avg
            total += loss * n
            left -= n
        mean_loss = total / steps
        if not (math.isfinite(mean_loss) and math.isfinite(float(w.sum()))):
            w[...] = last_good
            raise divergence(epoch, mean_loss, opt.lr)
        logs = epoch_logs(mean_loss, accuracy, lambda: replicas.score(w, True)["accuracy"],
                          val, lambda X_, t_, a, w_: _model_data.score(model, X_, t_,
                                                                      model.loss, a, w_))
        if end_epoch(hooks, model, epoch, logs):
            break
    for cb in hooks:
        cb.on_train_end(model)
    return history
