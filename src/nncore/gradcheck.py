"""A public gradient checker: backpropagation against central finite differences."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.data import as_features
from nncore.losses import Loss, get_loss


def check_gradients(model: Any, X: Any, y: Any, loss: Loss | str | None = None,
                    eps: float = 1e-6, max_elements: int | None = None,
                    seed: int = 0) -> dict[str, float]:
    """Compare a model's analytic gradients with central differences, in float64.

    The check runs on a float64 copy of ``model`` (same weights, same backend), so the
    model itself is not modified. The analytic gradients are ``Sequential.gradients``:
    the backpropagation that training runs, of the network as ``predict`` runs it (no
    dropout; ``Ops.loss_gradient`` with a dropout plan gives the masked network's). For
    every parameter element checked, ``numeric = (L(w + eps) - L(w - eps)) / (2 eps)``.

    Parameters
    ----------
    model : Sequential
        The model; it is built from ``X`` if it has no parameters yet.
    X, y : array-like
        A (small) batch of inputs and targets.
    loss : Loss or str, optional
        Default: the model's loss.
    eps : float
        Finite-difference step.
    max_elements : int, optional
        Check at most this many randomly chosen elements of each parameter array
        (all by default).
    seed : int
        Seed for that choice.

    Returns
    -------
    dict of str to float
        ``{"layer0.W": err, "layer0.b": err, ...}`` where ``err`` is the largest
        ``|analytic - numeric|`` divided by the largest ``|gradient|`` of that array
        (so elements with tiny gradients do not blow up the ratio). Values around
        1e-9 mean the gradients agree; above 1e-6 something is wrong.
    """
    Xc = as_features(X, np.dtype(np.float64))
    if not model.built:
        model.build(Xc.shape[1])
    m64 = model.clone(dtype="float64")
    if loss is None and m64.loss is None:
        raise ValueError("no loss: pass loss=... to check_gradients, or give the model one")
    chosen = m64.loss if loss is None else get_loss(loss)
    _, analytic = m64.gradients(Xc, y, chosen)
    targets = chosen.targets(y, m64.n_outputs, m64.dtype)
    rng = np.random.default_rng(seed)
    scratch = np.empty((len(Xc), m64.n_outputs))

    def objective() -> float:
        return chosen(m64.ops, m64.predict_outputs(Xc), targets, scratch)

    report: dict[str, float] = {}
    names = m64.params.layout.names()
    for (W, b), (dW, db), pair in zip(m64.params.views(m64.params.w), analytic, names,
                                      strict=True):
        for name, param, grad in ((pair[0], W, dW), (pair[1], b, db)):
            flat, gflat = param.reshape(-1), grad.reshape(-1)
            idx = np.arange(flat.size)
            if max_elements is not None and flat.size > max_elements:
                idx = rng.choice(flat.size, size=max_elements, replace=False)
            numeric = np.empty(idx.size)
            for j, k in enumerate(idx):
                keep = flat[k]
                flat[k] = keep + eps
                up = objective()
                flat[k] = keep - eps
                down = objective()
                flat[k] = keep
                numeric[j] = (up - down) / (2 * eps)
            a = gflat[idx]
            scale = max(np.abs(a).max(initial=0.0), np.abs(numeric).max(initial=0.0), 1e-12)
            report[name] = float(np.abs(a - numeric).max(initial=0.0) / scale)
    return report
