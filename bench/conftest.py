"""pytest configuration for the kernel benchmarks (``python -m pytest bench/``).

``bench/`` is outside the default ``testpaths``, so a plain ``python -m pytest`` never
collects it. Here: the report header and the saved machine info carry the versions and
the BLAS thread setup, and the ``ops`` fixture skips the Cython backend when the
compiled kernels are not installed.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.cases import available_backends, environment
from nncore import get_ops
from nncore.ops import Ops


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
        pytest.skip(f"backend {backend!r} is not available (nncore._kernels not compiled)")
    return get_ops(backend)
