"""Errors of the command line: one line on stderr, exit status 2 (usage) or 1 (the rest).

A command raises :class:`CLIError` (or :class:`UsageError` when the command line itself is
wrong); ``nncore.cli.main`` prints it as ``nncore COMMAND: error: ...`` and returns its
``status``. Any other exception becomes one line too, unless ``--debug`` asks for the
traceback. The argparse ``type=`` functions here make bad option values usage errors that
name the option (``argument --hidden: ...``), not the library's Python argument.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path


class CLIError(Exception):
    """An error the command line reports in one line; ``status`` is the exit status."""

    status = 1

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class UsageError(CLIError):
    """The command line is wrong (an option, an argument, a path): exit status 2."""

    status = 2


class TableError(CLIError, ValueError):
    """A data file that cannot be used, with the file and the reason.

    ``status`` 2 when the command line names the wrong thing (no such file, no such
    column), 1 when the file's content is the problem.
    """


#: The reprs NumPy 2 gives its scalars (np.str_('a'), np.float64(0.5)), which library
#: messages may carry; a user reads the value alone.
_NUMPY_REPR = re.compile(r"np\.(?:str_|bytes_|bool_?|u?int\d*|float\d*|complex\d*)\(([^()]*)\)")


def one_line(exc: BaseException) -> str:
    """``exc`` as one line of text for a user, NumPy scalar reprs removed."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
        if not isinstance(exc, (CLIError, ValueError, TypeError, OSError, ImportError)):
            text = f"{type(exc).__name__}: {text} (--debug shows the traceback)"
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return _NUMPY_REPR.sub(r"\1", text)


def check_writable(path: str | os.PathLike[str], option: str) -> None:
    """:class:`UsageError` unless ``path`` can be created: checked before any work."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    folder = p.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot write into the directory {folder}")


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type``: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def fraction(text: str) -> float:
    """An argparse ``type``: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def layer_widths(text: str) -> list[int]:
    """An argparse ``type``: comma-separated widths >= 1 (``''``: no hidden layer)."""
    parts = [t.strip() for t in text.split(",") if t.strip()]
    if not all(t.isdigit() and int(t) >= 1 for t in parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths >= 1 such as 64,32 ('' for no hidden "
            f"layer), got {text!r}")
    return [int(t) for t in parts]


def batch_size(text: str) -> int | str:
    """An argparse ``type``: an integer >= 1 or ``full``."""
    if text == "full":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'full', got {text!r}")
    return int(text)
