"""The learning loop: forward -> loss -> backprop -> update, batch after batch.

``Sequential.fit`` owns training: it converts the data once, compiles itself into a
``TrainPlan`` (workspace allocated once per model, batch size and loss) and hands
everything to ``run_epochs`` here as arguments. Each epoch is then one
``Ops.train_epoch`` call -- one native call on the Cython backend -- followed by the
per-epoch hooks (``nncore.callbacks``). The batch size picks the form of gradient
descent: ``"full"`` (one step per epoch), ``1`` (stochastic) or ``n`` (mini-batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nncore.backends import _checks
from nncore.backends.plan import TrainPlan
from nncore.callbacks import Callback
from nncore.data import Features, block_rows, shuffle_order
from nncore.losses import Loss
from nncore.optimizers import Optimizer

#: ``score(X, targets, accuracy, weights)``: loss (and accuracy) of the model on converted
#: data, weighted by ``weights`` (float64 per sample) unless None.
ScoreFn = Callable[[Features, np.ndarray, bool, "np.ndarray | None"], dict[str, float]]
#: Converted validation data: ``(X_val, targets_val, weights_val or None)``.
Validation = tuple[Features, np.ndarray, "np.ndarray | None"]

METRICS = ("accuracy",)
#: Rows per run of the full-batch gradient (``Sequential.gradients``, ``LBFGS``): the
#: workspace it allocates.
GRADIENT_ROWS = 8192


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


def run_epochs(model: Any, plan: TrainPlan, optimizer: Optimizer, X: Features,
               targets: np.ndarray, val: Validation | None, *,
               epochs: int, rng: np.random.Generator, shuffle: bool,
               hooks: list[Callback], metrics: tuple[str, ...], score: ScoreFn,
               weights: np.ndarray | None = None) -> History:
    """The epochs of ``Sequential.fit`` on converted data, with the model's plan.

    Each epoch is one ``Ops.train_epoch`` call, then the hooks. Everything comes in as an
    argument; of ``model`` only public attributes are used (``ops``, ``params``,
    ``stop_training``, ``dropout_seed`` and ``dropout_step``, which the plan's dropout
    generator starts from and counts on) and it is handed to the callbacks.

    Parameters
    ----------
    model : Sequential
        The model being trained (locked by the caller).
    plan : TrainPlan
        The model's plan for this batch size and loss.
    optimizer : Optimizer
        Configures the plan before every epoch; takes back the step count after it.
    X, targets : ndarray
        Converted training data.
    val : (X_val, targets_val, weights_val or None) or None
        Converted validation data, scored after every epoch.
    epochs : int
    rng : numpy.random.Generator
        Shuffles the sample order (when ``shuffle`` and there is more than one batch);
        a memory-mapped ``X`` block by block (``nncore.data.shuffle_order``).
    shuffle : bool
    hooks : list of Callback
        Called in order; a ``History`` is appended and returned.
    metrics : tuple of str
        Extra metrics (``"accuracy"``) for the logs.
    score : callable
        ``score(X, targets, accuracy, weights) -> {"loss": ..., "accuracy": ...}`` on
        converted data with the current parameters.
    weights : ndarray of float64, optional
        One weight per training sample (``nncore._weights``), or None.

    Returns
    -------
    History
    """
    params, ops = model.params, model.ops
    order = np.arange(len(X), dtype=np.int64)
    blocks = block_rows(X, plan.batch_size)  # memory-mapped X: shuffled block by block
    history = History()
    hooks = [*hooks, history]
    model.stop_training = False
    # The weights before each epoch: put back if the epoch diverges.
    last_good = np.empty_like(params.w)
    for cb in hooks:
        cb.on_train_begin(model)
    for epoch in range(epochs):
        if shuffle and plan.batch_size < len(X):
            shuffle_order(order, rng, blocks)
        plan.configure(*optimizer.plan_state(params))
        plan.set_dropout(model.dropout_seed, model.dropout_step)
        np.copyto(last_good, params.w)
        try:
            mean_loss = ops.train_epoch(plan, X, targets, order, weights)
        finally:
            optimizer.set_step(plan.step)
            model.dropout_step = plan.dropout_step  # the steps run count, as the optimizer's
        if not (math.isfinite(mean_loss) and math.isfinite(float(params.w.sum()))):
            params.w[...] = last_good
            optimizer.reset()  # its moments are not finite either
            raise divergence(epoch, mean_loss, optimizer.lr)
        logs = epoch_logs(mean_loss, "accuracy" in metrics,
                          lambda: score(X, targets, True, weights)["accuracy"], val, score)
        if end_epoch(hooks, model, epoch, logs):
            break
    for cb in hooks:
        cb.on_train_end(model)
    return history


def divergence(epoch: int, mean_loss: float, lr: float) -> DivergenceError:
    """The error for an epoch whose loss (or a weight) stopped being finite."""
    return DivergenceError(
        f"training diverged in epoch {epoch + 1}: the loss became {mean_loss} "
        f"(or a weight overflowed). The model keeps the weights from before that "
        f"epoch. Try a lower learning rate than {lr:g}, or scale the inputs.")


def epoch_logs(mean_loss: float, accuracy: bool, train_accuracy: Callable[[], float],
               val: Validation | None, score: ScoreFn) -> dict[str, float]:
    """An epoch's logs: its mean loss, the training accuracy (``train_accuracy()``) when
    ``accuracy``, and ``val_loss`` (and ``val_accuracy``) from ``score`` on ``val``."""
    logs = {"loss": mean_loss}
    if accuracy:
        logs["accuracy"] = train_accuracy()
    if val is not None:
        scores = score(val[0], val[1], accuracy, val[2])
        logs.update({f"val_{k}": v for k, v in scores.items()})
    return logs


def end_epoch(hooks: list[Callback], model: Any, epoch: int, logs: dict[str, float]) -> bool:
    """Every hook's ``on_epoch_end`` (all of them, also after one asks to stop); True
    when one asked, or ``model.stop_training`` is set."""
    stop = False
    for cb in hooks:
        stop = bool(cb.on_epoch_end(epoch, logs)) or stop
    return stop or bool(model.stop_training)


def check_metrics(metrics: Sequence[str] | str | None, loss: Loss) -> tuple[str, ...]:
    """The names in ``metrics`` (one name or a list), checked against ``METRICS`` and the
    loss."""
    # A bare string would otherwise be read letter by letter ("unknown metric 'a'").
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics or ())
    for name in names:
        if name not in METRICS:
            raise ValueError(f"argument 'metrics': unknown metric {_checks.plain(name)!r}; "
                             f"expected one of "
                             f"{', '.join(map(repr, METRICS))}")
        if name == "accuracy" and not loss.is_classifier:
            raise ValueError("metric 'accuracy' needs a classification loss")
    return names


def split_validation(X: Features, targets: np.ndarray, weights: np.ndarray | None,
                     split: float
                     ) -> tuple[Features, np.ndarray, np.ndarray | None, Validation | None]:
    """Hold out the last ``split`` of the (converted) samples, and their weights, as
    validation data."""
    split = _checks.number("", "validation_split", split, low=0.0, high=1.0, high_open=True)
    if split == 0:
        return X, targets, weights, None
    n_val = round(len(X) * split)
    if not 0 < n_val < len(X):
        raise ValueError(f"argument 'validation_split' = {split} leaves no training or no "
                         f"validation samples out of {len(X)}")
    cut = len(X) - n_val
    if weights is None:
        return X[:cut], targets[:cut], None, (X[cut:], targets[cut:], None)
    if not (weights[:cut].sum() > 0 and weights[cut:].sum() > 0):
        raise ValueError("argument 'validation_split': the training or the validation part "
                         "has weight 0 for every sample")
    return X[:cut], targets[:cut], weights[:cut], (X[cut:], targets[cut:], weights[cut:])
