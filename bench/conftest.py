"""pytest configuration for the kernel benchmarks (``python -m pytest bench/``).

``bench/`` is outside the default ``testpaths``, so a plain ``python -m pytest`` never
collects it. Here:

* ``--blas-threads N`` (default ``DEFAULT_BLAS_THREADS``; 0 = leave as is) pins the
  BLAS threads for the session;
* malloc is put in its steady state (``steady_allocator``; ``--default-malloc`` skips);
* the report header and the saved machine info carry versions and BLAS/malloc setup;
* the ``ops`` fixture skips the Cython backend when the kernels are not compiled.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.cases import (
    DEFAULT_BLAS_THREADS,
    available_backends,
    environment,
    pin_blas_threads,
    steady_allocator,
)
from nncore import get_ops
from nncore.backends.ops import Ops

_LIMITS = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--blas-threads`` and ``--default-malloc``."""
    parser.addoption(
        "--blas-threads",
        type=int,
        default=DEFAULT_BLAS_THREADS,
        help=f"pin BLAS threads with threadpoolctl (default {DEFAULT_BLAS_THREADS}; 0: as is)",
    )
    parser.addoption(
        "--default-malloc",
        action="store_true",
        help="keep glibc's malloc thresholds (see bench.cases.steady_allocator)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Pin the BLAS threads and set malloc up for the session, before the header."""
    if not config.getoption("--default-malloc"):
        steady_allocator()
    config.stash[_LIMITS] = pin_blas_threads(config.getoption("--blas-threads"))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore the BLAS thread limits."""
    limits = config.stash.get(_LIMITS, None)
    if limits is not None:
        limits.restore_original_limits()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Print versions and BLAS threads above the results."""
    return ["nncore bench: " + line for line in environment()]


def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    """Store the same information in ``--benchmark-save`` / ``--benchmark-json`` output."""
    machine_info["nncore_environment"] = environment()


@pytest.fixture
def ops(backend: str) -> Ops:
    """The ``Ops`` backend named by the test's ``backend`` parameter (skipped if absent)."""
    if backend not in available_backends():
        pytest.skip(f"backend {backend!r} is not available (nncore.backends._kernels not compiled)")
    return get_ops(backend)
