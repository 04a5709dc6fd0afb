"""The docstrings of ``nncore.sklearn``'s estimators, assembled from shared parts.

The two estimators share scikit-learn's parameters and most attributes and notes; only
their summaries, the regressor's ``loss`` and a few attribute lines differ.
"""

from __future__ import annotations

_PARAMETERS = """
    Parameters
    ----------{loss}
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Width of each hidden layer (``()``: no hidden layer).
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation of the hidden layers ("logistic" is nncore's "sigmoid").
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        The optimizer. "lbfgs" is SciPy's L-BFGS-B on the full batch (``nncore.LBFGS``),
        a loss-and-gradient evaluation per native call: for small data sets, where it
        converges faster and better; it has no learning rate, batches nor early stopping.
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights (not the biases), divided by the batch
        size as in scikit-learn: nncore's ``weight_decay = alpha / batch_size`` (for
        "lbfgs", the sample count).
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
        Maximum number of epochs ("lbfgs": of iterations).
    shuffle : bool, default=True
        Reshuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Draws the initial weights (scikit-learn's Glorot-uniform draws, weights and
        biases, in scikit-learn's order), the early-stopping split and the shuffling seed.
    tol : float, default=1e-4
        Training stops when the loss (or, with early stopping, the validation score) has
        not improved by ``tol`` for more than ``n_iter_no_change`` consecutive epochs;
        "lbfgs" stops once no gradient component exceeds ``tol`` (SciPy's ``gtol``).
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
    max_fun : int, default=15000
        "lbfgs" only: the most loss-and-gradient evaluations (its line searches take one
        or more per iteration).
    dtype : {"float32", "float64"} or None, default=None
        nncore's addition: floating type of the weights and of the computation. None does
        what scikit-learn does: float32 data stays float32, anything else is trained in
        float64. "float32" is faster (half the memory traffic, twice the SIMD width).
    backend : {"auto", "cython", "numpy"} or None, default=None
        nncore's addition: the kernel backend; None reads ``NNCORE_BACKEND`` (default
        "auto").
    n_threads : int or None, default=None
        nncore's addition: BLAS threads during ``fit``, ``partial_fit`` and ``predict*``
        (``Sequential(n_threads=...)``: set per call, restored after). None leaves the BLAS
        default. Give each worker 1 when several share the cores (``GridSearchCV(n_jobs=
        ...)``, Dask): BLAS threads that spin against each other can cost 10x and more.
    dropout : float or array-like of shape (n_layers - 2,), default=0.0
        nncore's addition (scikit-learn's MLP has none, its issue #6175): the fraction of
        each hidden layer's outputs dropped at random in every training step, the others
        scaled by ``1 / (1 - dropout)``; one rate for all hidden layers, or one per
        hidden layer, each in [0, 1). ``predict*`` and ``score`` never drop, nor does
        the validation score of early stopping. The masks are drawn by a counter-based
        generator keyed from ``random_state`` (``nncore.Dropout``), so a fit is
        reproducible and the same on both backends. 0 trains exactly as without it.
"""

#: The classifier's last parameter.
CLASS_WEIGHT_PARAMETER = """
    class_weight : dict, "balanced" or None, default=None
        nncore's addition (scikit-learn's MLP has none): a weight per class, multiplying
        ``sample_weight``. ``{label: weight}`` with labels as in ``y`` (classes left out
        weigh 1), or "balanced": ``n_samples / (n_classes * count(label))``. Not for
        multilabel targets."""

#: The regressor's first parameter (scikit-learn >= 1.7).
LOSS_PARAMETER = """
    loss : {"squared_error", "poisson"}, default="squared_error"
        The loss minimised. "squared_error": nncore's ``MSE`` with an identity output.
        "poisson": the Poisson deviance with a log link, nncore's ``PoissonDeviance``:
        the network's last layer outputs ``log(mu)``, ``predict`` returns ``mu =
        exp(output)`` (``out_activation_`` "exp"), and ``y`` must be >= 0 (counts, rates).
        As in scikit-learn, ``loss_curve_`` reports half the squared error and half the
        Poisson deviance."""

_ATTRIBUTES = """
    Attributes
    ----------{extra}
    loss_ : float
        Loss of the last epoch, on scikit-learn's scale (see Notes); "lbfgs": the
        objective at the final weights, L2 term included.
    loss_curve_ : list of float
        Loss of each epoch (all ``fit`` calls with ``warm_start``, all ``partial_fit``
        calls). Not set by "lbfgs", nor the four attributes below.
    best_loss_ : float or None
        Smallest value of ``loss_curve_``; None with early stopping.
    validation_scores_ : list of float or None
        Validation score of each epoch with early stopping, else None.
    validation_loss_curve_ : list of float or None
        nncore's addition: the loss on the held-out part after each epoch with early
        stopping (on ``loss_curve_``'s scale, without the L2 term, weighted like the
        training loss), else None.
    best_validation_score_ : float or None
        Best validation score with early stopping, else None.
    coefs_ : list of ndarray
        ``coefs_[i]``, shape (n_in, n_out), the weights of layer ``i``: views into the
        network's parameters (assigning a list copies it in).
    intercepts_ : list of ndarray
        ``intercepts_[i]``, shape (n_out,), the biases of layer ``i``: views likewise.
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``; "lbfgs": iterations).
    t_ : int
        Training samples seen by the solver (drives "invscaling").
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape ``(n_features_in_,)``
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
    samples and targets (nncore's ``MSE`` is the full mean square); its Poisson loss is
    HALF the deviance, constant terms included, averaged over samples and summed over
    targets, ``sum_j mean_i(mu - y + y log(y / mu))`` (nncore's ``PoissonDeviance`` is the
    full deviance averaged over both); the log-loss of multilabel problems is summed over
    the labels (nncore averages); and each batch's loss includes ``0.5 * alpha * ||W||² /
    batch_rows``. Differences that remain:

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
    - with ``sample_weight``, the L2 term is divided by the batch size times the mean
      weight (scikit-learn divides it by each batch's weight sum: the same for full
      batches and for batches of equal weight);
    - sparse ``X`` (any scipy.sparse format; CSR is used) trains without densifying:
      the rows of each batch, or the first layer as a sparse product
      (``nncore.backends.sparse``);
    - "lbfgs" is stopped by SciPy's tests (``max_iter``, ``max_fun``, ``tol`` as its
      ``gtol``), as in scikit-learn; the iterations' path differs in rounding only
      (float32 models evaluate in float32; SciPy iterates in float64), and
      ``partial_fit`` does not exist for it (``hasattr`` is False).
"""


def doc(summary: str, extra_attributes: str, out: str, example: str, loss: str = "",
        last: str = "") -> str:
    """An estimator's docstring: summary, parameters (``loss`` first and ``last`` last if
    given), attributes, notes, examples."""
    return (summary + _PARAMETERS.replace("{loss}", loss).rstrip("\n") + last + "\n"
            + _ATTRIBUTES.format(extra=extra_attributes, out=out) + _NOTES + example)
