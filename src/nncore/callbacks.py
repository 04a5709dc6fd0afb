"""The per-epoch hook of ``fit``: ``Callback`` objects, or plain functions.

``fit`` runs each epoch as one native call, then calls every callback's
``on_epoch_end(epoch, logs)``; validation, early stopping, schedules and progress bars
are built on this hook. ``logs`` is the epoch's dict (``{"loss": ...}``); a callback may
add entries to it (they are recorded in the ``History``) and may stop training by
returning True or by setting ``model.stop_training = True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

EpochFn = Callable[[int, dict[str, float]], Any]


class Callback:
    """Base class for objects called by ``fit``; override what you need."""

    def on_train_begin(self, model: Any) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after every epoch (0-based) with its logs; return True to stop."""
        return None

    def on_train_end(self, model: Any) -> None:
        """Called once after the last epoch (also when stopped early)."""


class LambdaCallback(Callback):
    """Wrap a plain function ``fn(epoch, logs)`` as a callback."""

    def __init__(self, fn: EpochFn) -> None:
        self.fn = fn

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        return bool(self.fn(epoch, logs))


def as_callbacks(callbacks: Iterable[Callback | EpochFn] | None) -> list[Callback]:
    """Normalise ``fit(callbacks=...)``: ``Callback`` objects and functions alike."""
    out: list[Callback] = []
    for cb in callbacks or ():
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(LambdaCallback(cb))
        else:
            raise TypeError(
                f"argument 'callbacks' must hold Callback objects or functions "
                f"(epoch, logs), got {cb!r}"
            )
    return out


class EarlyStopping(Callback):
    """Stop when a monitored value stops improving; optionally restore the best weights.

    Parameters
    ----------
    monitor : str
        Key of the epoch logs to watch: ``"val_loss"`` (default; falls back to ``"loss"``
        when ``fit`` has no validation data), ``"loss"``, ``"val_accuracy"``, ...
    patience : int
        Epochs without improvement to wait before stopping, >= 0.
    min_delta : float
        Smallest change that counts as an improvement, >= 0.
    mode : {"auto", "min", "max"}
        Whether lower or higher is better; "auto" means "max" for accuracy-like keys.
    restore_best_weights : bool
        At the end of training, put back the weights of the best epoch.

    Attributes
    ----------
    best : float
        Best monitored value seen.
    best_epoch : int
        Epoch (0-based) where it was seen.
    stopped_epoch : int or None
        Epoch after which training was stopped, if it was.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True) -> None:
        from nncore.backends import _checks

        self.monitor = monitor
        self.patience = _checks.count("", "patience", patience, 0)
        self.min_delta = _checks.number("", "min_delta", min_delta, low=0.0)
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"argument 'mode' must be 'auto', 'min' or 'max', got {mode!r}")
        self.mode = mode
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, model: Any) -> None:
        self.model = model
        self.best = float("nan")
        self.best_epoch = -1
        self.stopped_epoch: int | None = None
        self._wait = 0
        self._best_weights: np.ndarray | None = None
        self._key = self.monitor

    def _better(self, value: float) -> bool:
        if self.best_epoch < 0:
            return True
        maximize = self.mode == "max" or (self.mode == "auto" and "acc" in self._key)
        if maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        if self._key not in logs:
            if self._key.startswith("val_") and self._key[4:] in logs:
                self._key = self._key[4:]  # no validation data: watch the training value
            else:
                raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not in the logs "
                               f"({', '.join(logs)})")
        value = float(logs[self._key])
        if self._better(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = self.model.params.w.copy()
            return None
        self._wait += 1
        if self._wait > self.patience:
            self.stopped_epoch = epoch
            return True
        return None

    def on_train_end(self, model: Any) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            model.params.w[...] = self._best_weights


class LearningRateSchedule(Callback):
    """Set the optimizer's learning rate before every epoch from ``rate(epoch, base_lr)``.

    The rate used in each epoch is recorded in the logs as ``"lr"``. Subclasses define
    ``rate``; ``LearningRateSchedule(fn)`` wraps any function ``fn(epoch, base_lr)``.
    """

    def __init__(self, fn: Callable[[int, float], float] | None = None) -> None:
        self.fn = fn

    def rate(self, epoch: int, base_lr: float) -> float:
        """The learning rate of ``epoch`` (0-based)."""
        if self.fn is None:
            raise NotImplementedError
        return float(self.fn(epoch, base_lr))

    def on_train_begin(self, model: Any) -> None:
        self.optimizer = model.optimizer
        self.base_lr = self.optimizer.lr
        self._set(0)

    def _set(self, epoch: int) -> None:
        lr = self.rate(epoch, self.base_lr)
        if not 0 <= lr < float("inf"):
            raise ValueError(f"{type(self).__name__} gave learning rate {lr} for epoch {epoch}")
        self.optimizer.lr = lr

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        logs["lr"] = self.optimizer.lr
        self._set(epoch + 1)
        return None

    def on_train_end(self, model: Any) -> None:
        self.optimizer.lr = self.base_lr  # the next fit starts from the configured rate


class StepDecay(LearningRateSchedule):
    """``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, step_size: int = 10, gamma: float = 0.1) -> None:
        from nncore.backends import _checks

        super().__init__()
        self.step_size = _checks.count("", "step_size", step_size, 1)
        self.gamma = _checks.number("", "gamma", gamma, low=0.0)

    def rate(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(LearningRateSchedule):
    """``lr = base_lr * gamma ** epoch``."""

    def __init__(self, gamma: float = 0.95) -> None:
        from nncore.backends import _checks

        super().__init__()
        self.gamma = _checks.number("", "gamma", gamma, low=0.0)

    def rate(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma**epoch


class CosineDecay(LearningRateSchedule):
    """Cosine annealing: ``lr = min_lr + (base_lr - min_lr) (1 + cos(pi e / T)) / 2``,
    for ``e = min(epoch, T)`` with ``T = epochs`` (as PyTorch's ``CosineAnnealingLR``
    without restarts)."""

    def __init__(self, epochs: int, min_lr: float = 0.0) -> None:
        from nncore.backends import _checks

        super().__init__()
        self.epochs = _checks.count("", "epochs", epochs, 1)
        self.min_lr = _checks.number("", "min_lr", min_lr, low=0.0)

    def rate(self, epoch: int, base_lr: float) -> float:
        import math

        e = min(epoch, self.epochs)
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * e / self.epochs)) / 2
