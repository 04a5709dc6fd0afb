"""An independent backpropagation, written op by op, to test the backends' one against.

nncore computes gradients in exactly one place: the plan methods of ``Ops``
(``train_epoch`` and ``loss_gradient``, one shared loop per backend). This module is the
oracle for it: each layer's forward returns its output and a closure that runs its
backward pass (thinc's pattern), every step one public per-operation ``Ops`` call, with
its own buffers. It lives in the tests because nothing in the package needs a second
backpropagation; here, it is the reason a bug in the fused one cannot hide.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nncore import Sequential
from nncore.backends.ops import Ops
from nncore.losses import Loss
from nncore.optimizers import Optimizer

Backprop = Callable[[np.ndarray], "np.ndarray | None"]


def dense_forward(ops: Ops, X: np.ndarray, W: np.ndarray, b: np.ndarray, dW: np.ndarray,
                  db: np.ndarray, activation: str, slope: float,
                  need_input_grad: bool) -> tuple[np.ndarray, Backprop]:
    """``Y = act(X W + b)`` and ``backprop(dY) -> dX`` that fills ``dW``, ``db``."""
    Y = np.empty((X.shape[0], W.shape[1]), X.dtype)
    ops.gemm(X, W, Y)
    ops.bias_act_forward(Y, b, activation, Y, slope)

    def backprop(dY: np.ndarray) -> np.ndarray | None:
        dZ = np.empty_like(dY)
        ops.act_backward(dY, Y, activation, dZ, db, slope)
        ops.gemm(X, dZ, dW, trans_a=True)
        if not need_input_grad:
            return None
        dX = np.empty_like(X)
        ops.gemm(dZ, W, dX, trans_b=True)
        return dX

    return Y, backprop


def gradients(model: Sequential, X: np.ndarray, targets: np.ndarray, loss: Loss) -> float:
    """Loss of a converted batch; its gradient left in ``model.params.g``."""
    assert model.params is not None
    params, grads = model.params.views(model.params.w), model.params.views(model.params.g)
    closures, Y = [], X
    for i, (layer, (W, b), (dW, db)) in enumerate(zip(model.layers, params, grads,
                                                      strict=True)):
        Y, bp = dense_forward(model.ops, Y, W, b, dW, db, layer.activation,
                              layer.negative_slope, need_input_grad=i > 0)
        closures.append(bp)
    dY = np.empty_like(Y)
    value = loss(model.ops, Y, targets, dY)
    grad: np.ndarray | None = dY
    for bp in reversed(closures):
        assert grad is not None
        grad = bp(grad)
    return value


def train_step(model: Sequential, X: np.ndarray, targets: np.ndarray, loss: Loss,
               optimizer: Optimizer) -> float:
    """One step of gradient descent, op by op (``Optimizer.step`` for the update)."""
    value = gradients(model, X, targets, loss)
    assert model.params is not None
    optimizer.step(model.ops, model.params)
    return value
