"""What the kernel benchmarks measure: one ``Case`` per ``Ops`` method variant.

A case knows which ``Ops`` method it calls and how to build that call's inputs for a
problem size ``(n, d)`` and a dtype. ``Case.bind`` returns a zero-argument callable with
every array (IN and OUT buffers alike) allocated up front, so the timed call allocates
nothing outside the kernel itself. Inputs come from a fixed seed: both backends get the
same data. This module is the single definition used by ``bench/test_kernels.py``
(pytest-benchmark), ``bench/kernel_table.py`` (Markdown table) and the smoke test
(``run_all_once``); it imports nothing from the rest of ``bench/`` so a test can load it
by path.

Shapes, for ``(n, d)``:

* ``gemm``: ``A (n, d) @ B (d, d)``; ``gemm.trans_a`` is the weight gradient
  ``X.T @ dZ`` (``(n, d)``, ``(n, d)`` -> ``(d, d)``); ``gemm.trans_b`` is the input
  gradient ``dZ @ W.T`` (``(n, d)``, ``(d, d)`` -> ``(n, d)``).
* activations and losses: ``(n, d)`` matrices (``d`` classes for ``softmax_xent``).
* optimizers: flat buffers of ``n * d`` elements, the last ``d`` of them biases (no decay).
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import threadpoolctl

from nncore import get_ops
from nncore.backends import HAS_KERNELS, activations
from nncore.backends.ops import Ops
from nncore.cli._environment import environment as nncore_environment
from nncore.cli._environment import format_environment

#: Benchmark sizes ``(n, d)`` by id; the id is what ``-k`` filters on.
SIZES: dict[str, tuple[int, int]] = {
    "32x16": (32, 16),
    "128x256": (128, 256),
    "1024x1024": (1024, 1024),
}
DTYPES: tuple[str, ...] = ("float32", "float64")
BACKENDS: tuple[str, ...] = ("numpy", "cython")

#: BLAS threads both harnesses pin by default (0 or None: leave them as they are). The
#: element-wise kernels are single-threaded in both backends, so one BLAS thread makes
#: the GEMM rows compare like with like, and keeps them reproducible: see ``settle``.
DEFAULT_BLAS_THREADS = 1

#: Seconds ``settle`` waits before a BLAS case when BLAS runs more than one thread.
#: NumPy and SciPy (whose BLAS the Cython GEMM calls) each bundle their own OpenBLAS;
#: after a call, its worker threads spin for about 0.1 s. Timing one library while the
#: other's threads still spin puts twice the threads on the cores (2-thread GEMM times
#: jumped 3-40x on a 2-core machine).
BLAS_SETTLE_S = 0.25

#: glibc ``mallopt`` parameters and the values ``steady_allocator`` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value
TRIM_THRESHOLD = 128 << 20
_allocator_state = "malloc: default"

#: Seed of every input; the same for both backends so they see the same data.
SEED = 12345

# (args, kwargs) of one Ops method call.
CallArgs = tuple[tuple[Any, ...], dict[str, Any]]
Builder = Callable[[np.random.Generator, int, int, np.dtype], CallArgs]


class Case(NamedTuple):
    """One benchmarked kernel variant: an ``Ops`` method and how to build its inputs.

    (A NamedTuple rather than a dataclass, so a test can exec this file by path without
    registering it in ``sys.modules``.)
    """

    name: str  #: id, e.g. ``"gemm.trans_a"`` or ``"act_backward.relu"``
    method: str  #: the ``Ops`` method called, e.g. ``"gemm"``
    build: Builder  #: ``(rng, n, d, dtype) -> (args, kwargs)``; allocates every buffer
    uses_blas: bool = False  #: calls BLAS (see ``settle``)

    def bind(self, ops: Ops, n: int, d: int, dtype: str | np.dtype) -> Callable[[], Any]:
        """Build fresh inputs for size ``(n, d)`` and return the call, ready to time."""
        rng = np.random.default_rng(SEED)
        args, kwargs = self.build(rng, n, d, np.dtype(dtype))
        return functools.partial(getattr(ops, self.method), *args, **kwargs)


# ---------------------------------------------------------------- input helpers
def _normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return rng.standard_normal(shape, dtype=dtype)


def _off_zero(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Normal values pushed at least 0.1 away from 0 (no ties at a ReLU kink)."""
    z = _normal(rng, shape, dtype)
    return (np.sign(z) * (np.abs(z) + dtype.type(0.1))).astype(dtype)


# ---------------------------------------------------------------- builders
def _gemm(trans_a: bool, trans_b: bool) -> Builder:
    def build(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
        A = _normal(rng, (n, d), dtype)
        if trans_a:  # dW = X.T @ dZ
            B, out = _normal(rng, (n, d), dtype), np.empty((d, d), dtype)
        else:  # Y = X @ W, or dX = dZ @ W.T
            B, out = _normal(rng, (d, d), dtype), np.empty((n, d), dtype)
        return (A, B, out), {"trans_a": trans_a, "trans_b": trans_b}

    return build


def _bias_act_forward(act: str) -> Builder:
    def build(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
        Z, b = _normal(rng, (n, d), dtype), _normal(rng, (d,), dtype)
        return (Z, b, act, np.empty((n, d), dtype)), {}

    return build


def _act_backward(act: str) -> Builder:
    def build(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
        # Y is a real forward output, of pre-activations away from 0 (ReLU kink).
        Y = np.ascontiguousarray(activations.forward(act, _off_zero(rng, (n, d), dtype)))
        dY = _normal(rng, (n, d), dtype)
        dZ, db = np.empty((n, d), dtype), np.empty((d,), dtype)
        return (dY, Y, act, dZ), {"db": db}

    return build


def _col_sum(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
    return (_normal(rng, (n, d), dtype), np.empty((d,), dtype)), {}


def _softmax_xent(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
    logits = _normal(rng, (n, d), dtype)
    labels = rng.integers(0, d, size=n, dtype=np.int64)
    return (logits, labels, np.empty((n, d), dtype)), {}


def _sigmoid_bce(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
    logits = _normal(rng, (n, d), dtype)
    y = rng.integers(0, 2, size=(n, d)).astype(dtype)
    return (logits, y, np.empty((n, d), dtype)), {}


def _poisson(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
    logits = _normal(rng, (n, d), dtype)
    y = rng.poisson(np.exp(logits.astype(np.float64))).astype(dtype)
    return (logits, y, np.empty((n, d), dtype)), {}


def _mse(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
    pred, y = _normal(rng, (n, d), dtype), _normal(rng, (n, d), dtype)
    return (pred, y, np.empty((n, d), dtype)), {}


def _sgd(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
    p = n * d
    w, g = _normal(rng, (p,), dtype), _normal(rng, (p,), dtype)
    v = (dtype.type(0.1) * _normal(rng, (p,), dtype)).astype(dtype)
    kwargs = {"lr": 1e-3, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4, "n_decay": p - d}
    return (w, g, v), kwargs


def _adam(decoupled: bool) -> Builder:
    def build(rng: np.random.Generator, n: int, d: int, dtype: np.dtype) -> CallArgs:
        p = n * d
        w, g = _normal(rng, (p,), dtype), _normal(rng, (p,), dtype)
        m = (dtype.type(0.1) * g).astype(dtype)
        v = (dtype.type(0.01) * g * g).astype(dtype)
        kwargs = {
            "lr": 1e-3,
            "t": 10,
            "weight_decay": 1e-2 if decoupled else 1e-4,
            "decoupled": decoupled,
            "n_decay": p - d,
        }
        return (w, g, m, v), kwargs

    return build


def _all_cases() -> tuple[Case, ...]:
    cases = [
        Case("gemm", "gemm", _gemm(False, False), uses_blas=True),
        Case("gemm.trans_a", "gemm", _gemm(True, False), uses_blas=True),
        Case("gemm.trans_b", "gemm", _gemm(False, True), uses_blas=True),
    ]
    cases += [
        Case(f"bias_act_forward.{a}", "bias_act_forward", _bias_act_forward(a))
        for a in activations.NAMES
    ]
    cases += [
        Case(f"act_backward.{a}", "act_backward", _act_backward(a)) for a in activations.NAMES
    ]
    cases += [
        Case("col_sum", "col_sum", _col_sum),
        Case("softmax_xent", "softmax_xent", _softmax_xent),
        Case("sigmoid_bce", "sigmoid_bce", _sigmoid_bce),
        Case("poisson", "poisson", _poisson),
        Case("mse", "mse", _mse),
        Case("sgd_update.nesterov", "sgd_update", _sgd),
        Case("adam_update", "adam_update", _adam(False)),
        Case("adam_update.decoupled", "adam_update", _adam(True)),
    ]
    return tuple(cases)


#: Every case, in table order.
CASES: tuple[Case, ...] = _all_cases()


# ---------------------------------------------------------------- helpers for harnesses
def parse_size(text: str) -> tuple[int, int]:
    """``"128x256"`` -> ``(128, 256)``."""
    try:
        n, d = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 128x256, got {text!r}") from None
    if n < 1 or d < 1:
        raise ValueError(f"size must be positive, got {text!r}")
    return n, d


def available_backends() -> tuple[str, ...]:
    """The backends importable here: both, or ``("numpy",)`` without the compiled kernels."""
    return BACKENDS if HAS_KERNELS else ("numpy",)


def select(cases: Iterable[Case], patterns: Sequence[str] = ()) -> list[Case]:
    """The cases whose name contains any of ``patterns`` (all of them if none given)."""
    return [c for c in cases if not patterns or any(p in c.name for p in patterns)]


def environment() -> list[str]:
    """The environment report of ``nncore info`` (``nncore.cli._environment``: versions, SIMD
    level, BLAS libraries and threads, env vars), one line each, then the malloc set-up."""
    return [*format_environment(nncore_environment()), _allocator_state]


def steady_allocator() -> str:
    """Keep NumPy's large temporaries in the malloc heap; returns a line for the report.

    glibc serves blocks above its mmap threshold (128 KiB at start, then the size of the
    largest block freed so far) with mmap and returns them with munmap, so each call
    that makes a temporary of the same size as one before page-faults all of it again:
    ``NumpyOps.gemm`` with ``trans_a`` in float64 at 128x256 took 640 us instead of 300
    (224 page faults per call), or not, depending on which cases ran before. Fixing the
    thresholds (``mallopt``) makes every case run in the allocator's steady state, so the
    times do not depend on the selection or order of cases. No-op without glibc.
    """
    global _allocator_state
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        _allocator_state = "malloc: unchanged (no mallopt)"
        return _allocator_state
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    _allocator_state = (
        f"malloc: mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold "
        f"{TRIM_THRESHOLD >> 20} MiB (mallopt)"
        if ok
        else "malloc: mallopt failed, thresholds may be partly unchanged"
    )
    return _allocator_state


def blas_threads() -> int:
    """The largest thread count of the BLAS libraries loaded in this process."""
    return max(
        (
            lib.get("num_threads", 1)
            for lib in threadpoolctl.threadpool_info()
            if lib.get("user_api") == "blas"
        ),
        default=1,
    )


def pin_blas_threads(threads: int | None) -> threadpoolctl.threadpool_limits | None:
    """Limit every BLAS library to ``threads`` (None or 0: no limit); returns the limiter.

    The limit holds until the returned object's ``restore_original_limits()`` is called.
    """
    if not threads:
        return None
    return threadpoolctl.threadpool_limits(limits=threads, user_api="blas")


def settle(case: Case) -> None:
    """Before timing ``case``: let the other BLAS library's spinning threads go to sleep."""
    if case.uses_blas and blas_threads() > 1:
        time.sleep(BLAS_SETTLE_S)


def run_all_once(
    size: tuple[int, int] = (4, 3),
    dtypes: Sequence[str] = DTYPES,
    backends: Sequence[str] | None = None,
) -> int:
    """Smoke test: build every case at ``size`` and call it once per dtype and backend.

    ``backends`` defaults to ``available_backends()``. Returns the number of calls made;
    any exception from building or calling a case propagates.
    """
    n, d = size
    count = 0
    for backend in available_backends() if backends is None else backends:
        ops = get_ops(backend)
        for dtype in dtypes:
            for case in CASES:
                case.bind(ops, n, d, dtype)()
                count += 1
    return count
