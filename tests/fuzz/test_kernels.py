"""Parity of the ten per-op kernels on drawn arguments, float32 and float64.

What is checked is in the package docstring, the tolerances in tolerances.py.
tests/test_parity.py checks the same methods on a fixed grid instead, in about a second:
every listed shape (each 0 and 1 edge, GEMM depths to 130, past this suite's 64), every
activation and flag, on ordinary values within one plain tolerance. Both are kept: the grid
is certain to run each of those cases, where draws are not; the draws reach the huge,
subnormal and special values the grid never has, which need the per-kernel tolerances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from nncore.backends.activations import NAMES
from nncore.backends.ops import adam_step_size

from .strategies import (
    BETAS,
    DECAYS,
    DIM,
    DTYPES,
    MOMENTA,
    P_DIM,
    RATES,
    SCALE_FACTORS,
    SLOPES,
    _count,
    budget,
    values,
)
from .tolerances import (
    NUMPY,
    _same_bits,
    check_all,
    run_both,
    tol_act_backward,
    tol_adam,
    tol_bias_act,
    tol_col_sum,
    tol_gemm,
    tol_mse,
    tol_poisson,
    tol_sgd,
    tol_sigmoid_bce,
    tol_softmax_xent,
)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("gemm")
@given(data=st.data())
def test_gemm(dtype, data):
    m, k, n = data.draw(DIM, label="m"), data.draw(DIM, label="k"), data.draw(DIM, label="n")
    ta, tb = data.draw(st.booleans(), label="trans_a"), data.draw(st.booleans(), label="trans_b")
    A = data.draw(values(dtype, (k, m) if ta else (m, k)), label="A")
    B = data.draw(values(dtype, (n, k) if tb else (k, n)), label="B")
    out = data.draw(values(dtype, (m, n)), label="out")
    alpha, beta = data.draw(SCALE_FACTORS, label="alpha"), data.draw(SCALE_FACTORS, label="beta")
    kw = dict(A=A, B=B, out=out, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta)
    res = run_both("gemm", kw, ins=("A", "B"))
    assert res is not None
    check_all("gemm", tol_gemm(A, B, out, ta, tb, alpha, beta, res[1]["out"]), res)
    _count("gemm", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("bias_act_forward")
@given(data=st.data())
def test_bias_act_forward(dtype, data):
    n, d = data.draw(DIM, label="n"), data.draw(DIM, label="d")
    act = data.draw(st.sampled_from(NAMES), label="activation")
    in_place = data.draw(st.booleans(), label="in_place")
    Z = data.draw(values(dtype, (n, d)), label="Z")
    b = data.draw(values(dtype, (d,)), label="b")
    slope = data.draw(SLOPES, label="negative_slope")
    out = Z if in_place else np.full((n, d), np.nan, dtype)
    kw = dict(Z=Z, b=b, activation=act, out=out, negative_slope=slope)
    res = run_both("bias_act_forward", kw, ins=("b",) if in_place else ("Z", "b"))
    assert res is not None
    check_all("bias_act_forward", tol_bias_act(Z, b, NAMES.index(act), slope, res[1]["out"]),
              res)
    _count("bias_act_forward", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("act_backward")
@given(data=st.data())
def test_act_backward(dtype, data):
    n, d = data.draw(DIM, label="n"), data.draw(DIM, label="d")
    act = data.draw(st.sampled_from(NAMES), label="activation")
    with_db, in_place = data.draw(st.booleans(), label="with_db"), data.draw(st.booleans())
    dY = data.draw(values(dtype, (n, d)), label="dY")
    # Y: a real activation output half the time, anything otherwise
    if data.draw(st.booleans(), label="Y from the forward pass"):
        Y = np.empty((n, d), dtype)
        with np.errstate(all="ignore"):
            NUMPY.bias_act_forward(data.draw(values(dtype, (n, d)), label="Z"),
                                   np.zeros(d, dtype), act, Y, 0.1)
    else:
        Y = data.draw(values(dtype, (n, d)), label="Y")
    slope = data.draw(SLOPES, label="negative_slope")
    dZ = dY if in_place else np.full((n, d), np.nan, dtype)
    kw = dict(dY=dY, Y=Y, activation=act, dZ=dZ, negative_slope=slope)
    if with_db:
        kw["db"] = np.full(d, np.nan, dtype)
    res = run_both("act_backward", kw, ins=("Y",) if in_place else ("dY", "Y"))
    assert res is not None
    tols = tol_act_backward(dY, Y, NAMES.index(act), slope, res[1]["dZ"],
                            res[1]["db"] if with_db else None)
    check_all("act_backward", tols, res)
    _count("act_backward", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("col_sum")
@given(data=st.data())
def test_col_sum(dtype, data):
    n, d = data.draw(DIM, label="n"), data.draw(DIM, label="d")
    X = data.draw(values(dtype, (n, d)), label="X")
    kw = dict(X=X, out=np.full(d, np.nan, dtype))
    res = run_both("col_sum", kw, ins=("X",))
    assert res is not None
    check_all("col_sum", tol_col_sum(X, res[1]["out"]), res)
    _count("col_sum", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("softmax_xent")
@given(data=st.data())
def test_softmax_xent(dtype, data):
    n, c = data.draw(DIM, label="n"), data.draw(DIM, label="C")
    logits = data.draw(values(dtype, (n, c)), label="logits")
    in_place = data.draw(st.booleans(), label="in_place")
    valid = st.integers(0, c - 1) if c else st.nothing()
    if c == 0 or data.draw(st.integers(0, 7), label="invalid labels?") == 0:
        label_st = st.one_of(valid, st.integers(-3, -1), st.integers(c, c + 3),
                             st.sampled_from([-(2**63), 2**63 - 1]))
    else:
        label_st = valid
    labels = np.array(data.draw(st.lists(label_st, min_size=n, max_size=n), label="labels"),
                      np.int64).reshape(n)
    dlogits = logits if in_place else np.full((n, c), np.nan, dtype)
    kw = dict(logits=logits, labels=labels, dlogits=dlogits)
    bad = bool(((labels < 0) | (labels >= c)).any())
    res = run_both("softmax_xent", kw, ins=("labels",) if in_place else ("logits", "labels"))
    if bad:
        assert res is None, "invalid labels were accepted"
        event("invalid labels: same ValueError")
    else:
        assert res is not None
        check_all("softmax_xent",
                  tol_softmax_xent(logits, labels, res[1]["dlogits"], res[0]), res)
    _count("softmax_xent", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("sigmoid_bce")
@given(data=st.data())
def test_sigmoid_bce(dtype, data):
    n, k = data.draw(DIM, label="n"), data.draw(DIM, label="k")
    logits = data.draw(values(dtype, (n, k)), label="logits")
    if data.draw(st.integers(0, 4), label="y outside [0, 1]?") == 0:
        y = data.draw(values(dtype, (n, k)), label="y")
    else:
        y = data.draw(values(dtype, (n, k), lo=0.0, hi=1.0, specials=(math.nan,),
                             special_odds=8), label="y")
    in_place = data.draw(st.booleans(), label="in_place")
    dl = logits if in_place else np.full((n, k), np.nan, dtype)
    kw = dict(logits=logits, y=y, dlogits=dl)
    res = run_both("sigmoid_bce", kw, ins=("y",) if in_place else ("logits", "y"))
    assert res is not None
    check_all("sigmoid_bce", tol_sigmoid_bce(logits, y, res[1]["dlogits"], res[0]), res)
    _count("sigmoid_bce", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("poisson")
@given(data=st.data())
def test_poisson(dtype, data):
    n, k = data.draw(DIM, label="n"), data.draw(DIM, label="k")
    # log-means: anything, or near exp's range (float64 overflows past 709.78)
    hi = data.draw(st.sampled_from([None, 30.0, 800.0]), label="logit range")
    logits = data.draw(values(dtype, (n, k), hi=hi), label="logits")
    if data.draw(st.integers(0, 4), label="negative y?") == 0:
        y = data.draw(values(dtype, (n, k)), label="y")
    elif data.draw(st.booleans(), label="counts?"):
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="counts seed"))
        lam = data.draw(st.sampled_from([0.1, 3.0, 1e3]), label="counts mean")
        y = rng.poisson(lam, (n, k)).astype(dtype)
    else:
        y = data.draw(values(dtype, (n, k), lo=0.0, specials=(math.nan, math.inf),
                             special_odds=8), label="y")
    in_place = data.draw(st.booleans(), label="in_place")
    dl = logits if in_place else np.full((n, k), np.nan, dtype)
    kw = dict(logits=logits, y=y, dlogits=dl)
    res = run_both("poisson", kw, ins=("y",) if in_place else ("logits", "y"))
    assert res is not None
    check_all("poisson", tol_poisson(logits, y, res[1]["dlogits"], res[0]), res)
    _count("poisson", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("mse")
@given(data=st.data())
def test_mse(dtype, data):
    n, k = data.draw(DIM, label="n"), data.draw(DIM, label="k")
    pred, y = data.draw(values(dtype, (n, k)), label="pred"), data.draw(values(dtype, (n, k)),
                                                                         label="y")
    in_place = data.draw(st.booleans(), label="in_place")
    dp = pred if in_place else np.full((n, k), np.nan, dtype)
    kw = dict(pred=pred, y=y, dpred=dp)
    res = run_both("mse", kw, ins=("y",) if in_place else ("pred", "y"))
    assert res is not None
    check_all("mse", tol_mse(pred, y, res[1]["dpred"], res[0]), res)
    _count("mse", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("sgd_update")
@given(data=st.data())
def test_sgd_update(dtype, data):
    p = data.draw(P_DIM, label="p")
    w, g, v = (data.draw(values(dtype, (p,)), label=name) for name in "wgv")
    lr, mu = data.draw(RATES, label="lr"), data.draw(MOMENTA, label="momentum")
    nesterov = mu > 0 and data.draw(st.booleans(), label="nesterov")
    wd = data.draw(DECAYS, label="weight_decay")
    n_decay = data.draw(st.one_of(st.none(), st.integers(0, p)), label="n_decay")
    kw = dict(w=w, g=g, v=v, lr=lr, momentum=mu, nesterov=nesterov, weight_decay=wd,
              n_decay=n_decay)
    res = run_both("sgd_update", kw, ins=("g",))
    assert res is not None
    nd = p if n_decay is None else n_decay
    args_n, args_c = res[1], res[3]
    if mu == 0:
        assert _same_bits(args_n["v"], v) and _same_bits(args_c["v"], v), "v was written"
    check_all("sgd_update", tol_sgd(w, g, v, lr, mu, nesterov, wd, nd, args_n["w"],
                                    args_n["v"]), res)
    _count("sgd_update", dtype)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("adam_update")
@given(data=st.data())
def test_adam_update(dtype, data):
    p = data.draw(P_DIM, label="p")
    w, g, m = (data.draw(values(dtype, (p,)), label=name) for name in "wgm")
    v = data.draw(values(dtype, (p,), lo=0.0, specials=(math.nan, math.inf)), label="v")
    lr = data.draw(RATES, label="lr")
    b1, b2 = data.draw(BETAS, label="beta1"), data.draw(BETAS, label="beta2")
    eps = data.draw(st.one_of(st.sampled_from([1e-8, 1e-12, 1e-3]), st.floats(1e-30, 1)),
                    label="eps")
    t = data.draw(st.one_of(st.sampled_from([1, 2, 10]), st.integers(1, 10**6)), label="t")
    wd = data.draw(DECAYS, label="weight_decay")
    decoupled = data.draw(st.booleans(), label="decoupled")
    n_decay = data.draw(st.one_of(st.none(), st.integers(0, p)), label="n_decay")
    kw = dict(w=w, g=g, m=m, v=v, lr=lr, beta1=b1, beta2=b2, eps=eps, t=t, weight_decay=wd,
              decoupled=decoupled, n_decay=n_decay)
    res = run_both("adam_update", kw, ins=("g",))
    assert res is not None
    lr_t, eps_t = adam_step_size(lr, b1, b2, eps, t)
    l2, decay = (0.0, lr * wd) if decoupled else (wd, 0.0)
    nd = p if n_decay is None else n_decay
    a = res[1]
    check_all("adam_update", tol_adam(w, g, m, v, lr_t, b1, b2, eps_t, l2, decay, nd, a["w"],
                                      a["m"], a["v"]), res)
    _count("adam_update", dtype)
