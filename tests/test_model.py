"""The model API: building, parameter views, predictions, conversions and errors."""

from __future__ import annotations

import numpy as np
import pytest

import nncore


@pytest.fixture
def moons():
    return nncore.make_moons(120, seed=0)


def _model(backend: str = "numpy", **kw) -> nncore.Sequential:
    return nncore.Sequential([nncore.Dense(8, "relu"), nncore.Dense(3)], backend=backend, **kw)


def test_builds_from_first_data_with_views_into_one_buffer(ops, moons):
    X, y = moons
    model = _model(ops.name)
    assert not model.built and model.n_features is None
    model.fit(X, y, epochs=1, loss=nncore.SoftmaxCrossEntropy())
    store = model.params
    assert store.size == 2 * 8 + 8 * 3 + 8 + 3
    assert store.n_weights == 2 * 8 + 8 * 3
    l0, l1 = model.layers
    assert l0.W.shape == (2, 8) and l0.b.shape == (8,) and l1.W.shape == (8, 3)
    for arr in (l0.W, l0.b, l1.W, l1.b):
        assert np.shares_memory(arr, store.w)
    for arr in (l0.dW, l0.db, l1.dW, l1.db):
        assert np.shares_memory(arr, store.g)
    # weights first, then biases
    assert np.shares_memory(l1.W, store.w[: store.n_weights])
    assert np.shares_memory(l0.b, store.w[store.n_weights :])
    l0.W[0, 0] = 42.0
    assert 42.0 in store.w


def test_initialisation_is_he_for_relu_and_glorot_otherwise():
    model = nncore.Sequential([nncore.Dense(400, "relu"), nncore.Dense(300, "tanh")], seed=0)
    model.build(500)
    W0, W1 = model.layers[0].W, model.layers[1].W
    assert np.abs(W0).max() <= np.sqrt(6 / 500)
    assert np.abs(W0).max() > 0.99 * np.sqrt(6 / 500)
    assert np.abs(W1).max() <= np.sqrt(6 / 700) * (1 + 1e-6)
    assert np.abs(W1).max() > 0.99 * np.sqrt(6 / 700)
    assert not model.layers[0].b.any()


def test_predictions_have_the_documented_shapes(ops, moons):
    X, y = moons
    model = _model(ops.name)
    model.fit(X, y, epochs=2, loss=nncore.SoftmaxCrossEntropy())
    assert model.predict(X).shape == (120,)
    assert model.predict(X).dtype.kind == "i"
    proba = model.predict_proba(X)
    assert proba.shape == (120, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.predict(X))
    result = model.evaluate(X, y)
    assert set(result) == {"loss", "accuracy"} and 0 <= result["accuracy"] <= 1


def test_gradients_overwrite_not_accumulate(ops, moons):
    X, y = moons
    model = _model(ops.name)
    loss1, g1 = model.gradients(X, y, nncore.SoftmaxCrossEntropy())
    loss2, g2 = model.gradients(X, y, nncore.SoftmaxCrossEntropy())
    assert loss1 == loss2
    for (dW1, db1), (dW2, db2) in zip(g1, g2, strict=True):
        np.testing.assert_array_equal(dW1, dW2)
        np.testing.assert_array_equal(db1, db2)


def test_gradients_match_a_numpy_calculation():
    # One linear layer with MSE: dL/dW = X^T (XW + b - y) * 2 / (n k), by hand.
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    model = nncore.Sequential([nncore.Dense(2)], dtype="float64", backend="numpy")
    model.build(3)
    W, b = model.get_weights()[0]
    loss, [(dW, db)] = model.gradients(X, y, nncore.MSE())
    r = X @ W + b - y
    assert loss == pytest.approx(np.mean(r**2))
    np.testing.assert_allclose(dW, X.T @ r * 2 / r.size)
    np.testing.assert_allclose(db, r.sum(axis=0) * 2 / r.size)


@pytest.mark.parametrize("convert", [
    lambda X: X.tolist(),
    lambda X: np.asfortranarray(X),
    lambda X: np.repeat(X, 2, axis=1)[:, ::2],
    lambda X: X.astype(np.float16),
], ids=["list", "fortran", "strided", "float16"])
def test_user_data_is_converted(moons, convert):
    X, y = moons
    model = _model(seed=1)
    model.fit(X, y, epochs=1, loss=nncore.SoftmaxCrossEntropy(), seed=0)
    data = convert(X)
    # the same values, as a plain C-contiguous float array
    reference = model.predict_outputs(np.array(data, dtype=np.float64, order="C"))
    np.testing.assert_allclose(model.predict_outputs(data), reference, rtol=1e-6)


def test_integer_inputs_and_list_labels():
    model = nncore.Sequential([nncore.Dense(4, "tanh"), nncore.Dense(2)], backend="numpy")
    history = model.fit([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0], epochs=3,
                        loss="softmax_cross_entropy")
    assert len(history.history["loss"]) == 3
    assert model.predict([[1, 1]]).shape == (1,)


def test_clear_errors(moons):
    X, y = moons
    model = _model()
    with pytest.raises(ValueError, match="activation='identity'"):
        nncore.Sequential([nncore.Dense(3, "softmax")]).fit(X, y, loss=nncore.SoftmaxCrossEntropy())
    with pytest.raises(RuntimeError, match="call fit"):
        model.predict(X)
    with pytest.raises(ValueError, match="no loss"):
        model.fit(X, y)
    with pytest.raises(ValueError, match=r"class labels in 0\.\.2"):
        model.fit(X, y + 5, loss=nncore.SoftmaxCrossEntropy())
    model.fit(X, y, epochs=1, loss=nncore.SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match="3 features, but the model was built for 2"):
        model.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="different lengths"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="2-D"):
        model.predict(X[:, 0])
    with pytest.raises(TypeError, match="numbers"):
        model.predict(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="'batch_size'"):
        model.fit(X, y, batch_size="half")
    with pytest.raises(ValueError, match="'batch_size'"):
        model.fit(X, y, batch_size=0)
    with pytest.raises(ValueError, match="'epochs'"):
        model.fit(X, y, epochs=0)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        nncore.Dense(3, "gelu")
    with pytest.raises(ValueError, match="'units'"):
        nncore.Dense(0)
    with pytest.raises(ValueError, match="'dtype'"):
        nncore.Sequential([nncore.Dense(2)], dtype="float16")
    with pytest.raises(ValueError, match="'optimizer'"):
        model.fit(X, y, optimizer="rmsprop")
    with pytest.raises(ValueError, match="'loss'"):
        model.fit(X, y, loss="hinge")
    with pytest.raises(TypeError, match="predict_proba"):
        nncore.Sequential([nncore.Dense(1)], loss="mse").predict_proba(X)


def test_optimizer_hyperparameters_are_validated():
    with pytest.raises(ValueError, match="'lr'"):
        nncore.SGD(lr=0)
    with pytest.raises(ValueError, match="'momentum'"):
        nncore.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="'nesterov'"):
        nncore.SGD(nesterov=True)
    with pytest.raises(ValueError, match="'beta2'"):
        nncore.Adam(beta2=1.0)
    with pytest.raises(ValueError, match="'eps'"):
        nncore.AdamW(eps=0)
    assert nncore.AdamW().weight_decay == 0.01
    assert "momentum=0.9" in repr(nncore.SGD(momentum=0.9))


def test_optimizer_state_carries_over_between_fits(moons):
    X, y = moons
    model = _model()
    opt = nncore.Adam()
    model.fit(X, y, epochs=1, batch_size="full", optimizer=opt, loss="softmax_cross_entropy")
    model.fit(X, y, epochs=1, batch_size="full")
    assert model.optimizer is opt and opt._t == 2


def test_clone_and_weights_round_trip(moons):
    X, y = moons
    model = _model(seed=3)
    model.fit(X, y, epochs=1, loss=nncore.SoftmaxCrossEntropy())
    twin = model.clone(dtype="float64")
    assert twin.dtype == np.float64 and twin.params.w is not model.params.w
    np.testing.assert_allclose(twin.predict_outputs(X), model.predict_outputs(X), rtol=1e-4,
                               atol=1e-5)
    twin.layers[0].W[...] = 0
    assert model.layers[0].W.any()
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([(np.zeros((2, 8)), np.zeros(8)), (np.zeros((8, 2)), np.zeros(3))])


def test_binary_cross_entropy_shapes():
    X, y = nncore.make_moons(100, seed=1)
    model = nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(1)], backend="numpy")
    model.fit(X, y, epochs=5, loss=nncore.BinaryCrossEntropy())
    assert model.predict(X).shape == (100,)
    assert set(np.unique(model.predict(X))) <= {0, 1}
    assert model.predict_proba(X).shape == (100, 2)
    with pytest.raises(ValueError, match="0/1 labels"):
        model.fit(X, y * 2)


def test_pickle_round_trip_keeps_training_what_predicts(ops, moons):
    import pickle

    X, y = moons
    model = _model(ops.name, seed=4)
    model.fit(X, y, epochs=2, loss=nncore.SoftmaxCrossEntropy(), optimizer=nncore.Adam())
    twin = pickle.loads(pickle.dumps(model))
    assert twin.ops.name == ops.name and twin.dtype == model.dtype
    np.testing.assert_array_equal(twin.predict_proba(X), model.predict_proba(X))
    for layer, (W, b) in zip(twin.layers, twin.params.views(twin.params.w), strict=True):
        assert np.shares_memory(layer.W, twin.params.w)
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.b, b)
    before = twin.predict_proba(X)
    original = model.predict_proba(X)
    twin.fit(X, y, epochs=1)
    assert np.abs(twin.predict_proba(X) - before).max() > 0  # training reaches predict
    np.testing.assert_array_equal(model.predict_proba(X), original)  # nothing shared
    unbuilt = pickle.loads(pickle.dumps(_model(ops.name)))
    assert not unbuilt.built


@pytest.mark.parametrize("loss,units", [(nncore.SoftmaxCrossEntropy(), 3),
                                        (nncore.BinaryCrossEntropy(), 1), (nncore.MSE(), 2)])
def test_loss_link_on_logits_matches_predict_proba(ops, moons, loss, units):
    X, _ = moons
    model = nncore.Sequential([nncore.Dense(4, "tanh"), nncore.Dense(units)],
                              backend=ops.name, loss=loss)
    model.build(2)
    logits = model.predict_outputs(X)
    linked = loss.link(ops, logits)
    if loss.is_classifier:
        np.testing.assert_allclose(linked, model.predict_proba(X), rtol=1e-6, atol=1e-7)
    else:
        assert linked is logits
