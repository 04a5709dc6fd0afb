"""``MLPRegressor(loss="poisson")`` and scikit-learn's signatures (issue 15).

scikit-learn's ``MLPRegressor`` has a ``loss`` parameter (since 1.7; first in 1.9's
signature): "squared_error" or "poisson", the Poisson deviance with a log link,
``predict`` = ``exp`` of the network's output. nncore's estimators take scikit-learn's signatures,
keyword-only where scikit-learn's are; with ``shuffle=False`` and SGD the Poisson
estimator reproduces scikit-learn's, loss curve (half deviance, constant terms
included) and validation scores too.
"""

from __future__ import annotations

import inspect
import pickle
import time
import warnings
from typing import Any

import numpy as np
import pytest
import sklearn
import sklearn.neural_network as sknn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_poisson_deviance
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from nncore.sklearn import MLPClassifier, MLPRegressor

SK_VERSION = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
HAS_LOSS = "loss" in inspect.signature(sknn.MLPRegressor).parameters  # scikit-learn >= 1.7
needs_sklearn_loss = pytest.mark.skipif(not HAS_LOSS, reason="scikit-learn < 1.7 has no "
                                        "MLPRegressor(loss=...)")
#: Our parameters scikit-learn lacks (documented as nncore's additions), and scikit-learn's
#: we lack (none since "lbfgs" and its max_fun).
ADDITIONS, MISSING = {"dtype", "backend", "n_threads", "dropout"}, set()


def _counts(n: int = 600, seed: int = 0, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Counts with a non-linear log-mean (sin of a feature), one or k targets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    eta = 0.3 + 0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.5 * np.sin(2 * X[:, 2])
    y = rng.poisson(np.exp(eta)).astype(float)
    return X, (y if k == 1 else np.c_[y, rng.poisson(np.exp(0.5 - 0.5 * X[:, 3]))])


# ---------------------------------------------------------------------- signatures
@pytest.mark.parametrize("ours,theirs", [(MLPRegressor, sknn.MLPRegressor),
                                         (MLPClassifier, sknn.MLPClassifier)])
def test_signature_is_sklearns(ours, theirs):
    """Shared parameters: same names, order, kinds (positional or keyword-only) and
    defaults; the differences are nncore's documented additions."""
    mine = inspect.signature(ours).parameters
    ref = inspect.signature(theirs).parameters
    additions = ADDITIONS | ({"class_weight"} if ours is MLPClassifier else set())
    assert set(mine) - set(ref) == additions and set(ref) - set(mine) == MISSING
    shared = [name for name in ref if name in mine]
    assert [name for name in mine if name in ref] == shared
    for name in shared:
        assert (mine[name].kind, mine[name].default) == (ref[name].kind, ref[name].default), name
    last = ["dtype", "backend", "n_threads", "dropout"] + (
        ["class_weight"] if ours is MLPClassifier else [])
    assert list(mine)[-len(last):] == last  # the additions come last
    for name in additions:
        assert f"{name} : " in ours.__doc__ and "nncore's addition" in ours.__doc__


@needs_sklearn_loss
def test_loss_is_the_first_positional_parameter():
    reg = MLPRegressor("poisson", (8,), "tanh")
    assert (reg.loss, reg.hidden_layer_sizes, reg.activation) == ("poisson", (8,), "tanh")
    assert sknn.MLPRegressor("poisson", (8,), "tanh").get_params() | {
        "dtype": None, "backend": None, "n_threads": None,
        "dropout": 0.0} == reg.get_params() | {"max_fun": 15000}
    with pytest.raises(TypeError):
        MLPRegressor("poisson", (8,), "tanh", "sgd")  # solver is keyword-only
    X, y = _counts(20)
    for est in (MLPRegressor((8,)), MLPRegressor(loss="absolute_error")):  # as scikit-learn
        with pytest.raises(ValueError, match="The 'loss' parameter of MLPRegressor must be "
                           "a str among"):
            est.fit(X, y)


# ---------------------------------------------------------------------- behaviour
def test_poisson_targets_and_outputs(ops):
    X, y = _counts(200)
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=30, batch_size=20,
                       learning_rate_init=0.01, random_state=0, backend=ops.name)
    with pytest.warns(ConvergenceWarning):
        reg.fit(X, y)
    assert reg.out_activation_ == "exp" and reg.model_.loss.name == "poisson"
    mu = reg.predict(X)
    assert mu.shape == (200,) and (mu > 0).all()
    assert_allclose(mu, np.exp(reg.model_.predict_outputs(X)[:, 0]), rtol=1e-6)
    assert reg.score(X, y) > 0.3  # R² of the means, as scikit-learn scores it (true means:
    # 0.36 on these counts)
    with pytest.raises(ValueError, match=r"loss='poisson' requires non-negative y\."):
        reg.fit(X, y - 1)
    with pytest.warns(ConvergenceWarning):
        reg.set_params(max_iter=2).fit(X, np.zeros_like(y))  # zero counts are counts
    squared = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, backend=ops.name)
    with pytest.warns(ConvergenceWarning):
        assert squared.fit(X, y - 1).out_activation_ == "identity"


def test_target_tags():
    assert get_tags(MLPRegressor(loss="poisson")).target_tags.positive_only
    assert not get_tags(MLPRegressor()).target_tags.positive_only
    assert get_tags(MLPRegressor(loss="poisson")).target_tags.multi_output


def test_partial_fit_and_pickle(ops):
    X, y = _counts(120, k=2)
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(6,), random_state=0,
                       backend=ops.name)
    reg.partial_fit(X, y).partial_fit(X, y)
    twin = pickle.loads(pickle.dumps(reg))
    assert_array_equal(twin.predict(X), reg.predict(X))
    for est in (reg, twin):
        est.partial_fit(X, y)
    assert_array_equal(twin.predict(X), reg.predict(X))
    assert reg.predict(X).shape == (120, 2) and len(reg.loss_curve_) == 3


# ---------------------------------------------------------------------- against scikit-learn
@needs_sklearn_loss
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_matches_sklearn_without_shuffling(ops, k, early_stopping):
    """SGD updates, loss curve (half deviance with its constants, summed over targets,
    plus the L2 term) and validation R² of scikit-learn's own Poisson MLP."""
    X, y = _counts(500, k=k)  # 450 training rows with early stopping: whole batches
    params = dict(loss="poisson", hidden_layer_sizes=(8, 5), activation="tanh",
                  solver="sgd", alpha=1e-3, batch_size=50, learning_rate_init=0.005,
                  max_iter=15, shuffle=False, random_state=1, early_stopping=early_stopping)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(**params, backend=ops.name).fit(X, y)
        theirs = sknn.MLPRegressor(**params).fit(X, y)
    assert (ours.n_iter_, ours.t_, ours.out_activation_) == (
        theirs.n_iter_, theirs.t_, theirs.out_activation_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_,
                    strict=True):
        assert_allclose(a, b, rtol=0, atol=1e-12)
    # the L2 term: ||W||² at the epoch's ends (ours), before each batch (scikit-learn)
    assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)
    if early_stopping:
        assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-10)
    assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10)


@needs_sklearn_loss
def test_deviance_close_to_sklearn(ops):
    """Default solver (Adam) and shuffling: the held-out mean Poisson deviance within 10 %
    of scikit-learn's, both well below the constant model's."""
    X, y = _counts(2000, seed=3)
    train, test = slice(0, 1500), slice(1500, None)
    params = dict(loss="poisson", hidden_layer_sizes=(16,), alpha=1e-4,
                  learning_rate_init=0.01, max_iter=200, random_state=0)
    deviance, seconds = {}, {}
    for name, est in (("nncore", MLPRegressor(**params, backend=ops.name)),
                      ("sklearn", sknn.MLPRegressor(**params))):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X[train], y[train])
        seconds[name] = time.perf_counter() - start
        deviance[name] = mean_poisson_deviance(y[test], est.predict(X[test]))
    null = mean_poisson_deviance(y[test], np.full(500, y[train].mean()))
    print(f"held-out mean Poisson deviance: {deviance} (constant model {null:.4f}); "
          f"fit seconds: {seconds}")
    assert deviance["nncore"] == pytest.approx(deviance["sklearn"], rel=0.1)
    assert deviance["nncore"] < 0.6 * null


# ---------------------------------------------------------------------- the estimator contract
POISSON = MLPRegressor(loss="poisson", max_iter=100, learning_rate_init=0.01)
#: scikit-learn's check draws y from make_regression without asking the positive_only tag.
EXPECTED_FAILURES = {"check_regressor_multioutput": "its y has negative values, which the "
                     "Poisson loss refuses (scikit-learn's own Poisson MLP does not check y)"}


def _poisson_on(backend: str) -> list[Any]:
    return [MLPRegressor(**POISSON.get_params()).set_params(backend=backend)]


if SK_VERSION >= (1, 6):  # tags and expected_failed_checks
    @pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
    @parametrize_with_checks(_poisson_on("numpy"),
                             expected_failed_checks=lambda est: EXPECTED_FAILURES)
    def test_check_estimator_poisson_numpy(estimator, check):
        check(estimator)

    @pytest.mark.cython
    @pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
    @parametrize_with_checks(_poisson_on("cython"),
                             expected_failed_checks=lambda est: EXPECTED_FAILURES)
    def test_check_estimator_poisson_cython(estimator, check):
        check(estimator)
