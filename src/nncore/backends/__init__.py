"""Choosing a backend: ``get_ops("auto" | "cython" | "numpy")``.

The compiled kernels are optional at run time (as msgpack does it): if
``nncore.backends._kernels`` imports, ``"auto"`` picks it; otherwise nncore runs on NumPy.
``NNCORE_BACKEND`` sets the default for ``get_ops()`` with no argument.

When the kernels are missing, importing nncore emits one ``KernelsMissingWarning`` saying how
to get them, unless the NumPy backend was chosen on purpose: installed with
``NNCORE_PUREPYTHON=1`` (recorded by setup.py in ``nncore._build_info``) or run with
``NNCORE_BACKEND=numpy``.
"""

from __future__ import annotations

import importlib
import os
import warnings

from nncore.backends.cython_ops import CythonOps
from nncore.backends.numpy_ops import NumpyOps
from nncore.backends.ops import Ops

BACKENDS = ("auto", "cython", "numpy")

try:
    # Not "from nncore import _kernels": when missing, that reports a "circular import".
    _kernels = importlib.import_module("nncore.backends._kernels")

    #: True when the compiled kernels imported (``get_ops("auto")`` then picks them),
    #: False on the NumPy backend alone.
    HAS_KERNELS = True
    _IMPORT_ERROR = ""
except ImportError as exc:  # pure-Python install, or a build that failed
    HAS_KERNELS = False
    _IMPORT_ERROR = str(exc)

# --no-cache-dir: pip would otherwise reuse the wheel it cached when it built without a compiler.
_HOW_TO_GET_KERNELS = (
    "install a C compiler and the Python headers (e.g. 'apt-get install gcc python3-dev'), "
    "then reinstall nncore from source without NNCORE_PUREPYTHON set: 'pip install "
    "--force-reinstall --no-deps --no-cache-dir --no-binary nncore nncore' (or 'pip install .' "
    "in a checkout)"
)


class KernelsMissingWarning(UserWarning):
    """The compiled kernels are not installed: nncore runs on its NumPy backend.

    Emitted once, when nncore is imported. Results are the same, training is slower.
    ``NNCORE_BACKEND=numpy`` (or installing with ``NNCORE_PUREPYTHON=1``) says the NumPy
    backend is intended and silences it.
    """


def _pure_python_requested() -> bool:
    """True if this copy was installed with ``NNCORE_PUREPYTHON=1`` (see setup.py)."""
    try:
        from nncore._build_info import PURE_PYTHON_REQUESTED
    except ImportError:  # a source checkout or an editable install: not recorded
        return False
    return bool(PURE_PYTHON_REQUESTED)


def _warn_if_kernels_missing() -> None:
    if HAS_KERNELS or _pure_python_requested():
        return
    if os.environ.get("NNCORE_BACKEND", "").strip().lower() == "numpy":
        return
    warnings.warn(
        f"nncore's compiled kernels are not installed (nncore.backends._kernels: "
        f"{_IMPORT_ERROR}), so "
        "nncore runs on its NumPy backend: the same results, slower. To get the kernels, "
        f"{_HOW_TO_GET_KERNELS}. Set NNCORE_BACKEND=numpy to silence this warning.",
        KernelsMissingWarning,
        stacklevel=2,
    )


_warn_if_kernels_missing()

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
            f"nncore.backends._kernels could not be imported ({_IMPORT_ERROR}). To get it, "
            f"{_HOW_TO_GET_KERNELS}; or use backend='numpy'."
        )
    ops = _INSTANCES.get(resolved)
    if ops is None:
        ops = _INSTANCES[resolved] = CythonOps() if resolved == "cython" else NumpyOps()
    return ops
