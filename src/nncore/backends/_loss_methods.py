"""The fused loss methods of ``Ops``: each loss with its gradient in one call.

Mixed into ``Ops`` (``nncore.backends.ops``) like ``PlanMethods``: each public method
validates its arguments and calls a private hook that ``NumpyOps`` and ``CythonOps``
implement, with ``rw``: None, or the per-row multipliers ``w n / sum(w)`` of the
checked ``sample_weight`` (the loss is then the mean of ``rw_i loss_i``).
"""

from __future__ import annotations

import numpy as np

from nncore.backends import _checks


def _elementwise(op: str, z: tuple[str, np.ndarray], y: np.ndarray,
                 dz: tuple[str, np.ndarray], sample_weight: np.ndarray | None
                 ) -> np.ndarray | None:
    """The checks of an element-wise loss (inputs ``z``, targets ``y``, gradient ``dz``,
    each a (name, array) pair but y); returns the kernels' row multipliers or None."""
    (zn, za), (dn, da) = z, dz
    _checks.floats(op, (dn,), **{zn: (za, 2), "y": (y, 2), dn: (da, 2)})
    _checks.shape(op, "y", y, za.shape)
    _checks.shape(op, dn, da, za.shape)
    _checks.no_alias(op, dn, da, zn, za, allow_same=True)
    _checks.no_alias(op, dn, da, "y", y, allow_same=False)
    return _checks.row_scale(_checks.sample_weight(op, sample_weight, za.shape[0]))


class LossMethods:
    """``softmax_xent``, ``sigmoid_bce``, ``mse`` and ``poisson``; mixed into ``Ops``."""

    def softmax_xent(self, logits: np.ndarray, labels: np.ndarray, dlogits: np.ndarray,
                     sample_weight: np.ndarray | None = None) -> float:
        """Softmax cross-entropy on logits, fused with its gradient (log-sum-exp stable).

        Parameters
        ----------
        logits : ndarray, shape (n, C)
            IN: raw scores.
        labels : ndarray of int64, shape (n,)
            IN: class indices in ``[0, C)``; any other value raises ``ValueError`` before
            anything is written.
        dlogits : ndarray, shape (n, C)
            OUT: ``(softmax(logits) - onehot(labels)) / n``. May be ``logits`` itself.
        sample_weight : ndarray of float64, shape (n,), optional
            IN: a weight per row, finite, >= 0, not all 0. The loss is then
            ``sum_i w_i loss_i / sum_i w_i`` and row i's gradient is scaled by
            ``w_i n / sum_i w_i`` (a weight of 0: a zero gradient row).

        Returns
        -------
        float
            Mean over the batch of ``logsumexp(logits_i) - logits_i[labels_i]``
            (0.0 for an empty batch).
        """
        op = "softmax_xent"
        _checks.floats(op, ("dlogits",), logits=(logits, 2), dlogits=(dlogits, 2))
        _checks.labels(op, "labels", labels, logits.shape[0])
        _checks.shape(op, "dlogits", dlogits, logits.shape)
        _checks.no_alias(op, "dlogits", dlogits, "logits", logits, allow_same=True)
        rw = _checks.row_scale(_checks.sample_weight(op, sample_weight, logits.shape[0]))
        return self._softmax_xent(logits, labels, dlogits, rw)

    def sigmoid_bce(self, logits: np.ndarray, y: np.ndarray, dlogits: np.ndarray,
                    sample_weight: np.ndarray | None = None) -> float:
        """Binary cross-entropy on logits, fused with its gradient.

        Parameters
        ----------
        logits : ndarray, shape (n, k)
            IN: raw scores, one per binary target.
        y : ndarray, shape (n, k)
            IN: targets in [0, 1].
        dlogits : ndarray, shape (n, k)
            OUT: ``(sigmoid(logits) - y) / (n * k)``. May be ``logits`` itself.
        sample_weight : ndarray of float64, shape (n,), optional
            IN: a weight per row, finite, >= 0, not all 0. The loss is then
            ``sum_i w_i loss_i / sum_i w_i`` and row i's gradient is scaled by
            ``w_i n / sum_i w_i`` (a weight of 0: a zero gradient row).

        Returns
        -------
        float
            Mean over all elements of ``max(z, 0) - z*y + log1p(exp(-|z|))``, which
            neither overflows nor takes ``log(0)``.
        """
        rw = _elementwise("sigmoid_bce", ("logits", logits), y, ("dlogits", dlogits), sample_weight)
        return self._sigmoid_bce(logits, y, dlogits, rw)

    def mse(self, pred: np.ndarray, y: np.ndarray, dpred: np.ndarray,
            sample_weight: np.ndarray | None = None) -> float:
        """Mean squared error, fused with its gradient.

        Parameters
        ----------
        pred : ndarray, shape (n, k)
            IN: predictions.
        y : ndarray, shape (n, k)
            IN: targets.
        dpred : ndarray, shape (n, k)
            OUT: ``2 * (pred - y) / (n * k)``. May be ``pred`` itself.
        sample_weight : ndarray of float64, shape (n,), optional
            IN: a weight per row, finite, >= 0, not all 0. The loss is then
            ``sum_i w_i loss_i / sum_i w_i`` and row i's gradient is scaled by
            ``w_i n / sum_i w_i`` (a weight of 0: a zero gradient row).

        Returns
        -------
        float
            ``mean((pred - y) ** 2)`` over batch and outputs (0.0 when empty).
        """
        rw = _elementwise("mse", ("pred", pred), y, ("dpred", dpred), sample_weight)
        return self._mse(pred, y, dpred, rw)

    def poisson(self, logits: np.ndarray, y: np.ndarray, dlogits: np.ndarray,
                sample_weight: np.ndarray | None = None) -> float:
        """Poisson deviance with a log link on logits, fused with its gradient.

        Parameters
        ----------
        logits : ndarray, shape (n, k)
            IN: log of the predicted means, ``mu = exp(logits)``.
        y : ndarray, shape (n, k)
            IN: targets (counts, or any values >= 0; a negative one makes the loss NaN).
        dlogits : ndarray, shape (n, k)
            OUT: ``2 * (exp(logits) - y) / (n * k)``. May be ``logits`` itself.
        sample_weight : ndarray of float64, shape (n,), optional
            IN: a weight per row, finite, >= 0, not all 0. The loss is then
            ``sum_i w_i loss_i / sum_i w_i`` and row i's gradient is scaled by
            ``w_i n / sum_i w_i`` (a weight of 0: a zero gradient row).

        Returns
        -------
        float
            Mean over all elements of ``2 * (mu - y + y * log(y / mu))`` (``0 log 0 = 0``),
            ``sklearn.metrics.mean_poisson_deviance(y, mu)``; 0.0 when empty. Computed in
            float64; ``exp`` is not clipped: ``logits > 709.78`` give +inf (float32: the
            gradient is +inf from 88.7 on).
        """
        rw = _elementwise("poisson", ("logits", logits), y, ("dlogits", dlogits), sample_weight)
        return self._poisson(logits, y, dlogits, rw)

    # Hooks, called with validated arguments only.
    def _softmax_xent(self, logits, labels, dlogits, rw):
        raise NotImplementedError

    def _sigmoid_bce(self, logits, y, dlogits, rw):
        raise NotImplementedError

    def _mse(self, pred, y, dpred, rw):
        raise NotImplementedError

    def _poisson(self, logits, y, dlogits, rw):
        raise NotImplementedError
