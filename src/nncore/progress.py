"""Progress reporting for ``fit``: a per-epoch progress bar, or one line per epoch.

An epoch is one native call, so progress is reported per epoch: in a terminal a single
line is redrawn (bar, epoch, logs, samples per second, time left); elsewhere, or with
``verbose=2``, one line is printed per epoch. ``verbose="auto"`` (the default of
``fit``) shows the bar when stderr is a terminal or the code runs in a Jupyter (IPython)
kernel, whose output redraws a line on a carriage return as a terminal does.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import Any, TextIO

from nncore.callbacks import Callback


def in_notebook() -> bool:
    """True inside a Jupyter (IPython) kernel: stderr is no TTY there, yet it shows a
    redrawn line. Looks only at an IPython already imported; never imports it."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
    except Exception:  # a broken or partial IPython: not a notebook for our purpose
        return False
    return getattr(shell, "kernel", None) is not None


def resolve_verbose(verbose: int | str, stream: TextIO | None = None) -> int:
    """``"auto"`` -> 1 in a terminal or a notebook, else 0; integers 0, 1, 2 pass
    through."""
    if verbose == "auto":
        stream = stream or sys.stderr
        return 1 if getattr(stream, "isatty", lambda: False)() or in_notebook() else 0
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"argument 'verbose' must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


#: Rank of each field of a line: when the terminal is too narrow, the highest ranks go
#: first. The epoch (rank 0) always stays; then the losses, validation scores, time left.
#: The line's own fields have keys in <> (a log key could be "speed").
_RANK = {"loss": 1, "val_loss": 2, "<eta>": 4, "<bar>": 6, "lr": 7, "<speed>": 8,
         "<took>": 9}


def _rank(key: str) -> int:
    return _RANK.get(key, 3 if key.startswith("val_") else 5)


def _join(fields: list[tuple[str, str]]) -> str:
    """The bar is followed by one space, every other field by two."""
    return "".join(text if i == 0 else (" " if fields[i - 1][0] == "<bar>" else "  ") + text
                   for i, (_, text) in enumerate(fields))


def _fit(fields: list[tuple[str, str]], limit: int | None) -> str:
    """Join ``(key, text)`` fields, dropping the least important (highest ``_rank``)
    until the line has at most ``limit`` characters."""
    size = len(_join(fields))
    if limit is None or size <= limit:
        return _join(fields)
    kept = dict(enumerate(fields))
    least_first = sorted((i for i, (key, _) in enumerate(fields) if key != "<epoch>"),
                         key=lambda i: (_rank(fields[i][0]), i), reverse=True)
    for i in least_first:
        if size <= limit:
            break
        key, text = kept.pop(i)
        # The bar leads with one space after it; any other field has two before it.
        size -= len(text) + (1 if key == "<bar>" else 2)
    return _join(list(kept.values()))[:limit]  # the epoch alone may still be too wide


class ProgressBar(Callback):
    """Report each epoch: loss and other logs, speed (samples/s) and time left.

    In a terminal each line is fitted to its width (``shutil.get_terminal_size``, read
    every epoch): the seconds per epoch go first, then the speed, the learning rate, the
    bar, training metrics, the time left; the epoch and the losses stay.

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
    columns : int, optional
        Width of the lines' display; default: the terminal's when ``stream`` is a
        terminal, unlimited otherwise (a log file keeps every field). The last column
        stays free: writing there makes some terminals wrap.
    """

    def __init__(self, epochs: int, n_samples: int, stream: TextIO | None = None,
                 redraw: bool | None = None, width: int = 20,
                 columns: int | None = None) -> None:
        self.epochs, self.n_samples, self.width = epochs, n_samples, width
        self.stream = stream or sys.stderr
        self.redraw = resolve_verbose("auto", self.stream) == 1 if redraw is None else redraw
        self.columns = columns
        self._last_len = 0
        self._terminal = (-math.inf, 80)  # (when read, columns): read at most once a second

    def _limit(self) -> int | None:
        """The longest line the display takes, or None (not a terminal: no limit)."""
        columns = self.columns
        if columns is None:
            if resolve_verbose("auto", self.stream) != 1:
                return None
            now = time.perf_counter()
            if now - self._terminal[0] > 1.0:  # follows a resize, at ~10 us a read
                self._terminal = (now, shutil.get_terminal_size().columns)
            columns = self._terminal[1]
        return max(columns - 1, 1)

    def on_train_begin(self, model: Any) -> None:
        self.start = self._tick = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        now = time.perf_counter()
        took, self._tick = now - self._tick, now
        done = epoch + 1
        speed = self.n_samples / took if took > 0 else float("inf")
        left = (now - self.start) / done * (self.epochs - done)
        fields = [("<epoch>", f"epoch {done}/{self.epochs}"),
                  *((k, f"{k} {v:.4g}" if k == "lr" else f"{k} {v:.4f}")
                    for k, v in logs.items()),
                  ("<speed>", f"{speed:,.0f} samples/s"), ("<took>", f"{took:.3f} s/epoch")]
        if self.redraw:
            filled = self.width * done // self.epochs
            bar = "=" * filled + (">" if filled < self.width else "") + " " * (
                self.width - filled - 1)
            fields = [("<bar>", f"[{bar[: self.width]}]"), *fields,
                      ("<eta>", f"ETA {left:.1f} s")]
            line = _fit(fields, self._limit())
            pad = max(0, self._last_len - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._last_len = len(line)
        else:
            self.stream.write(_fit(fields, self._limit()) + "\n")
        self.stream.flush()
        return None

    def on_train_end(self, model: Any) -> None:
        if self.redraw and self._last_len:
            total = time.perf_counter() - self.start
            done = f"  done in {total:.2f} s"
            limit = self._limit()
            if limit is not None and self._last_len + len(done) > limit:
                done = "\n" + done.lstrip()[:limit]  # on a line of its own, not wrapped
            self.stream.write(done + "\n")
            self.stream.flush()
