"""Shared fixtures: the ``ops`` backends, a seeded ``rng``, and the CI guard.

In CI (``NNCORE_REQUIRE_KERNELS=1``) a missing compiled extension fails the run
instead of quietly testing only the NumPy fallback. A pure-Python install deselects
the Cython cases with ``-m "not cython"``; they are never skipped.

Hypothesis profiles: "ci" (derandomized, no deadline: CI machines are noisy) is loaded
when ``CI`` is set, "dev" (random, no deadline) otherwise; ``HYPOTHESIS_PROFILE=<name>``
(or ``--hypothesis-profile``) picks one explicitly. tests/test_fuzz.py sizes its tests
relative to ``max_examples`` (100 in both).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

import nncore
from nncore.backend import HAS_KERNELS

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100,
                          print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=100, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") else "dev"))

BACKENDS = [pytest.param("numpy", id="numpy"), pytest.param("cython", id="cython",
                                                            marks=pytest.mark.cython)]
DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("NNCORE_REQUIRE_KERNELS") == "1" and not HAS_KERNELS:
        raise pytest.UsageError(
            "NNCORE_REQUIRE_KERNELS=1 but nncore._kernels is not importable: "
            "the compiled extension is missing from this install"
        )


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
