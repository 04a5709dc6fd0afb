"""Backpropagation against central finite differences in float64, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

import nncore
from nncore.backends.activations import NAMES

TOL = 1e-6


def _data(rng: np.random.Generator, n: int = 8, d: int = 3) -> np.ndarray:
    return rng.standard_normal((n, d))


@pytest.mark.parametrize("activation", NAMES)
def test_every_activation(ops, rng, activation):
    # The activation sits in a hidden layer, so its backward is on the gradient's path.
    model = nncore.Sequential([nncore.Dense(5, activation, negative_slope=0.1),
                               nncore.Dense(2)], dtype="float64", backend=ops.name, seed=1)
    X = _data(rng)
    y = rng.standard_normal((8, 2))
    errors = nncore.check_gradients(model, X, y, nncore.MSE())
    assert set(errors) == {"layer0.W", "layer0.b", "layer1.W", "layer1.b"}
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("activation", NAMES)
def test_every_activation_on_the_output_layer(ops, rng, activation):
    model = nncore.Sequential([nncore.Dense(3, activation, negative_slope=0.1)],
                              dtype="float64", backend=ops.name, seed=2)
    errors = nncore.check_gradients(model, _data(rng), rng.random((8, 3)), nncore.MSE())
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("loss,make_y", [
    (nncore.MSE(), lambda rng: rng.standard_normal((8, 3))),
    (nncore.SoftmaxCrossEntropy(), lambda rng: rng.integers(0, 3, 8)),
    (nncore.BinaryCrossEntropy(), lambda rng: (rng.random((8, 3)) > 0.5).astype(float)),
    (nncore.PoissonDeviance(), lambda rng: rng.poisson(1.5, (8, 3)).astype(float)),
])
def test_every_loss(ops, rng, loss, make_y):
    model = nncore.Sequential([nncore.Dense(4, "tanh"), nncore.Dense(3)], dtype="float64",
                              backend=ops.name, seed=3)
    errors = nncore.check_gradients(model, _data(rng), make_y(rng), loss)
    assert max(errors.values()) < TOL, errors


def test_single_dense_layer(ops, rng):
    model = nncore.Sequential([nncore.Dense(4)], dtype="float64", backend=ops.name)
    errors = nncore.check_gradients(model, _data(rng, 6, 5), rng.standard_normal((6, 4)),
                                    nncore.MSE())
    assert max(errors.values()) < TOL, errors


def test_three_layer_mlp(ops, rng):
    model = nncore.Sequential(
        [nncore.Dense(6, "relu"), nncore.Dense(5, "leaky_relu"), nncore.Dense(4)],
        dtype="float64", backend=ops.name, seed=4)
    X = _data(rng, 10, 4)
    errors = nncore.check_gradients(model, X, rng.integers(0, 4, 10),
                                    nncore.SoftmaxCrossEntropy())
    assert len(errors) == 6
    assert max(errors.values()) < TOL, errors


def test_checker_catches_a_wrong_gradient(rng, monkeypatch):
    # A checker that always passes is worthless: break the bias gradient and see it fail.
    model = nncore.Sequential([nncore.Dense(3)], dtype="float64", backend="numpy")
    ops = model.ops
    real = ops._act_backward  # the hook that also sums the bias gradient

    def wrong(dY, Y, act, dZ, db, slope):
        real(dY, Y, act, dZ, db, slope)
        if db is not None:
            db *= 1.5

    monkeypatch.setattr(ops, "_act_backward", wrong)
    errors = nncore.check_gradients(model, _data(rng), rng.standard_normal((8, 3)), "mse")
    assert errors["layer0.b"] > 0.1
    assert errors["layer0.W"] < TOL


def test_float32_model_is_checked_in_float64_and_left_unchanged(rng):
    model = nncore.Sequential([nncore.Dense(4, "sigmoid"), nncore.Dense(2)], seed=5)
    X = _data(rng)
    model.build(3)
    before = [w.copy() for pair in model.get_weights() for w in pair]
    errors = nncore.check_gradients(model, X, rng.integers(0, 2, 8), "softmax_cross_entropy",
                                    max_elements=5)
    assert max(errors.values()) < TOL
    assert model.dtype == np.float32
    after = [w for pair in model.get_weights() for w in pair]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
