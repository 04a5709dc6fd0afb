"""Every method, the plans' included, rejects a broken call as the NumPy backend does.

The rejection test (``test_rejects_bad_arguments``, per backend through the ``ops``
fixture, so it also runs on a pure-Python install) breaks one rule of a valid call -- a
mismatched shape, a mixed or non-float dtype, a non-contiguous or read-only array, the
wrong ndim, a list instead of an array, an output overlapping an input, an out-of-range
scalar, label or sample index -- and requires the NumPy backend's exception, same type
and same message, with every buffer (plan internals included) untouched.

tests/test_ops_validation.py lists chosen cases instead, each with the words its message
must contain (the argument at fault), which agreement with NumPy cannot check. Both are
kept: that file pins the messages; this test breaks rules at random in every method, the
plan methods too, where that list has none.
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

from .strategies import F32, F64, RAN, budget
from .tolerances import NUMPY, _same_bits

REJECT_METHODS = ("gemm", "bias_act_forward", "act_backward", "col_sum", "softmax_xent",
                  "sigmoid_bce", "poisson", "mse", "sgd_update", "adam_update", "mlp_forward",
                  "train_epoch", "loss_gradient")
#: Out-of-domain scalars per method; "p+1" is one more than the parameter count.
BAD_SCALARS: dict[str, list[tuple[str, Any]]] = {
    "gemm": [("alpha", math.nan), ("beta", math.inf), ("alpha", "x"), ("beta", None),
             ("alpha", 1j)],
    "bias_act_forward": [("activation", "gelu"), ("activation", 3),
                         ("negative_slope", -0.5), ("negative_slope", math.nan)],
    "act_backward": [("activation", "Tanh"), ("negative_slope", -1e-9)],
    "sgd_update": [("lr", -0.1), ("lr", math.inf), ("momentum", -0.5),
                   ("weight_decay", math.nan), ("nesterov", "without momentum"),
                   ("n_decay", -1), ("n_decay", "p+1"), ("n_decay", 1.0), ("n_decay", True)],
    "adam_update": [("lr", math.nan), ("beta1", 1.0), ("beta2", -0.1), ("beta1", 1.5),
                    ("eps", 0.0), ("eps", -1e-8), ("t", 0), ("t", 2.0), ("t", True),
                    ("weight_decay", -1.0), ("n_decay", "p+1")],
}


def _valid_call(method: str, dtype: Any, dims: list[int], flags: dict[str, Any],
                seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid call (every dimension >= 2) and what its arguments are.

    meta: "floats"/"ints" name the array arguments, "outs" the OUT/INOUT ones, "free"
    the (argument, axis) pairs no other argument has to agree with.
    """
    rng = np.random.default_rng(seed)
    a, b, c = dims

    def f(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(dtype)

    meta: dict[str, Any] = {"ints": (), "free": set()}
    if method == "gemm":
        ta, tb = flags["trans_a"], flags["trans_b"]
        kw = dict(A=f(*((b, a) if ta else (a, b))), B=f(*((c, b) if tb else (b, c))),
                  out=f(a, c), trans_a=ta, trans_b=tb, alpha=1.0, beta=0.5)
        meta.update(floats=("A", "B", "out"), outs=("out",))
    elif method == "bias_act_forward":
        kw = dict(Z=f(a, b), b=f(b), activation="tanh", out=f(a, b), negative_slope=0.1)
        meta.update(floats=("Z", "b", "out"), outs=("out",))
    elif method == "act_backward":
        kw = dict(dY=f(a, b), Y=f(a, b), activation="relu", dZ=f(a, b), db=f(b),
                  negative_slope=0.1)
        meta.update(floats=("dY", "Y", "dZ", "db"), outs=("dZ", "db"))
    elif method == "col_sum":
        kw = dict(X=f(a, b), out=f(b))
        meta.update(floats=("X", "out"), outs=("out",), free={("X", 0)})
    elif method == "softmax_xent":
        kw = dict(logits=f(a, b), labels=rng.integers(0, b, a), dlogits=f(a, b))
        meta.update(floats=("logits", "dlogits"), ints=("labels",), outs=("dlogits",))
    elif method in ("sigmoid_bce", "poisson", "mse"):
        names = ("pred", "y", "dpred") if method == "mse" else ("logits", "y", "dlogits")
        kw = dict(zip(names, (f(a, b), rng.random((a, b)).astype(dtype), f(a, b)), strict=True))
        meta.update(floats=names, outs=(names[2],))
    elif method == "sgd_update":
        p = a * b
        kw = dict(w=f(p), g=f(p), v=f(p), lr=0.1, momentum=0.9, nesterov=True,
                  weight_decay=0.01, n_decay=p // 2)
        meta.update(floats=("w", "g", "v"), outs=("w", "v"))
    elif method == "adam_update":
        p = a * b
        kw = dict(w=f(p), g=f(p), m=f(p), v=np.abs(f(p)), lr=0.01, beta1=0.9, beta2=0.999,
                  eps=1e-8, t=3, weight_decay=0.01, decoupled=flags["decoupled"],
                  n_decay=p // 2)
        meta.update(floats=("w", "g", "m", "v"), outs=("w", "m", "v"))
    else:
        sizes = [b, c, a]
        p = b * c + c * a + c + a
        net = NetPlan(sizes, ["tanh", "softmax"], [0.1, 0.1], f(p), f(p))
        if method == "mlp_forward":
            kw = dict(net=net, X=f(c, b), out=f(c, a))
            meta.update(floats=("X", "out"), outs=("out",))
        else:
            loss = flags["loss"]
            plan = TrainPlan(net, 2, loss)
            plan.configure("adam", {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
                           np.zeros(p, dtype), np.zeros(p, dtype), 0)
            n = c + 1
            xent = loss == "softmax_xent"
            targets = rng.integers(0, a, n) if xent else rng.random((n, a)).astype(dtype)
            kw = dict(plan=plan, X=f(n, b), targets=targets, order=rng.integers(0, n, 3))
            meta.update(floats=("X",) if xent else ("X", "targets"),
                        ints=("targets", "order") if xent else ("order",), outs=(),
                        free={("order", 0)})
    return kw, meta


def _mutate(kw: dict[str, Any], meta: dict[str, Any], kind: str, target: Any,
            extra: int) -> None:
    """Break one rule of the valid call ``kw`` (in place)."""
    if kind == "scalar":
        name, value = target
        if name == "nesterov":
            kw["momentum"], kw["nesterov"] = 0.0, True
        else:
            kw[name] = kw["w"].size + 1 if value == "p+1" else value
        return
    x = kw[target]
    if kind == "shape":
        axes = [ax for ax in range(x.ndim) if (target, ax) not in meta["free"]]
        ax = axes[extra % len(axes)]
        shape = list(x.shape)
        shape[ax] += 1 + extra // 7 % 2
        kw[target] = np.zeros(shape, x.dtype)
    elif kind == "ndim":
        kw[target] = x.reshape(1, -1) if x.ndim == 1 or extra % 2 else x.reshape(-1)
    elif kind == "mixed":
        kw[target] = x.astype(F64 if x.dtype == F32 else F32)
    elif kind == "dtype":
        if target in meta["ints"]:
            choices: list[Any] = [np.int32, np.float64, np.uint64]
        else:
            choices = [np.int64, np.int32, np.float16, np.complex128, np.bool_]
        kw[target] = x.astype(choices[extra % len(choices)])
    elif kind == "noncontig":
        kw[target] = np.repeat(x, 2, axis=-1)[..., ::2]
    elif kind == "list":
        kw[target] = x.tolist()
    elif kind == "range":
        y = x.copy()
        if target == "order":
            bound = kw["X"].shape[0]
        elif target == "labels":
            bound = kw["logits"].shape[1]
        else:
            bound = int(kw["plan"].net.sizes[-1])
        y[extra % y.size] = [-1, bound, 2**62][extra // 7 % 3]
        kw[target] = y
    elif kind == "readonly":
        y = x.copy()
        y.flags.writeable = False
        kw[target] = y
    elif kind == "alias":  # the output starts one element into a partner argument
        others = [name for name in meta["floats"] if name != target]
        partner = kw[others[extra % len(others)]]
        buf = np.concatenate([partner.ravel(), x.ravel()])
        kw[others[extra % len(others)]] = buf[: partner.size].reshape(partner.shape)
        kw[target] = buf[1 : 1 + x.size].reshape(x.shape)
    else:
        raise AssertionError(kind)


@st.composite
def bad_calls(draw: Any, method: str) -> dict[str, Any]:
    case = dict(method=method, dtype=draw(st.sampled_from([F32, F64])),
                dims=[draw(st.integers(2, 4)) for _ in range(3)],
                flags=dict(trans_a=draw(st.booleans()), trans_b=draw(st.booleans()),
                           decoupled=draw(st.booleans()),
                           loss=draw(st.sampled_from(LOSSES))),
                seed=draw(st.integers(0, 2**16)))
    _, meta = _valid_call(method, case["dtype"], case["dims"], case["flags"], case["seed"])
    options: list[tuple[str, Any]] = []
    for name in meta["floats"]:
        options += [(kind, name) for kind in ("shape", "ndim", "mixed", "dtype", "noncontig",
                                              "list")]
    for name in meta["ints"]:
        kinds = ["ndim", "dtype", "noncontig", "list", "range"]
        if (name, 0) not in meta["free"]:
            kinds.append("shape")
        options += [(kind, name) for kind in kinds]
    options += [(kind, name) for name in meta["outs"] for kind in ("readonly", "alias")]
    options += [("scalar", s) for s in BAD_SCALARS.get(method, [])]
    case["kind"], case["target"] = draw(st.sampled_from(options), label="mutation")
    case["extra"] = draw(st.integers(0, 10**6), label="mutation detail")
    return case


def _build_bad(case: dict[str, Any]) -> dict[str, Any]:
    kw, meta = _valid_call(case["method"], case["dtype"], case["dims"], case["flags"],
                           case["seed"])
    _mutate(kw, meta, case["kind"], case["target"], case["extra"])
    return kw


def _buffers(kw: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every array a call could write: the arguments' whole buffers, and plan internals."""
    out = {}
    for key, x in kw.items():
        if isinstance(x, np.ndarray):
            while isinstance(x.base, np.ndarray):
                x = x.base
            out[key] = x
        elif isinstance(x, NetPlan):
            out.update({f"{key}.w": x.w, f"{key}.g": x.g})
        elif isinstance(x, TrainPlan):
            out.update({f"{key}.{a}": getattr(x, a)
                        for a in ("work", "labels", "s1", "s2", "counters")})
            out.update({f"{key}.net.w": x.net.w, f"{key}.net.g": x.net.g})
    return out


def _raised(ops: nncore.Ops, method: str, kw: dict[str, Any]) -> Exception | None:
    try:
        with np.errstate(all="ignore"):
            getattr(ops, method)(**kw)
    except Exception as exc:  # compared with the reference's below
        return exc
    return None


@pytest.mark.parametrize("method", REJECT_METHODS)
@budget("reject")
@given(data=st.data())
def test_rejects_bad_arguments(ops, method, data):
    """One rule broken: the NumPy backend's exception, same type and message; no writes."""
    case = data.draw(bad_calls(method), label="case")
    kw_ref, kw_run, pristine = _build_bad(case), _build_bad(case), _build_bad(case)
    expected = _raised(NUMPY, method, kw_ref)
    assert isinstance(expected, (TypeError, ValueError)), f"numpy: {expected!r} for {case}"
    got = _raised(ops, method, kw_run)
    assert type(got) is type(expected) and str(got) == str(expected), (got, expected)
    clean = _buffers(pristine)
    for kw in (kw_ref, kw_run):
        for key, x in _buffers(kw).items():
            assert _same_bits(x, clean[key]), f"{method}: rejected call wrote '{key}'"
    event(f"{case['kind']}: {type(expected).__name__}")
    RAN[f"reject:{method}[{ops.name}]"] += 1
