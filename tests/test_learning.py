"""The network learns: XOR, two moons, the three forms of gradient descent, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

import nncore

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0])


def _xor_model(hidden: str | None, backend: str) -> nncore.Sequential:
    layers = [nncore.Dense(8, hidden)] if hidden else []
    return nncore.Sequential([*layers, nncore.Dense(2)], backend=backend, seed=0)


def test_linear_model_cannot_learn_xor(ops):
    # No hidden non-linearity: a straight line gets at most 3 of the 4 points right.
    model = _xor_model(None, ops.name)
    model.fit(XOR_X, XOR_Y, epochs=500, batch_size="full", optimizer=nncore.Adam(lr=0.05),
              loss=nncore.SoftmaxCrossEntropy())
    assert (model.predict(XOR_X) == XOR_Y).sum() <= 3
    assert model.evaluate(XOR_X, XOR_Y)["loss"] > 0.5


@pytest.mark.parametrize("hidden", ["tanh", "relu"])
def test_mlp_learns_xor(ops, hidden):
    model = _xor_model(hidden, ops.name)
    history = model.fit(XOR_X, XOR_Y, epochs=500, batch_size="full",
                        optimizer=nncore.Adam(lr=0.05), loss=nncore.SoftmaxCrossEntropy())
    np.testing.assert_array_equal(model.predict(XOR_X), XOR_Y)
    assert history.history["loss"][-1] < 0.05


def test_xor_with_one_sigmoid_output(ops):
    model = nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(1)], backend=ops.name)
    model.fit(XOR_X, XOR_Y, epochs=500, batch_size="full", optimizer=nncore.Adam(lr=0.05),
              loss=nncore.BinaryCrossEntropy())
    np.testing.assert_array_equal(model.predict(XOR_X), XOR_Y)
    proba = model.predict_proba(XOR_X)
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


def test_two_moons_held_out_accuracy(ops):
    X, y = nncore.make_moons(1000, noise=0.15, seed=0)
    X_tr, X_te, y_tr, y_te = nncore.train_test_split(X, y, test_fraction=0.3, seed=0)
    assert len(X_te) == 300
    model = nncore.Sequential([nncore.Dense(32, "relu"), nncore.Dense(32, "relu"),
                               nncore.Dense(2)], backend=ops.name, seed=0)
    model.fit(X_tr, y_tr, epochs=40, batch_size=32, optimizer=nncore.Adam(lr=0.01),
              loss=nncore.SoftmaxCrossEntropy())
    assert model.evaluate(X_te, y_te)["accuracy"] >= 0.97


@pytest.mark.parametrize("batch_size,epochs,lr", [("full", 200, 0.5), (1, 5, 0.01),
                                                  (16, 20, 0.1)],
                         ids=["full-batch", "stochastic", "mini-batch"])
def test_each_gradient_descent_mode_reduces_the_loss(ops, batch_size, epochs, lr):
    X, y = nncore.make_moons(200, noise=0.1, seed=1)
    model = nncore.Sequential([nncore.Dense(16, "tanh"), nncore.Dense(2)], backend=ops.name)
    before = model.gradients(X, y, nncore.SoftmaxCrossEntropy())[0]
    history = model.fit(X, y, epochs=epochs, batch_size=batch_size,
                        optimizer=nncore.SGD(lr=lr),
                        loss=nncore.SoftmaxCrossEntropy())
    after = model.evaluate(X, y)["loss"]
    assert after < 0.5 * before
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_steps_per_epoch_follow_the_batch_size():
    X, y = nncore.make_moons(50, seed=2)
    for batch_size, steps in (("full", 1), (1, 50), (16, 4)):
        model = nncore.Sequential([nncore.Dense(2)], backend="numpy")
        opt = nncore.Adam()
        model.fit(X, y, epochs=3, batch_size=batch_size, optimizer=opt,
                  loss=nncore.SoftmaxCrossEntropy())
        assert opt._t == 3 * steps


@pytest.mark.cython
@pytest.mark.parametrize("optimizer", [
    lambda: nncore.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda: nncore.AdamW(lr=0.01)], ids=["sgd-nesterov", "adamw"])
def test_same_seed_same_weights_on_both_backends(optimizer):
    X, y = nncore.make_moons(300, seed=3)
    weights = []
    for backend in ("numpy", "cython"):
        model = nncore.Sequential([nncore.Dense(16, "relu"), nncore.Dense(8, "sigmoid"),
                                   nncore.Dense(2)], dtype="float64", backend=backend, seed=7)
        model.fit(X, y, epochs=5, batch_size=32, optimizer=optimizer(),
                  loss=nncore.SoftmaxCrossEntropy(), seed=11)
        weights.append(model.get_weights())
    for (Wn, bn), (Wc, bc) in zip(*weights, strict=True):
        np.testing.assert_allclose(Wc, Wn, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(bc, bn, rtol=1e-9, atol=1e-12)


def test_fit_seed_makes_training_reproducible(ops):
    X, y = nncore.make_moons(100, seed=4)
    runs = []
    for _ in range(2):
        model = nncore.Sequential([nncore.Dense(8, "relu"), nncore.Dense(2)],
                                  backend=ops.name, seed=5)
        model.fit(X, y, epochs=3, batch_size=10, loss="softmax_cross_entropy", seed=6)
        runs.append(model.get_weights())
    for (W1, b1), (W2, b2) in zip(*runs, strict=True):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)


def test_float64_model_stays_float64(ops):
    X, y = nncore.make_moons(64, seed=5)
    model = nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(2)], dtype="float64",
                              backend=ops.name)
    model.fit(X.astype(np.float32), y, epochs=2, loss=nncore.SoftmaxCrossEntropy())
    assert model.params.w.dtype == np.float64
    assert all(layer.W.dtype == np.float64 and layer.dW.dtype == np.float64
               for layer in model.layers)
    assert model.predict_outputs(X).dtype == np.float64
    assert model.predict_proba(X).dtype == np.float64


def test_regression_with_mse(ops):
    rng = np.random.default_rng(6)
    X = rng.uniform(-2, 2, (256, 1))
    y = np.sin(X[:, 0])
    model = nncore.Sequential([nncore.Dense(32, "tanh"), nncore.Dense(1)], backend=ops.name)
    model.fit(X, y, epochs=200, batch_size=32, optimizer=nncore.Adam(lr=0.01),
              loss=nncore.MSE())
    assert model.predict(X).shape == (256,)
    assert model.evaluate(X, y)["loss"] < 5e-3
