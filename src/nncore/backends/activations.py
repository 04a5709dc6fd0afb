"""Activation functions: forward, and backward computed from the forward's OUTPUT.

This is the readable NumPy definition that ``NumpyOps`` uses; the Cython kernels
implement the same formulas. Every backward here needs only the layer output ``y``
(never the pre-activation), so a layer keeps one buffer per activation:

=============  ============================  ===================================
name           forward y = f(z)              dz from dy and y
=============  ============================  ===================================
identity       z                             dy
relu           max(z, 0)                     dy * (y > 0)
leaky_relu     z if z > 0 else a*z (a >= 0)  dy * (1 if y > 0 else a)
sigmoid        1 / (1 + exp(-z)), stable     dy * y * (1 - y)
tanh           tanh(z)                       dy * (1 - y^2)
softmax        exp(z - max) / sum, per row   y * (dy - sum(dy * y, per row))
=============  ============================  ===================================
"""

from __future__ import annotations

import numpy as np

from nncore.backends._codes import ACTIVATIONS

#: Valid activation names; their positions are the codes the Cython kernels use.
NAMES: tuple[str, ...] = ACTIVATIONS


def code(name: str) -> int:
    """Return the kernel code of activation ``name``; ``ValueError`` listing valid names."""
    try:
        return NAMES.index(name)
    except ValueError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(map(repr, NAMES))}"
        ) from None


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Sigmoid without overflow: exp is only taken of non-positive numbers."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e) / (1 + e)


def forward(name: str, z: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """Return ``f(z)`` for activation ``name`` (same dtype as ``z``)."""
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.where(z < 0, 0, z).astype(z.dtype, copy=False)
    if name == "leaky_relu":
        return np.where(z > 0, z, z.dtype.type(negative_slope) * z)
    if name == "sigmoid":
        return sigmoid(z).astype(z.dtype, copy=False)
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True)) if z.size else z.copy()
        return (e / e.sum(axis=1, keepdims=True, dtype=np.float64)).astype(z.dtype)
    code(name)
    raise AssertionError("unreachable")


def backward(name: str, dy: np.ndarray, y: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """Return ``dz = f'(z) * dy`` from the forward output ``y`` (same dtype as ``y``)."""
    one = y.dtype.type(1)
    if name == "identity":
        return dy.copy()
    if name == "relu":
        return dy * (y > 0)
    if name == "leaky_relu":
        return dy * np.where(y > 0, one, y.dtype.type(negative_slope))
    if name == "sigmoid":
        return dy * y * (one - y)
    if name == "tanh":
        return dy * (one - y * y)
    if name == "softmax":
        s = (dy * y).sum(axis=1, keepdims=True, dtype=np.float64)
        return (y * (dy - s)).astype(y.dtype)
    code(name)
    raise AssertionError("unreachable")
