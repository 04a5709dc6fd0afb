"""The machinery behind ``nncore.sklearn``: scikit-learn's MLP semantics on ``Sequential``.

``_BaseMLP.fit`` validates the data with scikit-learn's utilities, builds an
``nncore.Sequential`` (hidden layers with the activation and dropout, an identity output
layer) whose weights are drawn as scikit-learn draws them, and trains it with ONE
``model.fit(epochs=max_iter)`` call. What scikit-learn does between two iterations runs in
three callbacks of that call, made afresh for each ``fit``/``partial_fit`` from the
estimator's state and read back into it afterwards: ``EpochRecord`` (the loss curve on
scikit-learn's scale, the validation score), ``nncore.plateau.NoImprovementStopping`` (the
``tol``/``n_iter_no_change`` test, early stopping's best weights) and, for "sgd",
``nncore.plateau.SklearnSchedule`` (the ``invscaling``/``adaptive`` rates).

Scales. scikit-learn's gradient at the output is ``(prediction - y) / batch_rows`` for
every loss; nncore's fused losses average over the outputs as well, and its MSE is not
halved. With ``c`` the ratio (nncore / scikit-learn) of the gradients, we train with
SGD's ``lr / c`` and Adam's ``eps * c``, and ``weight_decay = c * alpha / batch_size``,
which makes the updates those of scikit-learn (exactly so for SGD; see the estimators'
Notes for Adam). ``loss_curve_`` is reported on scikit-learn's scale.
"""

from __future__ import annotations

import warnings
from itertools import pairwise
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d

from nncore._sklearn_fit import NON_FINITE, EpochRecord, fit_lbfgs
from nncore._weights import combined_weights, varying
from nncore.layers import mlp_layers
from nncore.losses import Loss
from nncore.model import Sequential
from nncore.optimizers import SGD, Adam, Optimizer
from nncore.plateau import NoImprovementStopping, SklearnSchedule
from nncore.training import DivergenceError

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6
    _sk_validate_data = None

#: scikit-learn's activation names -> nncore's.
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
#: nncore loss name -> (gradient ratio c, loss-curve factor), as functions of n_outputs.
_SCALES = {
    "mse": lambda k: (2.0 / k, 0.5),                      # sklearn: half the mean square
    "binary_cross_entropy": lambda k: (1.0 / k, float(k)),  # sklearn: summed over outputs
    "softmax_cross_entropy": lambda k: (1.0, 1.0),
    "poisson": lambda k: (2.0 / k, 0.5 * k),            # sklearn: half, summed over outputs
}


def validate_data(estimator: BaseEstimator, X: Any, y: Any = "no_validation",
                  **kwargs: Any) -> Any:
    """scikit-learn's ``validate_data`` (>= 1.6), or ``BaseEstimator._validate_data``."""
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, y, **kwargs)
    return estimator._validate_data(X, y, **kwargs)  # pragma: no cover


class _BaseMLP(BaseEstimator):
    """Shared by ``MLPClassifier`` and ``MLPRegressor``; see their docstrings."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"sgd", "adam", "lbfgs"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        # nncore's SGD needs momentum < 1 (scikit-learn also accepts 1).
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"}), None],
        "backend": [StrOptions({"auto", "cython", "numpy"}), None],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    }

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10,
                 max_fun: int = 15000, dtype: str | None = None, backend: str | None = None,
                 n_threads: int | None = None, dropout: Any = 0.0) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.backend = backend
        self.n_threads = n_threads
        self.dropout = dropout

    # ------------------------------------------------------------------ subclass hooks
    _is_regressor: ClassVar[bool] = False

    def _encode_targets(self, y: np.ndarray, first_pass: bool, incremental: bool,
                        dtype: np.dtype, classes: Any) -> tuple[np.ndarray, Loss, str]:
        """Targets in the nncore loss's format, the loss, and ``out_activation_``."""
        raise NotImplementedError

    def _stratify(self, targets: np.ndarray) -> np.ndarray | None:
        """Labels to stratify the early-stopping split on (None: no stratification)."""
        return None

    # ------------------------------------------------------------------ fitted state
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _views(self, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
        if not hasattr(self, "model_"):
            raise AttributeError(f"'{name}' is not available before fit")
        params = self.model_.params
        assert params is not None  # model_ is built by _initialize
        return params.views(params.w)

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, ``coefs_[i]`` of shape (n_in, n_out): views into ``model_``."""
        return [W for W, _ in self._views("coefs_")]

    @coefs_.setter
    def coefs_(self, value: list[Any]) -> None:
        self.model_.set_weights(list(zip(value, self.intercepts_, strict=True)))

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, ``intercepts_[i]`` of shape (n_out,): views into ``model_``."""
        return [b for _, b in self._views("intercepts_")]

    @intercepts_.setter
    def intercepts_(self, value: list[Any]) -> None:
        self.model_.set_weights(list(zip(self.coefs_, value, strict=True)))

    # ------------------------------------------------------------------ fitting
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if any(int(s) != s or s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _initialize(self, n_features: int, hidden: list[int], n_outputs: int,
                    dtype: np.dtype, rs: np.random.RandomState) -> None:
        """Build ``model_`` with scikit-learn's (Glorot) initialisation and reset state."""
        layers = mlp_layers(hidden, ACTIVATIONS[self.activation], n_outputs, self.dropout)
        model = Sequential(layers, dtype=dtype, backend=self.backend, seed=0)
        model.build(n_features)
        units = [n_features, *hidden, n_outputs]
        factor = 2.0 if self.activation == "logistic" else 6.0
        weights = []
        for fan_in, fan_out in pairwise(units):
            bound = np.sqrt(factor / (fan_in + fan_out))
            W = rs.uniform(-bound, bound, (fan_in, fan_out))
            weights.append((W, rs.uniform(-bound, bound, fan_out)))
        model.set_weights(weights)
        # the dropout masks' key: drawn after the weights, and only with dropout
        model.dropout_seed = int(rs.randint(2**31 - 1)) if any(r.dropout for r in layers) else 0
        self.model_ = model
        self.n_iter_, self.t_ = 0, 0
        self.n_layers_, self.n_outputs_ = len(units), n_outputs
        self._optimizer: Optimizer | None = None
        assert model.params is not None  # built above
        self._best_weights = model.params.w.copy()
        self.loss_curve_: list[float] = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_: list[float] | None = []
            self.validation_loss_curve_: list[float] | None = []
            self.best_validation_score_: float | None = -np.inf
            self.best_loss_: float | None = None
        else:
            self.best_loss_, self.validation_scores_, self.best_validation_score_ = (
                np.inf, None, None)
            self.validation_loss_curve_ = None

    def _fit(self, X: Any, y: Any, incremental: bool, classes: Any = None,
             sample_weight: Any = None) -> _BaseMLP:
        self._validate_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "model_") or not (self.warm_start or incremental)
        if first_pass:
            dtype: Any = [np.float64, np.float32] if self.dtype is None else self.dtype
        else:
            dtype = self.model_.dtype
        X, y = validate_data(self, X, y, multi_output=True, dtype=dtype, reset=first_pass,
                             y_numeric=self._is_regressor, accept_sparse="csr")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        targets, loss, out_activation = self._encode_targets(y, first_pass, incremental,
                                                             X.dtype, classes)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        weights = combined_weights(sample_weight, X.shape[0], self._class_weight_of(targets))
        n_outputs = targets.shape[1] if targets.ndim == 2 else len(self.classes_)
        rs = check_random_state(self.random_state)
        if first_pass:
            self._initialize(X.shape[1], hidden, n_outputs, X.dtype, rs)
        elif [lay.get_config() for lay in self.model_.layers] != [
                lay.get_config() for lay in mlp_layers(
                    hidden, ACTIVATIONS[self.activation], n_outputs, self.dropout)]:
            raise ValueError(
                "warm_start/partial_fit: hidden_layer_sizes, activation, dropout and the number "
                f"of outputs must stay those of the fitted model ({self.model_!r})")
        self.out_activation_ = out_activation
        self.model_.n_threads = self.n_threads  # as set now (set_params between fits)
        self._grad_scale, self._loss_scale = _SCALES[loss.name](n_outputs)
        if self.solver == "lbfgs":  # full batch, no early stopping (as in scikit-learn)
            return fit_lbfgs(self, X, targets, loss, weights)
        if self.early_stopping:
            X, targets, weights, val = self._split(X, targets, weights, rs)
            if self.validation_scores_ is None:  # warm start after a fit without it
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
                self.validation_loss_curve_ = []
        else:
            val = None
            if self.best_loss_ is None:  # warm start after a fit with early stopping
                self.best_loss_ = np.inf
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else int(np.clip(self.batch_size, 1, n))
        if self.batch_size != "auto" and self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped", stacklevel=3)
        if not incremental or self._optimizer is None:
            self._optimizer = self._new_optimizer()
        opt = self._optimizer
        assert isinstance(opt, (SGD, Adam))  # made by _new_optimizer
        # the L2 term on nncore's scale: scikit-learn divides it by each batch's weight sum
        w_mean = 1.0 if weights is None else float(weights.mean())
        opt.weight_decay = self.alpha / (batch * w_mean) * self._grad_scale
        record = EpochRecord(self.alpha, self._loss_scale, n * w_mean, -(-n // batch),
                              self.verbose, val, self._validation_score)
        # scikit-learn's learning_rate applies to "sgd" only; the schedule keeps the rate on
        # scikit-learn's scale and puts it on the optimizer divided by c.
        schedule = SklearnSchedule(
            self.learning_rate, samples_per_epoch=n, lr_init=self.learning_rate_init,
            power_t=self.power_t, lr=self._learning_rate, samples_seen=self.t_,
            scale=self._grad_scale) if self.solver == "sgd" else None
        # With early stopping the test watches the validation score and keeps the best
        # weights; without, the training loss. "adaptive" turns a plateau into a lower rate.
        es = val is not None
        stop = NoImprovementStopping(
            "validation_score" if es else "sklearn_loss", mode="max" if es else "min",
            tol=self.tol, patience=self.n_iter_no_change, restore_best_weights=es,
            on_plateau=schedule.reduce if schedule else None, verbose=bool(self.verbose),
            name="Validation score" if es else "Training loss",
            best=self.best_validation_score_ if es else self.best_loss_,
            wait=self._no_improvement_count, best_weights=self._best_weights if es else None)
        seed = int(rs.randint(np.iinfo(np.int32).max)) if self.shuffle else None
        interrupted = False
        try:
            self.model_.fit(X, targets, epochs=1 if incremental else self.max_iter,
                            batch_size=batch, optimizer=opt, loss=loss, seed=seed,
                            shuffle=self.shuffle, verbose=0, sample_weight=varying(weights),
                            callbacks=[record, *([schedule] if schedule else []), stop])
        except KeyboardInterrupt:
            interrupted = True
            warnings.warn("Training interrupted by user.", stacklevel=3)
        except DivergenceError as exc:  # scikit-learn's own wording for this failure
            raise ValueError(NON_FINITE) from exc
        finally:  # the completed epochs count, also after an interrupt or a divergence
            self._read_back(n, record, stop, schedule)
        if (not (interrupted or incremental or stop.stopped_epoch is not None)
                and self.n_iter_ == self.max_iter):
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)
        params = self.model_.params
        assert params is not None
        if self.early_stopping:  # stop's on_train_end did it too, unless interrupted
            params.w[...] = self._best_weights
        if not np.isfinite(params.w).all():
            raise ValueError(NON_FINITE)
        return self

    def _stochastic(self) -> bool:
        """``partial_fit`` exists for the stochastic solvers only (``available_if``)."""
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _new_optimizer(self) -> Optimizer:
        self._learning_rate = float(self.learning_rate_init)
        if self.solver == "sgd":
            return SGD(lr=self.learning_rate_init, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        return Adam(lr=self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2,
                    eps=self.epsilon * self._grad_scale)

    def _read_back(self, n: int, record: EpochRecord, stop: NoImprovementStopping,
                   schedule: SklearnSchedule | None) -> None:
        """Set the fitted attributes from the callbacks of the ``fit`` that just ran."""
        self.n_iter_ = len(record.losses)
        self.t_ += n * self.n_iter_
        if record.losses:
            self.loss_ = record.losses[-1]
        self.loss_curve_ += record.losses
        if record.val is not None:
            assert self.validation_scores_ is not None  # set by _fit with early stopping
            self.validation_scores_ += record.scores
            self.validation_loss_curve_ = [*(getattr(self, "validation_loss_curve_", None) or []),
                                           *record.val_losses]
            self.best_validation_score_ = stop.best
            self._best_weights = stop.best_weights
        else:
            self.best_loss_ = stop.best
        self._no_improvement_count = stop.wait
        if schedule is not None:
            assert schedule.lr is not None  # given by _fit
            self._learning_rate = schedule.lr

    def _split(self, X: np.ndarray, targets: np.ndarray, weights: np.ndarray | None,
               rs: np.random.RandomState) -> tuple[Any, ...]:
        """Hold out ``validation_fraction`` (stratified for classes when possible), the
        samples' weights with them: ``X, targets, weights, (X_val, t_val, w_val)``."""
        stratify = self._stratify(targets)
        if stratify is not None:
            counts = np.bincount(stratify)
            n_val = int(np.ceil(self.validation_fraction * X.shape[0]))
            if counts[counts > 0].min() < 2 or not (
                    np.count_nonzero(counts) <= n_val <= X.shape[0] - np.count_nonzero(counts)):
                stratify = None
        w = np.ones(X.shape[0]) if weights is None else weights
        X_tr, X_val, t_tr, t_val, w_tr, w_val = train_test_split(
            X, targets, w, random_state=rs, test_size=self.validation_fraction,
            stratify=stratify)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        if weights is None:
            return X_tr, t_tr, None, (X_val, t_val, None)
        if not (w_tr.sum() > 0 and w_val.sum() > 0):
            raise ValueError("sample_weight: the training or the validation part has weight "
                             "0 for every sample")
        return X_tr, t_tr, w_tr, (X_val, t_val, w_val)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # scipy.sparse X: CSR, never densified
        return tags

    def _class_weight_of(self, targets: np.ndarray) -> np.ndarray | None:
        """Per-sample class weights (``MLPClassifier(class_weight=...)``), or None."""
        return None

    def _validation_score(self, model: Sequential, out: np.ndarray, t: np.ndarray,
                          w: np.ndarray | None) -> float:
        """Accuracy (classifier) or R² (regressor) of the network's raw outputs ``out`` on
        encoded validation targets, weighted by ``w`` unless None."""
        raise NotImplementedError

    def _outputs(self, X: Any, proba: bool = False) -> np.ndarray:
        """Validate ``X`` and run the network: raw outputs, or probabilities."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.model_.dtype, accept_sparse="csr")
        return self.model_.predict_proba(X) if proba else self.model_.predict_outputs(X)
