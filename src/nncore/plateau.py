"""scikit-learn's convergence rules as ``fit`` callbacks: on a plateau, stop or slow down.

``NoImprovementStopping`` is scikit-learn's ``tol``/``n_iter_no_change`` test: it counts
the epochs in which a logged value did not improve by ``tol`` and stops training once the
count exceeds ``patience``, keeping the weights of the best epoch if asked.
``SklearnSchedule`` sets the optimizer's ``lr`` as scikit-learn's SGD does: "invscaling"
after every epoch, "adaptive" when the stop callback runs out of patience (passed to it
as ``on_plateau``, it divides the rate instead of letting training stop).

Both keep their state (best value, count, rate, samples seen) in public attributes and
take it back as constructor arguments, so a training can continue across ``fit`` calls;
``nncore.sklearn``'s estimators are built this way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nncore.callbacks import Callback

SCHEDULES = ("constant", "invscaling", "adaptive")


class NoImprovementStopping(Callback):
    """Stop when a logged value has not improved by ``tol`` for more than ``patience`` epochs.

    scikit-learn's convergence test. An epoch counts as "no improvement" when its value is
    not better than the best so far by at least ``tol``; the best value follows every
    improvement, however small (``EarlyStopping`` only moves it by ``min_delta`` steps).
    The state is not reset by a new ``fit``: the same object continues counting.

    Parameters
    ----------
    monitor : str
        Key of the epoch logs to watch, e.g. ``"loss"`` or ``"val_accuracy"``.
    mode : {"min", "max"}
        Whether lower or higher values are better.
    tol : float
        Improvement needed to restart the count, >= 0.
    patience : int or math.inf
        Epochs without improvement tolerated, >= 0; training stops at the next one.
    restore_best_weights : bool
        Keep a copy of the weights of the best epoch (``best_weights``) and put it back
        at the end of training.
    on_plateau : callable, optional
        Called with no arguments when the patience runs out. It returns a short note of
        what it did (as ``SklearnSchedule.reduce``: "Setting learning rate to ...") to
        restart the count and go on, or None to let training stop.
    verbose : bool
        Print scikit-learn's message when the patience runs out.
    name : str, optional
        What the message calls the value (default: ``monitor``).
    best : float, optional
        Best value so far, to continue an earlier training; default: +inf ("min") or
        -inf ("max"), so that the first epoch is an improvement.
    wait : int
        Epochs without improvement already counted.
    best_weights : ndarray, optional
        Weights of the best epoch so far (with ``restore_best_weights``).

    Attributes
    ----------
    best : float
        Best value seen.
    wait : int
        Consecutive epochs without improvement by ``tol``.
    best_weights : ndarray or None
        Copy of the flat parameters at the best value (with ``restore_best_weights``).
    stopped_epoch : int or None
        Epoch (0-based) after which the last ``fit`` was stopped, if it was.
    """

    def __init__(self, monitor: str = "loss", mode: str = "min", tol: float = 1e-4,
                 patience: int | float = 10, restore_best_weights: bool = False,
                 on_plateau: Callable[[], str | None] | None = None, verbose: bool = False,
                 name: str | None = None, best: float | None = None, wait: int = 0,
                 best_weights: np.ndarray | None = None) -> None:
        from nncore.backends import _checks

        if mode not in ("min", "max"):
            raise ValueError(f"argument 'mode' must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode = monitor, mode
        self.tol = _checks.number("", "tol", tol, low=0.0)
        # scikit-learn accepts n_iter_no_change=np.inf (never stop); kept as given so
        # that the message prints it as scikit-learn does.
        self.patience = patience if patience == math.inf else _checks.count(
            "", "patience", patience, 0)
        self.restore_best_weights = bool(restore_best_weights)
        self.on_plateau, self.verbose = on_plateau, bool(verbose)
        self.name = monitor if name is None else name
        self.best = (math.inf if mode == "min" else -math.inf) if best is None else best
        self.wait = _checks.count("", "wait", wait, 0)
        self.best_weights = best_weights
        self.stopped_epoch: int | None = None

    def on_train_begin(self, model: Any) -> None:
        self.model = model
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        if self.monitor not in logs:
            raise KeyError(f"NoImprovementStopping: monitor {self.monitor!r} is not in the "
                           f"logs ({', '.join(logs)})")
        value = logs[self.monitor]
        # scikit-learn's comparisons, kept as written: NaN restarts the count.
        if self.mode == "min":
            stalled, better = value > self.best - self.tol, value < self.best
        else:
            stalled, better = value < self.best + self.tol, value > self.best
        self.wait = self.wait + 1 if stalled else 0
        if better:
            self.best = value
            if self.restore_best_weights:
                self.best_weights = self.model.params.w.copy()
        if self.wait <= self.patience:
            return None
        msg = (f"{self.name} did not improve more than tol={self.tol:f} for "
               f"{self.patience} consecutive epochs.")
        note = self.on_plateau() if self.on_plateau is not None else None
        if note is not None:
            self.wait = 0
            if self.verbose:
                print(f"{msg} {note}")
            return None
        if self.verbose:
            print(msg + " Stopping.")
        self.stopped_epoch = epoch
        return True

    def on_train_end(self, model: Any) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            model.params.w[...] = self.best_weights


class SklearnSchedule(Callback):
    """scikit-learn's SGD learning-rate schedules, applied to the optimizer's ``lr``.

    The rate is set at the start of training and after every epoch that changes it, and
    is kept after training (not restored as ``LearningRateSchedule`` does): the next
    ``fit`` with this object continues the schedule. The rate used in each epoch is
    recorded in the logs as ``"lr"``; list the schedule before the
    ``NoImprovementStopping`` that calls ``reduce``, or the epoch that lowers the rate
    logs the new one (training is the same either way).

    Parameters
    ----------
    learning_rate : {"constant", "invscaling", "adaptive"}
        "constant": the rate stays ``lr``. "invscaling": after every epoch, ``lr =
        lr_init / (t + 1) ** power_t`` with ``t`` the samples seen. "adaptive": the rate
        is divided by ``factor`` each time a ``NoImprovementStopping`` given
        ``on_plateau=schedule.reduce`` runs out of patience, as long as ``lr > min_lr``;
        after that, training stops.
    samples_per_epoch : int
        What ``t`` grows by in an epoch: the training samples (as scikit-learn counts);
        the default 1 counts epochs.
    lr_init : float, optional
        The initial rate; default: the optimizer's ``lr`` (times ``scale``) when
        training starts.
    power_t : float
        Exponent of "invscaling", >= 0.
    factor : float
        Divisor of "adaptive", >= 1.
    min_lr : float
        "adaptive" divides only rates above this, >= 0.
    lr : float, optional
        The current rate, to continue an earlier training; default ``lr_init``.
    samples_seen : int
        ``t`` at the start.
    scale : float
        The optimizer's ``lr`` is the schedule's rate divided by ``scale`` (> 0): the
        rules run in another gradient scale, e.g. scikit-learn's in ``nncore.sklearn``.

    Attributes
    ----------
    lr : float
        The current rate, in the schedule's scale.
    samples_seen : int
        ``t``, the samples seen.
    """

    sets_learning_rate = True

    def __init__(self, learning_rate: str = "invscaling", samples_per_epoch: int = 1,
                 lr_init: float | None = None, power_t: float = 0.5, factor: float = 5.0,
                 min_lr: float = 1e-6, lr: float | None = None, samples_seen: int = 0,
                 scale: float = 1.0) -> None:
        from nncore.backends import _checks

        if learning_rate not in SCHEDULES:
            raise ValueError(f"argument 'learning_rate' must be one of {SCHEDULES}, got "
                             f"{learning_rate!r}")
        self.learning_rate = learning_rate
        self.samples_per_epoch = _checks.count("", "samples_per_epoch", samples_per_epoch, 1)
        self.lr_init = None if lr_init is None else _positive("lr_init", lr_init)
        self.power_t = _checks.number("", "power_t", power_t, low=0.0)
        self.factor = _checks.number("", "factor", factor, low=1.0)
        self.min_lr = _checks.number("", "min_lr", min_lr, low=0.0)
        self.lr = None if lr is None else _positive("lr", lr)
        self.samples_seen = _checks.count("", "samples_seen", samples_seen, 0)
        self.scale = _positive("scale", scale)

    def on_train_begin(self, model: Any) -> None:
        self.optimizer = model.optimizer
        if self.lr_init is None:
            self.lr_init = self.optimizer.lr * self.scale
        if self.lr is None:
            self.lr = self.lr_init
        self._apply()

    def _apply(self) -> None:
        assert self.lr is not None  # set by on_train_begin
        self.optimizer.lr = self.lr / self.scale

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        logs["lr"] = self.optimizer.lr
        self.samples_seen += self.samples_per_epoch
        if self.learning_rate == "invscaling":
            assert self.lr_init is not None  # set by on_train_begin
            self.lr = self.lr_init / (self.samples_seen + 1) ** self.power_t
            self._apply()
        return None

    def reduce(self) -> str | None:
        """The plateau rule of "adaptive": divide the rate by ``factor``, if allowed.

        Returns
        -------
        str or None
            "Setting learning rate to <lr>" when the rate was divided; None when it was
            not ("constant", "invscaling", or ``lr <= min_lr``), so that training stops.
        """
        if self.learning_rate != "adaptive" or self.lr is None or not self.lr > self.min_lr:
            return None
        self.lr /= self.factor
        self._apply()
        return f"Setting learning rate to {self.lr:f}"


def _positive(name: str, value: Any) -> float:
    from nncore.backends import _checks

    v = _checks.number("", name, value, low=0.0)
    if v == 0:
        raise ValueError(f"argument '{name}' must be > 0, got {v}")
    return v
