"""Progress reporting for ``fit``: a per-epoch progress bar, or one line per epoch.

An epoch is one native call, so progress is reported per epoch: in a terminal a single
line is redrawn (bar, epoch, logs, samples per second, time left); elsewhere, or with
``verbose=2``, one line is printed per epoch. ``verbose="auto"`` (the default of
``fit``) shows the bar only when stderr is a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from nncore.callbacks import Callback


def resolve_verbose(verbose: int | str, stream: TextIO | None = None) -> int:
    """``"auto"`` -> 1 in a terminal, else 0; integers 0, 1, 2 pass through."""
    if verbose == "auto":
        stream = stream or sys.stderr
        return 1 if getattr(stream, "isatty", lambda: False)() else 0
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"argument 'verbose' must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _format_logs(logs: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" if k == "lr" else f"{k} {v:.4f}" for k, v in logs.items())


class ProgressBar(Callback):
    """Report each epoch: loss and other logs, speed (samples/s) and time left.

    Parameters
    ----------
    epochs : int
        Planned number of epochs.
    n_samples : int
        Training samples per epoch (for the speed).
    stream : file-like, optional
        Where to write (default ``sys.stderr``).
    redraw : bool, optional
        Redraw one line (terminal) or print a line per epoch; default: redraw when
        ``stream`` is a terminal.
    width : int
        Characters of the bar.
    """

    def __init__(self, epochs: int, n_samples: int, stream: TextIO | None = None,
                 redraw: bool | None = None, width: int = 20) -> None:
        self.epochs, self.n_samples, self.width = epochs, n_samples, width
        self.stream = stream or sys.stderr
        self.redraw = resolve_verbose("auto", self.stream) == 1 if redraw is None else redraw
        self._last_len = 0

    def on_train_begin(self, model: Any) -> None:
        self.start = self._tick = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        now = time.perf_counter()
        took, self._tick = now - self._tick, now
        done = epoch + 1
        speed = self.n_samples / took if took > 0 else float("inf")
        left = (now - self.start) / done * (self.epochs - done)
        text = (f"epoch {done}/{self.epochs}  {_format_logs(logs)}  "
                f"{speed:,.0f} samples/s  {took:.3f} s/epoch")
        if self.redraw:
            filled = self.width * done // self.epochs
            bar = "=" * filled + (">" if filled < self.width else "") + " " * (
                self.width - filled - 1)
            line = f"\r[{bar[: self.width]}] {text}  ETA {left:.1f} s"
            pad = max(0, self._last_len - len(line))
            self.stream.write(line + " " * pad)
            self._last_len = len(line)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        return None

    def on_train_end(self, model: Any) -> None:
        if self.redraw and self._last_len:
            total = time.perf_counter() - self.start
            self.stream.write(f"  done in {total:.2f} s\n")
            self.stream.flush()
