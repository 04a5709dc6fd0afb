"""How the estimators train, besides ``_BaseMLP._fit``: what the stochastic solvers record
after each epoch (``EpochRecord``), and the "lbfgs" solver (``fit_lbfgs``).

"lbfgs" is scikit-learn's full-batch solver: one ``Sequential.fit`` with ``nncore.LBFGS``
(SciPy's L-BFGS-B on the flat parameter buffer, a loss-and-gradient evaluation one native
call), ``max_iter``, ``max_fun`` and ``tol`` as scikit-learn passes them to SciPy, and
scikit-learn's objective: its loss plus ``0.5 * alpha * ||W||^2 / n`` (``n``: the sum of
the sample weights). On nncore's scale (module ``_sklearn_base``: gradients ``c`` times
scikit-learn's) that is ``weight_decay = c * alpha / n``. As in scikit-learn there is no
``loss_curve_``, no early stopping and no ``partial_fit``; ``n_iter_`` and ``loss_`` are
set, and a run stopped by ``max_iter``/``max_fun`` warns ``ConvergenceWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from nncore._weights import varying
from nncore.callbacks import Callback, LambdaCallback
from nncore.losses import Loss
from nncore.optimizers import LBFGS
from nncore.training import DivergenceError

#: What a stochastic fit records and an "lbfgs" fit does not have (as in scikit-learn).
STOCHASTIC_ONLY = ("loss_curve_", "validation_scores_", "validation_loss_curve_",
                   "best_validation_score_", "best_loss_")
NON_FINITE = ("Solver produced non-finite parameter weights. The input data may contain "
              "large values and need to be preprocessed.")


class EpochRecord(Callback):
    """What scikit-learn records after an epoch: the loss on its scale, the validation score.

    Both go into the logs (``"sklearn_loss"``, ``"validation_score"``) for
    ``NoImprovementStopping``, and into ``losses``/``scores`` for the estimator.
    """

    def __init__(self, alpha: float, loss_scale: float, n_train: float, n_batches: int,
                 verbose: Any, val: tuple[Any, ...] | None,
                 score: Callable[..., float]) -> None:
        self.alpha, self.loss_scale, self.verbose = alpha, loss_scale, verbose
        self.n_train, self.n_batches, self.val, self.score = n_train, n_batches, val, score
        self.losses: list[float] = []
        self.scores: list[float] = []
        self.val_losses: list[float] = []

    def _sq_norm(self) -> float:
        w = self.model.params.w[: self.model.params.n_weights]
        return float(np.dot(w, w))

    def on_train_begin(self, model: Any) -> None:
        self.model = model
        self._sq = self._sq_norm()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        # sklearn adds 0.5 alpha ||W||^2 / rows to each batch's loss; the batches are
        # weighted by rows, so an epoch adds n_batches 0.5 alpha ||W||^2 / n. ||W||^2 is
        # taken as the mean of its values at the start and the end of the epoch.
        sq = self._sq_norm()
        penalty = 0.5 * self.alpha * self.n_batches * 0.5 * (self._sq + sq) / self.n_train
        self._sq = sq
        loss = float(logs["loss"]) * self.loss_scale + penalty
        self.losses.append(loss)
        logs["sklearn_loss"] = loss
        if self.verbose:
            print(f"Iteration {len(self.losses)}, loss = {loss:.8f}")
        if self.val is not None:
            X_val, t_val, w_val = self.val
            out = self.model.predict_outputs(X_val)  # one pass for the loss and the score
            # the same loss as loss_curve_, without the L2 term
            self.val_losses.append(self.loss_scale * self.model.loss(
                self.model.ops, out, t_val, np.empty_like(out), w_val))
            score = self.score(self.model, out, t_val, w_val)
            self.scores.append(score)
            logs["validation_score"] = score
            if self.verbose:
                print(f"Validation score: {score:f}")
        return None


def fit_lbfgs(est: Any, X: Any, targets: np.ndarray, loss: Loss,
              weights: np.ndarray | None) -> Any:
    """Train ``est.model_`` by L-BFGS on the full batch and set the fitted attributes."""
    for name in STOCHASTIC_ONLY:
        if name in vars(est):
            delattr(est, name)
    n_train = X.shape[0] * (1.0 if weights is None else float(weights.mean()))
    opt = LBFGS(max_iter=est.max_iter, max_fun=est.max_fun, tol=est.tol,
                weight_decay=est._grad_scale * est.alpha / n_train)
    hooks = [LambdaCallback(lambda epoch, logs: print(
        f"Iteration {epoch + 1}, loss = {logs['loss'] * est._loss_scale:.8f}"))
    ] if est.verbose else []
    model = est.model_
    try:
        model.fit(X, targets, optimizer=opt, loss=loss, verbose=0, callbacks=hooks,
                  sample_weight=varying(weights))
    except DivergenceError as exc:  # scikit-learn's own wording for this failure
        raise ValueError(NON_FINITE) from exc
    result = opt.last_result
    assert result is not None  # set by the fit that just returned
    w = model.params.w[: model.params.n_weights]
    sq = float(np.dot(w, w))
    data_loss = result["objective"] - 0.5 * opt.weight_decay * sq
    est.n_iter_ = result["n_iter"]
    est.loss_ = est._loss_scale * data_loss + 0.5 * est.alpha * sq / n_train
    model.optimizer = None  # nothing of L-BFGS carries over to a next fit
    if not result["converged"]:
        warnings.warn(
            f"lbfgs failed to converge after {result['n_iter']} iterations "
            f"({result['message']}). Increase the number of iterations (max_iter, max_fun) "
            "or scale the data.", ConvergenceWarning, stacklevel=4)
    return est
