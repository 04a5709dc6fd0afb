"""The learning loop: forward -> loss -> backprop -> update, batch after batch.

``fit`` converts the data once and compiles the model into a ``TrainPlan`` (workspace
allocated once per model, batch size and loss). Each epoch is then one
``Ops.train_epoch`` call -- one native call on the Cython backend -- followed by the
per-epoch hook (``nncore.callbacks``). The batch size picks the form of gradient
descent: ``"full"`` (one step per epoch), ``1`` (stochastic) or ``n`` (mini-batch).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nncore.backends import _checks
from nncore.callbacks import Callback, EpochFn, as_callbacks
from nncore.data import resolve_batch_size
from nncore.losses import Loss
from nncore.optimizers import SGD, Optimizer, get_optimizer
from nncore.progress import ProgressBar, resolve_verbose

METRICS = ("accuracy",)


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite; the model keeps its last finite weights."""


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


def fit(model: Any, X: Any, y: Any, epochs: int = 10, batch_size: int | str = 32,
        optimizer: Optimizer | str | None = None, loss: Loss | str | None = None,
        seed: int | None = None, shuffle: bool = True, verbose: int | str = "auto",
        callbacks: Iterable[Callback | EpochFn] | None = None,
        validation_data: tuple[Any, Any] | None = None, validation_split: float = 0.0,
        metrics: Sequence[str] | None = None) -> History:
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
    verbose : {"auto", 0, 1, 2}
        0: silent; 1: a progress bar redrawn per epoch in a terminal (one line per epoch
        elsewhere); 2: one line per epoch; "auto": 1 when stderr is a terminal, else 0.
    callbacks : list of Callback or callable, optional
        The per-epoch hook: each is called after every epoch with ``(epoch, logs)``,
        e.g. ``EarlyStopping``, ``StepDecay``/``ExponentialDecay``/``CosineDecay``.
    validation_data : (X_val, y_val), optional
        Evaluated after every epoch: ``val_loss`` (and ``val_<metric>``) in the logs.
    validation_split : float
        Fraction in (0, 1) of the samples, taken from the end before any shuffling, held
        out as validation data (ignored when ``validation_data`` is given).
    metrics : list of str, optional
        Extra per-epoch metrics: ``"accuracy"`` (classification losses). Computed on the
        whole training set with the weights at the end of the epoch, and on the
        validation data; by default only losses are reported (no extra pass).

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        The loss became NaN or infinite in an epoch (a ``FloatingPointError``); the
        model keeps the weights it had before that epoch.

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
    wanted = _metrics(metrics, chosen)
    level = resolve_verbose(verbose)
    with model._lock, model._threads():
        Xc = model._features(X, build=True)
        targets = chosen.targets(y, model.n_outputs, model.dtype)
        if len(Xc) != len(targets):
            raise ValueError(
                f"arguments 'X' and 'y' have different lengths: {len(Xc)} != {len(targets)}"
            )
        if len(Xc) == 0:
            raise ValueError("argument 'X' is empty: need at least one sample to fit")
        Xc, targets, val = _validation(model, chosen, Xc, targets, validation_data,
                                       validation_split)
        model.loss, model.optimizer = chosen, opt
        plan = model._train_plan(resolve_batch_size(batch_size, len(Xc)), chosen)
        rng = model._rng if seed is None else np.random.default_rng(seed)
        order = np.arange(len(Xc), dtype=np.int64)
        history = History()
        if level:
            hooks.append(ProgressBar(epochs, len(Xc), redraw=None if level == 1 else False))
        hooks.append(history)
        model.stop_training = False
        # The weights before each epoch: put back if the epoch diverges.
        last_good = np.empty_like(model.params.w)
        for cb in hooks:
            cb.on_train_begin(model)
        for epoch in range(epochs):
            if shuffle and plan.batch_size < len(Xc):
                rng.shuffle(order)
            plan.configure(*opt.plan_state(model.params))
            np.copyto(last_good, model.params.w)
            try:
                mean_loss = model.ops.train_epoch(plan, Xc, targets, order)
            finally:
                opt.set_step(plan.step)
            if not (math.isfinite(mean_loss) and math.isfinite(float(model.params.w.sum()))):
                model.params.w[...] = last_good
                opt.reset()  # its moments are not finite either
                raise DivergenceError(
                    f"training diverged in epoch {epoch + 1}: the loss became {mean_loss} "
                    f"(or a weight overflowed). The model keeps the weights from before that "
                    f"epoch. Try a lower learning rate than {opt.lr:g}, or scale the inputs."
                )
            logs = {"loss": mean_loss}
            if "accuracy" in wanted:
                logs["accuracy"] = model._score(Xc, targets, chosen, True)["accuracy"]
            if val is not None:
                scores = model._score(val[0], val[1], chosen, "accuracy" in wanted)
                logs.update({f"val_{k}": v for k, v in scores.items()})
            stop = False
            for cb in hooks:
                stop = bool(cb.on_epoch_end(epoch, logs)) or stop
            if stop or model.stop_training:
                break
        for cb in hooks:
            cb.on_train_end(model)
    return history


def _metrics(metrics: Sequence[str] | None, loss: Loss) -> tuple[str, ...]:
    names = tuple(metrics or ())
    for name in names:
        if name not in METRICS:
            raise ValueError(f"argument 'metrics': unknown metric {name!r}; expected one of "
                             f"{', '.join(map(repr, METRICS))}")
        if name == "accuracy" and not loss.is_classifier:
            raise ValueError("metric 'accuracy' needs a classification loss")
    return names


def _validation(model: Any, loss: Loss, X: np.ndarray, targets: np.ndarray,
                data: tuple[Any, Any] | None, split: float
                ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Convert ``validation_data``, or hold out the last ``split`` of the samples."""
    if data is not None:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise TypeError("argument 'validation_data' must be a pair (X_val, y_val)")
        Xv = model._features(data[0])
        tv = loss.targets(data[1], model.n_outputs, model.dtype)
        if len(Xv) != len(tv) or len(Xv) == 0:
            raise ValueError("argument 'validation_data': X_val and y_val must be non-empty "
                             f"and of one length, got {len(Xv)} and {len(tv)}")
        return X, targets, (Xv, tv)
    split = _checks.number("", "validation_split", split, low=0.0, high=1.0, high_open=True)
    if split == 0:
        return X, targets, None
    n_val = round(len(X) * split)
    if not 0 < n_val < len(X):
        raise ValueError(f"argument 'validation_split' = {split} leaves no training or no "
                         f"validation samples out of {len(X)}")
    cut = len(X) - n_val
    return X[:cut], targets[:cut], (X[cut:], targets[cut:])

