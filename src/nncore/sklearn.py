"""scikit-learn estimators backed by nncore: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in counterparts of ``sklearn.neural_network.MLPClassifier``/``MLPRegressor`` (the
stochastic solvers "sgd" and "adam"), with the same parameter names, defaults, fitted
attributes and training semantics, running on nncore's kernels. Importing ``nncore``
does not import scikit-learn; importing this module does (``pip install nncore[sklearn]``).

>>> from nncore.sklearn import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from nncore._sklearn_base import _BaseMLP
from nncore.backends._checks import plain
from nncore.losses import MSE, BinaryCrossEntropy, Loss, SoftmaxCrossEntropy
from nncore.model import Sequential

__all__ = ["MLPClassifier", "MLPRegressor"]

_PARAMETERS = """
    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Width of each hidden layer (``()``: no hidden layer).
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation of the hidden layers ("logistic" is nncore's "sigmoid").
    solver : {"sgd", "adam"}, default="adam"
        The optimizer (scikit-learn's "lbfgs" is not offered).
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights (not the biases), divided by the batch
        size as in scikit-learn: nncore's ``weight_decay = alpha / batch_size``.
    batch_size : int or "auto", default="auto"
        Rows per step; "auto" is ``min(200, n_samples)``. Clipped to the sample count.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Schedule of the SGD learning rate: constant; ``learning_rate_init / (t + 1) **
        power_t`` with ``t`` the samples seen, updated after each epoch; or divided by 5
        each time ``n_iter_no_change`` epochs bring no improvement by ``tol`` (training
        stops once it is <= 1e-6). Only used by "sgd".
    learning_rate_init : float, default=0.001
        Initial learning rate.
    power_t : float, default=0.5
        Exponent of "invscaling".
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Reshuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Draws the initial weights (scikit-learn's Glorot-uniform draws, weights and
        biases, in scikit-learn's order), the early-stopping split and the shuffling seed.
    tol : float, default=1e-4
        Training stops when the loss (or, with early stopping, the validation score) has
        not improved by ``tol`` for more than ``n_iter_no_change`` consecutive epochs.
    verbose : bool, default=False
        Print the loss after each epoch (as scikit-learn does).
    warm_start : bool, default=False
        Continue from the weights of the previous ``fit`` instead of starting afresh.
    momentum : float, default=0.9
        SGD momentum, in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov momentum for SGD (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified by class when
        every class has two samples or more), stop when its score (accuracy for the
        classifier, R² for the regressor) stops improving, and restore the weights of
        the best epoch.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping, in (0, 1).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's moment decay rates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's term added to the denominator.
    n_iter_no_change : int, default=10
        Epochs without improvement tolerated before stopping (or, "adaptive", before
        dividing the learning rate).
    dtype : {"float32", "float64"} or None, default=None
        Floating type of the weights and of the computation. None does what scikit-learn
        does: float32 data stays float32, anything else is trained in float64.
        "float32" is faster (half the memory traffic, twice the SIMD width).
    backend : {"auto", "cython", "numpy"} or None, default=None
        nncore's kernel backend; None reads ``NNCORE_BACKEND`` (default "auto").
"""

_ATTRIBUTES = """
    Attributes
    ----------{extra}
    loss_ : float
        Loss of the last epoch, on scikit-learn's scale (see Notes).
    loss_curve_ : list of float
        Loss of each epoch (all ``fit`` calls with ``warm_start``, all ``partial_fit``
        calls).
    best_loss_ : float or None
        Smallest value of ``loss_curve_``; None with early stopping.
    validation_scores_ : list of float or None
        Validation score of each epoch with early stopping, else None.
    best_validation_score_ : float or None
        Best validation score with early stopping, else None.
    coefs_ : list of ndarray
        ``coefs_[i]``, shape (n_in, n_out), the weights of layer ``i``: views into the
        network's parameters (assigning a list copies it in).
    intercepts_ : list of ndarray
        ``intercepts_[i]``, shape (n_out,), the biases of layer ``i``: views likewise.
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``).
    t_ : int
        Training samples seen by the solver (drives "invscaling").
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Width of the output layer.
    out_activation_ : str
        Output link in scikit-learn's names: {out}.
    model_ : nncore.Sequential
        The trained network (its last layer outputs the pre-link values).
"""

_NOTES = """
    Notes
    -----
    Training is one ``Sequential.fit`` call of up to ``max_iter`` epochs (one native call
    per epoch on the Cython backend); scikit-learn's per-iteration logic -- loss curve,
    convergence test, learning-rate schedules, early stopping -- runs in its per-epoch
    callbacks (``nncore.NoImprovementStopping``, ``nncore.SklearnSchedule``). The updates
    follow scikit-learn: its gradient, ``(output - y) / rows`` at the output plus ``alpha
    W / rows``, is nncore's loss gradient times a constant, which the learning rate (SGD)
    or epsilon (Adam) absorbs.

    A pickled, deep-copied or ``joblib``-dumped estimator carries everything training
    continues from: the weights, the optimizer's moments or velocity and step count, the
    learning-rate schedule, the convergence counters and best scores. ``partial_fit`` (or
    ``fit`` with ``warm_start``) after the round trip gives bit for bit the weights it
    gives without it, so moving an estimator between processes (e.g. dask-ml's
    ``Incremental``) does not restart Adam. As in scikit-learn, ``fit`` with
    ``warm_start`` keeps the weights but starts a new optimizer; ``partial_fit`` keeps both.

    ``loss_curve_`` follows scikit-learn's definitions, not nncore's: the regressor's
    squared error is HALF the mean square, ``0.5 * mean((y - prediction) ** 2)`` over
    samples and targets (nncore's ``MSE`` is the full mean square); the log-loss of
    multilabel problems is summed over the labels (nncore averages); and each batch's
    loss includes ``0.5 * alpha * ||W||² / batch_rows``. Differences that remain:

    - the loss reported for an epoch is the mean of the batch losses, as in scikit-learn,
      but its L2 term uses the mean of ``||W||²`` at the start and the end of the epoch
      rather than its value before each batch;
    - ``weight_decay`` uses the full batch size, also for a shorter last batch;
    - Adam adds epsilon to the bias-corrected ``sqrt(v_hat)`` (PyTorch's form); scikit-learn
      adds it to ``sqrt(v)``, which differs while ``sqrt(v)`` is comparable to epsilon;
    - SGD momentum is accumulated in gradient units (PyTorch's form), which equals
      scikit-learn's form while the learning rate is constant;
    - the shuffling order comes from nncore's generator (seeded from ``random_state``),
      so results match scikit-learn's exactly only with ``shuffle=False``;
    - sparse input, ``sample_weight`` and the "lbfgs" solver are not supported.
"""


def _doc(summary: str, extra_attributes: str, out: str, example: str) -> str:
    return (summary + _PARAMETERS + _ATTRIBUTES.format(extra=extra_attributes, out=out)
            + _NOTES + example)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = _doc(
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
    >>> clf = MLPClassifier((32,), max_iter=300, learning_rate_init=0.01,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
""")

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train the network on ``(X, y)`` from fresh weights (or, with ``warm_start``, on).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multilabel problems.

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.
        """
        self._fit(X, y, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
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
        self._fit(X, y, incremental=True, classes=classes if first else None)
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

    def _validation_score(self, model: Sequential, X: np.ndarray, t: np.ndarray) -> float:
        out = model.predict_outputs(X)
        if not np.isfinite(out).all():
            return float("nan")
        assert model.loss is not None
        return model.loss.accuracy(model.ops, out, t)

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
    __doc__ = _doc(
        """Multi-layer perceptron regressor trained by nncore (scikit-learn's API).

    Minimises the squared error with nncore's ``MSE`` and an identity output layer, one
    unit per target (``y`` may have several columns).
""",
        "",
        '"identity"',
        """
    Examples
    --------
    >>> import numpy as np
    >>> from nncore.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
    >>> reg = MLPRegressor((16,), max_iter=500, learning_rate_init=0.01,
    ...                    random_state=0).fit(X, X[:, 0] ** 2)
    >>> reg.predict(X[:3]).shape
    (3,)
""")

    _is_regressor = True

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train the network on ``(X, y)`` from fresh weights (or, with ``warm_start``, on).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.
        """
        self._fit(X, y, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """Run one epoch over ``(X, y)``, keeping the weights and the optimizer's state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.

        Returns
        -------
        self : MLPRegressor
            The updated estimator.
        """
        self._fit(X, y, incremental=True)
        return self

    def _encode_targets(self, y: np.ndarray, first_pass: bool, incremental: bool,
                        dtype: np.dtype, classes: Any) -> tuple[np.ndarray, Loss, str]:
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        return np.ascontiguousarray(targets, dtype=dtype), MSE(), "identity"

    def _validation_score(self, model: Sequential, X: np.ndarray, t: np.ndarray) -> float:
        out = model.predict_outputs(X)
        if not np.isfinite(out).all():
            return float("nan")
        return float(r2_score(t, out))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            One column per target; 1-D for a single target.
        """
        out = self._outputs(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multioutput": True}
