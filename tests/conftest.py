"""Shared fixtures: the ``ops`` backends, a seeded ``rng``, and the CI guard.

In CI (``NNCORE_REQUIRE_KERNELS=1``) a missing compiled extension fails the run
instead of quietly testing only the NumPy fallback. A pure-Python install deselects
the Cython cases with ``-m "not cython"``; they are never skipped. A test that runs past
``NNCORE_TEST_HANG_SECONDS`` (600) ends the run with every thread's traceback.

Hypothesis profiles. "default" is loaded unless asked otherwise: derandomized (the same
examples every run, so the README's test command gives the same result every time on a
given machine), no example database (a failure found while exploring is not replayed
behind your back), no deadline (machines are noisy). "explore" draws new random examples
each run, opt-in: ``HYPOTHESIS_PROFILE=explore python -m pytest tests/fuzz``, with
``--hypothesis-seed=N`` to make one exploration repeatable (CI runs a few fixed seeds).
``HYPOTHESIS_PROFILE=<name>`` (or ``--hypothesis-profile``) picks a profile; "ci" is kept
as another name of "default". tests/fuzz sizes its tests relative to
``max_examples`` (100 in all three).
"""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import settings

import nncore
from nncore.backends import HAS_KERNELS

for _name in ("default", "ci"):
    settings.register_profile(_name, derandomize=True, database=None, deadline=None,
                              max_examples=100, print_blob=True)
# derandomize=False said explicitly: a profile inherits the active settings, which registering
# "default" above has just made derandomized (and derandomize overrides --hypothesis-seed).
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=100,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "default")

BACKENDS = [pytest.param("numpy", id="numpy"), pytest.param("cython", id="cython",
                                                            marks=pytest.mark.cython)]
DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("NNCORE_REQUIRE_KERNELS") == "1" and not HAS_KERNELS:
        raise pytest.UsageError(
            "NNCORE_REQUIRE_KERNELS=1 but nncore.backends._kernels is not importable: "
            "the compiled extension is missing from this install"
        )


# A test (its fixtures included) that runs longer than this is hung, not slow (the slowest
# take seconds): the run dumps every thread's traceback and exits, a red CI in minutes
# rather than one that eats CI's whole time limit (a cluster test waiting on a lost worker,
# a deadlock).
HANG_SECONDS = float(os.environ.get("NNCORE_TEST_HANG_SECONDS", "600"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=_stderr_fd(item.config))
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _stderr_fd(config: pytest.Config) -> int:
    """The run's real stderr: pytest's faulthandler plugin keeps a copy of it (fd 2 itself
    goes to a capture file while a test runs, lost when the process exits)."""
    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key

        return int(config.stash[fault_handler_stderr_fd_key])
    except (ImportError, KeyError):  # another pytest, or run with -p no:faulthandler
        return sys.__stderr__.fileno()


@pytest.fixture(params=BACKENDS)
def ops(request: pytest.FixtureRequest) -> nncore.Ops:
    """Each backend in turn; the Cython one errors (never skips) when not compiled."""
    return nncore.get_ops(request.param)


@pytest.fixture(params=DTYPES)
def dtype(request: pytest.FixtureRequest) -> type:
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def numpy_ops() -> nncore.Ops:
    return nncore.get_ops("numpy")


@pytest.fixture
def cython_ops() -> nncore.Ops:
    return nncore.get_ops("cython")
