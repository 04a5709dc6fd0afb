"""The dense layer, ``Y = act(X @ W + b)``: its configuration and its parameter views.

A ``Dense`` holds what defines it (width, activation, slope) and, once the model is
built, views ``W``, ``b`` into the model's flat parameter buffer and ``dW``, ``db`` into
its gradient buffer (``nncore.backends.plan.ParamLayout``). It computes nothing itself:
the forward and backward passes of every layer run in the backend, from the model's
plan (``Ops.mlp_forward``, ``Ops.train_epoch``, ``Ops.loss_gradient``), so there is one
backpropagation, not one per layer class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nncore.backends import _checks, activations


class Dense:
    """A fully connected layer of ``units`` neurons: ``act(X @ W + b)``.

    Parameters
    ----------
    units : int
        Number of neurons (outputs), >= 1.
    activation : str
        One of ``"identity"``, ``"relu"``, ``"leaky_relu"``, ``"sigmoid"``, ``"tanh"``,
        ``"softmax"``.
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs, >= 0.

    Attributes
    ----------
    W : ndarray of shape (n_in, units)
        Weights, a view into the model's parameter buffer (None until built).
    b : ndarray of shape (units,)
        Biases, likewise.
    dW, db : ndarray
        Gradients from the last ``Sequential.gradients`` call (or training step that
        writes them), views into the gradient buffer.
    """

    def __init__(self, units: int, activation: str = "identity",
                 negative_slope: float = 0.01) -> None:
        self.units = _checks.count("", "units", units, 1)
        activations.code(activation)
        self.activation = activation
        self.negative_slope = _checks.number("", "negative_slope", negative_slope, low=0.0)
        self.W: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def __repr__(self) -> str:
        slope = f", negative_slope={self.negative_slope}" if self.activation == "leaky_relu" else ""
        return f"Dense({self.units}, activation={self.activation!r}{slope})"

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for saving and cloning."""
        return {"units": self.units, "activation": self.activation,
                "negative_slope": self.negative_slope}

    @property
    def n_inputs(self) -> int | None:
        """Input width, known once the model is built."""
        return None if self.W is None else int(self.W.shape[0])

    def bind(self, W: np.ndarray, b: np.ndarray, dW: np.ndarray, db: np.ndarray) -> None:
        """Attach parameter and gradient views (called by the model when it builds)."""
        self.W, self.b, self.dW, self.db = W, b, dW, db


def as_layers(layers: Any) -> list[Dense]:
    """Check ``Sequential(layers)``: a non-empty list of distinct ``Dense`` objects."""
    if isinstance(layers, Dense):  # Sequential(Dense(3)): say how to write it
        raise TypeError(f"argument 'layers' must be a list of Dense layers, e.g. "
                        f"Sequential([{layers!r}]), got one Dense")
    out: list[Any] | None
    try:
        out = list(layers)
    except TypeError:
        out = None
    if not out:
        raise TypeError("argument 'layers' must be a non-empty list of Dense layers, e.g. "
                        f"Sequential([Dense(16, 'relu'), Dense(2)]), got "
                        f"{type(layers).__name__ if out is None else 'an empty one'}")
    for i, layer in enumerate(out):
        if not isinstance(layer, Dense):
            raise TypeError(f"argument 'layers' must be a list of Dense layers, but "
                            f"layers[{i}] is {_checks.plain(layer)!r}")
    if len({id(layer) for layer in out}) != len(out):
        raise ValueError("argument 'layers' holds the same Dense object twice")
    return out
