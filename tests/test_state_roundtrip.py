"""Training state survives the trip between processes, bit for bit.

A model (or estimator) trained a little, sent through ``pickle``, ``copy.deepcopy``, a
``joblib`` file or a ``save(include_optimizer=True)`` checkpoint, and trained on must end
with exactly the weights of the same calls made without the trip: the optimizer's state
(velocity, moments, step count), the shuffling generator and the estimators'
per-iteration state (learning-rate schedule, convergence counters, best scores) travel.
"In place" means the same sequence of calls: ``fit`` restarts its batch order per call,
so ``fit(2) + fit(1)`` is compared with ``fit(2) + trip + fit(1)``, not with ``fit(3)``.
"""

from __future__ import annotations

import copy
import json
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import nncore
from nncore.io import CHECKPOINT_FORMAT_VERSION, FORMAT_VERSION, JSON_KEY, ModelFileError, load
from nncore.sklearn import MLPClassifier, MLPRegressor

X, Y = nncore.make_moons(120, noise=0.2, seed=1)
Y_REG = np.column_stack([X[:, 0] ** 2, X[:, 1]])

OPTIMIZERS: dict[str, Callable[[], nncore.Optimizer]] = {
    "sgd": lambda: nncore.SGD(lr=0.05, weight_decay=1e-3),
    "momentum": lambda: nncore.SGD(lr=0.05, momentum=0.9),
    "nesterov": lambda: nncore.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: nncore.Adam(lr=0.01, weight_decay=1e-3),
    "adamw": lambda: nncore.AdamW(lr=0.01),
}


def _pickle(obj: Any, tmp_path: Path) -> Any:
    return pickle.loads(pickle.dumps(obj))


def _deepcopy(obj: Any, tmp_path: Path) -> Any:
    return copy.deepcopy(obj)


def _joblib(obj: Any, tmp_path: Path) -> Any:
    joblib.dump(obj, tmp_path / "obj.joblib")
    return joblib.load(tmp_path / "obj.joblib")


TRIPS = {"pickle": _pickle, "deepcopy": _deepcopy, "joblib": _joblib}


def _model(backend: str, dtype: str = "float32") -> nncore.Sequential:
    return nncore.Sequential([nncore.Dense(8, "tanh"), nncore.Dense(2)], dtype=dtype,
                             backend=backend, seed=3, loss="softmax_cross_entropy")


def _fit(model: nncore.Sequential, epochs: int, optimizer: Any = None) -> None:
    model.fit(X, Y, epochs=epochs, batch_size=16, optimizer=optimizer, verbose=0)


# ---------------------------------------------------------------------- Sequential
@pytest.mark.parametrize("trip", TRIPS)
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_sequential_continues_exactly(ops: nncore.Ops, opt: str, trip: str,
                                      tmp_path: Path) -> None:
    model = _model(ops.name)
    _fit(model, 2, OPTIMIZERS[opt]())
    twin = TRIPS[trip](model, tmp_path)
    assert twin.optimizer is not model.optimizer and twin.ops.name == ops.name
    _fit(model, 1)
    _fit(twin, 1)
    np.testing.assert_array_equal(twin.params.w, model.params.w)
    assert twin.optimizer.get_config() == model.optimizer.get_config()


@pytest.mark.parametrize("opt", ["momentum", "adam"])
def test_the_comparison_sees_a_lost_state(ops: nncore.Ops, opt: str) -> None:
    # Guards the tests above: forgetting the state would show.
    model = _model(ops.name)
    _fit(model, 2, OPTIMIZERS[opt]())
    twin = pickle.loads(pickle.dumps(model))
    twin.optimizer.reset()
    _fit(model, 1)
    _fit(twin, 1)
    assert not np.array_equal(twin.params.w, model.params.w)


def test_an_optimizer_pickled_alone_starts_fresh(ops: nncore.Ops) -> None:
    model = _model(ops.name)
    _fit(model, 1, nncore.Adam())
    alone = pickle.loads(pickle.dumps(model.optimizer))
    assert alone.get_config() == model.optimizer.get_config()
    assert alone.get_state(model.params) is None
    assert model.optimizer.get_state(model.params)["step"] == 8  # 120 rows / 16
    shallow = copy.copy(model)  # shares the optimizer, which stays with the original
    assert shallow.optimizer is model.optimizer
    assert model.optimizer.get_state(model.params) is not None


# ---------------------------------------------------------------------- estimators
def _classifier(backend: str, **kw: Any) -> MLPClassifier:
    return MLPClassifier((8,), backend=backend, batch_size=16, learning_rate_init=0.02,
                         **kw)


ESTIMATORS: dict[str, Callable[[str], Any]] = {
    "clf-adam": lambda b: _classifier(b, random_state=np.random.RandomState(0)),
    "clf-momentum-invscaling": lambda b: _classifier(
        b, solver="sgd", nesterovs_momentum=False, learning_rate="invscaling", power_t=0.25,
        random_state=0),
    # tol so large that every epoch counts as "no improvement": the rate keeps dropping
    "clf-nesterov-adaptive": lambda b: _classifier(
        b, solver="sgd", learning_rate="adaptive", tol=1e9, n_iter_no_change=1,
        random_state=np.random.RandomState(1)),
    "reg-adam": lambda b: MLPRegressor(hidden_layer_sizes=(8,), backend=b, batch_size=16,
                                       random_state=2, learning_rate_init=0.02),
    "reg-nesterov-float32": lambda b: MLPRegressor(
        hidden_layer_sizes=(8, 4), solver="sgd", backend=b, batch_size=32, dtype="float32",
        alpha=1e-2, random_state=np.random.RandomState(3)),
}
STATE = ("n_iter_", "t_", "loss_", "loss_curve_", "best_loss_", "validation_scores_",
         "best_validation_score_", "_learning_rate", "_no_improvement_count")


def _same_estimators(est: Any, twin: Any) -> None:
    for a, b in zip(est.coefs_ + est.intercepts_, twin.coefs_ + twin.intercepts_,
                    strict=True):
        np.testing.assert_array_equal(b, a)
    for name in STATE:
        assert getattr(twin, name) == getattr(est, name), name
    np.testing.assert_array_equal(twin._best_weights, est._best_weights)


def _targets(name: str) -> np.ndarray:
    return Y_REG if name.startswith("reg") else Y


@pytest.mark.parametrize("trip", TRIPS)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_partial_fit_continues_exactly(ops: nncore.Ops, name: str, trip: str,
                                       tmp_path: Path) -> None:
    est, y = ESTIMATORS[name](ops.name), _targets(name)
    kw = {"classes": [0, 1]} if name.startswith("clf") else {}
    for _ in range(2):  # "adaptive" then travels with one epoch of no improvement counted
        est.partial_fit(X, y, **kw)
    assert est._no_improvement_count == 1 or not name.endswith("adaptive")
    twin = TRIPS[trip](est, tmp_path)
    assert twin._optimizer is twin.model_.optimizer  # one optimizer, as before the trip
    for _ in range(2):
        est.partial_fit(X, y)
        twin.partial_fit(X, y)
    _same_estimators(est, twin)


@pytest.mark.parametrize("trip", TRIPS)
@pytest.mark.parametrize("name", [*ESTIMATORS, "clf-adam-early-stopping"])
def test_warm_start_fit_continues_exactly(ops: nncore.Ops, name: str, trip: str,
                                          tmp_path: Path) -> None:
    if name == "clf-adam-early-stopping":
        est = _classifier(ops.name, early_stopping=True, random_state=4)
    else:
        est = ESTIMATORS[name](ops.name)
    est.set_params(warm_start=True, max_iter=3)
    y = _targets(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        twin = TRIPS[trip](est, tmp_path)
        est.fit(X, y)
        twin.fit(X, y)
    _same_estimators(est, twin)


# ---------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_checkpoint_continues_exactly(ops: nncore.Ops, opt: str, dtype: str,
                                      tmp_path: Path) -> None:
    model = _model(ops.name, dtype)
    _fit(model, 2, OPTIMIZERS[opt]())
    model.optimizer.lr *= 0.5  # as a schedule would: the current rate is saved
    twin = load(model.save(tmp_path / "ck", include_optimizer=True), backend=ops.name)
    assert repr(twin.optimizer) == repr(model.optimizer)
    _fit(model, 1)
    _fit(twin, 1)
    np.testing.assert_array_equal(twin.params.w, model.params.w)


def test_checkpoint_of_a_fresh_optimizer(tmp_path: Path) -> None:
    model = _model("numpy")
    _fit(model, 1, nncore.Adam())
    model.optimizer.reset()
    twin = load(model.save(tmp_path / "ck", include_optimizer=True), backend="numpy")
    assert twin.optimizer.get_state(twin.params) is None
    _fit(model, 1)
    _fit(twin, 1)
    np.testing.assert_array_equal(twin.params.w, model.params.w)


def test_default_save_holds_no_optimizer(tmp_path: Path) -> None:
    model = _model("numpy")
    _fit(model, 1, nncore.Adam())
    names, desc = _read(model.save(tmp_path / "m"))
    assert names == ["layer0.W", "layer0.b", "layer1.W", "layer1.b"]
    assert desc["format_version"] == FORMAT_VERSION == 1
    assert "optimizer" not in desc and "rng" not in desc
    assert load(tmp_path / "m.npz").optimizer is None
    with pytest.raises(ValueError, match="no optimizer"):
        _model("numpy").build(2).save(tmp_path / "x", include_optimizer=True)
    names, desc = _read(model.save(tmp_path / "ck", include_optimizer=True))
    assert names[-2:] == ["optimizer.m", "optimizer.v"]
    assert desc["format_version"] == CHECKPOINT_FORMAT_VERSION
    assert desc["optimizer"]["step"] == 8 and desc["rng"]["bit_generator"] == "PCG64"


def _read(path: Path) -> tuple[list[str], dict[str, Any]]:
    with np.load(path, allow_pickle=False) as npz:
        return [n for n in npz.files if n != JSON_KEY], json.loads(npz[JSON_KEY].tobytes())


def _opt(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def mutate(desc: dict[str, Any], arrays: dict[str, Any]) -> None:
        desc["optimizer"][key] = value
    return mutate


def _cfg(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def mutate(desc: dict[str, Any], arrays: dict[str, Any]) -> None:
        desc["optimizer"]["config"][key] = value
    return mutate


def _rng(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def mutate(desc: dict[str, Any], arrays: dict[str, Any]) -> None:
        target = desc["rng"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


TAMPERED: dict[str, tuple[Callable[[dict[str, Any], dict[str, Any]], Any], str]] = {
    "missing moment": (lambda d, a: a.pop("optimizer.m"), "missing ['optimizer.m.npy']"),
    "extra array": (lambda d, a: a.update(extra=a["optimizer.v"]), "unexpected"),
    "state without step": (_opt("step", None), "unexpected ['optimizer.m.npy'"),
    "short moment": (lambda d, a: a.update({"optimizer.v": a["optimizer.v"][1:]}), "shape"),
    "float64 moment": (lambda d, a: a.update({"optimizer.m": a["optimizer.m"].astype(float)}),
                       "dtype float64"),
    "object moment": (lambda d, a: a.update({"optimizer.m": a["optimizer.m"].astype(object)}),
                      "dtype object"),
    "unknown optimizer": (_opt("name", "rmsprop"), "unknown optimizer 'rmsprop'"),
    "optimizer not an object": (lambda d, a: d.update(optimizer=[1]), "'optimizer' must be"),
    "extra optimizer field": (_opt("code", "import os"), "'optimizer' must be"),
    "extra config": (_cfg("momentum", 0.9), "'config' must be"),
    "missing config": (lambda d, a: d["optimizer"]["config"].pop("eps"), "'config' must be"),
    "negative lr": (_cfg("lr", -1.0), "'lr' must be > 0"),
    "string lr": (_cfg("lr", "0.1"), "invalid 'lr'"),
    "bool beta": (_cfg("beta1", True), "invalid 'beta1'"),
    "huge eps": (_cfg("eps", "HUGE"), "invalid 'eps'"),  # 1e400 parses as infinity
    "beta of 1": (_cfg("beta2", 1.0), "'beta2' must be in [0, 1)"),
    "negative step": (_opt("step", -1), "'step' must be"),
    "float step": (_opt("step", 8.0), "'step' must be"),
    "no rng": (lambda d, a: d.pop("rng"), "missing ['rng']"),
    "other generator": (_rng(("bit_generator",), "MT19937"), "PCG64 state"),
    "even increment": (_rng(("state", "inc"), 2), "'inc' odd"),
    "state too large": (_rng(("state", "state"), 1 << 128), "2**128"),
    "string state": (_rng(("state", "state"), "1"), "2**128"),
    "bad has_uint32": (_rng(("has_uint32",), 2), "'has_uint32'"),
    "checkpoint fields in version 1": (lambda d, a: d.update(format_version=1),
                                       "unknown ['optimizer', 'rng']"),
    "sgd with a step count": (_opt("step", 5), "counts no steps"),
    "sgd with moments": (lambda d, a: a.update({"optimizer.m": a["optimizer.v"]}),
                         "unexpected ['optimizer.m.npy']"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_tampered_checkpoint_is_rejected(case: str, tmp_path: Path) -> None:
    model = _model("numpy")
    _fit(model, 1, nncore.SGD(momentum=0.5) if case.startswith("sgd") else nncore.Adam())
    with np.load(model.save(tmp_path / "ck", include_optimizer=True)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    desc = json.loads(arrays.pop(JSON_KEY).tobytes())
    mutate, fragment = TAMPERED[case]
    mutate(desc, arrays)
    bad = tmp_path / "bad.npz"
    text = json.dumps(desc).replace('"HUGE"', "1e400").encode()
    np.savez(bad, **{JSON_KEY: np.frombuffer(text, np.uint8)}, **arrays)
    with pytest.raises(ModelFileError) as info:
        load(bad)
    assert fragment in str(info.value), str(info.value)
