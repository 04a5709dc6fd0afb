"""Losses on raw outputs (logits), each fused with its gradient in one ``Ops`` call.

A loss also knows how to read the user's targets (converted once per public call), how
to turn the network's outputs into predictions (class labels, or values), and into
probabilities (its output link: softmax or sigmoid) or means (``PoissonDeviance``: exp).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from nncore.backends.ops import Ops
from nncore.data import check_finite


def _numeric(name: str, y: Any) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"argument '{name}' must hold numbers, got dtype {arr.dtype}")
    return arr


def _mean(correct: np.ndarray, sample_weight: np.ndarray | None) -> float:
    """Fraction of True in ``correct`` (weighted); 0.0 when there is nothing to count."""
    if not len(correct):
        return 0.0
    if sample_weight is None:
        return float(np.mean(correct))
    total = float(sample_weight.sum())
    return float(np.dot(correct, sample_weight) / total) if total > 0 else 0.0


class Loss:
    """Base class: ``loss(ops, outputs, targets, doutputs) -> float``."""

    #: Name used in saved models and messages.
    name: ClassVar[str] = "loss"
    #: The fused kernel of ``Ops`` (and of training plans) that computes it.
    kernel: ClassVar[str] = ""
    #: True when the loss trains a classifier (labels, accuracy, ``predict_proba``).
    is_classifier: ClassVar[bool] = False
    #: True when the loss applies its own link to logits (last layer must be identity).
    takes_logits: ClassVar[bool] = False
    #: The activation that turns logits into probabilities (classifiers); the model file
    #: records it as the loss's link ("exp" for ``PoissonDeviance``, which applies it itself).
    link_activation: ClassVar[str] = "identity"
    #: False when a target standardisation (``Sequential.preprocessing``) cannot apply:
    #: the targets must keep their scale and sign (``PoissonDeviance``).
    scalable_targets: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def check_output_layer(self, n_outputs: int, activation: str) -> None:
        """Raise ``ValueError`` if the model's last layer cannot feed this loss."""
        if self.takes_logits and activation != "identity":
            raise ValueError(
                f"{type(self).__name__} takes logits and applies its own link, so the last "
                f"Dense layer must have activation='identity', not {activation!r}"
            )

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        """Convert and validate user targets ``y`` into the kernel's format."""
        raise NotImplementedError

    def __call__(self, ops: Ops, outputs: np.ndarray, targets: np.ndarray,
                 doutputs: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Return the mean loss (``sum w_i loss_i / sum w_i`` with ``sample_weight``,
        float64 per row) and write its gradient into ``doutputs``."""
        raise NotImplementedError

    def link(self, ops: Ops, outputs: np.ndarray) -> np.ndarray:
        """Map raw outputs to what the model reports: ``link_activation`` of the outputs
        (probabilities for classifiers, the outputs themselves otherwise)."""
        if self.link_activation == "identity":
            return outputs
        out = np.empty_like(outputs)
        ops.bias_act_forward(outputs, np.zeros(outputs.shape[1], outputs.dtype),
                             self.link_activation, out)
        return out

    def predict(self, ops: Ops, outputs: np.ndarray) -> np.ndarray:
        """Predictions from raw outputs: class labels for classifiers, values otherwise."""
        return outputs

    def accuracy(self, ops: Ops, outputs: np.ndarray, targets: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> float:
        """Fraction of correct predictions (classifiers only), weighted by
        ``sample_weight`` when given."""
        raise TypeError(f"{type(self).__name__} is not a classification loss")


class MSE(Loss):
    """Mean squared error, ``mean((outputs - y) ** 2)`` over samples and outputs.

    Targets: shape (n,) for one output unit, or (n, n_outputs).
    """

    name = "mse"
    kernel = "mse"

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        arr = _numeric("y", y)
        if arr.ndim == 1 and n_outputs == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != n_outputs:
            raise ValueError(
                f"argument 'y' must have shape (n_samples, {n_outputs})"
                + (" or (n_samples,)" if n_outputs == 1 else "")
                + f" for a model with {n_outputs} outputs, got {arr.shape}"
            )
        out = np.ascontiguousarray(arr, dtype=dtype)
        check_finite(out, "y", original=arr)
        return out

    def __call__(self, ops: Ops, outputs: np.ndarray, targets: np.ndarray,
                 doutputs: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        return ops.mse(outputs, targets, doutputs, sample_weight)

    def predict(self, ops: Ops, outputs: np.ndarray) -> np.ndarray:
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy on logits, for integer class labels ``0`` to ``C - 1``.

    The model's last layer has C >= 2 units and no activation; ``predict_proba`` applies
    the softmax.
    """

    name = "softmax_cross_entropy"
    kernel = "softmax_xent"
    link_activation = "softmax"
    is_classifier = True
    takes_logits = True

    def check_output_layer(self, n_outputs: int, activation: str) -> None:
        super().check_output_layer(n_outputs, activation)
        if n_outputs < 2:
            raise ValueError(
                "SoftmaxCrossEntropy needs a last layer of at least 2 units (one per class); "
                "for two classes with one unit use BinaryCrossEntropy"
            )

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        arr = _numeric("y", y)
        if arr.ndim != 1:
            raise ValueError(
                f"argument 'y' must be 1-D integer class labels, got shape {arr.shape}"
            )
        check_finite(arr, "y")
        labels = np.ascontiguousarray(arr, dtype=np.int64)
        if arr.dtype.kind == "f" and not np.array_equal(labels, arr):
            raise ValueError("argument 'y' must hold integer class labels, got fractions")
        if labels.size and (labels.min() < 0 or labels.max() >= n_outputs):
            raise ValueError(
                f"argument 'y' must hold class labels in 0..{n_outputs - 1} (the model has "
                f"{n_outputs} outputs), got values from {labels.min()} to {labels.max()}"
            )
        return labels

    def __call__(self, ops: Ops, outputs: np.ndarray, targets: np.ndarray,
                 doutputs: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        return ops.softmax_xent(outputs, targets, doutputs, sample_weight)

    def predict(self, ops: Ops, outputs: np.ndarray) -> np.ndarray:
        return outputs.argmax(axis=1)

    def accuracy(self, ops: Ops, outputs: np.ndarray, targets: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> float:
        return _mean(self.predict(ops, outputs) == targets, sample_weight)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on logits, for 0/1 labels (one output unit per label).

    Targets: shape (n,) for one unit, or (n, n_outputs) for several independent labels,
    with values in [0, 1]. ``predict_proba`` returns ``[P(0), P(1)]`` columns for one unit
    (as scikit-learn does) and the per-unit sigmoids otherwise.
    """

    name = "binary_cross_entropy"
    kernel = "sigmoid_bce"
    link_activation = "sigmoid"
    is_classifier = True
    takes_logits = True

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        arr = MSE().targets(y, n_outputs, dtype)
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(
                f"argument 'y' must hold 0/1 labels (values in [0, 1]), "
                f"got values from {arr.min()} to {arr.max()}"
            )
        return arr

    def __call__(self, ops: Ops, outputs: np.ndarray, targets: np.ndarray,
                 doutputs: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        return ops.sigmoid_bce(outputs, targets, doutputs, sample_weight)

    def link(self, ops: Ops, outputs: np.ndarray) -> np.ndarray:
        return self.probabilities(super().link(ops, outputs))

    @staticmethod
    def probabilities(p: np.ndarray) -> np.ndarray:
        """From per-unit sigmoids: ``[P(0), P(1)]`` columns for one unit, else as is."""
        return np.hstack([1 - p, p]) if p.shape[1] == 1 else p

    def predict(self, ops: Ops, outputs: np.ndarray) -> np.ndarray:
        labels = (outputs > 0).astype(np.int64)
        return labels[:, 0] if outputs.shape[1] == 1 else labels

    def accuracy(self, ops: Ops, outputs: np.ndarray, targets: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> float:
        pred = (outputs > 0).astype(targets.dtype)
        return _mean(np.all(pred == (targets > 0.5), axis=1), sample_weight)


class PoissonDeviance(Loss):
    """Poisson deviance with a log link, for counts (or any targets >= 0).

    The network's last layer (identity) outputs ``z = log(mu)``; the loss is the mean
    over samples and outputs of ``2 * (mu - y + y * log(y / mu))`` with ``mu = exp(z)``
    and ``0 log 0 = 0``: ``sklearn.metrics.mean_poisson_deviance(y, mu)``, 0 for a perfect
    fit. Its gradient is ``2 * (mu - y) / (n * n_outputs)``. ``predict`` returns ``mu``;
    ``predict_outputs`` the log-means ``z``. Targets: shape (n,) for one output unit, or
    (n, n_outputs), finite and >= 0. ``exp`` is not clipped: a diverging fit shows as an
    infinite loss (``DivergenceError``), not as a silently wrong gradient.
    """

    name = "poisson"
    kernel = "poisson"
    takes_logits = True
    link_activation = "exp"
    scalable_targets = False

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> np.ndarray:
        arr = MSE().targets(y, n_outputs, dtype)
        if arr.size and arr.min() < 0:
            raise ValueError(
                "argument 'y' must hold values >= 0 for the Poisson loss (counts), got "
                f"values from {arr.min()} to {arr.max()}"
            )
        return arr

    def __call__(self, ops: Ops, outputs: np.ndarray, targets: np.ndarray,
                 doutputs: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        return ops.poisson(outputs, targets, doutputs, sample_weight)

    def link(self, ops: Ops, outputs: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # exp overflows to inf, as in the loss
            return np.exp(outputs)

    def predict(self, ops: Ops, outputs: np.ndarray) -> np.ndarray:
        mu = self.link(ops, outputs)
        return mu[:, 0] if mu.shape[1] == 1 else mu


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (MSE, SoftmaxCrossEntropy, BinaryCrossEntropy, PoissonDeviance)
}


def get_loss(loss: Loss | type[Loss] | str) -> Loss:
    """Return a ``Loss`` from an instance, a subclass or one of the names in ``LOSSES``."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(
        f"argument 'loss' must be a Loss or one of {', '.join(map(repr, LOSSES))}, got {loss!r}"
    )
