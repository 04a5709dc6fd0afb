"""The small-GEMM path (``_gemv_body.h``): products of at most ``set_small_gemm`` bound
multiply-adds run in nncore's loops instead of BLAS. They must agree with BLAS (the path
above the bound) and with NumPy for every transpose, alpha and beta, both dtypes, odd
widths that leave vector tails and row blocks, and propagate NaN/inf the same way.
CI runs this file under every SIMD level.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import nncore

pytestmark = pytest.mark.cython
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
SHAPES = [(1, 1, 1), (2, 16, 32), (32, 16, 16), (32, 1, 16), (5, 7, 3), (9, 17, 33),
          (4, 40, 2), (33, 9, 1), (3, 64, 5)]


@pytest.fixture
def kernels():
    from nncore.backends import _kernels

    old = _kernels.set_small_gemm(10**9)  # every product of these tests takes the path
    yield _kernels
    _kernels.set_small_gemm(old)


def _operands(rng, m, n, k, ta, tb, dtype):
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return A, B


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
def test_small_path_matches_blas_and_numpy(kernels, m, n, k, ta, tb, dtype, rng):
    ops = nncore.get_ops("cython")
    A, B = _operands(rng, m, n, k, ta, tb, dtype)
    expected_ab = (A.T if ta else A) @ (B.T if tb else B)
    for alpha, beta in [(1.0, 0.0), (-0.3, 1.0), (2.0, 0.5)]:
        C0 = rng.standard_normal((m, n)).astype(dtype)
        small, blas = C0.copy(), C0.copy()
        ops.gemm(A, B, small, ta, tb, alpha, beta)
        old = kernels.set_small_gemm(0)
        try:
            ops.gemm(A, B, blas, ta, tb, alpha, beta)
        finally:
            kernels.set_small_gemm(old)
        np.testing.assert_allclose(small, blas, **TOL[dtype])
        np.testing.assert_allclose(small, alpha * expected_ab + beta * C0, **TOL[dtype])


def test_small_path_beta_zero_ignores_c_and_propagates_nan(kernels, dtype):
    ops = nncore.get_ops("cython")
    A = np.ones((4, 3), dtype)
    B = np.ones((3, 5), dtype)
    C = np.full((4, 5), np.nan, dtype)
    ops.gemm(A, B, C)  # beta == 0: the NaN already in C is not read
    assert np.array_equal(C, np.full((4, 5), 3, dtype))
    A[1, 2] = np.inf
    B[0, 3] = np.nan
    ops.gemm(A, B, C)
    assert np.isposinf(C[1, [0, 1, 2, 4]]).all()
    assert np.isnan(C[:, 3]).all()
    A[:] = 0
    B[:] = 1
    B[1, 1] = np.inf
    ops.gemm(A, B, C)  # 0 * inf: NaN, as BLAS's GEMM gives (zeros are not skipped)
    assert np.isnan(C[:, 1]).all() and (C[:, [0, 2, 3, 4]] == 0).all()


def test_training_a_small_network_agrees_with_blas(dtype, rng):
    """W2's network trained with the small path and with BLAS: the same within rounding."""
    from nncore.backends import _kernels

    X = rng.standard_normal((512, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    weights = []
    for bound in (10**9, 0):
        old = _kernels.set_small_gemm(bound)
        try:
            model = nncore.Sequential([nncore.Dense(16, "tanh"), nncore.Dense(16, "tanh"),
                                       nncore.Dense(1)], dtype=dtype,
                                      loss="binary_cross_entropy", seed=0)
            model.fit(X, y, epochs=3, batch_size=32, optimizer=nncore.SGD(lr=0.1, momentum=0.9),
                      verbose=0)
            weights.append(model.get_weights())
        finally:
            _kernels.set_small_gemm(old)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for (W1, b1), (W2, b2) in zip(*weights, strict=True):
        np.testing.assert_allclose(W1, W2, **tol)
        np.testing.assert_allclose(b1, b2, **tol)


def test_set_small_gemm_returns_previous(kernels):
    assert kernels.set_small_gemm(123) == 10**9
    assert kernels.set_small_gemm(-5) == 123
    assert kernels.set_small_gemm(10**9) == 0  # negative bounds clamp to 0 (always BLAS)
