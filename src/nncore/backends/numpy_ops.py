"""``NumpyOps``: the reference backend, every ``Ops`` kernel in plain NumPy.

This is the specification the Cython kernels are tested against: written to be read,
not to be fast. The plan methods (``_train_epoch``) loop over the other methods.
"""

from __future__ import annotations

import numpy as np

from nncore.backends import activations, dropout, sparse
from nncore.backends.dropout import MASKED_BY_OUTPUT
from nncore.backends.ops import Ops, adam_step_size
from nncore.backends.sparse import CsrRows


def bad_label_error(labels: np.ndarray, c: int, index: int) -> ValueError:
    return ValueError(
        f"softmax_xent: labels must lie in [0, {c}) (one per class of logits); "
        f"labels[{index}] = {int(labels[index])}"
    )


def _weighted(per_row: np.ndarray, grad: np.ndarray, out: np.ndarray, rw: np.ndarray,
              size: int) -> float:
    """A loss with per-row multipliers ``rw``: ``out = grad * rw_i`` row by row and the
    sum of ``rw_i * per_row_i`` over ``size``. A row with ``rw_i == 0`` gets a zero
    gradient and adds nothing, also where its loss is inf or NaN (as in the kernels)."""
    keep = rw != 0
    with np.errstate(invalid="ignore", over="ignore"):
        out[...] = np.where(keep[:, None], grad * rw[:, None], 0)
        return float(np.where(keep, rw * per_row, 0.0).sum() / size)


def _factor(weights: np.ndarray | None, idx: np.ndarray) -> float:
    """rows / sum of the rows' weights (0 when they sum to 0), as the kernels take it."""
    if weights is None:
        return 1.0
    s = float(weights[idx].sum())
    return len(idx) / s if s > 0 else 0.0


def _masks(plan, rows: int, row0: int) -> list[np.ndarray | None]:
    """Per layer, the keep mask of this batch (None: no dropout on that layer)."""
    step = int(plan.counters[2])
    return [None if thr == 0 else dropout.keep_mask(
        dropout.stream_base(plan.drop_key, step, i), row0, rows, int(plan.net.sizes[i + 1]),
        int(thr)) for i, thr in enumerate(plan.drop_thr)]


def _scale(plan, i: int) -> float:
    """1 / (1 - rate) of the dropout on layer i's input (1.0: none)."""
    return float(plan.drop_scale[i - 1]) if i > 0 and plan.has_dropout else 1.0


class NumpyOps(Ops):
    """The reference backend: every kernel in plain NumPy, written to be read."""

    name = "numpy"

    def _gemm(self, A, B, out, trans_a, trans_b, alpha, beta):
        a, b = (A.T if trans_a else A), (B.T if trans_b else B)
        # Scalars act in the arrays' dtype (as in the kernels): 1e-50 is 0 in float32.
        alpha, beta = out.dtype.type(alpha), out.dtype.type(beta)
        if alpha == 0:  # as BLAS: A and B are not read (no NaN from 0 * NaN)
            out[...] = 0 if beta == 0 else beta * out
        elif alpha == 1 and beta == 0:
            np.matmul(a, b, out=out)  # no temporary
        elif beta == 0:
            out[...] = alpha * (a @ b)
        else:
            out[...] = alpha * (a @ b) + beta * out

    def _bias_act_forward(self, Z, b, act, out, slope):
        out[...] = activations.forward(activations.NAMES[act], Z + b, slope)

    def _act_backward(self, dY, Y, act, dZ, db, slope):
        dZ[...] = activations.backward(activations.NAMES[act], dY, Y, slope)
        if db is not None:
            self._col_sum(dZ, db)

    def _col_sum(self, X, out):
        out[...] = X.sum(axis=0, dtype=np.float64)

    def _softmax_xent(self, logits, labels, dlogits, rw):
        n, c = logits.shape
        bad = np.flatnonzero((labels < 0) | (labels >= c))
        if bad.size:
            raise bad_label_error(labels, c, int(bad[0]))
        if n == 0:
            return 0.0
        mx = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - mx)
        s = e.sum(axis=1, keepdims=True, dtype=np.float64)
        rows = np.arange(n)
        per_row = mx[:, 0] + np.log(s[:, 0]) - logits[rows, labels]
        if rw is not None:
            grad = e / s / n
            grad[rows, labels] -= 1.0 / n
            return _weighted(per_row, grad, dlogits, rw, n)
        loss = float(np.mean(per_row))
        dlogits[...] = e / s / n
        dlogits[rows, labels] -= dlogits.dtype.type(1.0 / n)
        return loss

    def _sigmoid_bce(self, logits, y, dlogits, rw):
        if logits.size == 0:
            return 0.0
        z = logits
        e = np.exp(-np.abs(z))
        loss = np.maximum(z, 0) - z * y + np.log1p(e)
        grad = (np.where(z >= 0, 1, e) / (1 + e) - y) / z.size
        if rw is not None:
            return _weighted(loss.sum(axis=1, dtype=np.float64), grad, dlogits, rw, z.size)
        dlogits[...] = grad
        return float(loss.sum(dtype=np.float64) / z.size)

    def _mse(self, pred, y, dpred, rw):
        if pred.size == 0:
            return 0.0
        r = pred - y
        if rw is not None:
            return _weighted(np.square(r, dtype=np.float64).sum(axis=1), 2 * r / r.size,
                             dpred, rw, r.size)
        dpred[...] = 2 * r / r.size
        return float(np.square(r, dtype=np.float64).mean())

    def _poisson(self, logits, y, dlogits, rw):
        if logits.size == 0:
            return 0.0
        # float64 for both dtypes, as the kernel; log(0) and log(y < 0) are expected
        # (masked out, or the documented NaN), and exp may overflow to the documented inf.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            z, t = logits.astype(np.float64), y.astype(np.float64)
            mu = np.exp(z)
            terms = (mu - t) + np.where(t != 0, t * (np.log(t) - z), 0.0)
            if rw is not None:
                return _weighted(2 * terms.sum(axis=1), 2 * (mu - t) * (1.0 / z.size),
                                 dlogits, rw, z.size)
            dlogits[...] = 2 * (mu - t) * (1.0 / z.size)
        return float(2 * terms.sum() / z.size)

    def _sgd_update(self, w, g, v, lr, momentum, nesterov, wd, n_decay):
        dt = w.dtype.type
        grad = g.copy()
        if dt(wd) != 0:  # no 0 * w term: an inf weight must not become NaN
            grad[:n_decay] += dt(wd) * w[:n_decay]
        if dt(momentum) == 0:  # scalars act in the arrays' dtype, as in the kernels
            w -= dt(lr) * grad
            return
        v *= dt(momentum)
        v += grad
        step = grad + dt(momentum) * v if nesterov else v
        w -= dt(lr) * step

    def _adam_update(self, w, g, m, v, lr_t, b1, b2, eps_t, l2, decay, n_decay):
        dt = w.dtype.type
        w[:n_decay] *= dt(1 - decay)
        grad = g.copy()
        if dt(l2) != 0:
            grad[:n_decay] += dt(l2) * w[:n_decay]
        m[...] = dt(b1) * m + dt(1 - b1) * grad
        v[...] = dt(b2) * v + dt(1 - b2) * grad * grad
        w -= dt(lr_t) * m / (np.sqrt(v) + dt(eps_t))

    def _row_net(self, net):
        return None  # no one-row kernel: mlp_forward serves one row as any other

    def _mlp_forward(self, net, X, out, work):
        # Blocks of rows as the kernel takes them (block = work's half / the widest layer).
        layers = net.views(net.w)
        half = work.shape[0] // 2
        block = len(X) if net.max_hidden == 0 else half // net.max_hidden
        for r0 in range(0, len(X), max(block, 1)):
            prev, rows = X[r0:r0 + block], min(block, len(X) - r0)
            for i, ((W, b), act, slope) in enumerate(zip(layers, net.acts, net.slopes,
                                                         strict=True)):
                width = W.shape[1]
                if i == len(layers) - 1:
                    dst = out[r0:r0 + rows]
                else:
                    dst = work[(i % 2) * half:(i % 2) * half + rows * width].reshape(-1, width)
                if isinstance(prev, CsrRows):
                    sparse.product(prev, W, dst)
                else:
                    self._gemm(prev, W, dst, False, False, 1.0, 0.0)
                self._bias_act_forward(dst, b, int(act), dst, float(slope))
                prev = dst

    def _train_epoch(self, plan, X, targets, order, weights):
        # Like the kernels, stay silent on overflow: fit reports a diverging epoch itself.
        with np.errstate(over="ignore", invalid="ignore"):
            return self._train_epoch_loop(plan, X, targets, order, weights)

    def _loss_gradient(self, plan, X, targets, order, weights):
        n, total = len(order), 0.0
        views = plan.net.views(plan.net.w), plan.net.views(plan.net.g)
        # weights: multipliers w_i n / sum(w) over all of order, as the kernel
        factor = _factor(weights, order)
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, n, plan.batch_size):
                idx = order[start : start + plan.batch_size]
                rw = None if weights is None else weights[idx] * factor
                total += self._batch_gradient(plan, views, X, targets, idx, len(idx) / n,
                                              accumulate=start > 0, rw=rw,
                                              row0=start) * len(idx) / n
        return total

    def _train_epoch_loop(self, plan, X, targets, order, weights):
        net = plan.net
        h = plan.hyper
        # Python floats: NumPy float64 scalars would upcast float32 work to float64.
        lr, mu, wd = float(h["lr"]), float(h["momentum"]), float(h["weight_decay"])
        total = 0.0
        views = net.views(net.w), net.views(net.g)  # once per epoch, not per batch
        for start in range(0, len(order), plan.batch_size):
            idx = order[start : start + plan.batch_size]
            rw = None if weights is None else weights[idx] * _factor(weights, idx)
            total += self._batch_gradient(plan, views, X, targets, idx, 1.0,
                                          accumulate=False, fused_sgd=plan.fused_sgd, lr=lr,
                                          wd=wd, rw=rw) * len(idx)
            plan.counters[0] += 1
            plan.counters[2] += 1
            if plan.fused_sgd:
                pass
            elif plan.opt_code == 0:
                self._sgd_update(net.w, net.g, plan.s1, lr, mu, bool(h["nesterov"]), wd,
                                 net.n_weights)
            else:
                b1, b2 = float(h["beta1"]), float(h["beta2"])
                lr_t, eps_t = adam_step_size(lr, b1, b2, float(h["eps"]),
                                             int(plan.counters[0]))
                l2, decay = (0.0, lr * wd) if h["decoupled"] else (wd, 0.0)
                self._adam_update(net.w, net.g, plan.s1, plan.s2, lr_t, b1, b2, eps_t, l2,
                                  decay, net.n_weights)
            plan.counters[1] += 1
        return total

    def _batch_gradient(self, plan, views, X, targets, idx, weight, accumulate,
                        fused_sgd=False, lr=0.0, wd=0.0, rw=None, row0=0):
        """One batch: gather, forward, loss, backward; returns the batch's mean loss.

        The loss gradient is scaled by ``weight`` (the batch's share of the rows of a
        ``loss_gradient`` call; 1 in training). The parameter gradient goes into
        ``net.g`` (added to it when ``accumulate``), or with ``fused_sgd`` the SGD
        update ``W = (1 - lr wd) W - lr dW``, ``b -= lr db`` is applied in its place.
        ``views`` are ``(net.views(net.w), net.views(net.g))``, made once by the caller.
        ``rw``: the rows' loss multipliers (sample weights), or None.

        Dropout (``plan.drop_thr``): layer i's dropped outputs are zeroed in ``A_i``, and
        ``scale[i] = 1 / (1 - rate_i)`` is the alpha of the GEMMs that read ``A_i`` or
        write its gradient, so ``A_i`` keeps exact activations for the backward pass.
        The mask of (key, ``plan.counters[2]``, layer, ``row0 + r``, column) is kept
        here for the backward pass; the kernels recompute it instead.
        """
        net = plan.net
        params, grads = views
        rows = len(idx)
        xb = plan.xb[:rows]
        if isinstance(X, CsrRows):  # the batch's rows as dense rows (either kernel mode)
            sparse.gather(X, idx, xb)
        else:
            np.take(X, idx, axis=0, out=xb)
        # forward
        prev, keeps = xb, _masks(plan, rows, row0)
        for i, ((W, b), A) in enumerate(zip(params, plan.A, strict=True)):
            self._gemm(prev, W, A[:rows], False, False, _scale(plan, i), 0.0)
            self._bias_act_forward(A[:rows], b, int(net.acts[i]), A[:rows],
                                   float(net.slopes[i]))
            keep = keeps[i]
            if keep is not None:  # a select: a dropped inf or NaN becomes 0
                np.copyto(A[:rows], 0, where=~keep)
            prev = A[:rows]
        # loss, with its gradient into the last D
        dout = plan.D[-1][:rows]
        if plan.loss == "softmax_xent":
            labels = plan.labels[:rows]
            np.take(targets, idx, out=labels)
            loss = self._softmax_xent(prev, labels, dout, rw)
        else:
            tb = plan.tb[:rows]
            np.take(targets, idx, axis=0, out=tb)
            loss_fn = {"mse": self._mse, "sigmoid_bce": self._sigmoid_bce,
                       "poisson": self._poisson}[plan.loss]
            loss = loss_fn(prev, tb, dout, rw)
        if weight != 1.0:
            dout *= dout.dtype.type(weight)
        # backward: D_i becomes dZ_i in place; dW, db into the gradient views
        beta = 1.0 if accumulate else 0.0
        for i in reversed(range(net.n_layers)):
            (W, b), (dW, db) = params[i], grads[i]
            A, D = plan.A[i][:rows], plan.D[i][:rows]
            below = xb if i == 0 else plan.A[i - 1][:rows]
            slope = float(net.slopes[i])
            # the bias gradient: none when fused (b is updated from D below), into a
            # temporary when accumulating, else straight into db
            db_rows = None if fused_sgd else np.empty_like(db) if accumulate else db
            keep = keeps[i]
            if keep is not None and activations.NAMES[net.acts[i]] not in MASKED_BY_OUTPUT:
                np.copyto(D, 0, where=~keep)
            self._act_backward(D, A, int(net.acts[i]), D, db_rows, slope)
            s_in = _scale(plan, i)  # the dropout scale of the layer below (1: none)
            if i > 0:  # dX = dZ W^T, with W before its update
                self._gemm(D, W, plan.D[i - 1][:rows], False, True, s_in, 0.0)
            if fused_sgd:
                # W = (1 - lr wd) W - lr below^T dZ;  b -= lr colsum(dZ)
                self._gemm(below, D, W, True, False, -lr * s_in, 1.0 - lr * wd)
                b -= (lr * D.sum(axis=0, dtype=np.float64)).astype(b.dtype)
            else:
                self._gemm(below, D, dW, True, False, s_in, beta)
                if accumulate:
                    db += db_rows
        return loss
