"""The dense layer, ``Y = act(X @ W + b)``, and its backward pass.

``forward`` returns the output and a ``backprop`` closure (thinc's pattern: nothing is
cached on the layer between the two). All math goes through ``Ops``: one GEMM plus one
fused bias+activation pass forward; one fused activation-backward + bias-gradient pass,
the ``dW`` GEMM and the ``dX`` GEMM backward. ``W``, ``b`` and their gradients ``dW``,
``db`` are views into the model's flat buffers (see ``nncore.params``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nncore import _checks, activations
from nncore.ops import Ops

Backprop = Callable[[np.ndarray], "np.ndarray | None"]


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
        Gradients from the last backward pass, views into the gradient buffer.
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
        # Training buffers, keyed by batch size, reused from step to step.
        self._buffers: dict[int, dict[str, np.ndarray]] = {}

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
        self._buffers = {}

    def _buffer(self, n: int, name: str, width: int, dtype: np.dtype) -> np.ndarray:
        bufs = self._buffers.get(n)
        if bufs is None:
            if len(self._buffers) >= 4:  # a few batch sizes (full, last partial) at most
                self._buffers.clear()
            bufs = self._buffers[n] = {}
        buf = bufs.get(name)
        if buf is None or buf.dtype != dtype:
            buf = bufs[name] = np.empty((n, width), dtype)
        return buf

    def forward(self, ops: Ops, X: np.ndarray, train: bool = False,
                need_input_grad: bool = True) -> tuple[np.ndarray, Backprop | None]:
        """Compute ``Y = act(X @ W + b)``.

        Parameters
        ----------
        ops : Ops
            The backend.
        X : ndarray of shape (n, n_in)
            C-contiguous, the model's dtype.
        train : bool
            Also return the backward closure. Training reuses per-layer buffers; without
            it the output is a fresh array, so concurrent predictions are safe.
        need_input_grad : bool
            Whether ``backprop`` must return ``dX`` (the first layer needs not).

        Returns
        -------
        Y : ndarray of shape (n, units)
        backprop : callable or None
            ``backprop(dY) -> dX`` (or None): fills ``dW`` and ``db``, overwriting them.
        """
        assert self.W is not None and self.b is not None, "layer is not built"
        n = X.shape[0]
        Y = self._buffer(n, "Y", self.units, X.dtype) if train else np.empty(
            (n, self.units), X.dtype)
        ops.gemm(X, self.W, Y)
        ops.bias_act_forward(Y, self.b, self.activation, Y, self.negative_slope)
        if not train:
            return Y, None

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            assert self.W is not None and self.dW is not None and self.db is not None
            if self.activation == "identity":
                dZ = dY  # act' = 1: skip a copy, just sum for the bias
                ops.col_sum(dY, self.db)
            else:
                dZ = self._buffer(n, "dZ", self.units, X.dtype)
                ops.act_backward(dY, Y, self.activation, dZ, self.db, self.negative_slope)
            ops.gemm(X, dZ, self.dW, trans_a=True)  # overwrites: beta = 0
            if not need_input_grad:
                return None
            dX = self._buffer(n, "dX", X.shape[1], X.dtype)
            ops.gemm(dZ, self.W, dX, trans_b=True)
            return dX

        return Y, backprop
