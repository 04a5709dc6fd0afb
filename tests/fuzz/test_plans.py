"""Parity of the plan methods, ``mlp_forward``, ``train_epoch`` and ``loss_gradient``.

Plans with 1..3 layers of width 1..12 on 0..64 rows (up to six steps of 1..64 rows for
``train_epoch``), SGD or Adam, every loss, dropout on some hidden layers (both
backends must drop the same elements: a zero stays a zero). The tolerance is the error
bound ``BoundOps`` (bounds.py) carries through the reference's own run.
``loss_gradient`` is drawn as one run of rows (the gradient a training step computes);
its sum over several runs is checked against the op-by-op oracle in
tests/test_training_loop.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import nncore
from nncore.backends._codes import LOSSES
from nncore.backends.plan import NetPlan, TrainPlan

from .bounds import BoundOps, check_bound
from .strategies import BETAS, DIM, DTYPES, _count, budget, net_specs, values
from .tolerances import A_ULP, NUMPY, U64, _same_bits


def _net(spec: dict[str, Any], w: np.ndarray) -> NetPlan:
    return NetPlan(spec["sizes"], spec["acts"], spec["slopes"], w, np.zeros_like(w))


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("mlp_forward")
@given(data=st.data())
def test_mlp_forward(dtype, data):
    spec = data.draw(net_specs(dtype), label="net")
    n = data.draw(DIM, label="n")
    X = data.draw(values(dtype, (n, spec["sizes"][0]), hi=spec["hi"]), label="X")
    k = spec["sizes"][-1]
    outs = {}
    bounds = BoundOps()
    for name, ops in (("numpy", NUMPY), ("cython", nncore.get_ops("cython")),
                      ("bounds", bounds)):
        w, x = spec["w"].copy(), X.copy()
        out = np.full((n, k), np.nan, dtype)
        with np.errstate(all="ignore"):
            ops.mlp_forward(_net(spec, w), x, out)
        assert _same_bits(w, spec["w"]) and _same_bits(x, X), f"{name} modified an input"
        outs[name] = out
    assert _same_bits(outs["bounds"], outs["numpy"]), "BoundOps no longer matches NumpyOps"
    check_bound("mlp_forward: out", outs["cython"], outs["numpy"], *bounds.err(outs["bounds"]))
    _count("mlp_forward", dtype)


@st.composite
def train_cases(draw: Any, dtype: Any) -> dict[str, Any]:
    spec = draw(net_specs(dtype))
    loss = draw(st.sampled_from(LOSSES), label="loss")
    k = spec["sizes"][-1]
    batch = draw(st.integers(1, 64), label="batch_size")
    m = draw(st.integers(0, min(64, 6 * batch)), label="len(order)")  # at most 6 steps
    n = draw(st.integers(1 if m else 0, 64), label="n")
    order = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
                     if n else [], np.int64)
    X = draw(values(dtype, (n, spec["sizes"][0]), hi=spec["hi"], special_odds=8), label="X")
    if loss == "softmax_xent":
        targets = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)),
                           np.int64)
    elif loss == "sigmoid_bce":
        targets = draw(values(dtype, (n, k), lo=0.0, hi=1.0, specials=(math.nan,),
                              special_odds=8), label="targets")
    elif loss == "poisson":  # counts, rates: >= 0
        targets = draw(values(dtype, (n, k), lo=0.0, hi=spec["hi"],
                              specials=(math.nan, math.inf), special_odds=8), label="targets")
    else:
        targets = draw(values(dtype, (n, k), hi=spec["hi"], special_odds=8), label="targets")
    kind = draw(st.sampled_from(["sgd", "adam"]), label="optimizer")
    p = spec["w"].size
    hyper = {"lr": draw(st.one_of(st.sampled_from([0.0, 1e-3, 0.1]), st.floats(0, 1))),
             "weight_decay": draw(st.one_of(st.sampled_from([0.0, 0.01]), st.floats(0, 0.5)))}
    s1 = s2 = None
    if kind == "sgd":
        hyper["momentum"] = draw(st.one_of(st.sampled_from([0.0, 0.9]), st.floats(0, 0.99)))
        hyper["nesterov"] = float(hyper["momentum"] > 0 and draw(st.booleans()))
        if hyper["momentum"] > 0:
            s1 = draw(values(dtype, (p,), hi=1e3, special_odds=8), label="velocity")
    else:
        hyper["beta1"], hyper["beta2"] = draw(BETAS), draw(BETAS)
        hyper["eps"] = draw(st.sampled_from([1e-8, 1e-12, 1e-3]))
        hyper["decoupled"] = float(draw(st.booleans()))
        s1 = draw(values(dtype, (p,), hi=1e3, special_odds=8), label="m")
        s2 = draw(values(dtype, (p,), lo=0.0, hi=1e6, specials=(math.nan, math.inf),
                         special_odds=8), label="v")
    t = draw(st.integers(0, 1000), label="t")
    g = draw(values(dtype, (p,), hi=1e3, special_odds=8), label="g (initial)")
    # dropout on the hidden layers (none on the last, nor on softmax), key and step
    dropout = [0.0 if act == "softmax" else draw(st.sampled_from([0.0, 0.0, 0.3, 0.7]))
               for act in spec["acts"][:-1]] + [0.0]
    drop_at = (draw(st.integers(0, 2**64 - 1), label="dropout key"),
               draw(st.integers(0, 2**40), label="dropout step"))
    return dict(spec=spec, loss=loss, batch=batch, order=order, X=X, targets=targets,
                kind=kind, hyper=hyper, s1=s1, s2=s2, t=t, g=g, dropout=dropout,
                drop_at=drop_at)


def _plan(ops: nncore.Ops, case: dict[str, Any]) -> tuple[NetPlan, TrainPlan]:
    """A fresh plan over copies of the case's weights and gradient buffer."""
    spec = case["spec"]
    net = NetPlan(spec["sizes"], spec["acts"], spec["slopes"], spec["w"].copy(),
                  case["g"].copy())
    if isinstance(ops, BoundOps):
        ops.net = net
    plan = TrainPlan(net, case["batch"], case["loss"], case.get("dropout"))
    plan.set_dropout(*case.get("drop_at", (0, 0)))
    return net, plan


def _run_train(ops: nncore.Ops, case: dict[str, Any]) -> dict[str, Any]:
    net, plan = _plan(ops, case)
    s1, s2 = (None if case[s] is None else case[s].copy() for s in ("s1", "s2"))
    plan.configure(case["kind"], case["hyper"], s1, s2, case["t"])
    X, targets, order = case["X"].copy(), case["targets"].copy(), case["order"].copy()
    with np.errstate(all="ignore"):
        loss = ops.train_epoch(plan, X, targets, order)
    for name, x in (("X", X), ("targets", targets), ("order", order)):
        assert _same_bits(x, case[name]), f"{ops.name}: train_epoch modified IN '{name}'"
    return dict(loss=loss, w=net.w, g=net.g, s1=s1, s2=s2, counters=plan.counters.copy(),
                fused=plan.fused_sgd)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("train_epoch")
@given(data=st.data())
def test_train_epoch(dtype, data):
    case = data.draw(train_cases(dtype), label="case")
    ref = _run_train(NUMPY, case)
    got = _run_train(nncore.get_ops("cython"), case)
    bounds = BoundOps()
    bound_run = _run_train(bounds, case)
    for name in ("w", "g", "s1", "s2"):
        if ref[name] is not None:
            assert _same_bits(bound_run[name], ref[name]), "BoundOps no longer matches NumpyOps"
    np.testing.assert_array_equal(got["counters"], ref["counters"], err_msg="counters")
    assert isinstance(got["loss"], float) and isinstance(ref["loss"], float)
    m = max(case["order"].size, 1)
    steps = int(ref["counters"][1])
    e_loss = bounds.loss_err / m + (steps + A_ULP) * U64 * bounds.loss_mag / m
    check_bound("train_epoch: loss", got["loss"], ref["loss"], e_loss, bounds.loss_det)
    check_bound("train_epoch: w", got["w"], ref["w"], *bounds.err(bound_run["w"]))
    if ref["fused"]:  # plain SGD: the gradient buffer is not written
        assert _same_bits(got["g"], case["g"]) and _same_bits(ref["g"], case["g"])
    else:
        check_bound("train_epoch: g", got["g"], ref["g"], *bounds.err(bound_run["g"]))
    for name in ("s1", "s2"):
        if case[name] is not None:
            check_bound(f"train_epoch: {name}", got[name], ref[name],
                        *bounds.err(bound_run[name]))
    event(f"train_epoch: {case['kind']}, {case['loss']}")
    _count("train_epoch", dtype)


def _run_gradient(ops: nncore.Ops, case: dict[str, Any]) -> dict[str, Any]:
    net, plan = _plan(ops, case)
    X, targets, order = case["X"].copy(), case["targets"].copy(), case["order"].copy()
    with np.errstate(all="ignore"):
        loss = ops.loss_gradient(plan, X, targets, order)
    for name, x in (("X", X), ("targets", targets), ("order", order)):
        assert _same_bits(x, case[name]), f"{ops.name}: loss_gradient modified IN '{name}'"
    assert _same_bits(net.w, case["spec"]["w"]), f"{ops.name}: loss_gradient modified w"
    return dict(loss=loss, g=net.g)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@budget("loss_gradient")
@given(data=st.data())
def test_loss_gradient(dtype, data):
    case = data.draw(train_cases(dtype), label="case")
    case["batch"] = max(case["batch"], case["order"].size)  # one run of rows
    ref = _run_gradient(NUMPY, case)
    got = _run_gradient(nncore.get_ops("cython"), case)
    bounds = BoundOps()
    bound_run = _run_gradient(bounds, case)
    assert _same_bits(bound_run["g"], ref["g"]), "BoundOps no longer matches NumpyOps"
    assert isinstance(got["loss"], float) and isinstance(ref["loss"], float)
    m = max(case["order"].size, 1)
    e_loss = bounds.loss_err / m + (1 + A_ULP) * U64 * bounds.loss_mag / m
    check_bound("loss_gradient: loss", got["loss"], ref["loss"], e_loss, bounds.loss_det)
    check_bound("loss_gradient: g", got["g"], ref["g"], *bounds.err(bound_run["g"]))
    event(f"loss_gradient: {case['loss']}")
    _count("loss_gradient", dtype)
