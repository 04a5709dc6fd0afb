"""L-BFGS: full-batch quasi-Newton training through SciPy's L-BFGS-B.

Each evaluation SciPy asks for is ONE ``Ops.loss_gradient`` call over all the rows (the
forward pass, fused loss and backpropagation of a training step, run over the rows in
parts of ``GRADIENT_ROWS`` so memory stays bounded), plus the L2 term of the weights.
SciPy owns its float64 iterate and the gradients it keeps; per evaluation the iterate is
copied into the model's parameter buffer (cast to the model's dtype) and the gradient
out of it, and nothing else is allocated the size of the parameters. L-BFGS keeps no
state between two ``fit`` calls (each starts a new curvature history from the current
weights), so nothing of it goes into pickles or checkpoints beyond its settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nncore._model_data import score
from nncore.callbacks import Callback
from nncore.data import Features, resolve_batch_size
from nncore.losses import Loss
from nncore.optimizers import LBFGS
from nncore.training import GRADIENT_ROWS, DivergenceError, History, end_epoch, epoch_logs


class _Stop(Exception):
    """A callback asked to stop (raised through SciPy's iteration callback)."""


def check_fit(model: Any, hooks: list[Callback], batch_size: int | str | None,
              n_samples: int) -> None:
    """What ``Sequential.fit`` with ``LBFGS`` refuses: a mini-batch size, a learning-rate
    schedule, a model with dropout (``ValueError``)."""
    if batch_size is not None and resolve_batch_size(batch_size, n_samples) < n_samples:
        raise ValueError(f"argument 'batch_size': LBFGS trains on the full batch only "
                         f"(batch_size='full' or left out), got {batch_size} for "
                         f"{n_samples} samples")
    if any(getattr(cb, "sets_learning_rate", False) for cb in hooks):
        raise ValueError("LBFGS has no learning rate (a line search picks each step): "
                         "remove the learning-rate schedule from callbacks")
    if any(layer.dropout for layer in model.layers):
        raise ValueError("LBFGS needs the same objective at every evaluation, and dropout "
                         "draws new masks every step: train with SGD, Adam or AdamW, or "
                         "set the layers' dropout to 0")


def make_objective(model: Any, loss: Loss, X: Features, targets: np.ndarray,
                   weights: np.ndarray | None, decay: float
                   ) -> tuple[Callable[[np.ndarray], tuple[float, np.ndarray]], dict[str, Any]]:
    """The function SciPy minimises, ``x -> (objective, gradient)`` in float64, and the
    record of its last call (``x``, ``loss``: the mean loss alone, ``objective``,
    ``n_fun``: calls so far)."""
    params, ops = model.params, model.ops
    plan = model._train_plan(min(len(X), GRADIENT_ROWS), loss, training=False)
    order = np.arange(len(X), dtype=np.int64)
    nw = params.n_weights
    last: dict[str, Any] = {"x": None, "loss": math.nan, "objective": math.nan, "n_fun": 0}

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        # x is SciPy's own copy of the iterate, kept as is to recognise it afterwards
        np.copyto(params.w, x, casting="same_kind")
        value = ops.loss_gradient(plan, X, targets, order, weights)
        grad = params.g.astype(np.float64)  # SciPy keeps it: a copy in float64
        total = value
        if decay:
            w = x[:nw]
            total += 0.5 * decay * float(np.dot(w, w))
            grad[:nw] += decay * w
        last.update(x=x, loss=value, objective=total, n_fun=last["n_fun"] + 1)
        return total, grad

    return objective, last


def minimize(model: Any, opt: LBFGS, loss: Loss, X: Features, targets: np.ndarray,
             weights: np.ndarray | None, val: Any, iterations: int,
             hooks: list[Callback], metrics: tuple[str, ...]) -> History:
    """Run L-BFGS-B from the model's weights on converted data; the model ends with the
    last iterate (or the one a callback stopped at)."""
    from scipy.optimize import minimize as scipy_minimize

    params = model.params
    start = params.w.copy()  # put back if the weights stop being finite
    objective, last = make_objective(model, loss, X, targets, weights, opt.weight_decay)
    history = History()
    hooks = [*hooks, history]
    model.stop_training = False
    iteration = 0

    def scores(X_: Features, t_: np.ndarray, accuracy: bool,
               w_: np.ndarray | None) -> dict[str, float]:
        return score(model, X_, t_, loss, accuracy, w_)

    def after_iteration(xk: np.ndarray) -> None:
        nonlocal iteration
        if last["x"] is None or not np.array_equal(xk, last["x"]):
            objective(np.array(xk))  # not the last point evaluated (SciPy's choice): rare
        logs = epoch_logs(last["loss"], "accuracy" in metrics,
                          lambda: scores(X, targets, True, weights)["accuracy"], val, scores)
        iteration += 1
        if end_epoch(hooks, model, iteration - 1, logs):
            raise _Stop

    for cb in hooks:
        cb.on_train_begin(model)
    options = {"maxiter": iterations, "maxfun": opt.max_fun, "gtol": opt.tol,
               "maxcor": opt.history}
    try:
        result = scipy_minimize(objective, start.astype(np.float64), jac=True,
                                method="L-BFGS-B", callback=after_iteration, options=options)
    except _Stop:
        converged, message = False, "stopped by a callback"
    else:
        if last["x"] is None or not np.array_equal(result.x, last["x"]):
            objective(result.x)  # the model ends with SciPy's answer, its loss known
        converged, message = bool(result.status == 0), str(result.message)
    if not (math.isfinite(last["objective"]) and np.isfinite(params.w).all()):
        params.w[...] = start
        raise DivergenceError(
            f"L-BFGS diverged: the loss became {last['loss']} (or a weight overflowed). The "
            f"model keeps the weights it had before fit. Scale the inputs, or add "
            f"weight_decay.")
    opt._result = {"n_iter": iteration, "n_fun": last["n_fun"], "converged": converged,
                   "message": message, "objective": float(last["objective"])}
    for cb in hooks:
        cb.on_train_end(model)
    return history
