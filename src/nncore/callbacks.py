"""The per-epoch hook of ``fit``: ``Callback`` objects, or plain functions.

``fit`` runs each epoch as one native call, then calls every callback's
``on_epoch_end(epoch, logs)``; validation, early stopping, schedules and progress bars
are built on this hook. ``logs`` is the epoch's dict (``{"loss": ...}``); a callback may
add entries to it (they are recorded in the ``History``) and may stop training by
returning True or by setting ``model.stop_training = True``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

EpochFn = Callable[[int, dict[str, float]], Any]


class Callback:
    """Base class for objects called by ``fit``; override what you need."""

    #: True for callbacks that set the optimizer's learning rate: a fit takes one.
    sets_learning_rate: ClassVar[bool] = False

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


def as_callbacks(callbacks: Iterable[Callback | EpochFn] | Callback | EpochFn | None, *,
                 epochs: int | None = None, validation: bool = True) -> list[Callback]:
    """Normalise ``fit(callbacks=...)``: one or a list of ``Callback`` objects or functions.

    Refuses two learning-rate schedules (the later would silently win). Given the fit's
    ``epochs`` and whether it has ``validation`` data, warns (``UserWarning``) about a
    schedule shorter than the fit and an ``EarlyStopping`` on ``val_*`` without
    validation data.
    """
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]
    try:
        given = list(callbacks or ())
    except TypeError:
        raise TypeError(f"argument 'callbacks' must be a Callback, a function (epoch, logs) "
                        f"or a list of them, got {type(callbacks).__name__}") from None
    out: list[Callback] = []
    for cb in given:
        if isinstance(cb, type) and issubclass(cb, Callback):  # callable, but not a hook
            raise TypeError(f"argument 'callbacks' holds the class {cb.__name__}: pass an "
                            f"object, e.g. {cb.__name__}()")
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(LambdaCallback(cb))
        else:
            raise TypeError(
                f"argument 'callbacks' must hold Callback objects or functions "
                f"(epoch, logs), got {cb!r}"
            )
    schedules = [cb for cb in out if cb.sets_learning_rate]
    if len(schedules) > 1:
        names = " and ".join(type(cb).__name__ for cb in schedules)
        raise ValueError(f"argument 'callbacks' holds {len(schedules)} learning-rate "
                         f"schedules, {names}: each sets the rate every epoch, so only "
                         f"the last would count; keep one")
    if epochs is not None:
        _warn_mismatches(out, epochs, validation)
    return out


def _warn_mismatches(callbacks: list[Callback], epochs: int, validation: bool) -> None:
    """What a fit would do silently and differently from what its callbacks suggest."""
    # stacklevel 4: this function, as_callbacks, Sequential.fit, the caller of fit.
    for cb in callbacks:
        length = cb.schedule_length() if isinstance(cb, LearningRateSchedule) else None
        if length is not None and length < epochs:
            warnings.warn(f"{type(cb).__name__} lasts {length} epochs but fit runs "
                          f"{epochs}: the last {epochs - length} run at its final learning "
                          f"rate; size the schedule to the fit", UserWarning, stacklevel=4)
        if (isinstance(cb, EarlyStopping) and not validation
                and cb.monitor.startswith("val_")):
            warnings.warn(f"EarlyStopping monitors {cb.monitor!r} but fit has no "
                          f"validation data: it watches the training {cb.monitor[4:]!r} "
                          f"instead; pass validation_data or validation_split, or "
                          f"monitor={cb.monitor[4:]!r}", UserWarning, stacklevel=4)


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
    ``rate``; ``LearningRateSchedule(fn)`` wraps a function ``fn(epoch, base_lr)`` or,
    as Keras's ``LearningRateScheduler`` takes it, ``fn(epoch)`` (0-based epoch; it
    returns the learning rate). ``base_lr`` is the optimizer's rate when ``fit`` starts.
    A fit takes one schedule (two are refused: each would override the other).
    """

    sets_learning_rate = True

    def __init__(self, fn: Callable[[int, float], float] | Callable[[int], float] | None = None
                 ) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"argument 'fn' must be a function (epoch, base_lr) or "
                            f"(epoch), got {fn!r}")
        self.fn = fn
        # Read the signature once, not every epoch.
        self._with_base = fn is None or _takes_base_lr(fn)

    def rate(self, epoch: int, base_lr: float) -> float:
        """The learning rate of ``epoch`` (0-based)."""
        if self.fn is None:
            raise NotImplementedError
        if getattr(self, "_with_base", True):
            return float(self.fn(epoch, base_lr))  # type: ignore[call-arg]
        return float(self.fn(epoch))  # type: ignore[call-arg]

    def schedule_length(self) -> int | None:
        """Epochs after which the rate stops changing, or None (no end); ``fit`` warns
        when it runs more epochs than this."""
        return None

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

    def schedule_length(self) -> int | None:
        return self.epochs

    def rate(self, epoch: int, base_lr: float) -> float:
        import math

        e = min(epoch, self.epochs)
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * e / self.epochs)) / 2


def _takes_base_lr(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` takes ``(epoch, base_lr)`` (else ``(epoch)``, Keras's form)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (some builtins): documented form
        return True
    for args in ((0, 1.0), (0,)):
        try:
            sig.bind(*args)
        except TypeError:
            continue
        return len(args) == 2
    raise TypeError(f"argument 'fn' must take (epoch, base_lr) or (epoch), got a function "
                    f"with signature {sig}")
