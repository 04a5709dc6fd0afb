"""Atomic file replacement: write a temporary file beside the target, then rename it.

The model file (``nncore._model_file.write``) and the ONNX export use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(target: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Let ``fill`` write a fresh temporary file beside ``target``, then rename it over.

    Parameters
    ----------
    target : pathlib.Path
        The file; replaced only once the new one is completely written and fsynced (an
        exception, or an interruption, leaves the old one and no temporary file).
    fill : callable
        Called with the open binary file.
    """
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never reuse an existing file; mode 0o666 lets the umask decide, as open() does.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, target.stat().st_mode & 0o7777)  # keep a replaced file's mode
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (POSIX only)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
