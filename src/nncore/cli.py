"""The ``nncore`` command line: ``nncore info``."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence


def info_text() -> str:
    """Return what ``nncore info`` prints: versions, backend, BLAS and threads."""
    import numpy as np
    import scipy
    from threadpoolctl import threadpool_info

    import nncore
    from nncore.backend import _IMPORT_ERROR, HAS_KERNELS, get_ops

    try:
        backend = get_ops().name
    except (ImportError, ValueError) as exc:
        backend = f"unavailable ({exc})"
    lines = [
        f"nncore {nncore.__version__}",
        f"python {platform.python_version()} ({platform.machine()}, {os.cpu_count()} CPUs)",
        f"numpy {np.__version__}, scipy {scipy.__version__}",
        f"compiled kernels: {'yes' if HAS_KERNELS else 'no (' + _IMPORT_ERROR + ')'}",
        f"backend: {backend} (NNCORE_BACKEND={os.environ.get('NNCORE_BACKEND', '')!r})",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r}",
        "thread pools:",
    ]
    # Importing scipy.linalg loads the BLAS that the kernels call through cython_blas.
    import scipy.linalg

    for pool in threadpool_info():
        lines.append(
            f"  {pool.get('internal_api')} {pool.get('version')} "
            f"threads={pool.get('num_threads')} arch={pool.get('architecture')} "
            f"({os.path.basename(str(pool.get('filepath')))})"
        )
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    print(info_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``nncore`` command."""
    parser = argparse.ArgumentParser(
        prog="nncore", description="Fast multilayer perceptrons on the CPU."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("info", help="print versions, backend, BLAS and thread counts")
    p.set_defaults(func=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nncore`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
