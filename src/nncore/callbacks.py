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
