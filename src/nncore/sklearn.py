"""scikit-learn estimators backed by nncore: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in counterparts of ``sklearn.neural_network.MLPClassifier``/``MLPRegressor`` (the
solvers "lbfgs", "sgd" and "adam"), with scikit-learn's signatures (the regressor's
``loss``, "squared_error" or "poisson", first; keyword-only where scikit-learn's are),
parameter names, defaults, fitted attributes and training semantics, running on nncore's
kernels. Importing ``nncore``
does not import scikit-learn; importing this module does (``pip install nncore[sklearn]``).

>>> from nncore.sklearn import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from nncore._sklearn_base import _BaseMLP
from nncore._sklearn_docs import CLASS_WEIGHT_PARAMETER, LOSS_PARAMETER, doc
from nncore._weights import label_class_weights
from nncore.backends._checks import plain
from nncore.losses import MSE, BinaryCrossEntropy, Loss, PoissonDeviance, SoftmaxCrossEntropy
from nncore.model import Sequential

__all__ = ["MLPClassifier", "MLPRegressor"]


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = doc(
        """Multi-layer perceptron classifier trained by nncore (scikit-learn's API).

    Minimises the log-loss: binary problems use one logistic output unit and nncore's
    ``BinaryCrossEntropy``; multiclass problems a softmax output and
    ``SoftmaxCrossEntropy``; multilabel problems (``y`` a 0/1 indicator matrix) one
    logistic unit per label. Labels may be of any type (strings, integers).
""",
        """
    classes_ : ndarray or list of ndarray
        Class labels (for multilabel problems, the column indices).""",
        '"logistic" (binary, multilabel) or "softmax" (multiclass)',
        """
    Examples
    --------
    >>> import nncore
    >>> from nncore.sklearn import MLPClassifier
    >>> X, y = nncore.make_moons(300, seed=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300,
    ...                     learning_rate_init=0.01, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
""", last=CLASS_WEIGHT_PARAMETER)

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
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
                 n_threads: int | None = None, dropout: Any = 0.0,
                 class_weight: Any = None) -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, backend=backend, n_threads=n_threads,
            dropout=dropout)
        self.class_weight = class_weight

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train the network on ``(X, y)`` from fresh weights (or, with ``warm_start``, on).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multilabel problems.
        sample_weight : array-like of shape (n_samples,), optional
            A weight per sample, finite and >= 0: each batch's loss is
            ``sum w_i loss_i / sum w_i`` (times ``class_weight``'s).

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.
        """
        self._fit(X, y, incremental=False, sample_weight=sample_weight)
        return self

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X: Any, y: Any, classes: Any = None,
                    sample_weight: Any = None) -> MLPClassifier:
        """Run one epoch over ``(X, y)``, keeping the weights and the optimizer's state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels (a subset of ``classes``), or a 0/1 indicator matrix.
        classes : array-like of shape (n_classes,), optional
            All the classes across calls: required on the first call (unless ``fit``
            ran before), optional afterwards.
        sample_weight : array-like of shape (n_samples,), optional
            A weight per sample, as in ``fit``.

        Returns
        -------
        self : MLPClassifier
            The updated estimator.
        """
        first = not hasattr(self, "model_")
        if first and classes is None and not type_of_target(y).startswith("multilabel"):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first and classes is not None and not np.array_equal(
                unique_labels(classes), self.classes_):
            raise ValueError(f"`classes={plain(classes)!r}` is not the same as on last call "
                             f"to partial_fit, was: {plain(self.classes_)!r}")
        self._fit(X, y, incremental=True, classes=classes if first else None,
                  sample_weight=sample_weight)
        return self

    def _encode_targets(self, y: np.ndarray, first_pass: bool, incremental: bool,
                        dtype: np.dtype, classes: Any) -> tuple[np.ndarray, Loss, str]:
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if first_pass:
            binarizer = LabelBinarizer().fit(y if classes is None or multilabel else classes)
            if len(binarizer.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the "
                    f"data, but the data contains only one class: {plain(binarizer.classes_[0])!r}")
            self._label_binarizer, self.classes_ = binarizer, binarizer.classes_
        binarizer = self._label_binarizer
        if multilabel != (binarizer.y_type_ == "multilabel-indicator"):
            raise ValueError(f"y is {type_of_target(y)} but the classifier was fitted on "
                             f"{binarizer.y_type_} targets")
        labels = unique_labels(y)
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels, the classifier "
                                 f"{len(self.classes_)}")
        elif not (first_pass or incremental) and set(labels) != set(self.classes_):
            raise ValueError("warm_start can only be used where `y` has the same classes as "
                             f"in the previous call to fit. Previously got {self.classes_}, "
                             f"`y` has {labels}")
        elif np.setdiff1d(labels, self.classes_).size:
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                             f"{self.classes_}. 'y' has {labels}.")
        onehot = binarizer.transform(y)
        if binarizer.y_type_ == "multiclass":
            return (np.ascontiguousarray(onehot.argmax(axis=1), dtype=np.int64),
                    SoftmaxCrossEntropy(), "softmax")
        return np.ascontiguousarray(onehot, dtype=dtype), BinaryCrossEntropy(), "logistic"

    def _stratify(self, targets: np.ndarray) -> np.ndarray | None:
        if targets.ndim == 1:
            return targets
        return targets[:, 0].astype(np.int64) if targets.shape[1] == 1 else None

    def _validation_score(self, model: Sequential, out: np.ndarray, t: np.ndarray,
                          w: np.ndarray | None) -> float:
        if not np.isfinite(out).all():
            return float("nan")
        assert model.loss is not None
        return model.loss.accuracy(model.ops, out, t, w)

    def _class_weight_of(self, targets: np.ndarray) -> np.ndarray | None:
        if self.class_weight is None:
            return None
        if targets.ndim == 2 and targets.shape[1] > 1:
            raise ValueError("class_weight is not supported for multilabel targets")
        idx = targets if targets.ndim == 1 else targets[:, 0] > 0.5
        return label_class_weights(self.class_weight, self.classes_, idx)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels (an indicator matrix for multilabel problems).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            The most probable class of each sample.
        """
        proba = self._outputs(X, proba=True)
        if self._label_binarizer.y_type_ == "binary":
            proba = proba[:, 1]
        return self._label_binarizer.inverse_transform(proba)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1 (binary, multiclass); per-label probabilities for multilabel.
        """
        return self._outputs(X, proba=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of ``predict_proba``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multilabel": True}


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = doc(
        """Multi-layer perceptron regressor trained by nncore (scikit-learn's API).

    Minimises the squared error with nncore's ``MSE`` and an identity output layer, one
    unit per target (``y`` may have several columns); with ``loss="poisson"``, the Poisson
    deviance with a log link (nncore's ``PoissonDeviance``), for counts.
""",
        "",
        '"identity" ("squared_error") or "exp" ("poisson")',
        """
    Examples
    --------
    >>> import numpy as np
    >>> from nncore.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=500, learning_rate_init=0.01,
    ...                    random_state=0).fit(X, X[:, 0] ** 2)
    >>> reg.predict(X[:3]).shape
    (3,)
    >>> counts = np.random.default_rng(0).poisson(np.exp(X[:, 0]))
    >>> pois = MLPRegressor(loss="poisson", hidden_layer_sizes=(16,), max_iter=300,
    ...                     learning_rate_init=0.01, random_state=0).fit(X, counts)
    >>> bool((pois.predict(X) > 0).all())
    True
""", loss=LOSS_PARAMETER)

    _is_regressor = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: Any = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10,
                 max_fun: int = 15000, dtype: str | None = None, backend: str | None = None,
                 n_threads: int | None = None, dropout: Any = 0.0) -> None:
        # scikit-learn's order: loss first, then the two other positional parameters
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dtype=dtype, backend=backend, n_threads=n_threads,
            dropout=dropout)
        self.loss = loss

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train the network on ``(X, y)`` from fresh weights (or, with ``warm_start``, on).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : array-like of shape (n_samples,), optional
            A weight per sample, finite and >= 0: each batch's loss is
            ``sum w_i loss_i / sum w_i``.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.
        """
        self._fit(X, y, incremental=False, sample_weight=sample_weight)
        return self

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Run one epoch over ``(X, y)``, keeping the weights and the optimizer's state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : array-like of shape (n_samples,), optional
            A weight per sample, as in ``fit``.

        Returns
        -------
        self : MLPRegressor
            The updated estimator.
        """
        self._fit(X, y, incremental=True, sample_weight=sample_weight)
        return self

    def _encode_targets(self, y: np.ndarray, first_pass: bool, incremental: bool,
                        dtype: np.dtype, classes: Any) -> tuple[np.ndarray, Loss, str]:
        targets = np.ascontiguousarray(y.reshape(-1, 1) if y.ndim == 1 else y, dtype=dtype)
        if self.loss != "poisson":
            return targets, MSE(), "identity"
        if targets.size and targets.min() < 0:  # (validate_data has refused NaN and inf)
            raise ValueError("loss='poisson' requires non-negative y.")
        return targets, PoissonDeviance(), "exp"

    def _validation_score(self, model: Sequential, out: np.ndarray, t: np.ndarray,
                          w: np.ndarray | None) -> float:
        assert model.loss is not None
        out = model.loss.link(model.ops, out)  # exp for "poisson"
        if not np.isfinite(out).all():
            return float("nan")
        return float(r2_score(t, out, sample_weight=w))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            One column per target; 1-D for a single target. With ``loss="poisson"``, the
            predicted means ``exp(output)``.
        """
        out = self._outputs(X)  # checks that the estimator is fitted
        loss = self.model_.loss
        assert loss is not None
        out = loss.link(self.model_.ops, out)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # as scikit-learn's PoissonRegressor: the checks then draw y > 0
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multioutput": True, "requires_positive_y": self.loss == "poisson"}
