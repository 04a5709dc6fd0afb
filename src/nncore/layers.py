"""The dense layer, ``Y = act(X @ W + b)``: its configuration and its parameter views.

A ``Dense`` holds what defines it (width, activation, slope) and, once the model is
built, views ``W``, ``b`` into the model's flat parameter buffer and ``dW``, ``db`` into
its gradient buffer (``nncore.backends.plan.ParamLayout``). It computes nothing itself:
the forward and backward passes of every layer run in the backend, from the model's
plan (``Ops.mlp_forward``, ``Ops.train_epoch``, ``Ops.loss_gradient``), so there is one
backpropagation, not one per layer class.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    dropout : float
        Fraction in [0, 1) of this layer's outputs dropped at random in each training step
        (``fit``), the others scaled by ``1 / (1 - dropout)`` (inverted dropout), so the
        next layer sees the same mean; ``predict``, ``evaluate``, ``gradients`` and the
        exported ONNX graph never drop. Not on the last layer, nor on a softmax layer.
        ``Dense(64, "relu", dropout=0.5)`` is ``Dense(64, "relu"), Dropout(0.5)``.

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
                 negative_slope: float = 0.01, dropout: float = 0.0) -> None:
        self.units = _checks.count("", "units", units, 1)
        activations.code(activation)
        self.activation = activation
        self.negative_slope = _checks.number("", "negative_slope", negative_slope, low=0.0)
        self.dropout = _rate("dropout", dropout)
        if self.dropout and activation == "softmax":
            raise ValueError("argument 'dropout': a softmax layer takes no dropout")
        self.W: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def __repr__(self) -> str:
        slope = f", negative_slope={self.negative_slope}" if self.activation == "leaky_relu" else ""
        drop = f", dropout={self.dropout}" if self.dropout else ""
        return f"Dense({self.units}, activation={self.activation!r}{slope}{drop})"

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for saving and cloning."""
        return {"units": self.units, "activation": self.activation,
                "negative_slope": self.negative_slope, "dropout": self.dropout}

    @property
    def n_inputs(self) -> int | None:
        """Input width, known once the model is built."""
        return None if self.W is None else int(self.W.shape[0])

    def bind(self, W: np.ndarray, b: np.ndarray, dW: np.ndarray, db: np.ndarray) -> None:
        """Attach parameter and gradient views (called by the model when it builds)."""
        self.W, self.b, self.dW, self.db = W, b, dW, db


class Dropout:
    """Drop a fraction ``rate`` of the preceding ``Dense`` layer's outputs while training.

    In ``Sequential([..., Dense(64, "relu"), Dropout(0.5), ...])`` it sets that layer's
    ``dropout`` (see ``Dense``): ``Sequential.layers`` holds the ``Dense`` layers only.
    Each training step drops each output with probability ``rate`` and scales the kept
    ones by ``1 / (1 - rate)``; the mask comes from a counter-based generator keyed on
    the model's ``dropout_seed``, the training step, the layer, the row of the batch and
    the column (``nncore.backends.dropout``), the same on both backends. Prediction never
    drops.

    Parameters
    ----------
    rate : float
        In [0, 1).
    """

    def __init__(self, rate: float) -> None:
        self.rate = _rate("rate", rate)

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"


def _rate(name: str, value: Any) -> float:
    return _checks.number("", name, value, low=0.0, high=1.0, high_open=True)


def as_layers(layers: Any) -> list[Dense]:
    """Check ``Sequential(layers)``: a non-empty list of distinct ``Dense`` objects, each
    optionally followed by a ``Dropout`` (folded into that layer's ``dropout``)."""
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
    dense: list[Dense] = []
    for i, layer in enumerate(out):
        if isinstance(layer, Dropout):
            # (a Dense of the same rate: this list made a model before, and set it)
            if not dense or isinstance(out[i - 1], Dropout) or dense[-1].dropout not in (
                    0, layer.rate):
                raise ValueError(f"argument 'layers': layers[{i}] {layer!r} must follow a "
                                 "Dense layer without dropout (it drops that layer's outputs)")
        elif not isinstance(layer, Dense):
            raise TypeError(f"argument 'layers' must be a list of Dense layers, but "
                            f"layers[{i}] is {_checks.plain(layer)!r}")
        else:
            dense.append(layer)
    if len({id(layer) for layer in dense}) != len(dense):
        raise ValueError("argument 'layers' holds the same Dense object twice")
    if isinstance(out[-1], Dropout) or dense[-1].dropout:
        raise ValueError(f"argument 'layers': dropout after the last layer "
                         f"({out[-1]!r}) would drop the model's outputs; it goes between "
                         "Dense layers")
    for i, layer in enumerate(out[1:], 1):
        if isinstance(layer, Dropout):
            prev = out[i - 1]
            assert isinstance(prev, Dense)
            if prev.activation == "softmax" and layer.rate:
                raise ValueError(f"argument 'layers': layers[{i}] {layer!r} follows a "
                                 "softmax layer, which takes no dropout")
            prev.dropout = layer.rate  # the Dense layers belong to this model from here
    return dense


def mlp_layers(hidden: Sequence[int], activation: str, n_outputs: int,
               dropout: Any = 0.0) -> list[Dense]:
    """Hidden ``Dense`` layers of ``activation``, then an identity output layer of
    ``n_outputs``; ``dropout`` is one rate for every hidden layer, or one per hidden
    layer (the estimators' ``dropout``)."""
    rates = list(dropout) if np.iterable(dropout) else [dropout] * len(hidden)
    if len(rates) != len(hidden):
        raise ValueError(f"dropout must be a float or one rate per hidden layer "
                         f"({len(hidden)}), got {len(rates)} rates")
    return [*(Dense(h, activation, dropout=r) for h, r in zip(hidden, rates, strict=True)),
            Dense(n_outputs)]
