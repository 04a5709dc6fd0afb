"""Sample and class weights (``nncore._weights``): the weighted loss is
``sum w_i loss_i / sum w_i`` over a batch, a per-row scale inside the fused loss kernels.

The exact check: with ``batch_size="full"`` in float64, integer weights train to the same
weights as repeating each row that many times (a weight of 0 as dropping it), for every
loss, on both backends; the backends agree on the weighted per-op losses; bad weights get
a clear error naming the argument.
"""

from __future__ import annotations

import numpy as np
import pytest

import nncore

LOSSES = ["softmax_cross_entropy", "binary_cross_entropy", "mse", "poisson"]


@pytest.fixture
def backend(ops: nncore.Ops) -> str:
    """Each backend's name in turn (the ``ops`` fixture's parameters and marks)."""
    return ops.name


def _data(loss: str, rng: np.random.Generator, n: int = 40):
    X = rng.standard_normal((n, 3))
    labels = rng.integers(0, 3, n)
    y = {"softmax_cross_entropy": labels, "binary_cross_entropy": (labels > 0).astype(int),
         "mse": X[:, 0] - 0.5 * X[:, 1], "poisson": labels.astype(float)}[loss]
    return X, y, 3 if loss == "softmax_cross_entropy" else 1


def _model(loss: str, out: int, backend: str, dtype: str = "float64") -> nncore.Sequential:
    return nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(out)], dtype=dtype,
                             loss=loss, seed=1, backend=backend)


@pytest.mark.parametrize("loss", LOSSES)
def test_integer_weights_equal_repeated_rows(backend, loss, rng):
    X, y, out = _data(loss, rng)
    w = rng.integers(0, 4, len(X)).astype(float)  # zeros included: rows dropped
    reps = w.astype(int)
    fits = []
    for XX, yy, ww in [(X, y, w), (np.repeat(X, reps, axis=0), np.repeat(y, reps), None)]:
        model = _model(loss, out, backend)
        history = model.fit(XX, yy, epochs=5, batch_size="full", shuffle=False, verbose=0,
                            optimizer=nncore.SGD(lr=0.1, momentum=0.9), sample_weight=ww)
        fits.append((model, history.history["loss"]))
    (weighted, loss_w), (repeated, loss_r) = fits
    for (W1, b1), (W2, b2) in zip(weighted.get_weights(), repeated.get_weights(), strict=True):
        np.testing.assert_allclose(W1, W2, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b1, b2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss_w, loss_r, rtol=1e-12)
    # evaluate and gradients weigh the same way
    Xr, yr = np.repeat(X, reps, axis=0), np.repeat(y, reps)
    assert weighted.evaluate(X, y, sample_weight=w)["loss"] == pytest.approx(
        weighted.evaluate(Xr, yr)["loss"], rel=1e-12)
    value_w, grads_w = weighted.gradients(X, y, sample_weight=w)
    value_r, grads_r = weighted.gradients(Xr, yr)
    assert value_w == pytest.approx(value_r, rel=1e-12)
    for (dW1, db1), (dW2, db2) in zip(grads_w, grads_r, strict=True):
        np.testing.assert_allclose(dW1, dW2, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db1, db2, rtol=1e-10, atol=1e-14)


@pytest.mark.cython
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("batch_size", [1, 7, "full"])
def test_weighted_training_agrees_across_backends(loss, batch_size, dtype, rng):
    X, y, out = _data(loss, rng, n=30)
    w = rng.random(len(X)) * 3
    w[::5] = 0
    weights = []
    for backend in ("numpy", "cython"):
        model = _model(loss, out, backend, np.dtype(dtype).name)
        model.fit(X, y, epochs=3, batch_size=batch_size, seed=0, verbose=0,
                  optimizer=nncore.Adam(lr=0.01), sample_weight=w)
        weights.append(model.get_weights())
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for (W1, b1), (W2, b2) in zip(*weights, strict=True):
        np.testing.assert_allclose(W1, W2, **tol)
        np.testing.assert_allclose(b1, b2, **tol)


def _per_op_cases(rng, dtype):
    n, k = 9, 3
    z = rng.standard_normal((n, k)).astype(dtype) * 3
    return [("softmax_xent", z, rng.integers(0, k, n)),
            ("sigmoid_bce", z, (rng.random((n, k)) > 0.5).astype(dtype)),
            ("mse", z, rng.standard_normal((n, k)).astype(dtype)),
            ("poisson", z, rng.integers(0, 4, (n, k)).astype(dtype))]


@pytest.mark.cython
def test_weighted_per_op_losses_agree_and_match_the_definition(rng, dtype):
    w = rng.random(9) * 2
    w[3] = 0
    for name, z, y in _per_op_cases(rng, dtype):
        results = {}
        for backend in ("numpy", "cython"):
            ops = nncore.get_ops(backend)
            grad = np.empty_like(z)
            results[backend] = (getattr(ops, name)(z, y, grad, sample_weight=w), grad)
        (loss_n, grad_n), (loss_c, grad_c) = results["numpy"], results["cython"]
        tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12)
        np.testing.assert_allclose(loss_c, loss_n, **tol)
        np.testing.assert_allclose(grad_c, grad_n, **tol)
        # definition: sum w_i loss_i / sum w_i, from the unweighted per-row losses
        ops = nncore.get_ops("numpy")
        rows = [getattr(ops, name)(z[i:i + 1], y[i:i + 1], np.empty_like(z[i:i + 1]))
                for i in range(len(z))]
        assert loss_n == pytest.approx(np.dot(w, rows) / w.sum(), rel=1e-5)
        assert not grad_n[3].any()  # weight 0: no gradient from that row


def test_uniform_weights_change_nothing(backend, rng):
    X, y, out = _data("softmax_cross_entropy", rng)
    runs = []
    for w in (None, np.full(len(X), 2.5)):
        model = _model("softmax_cross_entropy", out, backend)
        model.fit(X, y, epochs=2, batch_size=8, seed=0, verbose=0, sample_weight=w)
        runs.append(model.get_weights())
    for (W1, b1), (W2, b2) in zip(*runs, strict=True):
        np.testing.assert_allclose(W1, W2, rtol=1e-13)
        np.testing.assert_allclose(b1, b2, rtol=1e-13)


def test_zero_weight_rows_do_not_move_the_model(backend, rng):
    """A batch whose rows all weigh 0 is a step of size 0 (no weight decay here), even
    with a row whose loss overflows; the other batch trains as it would alone."""
    X, y, out = _data("mse", rng, n=8)
    X[0] = 1e200  # a loss of inf, weighted by 0
    runs = []
    for XX, yy, w in [(X, y, np.r_[np.zeros(4), np.ones(4)]), (X[4:], y[4:], None)]:
        model = _model("mse", out, backend)
        model.fit(XX, yy, epochs=1, batch_size=4, shuffle=False, verbose=0, sample_weight=w,
                  optimizer=nncore.SGD(lr=0.1))
        runs.append(model.get_weights())
    for (W1, b1), (W2, b2) in zip(*runs, strict=True):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)


def test_class_weight_dict_and_balanced(backend, rng):
    X, _, _ = _data("softmax_cross_entropy", rng, n=60)
    y = np.r_[np.zeros(50, int), np.ones(7, int), np.full(3, 2)]
    counts = np.bincount(y)
    balanced = len(y) / (3 * counts)
    fits = {}
    for name, kwargs in [("balanced", dict(class_weight="balanced")),
                         ("same", dict(sample_weight=balanced[y])),
                         ("dict", dict(class_weight={0: 1.0, 2: 4.0})),
                         ("dict_same", dict(sample_weight=np.array([1.0, 1.0, 4.0])[y]))]:
        model = _model("softmax_cross_entropy", 3, backend)
        model.fit(X, y, epochs=3, batch_size="full", verbose=0, **kwargs)
        fits[name] = model.get_weights()
    for a, b in (("balanced", "same"), ("dict", "dict_same")):
        for (W1, b1), (W2, b2) in zip(fits[a], fits[b], strict=True):
            np.testing.assert_allclose(W1, W2, rtol=1e-12)
            np.testing.assert_allclose(b1, b2, rtol=1e-12)


def test_validation_data_and_split_carry_weights(backend, rng):
    X, y, out = _data("softmax_cross_entropy", rng, n=50)
    w = rng.random(50) + 0.1
    model = _model("softmax_cross_entropy", out, backend)
    h = model.fit(X, y, epochs=2, verbose=0, sample_weight=w, validation_split=0.2,
                  metrics="accuracy")
    expected = model.evaluate(X[40:], y[40:], sample_weight=w[40:])
    assert h.history["val_loss"][-1] == pytest.approx(expected["loss"], rel=1e-12)
    assert h.history["val_accuracy"][-1] == pytest.approx(expected["accuracy"], rel=1e-12)
    h = model.fit(X, y, epochs=1, verbose=0, validation_data=(X[:10], y[:10], w[:10]))
    assert h.history["val_loss"][-1] == pytest.approx(
        model.evaluate(X[:10], y[:10], sample_weight=w[:10])["loss"], rel=1e-12)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(sample_weight=-np.ones(20)), ValueError, "'sample_weight' must be >= 0"),
    (dict(sample_weight=np.ones(19)), ValueError, "'sample_weight' has 19 weights"),
    (dict(sample_weight=np.r_[np.nan, np.ones(19)]), ValueError, "'sample_weight' must be finite"),
    (dict(sample_weight=np.zeros(20)), ValueError, "'sample_weight' is 0 for every sample"),
    (dict(sample_weight=np.ones((20, 2))), ValueError, "'sample_weight' must be 1-D"),
    (dict(sample_weight=np.array(["a"] * 20)), TypeError, "'sample_weight' must hold numbers"),
    (dict(class_weight={5: 1.0}), ValueError, "key 5 is not a class"),
    (dict(class_weight={"cat": 1.0}), ValueError, "key 'cat' is not a class"),
    (dict(class_weight={0: -1.0}), ValueError, "weight of class 0 must be a finite number"),
    (dict(class_weight="bal"), ValueError, "must be a dict or 'balanced'"),
    (dict(class_weight={0: 0.0, 1: 0.0, 2: 0.0}), ValueError, "leave every sample with weight 0"),
])
def test_bad_weights_get_clear_errors(kwargs, error, match, rng):
    X, y, out = _data("softmax_cross_entropy", rng, n=20)
    model = _model("softmax_cross_entropy", out, "numpy")
    with pytest.raises(error, match=match):
        model.fit(X, y, epochs=1, verbose=0, **kwargs)


def test_class_weight_needs_a_classifier(rng):
    X, y, out = _data("mse", rng, n=20)
    with pytest.raises(ValueError, match="'class_weight' needs a classification loss"):
        _model("mse", out, "numpy").fit(X, y, epochs=1, verbose=0, class_weight="balanced")


def test_ops_reject_bad_weights_alike(ops, rng):
    z = rng.standard_normal((4, 2))
    y = np.zeros((4, 2))
    for w, error, match in [(np.ones(4, np.float32), TypeError, "dtype float64"),
                            (np.ones(3), ValueError, "3 weights"),
                            (-np.ones(4), ValueError, "finite and >= 0"),
                            (np.zeros(4), ValueError, "sums to 0")]:
        with pytest.raises(error, match=match):
            ops.mse(z, y, np.empty_like(z), sample_weight=w)


# ---------------------------------------------------------------------- estimators
def _imbalanced(rng, n=120):
    X = rng.standard_normal((n, 4))
    y = np.where(X[:, 0] + 0.3 * rng.standard_normal(n) > 1.0, "rare", "common")
    return X, y


def test_estimator_class_weight_is_sample_weight_by_class(ops, rng):
    from nncore.sklearn import MLPClassifier

    X, y = _imbalanced(rng)
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=100, learning_rate_init=0.01,
                  random_state=0, backend=ops.name)
    balanced = MLPClassifier(class_weight="balanced", **kwargs).fit(X, y)
    classes, counts = np.unique(y, return_counts=True)
    per_class = dict(zip(classes, len(y) / (2 * counts), strict=True))
    explicit = MLPClassifier(class_weight=per_class, **kwargs).fit(X, y)
    by_sample = MLPClassifier(**kwargs).fit(X, y, sample_weight=[per_class[c] for c in y])
    for other in (explicit, by_sample):
        for a, b in zip(balanced.coefs_, other.coefs_, strict=True):
            np.testing.assert_array_equal(a, b)
    plain = MLPClassifier(**kwargs).fit(X, y)
    rare = y == "rare"
    assert (balanced.predict(X)[rare] == "rare").mean() > (plain.predict(X)[rare] == "rare").mean()


def test_estimator_weights_errors(rng):
    from nncore.sklearn import MLPClassifier, MLPRegressor

    X, y = _imbalanced(rng, 40)
    with pytest.raises(ValueError, match="key 'dog' is not a class"):
        MLPClassifier(max_iter=1, class_weight={"dog": 2.0}).fit(X, y)
    with pytest.raises(ValueError, match="'sample_weight' must be >= 0"):
        MLPClassifier(max_iter=1).fit(X, y, sample_weight=np.r_[-1.0, np.ones(39)])
    with pytest.raises(ValueError):
        MLPRegressor(max_iter=1).fit(X, X[:, 0], sample_weight=np.ones(39))
    with pytest.raises(ValueError, match="multilabel"):
        MLPClassifier(max_iter=1, class_weight="balanced").fit(X, X[:, :2] > 0)


def test_estimator_early_stopping_scores_are_weighted(rng):
    from sklearn.metrics import r2_score

    from nncore.sklearn import MLPRegressor

    X = rng.standard_normal((200, 3))
    t = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(200)
    w = rng.random(200) + 0.5
    seen = []
    est = MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=5,
                       random_state=0)
    score = est._validation_score

    def spy(model, out, tv, wv):  # the network's outputs on the held-out rows
        seen.append((tv, out.copy(), wv))
        return score(model, out, tv, wv)

    est._validation_score = spy
    est.fit(X, t, sample_weight=w)
    tv, out, wv = seen[-1]
    assert wv is not None and len(wv) == 20 and set(wv) <= set(w)
    assert est.validation_scores_[-1] == pytest.approx(r2_score(tv, out, sample_weight=wv))
    # the validation loss per epoch, on loss_curve_'s scale (half the weighted mean square)
    assert len(est.validation_loss_curve_) == len(est.validation_scores_) == est.n_iter_
    residual = (out - tv.reshape(out.shape))[:, 0]
    assert est.validation_loss_curve_[-1] == pytest.approx(
        0.5 * np.dot(wv, residual ** 2) / wv.sum(), rel=1e-9)
    assert MLPRegressor(max_iter=2).fit(X, t).validation_loss_curve_ is None
