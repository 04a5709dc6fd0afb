"""Bad arguments are rejected before any kernel runs, identically by both backends.

Each case names the argument at fault; the test checks the exception type, that the
message names the argument, that both backends raise the very same message, and that
no array was modified by the failed call.

tests/fuzz/test_rejection.py breaks rules at random in every method, the plan methods
too, and checks the same agreement with the NumPy backend. These cases stay: each pins
the words its message must contain, which agreement cannot check, and some break rules
the fuzz suite's mutations do not (a Fortran-ordered array, an output that is an input).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nncore

f32, f64 = np.float32, np.float64


def z(*shape: int, dtype: type = f64) -> np.ndarray:
    return np.zeros(shape, dtype)


def gemm_args(**over: Any) -> dict[str, Any]:
    return {"A": z(2, 3), "B": z(3, 4), "out": z(2, 4), **over}


def fwd_args(**over: Any) -> dict[str, Any]:
    return {"Z": z(2, 3), "b": z(3), "activation": "relu", "out": z(2, 3), **over}


def bwd_args(**over: Any) -> dict[str, Any]:
    return {"dY": z(2, 3), "Y": z(2, 3), "activation": "relu", "dZ": z(2, 3), "db": z(3),
            **over}


def xent_args(**over: Any) -> dict[str, Any]:
    return {"logits": z(2, 3), "labels": np.array([0, 2]), "dlogits": z(2, 3), **over}


def sgd_args(**over: Any) -> dict[str, Any]:
    return {"w": z(5), "g": z(5), "v": z(5), "lr": 0.1, **over}


def adam_args(**over: Any) -> dict[str, Any]:
    return {"w": z(5), "g": z(5), "m": z(5), "v": z(5), "lr": 0.1, **over}


fortran = np.asfortranarray(np.zeros((2, 3)))
readonly = z(2, 4)
readonly.flags.writeable = False

# (id, method, kwargs, exception, text the message must contain)
CASES: list[tuple[str, str, Callable[[], dict[str, Any]], type, str]] = [
    ("list-input", "gemm", lambda: gemm_args(A=[[0.0] * 3] * 2), TypeError, "'A'"),
    ("int-dtype", "gemm", lambda: gemm_args(B=np.zeros((3, 4), np.int64)), TypeError, "'B'"),
    ("float16", "gemm", lambda: gemm_args(A=z(2, 3, dtype=np.float16)), TypeError, "'A'"),
    ("mixed-dtype", "gemm", lambda: gemm_args(out=z(2, 4, dtype=f32)), TypeError, "'out'"),
    ("non-contiguous", "gemm", lambda: gemm_args(A=z(2, 6)[:, ::2]), ValueError, "'A'"),
    ("fortran", "bias_act_forward", lambda: fwd_args(Z=fortran), ValueError, "'Z'"),
    ("ndim", "gemm", lambda: gemm_args(A=z(6)), ValueError, "'A'"),
    ("inner-dim", "gemm", lambda: gemm_args(B=z(4, 4)), ValueError, "inner dimensions"),
    ("out-shape", "gemm", lambda: gemm_args(out=z(4, 2)), ValueError, "'out'"),
    ("trans-shape", "gemm", lambda: gemm_args(trans_a=True), ValueError, "inner dimensions"),
    ("out-aliases-A", "gemm",
     lambda: (lambda buf: gemm_args(A=buf[:6].reshape(2, 3), out=buf[4:12].reshape(2, 4)))(
         z(16)), ValueError, "overlaps input 'A'"),
    ("readonly-out", "gemm", lambda: gemm_args(out=readonly), ValueError, "'out'"),
    ("nan-alpha", "gemm", lambda: gemm_args(alpha=float("nan")), ValueError, "'alpha'"),
    ("none-beta", "gemm", lambda: gemm_args(beta=None), TypeError, "'beta'"),
    ("bias-shape", "bias_act_forward", lambda: fwd_args(b=z(4)), ValueError, "'b'"),
    ("bias-2d", "bias_act_forward", lambda: fwd_args(b=z(1, 3)), ValueError, "'b'"),
    ("unknown-act", "bias_act_forward", lambda: fwd_args(activation="gelu"), ValueError,
     "'leaky_relu'"),
    ("negative-slope", "bias_act_forward", lambda: fwd_args(negative_slope=-0.1), ValueError,
     "'negative_slope'"),
    ("partial-overlap", "bias_act_forward",
     lambda: (lambda buf: fwd_args(Z=buf[:2], out=buf[1:]))(z(3, 3)), ValueError, "overlaps"),
    ("dY-shape", "act_backward", lambda: bwd_args(dY=z(3, 2)), ValueError, "'dY'"),
    ("db-shape", "act_backward", lambda: bwd_args(db=z(2)), ValueError, "'db'"),
    ("dZ-is-Y", "act_backward", lambda: (lambda y: bwd_args(Y=y, dZ=y))(z(2, 3)), ValueError,
     "overlaps"),
    ("db-dtype", "act_backward", lambda: bwd_args(db=z(3, dtype=f32)), TypeError, "'db'"),
    ("col-sum-out", "col_sum", lambda: {"X": z(2, 3), "out": z(2)}, ValueError, "'out'"),
    ("label-dtype", "softmax_xent", lambda: xent_args(labels=np.array([0.0, 1.0])), TypeError,
     "'labels'"),
    ("label-count", "softmax_xent", lambda: xent_args(labels=np.array([0, 1, 2])), ValueError,
     "'labels'"),
    ("label-range", "softmax_xent", lambda: xent_args(labels=np.array([0, 3])), ValueError,
     "labels[1] = 3"),
    ("label-negative", "softmax_xent", lambda: xent_args(labels=np.array([-1, 0])), ValueError,
     "labels[0] = -1"),
    ("bce-shape", "sigmoid_bce", lambda: {"logits": z(2, 1), "y": z(2), "dlogits": z(2, 1)},
     ValueError, "'y'"),
    ("poisson-shape", "poisson", lambda: {"logits": z(2, 1), "y": z(1, 2),
                                          "dlogits": z(2, 1)}, ValueError, "'y'"),
    ("poisson-out-is-y", "poisson", lambda: (lambda y: {"logits": z(2, 2), "y": y,
                                                        "dlogits": y})(z(2, 2)),
     ValueError, "overlaps input 'y'"),
    ("poisson-dtype", "poisson", lambda: {"logits": z(2, 2), "y": z(2, 2, dtype=f32),
                                          "dlogits": z(2, 2)}, TypeError, "'y'"),
    ("mse-shape", "mse", lambda: {"pred": z(2, 1), "y": z(2, 2), "dpred": z(2, 1)},
     ValueError, "'y'"),
    ("sgd-2d", "sgd_update", lambda: sgd_args(w=z(5, 1)), ValueError, "'w'"),
    ("sgd-g-shape", "sgd_update", lambda: sgd_args(g=z(4)), ValueError, "'g'"),
    ("sgd-negative-lr", "sgd_update", lambda: sgd_args(lr=-1.0), ValueError, "'lr'"),
    ("sgd-nesterov", "sgd_update", lambda: sgd_args(nesterov=True), ValueError, "nesterov"),
    ("sgd-n-decay", "sgd_update", lambda: sgd_args(n_decay=6), ValueError, "'n_decay'"),
    ("sgd-n-decay-float", "sgd_update", lambda: sgd_args(n_decay=2.0), TypeError, "'n_decay'"),
    ("sgd-w-is-g", "sgd_update", lambda: (lambda w: sgd_args(w=w, g=w))(z(5)), ValueError,
     "overlaps"),
    ("adam-beta1", "adam_update", lambda: adam_args(beta1=1.0), ValueError, "'beta1'"),
    ("adam-eps-zero", "adam_update", lambda: adam_args(eps=0.0), ValueError, "'eps'"),
    ("adam-t", "adam_update", lambda: adam_args(t=0), ValueError, "'t'"),
    ("adam-m-dtype", "adam_update", lambda: adam_args(m=z(5, dtype=f32)), TypeError, "'m'"),
]


def _snapshot(kwargs: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray)}


@pytest.mark.parametrize("case_id,method,make,exc,text", CASES, ids=[c[0] for c in CASES])
def test_rejected_with_clear_error(ops, case_id, method, make, exc, text):
    kwargs = make()
    before = _snapshot(kwargs)
    with pytest.raises(exc) as info:
        getattr(ops, method)(**kwargs)
    assert text in str(info.value)
    assert str(info.value).startswith(f"{method}:") or "activation" in str(info.value)
    for name, x in before.items():
        np.testing.assert_array_equal(kwargs[name], x, err_msg=f"'{name}' changed")
    with pytest.raises(exc) as ref:  # the reference backend's exception, word for word
        getattr(nncore.get_ops("numpy"), method)(**make())
    assert (type(info.value), str(info.value)) == (type(ref.value), str(ref.value))
