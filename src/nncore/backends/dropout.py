"""Dropout masks from a counter-based generator, the same bits on both backends.

Whether element ``(row, column)`` of layer ``layer``'s output is dropped at training step
``step`` is a pure function of ``(key, step, layer, row, column)``: no generator state,
nothing stored, nothing allocated in the kernels, and the NumPy reference (here, in
vectorised uint64 arithmetic, which wraps as C's does) and the Cython kernels
(``_dropout.pxi``) draw the very same mask. The hash is splitmix64's finaliser
(Stafford's "mix 13"); per (key, step, layer) a stream base is mixed once, and element
``c = row * width + column`` of the batch is ``mix64(base + (c + 1) * GOLDEN)``: that
is splitmix64's output sequence for the state ``base``, so the elements of one step are
distinct outputs of a generator that passes BigCrush. An element is dropped when that
64-bit value is below ``threshold(rate) = floor(rate * 2**64)`` (an integer compare: the
kept fraction is ``1 - rate`` to within 2**-64).

``row`` is the row's position in the batch of the step (in ``Ops.loss_gradient``: its
position in ``order``), not the sample's index in the data, so a mask depends on the
key, the step count and the shape alone: both backends, any shuffling, the same mask.
``key`` is ``Sequential.dropout_seed`` (its ``seed``), ``step`` the model's count of
training steps (``Sequential.dropout_step``, ``TrainPlan.counters[2]``).
"""

from __future__ import annotations

import secrets

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
#: Activations whose backward pass needs no second look at the mask: where an element
#: was dropped, the stored output is 0 and their derivative there is 0 (ReLU: ``y > 0``
#: is false; sigmoid: ``y (1 - y)`` is 0), so the kernels skip recomputing it. The
#: others (identity, leaky ReLU, tanh) recompute the mask in backward and zero the
#: incoming gradient. Softmax cannot take dropout (its backward needs the dropped values).
MASKED_BY_OUTPUT = ("relu", "sigmoid")


def mix64(z: int) -> int:
    """splitmix64's finaliser on a Python int (taken modulo 2**64)."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def stream_base(key: int, step: int, layer: int) -> int:
    """The stream of one layer at one step: ``mix(mix(mix(key) + step G) + layer G)``."""
    return mix64(mix64(mix64(key) + step * GOLDEN) + layer * GOLDEN)


def threshold(rate: float) -> int:
    """``floor(rate * 2**64)``, exact for a double ``rate`` in [0, 1)."""
    return int(float(rate) * 2.0**64)


def keep_mask(base: int, row0: int, rows: int, width: int, thr: int) -> np.ndarray:
    """Boolean ``(rows, width)``: True where the element survives (rows ``row0 ..``)."""
    c = np.arange(row0 * width + 1, (row0 + rows) * width + 1, dtype=np.uint64)
    z = np.uint64(base) + c * np.uint64(GOLDEN)  # uint64 arrays wrap, as in C
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return (z >= np.uint64(thr)).reshape(rows, width)


def key_of(seed: object) -> int:
    """The dropout key of a model seeded with ``seed``: the seed itself (modulo 2**64)
    when it is an integer, else a random key (a model with ``seed=None`` is random)."""
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        return int(seed) & MASK64
    return secrets.randbits(64)
