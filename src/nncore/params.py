"""One flat buffer for all parameters of a model, one for their gradients.

Every ``W`` and ``b`` of every layer is a view into ``ParamStore.w`` (and its gradient a
view into ``ParamStore.g``), weights first, biases after, so an optimizer step is a
single kernel call over one contiguous vector, and weight decay reaches the weights
(``w[:n_weights]``) and not the biases. Plain arrays make parameters easy to save, check
and average (as in jax's stax).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ParamStore:
    """Flat parameter and gradient buffers with per-layer ``(W, b)`` views.

    Parameters
    ----------
    shapes : sequence of (n_in, n_out)
        One weight-matrix shape per layer; each layer also gets a bias of ``n_out``.
    dtype : numpy dtype
        float32 or float64.
    """

    def __init__(self, shapes: Sequence[tuple[int, int]], dtype: np.dtype) -> None:
        self.shapes = [(int(a), int(b)) for a, b in shapes]
        self.dtype = np.dtype(dtype)
        self.n_weights = sum(a * b for a, b in self.shapes)
        self.size = self.n_weights + sum(b for _, b in self.shapes)
        self.w = np.zeros(self.size, self.dtype)
        self.g = np.zeros(self.size, self.dtype)

    def views(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Return ``[(W, b), ...]`` as views into ``flat`` (``self.w`` or ``self.g``)."""
        out = []
        w_at, b_at = 0, self.n_weights
        for n_in, n_out in self.shapes:
            W = flat[w_at : w_at + n_in * n_out].reshape(n_in, n_out)
            b = flat[b_at : b_at + n_out]
            out.append((W, b))
            w_at += n_in * n_out
            b_at += n_out
        return out
