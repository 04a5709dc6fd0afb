"""A public gradient checker: backpropagation against central finite differences."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.losses import Loss


def check_gradients(model: Any, X: Any, y: Any, loss: Loss | str | None = None,
                    eps: float = 1e-6, max_elements: int | None = None,
                    seed: int = 0) -> dict[str, float]:
    """Compare a model's analytic gradients with central differences, in float64.

    The check runs on a float64 copy of ``model`` (same weights, same backend), so the
    model itself is not modified. For every parameter element checked,
    ``numeric = (L(w + eps) - L(w - eps)) / (2 eps)``.

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
    if not model.built:
        model._features(X, build=True)
    m64 = model.clone(dtype="float64")
    chosen = m64._loss(loss)
    Xc = m64._features(X)
    targets = chosen.targets(y, m64.n_outputs, m64.dtype)
    _, analytic = m64.gradients(Xc, targets, chosen)
    rng = np.random.default_rng(seed)
    scratch = np.empty((len(Xc), m64.n_outputs))

    def objective() -> float:
        return chosen(m64.ops, m64.forward(Xc)[0], targets, scratch)

    report: dict[str, float] = {}
    for i, layer in enumerate(m64.layers):
        for name, param, grad in (("W", layer.W, analytic[i][0]), ("b", layer.b, analytic[i][1])):
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
            report[f"layer{i}.{name}"] = float(np.abs(a - numeric).max(initial=0.0) / scale)
    return report
