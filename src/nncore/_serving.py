"""Serving paths of ``Sequential``: the one-row fast path and the BLAS thread scope.

One row (``RowPath``): a production script scoring rows one at a time pays the Python
layers on every call, so a row that needs no conversion (an ndarray of the model's dtype
and shape ``(1, n_features)``, C-contiguous, no preprocessing) goes straight to one native
call for the whole network (``_kernels.RowNet``: per layer a one-row product, bias and
activation, the loss's link folded into the last layer), which also checks the row for
NaN/inf. Anything else, or a non-finite row, takes the general path, which converts,
validates and raises the usual errors: the fast path changes speed, never behaviour.

Threads (``thread_scope``): ``n_threads`` sets the BLAS thread count for the span of a
call through the setter OpenBLAS exports, resolved once (``_kernels.BlasThreads``: under a
microsecond per scope, counted so that concurrent scopes restore the count the first one
found). Without the compiled extension, threadpoolctl does it (about a millisecond).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from nncore.backends import HAS_KERNELS
from nncore.backends.plan import NetPlan

_NULL = contextlib.nullcontext()
_SCOPES: dict[int, Any] = {}
#: threadpoolctl's controller and the BLAS thread count at its creation, made once
#: (installs without the compiled extension)
_CONTROLLER: list[tuple[Any, int]] = []


def _numpy_blas_module() -> str | None:
    """A compiled NumPy module that links NumPy's BLAS (its setter is found through it)."""
    import importlib

    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:  # NumPy 2, then 1.x
            return getattr(importlib.import_module(name), "__file__", None)
        except ImportError:
            continue
    return None


def thread_scope(n_threads: int | None) -> contextlib.AbstractContextManager[Any]:
    """A context in which the BLAS libraries (SciPy's, which the kernels call, and NumPy's,
    which the NumPy backend calls) run ``n_threads`` threads, at most as many as each had
    when first seen (more crashed an OpenBLAS); a no-op for None."""
    if n_threads is None:
        return _NULL
    scope = _SCOPES.get(n_threads)
    if scope is not None:
        return scope
    if HAS_KERNELS:
        from nncore.backends import _kernels

        module = _numpy_blas_module()
        if module is not None:
            _kernels.add_blas_library(module)
        if _kernels.blas_thread_libraries():
            scope = _SCOPES[n_threads] = _kernels.BlasThreads(n_threads)
            return scope
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        counts = [lib.num_threads for lib in controller.lib_controllers
                  if lib.user_api == "blas"]
        _CONTROLLER.append((controller, max(counts, default=1)))
    controller, cap = _CONTROLLER[0]
    # never above the count BLAS started with (as _blas_threads.h: OpenBLAS sizes its
    # buffers for it)
    return controller.limit(limits=min(n_threads, cap), user_api="blas")


def blas_thread_control() -> list[tuple[str, str, int]]:
    """``[(library, setter, threads now)]`` that ``n_threads`` sets (``nncore info``); empty
    when threadpoolctl does it instead."""
    if not HAS_KERNELS:
        return []
    from nncore.backends import _kernels

    thread_scope(1)  # resolves NumPy's library too
    return list(_kernels.blas_thread_libraries())


class RowPath:
    """The one-row fast path of one network (outputs, or a link folded in).

    Built by the model per ``NetPlan`` and dropped when the plan is; ``None`` from
    ``__call__`` means "take the general path".
    """

    __slots__ = ("_dtype", "_out", "_rows", "_shape")

    def __init__(self, ops: Any, net: NetPlan, dtype: np.dtype) -> None:
        self._rows = ops.row_net(net)
        self._shape = (1, int(net.sizes[0]))
        self._dtype = dtype
        self._out = (1, int(net.sizes[-1]))

    def __call__(self, X: Any) -> np.ndarray | None:
        if (self._rows is None or X.__class__ is not np.ndarray or X.shape != self._shape
                or X.dtype != self._dtype):
            return None
        out = np.empty(self._out, self._dtype)
        return out if self._rows.forward(X, out) else None


class RowPaths:
    """A model's networks per output link (its own last activation, or a loss's link
    folded in) and their one-row paths, made on first use and dropped with the model's
    plan (``Sequential._bind``)."""

    __slots__ = ("_dtype", "_nets", "_ops", "_paths")

    def __init__(self, ops: Any, net: NetPlan, dtype: np.dtype) -> None:
        self._ops, self._dtype = ops, dtype
        self._nets: dict[str | None, NetPlan] = {None: net}
        self._paths: dict[str | None, RowPath] = {}

    def net(self, link: str | None) -> NetPlan:
        """The network with its last activation replaced by ``link`` (None: as built)."""
        net = self._nets.get(link)
        if net is None:
            net = self._nets[link] = self._nets[None].with_output(link)  # type: ignore[arg-type]
        return net

    def run(self, X: Any, link: str | None) -> np.ndarray | None:
        """The output of ``net(link)`` for row ``X``, or None when ``X`` must take the
        general path."""
        path = self._paths.get(link)
        if path is None:
            path = self._paths[link] = RowPath(self._ops, self.net(link), self._dtype)
        return path(X)
