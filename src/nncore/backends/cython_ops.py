"""``CythonOps``: the fast backend, every ``Ops`` kernel run by ``nncore.backends._kernels``."""

from __future__ import annotations

import numpy as np

from nncore.backends.numpy_ops import bad_label_error
from nncore.backends.ops import Ops
from nncore.backends.sparse import MODES, CsrRows
from nncore.backends.threads import train_threads


class CythonOps(Ops):
    """The fast backend: the same methods, run by the compiled ``nncore.backends._kernels``."""

    name = "cython"

    def __init__(self) -> None:
        from nncore.backends import _kernels  # ImportError here is turned into advice by get_ops

        self._k = _kernels
        # The small element-wise kernels by dtype character ("f", "d"): a fused
        # (float/double) def function picks its specialisation from the arguments on every
        # call (0.4 us); the dtype is known here, so the hooks call the specialisation.
        self._act_backward_k, self._col_sum_k, self._sgd_k, self._adam_k = (
            {"f": getattr(_kernels, name)["float"], "d": getattr(_kernels, name)["double"]}
            for name in ("act_backward", "col_sum", "sgd_update", "adam_update"))

    def _gemm(self, A, B, out, trans_a, trans_b, alpha, beta):
        self._k.gemm(A, B, out, trans_a, trans_b, alpha, beta)

    def _bias_act_forward(self, Z, b, act, out, slope):
        self._k.bias_act_forward(Z, b, act, out, slope)

    def _act_backward(self, dY, Y, act, dZ, db, slope):
        kernel = self._act_backward_k[dZ.dtype.char]
        if db is None:
            kernel(dY, Y, act, dZ, _EMPTY[dZ.dtype], False, slope)
        else:
            kernel(dY, Y, act, dZ, db, True, slope)

    def _col_sum(self, X, out):
        self._col_sum_k[X.dtype.char](X, out)

    def _softmax_xent(self, logits, labels, dlogits, rw):
        loss, bad = self._k.softmax_xent(logits, labels, dlogits, rw)
        if bad >= 0:
            raise bad_label_error(labels, logits.shape[1], bad)
        return loss

    def _sigmoid_bce(self, logits, y, dlogits, rw):
        return self._k.sigmoid_bce(logits, y, dlogits, rw)

    def _mse(self, pred, y, dpred, rw):
        return self._k.mse(pred, y, dpred, rw)

    def _poisson(self, logits, y, dlogits, rw):
        return self._k.poisson(logits, y, dlogits, rw)

    def _sgd_update(self, w, g, v, lr, momentum, nesterov, wd, n_decay):
        self._sgd_k[w.dtype.char](w, g, v, lr, momentum, nesterov, wd, n_decay)

    def _adam_update(self, w, g, m, v, lr_t, b1, b2, eps_t, l2, decay, n_decay):
        self._adam_k[w.dtype.char](w, g, m, v, lr_t, b1, b2, eps_t, l2, decay, n_decay)

    def _mlp_forward(self, net, X, out, work):
        lay = net.layout
        dense, *csr = _dense_or_csr(X, "product")
        self._k.mlp_forward(dense, net.w, net.sizes, net.acts, net.slopes, lay.w_off,
                            lay.b_off, work, out, *csr)

    def _row_net(self, net):
        lay = net.layout
        return self._k.RowNet(net.w, net.sizes, net.acts, net.slopes, lay.w_off, lay.b_off)

    def _train_epoch(self, plan, X, targets, order, weights):
        net = plan.net
        return self._k.train_epoch(
            *self._plan_args(plan, X, targets, order), plan.loss_code, plan.opt_code,
            plan.hyper, plan.s1 if plan.s1.size else net.g,
            plan.s2 if plan.s2.size else net.g, plan.counters, plan.fused_sgd,
            _NO_WEIGHTS if weights is None else weights, plan.row_weights,
            *_csr_args(X), *_dropout_args(plan), self._threads(plan, X))

    def _loss_gradient(self, plan, X, targets, order, weights):
        return self._k.loss_gradient(*self._plan_args(plan, X, targets, order),
                                     plan.loss_code, _NO_WEIGHTS if weights is None else weights,
                                     plan.row_weights, *_csr_args(X), *_dropout_args(plan),
                                     plan.dropout_step, self._threads(plan, X))

    def _threads(self, plan, X):
        """The team size of a training call (nncore.backends.threads)."""
        return train_threads(plan.net.sizes, plan.batch_size, self._k.blas_threads(), X)

    @staticmethod
    def _plan_args(plan, X, targets, order):
        """The arguments train_epoch and loss_gradient share: data, layout, buffers."""
        xent = plan.loss == "softmax_xent"
        net, lay = plan.net, plan.net.layout
        return (_dense_or_csr(X)[0], _EMPTY2[X.dtype] if xent else targets,
                targets if xent else _NO_LABELS, order, plan.batch_size, net.sizes,
                net.acts, net.slopes, lay.w_off, lay.b_off, plan.work_off, net.w, net.g,
                plan.work, plan.labels)


# A placeholder bias-gradient buffer for act_backward calls that do not want one.
_EMPTY = {np.dtype(t): np.zeros(0, t) for t in (np.float32, np.float64)}
_EMPTY2 = {np.dtype(t): np.zeros((0, 1), t) for t in (np.float32, np.float64)}
_NO_LABELS = np.zeros(0, np.int64)
_NO_WEIGHTS = np.zeros(0, np.float64)
_NO_INDICES = np.zeros(0, np.int32)
_NO_INDPTR = np.zeros(0, np.int64)


def _dense_or_csr(X, mode=None):
    """``(X or an empty (0, d0) stand-in, data, indices, indptr, mode code)`` for the
    kernels: the CSR arrays empty for dense X; ``mode`` (default: ``X.train_mode``)."""
    if isinstance(X, CsrRows):
        code = MODES.index(mode or X.train_mode)
        return (np.zeros((0, X.shape[1]), X.dtype), X.data, X.indices, X.indptr, code)
    return (X, _EMPTY[X.dtype], _NO_INDICES, _NO_INDPTR, 0)


def _csr_args(X):
    return _dense_or_csr(X)[1:]


_NO_THRESHOLDS = np.zeros(0, np.uint64)


def _dropout_args(plan):
    """(thresholds, scales, key): empty arrays when the plan drops nothing."""
    if not plan.has_dropout:
        return _NO_THRESHOLDS, _NO_WEIGHTS, 0
    return plan.drop_thr, plan.drop_scale, plan.drop_key
