"""The Poisson loss in the model layer: ``Ops.poisson``, ``PoissonDeviance``, ``Sequential``.

The kernel's parity between the backends is in test_parity.py and tests/fuzz/, its
gradient against finite differences in test_gradcheck.py, the training epoch against the
op-by-op oracle in test_training_loop.py; the estimator in test_sklearn_poisson.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import mean_poisson_deviance

import nncore
from nncore._model_file import LOSS_FORMAT_VERSION
from nncore._preprocess import Preprocessing


def _counts(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, rng.poisson(np.exp(0.4 + 0.6 * X[:, 0] - 0.5 * X[:, 1])).astype(float)


def _model(ops: nncore.Ops, units: int = 1, **kw) -> nncore.Sequential:
    return nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(units)],
                             backend=ops.name, seed=0, loss="poisson", **kw)


# ---------------------------------------------------------------------- the kernel
def test_kernel_is_the_mean_poisson_deviance(ops, rng, dtype):
    z = rng.standard_normal((40, 3)).astype(dtype)
    y = rng.poisson(np.exp(z)).astype(dtype)  # zeros included: 0 log 0 = 0
    grad = np.full_like(z, np.nan)
    loss = ops.poisson(z, y, grad)
    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    expected = mean_poisson_deviance(y64.ravel(), np.exp(z64).ravel())
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    assert isinstance(loss, float) and loss == pytest.approx(expected, rel=rtol)
    np.testing.assert_allclose(grad, 2 * (np.exp(z64) - y64) / z.size, rtol=rtol)


def test_kernel_special_values(ops, dtype):
    """y = 0 costs 2 mu; exp is not clipped (inf loss and gradient past its range, the
    float32 gradient from 88.7 on); a negative target makes the loss NaN; in place works."""
    z = np.array([[0.0, -800.0, 100.0, 800.0]], dtype)
    y = np.array([[0.0, 0.0, 1.0, 1.0]], dtype)
    grad = np.empty_like(z)
    assert ops.poisson(z[:, :2], y[:, :2], grad[:, :2].copy()) == pytest.approx(1.0)
    assert ops.poisson(z, y, grad) == math.inf
    assert grad[0, 3] == math.inf and grad[0, 1] == 0
    assert (grad[0, 2] == math.inf) == (dtype == np.float32)
    assert math.isnan(ops.poisson(z[:, :1], -y[:, 2:3], np.empty((1, 1), dtype)))
    w = np.array([[0.5, -1.0]], dtype)
    expected = np.empty_like(w)
    value = ops.poisson(w, np.ones_like(w), expected)
    assert ops.poisson(w, np.ones_like(w), w) == value  # dlogits may be logits
    np.testing.assert_array_equal(w, expected)
    assert ops.poisson(np.zeros((0, 3), dtype), np.zeros((0, 3), dtype),
                       np.zeros((0, 3), dtype)) == 0.0


# ---------------------------------------------------------------------- the loss
def test_loss_class():
    loss = nncore.PoissonDeviance()
    assert nncore.losses.get_loss("poisson") == loss and loss.kernel == "poisson"
    assert not loss.is_classifier and loss.takes_logits and loss.link_activation == "exp"
    ops = nncore.get_ops("numpy")
    out = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(loss.predict(ops, out), [1.0, math.e])
    np.testing.assert_allclose(loss.predict(ops, np.c_[out, out]), np.exp(np.c_[out, out]))
    targets = loss.targets([0, 3, 1], 1, np.dtype(np.float32))
    assert targets.shape == (3, 1) and targets.dtype == np.float32


@pytest.mark.parametrize("y,exc,text", [
    ([1.0, -0.5, 2.0], ValueError, "'y' must hold values >= 0"),
    ([1.0, np.nan, 2.0], ValueError, "'y' must be finite"),
    ([[1.0, 2.0]] * 3, ValueError, "'y' must have shape"),
    (["a", "b", "c"], TypeError, "'y' must hold numbers"),
])
def test_bad_targets_are_named(y, exc, text):
    model = nncore.Sequential([nncore.Dense(1)], loss="poisson", backend="numpy")
    with pytest.raises(exc, match=text):
        model.fit(np.zeros((3, 2)), y, epochs=1, verbose=0)


def test_the_last_layer_must_output_log_means():
    model = nncore.Sequential([nncore.Dense(1, "relu")], backend="numpy")
    with pytest.raises(ValueError, match="activation='identity'"):
        model.fit(np.zeros((3, 2)), [1, 2, 3], epochs=1, loss="poisson", verbose=0)


# ---------------------------------------------------------------------- Sequential
def test_sequential_learns_counts(ops):
    X, y = _counts()
    model = _model(ops)
    history = model.fit(X, y, epochs=30, batch_size=32, optimizer=nncore.Adam(lr=0.02),
                        verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    mu = model.predict(X)
    assert mu.shape == (300,) and (mu > 0).all()
    np.testing.assert_allclose(mu, np.exp(model.predict_outputs(X)[:, 0]), rtol=1e-6)
    deviance = mean_poisson_deviance(y, mu)
    assert model.evaluate(X, y)["loss"] == pytest.approx(deviance, rel=1e-5)
    assert deviance < 0.6 * mean_poisson_deviance(y, np.full_like(y, y.mean()))
    with pytest.raises(TypeError, match="predict_proba needs a classification loss"):
        model.predict_proba(X)


@pytest.mark.cython
def test_backends_train_alike():
    X, y = _counts(120)
    weights = []
    for backend in ("numpy", "cython"):
        model = _model(nncore.get_ops(backend), units=2, dtype="float64")
        model.fit(X, np.c_[y, y[::-1]], epochs=5, batch_size=16, verbose=0,
                  optimizer=nncore.SGD(lr=0.01, momentum=0.9))
        weights.append(model.params.w.copy())
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-10, atol=1e-12)


def test_overflow_is_a_divergence(ops):
    X, y = _counts(64)
    model = _model(ops)
    model.fit(X, y, epochs=1, verbose=0)
    before = model.params.w.copy()
    with pytest.raises(nncore.DivergenceError, match="diverged in epoch 1"):
        model.fit(X * 1e3, y, epochs=3, optimizer=nncore.SGD(lr=50.0), verbose=0)
    np.testing.assert_array_equal(model.params.w, before)  # the last finite weights


# ---------------------------------------------------------------------- the model file
def _description(path: Path) -> dict:
    return json.loads(np.load(path)[nncore.io.JSON_KEY].tobytes())


@pytest.mark.parametrize("include_optimizer", [False, True])
def test_save_load_round_trip(ops, tmp_path, include_optimizer):
    X, y = _counts(100)
    model = _model(ops)
    model.fit(X, y, epochs=2, batch_size=20, optimizer=nncore.Adam(lr=0.01), verbose=0)
    path = model.save(tmp_path / "m.npz", include_optimizer=include_optimizer)
    desc = _description(path)
    assert desc["format_version"] == LOSS_FORMAT_VERSION == 4
    assert desc["loss"] == {"name": "poisson", "link": "exp"}
    assert ("optimizer" in desc) == include_optimizer and "preprocessing" not in desc
    twin = nncore.load(path, backend=ops.name)
    assert twin.loss == nncore.PoissonDeviance()
    np.testing.assert_array_equal(twin.predict(X), model.predict(X))
    if include_optimizer:  # training goes on exactly as in place
        for m in (model, twin):
            m.fit(X, y, epochs=2, batch_size=20, verbose=0)
        np.testing.assert_array_equal(twin.params.w, model.params.w)


def test_preprocessing_features_only(ops, tmp_path):
    """Feature scaling applies; a target scaling cannot (counts must stay counts)."""
    X, y = _counts(100)
    model = _model(ops)
    model.preprocessing = Preprocessing(mean=X.mean(axis=0), scale=X.std(axis=0))
    model.fit(X * 3 + 1, y, epochs=2, verbose=0)
    path = model.save(tmp_path / "m.npz")
    assert _description(path)["preprocessing"] == {"features": True, "target": False,
                                                    "labels": False}
    twin = nncore.load(path, backend=ops.name)
    np.testing.assert_array_equal(twin.predict(X), model.predict(X))
    model.preprocessing = Preprocessing(target_mean=[1.0], target_scale=[2.0])
    with pytest.raises(ValueError, match="target scaling cannot apply"):
        model.fit(X, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="target scaling cannot apply"):
        model.save(tmp_path / "t.npz")
