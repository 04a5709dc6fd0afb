"""L-BFGS (``nncore.LBFGS``, ``solver="lbfgs"``): the objective and its gradient, training
through ``Sequential.fit``, the estimators against scikit-learn's lbfgs MLP, bad input."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

import nncore
from nncore.lbfgs import make_objective
from nncore.sklearn import MLPClassifier, MLPRegressor


def _digits() -> tuple[np.ndarray, ...]:
    X, y = load_digits(return_X_y=True)
    return tuple(train_test_split(X / 16.0, y, random_state=0))


def _net(dtype: str = "float64", backend: str | None = None, seed: int = 0,
         loss: str = "softmax_cross_entropy", out: int = 3) -> nncore.Sequential:
    return nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(out)], dtype=dtype,
                             backend=backend, loss=loss, seed=seed)


def _blobs(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 4)) + 1.5 * np.eye(4)[y]
    return X, y


# ---------------------------------------------------------------- the objective
@pytest.mark.parametrize("backend", ["numpy", pytest.param("cython", marks=pytest.mark.cython)])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_agrees_with_finite_differences(backend, weighted):
    X, y = _blobs(40)
    model = _net(backend=backend).build(4)
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(X)) if weighted else None
    objective, _ = make_objective(model, model.loss, X, y, w, decay=0.03)
    x = model.params.w.astype(np.float64).copy()
    f, g = objective(x)
    assert f > 0 and g.shape == x.shape
    h = 1e-6
    numeric = np.empty_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        numeric[i] = (objective(x + step)[0] - objective(x - step)[0]) / (2 * h)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


def test_objective_is_the_mean_loss_plus_the_l2_term_of_the_weights_only():
    X, y = _blobs(30)
    model = _net().build(4)
    objective, last = make_objective(model, model.loss, X, y, None, decay=0.5)
    x = model.params.w.astype(np.float64) + 0.1
    f, _ = objective(x)
    W = x[: model.params.n_weights]
    assert last["loss"] == pytest.approx(model.evaluate(X, y)["loss"], rel=1e-12)
    assert f == pytest.approx(last["loss"] + 0.25 * float(W @ W), rel=1e-12)
    assert last["n_fun"] == 1


# ---------------------------------------------------------------- Sequential.fit
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_converges_and_reports_each_iteration_as_an_epoch(dtype):
    X, y = _blobs()
    model = _net(dtype).build(4)
    before = model.evaluate(X, y)["loss"]
    hist = model.fit(X, y, optimizer=nncore.LBFGS(tol=1e-5), verbose=0)
    res = model.optimizer.last_result
    assert res["n_iter"] == len(hist.history["loss"]) >= 5
    assert res["n_fun"] >= res["n_iter"]
    assert hist.history["loss"][-1] == pytest.approx(model.evaluate(X, y)["loss"], rel=1e-5)
    assert hist.history["loss"][-1] < 0.3 * before
    if res["converged"]:  # the gradient test, or SciPy's relative-decrease test
        _, grads = model.gradients(X, y)
        assert max(np.abs(g).max() for pair in grads for g in pair) < 1e-2


def test_lbfgs_by_name_and_epochs_cap_the_iterations():
    X, y = _blobs()
    model = _net()
    hist = model.fit(X, y, optimizer="lbfgs", epochs=3, verbose=0)
    assert len(hist.history["loss"]) == 3
    assert isinstance(model.optimizer, nncore.LBFGS)
    assert model.optimizer.last_result["converged"] is False


def test_callbacks_validation_and_metrics_per_iteration():
    X, y = _blobs(200)
    model = _net()
    stop = nncore.EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(X[:150], y[:150], optimizer=nncore.LBFGS(max_iter=500, tol=0),
                     validation_data=(X[150:], y[150:]), metrics="accuracy",
                     callbacks=[stop], verbose=0)
    logs = hist.history
    assert set(logs) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(logs["val_loss"]) == len(logs["loss"]) < 500
    assert model.optimizer.last_result["message"] == "stopped by a callback"
    assert model.evaluate(X[150:], y[150:])["loss"] == pytest.approx(min(logs["val_loss"]))


@pytest.mark.cython
def test_backends_agree():
    X, y = _blobs()
    a, b = _net(backend="numpy"), _net(backend="cython")
    # (few iterations: the backends sum in different orders, and a line search may amplify
    # a last-bit difference over many iterations on some BLAS kernels)
    for m in (a, b):
        m.fit(X, y, optimizer=nncore.LBFGS(max_iter=10), verbose=0)
    np.testing.assert_allclose(a.params.w, b.params.w, rtol=1e-6, atol=1e-8)


def test_sparse_input_trains_as_the_dense_matrix():
    X, y = _blobs()
    X[np.abs(X) < 0.8] = 0
    a, b = _net(), _net()
    a.fit(X, y, optimizer=nncore.LBFGS(max_iter=10), verbose=0)
    b.fit(sp.csr_matrix(X), y, optimizer=nncore.LBFGS(max_iter=10), verbose=0)
    np.testing.assert_allclose(a.params.w, b.params.w, rtol=1e-7, atol=1e-10)


def test_integer_weights_train_as_repeated_rows():
    X, y = _blobs(60)
    counts = np.random.default_rng(3).integers(0, 4, len(X))
    counts[0] = 1
    a, b = _net(), _net()
    a.fit(X, y, optimizer=nncore.LBFGS(max_iter=10), sample_weight=counts, verbose=0)
    b.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts),
          optimizer=nncore.LBFGS(max_iter=10), verbose=0)
    np.testing.assert_allclose(a.params.w, b.params.w, rtol=1e-6, atol=1e-9)


def test_weight_decay_shrinks_the_weights_not_the_biases():
    X, y = _blobs()
    free, decayed = _net(), _net()
    free.fit(X, y, optimizer=nncore.LBFGS(max_iter=100), verbose=0)
    decayed.fit(X, y, optimizer=nncore.LBFGS(max_iter=100, weight_decay=0.1), verbose=0)
    nw = free.params.n_weights
    assert np.linalg.norm(decayed.params.w[:nw]) < 0.7 * np.linalg.norm(free.params.w[:nw])


def test_pickle_and_checkpoint_keep_the_settings(tmp_path):
    X, y = _blobs()
    model = _net()
    model.fit(X, y, optimizer=nncore.LBFGS(max_iter=7, history=5), verbose=0)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.optimizer.get_config() == model.optimizer.get_config()
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    loaded = nncore.load(model.save(tmp_path / "m.npz", include_optimizer=True))
    assert isinstance(loaded.optimizer, nncore.LBFGS)
    assert loaded.optimizer.get_config() == {"max_iter": 7, "max_fun": 15000, "tol": 1e-4,
                                             "history": 5, "weight_decay": 0.0}
    # a fit continues from the weights in both (no curvature history carries over)
    for m in (model, copy, loaded):
        m.fit(X, y, verbose=0)
    np.testing.assert_array_equal(copy.params.w, model.params.w)
    np.testing.assert_array_equal(loaded.params.w, model.params.w)


def test_divergence_restores_the_weights():
    X, y = _blobs(50)
    X = X * 1e307  # the ReLU network's outputs, and the loss, overflow
    model = nncore.Sequential([nncore.Dense(8, "relu"), nncore.Dense(3)], dtype="float64",
                              loss="softmax_cross_entropy", seed=0).build(4)
    start = model.params.w.copy()
    with pytest.raises(nncore.DivergenceError, match="L-BFGS diverged"):
        model.fit(X, y, optimizer=nncore.LBFGS(), verbose=0)
    np.testing.assert_array_equal(model.params.w, start)


# ---------------------------------------------------------------- bad input
def test_mini_batches_are_refused():
    X, y = _blobs()
    with pytest.raises(ValueError, match=r"batch_size.*full batch only"):
        _net().fit(X, y, optimizer=nncore.LBFGS(), batch_size=32, verbose=0)
    _net().fit(X, y, optimizer=nncore.LBFGS(max_iter=2), batch_size="full", verbose=0)
    _net().fit(X, y, optimizer=nncore.LBFGS(max_iter=2), batch_size=len(X), verbose=0)


@pytest.mark.parametrize("kwargs, name", [({"max_iter": 0}, "max_iter"),
                                          ({"max_fun": 0}, "max_fun"),
                                          ({"tol": -1}, "tol"), ({"history": 0}, "history"),
                                          ({"weight_decay": -0.1}, "weight_decay"),
                                          ({"max_iter": 2.5}, "max_iter")])
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        nncore.LBFGS(**kwargs)


def test_schedules_partial_fit_and_steps_are_refused():
    X, y = _blobs()
    model = _net()
    with pytest.raises(ValueError, match="no learning rate"):
        model.fit(X, y, optimizer=nncore.LBFGS(), callbacks=[nncore.StepDecay(2)], verbose=0)
    with pytest.raises(TypeError, match=r"partial_fit.*not LBFGS"):
        model.partial_fit(X, y, optimizer=nncore.LBFGS())
    model.fit(X, y, optimizer=nncore.LBFGS(max_iter=2), verbose=0)
    with pytest.raises(TypeError, match="partial_fit"):
        model.partial_fit(X, y)  # the model's own optimizer is LBFGS
    with pytest.raises(TypeError, match="full-batch"):
        nncore.LBFGS().step(model.ops, model.params)


def test_dropout_is_refused():
    X, y = _blobs()
    model = nncore.Sequential([nncore.Dense(8, "tanh", dropout=0.2), nncore.Dense(3)],
                              loss="softmax_cross_entropy")
    with pytest.raises(ValueError, match="dropout"):
        model.fit(X, y, optimizer=nncore.LBFGS(), verbose=0)
    with pytest.raises(ValueError, match="dropout"):
        MLPClassifier((8,), solver="lbfgs", dropout=0.2).fit(X, y)


def test_dask_fit_refuses_lbfgs_before_looking_for_a_cluster():
    import nncore.dask  # the test command installs the dask extra; no cluster is needed

    X, y = _blobs()
    with pytest.raises(TypeError, match="LBFGS"):
        nncore.dask.fit(_net(), X, y, epochs=1, batch_size=8, optimizer=nncore.LBFGS())


# ---------------------------------------------------------------- the estimators
@pytest.mark.parametrize("backend", ["numpy", pytest.param("cython", marks=pytest.mark.cython)])
def test_digits_accuracy_and_loss_match_scikit_learns_lbfgs(backend):
    Xtr, Xte, ytr, yte = _digits()
    ours = MLPClassifier((32,), solver="lbfgs", alpha=1e-3, max_iter=150, random_state=0,
                         backend=backend)
    theirs = SkMLPClassifier((32,), solver="lbfgs", alpha=1e-3, max_iter=150, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(Xtr, ytr)
        theirs.fit(Xtr, ytr)
    assert abs(ours.score(Xte, yte) - theirs.score(Xte, yte)) <= 0.01
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=0.05)
    assert ours.n_iter_ <= 150
    for name in ("loss_curve_", "best_loss_", "validation_scores_"):
        assert hasattr(theirs, name) == hasattr(ours, name) is False


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regressor_loss_is_scikit_learns_objective():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 5))
    y = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(150)
    alpha = 0.01
    # a few iterations: the same path as scikit-learn's (a long run on this flat problem
    # wanders, and where to depends on the last bits of the BLAS kernels)
    settings = {"hidden_layer_sizes": (16,), "solver": "lbfgs", "alpha": alpha,
                "max_iter": 5, "random_state": 0}
    ours = MLPRegressor(**settings).fit(X, y)
    theirs = SkMLPRegressor(**settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-8)
    # and by definition: half the mean square plus 0.5 alpha ||W||^2 / n
    sq = sum(float((W**2).sum()) for W in ours.coefs_)
    expected = 0.5 * np.mean((ours.predict(X) - y) ** 2) + 0.5 * alpha * sq / len(X)
    assert ours.loss_ == pytest.approx(expected, rel=1e-9)


def test_estimator_has_no_partial_fit_and_warns_when_not_converged():
    Xtr, _, ytr, _ = _digits()
    clf = MLPClassifier((16,), solver="lbfgs", max_iter=3, random_state=0)
    assert not hasattr(clf, "partial_fit")
    assert hasattr(clf.set_params(solver="adam"), "partial_fit")
    clf.set_params(solver="lbfgs")
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf.fit(Xtr, ytr)
    assert clf.n_iter_ == 3
    # then a stochastic fit sets the stochastic solver's attributes again
    clf.set_params(solver="adam", max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    assert len(clf.loss_curve_) == 2


def test_benchmark_script_runs(capsys):
    """bench/lbfgs.py, as the README runs it, at a tiny size."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "lbfgs.py"
    spec = importlib.util.spec_from_file_location("bench_lbfgs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--rows", "400", "--max-iter", "3", "--repeat", "1", "--threads", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 2 * 3  # the header and three systems on two data sets
    assert sum("nncore" in row for row in rows) == 4
