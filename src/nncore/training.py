"""The learning loop: forward -> loss -> backprop -> update, batch after batch.

``fit`` converts the data once, then runs ``epochs`` passes over it. The batch size
picks the form of gradient descent (see ``nncore.data``): ``"full"`` (one step per
epoch), ``1`` (stochastic) or ``n`` (mini-batch).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from nncore import _checks
from nncore.data import Batcher, resolve_batch_size
from nncore.losses import Loss
from nncore.optimizers import SGD, Optimizer, get_optimizer


class History:
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

    def record(self, epoch: int, logs: dict[str, float]) -> None:
        """Append one epoch's logs."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))


def fit(model: Any, X: Any, y: Any, epochs: int = 10, batch_size: int | str = 32,
        optimizer: Optimizer | str | None = None, loss: Loss | str | None = None,
        seed: int | None = None, shuffle: bool = True, verbose: int = 0) -> History:
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

    Returns
    -------
    History
    """
    chosen = model._loss(loss)
    model.loss = chosen
    if optimizer is None:
        optimizer = getattr(model, "optimizer", None) or SGD(lr=0.01)
    opt = get_optimizer(optimizer)
    model.optimizer = opt
    epochs = _checks.count("", "epochs", epochs, 1)
    Xc = model._features(X, build=True)
    targets = chosen.targets(y, model.n_outputs, model.dtype)
    if len(Xc) != len(targets):
        raise ValueError(
            f"arguments 'X' and 'y' have different lengths: {len(Xc)} != {len(targets)}"
        )
    if len(Xc) == 0:
        raise ValueError("argument 'X' is empty: need at least one sample to fit")
    bs = resolve_batch_size(batch_size, len(Xc))
    rng = model._rng if seed is None else np.random.default_rng(seed)
    batches = Batcher(Xc, targets, bs, rng, shuffle)
    history = History()
    n = len(Xc)
    for epoch in range(epochs):
        start = time.perf_counter()
        total = 0.0
        for xb, yb in batches.epoch():
            total += model.train_step(xb, yb, chosen, opt) * len(xb)
        logs = {"loss": total / n}
        history.record(epoch, logs)
        if verbose:
            took = time.perf_counter() - start
            print(f"epoch {epoch + 1}/{epochs}  loss {logs['loss']:.6f}  ({took:.3f} s)",
                  file=sys.stderr)
    return history
