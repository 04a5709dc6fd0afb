"""Optimizer kernels against values worked out by hand (PyTorch's update rules)."""

from __future__ import annotations

import math

import numpy as np
import pytest


def _tol(dtype: type) -> dict[str, float]:
    return {"rtol": 5e-6, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-12, "atol": 0}


def _state(dtype: type, n: int = 2) -> tuple[np.ndarray, ...]:
    w = np.array([1.0, -2.0], dtype)
    g = np.array([0.5, 0.25], dtype)
    return w, g, *(np.zeros(2, dtype) for _ in range(n))


def test_plain_sgd(ops, dtype):
    w, g, v = _state(dtype, 1)
    ops.sgd_update(w, g, v, lr=0.1)
    np.testing.assert_allclose(w, [0.95, -2.025], **_tol(dtype))
    np.testing.assert_array_equal(v, [0, 0])  # untouched without momentum


def test_sgd_momentum_two_steps(ops, dtype):
    w, g, v = _state(dtype, 1)
    ops.sgd_update(w, g, v, lr=0.1, momentum=0.9)
    # v = g = [0.5, 0.25]; w = w - 0.1 v
    np.testing.assert_allclose(v, [0.5, 0.25], **_tol(dtype))
    np.testing.assert_allclose(w, [0.95, -2.025], **_tol(dtype))
    ops.sgd_update(w, g, v, lr=0.1, momentum=0.9)
    # v = 0.9 * [0.5, 0.25] + g = [0.95, 0.475]; w = [0.95 - 0.095, -2.025 - 0.0475]
    np.testing.assert_allclose(v, [0.95, 0.475], **_tol(dtype))
    np.testing.assert_allclose(w, [0.855, -2.0725], **_tol(dtype))


def test_sgd_nesterov_two_steps(ops, dtype):
    w, g, v = _state(dtype, 1)
    ops.sgd_update(w, g, v, lr=0.1, momentum=0.9, nesterov=True)
    # v = [0.5, 0.25]; step = g + 0.9 v = [0.95, 0.475]
    np.testing.assert_allclose(w, [0.905, -2.0475], **_tol(dtype))
    ops.sgd_update(w, g, v, lr=0.1, momentum=0.9, nesterov=True)
    # v = [0.95, 0.475]; step = g + 0.9 v = [1.355, 0.6775]
    np.testing.assert_allclose(v, [0.95, 0.475], **_tol(dtype))
    np.testing.assert_allclose(w, [0.7695, -2.11525], **_tol(dtype))


def test_sgd_weight_decay_spares_biases(ops, dtype):
    w, g, v = _state(dtype, 1)
    ops.sgd_update(w, g, v, lr=0.1, weight_decay=0.1, n_decay=1)
    # w[0] is a weight: g' = 0.5 + 0.1 * 1.0 = 0.6; w[1] is a bias: g' = g
    np.testing.assert_allclose(w, [0.94, -2.025], **_tol(dtype))


def _adam_by_hand(w, grads, lr, b1=0.9, b2=0.999, eps=1e-8, l2=0.0, decoupled=0.0, n_decay=2):
    """PyTorch's Adam/AdamW written out per element, in float64."""
    w = [float(x) for x in w]
    m, v = [0.0] * len(w), [0.0] * len(w)
    for t, g in enumerate(grads, start=1):
        for i in range(len(w)):
            decays = i < n_decay
            if decays:
                w[i] *= 1 - lr * decoupled
            gi = g[i] + (l2 * w[i] if decays else 0.0)
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            m_hat, v_hat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            w[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return w, m, v


def test_adam_first_step_literal(ops, dtype):
    w, g, m, v = _state(dtype)
    ops.adam_update(w, g, m, v, lr=0.1, t=1)
    # m_hat = g, v_hat = g^2: each weight moves by lr * |g| / (|g| + eps) ~ lr
    np.testing.assert_allclose(w, [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 - 0.1 * 0.25 / (0.25 + 1e-8)],
                               **_tol(dtype))
    np.testing.assert_allclose(m, [0.05, 0.025], **_tol(dtype))
    np.testing.assert_allclose(v, [0.00025, 0.0000625], **_tol(dtype))


@pytest.mark.parametrize("variant", ["adam", "adam-l2", "adamw"])
def test_adam_three_steps_match_hand_computation(ops, dtype, variant):
    grads = [[0.5, 0.25], [-0.3, 0.1], [0.2, -0.4]]
    kw = {"adam": {}, "adam-l2": {"weight_decay": 0.1}, "adamw": {"weight_decay": 0.01,
                                                                    "decoupled": True}}[variant]
    w, _, m, v = _state(dtype)
    for t, g in enumerate(grads, start=1):
        ops.adam_update(w, np.array(g, dtype), m, v, lr=0.1, t=t, n_decay=1, **kw)
    hand = _adam_by_hand(
        [1.0, -2.0], grads, lr=0.1, n_decay=1,
        l2=kw.get("weight_decay", 0.0) if variant == "adam-l2" else 0.0,
        decoupled=kw.get("weight_decay", 0.0) if variant == "adamw" else 0.0)
    for got, want in zip((w, m, v), hand, strict=True):
        np.testing.assert_allclose(got, want, **_tol(dtype))


def test_adamw_first_step_literal(ops):
    w, g, m, v = _state(np.float64)
    ops.adam_update(w, g, m, v, lr=0.1, t=1, weight_decay=0.01, decoupled=True, n_decay=1)
    # w[0] *= 1 - 0.1 * 0.01 -> 0.999, then the Adam step of ~0.1; the bias is not decayed
    np.testing.assert_allclose(w, [0.999 - 0.1 * 0.5 / (0.5 + 1e-8),
                                   -2 - 0.1 * 0.25 / (0.25 + 1e-8)], rtol=1e-12)
