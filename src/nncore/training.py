"""The learning loop: forward -> loss -> backprop -> update, batch after batch.

``fit`` converts the data once and compiles the model into a ``TrainPlan`` (workspace
allocated once per model, batch size and loss). Each epoch is then one
``Ops.train_epoch`` call -- one native call on the Cython backend -- followed by the
per-epoch hook (``nncore.callbacks``). The batch size picks the form of gradient
descent: ``"full"`` (one step per epoch), ``1`` (stochastic) or ``n`` (mini-batch).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from nncore import _checks
from nncore.callbacks import Callback, EpochFn, as_callbacks
from nncore.data import resolve_batch_size
from nncore.losses import Loss
from nncore.optimizers import SGD, Optimizer, get_optimizer


class History(Callback):
    """What ``fit`` records: ``history["loss"]`` holds the mean training loss per epoch.

    Attributes
    ----------
    history : dict of str to list of float
        One list per metric, one value per epoch.
    epoch : list of int
        The epoch numbers run (0-based).
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {"loss": []}
        self.epoch: list[int] = []

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        return None


class _PrintEpochs(Callback):
    """``verbose=1``: one line per epoch on stderr."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        now = time.perf_counter()
        items = "  ".join(f"{k} {v:.6f}" for k, v in logs.items())
        print(f"epoch {epoch + 1}/{self.epochs}  {items}  ({now - self.start:.3f} s)",
              file=sys.stderr)
        self.start = now
        return None


def fit(model: Any, X: Any, y: Any, epochs: int = 10, batch_size: int | str = 32,
        optimizer: Optimizer | str | None = None, loss: Loss | str | None = None,
        seed: int | None = None, shuffle: bool = True, verbose: int = 0,
        callbacks: Iterable[Callback | EpochFn] | None = None) -> History:
    """Train ``model`` on ``(X, y)``.

    Parameters
    ----------
    model : Sequential
        Built on first use from the width of ``X``.
    X : array-like of shape (n_samples, n_features)
        Converted once to the model's dtype (C-contiguous).
    y : array-like
        Targets in the loss's format (integer labels, 0/1 labels, or values).
    epochs : int
        Passes over the data, >= 1.
    batch_size : int or "full"
        ``"full"``: full-batch gradient descent; ``1``: stochastic; ``n``: mini-batch.
    optimizer : Optimizer or str, optional
        Default: the optimizer of the previous ``fit``, else ``SGD(lr=0.01)``. Its state
        (momentum, moments) carries over between ``fit`` calls on the same model.
    loss : Loss or str, optional
        Default: the model's loss. Classification losses take logits, so the last
        layer must have ``activation="identity"``.
    seed : int, optional
        Seed for this call's shuffling; default: the model's own generator.
    shuffle : bool
        Reshuffle the samples every epoch.
    verbose : int
        0: silent; 1: one line per epoch on stderr.
    callbacks : list of Callback or callable, optional
        The per-epoch hook: each is called after every epoch with ``(epoch, logs)``.

    Returns
    -------
    History

    Notes
    -----
    On the Cython backend an epoch is one native call that looks for Ctrl-C every 256
    steps: ``KeyboardInterrupt`` then propagates with the model holding the weights of
    the last completed step.
    """
    chosen = model._loss(loss)
    if optimizer is None:
        optimizer = model.optimizer or SGD(lr=0.01)
    opt = get_optimizer(optimizer)
    epochs = _checks.count("", "epochs", epochs, 1)
    hooks = as_callbacks(callbacks)
    with model._lock, model._threads():
        Xc = model._features(X, build=True)
        targets = chosen.targets(y, model.n_outputs, model.dtype)
        if len(Xc) != len(targets):
            raise ValueError(
                f"arguments 'X' and 'y' have different lengths: {len(Xc)} != {len(targets)}"
            )
        if len(Xc) == 0:
            raise ValueError("argument 'X' is empty: need at least one sample to fit")
        model.loss, model.optimizer = chosen, opt
        plan = model._train_plan(resolve_batch_size(batch_size, len(Xc)), chosen)
        rng = model._rng if seed is None else np.random.default_rng(seed)
        order = np.arange(len(Xc), dtype=np.int64)
        history = History()
        hooks = [*hooks, history]
        if verbose:
            hooks.insert(0, _PrintEpochs(epochs))
        model.stop_training = False
        for cb in hooks:
            cb.on_train_begin(model)
        for epoch in range(epochs):
            if shuffle and plan.batch_size < len(Xc):
                rng.shuffle(order)
            plan.configure(*opt.plan_state(model.params))
            try:
                mean_loss = model.ops.train_epoch(plan, Xc, targets, order)
            finally:
                opt.set_step(plan.step)
            logs = {"loss": mean_loss}
            stop = False
            for cb in hooks:
                stop = bool(cb.on_epoch_end(epoch, logs)) or stop
            if stop or model.stop_training:
                break
        for cb in hooks:
            cb.on_train_end(model)
    return history
