"""How many threads a training call of the Cython backend runs: ``train_threads``.

``Ops.train_epoch`` and ``Ops.loss_gradient`` on the Cython backend run as a team of
threads (``_team.h``): the calling thread and ``n - 1`` workers of nncore's own, created
for the call, each taking a share of every batch -- its rows for the forward pass, the
loss and the backward products, its rows of each weight matrix for the weight gradient
and the update -- with BLAS at one thread inside the call, so that nncore never runs more
threads than ``n``. Waiting threads spin for at most 10 microseconds, then sleep.

The budget ``n`` is what BLAS would use: the count it has now, which is its default (the
cores), ``OPENBLAS_NUM_THREADS``, a ``threadpoolctl`` limit, or a model's ``n_threads``
(``nncore._serving.thread_scope`` sets it for the span of ``fit``). A team pays a few
barriers per step and thread creation per call, so a network whose steps are too small
to share trains on one thread, as before (its products then too small for BLAS to
thread): the crossovers below were measured with ``bench/threads.py`` (docs/design.md,
"Training threads").

Results are bitwise repeatable for a given team size; between sizes they differ within
rounding (the bias gradient is summed per thread, and BLAS may take another kernel for a
smaller product), as results between OpenBLAS's own thread counts do.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

#: A step of fewer multiply-adds than this (batch rows x sum of n_in * n_out, forward
#: products only) runs on one thread.
PARALLEL_MIN_MACS = 1_000_000
#: Each thread gets at least this many rows of a batch.
MIN_ROWS_PER_THREAD = 16


def step_macs(sizes: Any, batch: int, X: Any = None) -> int:
    """Multiply-adds of one step's forward products; for a CSR ``X`` trained as a sparse
    product, the first layer counts its stored values per row instead of its width."""
    widths = [int(s) for s in sizes]
    first = widths[0]
    if getattr(X, "train_mode", None) == "product" and X.shape[0]:
        first = max(1, X.nnz // X.shape[0])
    macs = first * widths[1] + sum(a * b for a, b in pairwise(widths[1:]))
    return batch * macs


def train_threads(sizes: Any, batch: int, budget: int, X: Any = None) -> int:
    """The team size of one training call: 1, or up to ``budget`` threads when a step is
    large enough to share (``PARALLEL_MIN_MACS``, ``MIN_ROWS_PER_THREAD``).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first.
    batch : int
        Rows per step.
    budget : int
        Threads allowed (``_kernels.blas_threads()``; 0 when unknown, then 1).
    X : ndarray or CsrRows, optional
        The training data (a CSR matrix's density changes the first layer's cost).
    """
    if budget <= 1 or step_macs(sizes, batch, X) < PARALLEL_MIN_MACS:
        return 1
    return max(1, min(budget, batch // MIN_ROWS_PER_THREAD))
