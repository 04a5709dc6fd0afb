"""Sparse input: a CSR matrix as the whole-network kernels take it (``CsrRows``).

``fit``, ``predict``, ``evaluate`` and the estimators take ``scipy.sparse`` matrices and
arrays of any format; they are converted to CSR once per call (``csr_rows``) and never
densified as a whole. Training gathers each batch's rows into the plan's dense batch
buffer, so memory beyond the matrix stays O(batch x features); where the matrix is
sparse enough the first layer skips even that and multiplies the CSR rows with its
weights directly (``"product"``: ``nnz x width`` multiply-adds instead of
``rows x features x width``, and the weight gradient touches only the rows of ``W_0``
that the batch's columns hit). Prediction always takes the product.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

#: How the kernels read X (the codes of ``_sparse.pxi``).
MODES = ("dense", "gather", "product")

#: Training takes the sparse product for the first layer below this density (stored
#: values / (rows x features)), else gathers into the dense batch and runs the GEMMs.
#: Measured in bench/sparse.py (docs/design.md "Sparse input").
PRODUCT_BELOW = 0.1


class CsrRows:
    """A validated CSR matrix: ``data`` (float32/float64), ``indices`` int32 in
    ``[0, n_features)``, ``indptr`` int64 (``n + 1`` non-decreasing offsets from 0).

    Made by ``csr_rows`` (from any ``scipy.sparse`` input) or by slicing one; the kernels
    read it without bounds checks, so nothing else constructs it.

    Attributes
    ----------
    data, indices, indptr : ndarray
    shape : tuple of int
    """

    __slots__ = ("data", "indices", "indptr", "shape")
    ndim = 2

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                 n_features: int, _checked: bool = False) -> None:
        if not _checked:
            raise TypeError("CsrRows is made by nncore.backends.sparse.csr_rows")
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = (len(indptr) - 1, int(n_features))

    def __repr__(self) -> str:
        return (f"CsrRows(shape={self.shape}, nnz={self.nnz}, dtype={self.dtype}, "
                f"density={self.density:.3g})")

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1] - self.indptr[0])

    @property
    def density(self) -> float:
        cells = self.shape[0] * self.shape[1]
        return self.nnz / cells if cells else 0.0

    @property
    def train_mode(self) -> str:
        """``"product"`` or ``"gather"``: how a training epoch reads this matrix."""
        return "product" if self.density < PRODUCT_BELOW else "gather"

    def __getitem__(self, rows: slice) -> CsrRows:
        """Rows ``start:stop`` sharing this matrix's values (``indptr`` rebased)."""
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("CsrRows takes row slices only")
        start, stop, _ = rows.indices(self.shape[0])
        stop = max(start, stop)
        ptr = self.indptr[start:stop + 1]
        lo, hi = int(ptr[0]), int(ptr[-1])
        return CsrRows(self.data[lo:hi], self.indices[lo:hi], ptr - lo, self.shape[1],
                       _checked=True)

    def to_scipy(self) -> scipy.sparse.csr_matrix:
        """A ``scipy.sparse.csr_matrix`` over the same arrays (no copy)."""
        return scipy.sparse.csr_matrix((self.data, self.indices, self.indptr),
                                       shape=self.shape, copy=False)

    def toarray(self) -> np.ndarray:
        """The dense matrix (for tests and small inputs)."""
        out = np.zeros(self.shape, self.dtype)
        gather(self, np.arange(self.shape[0], dtype=np.int64), out)
        return out


def is_sparse(X: Any) -> bool:
    """True for ``scipy.sparse`` matrices and arrays and for ``CsrRows``."""
    return isinstance(X, CsrRows) or scipy.sparse.issparse(X)


def csr_rows(X: Any, dtype: np.dtype, name: str = "X", op: str = "") -> CsrRows:
    """``X`` (any ``scipy.sparse`` format, or ``CsrRows``) as a validated ``CsrRows``.

    One conversion per call: to CSR (CSC, COO, ... are converted once), values to
    ``dtype``, column indices to int32, row offsets to int64; arrays already of those
    kinds are used as they are. Raises ``ValueError`` for an empty matrix (unless ``op``
    names an ``Ops`` method: those take zero rows), out-of-range
    or inconsistent indices, and NaN or infinite values (naming row and column), and
    ``TypeError`` for values that are not numbers.
    """
    where = f"{op}: argument '{name}'" if op else f"argument '{name}'"
    if isinstance(X, CsrRows):
        if X.dtype == dtype:
            return X
        return CsrRows(_values(X.data, dtype, where), X.indices, X.indptr, X.shape[1],
                       _checked=True)
    if not scipy.sparse.issparse(X):
        raise TypeError(f"{where} must be a scipy.sparse matrix, got {type(X).__name__}")
    if len(X.shape) != 2:
        raise ValueError(f"{where} must be 2-D, got shape {X.shape}")
    n, d = X.shape
    # User data must have rows and columns; the Ops methods (``op`` given) take no rows,
    # as they do a dense (0, d) array, and check the width against the network.
    if n == 0 and not op:
        raise ValueError(f"{where} is empty: it has no samples (rows)")
    if d == 0 and not op:
        raise ValueError(f"{where} has no features (columns)")
    if X.format != "csr":
        X = X.tocsr()
    data = _values(np.asarray(X.data), dtype, where)
    indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
    nnz = int(indptr[-1]) if len(indptr) == n + 1 else -1
    if (len(indptr) != n + 1 or indptr[0] != 0 or nnz > len(data)
            or len(X.indices) < nnz or (n > 1 and np.any(np.diff(indptr) < 0))):
        raise ValueError(f"{where}: the CSR row offsets (indptr) are inconsistent")
    data = data[:nnz]
    if d >= 2**31:
        raise ValueError(f"{where} has {d} columns; at most 2**31 - 1 are supported")
    indices = np.asarray(X.indices[:nnz])
    if nnz and (indices.min() < 0 or indices.max() >= d):
        raise ValueError(f"{where}: column indices must lie in [0, {d})")
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    bad = np.flatnonzero(~np.isfinite(data))
    if bad.size:
        row = int(np.searchsorted(indptr, bad[0], side="right") - 1)
        raise ValueError(f"{where} must be finite: {name}[{row}, {int(indices[bad[0]])}] "
                         f"is {data[bad[0]]}")
    return CsrRows(data, indices, indptr, d, _checked=True)


def _values(values: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{where} must hold numbers, got dtype {values.dtype}")
    with np.errstate(over="ignore"):  # overflow to inf is reported as non-finite
        return np.ascontiguousarray(values, dtype=dtype)


def gather(X: CsrRows, idx: np.ndarray, out: np.ndarray) -> None:
    """``out[r] = X[idx[r]]`` densely (repeated column entries add up, in stored order)."""
    out[...] = 0
    starts = X.indptr[idx]
    counts = X.indptr[idx + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return
    # positions of every stored value of the chosen rows, row after row
    first = np.cumsum(counts) - counts
    pos = np.repeat(starts - first, counts) + np.arange(total)
    rows = np.repeat(np.arange(len(idx)), counts)
    np.add.at(out, (rows, X.indices[pos]), X.data[pos])


def product(X: CsrRows, W: np.ndarray, out: np.ndarray) -> None:
    """``out = X @ W`` through scipy's sparse x dense product."""
    out[...] = X.to_scipy() @ W
