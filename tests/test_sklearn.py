"""``nncore.sklearn``: scikit-learn's estimator contract, and scikit-learn's MLP semantics.

``check_estimator`` runs on both backends (the Cython instances carry the ``cython``
marker). With ``shuffle=False`` the estimators reproduce scikit-learn's own
``MLPClassifier``/``MLPRegressor`` (same initial draws, same updates), which is how the
schedules, early stopping and the L2 term are tested against a reference.
"""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import warnings
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn.neural_network as sknn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import nncore
from nncore.sklearn import MLPClassifier, MLPRegressor

# The settings scikit-learn uses for its own MLPs in its common tests (max_iter=100).
CHECKED = [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100),
           MLPClassifier(solver="sgd", max_iter=100), MLPRegressor(solver="sgd", max_iter=100),
           MLPClassifier(max_iter=100, dtype="float32")]
# "lbfgs" runs the same kernels (full batch) through SciPy: its API is checked once, on the
# backend every install has.
CHECKED_NUMPY = [MLPClassifier(solver="lbfgs", max_iter=100),
                 MLPRegressor(solver="lbfgs", max_iter=100)]


def _on(backend: str) -> list[Any]:
    extra = CHECKED_NUMPY if backend == "numpy" else []
    return [est.set_params(backend=backend) for est in map(_clone, [*CHECKED, *extra])]


def _clone(est: Any) -> Any:
    return type(est)(**est.get_params())


def _expected_failures(est: Any) -> dict[str, str]:
    """float32 rounds a weighted sum and the sum of repeated rows differently (1e-6
    relative after 100 epochs), above the check's rtol of 1e-7; float64 passes it."""
    if est.get_params().get("dtype") != "float32":
        return {}
    reason = "float32: weighting and repeating rows agree to 1e-6 relative, not 1e-7"
    return {f"check_sample_weight_equivalence_on_{kind}_data": reason
            for kind in ("dense", "sparse")}


def _checks(estimators: list[Any]) -> Any:
    if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters:
        return parametrize_with_checks(estimators, expected_failed_checks=_expected_failures)
    return parametrize_with_checks(estimators)  # pragma: no cover (scikit-learn < 1.6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@_checks(_on("numpy"))
def test_check_estimator_numpy(estimator, check):
    check(estimator)


@pytest.mark.cython
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@_checks(_on("cython"))
def test_check_estimator_cython(estimator, check):
    check(estimator)


def test_importing_nncore_does_not_import_sklearn():
    code = "import sys, nncore; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def moons():
    return nncore.make_moons(200, noise=0.2, seed=0)


def _same_as_sklearn(ours: Any, theirs: Any, w_tol: float, loss_rtol: float) -> None:
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_,
                    strict=True):
        assert_allclose(a, b, rtol=0, atol=w_tol)
    assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=loss_rtol)


REFERENCE_CASES = {
    "sgd-nesterov": dict(solver="sgd", learning_rate_init=0.05),
    "sgd-invscaling": dict(solver="sgd", momentum=0.0, learning_rate="invscaling",
                           learning_rate_init=0.3, power_t=0.3),
    "sgd-adaptive": dict(solver="sgd", momentum=0.0, learning_rate="adaptive",
                         learning_rate_init=0.2, tol=1e-2, n_iter_no_change=1,
                         max_iter=60),
    "adam": dict(solver="adam", learning_rate_init=0.01),
}


@pytest.mark.parametrize("case", REFERENCE_CASES)
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel", "regression",
                                    "regression-2d"])
def test_matches_sklearn_without_shuffling(ops, moons, case, target):
    X, y = moons
    third = (X[:, 0] > 0.5).astype(int)
    ys = {"binary": y, "multiclass": y + third, "multilabel": np.c_[y, third],
          "regression": X[:, 0] ** 2, "regression-2d": np.c_[X[:, 0] ** 2, X[:, 1]]}
    mine, ref = ((MLPRegressor, sknn.MLPRegressor) if target.startswith("regression")
                 else (MLPClassifier, sknn.MLPClassifier))
    params = dict(hidden_layer_sizes=(8, 5), activation="tanh", alpha=0.01, batch_size=50,
                  max_iter=12, shuffle=False, random_state=1) | REFERENCE_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = mine(**params, backend=ops.name).fit(X, ys[target])
        theirs = ref(**params).fit(X, ys[target])
    # SGD: the same updates up to rounding. Adam: epsilon is added after (ours) or
    # before (sklearn) the bias correction. The loss curves differ by the L2 term's
    # estimate within an epoch (ours uses ||W||^2 at the epoch's ends).
    _same_as_sklearn(ours, theirs, 1e-12 if case != "adam" else 2e-3, 1e-3)
    if case == "sgd-adaptive":
        assert ours.n_iter_ < 60 and ours._learning_rate < 0.2
        assert ours._learning_rate == pytest.approx(theirs._optimizer.learning_rate)
    if target.startswith("regression"):
        assert_allclose(ours.predict(X), theirs.predict(X), atol=1e-3)
    else:
        assert_array_equal(ours.predict(X), theirs.predict(X))


def test_invscaling_rate_follows_samples_seen(ops, moons):
    X, y = moons
    est = MLPClassifier((4,), solver="sgd", learning_rate="invscaling",
                        learning_rate_init=0.5, power_t=0.25, max_iter=3, backend=ops.name,
                        random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est.fit(X, y)
    assert est.t_ == 3 * len(X)
    assert est._learning_rate == pytest.approx(0.5 / (est.t_ + 1) ** 0.25)
    # nncore's optimizer carries the rate in its own gradient scale (BCE: c = 1).
    assert est.model_.optimizer.lr == pytest.approx(est._learning_rate)


def test_adaptive_divides_by_five_then_stops(ops, moons):
    X, y = moons
    est = MLPClassifier((4,), solver="sgd", momentum=0.0, learning_rate="adaptive",
                        learning_rate_init=0.1, tol=10.0, n_iter_no_change=1, max_iter=200,
                        backend=ops.name, random_state=0, verbose=True)
    est.fit(X, y)
    # tol=10: after the first epoch none improves, so from epoch 3 on every second epoch
    # divides the rate by 5, until it is <= 1e-6 (0.1 / 5**8 = 2.56e-7, at epoch 17);
    # the next trigger (epoch 19) stops training.
    assert est._learning_rate == pytest.approx(0.1 / 5**8)
    assert est.n_iter_ == 19


def test_tol_convergence_and_convergence_warning(ops, moons):
    X, y = moons
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = MLPClassifier((8,), tol=1.0, n_iter_no_change=3, max_iter=50,
                            backend=ops.name, random_state=0).fit(X, y)
    assert est.n_iter_ == 5  # the first epoch sets best_loss_, then 4 > 3 misses
    assert est.best_loss_ == min(est.loss_curve_)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(4\) reached"):
        MLPClassifier((8,), max_iter=4, backend=ops.name, random_state=0).fit(X, y)


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_early_stopping_restores_the_best_weights(ops, estimator):
    X, y = nncore.make_moons(300, noise=0.35, seed=1)
    target = y if estimator is MLPClassifier else y + X[:, 1]
    est = estimator(hidden_layer_sizes=(64,), learning_rate_init=0.05, early_stopping=True,
                    n_iter_no_change=8, max_iter=300, backend=ops.name, random_state=0)
    seen = []
    score = est._validation_score

    def spy(model, out, tv, wv):
        value = score(model, out, tv, wv)
        seen.append((value, model.params.w.copy()))
        return value

    est._validation_score = spy
    est.fit(X, target)
    scores = [s for s, _ in seen]
    best = int(np.argmax(scores))
    assert est.validation_scores_ == scores and est.n_iter_ == len(scores) < 300
    assert best < len(scores) - 1  # training went on past the best epoch, then stopped
    assert est.best_validation_score_ == scores[best]
    assert est.best_loss_ is None
    assert_array_equal(est.model_.params.w, seen[best][1])


def test_early_stopping_split_is_stratified():
    X = np.arange(200, dtype=float).reshape(-1, 1)
    y = np.r_[np.zeros(180), np.ones(20)]
    est = MLPClassifier((2,), early_stopping=True, validation_fraction=0.1, max_iter=1,
                        random_state=0)
    for seed in range(5):  # the class ratio is kept, whatever the draw
        X_tr, t_tr, _, (_, t_val, _) = est._split(X, np.c_[y], None,
                                                  np.random.RandomState(seed))
        assert t_val.sum() == 2 and len(t_val) == 20 and len(X_tr) == len(t_tr) == 180


def test_early_stopping_and_partial_fit_are_exclusive(moons):
    X, y = moons
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])


def test_warm_start_continues(ops, moons):
    X, y = moons
    params = dict(hidden_layer_sizes=(16,), max_iter=10, backend=ops.name, random_state=0,
                  learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = MLPClassifier(warm_start=True, **params).fit(X, y)
        first = [W.copy() for W in warm.coefs_]
        curve = list(warm.loss_curve_)
        warm.fit(X, y)
        cold = MLPClassifier(**params).fit(X, y).fit(X, y)
    assert len(warm.loss_curve_) == 20 and warm.loss_curve_[:10] == curve
    assert warm.n_iter_ == 10 and warm.t_ == 20 * len(X)
    assert warm.loss_curve_[10] < curve[0]  # started from the trained weights
    assert not np.allclose(warm.coefs_[0], first[0])
    assert len(cold.loss_curve_) == 10 and cold.loss_curve_ == curve  # refit from scratch
    with pytest.raises(ValueError, match="warm_start can only be used"):
        warm.fit(X, np.where(y == 1, 2, y))
    warm.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        warm.fit(X, y)


@pytest.mark.parametrize("refit", ["fit", "partial_fit"])
def test_continuing_without_early_stopping_after_a_fit_with_it(moons, refit):
    # best_loss_ is None after an early-stopping fit; continuing without it used to
    # fail with a TypeError (None - tol), as it does in scikit-learn.
    X, y = moons
    est = MLPClassifier((8,), early_stopping=True, warm_start=True, max_iter=5,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        assert est.best_loss_ is None
        getattr(est.set_params(early_stopping=False), refit)(X, y)
    assert est.best_loss_ == min(est.loss_curve_[5:])


def test_partial_fit_is_fit_one_epoch_at_a_time(ops, moons):
    X, y = moons
    params = dict(hidden_layer_sizes=(8,), shuffle=False, random_state=0,
                  learning_rate_init=0.01, backend=ops.name)
    inc = MLPClassifier(**params)
    with pytest.raises(ValueError, match="classes must be passed"):
        inc.partial_fit(X, y)
    for _ in range(3):
        inc.partial_fit(X, y, classes=[0, 1])
    with pytest.warns(ConvergenceWarning):
        full = MLPClassifier(max_iter=3, **params).fit(X, y)
    assert inc.n_iter_ == 1 and inc.t_ == 3 * len(X) and len(inc.loss_curve_) == 3
    assert_allclose(inc.loss_curve_, full.loss_curve_)
    assert_allclose(inc.coefs_[0], full.coefs_[0])
    with pytest.raises(ValueError, match=r"not in `self\.classes_`"):
        inc.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="not the same as on last call"):
        inc.partial_fit(X, y, classes=[0, 1, 2])


def test_partial_fit_with_a_subset_of_the_classes(ops, moons):
    X, y = moons
    est = MLPClassifier((8,), backend=ops.name, random_state=0)
    est.partial_fit(X[y == 0], y[y == 0], classes=[0, 1, 2])
    assert_array_equal(est.classes_, [0, 1, 2])
    assert est.out_activation_ == "softmax" and est.n_outputs_ == 3
    est.partial_fit(X, y)
    assert est.predict_proba(X).shape == (len(X), 3)
    reg = MLPRegressor(hidden_layer_sizes=(8,), backend=ops.name, random_state=0)
    reg.partial_fit(X, X[:, 0]).partial_fit(X, X[:, 0])
    assert reg.t_ == 2 * len(X) and reg.predict(X).shape == (len(X),)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("labels", [["cat", "dog"], ["cat", "dog", "emu"], [-3, 7]])
def test_arbitrary_labels_and_probabilities(ops, moons, labels):
    X, y = moons
    y = (y + (X[:, 0] > 1.2)) % len(labels)
    y_named = np.asarray(labels)[y]
    est = MLPClassifier((16,), max_iter=300, learning_rate_init=0.02, backend=ops.name,
                        random_state=0).fit(X, y_named)
    assert_array_equal(est.classes_, sorted(labels))
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), len(labels)) and proba.dtype == np.float64
    assert_allclose(proba.sum(axis=1), 1)
    pred = est.predict(X)
    assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])
    assert_allclose(est.predict_log_proba(X), np.log(proba))
    assert est.score(X, y_named) > 0.9
    assert est.out_activation_ == ("logistic" if len(labels) == 2 else "softmax")
    assert est.n_outputs_ == (1 if len(labels) == 2 else len(labels))
    assert est.model_.loss == (nncore.BinaryCrossEntropy() if len(labels) == 2
                               else nncore.SoftmaxCrossEntropy())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multilabel(ops, moons):
    X, y = moons
    Y = np.c_[y, X[:, 0] > 0.5, X[:, 1] > 0]
    est = MLPClassifier((32,), max_iter=300, learning_rate_init=0.02, backend=ops.name,
                        random_state=0).fit(X, Y)
    assert_array_equal(est.classes_, [0, 1, 2])
    assert est.predict(X).shape == Y.shape and est.predict_proba(X).shape == Y.shape
    assert est.score(X, Y) > 0.8  # subset accuracy


def test_one_class_is_an_error():
    with pytest.raises(ValueError, match="only one class"):
        MLPClassifier().fit([[0.0], [1.0]], ["a", "a"])


def test_two_moons_like_sklearn(ops):
    X, y = nncore.make_moons(1000, noise=0.15, seed=0)
    X_tr, X_te, y_tr, y_te = nncore.train_test_split(X, y, test_fraction=0.3, seed=0)
    params = dict(hidden_layer_sizes=(32, 32), learning_rate_init=0.01, max_iter=60,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**params, backend=ops.name, dtype="float32").fit(X_tr, y_tr)
        theirs = sknn.MLPClassifier(**params).fit(X_tr, y_tr)
    assert ours.coefs_[0].dtype == np.float32
    assert ours.score(X_te, y_te) >= 0.97
    assert abs(ours.score(X_te, y_te) - theirs.score(X_te, y_te)) <= 0.02
    assert ours.loss_curve_[-1] == pytest.approx(theirs.loss_curve_[-1], rel=0.5, abs=0.02)


def test_pipeline_and_grid_search(ops, moons):
    X, y = moons
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=50, backend=ops.name,
                                                         learning_rate_init=0.02,
                                                         random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1],
                               "mlpclassifier__hidden_layer_sizes": [(4,), (16,)]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.8
    assert set(grid.best_params_) == {"mlpclassifier__alpha",
                                      "mlpclassifier__hidden_layer_sizes"}
    assert grid.predict(X).shape == (len(X),)
    reg = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), max_iter=200,
                                                       backend=ops.name,
                                                       learning_rate_init=0.02,
                                                       random_state=0))
    assert reg.fit(X, X[:, 0] ** 2).score(X, X[:, 0] ** 2) > 0.8


@pytest.mark.parametrize("dump,load", [(pickle.dumps, pickle.loads),
                                       (None, None)], ids=["pickle", "joblib"])
def test_pickle_then_partial_fit(ops, moons, tmp_path, dump, load):
    X, y = moons
    est = MLPClassifier((8,), max_iter=5, backend=ops.name, random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    before = est.predict_proba(X)
    if dump is None:
        joblib.dump(est, tmp_path / "est.joblib")
        copy = joblib.load(tmp_path / "est.joblib")
    else:
        copy = load(dump(est))
    assert copy.model_.ops.name == ops.name
    assert_array_equal(copy.predict_proba(X), before)
    copy.partial_fit(X, y)
    after = copy.predict_proba(X)
    assert not np.allclose(after, before)
    assert_array_equal(copy.coefs_[0], copy.model_.layers[0].W)  # views of the live model
    assert_array_equal(est.predict_proba(X), before)  # the original is untouched
    assert len(copy.loss_curve_) == 6


def test_dtype_and_backend(ops, moons):
    X, y = moons
    for X_in, dtype, expected in [(X, None, np.float64), (X.astype(np.float32), None,
                                                            np.float32),
                                  (X, "float32", np.float32), (X.astype(np.float32),
                                                               "float64", np.float64)]:
        est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, dtype=dtype, backend=ops.name)
        with pytest.warns(ConvergenceWarning):
            est.fit(X_in, y)
        assert est.coefs_[0].dtype == expected and est.predict(X).dtype == expected
        assert est.model_.ops.name == ops.name


def test_coefs_are_the_model_weights(moons):
    X, y = moons
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    assert not hasattr(MLPRegressor(), "coefs_")
    assert [c.shape for c in est.coefs_] == [(2, 4), (4, 1)]
    assert [b.shape for b in est.intercepts_] == [(4,), (1,)]
    assert est.n_layers_ == 3 and est.out_activation_ == "identity"
    est.coefs_ = [np.zeros_like(c) for c in est.coefs_]
    est.intercepts_ = [np.zeros_like(b) for b in est.intercepts_]
    assert_array_equal(est.predict(X), 0)


def test_invalid_parameters_are_sklearn_errors(moons):
    X, y = moons
    for bad in [dict(solver="newton"), dict(momentum=1.0), dict(activation="softmax"),
                dict(batch_size=0), dict(dtype="float16"), dict(backend="cuda"), dict(max_fun=0)]:
        with pytest.raises(ValueError, match=f"The '{next(iter(bad))}' parameter"):
            MLPClassifier(**bad).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)


def test_verbose_and_interrupt(moons, capsys, monkeypatch):
    X, y = moons
    est = MLPClassifier((4,), max_iter=3, verbose=True, random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")

    ops_type, calls = type(est.model_.ops), []
    train_epoch = ops_type.train_epoch

    def interrupt(self, *args):  # Ctrl-C during the third epoch's native call
        calls.append(None)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return train_epoch(self, *args)

    monkeypatch.setattr(ops_type, "train_epoch", interrupt)
    est.set_params(verbose=False)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est.fit(X, y)
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2 and est.t_ == 2 * len(X)
    assert est.predict(X).shape == (len(X),)


def test_diverging_training_is_an_error():
    X = np.array([[1e30], [-1e30], [1e30]])
    with pytest.raises(ValueError, match="non-finite parameter weights"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=1.0,
                     max_iter=3).fit(X, [1, 2, 3])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_no_hidden_layer(moons):
    X, y = moons
    est = MLPClassifier((), max_iter=200, learning_rate_init=0.05, random_state=0).fit(X, y)
    assert est.n_layers_ == 2 and len(est.coefs_) == 1
    assert 0.8 < est.score(X, y) < 0.97  # a straight line, not the moons
