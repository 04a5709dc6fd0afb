"""Choosing a backend: ``get_ops("auto" | "cython" | "numpy")``.

The compiled kernels are optional at run time (as msgpack does it): if
``nncore._kernels`` imports, ``"auto"`` picks it; otherwise nncore runs on NumPy.
``NNCORE_BACKEND`` sets the default for ``get_ops()`` with no argument.
"""

from __future__ import annotations

import os

from nncore.cython_ops import CythonOps
from nncore.numpy_ops import NumpyOps
from nncore.ops import Ops

BACKENDS = ("auto", "cython", "numpy")

try:
    from nncore import _kernels as _kernels

    HAS_KERNELS = True
    _IMPORT_ERROR = ""
except ImportError as exc:  # pure-Python install, or a build that failed
    HAS_KERNELS = False
    _IMPORT_ERROR = str(exc)

_INSTANCES: dict[str, Ops] = {}


def _resolve(name: str | None) -> str:
    if name is None:
        name = os.environ.get("NNCORE_BACKEND", "auto").strip().lower() or "auto"
        source = "environment variable NNCORE_BACKEND"
    else:
        source = "argument 'backend'"
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"{source} must be one of {', '.join(map(repr, BACKENDS))}, got {name!r}")
    if name == "auto":
        return "cython" if HAS_KERNELS else "numpy"
    return name


def get_ops(name: str | None = None) -> Ops:
    """Return the kernel backend called ``name``.

    Parameters
    ----------
    name : {"auto", "cython", "numpy"}, optional
        ``"auto"`` picks the compiled kernels when they are installed, NumPy otherwise.
        ``None`` (default) reads the ``NNCORE_BACKEND`` environment variable, and
        falls back to ``"auto"``.

    Returns
    -------
    Ops
        A shared, stateless backend object; its ``name`` is ``"cython"`` or ``"numpy"``.

    Raises
    ------
    ImportError
        ``"cython"`` was asked for but the extension is not compiled.
    ValueError
        Unknown backend name.
    """
    resolved = _resolve(name)
    if resolved == "cython" and not HAS_KERNELS:
        raise ImportError(
            "the nncore Cython backend is not available: the compiled module "
            f"nncore._kernels could not be imported ({_IMPORT_ERROR}). Reinstall nncore from "
            "source with a C compiler and without NNCORE_PUREPYTHON set, e.g. "
            "'pip install --force-reinstall --no-binary nncore nncore' (or 'pip install .' in "
            "a checkout), or use backend='numpy'."
        )
    ops = _INSTANCES.get(resolved)
    if ops is None:
        ops = _INSTANCES[resolved] = CythonOps() if resolved == "cython" else NumpyOps()
    return ops
