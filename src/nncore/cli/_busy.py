"""A busy neighbour: another process that keeps one core busy while a benchmark runs.

``nncore bench --busy-neighbour`` and ``bench/threads.py`` use it to show what training
costs on a shared machine (a CI runner, a laptop compiling, a second job): the neighbour
is a Python process spinning in a loop, started before the measurements and stopped
after them, with how much CPU it got reported beside the figures.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Neighbour:
    """What the neighbour did: its pid, wall seconds alive and CPU seconds used (None
    where /proc is not readable)."""

    pid: int = 0
    seconds: float = 0.0
    cpu_seconds: float | None = None

    def describe(self) -> str:
        if not self.pid:
            return "no busy neighbour"
        cpu = ("" if self.cpu_seconds is None else
               f", {self.cpu_seconds:.1f} CPU s ({self.cpu_seconds / self.seconds:.2f} cores)")
        return (f"busy neighbour: a CPU-bound process (pid {self.pid}) ran for "
                f"{self.seconds:.1f} s{cpu}")


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def busy_neighbour(enabled: bool = True) -> Iterator[Neighbour]:
    """Run a CPU-bound process for the span of the block (nothing if not ``enabled``).

    Yields a ``Neighbour`` that is filled in when the block ends.
    """
    info = Neighbour()
    if not enabled:
        yield info
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            stdin=subprocess.DEVNULL)
    start = time.perf_counter()
    time.sleep(0.3)  # running before the first measurement
    try:
        yield info
    finally:
        info.pid = proc.pid
        info.cpu_seconds = _cpu_seconds(proc.pid)
        info.seconds = time.perf_counter() - start
        proc.kill()
        proc.wait()
