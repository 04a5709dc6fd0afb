"""Dropout: ``Dense(dropout=)``, ``Dropout(rate)``, the counter-based mask in the fused
training kernels (both backends, the same bits), and everything that must not drop."""

from __future__ import annotations

import copy
import json
import math
import pickle
import zipfile

import numpy as np
import onnxruntime as ort
import pytest

import nncore
import nncore.onnx
from nncore.backends import dropout as gen
from nncore.backends.plan import NetPlan, ParamLayout, TrainPlan
from nncore.io import ModelFileError

BACKENDS = ["numpy", pytest.param("cython", marks=pytest.mark.cython)]
DTYPES = ["float32", "float64"]


def _mlp(backend, dtype="float64", seed=0, rates=(0.3, 0.2)):
    return nncore.Sequential([nncore.Dense(24, "relu"), nncore.Dropout(rates[0]),
                              nncore.Dense(16, "tanh", dropout=rates[1]), nncore.Dense(3)],
                             dtype=dtype, backend=backend, seed=seed)


def _data(n=150, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, 3, n)


def _fit(model, X, y, epochs=3, optimizer=None, batch_size=16):
    model.fit(X, y, epochs=epochs, batch_size=batch_size, verbose=0,
              optimizer=optimizer or nncore.Adam(lr=0.01), loss="softmax_cross_entropy")
    return model.params.w.copy()


# ---------------------------------------------------------------- the generator
def test_numpy_generator_matches_the_scalar_definition():
    """The vectorised uint64 mask is the integer definition, element by element."""
    base = gen.stream_base(12345, 7, 2)
    thr = gen.threshold(0.37)
    keep = gen.keep_mask(base, 3, 4, 9, thr)
    for r in range(4):
        for j in range(9):
            h = gen.mix64(base + ((3 + r) * 9 + j + 1) * gen.GOLDEN)
            assert keep[r, j] == (h >= thr)
    assert gen.threshold(0.0) == 0 and gen.threshold(0.5) == 1 << 63


def _counting_plan(ops, rate, rows=1000, width=1000, dtype=np.float64):
    """[1, width, 1] identity net: layer 0 outputs 2 everywhere (W0 = 1, b0 = 1 on an
    input of ones), so its zeros are the dropped elements; layer 1 averages them."""
    lay = ParamLayout([1, width, 1])
    w = np.zeros(lay.size, dtype)
    (W0, b0), (W1, _) = lay.views(w)
    W0[...], b0[...], W1[...] = 1, 1, 1.0 / width
    net = NetPlan([1, width, 1], ["identity", "identity"], [0.0, 0.0], w, np.zeros_like(w))
    plan = TrainPlan(net, rows, "mse", [rate, 0.0])
    X, T = np.ones((rows, 1), dtype), np.zeros((rows, 1), dtype)
    return plan, X, T


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_kept_fraction_and_inverted_scaling(backend, rate):
    """10^6 draws: the kept fraction is 1 - rate within 5 sigma; the next layer sees
    2 / (1 - rate) per kept element, so its mean input stays 2 (inverted dropout)."""
    ops = nncore.get_ops(backend)
    plan, X, T = _counting_plan(ops, rate)
    plan.set_dropout(2024, 5)
    ops.loss_gradient(plan, X, T, np.arange(len(X), dtype=np.int64))
    kept = plan.A[0] != 0
    n = kept.size
    sigma = math.sqrt(rate * (1 - rate) / n)
    assert abs(kept.mean() - (1 - rate)) < 5 * sigma
    out = plan.A[1][:, 0]
    np.testing.assert_allclose(out, 2 * kept.mean(axis=1) / (1 - rate), rtol=1e-12)
    assert abs(out.mean() - 2) < 5 * 2 * sigma / (1 - rate)
    # another step, another layer's stream: independent masks (correlation within 5 sigma)
    plan.set_dropout(2024, 6)
    ops.loss_gradient(plan, X, T, np.arange(len(X), dtype=np.int64))
    again = plan.A[0] != 0
    assert abs(np.corrcoef(kept.ravel(), again.ravel())[0, 1]) < 5 / math.sqrt(n)


@pytest.mark.cython
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_backends_draw_the_same_mask(dtype):
    masks = []
    for backend in ("numpy", "cython"):
        ops = nncore.get_ops(backend)
        plan, X, T = _counting_plan(ops, 0.35, rows=300, width=257, dtype=dtype)
        plan.set_dropout(2**64 - 3, 123456789)
        ops.loss_gradient(plan, X, T, np.arange(len(X), dtype=np.int64))
        masks.append(plan.A[0] != 0)
    assert np.array_equal(masks[0], masks[1])
    assert 0.6 < masks[0].mean() < 0.7


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", [lambda: nncore.SGD(lr=0.05),
                                       lambda: nncore.SGD(lr=0.05, momentum=0.9),
                                       lambda: nncore.AdamW(lr=0.01)],
                         ids=["sgd", "momentum", "adamw"])
def test_rate_zero_is_bit_identical_to_no_dropout(backend, dtype, optimizer):
    X, y = _data()
    plain = nncore.Sequential([nncore.Dense(24, "relu"), nncore.Dense(16, "tanh"),
                               nncore.Dense(3)], dtype=dtype, backend=backend, seed=1)
    zero = _mlp(backend, dtype, seed=1, rates=(0.0, 0.0))
    assert np.array_equal(_fit(plain, X, y, optimizer=optimizer()),
                          _fit(zero, X, y, optimizer=optimizer()))


@pytest.mark.cython
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("acts", [("relu", "tanh"), ("sigmoid", "leaky_relu"),
                                  ("identity", "relu")])
@pytest.mark.parametrize("optimizer", [lambda: nncore.SGD(lr=0.05),
                                       lambda: nncore.Adam(lr=0.01)], ids=["sgd", "adam"])
def test_both_backends_train_to_the_same_weights(dtype, acts, optimizer):
    X, y = _data()
    weights, losses = [], []
    for backend in ("numpy", "cython"):
        model = nncore.Sequential([nncore.Dense(24, acts[0], dropout=0.4),
                                   nncore.Dense(16, acts[1], dropout=0.25), nncore.Dense(3)],
                                  dtype=dtype, backend=backend, seed=2)
        h = model.fit(X, y, epochs=4, batch_size=16, verbose=0, optimizer=optimizer(),
                      loss="softmax_cross_entropy")
        weights.append(model.params.w.copy())
        losses.append(h.history["loss"])
        assert model.dropout_step == 4 * 10
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-4,
                                                                     "atol": 2e-5}
    np.testing.assert_allclose(weights[1], weights[0], **tol)
    np.testing.assert_allclose(losses[1], losses[0], **tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("acts", [("tanh", "leaky_relu", "identity"),
                                  ("relu", "sigmoid", "identity"),
                                  ("identity", "tanh", "sigmoid")])
def test_gradient_is_the_masked_networks(backend, acts):
    """loss_gradient with dropout: the gradient of the network under the fixed mask of
    (key, step), checked by central differences of the same call's loss (float64)."""
    ops = nncore.get_ops(backend)
    rng = np.random.default_rng(5)
    sizes = [4, 9, 7, 2]
    lay = ParamLayout(sizes)
    w = rng.standard_normal(lay.size) * 0.6
    g = np.zeros_like(w)
    plan = TrainPlan(NetPlan(sizes, list(acts), [0.1] * 3, w, g), 6, "mse", [0.4, 0.3, 0.0])
    plan.set_dropout(99, 3)
    X, T = rng.standard_normal((10, 4)), rng.standard_normal((10, 2))
    order = np.arange(10, dtype=np.int64)  # two runs of 6 and 4 rows: rows 0..9 of a mask
    ops.loss_gradient(plan, X, T, order)
    analytic = g.copy()
    numeric = np.empty_like(w)
    for k in range(w.size):
        keep = w[k]
        w[k] = keep + 1e-6
        up = ops.loss_gradient(plan, X, T, order)
        w[k] = keep - 1e-6
        down = ops.loss_gradient(plan, X, T, order)
        w[k] = keep
        numeric[k] = (up - down) / 2e-6
    assert np.abs(analytic - numeric).max() < 1e-7 * max(1.0, np.abs(analytic).max())
    assert plan.dropout_step == 3  # a gradient is not a step
    bare = TrainPlan(plan.net, 6, "mse")
    ops.loss_gradient(bare, X, T, order)
    assert not np.allclose(g, analytic)  # the mask mattered


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("density", [0.05, 0.5])  # the sparse product, the gather
def test_sparse_input_drops_as_dense(backend, density):
    sp = pytest.importorskip("scipy.sparse")
    X = sp.random(120, 30, density=density, format="csr", random_state=1)
    y = np.random.default_rng(1).integers(0, 3, 120)
    dense, csr = (nncore.Sequential([nncore.Dense(24, "tanh", dropout=0.4),
                                     nncore.Dense(16, "relu", dropout=0.3), nncore.Dense(3)],
                                    dtype="float64", backend=backend, seed=7)
                  for _ in range(2))
    np.testing.assert_allclose(_fit(csr, X, y), _fit(dense, X.toarray(), y), rtol=1e-12,
                               atol=1e-12)


# ---------------------------------------------------------------- what never drops
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_evaluate_gradients_never_drop(backend, dtype):
    X, y = _data()
    model = _mlp(backend, dtype, rates=(0.5, 0.5))
    _fit(model, X, y)
    twin = nncore.Sequential([nncore.Dense(24, "relu"), nncore.Dense(16, "tanh"),
                              nncore.Dense(3)], dtype=dtype, backend=backend,
                             loss="softmax_cross_entropy")
    twin.set_weights(model.get_weights())
    Xc = X.astype(dtype)
    out = model.predict_outputs(Xc)
    assert np.array_equal(out, model.predict_outputs(Xc))
    assert np.array_equal(out, twin.predict_outputs(Xc))
    assert np.array_equal(model.predict_proba(Xc[:1]), twin.predict_proba(Xc[:1]))  # one row
    assert model.evaluate(X, y) == twin.evaluate(X, y)
    loss, grads = model.gradients(X, y)
    loss2, grads2 = twin.gradients(X, y)
    assert loss == loss2
    for (a, b), (c, d) in zip(grads, grads2, strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    checked = nncore.check_gradients(model, X[:12], y[:12])
    assert max(checked.values()) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_export_is_the_inference_graph(dtype):
    X, y = _data()
    model = _mlp("numpy", np.dtype(dtype).name, rates=(0.5, 0.5))
    _fit(model, X, y)
    Xc = X.astype(dtype)
    session = ort.InferenceSession(nncore.onnx.export(model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"X": Xc}), strict=True))
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(Xc),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-7)


# ---------------------------------------------------------------- reproducible, state
@pytest.mark.parametrize("backend", BACKENDS)
def test_reproducible_by_seed(backend):
    X, y = _data()
    first, again = _fit(_mlp(backend, seed=3), X, y), _fit(_mlp(backend, seed=3), X, y)
    assert np.array_equal(first, again)
    other = _mlp(backend, seed=4)
    other.set_weights(_mlp(backend, seed=3).build(5).get_weights())  # same start, other masks
    assert other.dropout_seed == 4
    assert not np.array_equal(first, _fit(other, X, y))
    assert not np.array_equal(first, _fit(_mlp(backend, seed=3, rates=(0, 0)), X, y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_fit_blocks_are_the_epoch(backend):
    """The dropout step continues across calls: blocks of whole batches in order give
    the epoch over all of them, bit for bit."""
    X, y = _data(n=96)
    whole, parts = _mlp(backend), _mlp(backend)
    whole.fit(X, y, epochs=1, batch_size=16, shuffle=False, verbose=0,
              optimizer=nncore.Adam(lr=0.01), loss="softmax_cross_entropy")
    parts.partial_fit(X[:48], y[:48], batch_size=16, shuffle=False,
                      optimizer=nncore.Adam(lr=0.01), loss="softmax_cross_entropy")
    parts.partial_fit(X[48:], y[48:], batch_size=16, shuffle=False)
    assert parts.dropout_step == whole.dropout_step == 6
    assert np.array_equal(whole.params.w, parts.params.w)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pickle_and_checkpoint_continue_exactly(backend, tmp_path):
    X, y = _data()
    model = _mlp(backend, seed=None)  # a random key: it must travel
    _fit(model, X, y, epochs=2)
    path = model.save(tmp_path / "m", include_optimizer=True)
    plain = nncore.load(model.save(tmp_path / "plain"), backend=backend)
    copies = [pickle.loads(pickle.dumps(model)), copy.deepcopy(model),
              nncore.load(path, backend=backend)]
    want = _fit(model, X, y, epochs=1, optimizer=model.optimizer)
    for twin in copies:
        assert [la.dropout for la in twin.layers] == [0.3, 0.2, 0.0]
        assert (twin.dropout_seed, twin.dropout_step) == (model.dropout_seed, 20)
        twin.fit(X, y, epochs=1, batch_size=16, verbose=0)
        assert np.array_equal(twin.params.w, want)
    assert repr(plain) == repr(model) and plain.dropout_seed == model.dropout_seed
    with zipfile.ZipFile(path) as zf:
        desc = json.loads(np.load(zf.open("__nncore__.json.npy")).tobytes())
    assert desc["format_version"] == 6 and desc["layers"][0]["dropout"] == 0.3


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_integer_key_saves_as_the_generator_takes_it(backend, tmp_path):
    X, y = _data()
    model = _mlp(backend).build(5)
    model.dropout_seed = -5
    loaded = nncore.load(model.save(tmp_path / "m"), backend=backend)
    assert loaded.dropout_seed == 2**64 - 5
    assert np.array_equal(_fit(model, X, y), _fit(loaded, X, y))


def test_models_without_dropout_keep_their_format(tmp_path):
    X, y = _data()
    model = _mlp("numpy", rates=(0, 0))
    _fit(model, X, y, epochs=1)
    with zipfile.ZipFile(model.save(tmp_path / "m")) as zf:
        desc = json.loads(np.load(zf.open("__nncore__.json.npy")).tobytes())
    assert desc["format_version"] == 1 and "dropout" not in desc["layers"][0]


@pytest.mark.parametrize("field,value", [("rate", 1.5), ("last", 0.5), ("seed", -1),
                                         ("missing", None)])
def test_invalid_dropout_in_a_file_is_refused(tmp_path, field, value):
    X, y = _data()
    model = _mlp("numpy")
    _fit(model, X, y, epochs=1)
    path = model.save(tmp_path / "m")
    with np.load(path) as npz:
        arrays = dict(npz)
    desc = json.loads(arrays["__nncore__.json"].tobytes())
    if field == "rate":
        desc["layers"][0]["dropout"] = value
    elif field == "last":
        desc["layers"][-1]["dropout"] = value
    elif field == "seed":
        desc["dropout"]["seed"] = value
    else:
        del desc["layers"][1]["dropout"]
    arrays["__nncore__.json"] = np.frombuffer(json.dumps(desc).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="dropout"):
        nncore.load(path)


def test_repr_summary_config():
    model = _mlp("numpy")
    assert "Dense(24, activation='relu', dropout=0.3)" in repr(model)
    assert model.layers[1].get_config()["dropout"] == 0.2
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert "dropout_0" in lines[0] and "rate 0.3" in lines[0]
    assert repr(nncore.Dropout(0.25)) == "Dropout(0.25)"
    assert [la.dropout for la in model.clone().layers] == [0.3, 0.2, 0.0]
    layers = [nncore.Dense(8, "relu"), nncore.Dropout(0.4), nncore.Dense(2)]
    assert repr(nncore.Sequential(layers)) == repr(nncore.Sequential(layers))  # list reused


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("make,error,match", [
    (lambda: nncore.Dense(4, dropout=1.0), ValueError, "'dropout' must be < 1"),
    (lambda: nncore.Dense(4, dropout=-0.1), ValueError, "'dropout' must be >= 0"),
    (lambda: nncore.Dropout(1), ValueError, "'rate' must be < 1"),
    (lambda: nncore.Dropout(float("nan")), ValueError, "'rate' must be finite"),
    (lambda: nncore.Dropout("half"), TypeError, "'rate'"),
    (lambda: nncore.Dense(4, "softmax", dropout=0.1), ValueError, "softmax"),
    (lambda: nncore.Sequential([nncore.Dense(4), nncore.Dropout(0.5)]), ValueError,
     r"dropout after the last layer \(Dropout\(0.5\)\)"),
    (lambda: nncore.Sequential([nncore.Dense(4), nncore.Dense(2, dropout=0.5)]), ValueError,
     "dropout after the last layer"),
    (lambda: nncore.Sequential([nncore.Dropout(0.5), nncore.Dense(2)]), ValueError,
     r"layers\[0\] Dropout\(0.5\) must follow a Dense"),
    (lambda: nncore.Sequential([nncore.Dense(4), nncore.Dropout(0.1), nncore.Dropout(0.2),
                                nncore.Dense(2)]), ValueError, r"layers\[2\]"),
    (lambda: nncore.Sequential([nncore.Dense(4, dropout=0.1), nncore.Dropout(0.2),
                                nncore.Dense(2)]), ValueError, r"layers\[1\]"),
    (lambda: nncore.Sequential([nncore.Dense(4, "softmax"), nncore.Dropout(0.2),
                                nncore.Dense(2)]), ValueError, "softmax"),
    (lambda: TrainPlan(NetPlan([2, 1], ["identity"], [0.0], np.zeros(3), np.zeros(3)), 4,
                       "mse", [0.5]), ValueError, "last layer"),
])
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------- the estimators
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_dropout_parameter():
    from sklearn.base import clone

    from nncore.sklearn import MLPClassifier, MLPRegressor

    X, y = nncore.make_moons(300, noise=0.2, seed=0)
    kw = {"hidden_layer_sizes": (16, 16), "max_iter": 20, "random_state": 0,
          "learning_rate_init": 0.01}
    base = MLPClassifier(**kw).fit(X, y)
    a = MLPClassifier(dropout=0.3, **kw).fit(X, y)
    b = clone(a).fit(X, y)
    assert a.get_params()["dropout"] == 0.3
    assert [la.dropout for la in a.model_.layers] == [0.3, 0.3, 0.0]
    assert np.array_equal(a.coefs_[0], b.coefs_[0])  # reproducible from random_state
    assert not np.array_equal(a.coefs_[0], base.coefs_[0])
    assert not np.array_equal(a.coefs_[0], MLPClassifier(dropout=0.3, **{
        **kw, "random_state": 1}).fit(X, y).coefs_[0])
    assert np.array_equal(a.predict_proba(X), a.predict_proba(X))
    assert np.array_equal(MLPClassifier(dropout=0.0, **kw).fit(X, y).coefs_[0],
                          base.coefs_[0])
    twin = pickle.loads(pickle.dumps(a))
    assert np.array_equal(twin.predict_proba(X), a.predict_proba(X))
    per_layer = MLPRegressor(dropout=[0.5, 0.0], **kw).fit(X, y.astype(float))
    assert [la.dropout for la in per_layer.model_.layers] == [0.5, 0.0, 0.0]
    with pytest.raises(ValueError, match="one rate per hidden layer"):
        MLPRegressor(dropout=[0.5], **kw).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier(dropout=1.0, **kw).fit(X, y)
