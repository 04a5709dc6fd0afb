"""Every ``CythonOps`` method against the ``NumpyOps`` reference.

Both backends get identical copies of the arguments; the test compares the return
value AND every array afterwards (OUT and INOUT buffers, and inputs, which must be left
untouched by both), for float32 and float64 and for shapes with 0 and 1 in them.

tests/fuzz/test_kernels.py checks the same methods on drawn arguments. This grid stays:
it is certain to run every listed shape (each 0 and 1 edge, GEMM depths to 130, past the
fuzz suite's 64) with every activation and flag, in about a second, where draws are not;
the fuzz suite reaches the huge, subnormal and special values this grid never has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nncore
from nncore.backends.activations import NAMES

pytestmark = pytest.mark.cython

SHAPES = [(0, 5), (5, 0), (0, 0), (1, 1), (1, 7), (7, 1), (7, 13), (64, 33)]
SHAPE_IDS = [f"{n}x{d}" for n, d in SHAPES]
GEMM_SHAPES = [(0, 3, 4), (3, 0, 4), (3, 4, 0), (1, 1, 1), (1, 33, 17), (1, 0, 5),
               (7, 13, 5), (65, 33, 17), (2, 130, 3)]

Case = tuple[str, dict[str, Any]]


def _tol(dtype: type) -> dict[str, float]:
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}


def _compare(case_fn: Callable[[], Case], dtype: type) -> None:
    method, kwargs = case_fn()
    results = {}
    for backend in ("numpy", "cython"):
        args = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        ret = getattr(nncore.get_ops(backend), method)(**args)
        results[backend] = (ret, args)
    (ret_n, arrs_n), (ret_c, arrs_c) = results["numpy"], results["cython"]
    if ret_n is None:
        assert ret_c is None
    else:
        assert isinstance(ret_c, float) and isinstance(ret_n, float)
        np.testing.assert_allclose(ret_c, ret_n, **_tol(dtype))
    for name, x in arrs_n.items():
        if isinstance(x, np.ndarray):
            y = arrs_c[name]
            assert y.dtype == x.dtype and y.shape == x.shape
            np.testing.assert_allclose(y, x, **_tol(dtype), err_msg=f"{method}: array '{name}'")


@pytest.mark.parametrize("m,k,n", GEMM_SHAPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 2.0)])
def test_gemm(rng, dtype, m, k, n, trans_a, trans_b, alpha, beta):
    def case() -> Case:
        A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
        B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
        out = rng.standard_normal((m, n)).astype(dtype)
        return "gemm", dict(A=A, B=B, out=out, trans_a=trans_a, trans_b=trans_b,
                            alpha=alpha, beta=beta)

    _compare(case, dtype)


@pytest.mark.parametrize("m", [1, 2])  # m = 1 takes the GEMV path
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_beta_zero_ignores_nan_in_out(ops, dtype, m, trans_b):
    A = np.ones((m, 3), dtype)
    out = np.full((m, 2), np.nan, dtype)
    ops.gemm(A, np.ones((2, 3) if trans_b else (3, 2), dtype), out, trans_b=trans_b)
    np.testing.assert_array_equal(out, np.full((m, 2), 3, dtype))


@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", NAMES)
@pytest.mark.parametrize("in_place", [False, True])
def test_bias_act_forward(rng, dtype, n, d, activation, in_place):
    def case() -> Case:
        Z = (3 * rng.standard_normal((n, d))).astype(dtype)
        b = rng.standard_normal(d).astype(dtype)
        out = Z if in_place else np.full((n, d), np.nan, dtype)
        return "bias_act_forward", dict(Z=Z, b=b, activation=activation, out=out,
                                        negative_slope=0.1)

    _compare(case, dtype)


@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("activation", NAMES)
@pytest.mark.parametrize("with_db", [False, True])
def test_act_backward(rng, dtype, n, d, activation, with_db):
    def case() -> Case:
        Y = np.empty((n, d), dtype)
        nncore.get_ops("numpy").bias_act_forward(
            rng.standard_normal((n, d)).astype(dtype), np.zeros(d, dtype), activation, Y, 0.1)
        kwargs: dict[str, Any] = dict(
            dY=rng.standard_normal((n, d)).astype(dtype), Y=Y, activation=activation,
            dZ=np.full((n, d), np.nan, dtype), negative_slope=0.1)
        if with_db:
            kwargs["db"] = np.full(d, np.nan, dtype)
        return "act_backward", kwargs

    _compare(case, dtype)


@pytest.mark.parametrize("activation", ["identity", "relu", "leaky_relu", "sigmoid", "tanh"])
def test_elementwise_act_backward_is_bit_equal(rng, dtype, activation):
    """The element-wise activations' backward runs NumPy's expressions in the element type
    in both backends (no FMA contraction, no double rounding): the same bits."""
    Y = np.empty((37, 19), dtype)
    nncore.get_ops("numpy").bias_act_forward(rng.standard_normal((37, 19)).astype(dtype) * 3,
                                             np.zeros(19, dtype), activation, Y, 0.1)
    dY = rng.standard_normal((37, 19)).astype(dtype)
    out = {}
    for backend in ("numpy", "cython"):
        out[backend] = np.empty_like(dY)
        nncore.get_ops(backend).act_backward(dY, Y, activation, out[backend], negative_slope=0.1)
    np.testing.assert_array_equal(out["cython"], out["numpy"])


def test_act_backward_in_place(ops, rng, dtype):
    Y = rng.random((4, 3)).astype(dtype)
    dY = rng.standard_normal((4, 3)).astype(dtype)
    expected = dY * Y * (1 - Y)
    ops.act_backward(dY, Y, "sigmoid", dY)
    np.testing.assert_allclose(dY, expected, **_tol(dtype))


@pytest.mark.parametrize("n,d", SHAPES, ids=SHAPE_IDS)
def test_col_sum(rng, dtype, n, d):
    def case() -> Case:
        return "col_sum", dict(X=rng.standard_normal((n, d)).astype(dtype),
                               out=np.full(d, np.nan, dtype))

    _compare(case, dtype)


XENT_SHAPES = [s for s in SHAPES if s[1] > 0 or s[0] == 0]  # every row needs a valid class


@pytest.mark.parametrize("n,c", XENT_SHAPES, ids=[f"{n}x{c}" for n, c in XENT_SHAPES])
@pytest.mark.parametrize("in_place", [False, True])
def test_softmax_xent(rng, dtype, n, c, in_place):
    def case() -> Case:
        logits = (4 * rng.standard_normal((n, c))).astype(dtype)
        labels = rng.integers(0, max(c, 1), n).astype(np.int64)
        dlogits = logits if in_place else np.full((n, c), np.nan, dtype)
        return "softmax_xent", dict(logits=logits, labels=labels, dlogits=dlogits)

    _compare(case, dtype)


@pytest.mark.parametrize("method", ["sigmoid_bce", "poisson", "mse"])
@pytest.mark.parametrize("n,k", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("in_place", [False, True])
def test_regression_losses(rng, dtype, method, n, k, in_place):
    def case() -> Case:
        z = (4 * rng.standard_normal((n, k))).astype(dtype)
        y = (rng.random((n, k)) > 0.5).astype(dtype)
        if method == "poisson":  # counts, zeros included (0 log 0)
            y = rng.poisson(np.exp(z / 2)).astype(dtype)
        grad = z if in_place else np.full((n, k), np.nan, dtype)
        names = ("pred", "y", "dpred") if method == "mse" else ("logits", "y", "dlogits")
        return method, dict(zip(names, (z, y, grad), strict=True))

    _compare(case, dtype)


@pytest.mark.parametrize("p", [0, 1, 7, 1001])
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_sgd_update(rng, dtype, p, momentum, nesterov, weight_decay):
    def case() -> Case:
        return "sgd_update", dict(
            w=rng.standard_normal(p).astype(dtype), g=rng.standard_normal(p).astype(dtype),
            v=rng.standard_normal(p).astype(dtype), lr=0.05, momentum=momentum,
            nesterov=nesterov, weight_decay=weight_decay, n_decay=p // 2)

    _compare(case, dtype)


@pytest.mark.parametrize("p", [0, 1, 7, 1001])
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("t", [1, 50])
def test_adam_update(rng, dtype, p, decoupled, weight_decay, t):
    def case() -> Case:
        return "adam_update", dict(
            w=rng.standard_normal(p).astype(dtype), g=rng.standard_normal(p).astype(dtype),
            m=rng.standard_normal(p).astype(dtype), v=rng.random(p).astype(dtype),
            lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, t=t, weight_decay=weight_decay,
            decoupled=decoupled, n_decay=p - p // 3)

    _compare(case, dtype)
